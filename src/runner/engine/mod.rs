//! The training engine: the loop over epochs and steps, the sums it keeps on
//! the device, the classifier steps, the run's session, the batch feed and
//! Ctrl-C handling.

pub mod accumulate;
pub mod classify;
pub mod epochs;
pub mod feed;
pub mod interrupt;
pub mod session;
pub mod sums;
