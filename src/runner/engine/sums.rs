//! Running sums over an epoch, kept on the training device so that a step
//! never waits for the host; read (one host sync) only for progress updates
//! and at the epoch's end. They also record the first step whose loss was
//! not finite, without reading the loss. In a distributed run each process
//! adds its own examples and every read is of the sums over all processes
//! (one collective, on every process at the same points).
//!
//! For the per-step log (runner/record/step_log.rs) they also keep a window: the
//! sums since the last log point, taken there as a [`Window`] that stays on
//! the device until the engine reads the epoch's sums anyway ([`read`]).
//!
//! A step adds each value once, to the sums since the last log point or
//! epoch start (whichever came later), which fold into the epoch's and the
//! window's there; with the watch, a step's bookkeeping is one op per metric
//! and three more. On a GPU each op is a launch, so tests/suite/engine/
//! profile.rs holds every trainer's count.

use crate::error::Result;
use crate::runner::dist::world;
use crate::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

struct Entry {
    name: String,
    /// Sum of the added values, double, on the device.
    sum: Tensor,
    /// Sum of their weights (host side: known without reading the device).
    weight: f64,
}

/// Named sums and their weights, in the order the names were first added.
#[derive(Default)]
struct Sums(Vec<Entry>);

pub struct RunningSums {
    device: Device,
    /// Since the last log point or the epoch's start, whichever was later:
    /// the only sums a step adds to.
    pending: Sums,
    /// The epoch's sums before `pending`.
    epoch: Sums,
    /// The sums since the last log point of the per-step log
    /// (runner/record/step_log.rs) before `pending`, when there is one:
    /// with `pending`, what [`RunningSums::window`] takes.
    window: Option<Sums>,
    /// The global step counter when these sums began.
    start: i64,
    /// The sum of every watched loss, in double: finite until the first
    /// step whose loss was NaN or infinite, and not finite from then on.
    watched: Tensor,
    /// Steps taken while `watched` was finite: the first bad step, if
    /// any, is `start + clean`.
    clean: Tensor,
}

/// The means of an epoch's sums, by name (NaN for a name never added).
#[derive(Debug, Clone, Default)]
pub struct Means(BTreeMap<String, f64>);

impl Means {
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(f64::NAN)
    }
}

/// The window's sums at a log point: kept on the device until [`read`],
/// so taking one adds no host read to a step.
pub struct Window {
    names: Vec<String>,
    sums: Tensor,
    weights: Vec<f64>,
}

/// Sums (on the device) and their host-side weights over every process:
/// one collective in a distributed run, none otherwise.
fn reduce(sums: Tensor, weights: Vec<f64>, device: Device) -> Result<(Tensor, Vec<f64>)> {
    let Some(w) = world() else {
        return Ok((sums, weights));
    };
    let n = weights.len() as i64;
    let all = Tensor::cat(&[sums, Tensor::from_slice(&weights).to_device(device)], 0);
    w.sum(&all)?;
    let weights = Vec::<f64>::try_from(all.narrow(0, n, n).to_device(Device::Cpu))?;
    Ok((all.narrow(0, 0, n), weights))
}

/// Each sum over its weight.
fn divide(sums: &Tensor, weights: &[f64]) -> Vec<f64> {
    let values = Vec::<f64>::try_from(sums.to_device(Device::Cpu)).unwrap_or_default();
    values
        .into_iter()
        .zip(weights)
        .map(|(v, w)| v / w.max(f64::MIN_POSITIVE))
        .collect()
}

/// The means of each window, by name in name order, with one host
/// read (and in a distributed run one collective, so every process calls it
/// at the same points with the same windows).
pub fn read(windows: &[Window], device: Device) -> Result<Vec<Vec<(String, f64)>>> {
    if windows.iter().all(|w| w.names.is_empty()) {
        return Ok(windows.iter().map(|_| vec![]).collect());
    }
    let sums: Vec<&Tensor> = windows.iter().map(|w| &w.sums).collect();
    let weights = windows.iter().flat_map(|w| w.weights.clone()).collect();
    let (sums, weights) = reduce(Tensor::cat(&sums, 0), weights, device)?;
    let mut means = divide(&sums, &weights).into_iter();
    Ok(windows
        .iter()
        .map(|w| w.names.iter().cloned().zip(means.by_ref()).collect())
        .collect())
}

impl Sums {
    fn add(&mut self, name: &str, value: &Tensor, weight: f64, device: Device) {
        match self.0.iter_mut().find(|e| e.name == name) {
            // In place, casting as it adds: one op.
            Some(e) => {
                let _ = e.sum.g_add_(value);
                e.weight += weight;
            }
            // A double copy: the value may be the caller's tensor, or the
            // other sums' entry.
            None => self.0.push(Entry {
                name: name.into(),
                sum: value.to_device_(device, Kind::Double, false, true),
                weight,
            }),
        }
    }

