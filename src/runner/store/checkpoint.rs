//! Checkpoints: one safetensors file per checkpoint holding the model's
//! variables, the optimizer state and the training position, all keyed by
//! prefix ("model.", "optim.", "train."), written atomically.

use crate::error::{data, run, Result};
use crate::runner::store::run_dir::tmp_path;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Kind, Tensor};

/// Where training stands; saved with every checkpoint so --resume continues
/// exactly there.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Position {
    /// Completed epochs.
    pub epoch: i64,
    /// Optimizer steps taken (for GANs: generator iterations).
    pub step: i64,
    /// Batches already done in the current, unfinished epoch.
    pub batch: i64,
    /// Rows in metrics.csv that belong to this checkpoint.
    pub rows: i64,
    /// Best value of the selection metric so far (NaN: none yet).
    pub best: f64,
    /// The epoch that reached it (0: none yet).
    pub best_epoch: i64,
    /// --early-stop's reference: the selection metric's value at its last
    /// improvement by more than --min-delta (NaN: none yet), and that epoch
    /// (0: none yet). With --min-delta 0 they are `best` and `best_epoch`.
    pub improved: f64,
    pub improved_epoch: i64,
}

/// The layout of checkpoints written by the shared training engine; files
/// without it (written before) cannot be resumed, only evaluated.
const FORMAT: i64 = 2;

impl Position {
    pub fn start() -> Position {
        Position {
            best: f64::NAN,
            improved: f64::NAN,
            ..Default::default()
        }
    }
}

/// A checkpoint being assembled.
#[derive(Default)]
pub struct Checkpoint {
    tensors: Vec<(String, Tensor)>,
}

impl Checkpoint {
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    /// Record the training position ("train.*"); [`Session::save`] does this
    /// with the current position, so trainers need not.
    ///
    /// [`Session::save`]: crate::runner::engine::session::Session::save
    pub fn position(mut self, position: &Position) -> Checkpoint {
        let ints = [
            ("epoch", position.epoch),
            ("step", position.step),
            ("batch", position.batch),
            ("rows", position.rows),
            ("best_epoch", position.best_epoch),
            ("improved_epoch", position.improved_epoch),
            ("format", FORMAT),
        ];
        for (name, v) in ints {
            self.tensors
                .push((format!("train.{name}"), Tensor::from(v)));
        }
        for (name, v) in [("best", position.best), ("improved", position.improved)] {
            self.tensors
                .push((format!("train.{name}"), Tensor::from(v)));
        }
        self
    }

    /// Add every variable of `vs` under `prefix` (e.g. "model.").
    pub fn vars(mut self, prefix: &str, vs: &VarStore) -> Checkpoint {
        let mut vars: Vec<_> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        self.tensors
            .extend(vars.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
        self
    }

    /// Add named tensors (optimizer state, running sums) under `prefix`.
    pub fn tensors(mut self, prefix: &str, named: Vec<(String, Tensor)>) -> Checkpoint {
        self.tensors
            .extend(named.into_iter().map(|(k, v)| (format!("{prefix}{k}"), v)));
        self
    }

    /// The tensors, in order; a model's variables among them are the
    /// model's own (the VarStore's shallow clones), so writing into them
    /// writes into the model.
    pub fn values(&self) -> impl Iterator<Item = &Tensor> {
        self.tensors.iter().map(|(_, t)| t)
    }

    /// Write atomically: a killed process leaves the previous file intact.
    pub fn save(&self, path: &Path) -> Result<()> {
        let cpu: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.detach().to(tch::Device::Cpu).contiguous()))
            .collect();
        let tmp = tmp_path(path);
        Tensor::write_safetensors(&cpu, &tmp)
            .map_err(|e| run(format!("cannot write {}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path)
            .map_err(|e| run(format!("cannot write {}: {e}", path.display())))
    }
}

/// A checkpoint read back from disk.
pub struct CheckpointFile {
    pub path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl CheckpointFile {
    pub fn open(path: &Path) -> Result<CheckpointFile> {
        if !path.is_file() {
            return Err(data(format!(
                "checkpoint {} does not exist",
                path.display()
            )));
        }
        let tensors = Tensor::read_safetensors(path).map_err(|e| {
            data(format!(
                "{} is not a readable safetensors checkpoint: {e}",
                path.display()
            ))
        })?;
        Ok(CheckpointFile {
            path: path.to_path_buf(),
            tensors: tensors.into_iter().collect(),
        })
    }

    /// Copy the tensors under `prefix` into `vs`. Every variable must be there
    /// with its shape; anything else means the checkpoint belongs to another
    /// model, and the error names the first difference.
    pub fn load_vars(&self, prefix: &str, vs: &VarStore) -> Result<()> {
        let other = |what: String| {
            data(format!(
                "checkpoint {} was saved by a different model: {what}; use the run's own config, or another checkpoint",
                self.path.display()
            ))
        };
        let vars = vs.variables();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let var = &vars[name];
            let key = format!("{prefix}{name}");
            let saved = self
                .tensors
                .get(&key)
                .ok_or_else(|| other(format!("it has no tensor {key}")))?;
            if saved.size() != var.size() {
                return Err(other(format!(
                    "{key} has shape {:?}, this model expects {:?}",
                    saved.size(),
                    var.size()
                )));
            }
            tch::no_grad(|| var.shallow_clone().copy_(saved));
        }
        let extra = self
            .section(prefix)
            .into_iter()
            .find(|(k, _)| !vars.contains_key(k));
        if let Some((k, _)) = extra {
            return Err(other(format!(
                "it holds {prefix}{k}, which this model does not have"
            )));
        }
        Ok(())
    }

    /// The tensors under `prefix`, with the prefix removed.
    pub fn section(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out: Vec<_> = self
            .tensors
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix(prefix)
                    .map(|s| (s.to_string(), v.shallow_clone()))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn position(&self) -> Result<Position> {
        let get = |name: &str| {
            self.tensors.get(&format!("train.{name}")).ok_or_else(|| {
                data(format!(
                    "{} is not a training checkpoint (no train.{name})",
                    self.path.display()
                ))
            })
        };
        let int = |name: &str| get(name).map(|t| t.int64_value(&[]));
        get("step")?;
        if self.tensors.get("train.format").map(|t| t.int64_value(&[])) != Some(FORMAT) {
            return Err(data(format!(
                "{} was written by an earlier paperlab, before the shared training engine: its training position cannot be resumed (its weights can still be evaluated); start a new run",
                self.path.display()
            )));
        }
        let float = |name: &str| get(name).map(|t| t.to_kind(Kind::Double).double_value(&[]));
        let (best, best_epoch) = (float("best")?, int("best_epoch")?);
        // Checkpoints from before --early-stop: its reference is the best.
        let since = |name: &str| self.tensors.contains_key(&format!("train.{name}"));
        let (improved, improved_epoch) = match since("improved") && since("improved_epoch") {
            true => (float("improved")?, int("improved_epoch")?),
            false => (best, best_epoch),
        };
        Ok(Position {
            epoch: int("epoch")?,
            step: int("step")?,
            batch: int("batch")?,
            rows: int("rows")?,
            best_epoch,
            best,
            improved,
            improved_epoch,
        })
    }
}
