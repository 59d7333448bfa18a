//! Reopening a finished run for evaluation: its saved config, the chosen
//! checkpoint and the device, with the checks every evaluation needs.

use crate::error::{usage, Result};
use crate::runner::args::EvalCommon;
use crate::runner::engine::session::{RunConfig, SavedConfig};
use crate::runner::record::summary::{Figures, Summary};
use crate::runner::store::checkpoint::CheckpointFile;
use crate::runner::store::run_dir::RunDir;
use std::path::PathBuf;
use tch::Device;

pub struct Reopened<C> {
    pub dir: RunDir,
    /// The training run's configuration.
    pub config: C,
    pub checkpoint: CheckpointFile,
    pub device: Device,
    /// --data-dir, else the run's own.
    pub data_dir: PathBuf,
}

/// Reopen `args.run`, which must be a run of `C`'s command, with --checkpoint or
/// else `checkpoint` ("best" or "last"), and refuse to replace any of
/// `outputs` (files in the run directory) unless --force.
pub fn reopen<C: RunConfig>(
    args: &EvalCommon,
    checkpoint: &str,
    outputs: &[&str],
) -> Result<Reopened<C>> {
    let dir = RunDir::existing(&args.run)?;
    let saved: SavedConfig<serde_json::Value> = dir.read_json("config.json")?;
    if saved.command != C::COMMAND {
        return Err(usage(format!(
            "--run {}: a {} run, not a {} run",
            args.run.display(),
            saved.command,
            C::COMMAND
        )));
    }
    let saved: SavedConfig<C> = dir.read_json("config.json")?;
    for name in outputs {
        let out = dir.file(name);
        if out.exists() && !args.force {
            return Err(usage(format!(
                "{} exists; pass --force to replace it",
                out.display()
            )));
        }
    }
    let device = args.compute.setup()?;
    let path = match args.checkpoint.as_deref().unwrap_or(checkpoint) {
        "best" => dir.best_checkpoint(),
        "last" => dir.last_checkpoint(),
        other => other.into(),
    };
    let checkpoint = CheckpointFile::open(&path)?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| saved.config.common().data_dir.clone());
    Ok(Reopened {
        dir,
        config: saved.config,
        checkpoint,
        device,
        data_dir,
    })
}

impl<C: RunConfig> Reopened<C> {
    /// Add an evaluation's `figures` to the run's summary.json (written
    /// afresh for a run that has none, such as one stopped early).
    pub fn merge_summary(&self, figures: Figures) -> Result<()> {
        Summary::merge_into(&self.dir, C::COMMAND, figures)
    }
}
