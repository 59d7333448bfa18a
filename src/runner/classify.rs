//! The epoch loop for classifiers, shared by every paper that trains one:
//! shuffled batches, cross-entropy, one optimizer step per batch, a test
//! evaluation and a metrics row per epoch, checkpoints that resume mid-epoch,
//! NaN detection without a host sync per step.
//!
//! [`train`] is the plain loop on an in-memory dataset (train-fmp).
//! [`train_with`] is the same loop over any [`Examples`] (for instance a
//! folder decoded lazily) with [`Hooks`] for what a paper adds: its own
//! forward and loss, work around the optimizer step (gradient clipping, a
//! moving average of the weights), extra checkpointed state, and its own
//! per-epoch evaluation and metrics columns.

use super::checkpoint::{Checkpoint, Loaded};
use super::session::Session;
use crate::data::batches::{batch, epoch_order, Batch};
use crate::data::Dataset;
use crate::error::Result;
use crate::optim::{Optimizer, Param};
use crate::rng::Rng;
use std::time::Instant;
use tch::{nn::ModuleT, nn::VarStore, Device, Kind, Tensor};

/// Turns a batch of [0, 1] images on the device into the network's input
/// (padding, augmentation when `train`).
pub type Prepare<'a> = &'a dyn Fn(&Tensor, bool) -> Tensor;

pub struct Trainer<'a> {
    pub model: &'a dyn ModuleT,
    pub vs: &'a VarStore,
    pub opt: &'a mut dyn Optimizer,
    pub prepare: Prepare<'a>,
    /// Learning rate for a 1-based epoch.
    pub lr: &'a dyn Fn(i64) -> f64,
    pub epochs: i64,
    pub batch_size: i64,
}

/// Where the epoch loop draws its training batches from.
pub trait Examples {
    fn len(&self) -> i64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The examples at `indices` on `device`, images as float in [0, 1].
    /// `seed` is for random choices made while loading (a pure function of
    /// the run's seed and the step, so a resumed run repeats itself).
    fn batch(&self, indices: &[i64], seed: u64, device: Device) -> Result<Batch>;
}

impl Examples for Dataset {
    fn len(&self) -> i64 {
        Dataset::len(self)
    }

    fn batch(&self, indices: &[i64], _seed: u64, device: Device) -> Result<Batch> {
        Ok(batch(self, indices, device))
    }
}

/// One per-epoch evaluation.
pub struct Evaluation {
    /// The selection metric (lower is better): decides best.safetensors.
    pub error: f64,
    /// metrics.csv values between train_error and seconds.
    pub columns: Vec<f64>,
    /// For the epoch's log line, e.g. "test error 1.23%".
    pub line: String,
}

/// What a paper adds to the shared loop. Only [`Hooks::evaluate`] is required.
pub trait Hooks {
    /// Logits of a training batch.
    fn forward(&mut self, model: &dyn ModuleT, x: &Tensor) -> Tensor {
        model.forward_t(x, true)
    }
    /// The training loss.
    fn loss(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        logits.cross_entropy_for_logits(labels)
    }
    /// After backward, before the optimizer step (e.g. clip the gradients).
    fn before_step(&mut self, _params: &[Param]) {}
    /// After the optimizer step; `step` counts the steps taken so far.
    fn after_step(&mut self, _step: i64) {}
    /// Tensors saved with every checkpoint, keys prefixed by the hook
    /// (e.g. "ema."); they must not start with model., optim., train. or sums.
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
    /// Restore what [`Hooks::state`] saved, on --resume.
    fn load_state(&mut self, _checkpoint: &Loaded) -> Result<()> {
        Ok(())
    }
    /// Evaluate after epoch `epoch` (1-based).
    fn evaluate(&mut self, t: &Trainer, s: &mut Session, epoch: i64) -> Result<Evaluation>;
}

/// train-fmp's evaluation: one pass over the test set, test_error.
struct TestSet<'a>(&'a Dataset);

impl Hooks for TestSet<'_> {
    fn evaluate(&mut self, t: &Trainer, s: &mut Session, epoch: i64) -> Result<Evaluation> {
        let error = evaluate(
            t.model,
            t.prepare,
            self.0,
            t.batch_size,
            s.device,
            Rng::new(s.seed, epoch as u64 + (1 << 40)),
        );
        Ok(Evaluation {
            error,
            columns: vec![error],
            line: format!("test error {:.2}%", 100.0 * error),
        })
    }
}

/// metrics.csv columns written by [`train`].
pub const HEADER: [&str; 7] = [
    "epoch",
    "lr",
    "train_loss",
    "train_error",
    "test_error",
    "seconds",
    "images_per_sec",
];

