//! How a run is stored: its directory, checkpoints, reopening a finished
//! run for evaluation, presets and the flattened config.

pub mod checkpoint;
pub mod flat_config;
pub mod preset;
pub mod reopen;
pub mod run_dir;
