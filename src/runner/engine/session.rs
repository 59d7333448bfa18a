//! A training session: the run directory, config.json, metrics.csv,
//! checkpoints (--checkpoint-every's too), progress and the stop
//! conditions (Ctrl-C, SIGUSR1 and its requeue, --max-steps; the engine
//! applies --early-stop's), shared
//! by classifiers trained by epoch and GANs trained by iteration.
//!
//! In a distributed run (runner/dist/) the session owns who writes: rank 0
//! alone opens the run directory (the others receive its path), writes
//! config.json, metrics.csv, steps.csv and the event files, checkpoints
//! and summary.json and shows progress; a writer the session opens inherits that ([`Session::is_writer`]).

use crate::error::{interrupted, usage, Result};
use crate::runner::args::{Common, Resume};
use crate::runner::compute::threads::Threads;
use crate::runner::dist::{self, launch};
use crate::runner::engine::accumulate;
use crate::runner::engine::checkpoint_policy::Policy;
use crate::runner::engine::interrupt::Stop;
use crate::runner::engine::requeue::requeue_job;
use crate::runner::record::metrics::Metrics;
use crate::runner::record::profile::Profile;
use crate::runner::record::progress::Progress;
use crate::runner::record::step_log::{Start, StepLog};
use crate::runner::record::summary::{Figures, Selection, Stopped, Summary};
use crate::runner::store::checkpoint::{Checkpoint, CheckpointFile, Position};
use crate::runner::store::run_dir::RunDir;
use crate::runner::{compute::device, engine::interrupt};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tch::Device;

/// A subcommand's full configuration (its clap Args), saved to config.json.
pub trait RunConfig: Serialize + DeserializeOwned + Clone {
    /// The subcommand that trains this configuration: config.json's
    /// "command" and the run directory's folder under --out.
    const COMMAND: &'static str;
    fn common(&self) -> &Common;
    /// The global batch per optimizer step, which a distributed run's world
    /// size must divide.
    fn global_batch(&self) -> i64;
    fn common_mut(&mut self) -> &mut Common;
    /// Check the flags clap cannot and fill in the defaults that depend on
    /// other flags, reading no data: what config.json records and
    /// --print-config prints. Checks that need the data come later.
    fn checked(self) -> Result<Self>;
}

/// What config.json holds.
#[derive(Serialize, Deserialize)]
pub struct SavedConfig<C> {
    pub command: String,
    pub paperlab_version: String,
    pub git_commit: String,
    pub device: String,
    /// Processes of a distributed run (runtime information; absent in one
    /// process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world_size: Option<usize>,
    /// The CPU threads of the session that created the run and where their
    /// number came from (runtime information; absent in runs from before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<Threads>,
    pub seed: u64,
    pub config: C,
}

pub struct Session {
    pub dir: RunDir,
    pub device: Device,
    pub seed: u64,
    pub max_steps: Option<u64>,
    /// Steps whose batches are loaded ahead (--prefetch; runner/engine/feed.rs).
    pub prefetch: u64,
    pub position: Position,
    pub metrics: Metrics,
    /// steps.csv and the TensorBoard event files.
    pub log: StepLog,
    pub progress: Progress,
    /// How best.safetensors is chosen (set by the engine from the trainer).
    pub selection: Option<Selection>,
    /// --early-stop PATIENCE and --min-delta.
    pub early_stop: Option<(i64, f64)>,
    /// Set by the engine when --early-stop ended training (summary.json's
    /// "stopped").
    pub early_stopped: Option<Stopped>,
    /// --profile's recording, driven by the engine around its steps.
    pub profile: Profile,
    command: &'static str,
    resumed: Option<CheckpointFile>,
    /// Stopped by Ctrl-C, SIGTERM or SIGUSR1 (on any process of a
    /// distributed run).
    stop: Option<Stop>,
    /// --checkpoint-every and --keep-checkpoints.
    policy: Policy,
}

