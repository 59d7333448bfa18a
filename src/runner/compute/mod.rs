//! How a training step computes: mixed precision, channels-last memory, the
//! device and its CPU threads, pinned host memory and the weight EMA.

pub mod device;
pub mod ema;
pub mod host_memory;
pub mod layout;
pub mod precision;
pub mod threads;
