//! The runner every subcommand shares, in four rooms beside the shared
//! options ([`args`]) and data-parallel runs ([`dist`]):
//! - [`engine`]: the training loop ([`engine::epochs`]), its running sums,
//!   the classifier steps every classifying paper uses, the run's session,
//!   the batch feed and Ctrl-C handling;
//! - [`record`]: what a run writes as it goes (metrics.csv, steps.csv,
//!   TensorBoard events, summary.json) and the progress bar;
//! - [`store`]: where a run lives (its directory, checkpoints, reopening a
//!   finished run, presets, the flattened config);
//! - [`compute`]: how a step computes (mixed precision, channels-last,
//!   device choice, pinned host memory, the weight EMA).

pub mod args;
pub mod compute;
pub mod dist;
pub mod engine;
pub mod record;
pub mod store;
