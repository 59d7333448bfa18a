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
mod base;
mod clip;
mod decay;
pub mod foreach;
mod graham;
mod param;
mod rmsprop;
mod scaler;
pub mod schedule;
mod sgd;
mod slots;

pub use adam::{Adam, AdamConfig};
pub use base::{Hyper, Optim, Optimizer, Rule};
pub use clip::{clip_grad_norm, clip_grad_norm_total};
pub use decay::add_weight_decay;
pub use foreach::UpdateImpl;
pub use graham::{Graham, GrahamConfig};
pub use param::{parameter_count, params_of, Param};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use scaler::{GradScaler, ScalerConfig};
pub use sgd::{Sgd, SgdConfig};
pub use slots::Slots;

use serde::{Deserialize, Serialize};

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
