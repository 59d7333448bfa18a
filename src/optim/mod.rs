//! Optimizers whose state can be checkpointed and restored by name.
//!
//! tch's optimizers wrap libtorch's C++ ones and cannot save their state, so a
//! resumed run could not repeat an uninterrupted one. These small optimizers
//! follow PyTorch's `torch.optim` update rules (SGD, RMSprop, Adam), and
//! Graham's NAG-light momentum (the FMP paper's code), on plain
//! tensors; every update is a handful of in-place tensor ops under
//! [`tch::no_grad`], with no host reads, so they run on CUDA as on CPU.
//!
//! State is exposed as named tensors ([`Optimizer::state`]):
//!
//! - `"step"`: an int64 scalar, the number of [`Optimizer::step`] calls;
//! - `"step.<param>"`: an int64 scalar per parameter, the number of updates
//!   applied to it (a parameter with an undefined gradient is skipped, as in
//!   PyTorch); Adam's bias correction uses it, like PyTorch's per-parameter
//!   `state["step"]`;
//! - `"<buffer>.<param>"`: the parameter's buffers (`momentum`, `square_avg`,
//!   `grad_avg`, `exp_avg`, `exp_avg_sq`), present once the parameter has been
//!   updated at least once. Buffers are created lazily on a parameter's first
//!   update, exactly as PyTorch does (SGD's momentum buffer starts as the
//!   gradient itself).
//!
//! Hyper-parameters are not state. An optimizer is built from its config
//! value ([`OptimConfig`], saved in config.json) and changed mid-run only
//! through [`Optimizer::set`], which the [`schedule`]s use.
//!
//! Each rule has two forms computing the same update: per tensor (a few ops
//! per parameter, the CPU default) and multi-tensor (libtorch's foreach ops
//! on lists of parameters grouped by device and dtype, the CUDA default;
//! [`foreach`]), chosen by [`UpdateImpl`]. The state, and so a checkpoint,
//! is the same either way, so a resumed run may switch forms.
//!
//! One file per optimizer; [`slots`] holds what they share. [`GradScaler`]
//! (`scaler.rs`) is fp16's dynamic loss scaler around any of them.

mod adam;
mod clip;
mod decay;
pub mod foreach;
mod graham;
mod rmsprop;
mod scaler;
pub mod schedule;
mod sgd;
mod slots;

pub use adam::{Adam, AdamConfig};
pub use clip::{clip_grad_norm, clip_grad_norm_total};
pub use decay::add_weight_decay;
pub use foreach::UpdateImpl;
pub use graham::{Graham, GrahamConfig};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use scaler::{GradScaler, ScalerConfig};
pub use sgd::{Sgd, SgdConfig};
pub use slots::Slots;

use crate::error::{self, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tch::{nn, Tensor};

/// A parameter to optimise: its name (VarStore name, used to key the state) and
/// the tensor (requires_grad).
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
}

impl Param {
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Param {
        Param {
            name: name.into(),
            tensor,
        }
    }
}

/// How many numbers the trainable variables of `vs` hold.
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    let trainable = vs.trainable_variables();
    trainable.iter().map(|t| t.numel() as i64).sum()
}

/// The trainable variables of `vs` with their names, sorted by name so that
/// state keys are stable. The tensors share storage with the VarStore's.
pub fn params_of(vs: &nn::VarStore) -> Vec<Param> {
    let vars = vs.variables_.lock().unwrap();
    let trainable: HashSet<usize> = vars
        .trainable_variables
        .iter()
        .filter(|v| v.tensor.numel() > 0)
        .map(|v| v.tensor.data_ptr() as usize)
        .collect();
    let mut params: Vec<Param> = vars
        .named_variables
        .iter()
        .filter(|(_, t)| {
            if t.numel() > 0 {
                trainable.contains(&(t.data_ptr() as usize))
            } else {
                t.requires_grad()
            }
        })
        .map(|(name, t)| Param::new(name.clone(), t.shallow_clone()))
        .collect();
    params.sort_by(|a, b| a.name.cmp(&b.name));
    params
}

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

/// Which optimizer, with its hyperparameters: what a trainer's config holds
/// and config.json records.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptimConfig {
    Sgd(SgdConfig),
    RmsProp(RmsPropConfig),
    Adam(AdamConfig),
    Graham(GrahamConfig),
}

impl OptimConfig {
    /// The optimizer of `params`, updating them in the form `update` chooses.
    pub fn build(&self, params: Vec<Param>, update: UpdateImpl) -> Box<dyn Optimizer> {
        match *self {
            OptimConfig::Sgd(c) => Box::new(Sgd::new(params, c).with_update(update)),
            OptimConfig::RmsProp(c) => Box::new(RmsProp::new(params, c).with_update(update)),
            OptimConfig::Adam(c) => Box::new(Adam::new(params, c).with_update(update)),
            OptimConfig::Graham(c) => Box::new(Graham::new(params, c).with_update(update)),
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
    /// Zero the gradients (in place, as tch does: they stay defined).
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
        self.slots.zero_grad(self.multi)
    }

    fn params(&self) -> &[Param] {
        self.slots.params()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.state()
    }
}