/// The configuration in force, checked ([`RunConfig::checked`]): for
/// --resume, the run's saved config.json with only the runtime options
/// (device, quiet, max-steps, update-impl, prefetch, deterministic,
/// cudnn-benchmark, profile, and threads, checkpoint-every and keep-checkpoints
/// when given) taken from this command
/// line; otherwise `config` itself. Call it before loading data, so nothing
/// is created for a bad command (a bad launch or thread variable included).
pub fn resolve<C: RunConfig>(mut config: C) -> Result<C> {
    interrupt::install_requeue();
    resume_restarted(&mut config)?;
    resume_auto(&mut config)?;
    config.common().compute.cpu_threads()?;
    let common = config.common().clone();
    if !common.resuming() {
        return check_world(config.checked()?);
    }
    let dir = RunDir::open(&common.out, C::COMMAND, &common.run_name(), true, false)?;
    let mut saved: SavedConfig<C> = dir.read_json("config.json")?;
    let c = saved.config.common_mut();
    (c.compute.device, c.quiet, c.max_steps, c.resume) = (
        common.compute.device,
        common.quiet,
        common.max_steps,
        common.resume,
    );
    (c.update_impl, c.prefetch) = (common.update_impl, common.prefetch);
    (c.deterministic, c.cudnn_benchmark) = (common.deterministic, common.cudnn_benchmark);
    c.profile = common.profile;
    c.compute.threads = common.compute.threads.or(c.compute.threads);
    c.checkpoint_every = common.checkpoint_every.or(c.checkpoint_every);
    c.keep_checkpoints = common.keep_checkpoints.or(c.keep_checkpoints);
    c.dist = common.dist;
    check_world(saved.config.checked()?)
}

/// A group torchrun restarted (--max-restarts, TORCHELASTIC_RESTART_COUNT
/// > 0) continues its run from the last checkpoint, as --resume would.
fn resume_restarted<C: RunConfig>(config: &mut C) -> Result<()> {
    let restarted = launch::detect(&|k| std::env::var(k).ok())?.is_some_and(|l| l.restart > 0);
    let c = config.common_mut();
    if restarted && started::<C>(c) {
        (c.resume, c.force) = (Some(Resume::Existing), false);
    }
    Ok(())
}

/// --resume=auto: continue the run when its config.json exists, else start
/// it, saying which on stderr (rank 0 alone in a distributed run). Every
/// process decides before `dist::init`, whose rendezvous waits for all of
/// them, so rank 0 cannot have written config.json before another looked.
fn resume_auto<C: RunConfig>(config: &mut C) -> Result<()> {
    let launch = launch::detect(&|k| std::env::var(k).ok())?;
    let c = config.common_mut();
    if c.resume != Some(Resume::Auto) {
        return Ok(());
    }
    let dir = c.out.join(C::COMMAND).join(c.run_name());
    let (resume, said) = match started::<C>(c) {
        true => (Some(Resume::Existing), "continuing it (--resume=auto)"),
        false => (None, "no run there yet: starting it (--resume=auto)"),
    };
    c.resume = resume;
    if launch.is_none_or(|l| l.rank == 0) && !c.print_config {
        eprintln!("{}: {said}", dir.display());
    }
    Ok(())
}

/// Whether the run `c` names exists: its directory holds a config.json.
fn started<C: RunConfig>(c: &Common) -> bool {
    let dir = c.out.join(C::COMMAND).join(c.run_name());
    dir.join("config.json").is_file()
}

/// A distributed launch's variables are valid, its world size divides
/// the configuration's global --batch-size, and --accumulate divides each
/// process's share of it: checked before anything is read or created.
fn check_world<C: RunConfig>(config: C) -> Result<C> {
    let batch = config.global_batch();
    let world = match launch::detect(&|k| std::env::var(k).ok())? {
        Some(launch) => {
            dist::check_batch_size(launch.world, batch)?;
            launch.world
        }
        None => 1,
    };
    accumulate::check(
        config.common().accumulate,
        batch,
        batch / world as i64,
        world,
    )?;
    Ok(config)
}

