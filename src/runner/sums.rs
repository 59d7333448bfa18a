//! Running sums over an epoch, kept on the training device so that a step
//! never waits for the host; read (one host sync) only for progress updates
//! and at the epoch's end. They also record the first step whose loss was
//! not finite, without reading the loss.

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

    /// The first step whose watched loss was not finite, if any (a host read).
    pub fn first_bad_step(&self) -> Option<i64> {
        let bad = self.first_bad_step.int64_value(&[]);
        (bad >= 0).then_some(bad)
    }

    /// All means, with one host read.
    pub fn means(&self) -> Means {
        if self.entries.is_empty() {
            return Means::default();
        }
        let sums: Vec<&Tensor> = self.entries.iter().map(|e| &e.sum).collect();
        let values = Vec::<f64>::try_from(Tensor::stack(&sums, 0).to_device(Device::Cpu))
            .unwrap_or_default();
        Means(
            self.entries
                .iter()
                .zip(values)
                .map(|(e, v)| (e.name.clone(), v / e.weight.max(f64::MIN_POSITIVE)))
                .collect(),
        )
    }

    /// Start a new epoch.
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// For checkpoints: `<name>` (the sum) and `<name>.weight` per entry.
    pub fn named(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for e in &self.entries {
            out.push((e.name.clone(), e.sum.copy()));
            out.push((format!("{}.weight", e.name), Tensor::from(e.weight)));
        }
        out
    }

    /// Restore what [`RunningSums::named`] saved.
    pub fn restore(&mut self, named: &[(String, Tensor)]) -> Result<()> {
        self.entries.clear();
        for (name, sum) in named.iter().filter(|(k, _)| !k.ends_with(".weight")) {
            let key = format!("{name}.weight");
            let weight = named
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, w)| w.to_kind(Kind::Double).double_value(&[]))
                .ok_or_else(|| crate::error::data(format!("checkpoint: sums.{key} is missing")))?;
            self.entries.push(Entry {
                name: name.clone(),
                sum: sum.to_kind(Kind::Double).to_device(self.device),
                weight,
            });
        }
        Ok(())
    }
}
