//! The training engine: the one epoch loop every trainer runs on.
//!
//! It owns what is the same for every paper: the resume position, stopping
//! (Ctrl-C, SIGUSR1, --max-steps) with a checkpoint, --checkpoint-every's
//! checkpoints inside epochs, --early-stop, per-step seeding, the shuffled
//! order of each epoch, progress, running sums on the device, one
//! metrics.csv row per epoch, the per-step log (steps.csv and TensorBoard
//! event files, runner/record/step_log.rs), choosing best.safetensors by the trainer's
//! selection metric, atomic checkpoints, and --profile's recording of steps
//! (runner/record/profile/). A trainer supplies the rest
//! through [`Steps`]: what one optimizer step does, what an epoch's
//! evaluation reports, and what its checkpoints hold. The classifier steps
//! (runner/engine/classify.rs) and the GAN steps (gan/steps.rs) are the two kinds
//! so far.
//!
//! In a distributed run (runner/dist/) every process walks the same global
//! batches and takes its share of each ([`dist::shard`]); the trainer's
//! gradients are reduced during its backward by [`dist::reduced_backward`], the
//! sums by [`RunningSums`], and stopping is agreed by [`Session::should_stop`].

use crate::data::batches::{stream_order, Batch};
use crate::data::examples::Examples;
use crate::error::{usage, Result};
use crate::optim::schedule::At;
use crate::rng::seed_torch;
use crate::runner::dist;
use crate::runner::engine::feed::{Feed, Plan};
use crate::runner::engine::session::Session;
use crate::runner::engine::sums::{Means, RunningSums};
use crate::runner::record::progress::REPORT_EVERY;
use crate::runner::record::summary::{Selection, Stopped};
use crate::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use std::time::Instant;
use tch::{Device, Tensor};

/// What one epoch's end reports.
pub struct EpochEnd {
    /// metrics.csv values between "epoch" and "seconds".
    pub columns: Vec<f64>,
    /// The epoch's log line, e.g. "train loss 0.31  test error 1.23%".
    pub line: String,
    /// The selection metric's value this epoch (NaN: not measured).
    pub selection: f64,
}

