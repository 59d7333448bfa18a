//! What every optimizer shares: the
//! hyperparameters a schedule may change ([`Hyper`]), the [`Optimizer`]
//! trainers hold, and [`Optim`], which turns an update [`Rule`] into one.

use super::foreach::UpdateImpl;
use super::param::Param;
use super::slots::Slots;
use crate::error::{self, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// A hyperparameter that can change between steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hyper {
    Lr,
    Momentum,
    Beta1,
    Beta2,
}

impl Hyper {
    pub fn name(self) -> &'static str {
        match self {
            Hyper::Lr => "lr",
            Hyper::Momentum => "momentum",
            Hyper::Beta1 => "beta1",
            Hyper::Beta2 => "beta2",
        }
    }
}

/// An optimizer as the trainers see it (boxed, whatever its rule).
pub trait Optimizer {
    /// Apply one update from the gradients currently in .grad() (params with an
    /// undefined grad are skipped).
    fn step(&mut self);
    /// The current value of `h`; None when this optimizer has no such hyperparameter.
    fn get(&self, h: Hyper) -> Option<f64>;
    /// The one way to change a hyperparameter between steps.
    fn set(&mut self, h: Hyper, value: f64) -> Result<()>;
    /// Restore from the tensors `state` returned; a missing or mis-shaped entry
    /// is an error naming it (nothing is changed then). Unknown keys are ignored.
    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()>;
    /// Clear the gradients (undefined, as PyTorch's `zero_grad()` leaves
    /// them; an optimizer step skips a parameter that gets none).
    fn zero_grad(&mut self);
    /// The parameters being optimised, in the order given to the constructor.
    fn params(&self) -> &[Param];
    /// Named state tensors (e.g. "momentum.<param name>"), for checkpoints.
    /// They are copies: later steps do not change them.
    fn state(&self) -> Vec<(String, Tensor)>;

    /// The learning rate.
    fn lr(&self) -> f64 {
        self.get(Hyper::Lr).unwrap_or(f64::NAN)
    }
}

/// An update rule: an optimizer's config (its hyperparameters) that knows
/// how to apply one update.
pub trait Rule: Copy {
    const NAME: &'static str;
    /// Update every parameter that has a gradient, creating its buffers on
    /// first use: the per-tensor form.
    fn update(&self, slots: &mut Slots);
    /// The same update with multi-tensor ops on [`Slots::groups`].
    fn update_foreach(&self, slots: &mut Slots);
    /// The hyperparameter `h`, if this rule has it.
    fn hyper(&mut self, h: Hyper) -> Option<&mut f64>;
    /// The buffers a checkpoint may hold, and those it must hold with these
    /// settings.
    fn buffers(&self) -> (&'static [&'static str], Vec<&'static str>);
}

/// The parameters with their state, updated by the rule `R`.
pub struct Optim<R> {
    cfg: R,
    slots: Slots,
    /// The multi-tensor form, else the per-tensor one.
    multi: bool,
}

impl<R: Rule> Optim<R> {
    /// The optimizer in the form [`UpdateImpl::Auto`] chooses for the
    /// parameters' device.
    pub fn new(params: Vec<Param>, cfg: R) -> Optim<R> {
        Optim {
            cfg,
            slots: Slots::new(params),
            multi: false,
        }
        .with_update(UpdateImpl::Auto)
    }

    /// This optimizer updating in the form `update` chooses (by the first
    /// parameter's device).
    pub fn with_update(mut self, update: UpdateImpl) -> Optim<R> {
        let device = self.slots.params().first().map(|p| p.tensor.device());
        self.multi = update.multi(device.unwrap_or(tch::Device::Cpu));
        self
    }
}

impl<R: Rule> Optimizer for Optim<R> {
    fn step(&mut self) {
        match self.multi {
            true => self.cfg.update_foreach(&mut self.slots),
            false => self.cfg.update(&mut self.slots),
        }
        self.slots.steps += 1;
    }

    fn get(&self, h: Hyper) -> Option<f64> {
        let mut cfg = self.cfg;
        cfg.hyper(h).map(|v| *v)
    }

    fn set(&mut self, h: Hyper, value: f64) -> Result<()> {
        let slot = self
            .cfg
            .hyper(h)
            .ok_or_else(|| error::run(format!("{} has no hyperparameter {}", R::NAME, h.name())))?;
        *slot = value;
        Ok(())
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let (known, required) = self.cfg.buffers();
        self.slots.load_state(state, known, &required)
    }

    fn zero_grad(&mut self) {
        self.slots.zero_grad()
    }

    fn params(&self) -> &[Param] {
        self.slots.params()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.state()
    }
}
