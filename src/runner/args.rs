//! Options shared by every training and evaluation subcommand.

use super::dist::DistArgs;
use crate::data::DatasetName;
use crate::error::Result;
use crate::optim::UpdateImpl;
use crate::ranges::{self, Interval};
use crate::runner::compute::device;
use crate::runner::compute::layout::Layout;
use crate::runner::compute::precision::{Amp, Precision};
use crate::runner::compute::threads::{self, Threads};
use crate::runner::engine::feed::{DEFAULT_PREFETCH, MAX_PREFETCH};
use crate::runner::record::progress::REPORT_EVERY;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{nn::VarStore, Device};

/// A choice flag's value as the command line spells it (clap's name:
/// weight-affine, inception-v4), for logs and summaries.
pub fn flag_name(v: &impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

/// Where a command computes and from which seed: every training and
/// evaluation subcommand has these.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct Compute {
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Seed for every random choice (initialisation, shuffles, dropout, augmentation, FMP regions, GAN noise; an evaluation's draws).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CPU threads for libtorch (intra- and inter-op) and image decoding (default: OMP_NUM_THREADS, else SLURM_CPUS_PER_TASK, else the CPUs this process may run on divided by the run's processes on this machine).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
}

impl Compute {
    /// The device, with libtorch's threads and seed set ([`device::setup`]).
    pub fn setup(&self) -> Result<Device> {
        device::setup(&self.device, &self.cpu_threads()?, self.seed)
    }

    /// This process's CPU threads: --threads, else its share
    /// ([`threads::of_this_process`]).
    pub fn cpu_threads(&self) -> Result<Threads> {
        threads::of_this_process(self.threads.map(|n| n as usize))
    }
}

#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct Common {
    #[command(flatten)]
    #[serde(flatten)]
    pub compute: Compute,
    /// Where datasets live (see data/README.md).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Where run directories are written: <out>/<subcommand>/<name>/.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Run name (default: the preset's file name, else "default").
    #[arg(long)]
    pub name: Option<String>,
    /// A TOML preset from experiments/ (keys are flag names): it replaces the defaults, flags given on the command line replace it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Check the flags and print the resolved configuration (defaults, preset, command line, derived defaults) as JSON and exit; creates nothing, reads no data.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// Stop after this many optimizer steps (a checkpoint is written; --resume continues).
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
    /// How the optimizer, weight decay, clipping and the weight EMA update the tensors: per-tensor ops, multi-tensor (foreach) ops, or auto (foreach on CUDA, per-tensor elsewhere). The result is the same to float rounding, so --resume may change it.
    #[arg(long, value_enum, default_value = "auto")]
    #[serde(default)]
    pub update_impl: UpdateImpl,
    /// Every N optimizer steps, log the training losses, scheduled hyperparameters and images/s to steps.csv and TensorBoard event files in the run directory (which also get each epoch's metrics, images and the config); 0: neither file.
    #[arg(long, default_value_t = REPORT_EVERY as u64)]
    #[serde(default = "default_log_every")]
    pub log_every: u64,
    /// The dtype of the training forward pass and loss: fp32, or bf16 / fp16 autocast (weights, optimizer state, loss and metrics stay fp32; fp16 adds a dynamic loss scaler, saved with the checkpoints). The papers trained in fp32.
    #[arg(long, value_enum, default_value = "fp32")]
    #[serde(default)]
    pub precision: Precision,
    /// Hold the conv nets' 4-D weights and input batches in channels-last (NHWC) memory order: the same values, a faster layout for GPU tensor cores.
    #[arg(long)]
    #[serde(default)]
    pub channels_last: bool,
    /// Training steps whose batches a loader thread keeps ready (decoded; for a GPU, pinned and uploading) while the current step runs, as PyTorch DataLoader's prefetch_factor; 0: each step loads its batches when it starts. The batches are the same whatever the value, so --resume takes it from its own command line.
    #[arg(long, value_name = "K", default_value_t = DEFAULT_PREFETCH,
          value_parser = clap::value_parser!(u64).range(0..=MAX_PREFETCH))]
    #[serde(default = "default_prefetch")]
    pub prefetch: u64,
    /// Reproducible GPU runs: cuDNN's deterministic algorithms with its benchmark off, libtorch's deterministic algorithms (an op without one fails) and CUBLAS_WORKSPACE_CONFIG=:4096:8 unless set; slower. Taken from --resume's command line.
    #[arg(long, conflicts_with = "cudnn_benchmark")]
    #[serde(default)]
    pub deterministic: bool,
    /// cuDNN times its algorithms for each new input shape and keeps the fastest: faster convolutions, results that may differ from run to run. Taken from --resume's command line.
    #[arg(long)]
    #[serde(default)]
    pub cudnn_benchmark: bool,
    /// Continue the run in <out>/<subcommand>/<name> from its last checkpoint: bare (or =existing), the run must exist; =auto continues it if its config.json exists and starts it otherwise, saying which on stderr (for job scripts). A preset's `resume = true` is the bare form.
    #[arg(long, value_enum, value_name = "WHEN", num_args = 0..=1,
          default_missing_value = "existing")]
    #[serde(default, skip_deserializing)]
    pub resume: Option<Resume>,
    /// Stop training once the trainer's selection metric (test error, the Parzen estimate, ...) has not improved by more than --min-delta for PATIENCE epochs; the final evaluation still runs and summary.json records the stop.
    #[arg(long, value_name = "PATIENCE", value_parser = ranges::positive_int)]
    #[serde(default)]
    pub early_stop: Option<i64>,
    /// With --early-stop: the change of the selection metric that counts as an improvement (more than D).
    #[arg(long, value_name = "D", default_value_t = 0.0, value_parser = ranges::non_negative,
          requires = "early_stop")]
    #[serde(default)]
    pub min_delta: f64,
    /// Gradient accumulation: run each optimizer step's batch (--batch-size stays the step's global batch; each process's share of it) as N micro-batches, forward and backward one after another, then one step: memory falls by about N, the step is the unsplit one to float rounding, except that batch norm normalises each micro-batch by its own statistics. N must divide the batch (each process's share of it).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = ranges::positive_int)]
    #[serde(default = "default_accumulate")]
    pub accumulate: i64,
    /// Checkpoint inside epochs too, every N optimizer steps (500) or every duration (90s, 10m, 2h; rank 0's clock decides for every process of a distributed run): checkpoints/last.safetensors, which --resume continues exactly, and a copy kept as checkpoints/step-NNNNNN.safetensors. Kept from the saved run on --resume unless given.
    #[arg(long, value_name = "N|DURATION", value_parser = ranges::interval)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<Interval>,
    /// With --checkpoint-every: keep only the K latest step-NNNNNN checkpoints (default: all); last and best are kept besides.
    #[arg(long, value_name = "K", value_parser = ranges::positive_int,
          requires = "checkpoint_every")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_checkpoints: Option<i64>,
    /// Record STEPS training steps, after a 2-step warm-up, with libtorch's profiler: profile/trace.json (a Chrome trace for Perfetto or chrome://tracing), profile/ops.csv (each op's calls and self time per step) and per-step figures under summary.json's "profile" (ops dispatched, host reads, allocations, host time; on CUDA also kernel launches and GPU idle time). Training is otherwise unchanged. Taken from --resume's command line.
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..))]
    #[serde(default)]
    pub profile: Option<u64>,
    /// Replace an existing run directory.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// A distributed run's options (runtime only: not in config.json).
    #[command(flatten)]
    #[serde(skip)]
    pub dist: DistArgs,
}