    /// Add `other`'s entries to these, by name (at fold points, not steps).
    fn absorb(&mut self, other: &Sums, device: Device) {
        for e in &other.0 {
            self.add(&e.name, &e.sum, e.weight, device);
        }
    }

    /// These sums and `other`'s, by name.
    fn plus(&self, other: &Sums, device: Device) -> Sums {
        let mut out = Sums::default();
        out.absorb(self, device);
        out.absorb(other, device);
        out
    }

    /// The sums stacked (on the device) and the weights, of this process.
    fn stacked(&self, device: Device) -> (Tensor, Vec<f64>) {
        let mut parts: Vec<Tensor> = self.0.iter().map(|e| e.sum.reshape([1])).collect();
        parts.push(Tensor::zeros([0], (Kind::Double, device)));
        (
            Tensor::cat(&parts, 0),
            self.0.iter().map(|e| e.weight).collect(),
        )
    }

    /// Each entry's sum and weight over every process.
    fn totals(&self, device: Device) -> Result<(Tensor, Vec<f64>)> {
        let (sums, weights) = self.stacked(device);
        reduce(sums, weights, device)
    }

    /// For checkpoints: `<name>` (the sum over every process) and
    /// `<name>.weight` per entry.
    fn named(&self, device: Device) -> Result<Vec<(String, Tensor)>> {
        if self.0.is_empty() {
            return Ok(vec![]);
        }
        let (sums, weights) = self.totals(device)?;
        let mut out = vec![];
        for (i, (e, weight)) in self.0.iter().zip(weights).enumerate() {
            out.push((e.name.clone(), sums.get(i as i64).copy()));
            out.push((format!("{}.weight", e.name), Tensor::from(weight)));
        }
        Ok(out)
    }

    /// What [`Sums::named`] saved: on rank 0 of a distributed run, zero on
    /// the others, so the totals are the saved ones at any world size.
    fn restore(named: &[(String, Tensor)], prefix: &str, device: Device) -> Result<Sums> {
        let keep = world().is_none_or(|w| w.rank == 0);
        let mut sums = Sums::default();
        for (name, sum) in named.iter().filter(|(k, _)| !k.ends_with(".weight")) {
            let key = format!("{name}.weight");
            let weight = named
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, w)| w.to_kind(Kind::Double).double_value(&[]))
                .ok_or_else(|| {
                    crate::error::data(format!("checkpoint: {prefix}{key} is missing"))
                })?;
            let sum = sum.to_kind(Kind::Double).to_device(device);
            sums.0.push(Entry {
                name: name.clone(),
                sum: if keep { sum } else { sum.zeros_like() },
                weight: if keep { weight } else { 0.0 },
            });
        }
        Ok(sums)
    }
}

/// Checkpoint sections of the epoch's sums and of the log window (before
/// the pending ones: checkpoints from before it had none, and their epoch
/// and window sums were the whole).
const EPOCH: &str = "sums.";
const WINDOW: &str = "window.";
const PENDING: &str = "pending.";

impl RunningSums {
    /// Empty sums; `step` is the number of steps taken before. `windowed`:
    /// also keep the sums since the last log point ([`RunningSums::window`]).
    pub fn new(step: i64, device: Device, windowed: bool) -> RunningSums {
        RunningSums {
            device,
            pending: Sums::default(),
            epoch: Sums::default(),
            window: windowed.then(Sums::default),
            start: step,
            watched: Tensor::zeros([], (Kind::Double, device)),
            clean: Tensor::zeros([], (Kind::Int64, device)),
        }
    }

    /// Add `sum` (a scalar tensor on the device) with `weight` to `name`;
    /// its mean is then the sum of sums over the sum of weights. A loss
    /// averaged over n examples is added as `loss * n` with weight n.
    pub fn add(&mut self, name: &str, sum: &Tensor, weight: f64) {
        tch::no_grad(|| self.pending.add(name, sum, weight, self.device));
    }

    /// Watch `loss` for NaN or infinity (one op).
    pub fn watch(&mut self, loss: &Tensor) {
        tch::no_grad(|| {
            let _ = self.watched.g_add_(loss);
        });
    }

    /// Count one step taken (the engine calls it after each step): a clean
    /// one while every loss watched so far was finite (two ops).
    pub fn advance(&mut self) {
        tch::no_grad(|| {
            let _ = self.clean.g_add_(&self.watched.isfinite());
        });
    }

    /// The first step whose watched loss was not finite on any process, if
    /// any (a host read).
    pub fn first_bad_step(&self) -> Result<Option<i64>> {
        let none = Tensor::from(i64::MAX).to_device(self.device);
        let bad =
            (&self.clean + self.start).where_self(&self.watched.isfinite().logical_not(), &none);
        if let Some(w) = world() {
            w.min(&bad)?;
        }
        let bad = bad.int64_value(&[]);
        Ok((bad != i64::MAX).then_some(bad))
    }

