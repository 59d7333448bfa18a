//! Ctrl-C (and SIGTERM, what torchrun, srun and schedulers send): the first
//! asks the training loop to stop after the current step and save a
//! checkpoint; a second Ctrl-C exits at once. In a distributed run a second
//! signal does not: launchers forward the user's Ctrl-C as SIGTERM, and
//! every process must reach the agreed step (runner/dist/) for rank 0 to
//! write the checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Install the handler (once per process; later calls are no-ops).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) && crate::runner::dist::world().is_none() {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to quit now)"
        );
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