/// The run directory: opened by rank 0 (or the only process), which tells
/// the others its path, or its error, which they then fail with too.
fn open_dir(command: &str, c: &Common) -> Result<RunDir> {
    let open = || RunDir::open(&c.out, command, &c.run_name(), c.resuming(), c.force);
    let Some(w) = dist::world() else {
        return open();
    };
    if w.rank == 0 {
        let dir = open();
        let told = match &dir {
            Ok(d) => format!("ok {}", d.path.display()),
            Err(e) => format!("error {e:#}"),
        };
        w.publish("run_dir", &told)?;
        return dir;
    }
    let told = w.receive("run_dir")?;
    match told.strip_prefix("ok ") {
        Some(path) => Ok(RunDir { path: path.into() }),
        None => Err(usage(format!(
            "rank 0 could not open the run directory: {}",
            told.trim_start_matches("error ")
        ))),
    }
}

impl Session {
    /// Open the run directory for `config` (from [`resolve`]): a new run writes
    /// config.json; a resumed one reloads its last checkpoint and cuts
    /// metrics.csv and steps.csv back to that checkpoint.
    pub fn open<C: RunConfig>(config: &C, header: &[&str]) -> Result<Session> {
        let c = config.common();
        device::determinism(c.deterministic, c.cudnn_benchmark);
        let device = dist::init(&c.dist, &c.compute.device, c.compute.setup()?)?;
        let dir = open_dir(C::COMMAND, c)?;
        crate::error::set_run(&dir.path);
        let writer = dist::is_writer();
        let progress = Progress::new(c.quiet || !writer);
        let (resumed, position) = if c.resuming() && dir.last_checkpoint().exists() {
            let loaded = CheckpointFile::open(&dir.last_checkpoint())?;
            let position = loaded.position()?;
            (Some(loaded), position)
        } else if c.resuming() {
            // Killed before its first checkpoint: nothing to continue from.
            // Said even with --quiet: the run restarts rather than continues.
            if writer {
                eprintln!(
                    "{} has no checkpoint yet: starting it from the beginning with its config.json",
                    dir.path.display()
                );
            }
            (None, Position::start())
        } else {
            let saved = SavedConfig {
                command: C::COMMAND.into(),
                paperlab_version: env!("CARGO_PKG_VERSION").into(),
                git_commit: env!("PAPERLAB_GIT_COMMIT").into(),
                device: device::name(device),
                world_size: dist::world().map(|w| w.size),
                threads: Some(c.compute.cpu_threads()?),
                seed: c.compute.seed,
                config: config.clone(),
            };
            if writer {
                dir.write_json("config.json", &saved)?;
            }
            (None, Position::start())
        };
        let keep = c.resuming().then_some(position.rows as usize);
        let metrics = match writer {
            true => Metrics::open(&dir.file("metrics.csv"), header, keep)?,
            false => Metrics::discard(&dir.file("metrics.csv"), header, keep.unwrap_or(0)),
        };
        let start = Start {
            resume: c.resuming(),
            step: position.step,
        };
        let every = c.log_every as i64;
        let log = StepLog::open(&dir, every, writer, start, header, device)?;
        interrupt::install();
        Ok(Session {
            dir,
            device,
            seed: c.compute.seed,
            max_steps: c.max_steps,
            prefetch: c.prefetch,
            position,
            metrics,
            log,
            progress,
            selection: None,
            early_stop: c.early_stop.map(|p| (p, c.min_delta)),
            early_stopped: None,
            profile: Profile::new(c.profile, device, writer),
            command: C::COMMAND,
            resumed,
            stop: None,
            policy: Policy::new(c.checkpoint_every, c.keep_checkpoints, position.step),
        })
    }

    /// Whether this process writes the run's files (rank 0 of a distributed
    /// run, or the only process). Whatever a trainer writes into the run
    /// directory itself it writes only when this holds.
    pub fn is_writer(&self) -> bool {
        dist::is_writer()
    }

    /// The checkpoint this run resumes from, if any.
    pub fn resumed(&self) -> Option<&CheckpointFile> {
        self.resumed.as_ref()
    }

