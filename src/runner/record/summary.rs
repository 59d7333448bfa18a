//! summary.json: one typed description of a run's result for every
//! subcommand, so that comparing runs needs no per-command knowledge. The
//! fixed fields say what was run and how "best" was chosen; the paper's own
//! figures sit beside them as named values. Evaluations that reload a run
//! merge their figures into the same file.

use crate::error::Result;
use crate::runner::store::run_dir::RunDir;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether lower or higher values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    Lower,
    Higher,
}

impl Goal {
    /// `value` beats `best` (a NaN `best` means there is none yet).
    pub fn improves(self, value: f64, best: f64) -> bool {
        self.improves_by(value, best, 0.0)
    }

    /// `value` beats `best` by more than `delta` (--min-delta).
    pub fn improves_by(self, value: f64, best: f64, delta: f64) -> bool {
        if !value.is_finite() {
            return false;
        }
        best.is_nan()
            || match self {
                Goal::Lower => value < best - delta,
                Goal::Higher => value > best + delta,
            }
    }
}

/// The metric (a metrics.csv column) that chooses best.safetensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub metric: String,
    pub goal: Goal,
}

impl Selection {
    pub fn new(metric: &str, goal: Goal) -> Selection {
        Selection {
            metric: metric.into(),
            goal,
        }
    }
}

/// Why training ended before its last epoch while the run still counts as
/// finished (summary.json's "stopped"; absent when all epochs ran).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopped {
    /// "early-stop".
    pub reason: String,
    /// The last epoch trained.
    pub epoch: i64,
    /// --early-stop and --min-delta.
    pub patience: i64,
    pub min_delta: f64,
}

/// One named figure of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Figure {
    /// A number missing for this run (written as null).
    Missing,
    Integer(i64),
    Number(f64),
    Flag(bool),
    Text(String),
    /// Numbers by key, e.g. test error by number of passes.
    Table(BTreeMap<String, f64>),
}

impl From<f64> for Figure {
    fn from(v: f64) -> Figure {
        if v.is_finite() {
            Figure::Number(v)
        } else {
            Figure::Missing
        }
    }
}

impl From<i64> for Figure {
    fn from(v: i64) -> Figure {
        Figure::Integer(v)
    }
}

impl From<bool> for Figure {
    fn from(v: bool) -> Figure {
        Figure::Flag(v)
    }
}

impl From<String> for Figure {
    fn from(v: String) -> Figure {
        Figure::Text(v)
    }
}

impl From<&str> for Figure {
    fn from(v: &str) -> Figure {
        Figure::Text(v.into())
    }
}

impl From<BTreeMap<String, f64>> for Figure {
    fn from(v: BTreeMap<String, f64>) -> Figure {
        Figure::Table(v)
    }
}

impl<T: Into<Figure>> From<Option<T>> for Figure {
    fn from(v: Option<T>) -> Figure {
        v.map_or(Figure::Missing, Into::into)
    }
}

/// The paper's figures of a run, by name.
pub type Figures = BTreeMap<String, Figure>;

/// Build [`Figures`] from (name, value) pairs of mixed types.
#[macro_export]
macro_rules! figures {
    ($($name:literal => $value:expr),* $(,)?) => {{
        let mut f = $crate::runner::record::summary::Figures::new();
        $(f.insert($name.to_string(), $crate::runner::record::summary::Figure::from($value));)*
        f
    }};
}

/// What summary.json holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The subcommand that made the run (train-fmp, train-gan, ...).
    pub command: String,
    /// How best.safetensors was chosen; absent when it is the last epoch's.
    pub selection: Option<Selection>,
    /// The selection metric's best value and the epoch that reached it.
    pub best: Option<f64>,
    pub best_epoch: Option<i64>,
    /// Epochs and optimizer steps completed.
    pub epochs: i64,
    pub steps: i64,
    /// Mean training throughput of the last process that trained the run.
    pub train_images_per_sec: Option<f64>,
    /// Training stopped early (--early-stop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    #[serde(flatten)]
    pub figures: Figures,
}

impl Summary {
    /// Add `figures` (replacing same-named ones) to the summary.json of
    /// `dir`, a `command` run, creating it for a run that has not finished:
    /// how evaluations report into the run they evaluate.
    pub fn merge_into(dir: &RunDir, command: &str, figures: Figures) -> Result<()> {
        let mut summary = if dir.file("summary.json").exists() {
            dir.read_json("summary.json")?
        } else {
            Summary {
                command: command.into(),
                selection: None,
                best: None,
                best_epoch: None,
                epochs: 0,
                steps: 0,
                train_images_per_sec: None,
                stopped: None,
                figures: Figures::new(),
            }
        };
        summary.figures.extend(figures);
        dir.write_json("summary.json", &summary)
    }
}
