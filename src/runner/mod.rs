//! The runner every subcommand shares: options, presets, run directories,
//! metrics, checkpoints, summaries, progress, Ctrl-C handling, and the
//! training engine ([`epochs`]) with its classifier steps ([`classify`]) and
//! its batch loader ([`feed`]),
//! data-parallel runs across processes ([`dist`]), and mixed precision and
//! channels-last memory for the training steps ([`precision`], [`layout`]).

pub mod args;
pub mod checkpoint;
pub mod classify;
pub mod device;
pub mod dist;
pub mod ema;
pub mod epochs;
pub mod events;
pub mod feed;
pub mod flat_config;
pub mod host_memory;
pub mod interrupt;
pub mod layout;
pub mod metrics;
pub mod precision;
pub mod preset;
pub mod progress;
pub mod reopen;
pub mod run_dir;
pub mod session;
pub mod step_log;
pub mod summary;
pub mod sums;