    /// All means of the epoch, with one host read.
    pub fn means(&self) -> Result<Means> {
        let epoch = tch::no_grad(|| self.epoch.plus(&self.pending, self.device));
        if epoch.0.is_empty() {
            return Ok(Means::default());
        }
        let (sums, weights) = epoch.totals(self.device)?;
        let values = divide(&sums, &weights);
        let names = epoch.0.into_iter().map(|e| e.name);
        Ok(Means(names.zip(values).collect()))
    }

    /// Start a new epoch: the pending sums stay in the window only.
    pub fn reset(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if let Some(window) = &mut self.window {
            tch::no_grad(|| window.absorb(&pending, self.device));
        }
        self.epoch = Sums::default();
    }

    /// The window since the last log point, which starts anew; None without
    /// a window.
    pub fn window(&mut self) -> Option<Window> {
        let mut window = std::mem::take(self.window.as_mut()?);
        let pending = std::mem::take(&mut self.pending);
        tch::no_grad(|| {
            window.absorb(&pending, self.device);
            self.epoch.absorb(&pending, self.device);
        });
        // By name: a restored window's order is the checkpoint's (sorted),
        // and steps.csv's columns must not depend on where a run resumed.
        window.0.sort_by(|a, b| a.name.cmp(&b.name));
        let (sums, weights) = window.stacked(self.device);
        let names = window.0.into_iter().map(|e| e.name).collect();
        Some(Window {
            names,
            sums,
            weights,
        })
    }

    /// Add the sums (over every process) to `checkpoint`: the epoch's under
    /// "sums.", the window's under "window.", the pending ones (in both)
    /// under "pending.".
    pub fn checkpoint(&self, checkpoint: Checkpoint) -> Result<Checkpoint> {
        let mut checkpoint = checkpoint
            .tensors(EPOCH, self.epoch.named(self.device)?)
            .tensors(PENDING, self.pending.named(self.device)?);
        if let Some(window) = &self.window {
            checkpoint = checkpoint.tensors(WINDOW, window.named(self.device)?);
        }
        Ok(checkpoint)
    }

    /// Restore what [`RunningSums::checkpoint`] saved, on --resume (a
    /// checkpoint without a window or pending sums restores empty ones).
    pub fn restore(&mut self, checkpoint: &CheckpointFile) -> Result<()> {
        self.epoch = Sums::restore(&checkpoint.section(EPOCH), EPOCH, self.device)?;
        self.pending = Sums::restore(&checkpoint.section(PENDING), PENDING, self.device)?;
        if self.window.is_some() {
            let window = Sums::restore(&checkpoint.section(WINDOW), WINDOW, self.device)?;
            self.window = Some(window);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f64) -> Tensor {
        Tensor::from(v as f32)
    }

    /// Watch `losses`, one step each, from step 10; a log point after the
    /// second step and an epoch end after the third must not matter.
    fn first_bad(losses: &[f64]) -> Option<i64> {
        let mut s = RunningSums::new(10, Device::Cpu, true);
        for (i, &v) in losses.iter().enumerate() {
            s.watch(&scalar(v));
            match i {
                1 => drop(s.window()),
                2 => s.reset(),
                _ => {}
            }
            s.advance();
        }
        s.first_bad_step().unwrap()
    }

    #[test]
    fn the_watch_names_the_first_step_whose_loss_was_not_finite() {
        assert_eq!(first_bad(&[1.0, 2.0, 3.0, 4.0]), None);
        assert_eq!(first_bad(&[1.0, 2.0, 3.0, f64::NAN, 1.0]), Some(13));
        assert_eq!(first_bad(&[f64::NAN]), Some(10));
        // +inf then -inf sum to NaN: still the first bad step.
        assert_eq!(
            first_bad(&[1.0, f64::INFINITY, f64::NEG_INFINITY, 2.0]),
            Some(11)
        );
    }

    /// Steps add 1, 2, ... 7 (weight 1 each); log points after steps 2 and
    /// 5, an epoch end after step 4: each window and each epoch's mean is
    /// the plain mean of its steps, windows spanning the epoch end included.
    #[test]
    fn epochs_and_log_windows_take_each_value_once() {
        let mut s = RunningSums::new(0, Device::Cpu, true);
        let (mut windows, mut epochs) = (vec![], vec![]);
        for step in 1..=7 {
            s.add("x", &scalar(step as f64), 1.0);
            if step == 2 || step == 5 {
                windows.push(s.window().unwrap());
            }
            if step == 4 || step == 7 {
                epochs.push(s.means().unwrap().get("x"));
                s.reset();
            }
        }
        let means: Vec<f64> = read(&windows, Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|w| w[0].1)
            .collect();
        // Windows: steps 1-2 and 3-5; epochs: steps 1-4 and 5-7.
        assert_eq!(means, [1.5, 4.0]);
        assert_eq!(epochs, [2.5, 6.0]);
        // What the window holds after step 5: steps 6 and 7.
        assert_eq!(
            read(&[s.window().unwrap()], Device::Cpu).unwrap()[0][0].1,
            6.5
        );
    }
}
