//! `--precision`: mixed-precision training as torch.amp does it. The forward
//! pass and the loss run under autocast (libtorch picks per op: matrix
//! products and convolutions in the lower precision, reductions, norms and
//! losses in float32); the weights, their gradients and the optimizer state
//! stay float32, and backward runs outside autocast, as torch's AMP recipe
//! has it. fp16 adds the dynamic loss scaler ([`GradScaler`]); bf16 has
//! fp32's exponent range and needs none.
//!
//! [`Amp`] is what a model's training step uses of this and of the memory
//! layout (`--channels-last`, [`Layout`]): the classifier steps
//! (runner/engine/classify.rs) and each GAN player (gan/steps.rs) hold one.

use crate::error::Result;
use crate::native;
use crate::optim::{GradScaler, Optimizer, Param, ScalerConfig};
use crate::runner::compute::layout::Layout;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::ffi::c_char;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

extern "C" {
    fn paperlab_autocast_enter(
        device_type: i32,
        dtype: i32,
        was_enabled: *mut bool,
        was_dtype: *mut i32,
        error: *mut *mut c_char,
    ) -> bool;
    fn paperlab_autocast_exit(
        device_type: i32,
        was_enabled: bool,
        was_dtype: i32,
        error: *mut *mut c_char,
    ) -> bool;
}

/// The dtype autocast computes in (`--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// float32 throughout, as the papers trained.
    #[default]
    Fp32,
    /// bfloat16 autocast (fp32's range, 8 bits of mantissa).
    Bf16,
    /// float16 autocast with a dynamic loss scaler.
    Fp16,
}

impl Precision {
    /// c10::ScalarType's number for the autocast dtype (Half 5, BFloat16
    /// 15); None for fp32, which runs without autocast.
    fn scalar_type(self) -> Option<i32> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(15),
            Precision::Fp16 => Some(5),
        }
    }
}

/// c10::DeviceType's number for `device`'s type (CPU 0, CUDA 1).
fn device_type(device: Device) -> i32 {
    match device {
        Device::Cuda(_) => 1,
        _ => 0,
    }
}

/// Autocast to a lower precision on one device type while it lives (this
/// thread only, as libtorch's autocast state is thread-local); dropping it
/// restores what it replaced, as leaving `with torch.autocast(...)` does.
pub struct Autocast {
    device_type: i32,
    was_enabled: bool,
    was_dtype: i32,
}

impl Autocast {
    /// Autocast on `device` in `precision`'s dtype; None for fp32.
    pub fn new(device: Device, precision: Precision) -> Option<Autocast> {
        let dtype = precision.scalar_type()?;
        let mut guard = Autocast {
            device_type: device_type(device),
            was_enabled: false,
            was_dtype: 0,
        };
        // SAFETY: the out parameters live across the call.
        let entered = native::status(|error| unsafe {
            paperlab_autocast_enter(
                guard.device_type,
                dtype,
                &mut guard.was_enabled,
                &mut guard.was_dtype,
                error,
            )
        });
        if let Err(message) = entered {
            panic!("entering autocast: {message}");
        }
        Some(guard)
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        let (device_type, was_enabled, was_dtype) =
            (self.device_type, self.was_enabled, self.was_dtype);
        // SAFETY: plain values.
        let left = native::status(|error| unsafe {
            paperlab_autocast_exit(device_type, was_enabled, was_dtype, error)
        });
        if let Err(message) = left {
            panic!("leaving autocast: {message}");
        }
    }
}

/// How one model's training step computes: its autocast dtype, its loss
/// scaler (fp16), the memory layout of its inputs.
pub struct Amp {
    precision: Precision,
    device: Device,
    layout: Layout,
    scaler: Option<GradScaler>,
}

impl Amp {
    /// The step of the model on `vs` in `precision` and `layout`; `vs`'s
    /// weights are converted to the layout here, so build the optimizer
    /// after (its buffers then follow).
    pub fn new(precision: Precision, layout: Layout, vs: &VarStore) -> Amp {
        layout.convert(vs);
        let device = vs.device();
        let scaler = (precision == Precision::Fp16)
            .then(|| GradScaler::new(ScalerConfig::default(), device));
        Amp {
            precision,
            device,
            layout,
            scaler,
        }
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// `f` (a forward pass and its loss) under autocast.
    pub fn autocast<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = Autocast::new(self.device, self.precision);
        f()
    }

    /// A training batch in the model's layout.
    pub fn input(&self, x: &Tensor) -> Tensor {
        self.layout.input(x)
    }

    /// Network outputs in float32, for the loss and the metrics.
    pub fn fp32_outputs(&self, y: Tensor) -> Tensor {
        match y.kind() {
            Kind::Float => y,
            _ => y.to_kind(Kind::Float),
        }
    }

    /// Backward of `loss`, scaled by the loss scaler when there is one.
    pub fn backward(&self, loss: &Tensor) {
        match &self.scaler {
            Some(s) => s.scale(loss).backward(),
            None => loss.backward(),
        }
    }

    /// The gradients of `params` unscaled (fp16), after any reduction
    /// across processes and before they are read (clipping, weight decay).
    pub fn unscale(&mut self, params: &[Param]) {
        if let Some(s) = &mut self.scaler {
            s.unscale(params);
        }
    }

    /// One step of `opt`: skipped under fp16 when the gradients held an inf
    /// or NaN, and the scale updated. Returns whether it stepped.
    pub fn step(&mut self, opt: &mut dyn Optimizer) -> bool {
        match &mut self.scaler {
            Some(s) => s.step(opt),
            None => {
                opt.step();
                true
            }
        }
    }

    /// The loss scaler's checkpointed state (none without one).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.scaler.as_ref().map_or(vec![], |s| s.state())
    }

    /// Restore what [`Amp::state`] saved; an fp16 run's checkpoint must
    /// hold it.
    pub fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        match &mut self.scaler {
            Some(s) => s.load_state(state),
            None => Ok(()),
        }
    }
}