/// Runs from before --log-every log as its default does.
fn default_log_every() -> u64 {
    REPORT_EVERY as u64
}

/// Runs from before --prefetch: its default.
fn default_prefetch() -> u64 {
    DEFAULT_PREFETCH
}

/// Runs from before --accumulate took each batch whole.
fn default_accumulate() -> i64 {
    1
}

/// What --resume continues.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resume {
    /// The run must exist (bare --resume).
    Existing,
    /// The run if it exists (its config.json), else a new one.
    Auto,
}

impl Common {
    /// Whether this command continues an existing run (--resume, once
    /// `session::resolve` has settled --resume=auto).
    pub fn resuming(&self) -> bool {
        self.resume.is_some()
    }

    /// The run's name: --name, else the preset's file stem, else "default".
    pub fn run_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        self.config
            .as_ref()
            .and_then(|c| c.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "default".into())
    }

    /// The training step's precision and layout for the model on `vs`
    /// (whose weights it converts to channels-last when asked).
    pub fn amp(&self, vs: &VarStore) -> Amp {
        Amp::new(self.precision, Layout::new(self.channels_last), vs)
    }
}

/// The labelled dataset of a classifier (train-fmp, train-wn) and the
/// subsets a quick run takes of it.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct ClassData {
    /// fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse or folder:PATH.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: DatasetName,
    /// Use only the first N training images.
    #[arg(long, value_parser = ranges::positive_int)]
    pub train_limit: Option<i64>,
    /// Use only the first N test images.
    #[arg(long, value_parser = ranges::positive_int)]
    pub test_limit: Option<i64>,
}

/// Options shared by evaluations that reload a finished run.
#[derive(Args, Debug, Clone)]
pub struct EvalCommon {
    /// The run directory to evaluate (results/<subcommand>/NAME).
    #[arg(long)]
    pub run: PathBuf,
    /// best, last, or a path to a checkpoint of this run's model (default: last for eval-fmp, best for eval-parzen).
    #[arg(long)]
    pub checkpoint: Option<String>,
    #[command(flatten)]
    pub compute: Compute,
    /// Overrides the run's --data-dir.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Replace this evaluation's existing output files in the run directory.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub quiet: bool,
}
