//! Activations that tch does not offer with the slope the papers use, and
//! the learned per-channel ones of Xiang & Li's GANs (PReLU, TPReLU, TReLU).
//!
//! The learned ones take [B, C, ...] (also [B, C]) and hold one value per
//! channel C, named as PyTorch names them, so a VarStore reads like the
//! authors' state_dict.

use super::weight_norm::per_unit_like;
use tch::nn::{self, Init, Module};
use tch::Tensor;

/// Leaky ReLU with a given negative slope (Graham's "very leaky" ReLU is 0.333):
/// libtorch's `leaky_relu`, whose slope tch 0.24 fixes at 0.01, called
/// through crate::native. A PReLU with a constant slope computes the same
/// but its backward also reduces a gradient for the slope: 7% of the MNIST
/// FMP net's training step (BENCHMARKS.md).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    crate::native::leaky_relu(x, slope).unwrap_or_else(|e| panic!("leaky_relu: {e}"))
}

/// The initial negative slope of PyTorch's nn.PReLU, which TPReLU keeps
/// (GAN-weight-norm, pytorch/modules/TPReLU.py line 10: `init=0.25`).
const PRELU_INIT: f64 = 0.25;

/// PyTorch's nn.PReLU(C): y = x for x >= 0, a_c x otherwise, one learned
/// slope per channel ("weight" [C], 0.25 at first). The slope is not
/// clamped: the authors' vanilla, BN and weight-affine nets use it as is.
#[derive(Debug)]
pub struct PReLU {
    pub weight: Tensor,
}

impl PReLU {
    pub fn new(p: nn::Path, channels: i64) -> PReLU {
        PReLU {
            weight: p.var("weight", &[channels], Init::Const(PRELU_INIT)),
        }
    }
}

impl Module for PReLU {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.prelu(&self.weight)
    }
}

/// Translated PReLU (Xiang & Li 2017): y = PReLU(x - b, clamp(a, 0, 1)) + b,
/// a PReLU whose kink moves to a learned b per channel ("weight" [C] = a,
/// 0.25 at first; "bias" [C] = b, 0 at first). After a strict
/// weight-normalized layer (no bias of its own) b is what lets a unit shift
/// its threshold. The slope is clamped in the forward pass, so a slope
/// pushed outside [0, 1] gets no gradient until it is back, as in the
/// authors' pytorch/modules/TPReLU.py (lines 13-18).
#[derive(Debug)]
pub struct TPReLU {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl TPReLU {
    pub fn new(p: nn::Path, channels: i64) -> TPReLU {
        TPReLU {
            weight: p.var("weight", &[channels], Init::Const(PRELU_INIT)),
            bias: p.var("bias", &[channels], Init::Const(0.0)),
        }
    }
}

impl Module for TPReLU {
    fn forward(&self, x: &Tensor) -> Tensor {
        let b = per_unit_like(&self.bias, x);
        (x - &b).prelu(&self.weight.clamp(0.0, 1.0)) + b
    }
}

/// Translated ReLU (Xiang & Li 2017, REFERENCE.md section 5):
/// y = max(x - alpha, 0) + alpha, one learned threshold per channel
/// ("alpha" [C], 0 at first, where it is a plain ReLU). Computed as the
/// equal max(x, alpha): one op instead of three.
#[derive(Debug)]
pub struct TReLU {
    pub alpha: Tensor,
}

impl TReLU {
    pub fn new(p: nn::Path, channels: i64) -> TReLU {
        TReLU {
            alpha: p.var("alpha", &[channels], Init::Const(0.0)),
        }
    }
}

impl Module for TReLU {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.maximum(&per_unit_like(&self.alpha, x))
    }
}