/// Training steps between progress updates (each reads the running loss).
const REPORT_EVERY: i64 = 20;

pub struct Outcome {
    /// All epochs ran (false: stopped by Ctrl-C or --max-steps).
    pub finished: bool,
    /// Test error (one pass) after the last epoch.
    pub test_error: f64,
    /// Mean training throughput over the epochs this process ran.
    pub images_per_sec: f64,
}

/// Running sums over the current epoch, kept on the device.
struct Sums {
    loss: Tensor,
    wrong: Tensor,
    seen: Tensor,
    /// The global step counter, mirrored on the device.
    step: Tensor,
    first_bad_step: Tensor,
}

impl Sums {
    fn zeros(step: i64, device: Device) -> Sums {
        let z = |k| Tensor::zeros([], (k, device));
        Sums {
            loss: z(Kind::Double),
            wrong: z(Kind::Int64),
            seen: z(Kind::Int64),
            step: z(Kind::Int64) + step,
            first_bad_step: z(Kind::Int64) - 1,
        }
    }

    fn named(&self) -> Vec<(String, Tensor)> {
        let t = |n: &str, v: &Tensor| (n.to_string(), v.shallow_clone());
        vec![
            t("loss", &self.loss),
            t("wrong", &self.wrong),
            t("seen", &self.seen),
        ]
    }

    fn restore(named: &[(String, Tensor)], step: i64, device: Device) -> Sums {
        let mut s = Sums::zeros(step, device);
        for (k, v) in named {
            let v = v.to(device);
            match k.as_str() {
                "loss" => s.loss = v,
                "wrong" => s.wrong = v,
                "seen" => s.seen = v,
                _ => {}
            }
        }
        s
    }

    /// Fails with a message naming the first step whose loss was not finite.
    fn check_finite(&self, s: &Session) -> Result<()> {
        let bad = self.first_bad_step.int64_value(&[]);
        if bad >= 0 {
            return Err(s.diverged("training loss", &format!("at step {bad}")));
        }
        Ok(())
    }

    fn mean_loss(&self) -> f64 {
        self.loss.double_value(&[]) / (self.seen.int64_value(&[]).max(1) as f64)
    }
}

/// Train for the remaining epochs of the session (resuming mid-epoch when the
/// checkpoint says so), evaluating on `test` after each epoch; metrics.csv
/// has [`HEADER`].
pub fn train(s: &mut Session, t: &mut Trainer, train: &Dataset, test: &Dataset) -> Result<Outcome> {
    train_with(s, t, train, &mut TestSet(test))
}

