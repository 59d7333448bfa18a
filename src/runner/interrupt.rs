//! Ctrl-C: the first press asks the training loop to stop after the current
//! step and save a checkpoint; a second press exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Install the handler (once per process; later calls are no-ops).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
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
