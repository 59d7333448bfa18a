//! The dynamic loss scaler of fp16 training, as torch.amp.GradScaler
//! (torch/amp/grad_scaler.py): the loss is multiplied by a scale before
//! backward so that small fp16 gradients do not flush to zero; the
//! gradients are divided by it again before anything reads them (clipping,
//! weight decay, the update); a step whose gradients hold an inf or NaN is
//! skipped and the scale multiplied by the backoff factor; after
//! `growth_interval` good steps in a row it is multiplied by the growth
//! factor.
//!
//! Scale, growth tracker and the inf flag are tensors on the parameters'
//! device, updated by libtorch's fused kernels (`_amp_foreach_non_finite_
//! check_and_unscale_`, csrc/grad_scaler.cpp, and `_amp_update_scale_`),
//! so the one host read per step is GradScaler's own: whether to step
//! (`_maybe_opt_step`, grad_scaler.py:363-373). The scale and the tracker
//! are the checkpointed state ([`GradScaler::state`]), so --resume continues
//! exactly; the factors and interval are configuration, as in GradScaler's
//! state_dict.

use super::base::Optimizer;
use super::foreach;
use super::param::Param;
use crate::error::{self, Result};
use crate::native;
use std::ffi::c_char;
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

extern "C" {
    fn paperlab_amp_unscale(
        grads: *const *const C_tensor,
        n: usize,
        found_inf: *mut C_tensor,
        inv_scale: *const C_tensor,
        error: *mut *mut c_char,
    ) -> bool;
}

/// GradScaler's settings; [`Default`] is its defaults
/// (grad_scaler.py:123-130).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalerConfig {
    pub init_scale: f64,
    pub growth_factor: f64,
    pub backoff_factor: f64,
    pub growth_interval: i64,
}

impl Default for ScalerConfig {
    fn default() -> ScalerConfig {
        ScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

pub struct GradScaler {
    cfg: ScalerConfig,
    /// float32 scalar, as GradScaler's `_scale`.
    scale: Tensor,
    /// int32 scalar: good steps in a row since the last change of scale.
    growth_tracker: Tensor,
    /// float32 scalar: 1 when this step's gradients held an inf or NaN.
    found_inf: Tensor,
    /// The gradients were unscaled since the last update.
    unscaled: bool,
}

impl GradScaler {
    /// A scaler on `device` at its initial scale
    /// (`_lazy_init_scale_growth_tracker`, grad_scaler.py:173-180).
    pub fn new(cfg: ScalerConfig, device: Device) -> GradScaler {
        GradScaler {
            cfg,
            scale: Tensor::full([], cfg.init_scale, (Kind::Float, device)),
            growth_tracker: Tensor::zeros([], (Kind::Int, device)),
            found_inf: Tensor::zeros([], (Kind::Float, device)),
            unscaled: false,
        }
    }

    /// `loss` times the scale: what to differentiate.
    pub fn scale(&self, loss: &Tensor) -> Tensor {
        loss * &self.scale
    }

    /// Divide every gradient of `params` by the scale in place and note
    /// whether any holds an inf or NaN (`unscale_`, grad_scaler.py:302-361:
    /// the reciprocal taken in float64, lists grouped by device and dtype).
    /// Call it once per step, after any reduction across processes and
    /// before the gradients are read; [`GradScaler::step`] calls it if not.
    pub fn unscale(&mut self, params: &[Param]) {
        let grads: Vec<Tensor> = params
            .iter()
            .map(|p| p.tensor.grad())
            .filter(|g| g.defined())
            .collect();
        let inv_scale = self
            .scale
            .to_kind(Kind::Double)
            .reciprocal()
            .to_kind(Kind::Float);
        let _ = self.found_inf.zero_();
        for list in foreach::grouped(&grads) {
            let ptrs: Vec<*const C_tensor> = list.iter().map(|g| g.as_ptr()).collect();
            // SAFETY: the gradients, found_inf and inv_scale outlive the call.
            let done = native::status(|error| unsafe {
                paperlab_amp_unscale(
                    ptrs.as_ptr(),
                    ptrs.len(),
                    self.found_inf.as_mut_ptr(),
                    inv_scale.as_ptr(),
                    error,
                )
            });
            if let Err(message) = done {
                panic!("unscaling the gradients: {message}");
            }
        }
        self.unscaled = true;
    }

    /// Step `opt` unless this step's gradients held an inf or NaN, then
    /// update the scale (`step` and `update`, grad_scaler.py:375-559).
    /// Returns whether `opt` stepped.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> bool {
        if !self.unscaled {
            self.unscale(opt.params());
        }
        let finite = self.found_inf.double_value(&[]) == 0.0;
        if finite {
            opt.step();
        }
        // In place; the returned alias of the scale is not needed.
        let _ = self.scale.internal_amp_update_scale_(
            &self.growth_tracker,
            &self.found_inf,
            self.cfg.growth_factor,
            self.cfg.backoff_factor,
            self.cfg.growth_interval,
        );
        self.unscaled = false;
        finite
    }

    /// The current scale (a host read: for tests and logs).
    pub fn scale_value(&self) -> f64 {
        self.scale.double_value(&[])
    }

    /// Good steps in a row since the scale last changed (a host read).
    pub fn growth_tracker(&self) -> i64 {
        self.growth_tracker.int64_value(&[])
    }

    /// The checkpointed state: copies of "scale" and "growth_tracker".
    pub fn state(&self) -> Vec<(String, Tensor)> {
        vec![
            ("scale".into(), self.scale.copy()),
            ("growth_tracker".into(), self.growth_tracker.copy()),
        ]
    }

    /// Restore what [`GradScaler::state`] saved; a missing or non-scalar
    /// entry is an error naming it, and nothing is changed then.
    pub fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let get = |key: &str| -> Result<&Tensor> {
            let t = state
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, t)| t)
                .ok_or_else(|| {
                    error::data(format!("loss scaler state: missing entry \"{key}\""))
                })?;
            match t.numel() {
                1 => Ok(t),
                n => Err(error::data(format!(
                    "loss scaler state: \"{key}\" has {n} values, expected one"
                ))),
            }
        };
        let (scale, tracker) = (get("scale")?, get("growth_tracker")?);
        tch::no_grad(|| {
            self.scale.copy_(&scale.reshape([]));
            self.growth_tracker.copy_(&tracker.reshape([]));
        });
        Ok(())
    }
}