/// The loop of [`train`] over any [`Examples`], with `hooks`. Each metrics
/// row is epoch, lr, train_loss, train_error, the evaluation's columns,
/// seconds, images_per_sec: the session's header must match.
pub fn train_with(
    s: &mut Session,
    t: &mut Trainer,
    train: &dyn Examples,
    hooks: &mut dyn Hooks,
) -> Result<Outcome> {
    let mut sums = Sums::zeros(s.position.step, s.device);
    if let Some(ckpt) = s.resumed() {
        ckpt.load_vars("model.", t.vs)?;
        t.opt.load_state(&ckpt.section("optim."))?;
        hooks.load_state(ckpt)?;
        sums = Sums::restore(&ckpt.section("sums."), s.position.step, s.device);
    }
    let n = train.len();
    let batches = (n + t.batch_size - 1) / t.batch_size;
    let (mut images, mut seconds) = (0i64, 0f64);
    let mut test_error = f64::NAN;
    for epoch in s.position.epoch + 1..=t.epochs {
        let lr = (t.lr)(epoch);
        t.opt.set_lr(lr);
        let order = epoch_order(n, s.seed, epoch as u64);
        s.progress
            .start(&format!("epoch {epoch}/{}", t.epochs), batches as u64);
        let started = Instant::now();
        let first = s.position.batch;
        for b in first..batches {
            if s.should_stop() {
                sums.check_finite(s)?;
                let ckpt = checkpoint(t, hooks).tensors("sums.", sums.named());
                s.save(ckpt, false)?;
                return Ok(Outcome {
                    finished: false,
                    test_error,
                    images_per_sec: rate(images, seconds),
                });
            }
            s.seed_step();
            let idx = &order[(b * t.batch_size) as usize..((b + 1) * t.batch_size).min(n) as usize];
            let load_seed = Rng::new(s.seed ^ 0x10ad, s.position.step as u64).next_u64();
            let data = train.batch(idx, load_seed, s.device)?;
            let logits = hooks.forward(t.model, &(t.prepare)(&data.images, true));
            let loss = hooks.loss(&logits, &data.labels);
            t.opt.zero_grad();
            loss.backward();
            hooks.before_step(t.opt.params());
            t.opt.step();
            hooks.after_step(s.position.step + 1);
            tch::no_grad(|| {
                let loss = loss.detach().to_kind(Kind::Double);
                let bad = loss
                    .isfinite()
                    .logical_not()
                    .logical_and(&sums.first_bad_step.lt(0));
                sums.first_bad_step = sums
                    .first_bad_step
                    .where_self(&bad.logical_not(), &sums.step);
                sums.step += 1;
                sums.loss += loss * idx.len() as f64;
                sums.wrong += logits
                    .argmax(1, false)
                    .ne_tensor(&data.labels)
                    .sum(Kind::Int64);
                sums.seen += idx.len() as i64;
            });
            s.position.step += 1;
            s.position.batch = b + 1;
            if (b + 1) % REPORT_EVERY == 0 {
                sums.check_finite(s)?;
                let done = (b + 1 - first) * t.batch_size;
                let msg = format!(
                    "{:.0} img/s  loss {:.4}",
                    done as f64 / started.elapsed().as_secs_f64(),
                    sums.mean_loss()
                );
                s.progress.update(b as u64 + 1, msg);
            }
        }
        sums.check_finite(s)?;
        let epoch_seconds = started.elapsed().as_secs_f64();
        let epoch_images = n - first * t.batch_size;
        (images, seconds) = (images + epoch_images, seconds + epoch_seconds);
        let eval = hooks.evaluate(t, s, epoch)?;
        test_error = eval.error;
        let train_loss = sums.mean_loss();
        let train_error =
            sums.wrong.int64_value(&[]) as f64 / sums.seen.int64_value(&[]).max(1) as f64;
        let ips = epoch_images as f64 / epoch_seconds;
        let mut row = vec![epoch as f64, lr, train_loss, train_error];
        row.extend(&eval.columns);
        row.extend([epoch_seconds, ips]);
        s.metrics.write(&row)?;
        s.progress.line(&format!(
            "epoch {epoch:>3}  lr {lr:.5}  train loss {train_loss:.4}  train error {:.2}%  {}  {ips:.0} img/s",
            100.0 * train_error,
            eval.line
        ));
        let best = test_error < s.position.best;
        if best {
            s.position.best = test_error;
        }
        s.position.epoch = epoch;
        s.position.batch = 0;
        sums = Sums::zeros(s.position.step, s.device);
        let ckpt = checkpoint(t, hooks);
        s.save(ckpt, best)?;
    }
    Ok(Outcome {
        finished: true,
        test_error,
        images_per_sec: rate(images, seconds),
    })
}

fn checkpoint(t: &Trainer, hooks: &dyn Hooks) -> Checkpoint {
    Checkpoint::new()
        .vars("model.", t.vs)
        .tensors("optim.", t.opt.state())
        .tensors("", hooks.state())
}

fn rate(images: i64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        images as f64 / seconds
    } else {
        0.0
    }
}

/// Summed softmax over `ds`, one pass, in dataset order: the building block of
/// single and multi-pass evaluation. Seeded from `rng` so evaluation does not
/// disturb (or depend on) training's random stream.
pub fn softmax_sums(
    model: &dyn ModuleT,
    prepare: Prepare,
    ds: &Dataset,
    batch_size: i64,
    device: Device,
    mut rng: Rng,
) -> Tensor {
    tch::manual_seed((rng.next_u64() >> 1) as i64);
    let order: Vec<i64> = (0..ds.len()).collect();
    tch::no_grad(|| {
        let parts: Vec<Tensor> = order
            .chunks(batch_size as usize)
            .map(|idx| {
                let data = batch(ds, idx, device);
                model
                    .forward_t(&prepare(&data.images, false), false)
                    .softmax(1, Kind::Float)
            })
            .collect();
        Tensor::cat(&parts, 0)
    })
}

/// Fraction of `ds` misclassified from one pass.
pub fn evaluate(
    model: &dyn ModuleT,
    prepare: Prepare,
    ds: &Dataset,
    batch_size: i64,
    device: Device,
    rng: Rng,
) -> f64 {
    let probs = softmax_sums(model, prepare, ds, batch_size, device, rng);
    error_rate(&probs, &ds.labels)
}

/// Fraction of rows of `scores` whose argmax differs from `labels`.
pub fn error_rate(scores: &Tensor, labels: &Tensor) -> f64 {
    let wrong = scores
        .argmax(1, false)
        .to(Device::Cpu)
        .ne_tensor(labels)
        .sum(Kind::Int64)
        .int64_value(&[]);
    wrong as f64 / labels.size()[0].max(1) as f64
}
