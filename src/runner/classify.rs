//! The epoch loop for classifiers trained on an in-memory dataset, shared by
//! every paper that trains one: shuffled batches, cross-entropy, one optimizer
//! step per batch, a test evaluation and a metrics row per epoch, checkpoints
//! that resume mid-epoch, NaN detection without a host sync per step.

use super::checkpoint::{Checkpoint, Position};
use super::session::Session;
use crate::data::batches::{batch, epoch_order};
use crate::data::Dataset;
use crate::error::{run, Result};
use crate::optim::Optimizer;
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
            let last = s.dir.last_checkpoint();
            let kept = match last.exists() {
                true => format!("the last good checkpoint stays at {}", last.display()),
                false => "no checkpoint had been written yet".into(),
            };
            return Err(run(format!(
                "the training loss became NaN or infinite at step {bad}; the run stopped and {kept} (try a lower --lr)"
            )));
        }
        Ok(())
    }

    fn mean_loss(&self) -> f64 {
        self.loss.double_value(&[]) / (self.seen.int64_value(&[]).max(1) as f64)
    }
}

/// Train for the remaining epochs of the session (resuming mid-epoch when the
/// checkpoint says so).
pub fn train(s: &mut Session, t: &mut Trainer, train: &Dataset, test: &Dataset) -> Result<Outcome> {
    let mut sums = Sums::zeros(s.position.step, s.device);
    if let Some(ckpt) = s.resumed() {
        ckpt.load_vars("model.", t.vs)?;
        t.opt.load_state(&ckpt.section("optim."))?;
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
                let ckpt = checkpoint(s.position, t).tensors("sums.", sums.named());
                s.save(ckpt, false)?;
                return Ok(Outcome {
                    finished: false,
                    test_error,
                    images_per_sec: rate(images, seconds),
                });
            }
            s.seed_step();
            let idx = &order[(b * t.batch_size) as usize..((b + 1) * t.batch_size).min(n) as usize];
            let data = batch(train, idx, s.device);
            let logits = t.model.forward_t(&(t.prepare)(&data.images, true), true);
            let loss = logits.cross_entropy_for_logits(&data.labels);
            t.opt.zero_grad();
            loss.backward();
            t.opt.step();
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
        test_error = evaluate(
            t.model,
            t.prepare,
            test,
            t.batch_size,
            s.device,
            Rng::new(s.seed, epoch as u64 + (1 << 40)),
        );
        let train_loss = sums.mean_loss();
        let train_error =
            sums.wrong.int64_value(&[]) as f64 / sums.seen.int64_value(&[]).max(1) as f64;
        let ips = epoch_images as f64 / epoch_seconds;
        s.metrics.write(&[
            epoch as f64,
            lr,
            train_loss,
            train_error,
            test_error,
            epoch_seconds,
            ips,
        ])?;
        s.progress.line(&format!(
            "epoch {epoch:>3}  lr {lr:.5}  train loss {train_loss:.4}  train error {:.2}%  test error {:.2}%  {ips:.0} img/s",
            100.0 * train_error,
            100.0 * test_error
        ));
        let best = test_error < s.position.best;
        if best {
            s.position.best = test_error;
        }
        s.position.epoch = epoch;
        s.position.batch = 0;
        sums = Sums::zeros(s.position.step, s.device);
        let ckpt = checkpoint(s.position, t);
        s.save(ckpt, best)?;
    }
    Ok(Outcome {
        finished: true,
        test_error,
        images_per_sec: rate(images, seconds),
    })
}

fn checkpoint(position: Position, t: &Trainer) -> Checkpoint {
    Checkpoint::new(&position)
        .vars("model.", t.vs)
        .tensors("optim.", t.opt.state())
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