    /// Ctrl-C was pressed (SIGTERM or SIGUSR1 sent), or --max-steps is
    /// reached. In a distributed run every process answers the same at
    /// every step.
    pub fn should_stop(&mut self) -> Result<bool> {
        let requested = interrupt::requested();
        self.stop = match dist::world() {
            Some(w) => w.stop_before(self.position.step, requested)?,
            None => requested,
        };
        Ok(self.stop.is_some()
            || self
                .max_steps
                .is_some_and(|m| self.position.step as u64 >= m))
    }

    /// --checkpoint-every: whether to checkpoint before the next step (every
    /// process of a distributed run answers the same).
    pub fn checkpoint_due(&mut self) -> Result<bool> {
        self.policy.due(self.position.step)
    }

    /// Write checkpoints/last.safetensors, and best.safetensors when `best`,
    /// with the current position, including the metrics rows written so
    /// far; and a step checkpoint when --checkpoint-every keeps one here.
    pub fn save(&mut self, checkpoint: Checkpoint, best: bool) -> Result<()> {
        self.position.rows = self.metrics.rows() as i64;
        let step = self.position.step;
        self.policy.saved(step);
        if !self.is_writer() {
            return Ok(());
        }
        let checkpoint = checkpoint.position(&self.position);
        // best first: last.safetensors is what --resume continues from, so a
        // kill between the two writes redoes the epoch and writes best again.
        if best {
            checkpoint.save(&self.dir.best_checkpoint())?;
        }
        checkpoint.save(&self.dir.last_checkpoint())?;
        if self.policy.keeps(step) {
            self.policy.keep(&self.dir, step)?;
        }
        Ok(())
    }

    /// The error to return after a stop that is not the end of training: exit
    /// 130 for Ctrl-C; for SIGUSR1, the Slurm job requeued (by the writer)
    /// and exit 75; for --max-steps, Ok.
    pub fn stopped(&mut self) -> Result<()> {
        let last = self.dir.last_checkpoint();
        match self.stop {
            Some(Stop::Interrupt) => {
                return Err(interrupted(format!(
                    "interrupted at step {}; checkpoint saved to {}; continue with --resume",
                    self.position.step,
                    last.display()
                )))
            }
            Some(Stop::Requeue) => {
                let stopped = format!(
                    "SIGUSR1: stopped at step {}; checkpoint saved to {}",
                    self.position.step,
                    last.display()
                );
                return Err(requeue_job(&stopped, self.is_writer()));
            }
            None => {}
        }
        self.progress.line(&format!(
            "stopped after --max-steps {} steps; checkpoint saved to {}; continue with --resume",
            self.position.step,
            last.display()
        ));
        Ok(())
    }

    /// The error for a loss that became NaN or infinite (`when` says at which
    /// step); the run stops without saving, so the last good checkpoint stays.
    pub fn diverged(&self, what: &str, when: &str) -> anyhow::Error {
        let last = self.dir.last_checkpoint();
        let kept = match last.exists() {
            true => format!("the last good checkpoint stays at {}", last.display()),
            false => "no checkpoint had been written yet".into(),
        };
        crate::error::run(format!(
            "the {what} became NaN or infinite {when}; the run stopped and {kept} (try a lower --lr)"
        ))
    }

    /// Write summary.json: the run's position and selection, the training
    /// throughput (None when nothing was trained), the paper's `figures`
    /// and --profile's; then tell the user where the run is (the writer
    /// alone, as for every file).
    pub fn write_summary(&self, images_per_sec: Option<f64>, mut figures: Figures) -> Result<()> {
        if !self.is_writer() {
            return Ok(());
        }
        if let Some(profile) = self.profile.figures() {
            figures.insert("profile".into(), profile.clone().into());
        }
        let chosen = self.selection.is_some() && self.position.best_epoch > 0;
        let summary = Summary {
            command: self.command.into(),
            selection: self.selection.clone(),
            best: chosen
                .then_some(self.position.best)
                .filter(|b| b.is_finite()),
            best_epoch: chosen.then_some(self.position.best_epoch),
            epochs: self.position.epoch,
            steps: self.position.step,
            train_images_per_sec: images_per_sec,
            stopped: self.early_stopped.clone(),
            figures,
        };
        self.dir.write_json("summary.json", &summary)?;
        eprintln!("results: {}", self.dir.path.display());
        Ok(())
    }
}