/// What a trainer supplies to the engine.
pub trait Steps {
    /// The examples each epoch shuffles and cuts into batches.
    fn examples(&self) -> &dyn Examples;
    /// Examples per epoch: one pass by default. A trainer that reports every
    /// N steps sets N batches; its epochs then walk an endless stream of
    /// shuffled passes (see `stream_order`).
    fn epoch_examples(&self) -> i64 {
        self.examples().len()
    }
    fn batch_size(&self) -> i64;
    /// Batches one optimizer step consumes (the GAN's k D batches).
    fn batches_per_step(&self) -> i64 {
        1
    }
    fn epochs(&self) -> i64;
    /// The metric that chooses best.safetensors; None: the last epoch's.
    fn selection(&self) -> Option<Selection>;
    /// Before the first step of a run (never again, resumed or not): sees
    /// the first training batch (data-dependent initialisation).
    fn init(&mut self, _first: &Batch) -> Result<()> {
        Ok(())
    }
    /// Before every step, so at every epoch's start too: set the scheduled
    /// hyperparameters for `at`.
    fn schedule(&mut self, at: At) -> Result<()>;
    /// The hyperparameters [`Steps::schedule`] set for `at`, by name (lr,
    /// momentum, beta1), for the per-step log; none by default.
    fn hyperparameters(&self, _at: At) -> Vec<(&'static str, f64)> {
        vec![]
    }
    /// Optimizer step `at.step` (0-based) on `batches`, adding what it
    /// measures to `sums` (on the device; no host reads here).
    fn step(&mut self, at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()>;
    /// The progress message from the epoch's running means.
    fn progress(&self, means: &Means) -> String;
    /// After epoch `epoch` (1-based): evaluate and report.
    fn end_epoch(&mut self, s: &mut Session, epoch: i64, means: &Means) -> Result<EpochEnd>;
    /// The variables every process must hold alike from the first step on
    /// (the model's, an EMA's shadow), in the same order on every process:
    /// in a distributed run rank 0's values are broadcast into them after
    /// [`Steps::init`] ([`dist::replicate`]), so they must be the variables
    /// themselves (shallow clones), on the run's device. Optimizer and
    /// scaler state is not among them: it starts alike everywhere.
    fn replicated(&self) -> Vec<Tensor>;
    /// What checkpoints hold besides the position and the sums (model,
    /// optimizer, extra state), keys prefixed by their owner.
    fn checkpoint(&self) -> Checkpoint;
    /// Restore what [`Steps::checkpoint`] saved, on --resume.
    fn restore(&mut self, checkpoint: &CheckpointFile) -> Result<()>;
}

/// The header of metrics.csv for a trainer's `columns`.
pub fn header(columns: &[&'static str]) -> Vec<&'static str> {
    let mut h = vec!["epoch"];
    h.extend(columns);
    h.extend(["seconds", "images_per_sec"]);
    h
}

pub struct Outcome {
    /// Training is over: all epochs ran, or --early-stop ended it
    /// (`Session::early_stopped` says which); false: stopped by Ctrl-C or
    /// --max-steps, to be continued with --resume.
    pub finished: bool,
    /// Mean training throughput over the epochs this process ran.
    pub images_per_sec: f64,
}

/// Train for the session's remaining epochs, continuing mid-epoch when the
/// checkpoint being resumed says so.
pub fn train(s: &mut Session, steps: &mut dyn Steps) -> Result<Outcome> {
    s.selection = steps.selection();
    if s.early_stop.is_some() && s.selection.is_none() {
        // Each trainer's RunConfig::checked refuses this before anything is written.
        return Err(usage(
            "--early-stop: this trainer has no selection metric to watch",
        ));
    }
    let mut sums = RunningSums::new(s.position.step, s.device, s.log.every() > 0);
    if let Some(ckpt) = s.resumed() {
        steps.restore(ckpt)?;
        sums.restore(ckpt)?;
    }
    let (n, epoch_size, bs) = (
        steps.examples().len(),
        steps.epoch_examples(),
        steps.batch_size(),
    );
    dist::check_batches(bs, epoch_size)?;
    let (mut images, mut seconds) = (0i64, 0f64);
    for epoch in s.position.epoch + 1..=steps.epochs() {
        // Checked before the epoch, not after the last: a resumed run that
        // had stopped early stays stopped.
        if early_stop(s) {
            break;
        }
        let order = stream_order(n, epoch_size, s.seed, epoch as u64);
        let plan = Plan::new(order, bs, steps.batches_per_step(), s.seed);
        let started = Instant::now();
        s.log.start_epoch();
        let (epoch_images, stopped) = walk(s, steps, &mut sums, epoch, &plan, started)?;
        if stopped {
            s.profile.finish(&s.dir)?;
            check_finite(s, &sums)?;
            save(s, steps, &sums, false)?;
            return Ok(Outcome {
                finished: false,
                images_per_sec: rate(images + epoch_images, seconds),
            });
        }
        images += epoch_images;
        seconds += end_epoch(s, steps, &mut sums, epoch, epoch_images, started)?;
    }
    s.profile.finish(&s.dir)?;
    s.log.finish(s.position.step)?;
    Ok(Outcome {
        finished: true,
        images_per_sec: rate(images, seconds),
    })
}

/// Epoch `epoch`'s steps from the session's position, their batches from a
/// [`Feed`]: the images they took, and whether they stopped before the
/// epoch's end (Ctrl-C, --max-steps), with the loader thread joined.
fn walk(
    s: &mut Session,
    steps: &mut dyn Steps,
    sums: &mut RunningSums,
    epoch: i64,
    plan: &Plan,
    started: Instant,
) -> Result<(i64, bool)> {
    let (k, first) = (steps.batches_per_step(), s.position.batch);
    let title = format!("epoch {epoch}/{}", steps.epochs());
    s.progress.start(&title, plan.steps() as u64);
    let at = (first, s.position.step);
    let mut feed = Feed::start(
        steps.examples().share(),
        plan.clone(),
        at,
        s.prefetch,
        s.device,
    )?;
    let mut epoch_images = 0;
    while s.position.batch < plan.batches() {
        if s.should_stop()? {
            return Ok((epoch_images, true));
        }
        if s.checkpoint_due()? {
            check_finite(s, sums)?;
            save(s, &*steps, sums, false)?;
        }
        let step = s.position.step;
        seed_torch(s.seed, dist::step_stream(step as u64));
        let global = plan.step(s.position.batch, step);
        let data = feed.next()?;
        let images: i64 = global.iter().map(|(idx, _)| idx.len() as i64).sum();
        epoch_images += images;
        if step == 0 {
            init(steps, &data[0], global[0], s.device)?;
        }
        let at = At { epoch, step };
        let range = s.profile.before_step()?;
        steps.schedule(at)?;
        steps.step(at, &data, sums)?;
        sums.advance();
        drop(range);
        s.profile.after_step(&s.dir)?;
        s.position.step += 1;
        s.position.batch = plan.after(s.position.batch);
        s.log.count(images);
        log_point(s, &*steps, sums, at);
        // Steps this process took; the progress shows the epoch's.
        if ((s.position.batch - first + k - 1) / k) % REPORT_EVERY == 0 {
            let done = (s.position.batch + k - 1) / k;
            report(s, &*steps, sums, done as u64, epoch_images, started)?;
        }
    }
    Ok((epoch_images, false))
}

/// Before the first step: the trainer's initialisation on `first`, this
/// process's first batch. A distributed run initialises as one process
/// would, from the whole first global batch (`global`: its indices and
/// seed), and then every process starts from rank 0's weights, as DDP does.
fn init(steps: &mut dyn Steps, first: &Batch, global: (&[i64], u64), device: Device) -> Result<()> {
    if dist::world().is_none() {
        return steps.init(first);
    }
    let (idx, seed) = global;
    steps.init(&steps.examples().batch(idx, seed, device)?)?;
    dist::replicate(&steps.replicated())
}

/// After step `at`: the log's window and hyperparameters, when the step
/// ends a --log-every interval.
fn log_point(s: &mut Session, steps: &dyn Steps, sums: &mut RunningSums, at: At) {
    if s.log.due(s.position.step) {
        if let Some(window) = sums.window() {
            let hyperparameters = steps.hyperparameters(at);
            s.log
                .push(s.position.step, at.epoch, window, hyperparameters);
        }
    }
}

/// A progress update: the sums read (a host sync), then the images/s since
/// the epoch's start, which the device has therefore caught up with, and
/// the log points waiting for that read written.
fn report(
    s: &mut Session,
    steps: &dyn Steps,
    sums: &RunningSums,
    done: u64,
    images: i64,
    started: Instant,
) -> Result<()> {
    check_finite(s, sums)?;
    let means = sums.means()?;
    let rate = images as f64 / started.elapsed().as_secs_f64();
    let msg = format!("{rate:.0} img/s  {}", steps.progress(&means));
    s.progress.update(done, msg);
    s.log.flush()
}

/// Epoch `epoch` ends: its evaluation, metrics.csv row, best and
/// checkpoint; returns its seconds of training.
fn end_epoch(
    s: &mut Session,
    steps: &mut dyn Steps,
    sums: &mut RunningSums,
    epoch: i64,
    epoch_images: i64,
    started: Instant,
) -> Result<f64> {
    check_finite(s, sums)?;
    // The epoch's log points before what its end writes, in step order.
    s.log.flush()?;
    let epoch_seconds = started.elapsed().as_secs_f64();
    let end = steps.end_epoch(s, epoch, &sums.means()?)?;
    let ips = epoch_images as f64 / epoch_seconds;
    let mut row = vec![epoch as f64];
    row.extend(&end.columns);
    row.extend([epoch_seconds, ips]);
    s.metrics.write(&row)?;
    s.log.epoch_end(s.position.step, &row)?;
    s.progress
        .line(&format!("epoch {epoch:>3}  {}  {ips:.0} img/s", end.line));
    let best = match &s.selection {
        Some(sel) => sel.goal.improves(end.selection, s.position.best),
        None => true,
    };
    if best {
        (s.position.best, s.position.best_epoch) = (end.selection, epoch);
    }
    if let (Some(sel), Some((_, delta))) = (&s.selection, s.early_stop) {
        if sel
            .goal
            .improves_by(end.selection, s.position.improved, delta)
        {
            (s.position.improved, s.position.improved_epoch) = (end.selection, epoch);
        }
    }
    s.position.epoch = epoch;
    s.position.batch = 0;
    sums.reset();
    save(s, steps, sums, best)?;
    Ok(epoch_seconds)
}

/// --early-stop: whether the selection metric has gone PATIENCE epochs
/// without improving by more than --min-delta, counted from the position
/// (so a resumed run stops where an uninterrupted one does; in a
/// distributed run every process holds the same reduced metric, so all
/// agree); if so, records and says it.
fn early_stop(s: &mut Session) -> bool {
    let Some((patience, min_delta)) = s.early_stop else {
        return false;
    };
    let p = &s.position;
    if p.batch > 0 || p.epoch - p.improved_epoch < patience {
        return false;
    }
    let metric = s.selection.as_ref().map_or("", |sel| sel.metric.as_str());
    s.progress.line(&format!(
        "early stop after epoch {}: {metric} has not improved by more than {min_delta} for {patience} epochs (best {} at epoch {})",
        p.epoch, p.best, p.best_epoch
    ));
    s.early_stopped = Some(Stopped {
        reason: "early-stop".into(),
        epoch: p.epoch,
        patience,
        min_delta,
    });
    true
}

/// Checkpoint, after writing the log points up to here: a run resumed from
/// this checkpoint has them all.
fn save(s: &mut Session, steps: &dyn Steps, sums: &RunningSums, best: bool) -> Result<()> {
    s.log.flush()?;
    let ckpt = sums.checkpoint(steps.checkpoint())?;
    s.save(ckpt, best)
}

/// Fails with a message naming the first step whose loss was not finite.
fn check_finite(s: &Session, sums: &RunningSums) -> Result<()> {
    match sums.first_bad_step()? {
        Some(step) => Err(s.diverged("training loss", &format!("at step {step}"))),
        None => Ok(()),
    }
}

fn rate(images: i64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        images as f64 / seconds
    } else {
        0.0
    }
}
