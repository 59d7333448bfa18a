//! The training engine: the loop over epochs and steps, the sums it keeps on
//! the device, the classifier steps, the run's session, the batch feed,
//! the signals that stop a run (Ctrl-C, SIGUSR1 and its Slurm requeue) and
//! the checkpoints inside epochs.

pub mod accumulate;
pub mod checkpoint_policy;
pub mod classify;
pub mod epochs;
pub mod feed;
pub mod interrupt;
pub mod requeue;
pub mod session;
pub mod sums;
