//! The signals that stop a run between steps with a checkpoint.
//!
//! Ctrl-C (and SIGTERM, what torchrun, srun and schedulers send): the first
//! asks the training loop to stop after the current step and save a
//! checkpoint; a second Ctrl-C exits at once. In a distributed run a second
//! signal does not: launchers forward the user's Ctrl-C as SIGTERM, and
//! every process must reach the agreed step (runner/dist/) for rank 0 to
//! write the checkpoint.
//!
//! SIGUSR1, what Slurm sends ahead of a time limit or a preemption
//! (`#SBATCH --signal=USR1@90`): the same stop, after which the run
//! requeues its Slurm job (runner/engine/requeue.rs) and exits
//! [`crate::error::EXIT_REQUEUED`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static REQUEUE: AtomicBool = AtomicBool::new(false);

/// Why a run stops before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Ctrl-C or SIGTERM: exit 130, continue with --resume.
    Interrupt,
    /// SIGUSR1: requeue the Slurm job, which continues the run.
    Requeue,
}

impl Stop {
    /// The word the processes of a distributed run agree on.
    pub fn word(self) -> &'static str {
        match self {
            Stop::Interrupt => "interrupt",
            Stop::Requeue => "requeue",
        }
    }

    pub fn from_word(word: &str) -> Stop {
        match word {
            "requeue" => Stop::Requeue,
            _ => Stop::Interrupt,
        }
    }
}

/// Install the handlers (once per process; later calls are no-ops).
pub fn install() {
    install_requeue();
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) && crate::runner::dist::world().is_none() {
            std::process::exit(130);
        }
        eprintln!(
            "\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to quit now)"
        );
    });
}

/// SIGUSR1's handler alone: it only sets a flag. Installed as early as a
/// training command resolves its flags (so a signal while data loads is
/// not the default action, which ends the process), and by `sweep`, which
/// passes it on to its runs.
pub fn install_requeue() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        extern "C" fn on_usr1(_: libc::c_int) {
            REQUEUE.store(true, Ordering::SeqCst);
        }
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the sigaction struct is fully initialised.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
        }
    });
}

/// The stop this process was asked for, if any; SIGUSR1 wins over Ctrl-C
/// (the scheduler will end the job anyway).
pub fn requested() -> Option<Stop> {
    if REQUEUE.load(Ordering::SeqCst) {
        Some(Stop::Requeue)
    } else if REQUESTED.load(Ordering::SeqCst) {
        Some(Stop::Interrupt)
    } else {
        None
    }
}

/// Whether SIGUSR1 arrived (what `sweep` passes on to its runs).
pub fn requeue_requested() -> bool {
    REQUEUE.load(Ordering::SeqCst)
}
