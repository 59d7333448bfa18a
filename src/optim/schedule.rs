//! Schedules: a hyperparameter's value as a pure function of where training
//! stands, so a resumed run sets exactly what an uninterrupted one did.
//! The engine applies a trainer's schedules before every optimizer step.

use super::base::{Hyper, Optimizer};
use crate::error::Result;

/// Where training stands when a value is needed: the 1-based epoch being
/// trained and the optimizer steps already taken (0 before the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub epoch: i64,
    pub step: i64,
}

pub trait Schedule {
    fn value(&self, at: At) -> f64;
}

/// One hyperparameter of one optimizer and the schedule that sets it.
pub struct Scheduled {
    pub hyper: Hyper,
    pub schedule: Box<dyn Schedule>,
}

impl Scheduled {
    pub fn new(hyper: Hyper, schedule: impl Schedule + 'static) -> Scheduled {
        Scheduled {
            hyper,
            schedule: Box::new(schedule),
        }
    }
}

/// Set every scheduled hyperparameter of `opt` for `at`.
pub fn apply(schedules: &[Scheduled], opt: &mut dyn Optimizer, at: At) -> Result<()> {
    for s in schedules {
        opt.set(s.hyper, s.schedule.value(at))?;
    }
    Ok(())
}

/// Every scheduled hyperparameter's value at `at`, by name, for the
/// per-step log.
pub fn values(schedules: &[Scheduled], at: At) -> Vec<(&'static str, f64)> {
    schedules
        .iter()
        .map(|s| (s.hyper.name(), s.schedule.value(at)))
        .collect()
}

/// The value of `hyper` at `at`, if it is scheduled.
pub fn value_of(schedules: &[Scheduled], hyper: Hyper, at: At) -> Option<f64> {
    schedules
        .iter()
        .find(|s| s.hyper == hyper)
        .map(|s| s.schedule.value(at))
}

/// The same value throughout.
pub struct Constant(pub f64);

impl Schedule for Constant {
    fn value(&self, _at: At) -> f64 {
        self.0
    }
}

/// `base * exp(-rate * epoch)` (train-fmp's learning rate).
pub struct ExpDecay {
    pub base: f64,
    pub rate: f64,
}

impl Schedule for ExpDecay {
    fn value(&self, at: At) -> f64 {
        self.base * (-self.rate * at.epoch as f64).exp()
    }
}

/// `base * factor^floor((epoch - 1) / every)`: multiplied by `factor` every
/// `every` epochs (Inception's learning rate).
pub struct StepDecay {
    pub base: f64,
    pub factor: f64,
    pub every: i64,
}

impl Schedule for StepDecay {
    fn value(&self, at: At) -> f64 {
        self.base * self.factor.powi(((at.epoch - 1) / self.every) as i32)
    }
}

/// `max(base / divisor^step, floor)`: divided after every update, down to a
/// floor (pylearn2's ExponentialDecay, the GAN's learning rate).
pub struct PerStepDecay {
    pub base: f64,
    pub divisor: f64,
    pub floor: f64,
}

impl Schedule for PerStepDecay {
    fn value(&self, at: At) -> f64 {
        (self.base / self.divisor.powf(at.step as f64)).max(self.floor)
    }
}

/// From `from` in epoch 1 to `to` at epoch `saturate`, linearly, then
/// constant (pylearn2's MomentumAdjustor with start 1).
pub struct LinearRamp {
    pub from: f64,
    pub to: f64,
    pub saturate: i64,
}

impl Schedule for LinearRamp {
    fn value(&self, at: At) -> f64 {
        let span = (self.saturate - 1) as f64;
        let t = if span > 0.0 {
            ((at.epoch - 1) as f64 / span).clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.from + (self.to - self.from) * t
    }
}

/// `base` for epochs 1 to `hold` + 1, then falling linearly by
/// `base / (end - hold)` an epoch, so it would reach 0 at epoch `end` + 1:
/// `base * min(1, (end - (epoch - 1)) / (end - hold))`. With `end` 200 and
/// `hold` 100 it is the weight-normalisation paper's learning rate, `lr *
/// min(2 - e/100, 1)` for 0-based epoch e (openai/weightnorm,
/// lasagne/train.py, the training loop): constant for 101 epochs, base/100
/// in the last.
pub struct HoldThenLinear {
    pub base: f64,
    pub hold: i64,
    pub end: i64,
}

impl Schedule for HoldThenLinear {
    fn value(&self, at: At) -> f64 {
        let span = (self.end - self.hold) as f64;
        if span <= 0.0 {
            return self.base;
        }
        let left = (self.end - (at.epoch - 1)) as f64;
        self.base * (left / span).clamp(0.0, 1.0)
    }
}

/// `before` until epoch `from`, then `after` from it on (the weight
/// normalisation paper's Adam beta1: 0.9, then 0.5 from epoch 101 of 200).
pub struct Switch {
    pub before: f64,
    pub after: f64,
    pub from: i64,
}

impl Schedule for Switch {
    fn value(&self, at: At) -> f64 {
        if at.epoch < self.from {
            self.before
        } else {
            self.after
        }
    }
}
