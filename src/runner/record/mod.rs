//! What a run records as it goes: per-epoch metrics, per-step logs,
//! TensorBoard events, the summary and the progress bar.

pub mod events;
pub mod metrics;
pub mod profile;
pub mod progress;
pub mod step_log;
pub mod summary;
