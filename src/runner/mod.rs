//! The runner every subcommand shares: options, presets, run directories,
//! metrics, checkpoints, progress and Ctrl-C handling.

pub mod args;
pub mod checkpoint;
pub mod classify;
pub mod device;
pub mod interrupt;
pub mod metrics;
pub mod preset;
pub mod progress;
pub mod reopen;
pub mod run_dir;
pub mod session;
