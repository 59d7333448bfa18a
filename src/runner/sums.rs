//! Running sums over an epoch, kept on the training device so that a step
//! never waits for the host; read (one host sync) only for progress updates
//! and at the epoch's end. They also record the first step whose loss was
//! not finite, without reading the loss. In a distributed run each process
//! adds its own examples and every read is of the sums over all processes
//! (one collective, on every process at the same points).

use super::dist::world;
use crate::error::Result;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

struct Entry {
    name: String,
    /// Sum of the added values, double, on the device.
    sum: Tensor,
    /// Sum of their weights (host side: known without reading the device).
    weight: f64,
}

pub struct RunningSums {
    device: Device,
    entries: Vec<Entry>,
    /// The global step counter, mirrored on the device.
    step: Tensor,
    /// The first step whose watched loss was NaN or infinite; -1 while none.
    first_bad_step: Tensor,
}

/// The means of an epoch's sums, by name (NaN for a name never added).
#[derive(Debug, Clone, Default)]
pub struct Means(BTreeMap<String, f64>);

impl Means {
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(f64::NAN)
    }
}

impl RunningSums {
    /// Empty sums; `step` is the number of steps taken before.
    pub fn new(step: i64, device: Device) -> RunningSums {
        RunningSums {
            device,
            entries: vec![],
            step: Tensor::from(step).to_device(device),
            first_bad_step: Tensor::from(-1i64).to_device(device),
        }
    }

    /// Add `sum` (a scalar tensor on the device) with `weight` to `name`;
    /// its mean is then the sum of sums over the sum of weights. A loss
    /// averaged over n examples is added as `loss * n` with weight n.
    pub fn add(&mut self, name: &str, sum: &Tensor, weight: f64) {
        let value = sum.detach().to_kind(Kind::Double);
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(e) => {
                tch::no_grad(|| e.sum += value);
                e.weight += weight;
            }
            None => self.entries.push(Entry {
                name: name.into(),
                sum: value.to_device(self.device),
                weight,
            }),
        }
    }

    /// Remember this step if `loss` is not finite (and no earlier one was).
    pub fn watch(&mut self, loss: &Tensor) {
        tch::no_grad(|| {
            let bad = loss
                .detach()
                .isfinite()
                .logical_not()
                .logical_and(&self.first_bad_step.lt(0));
            self.first_bad_step = self
                .first_bad_step
                .where_self(&bad.logical_not(), &self.step);
        });
    }

    /// Count one step taken (the engine calls it after each step).
    pub fn advance(&mut self) {
        tch::no_grad(|| self.step += 1);
    }

    /// The first step whose watched loss was not finite on any process, if
    /// any (a host read).
    pub fn first_bad_step(&self) -> Result<Option<i64>> {
        let Some(w) = world() else {
            let bad = self.first_bad_step.int64_value(&[]);
            return Ok((bad >= 0).then_some(bad));
        };
        let none = Tensor::from(i64::MAX).to_device(self.device);
        let t = self
            .first_bad_step
            .where_self(&self.first_bad_step.ge(0), &none);
        w.min(&t)?;
        let bad = t.int64_value(&[]);
        Ok((bad != i64::MAX).then_some(bad))
    }

    /// Each entry's sum and weight over every process: the sums, stacked
    /// (on the device), and the weights.
    fn totals(&self) -> Result<(Tensor, Vec<f64>)> {
        let mut parts: Vec<Tensor> = self.entries.iter().map(|e| e.sum.reshape([1])).collect();
        let weights: Vec<f64> = self.entries.iter().map(|e| e.weight).collect();
        let Some(w) = world() else {
            return Ok((Tensor::cat(&parts, 0), weights));
        };
        parts.push(Tensor::from_slice(&weights).to_device(self.device));
        let all = Tensor::cat(&parts, 0);
        w.sum(&all)?;
        let n = self.entries.len() as i64;
        let weights = Vec::<f64>::try_from(all.narrow(0, n, n).to_device(Device::Cpu))?;
        Ok((all.narrow(0, 0, n), weights))
    }

    /// All means, with one host read.
    pub fn means(&self) -> Result<Means> {
        if self.entries.is_empty() {
            return Ok(Means::default());
        }
        let (sums, weights) = self.totals()?;
        let values = Vec::<f64>::try_from(sums.to_device(Device::Cpu)).unwrap_or_default();
        Ok(Means(
            self.entries
                .iter()
                .zip(values.into_iter().zip(weights))
                .map(|(e, (v, w))| (e.name.clone(), v / w.max(f64::MIN_POSITIVE)))
                .collect(),
        ))
    }

    /// Start a new epoch.
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// For checkpoints: `<name>` (the sum over every process) and
    /// `<name>.weight` per entry.
    pub fn named(&self) -> Result<Vec<(String, Tensor)>> {
        if self.entries.is_empty() {
            return Ok(vec![]);
        }
        let (sums, weights) = self.totals()?;
        let mut out = vec![];
        for (i, (e, weight)) in self.entries.iter().zip(weights).enumerate() {
            out.push((e.name.clone(), sums.get(i as i64).copy()));
            out.push((format!("{}.weight", e.name), Tensor::from(weight)));
        }
        Ok(out)
    }

    /// Restore what [`RunningSums::named`] saved: on rank 0 of a
    /// distributed run, zero on the others, so the totals are the saved ones
    /// at any world size.
    pub fn restore(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        self.entries.clear();
        let keep = world().is_none_or(|w| w.rank == 0);
        for (name, sum) in named.iter().filter(|(k, _)| !k.ends_with(".weight")) {
            let key = format!("{name}.weight");
            let weight = named
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, w)| w.to_kind(Kind::Double).double_value(&[]))
                .ok_or_else(|| crate::error::data(format!("checkpoint: sums.{key} is missing")))?;
            let sum = sum.to_kind(Kind::Double).to_device(self.device);
            self.entries.push(Entry {
                name: name.clone(),
                sum: if keep { sum } else { sum.zeros_like() },
                weight: if keep { weight } else { 0.0 },
            });
        }
        Ok(())
    }
}
