//! Xiang & Li's weight-normalized layer (arXiv 1704.03971; their code,
//! stormraiser/GAN-weight-norm, pytorch/modules/WeightNormalizedLinear.py
//! and WeightNormalizedConv.py).
//!
//! Unlike Salimans & Kingma's layer (`weight_norm`), which learns a scale g
//! per unit and initialises from data, the strict form has no scale and no
//! bias at all: y = w.x / ||w||, so every unit's gain is fixed at 1 and the
//! following TPReLU supplies the shift. The affine form adds a learned
//! scale (1 at first) and bias: y = scale * w.x / ||w|| + bias.
//!
//! The norm is sqrt(factor * sum of w^2 + 1e-6) per output unit, the sum
//! over every weight axis but the output one (WeightNormalizedConv.py lines
//! 29-38; written for PyTorch 0.1, whose `sum(dim)` kept the dimension, so
//! it is one norm per output channel). `factor` is 1, except 1 / (stride
//! product) for a transposed convolution (lines 24-27): with stride s each
//! output pixel of a transposed conv meets only 1/s^2 of the kernel's taps,
//! so its output's scale is that of a plain conv with the same norm.

use super::weight_norm::{per_unit, unit_sum_of_squares, Op};
use tch::nn::{self, Init, Module};
use tch::Tensor;

/// A strict or affine weight-normalized linear, conv2d or transposed conv2d
/// layer ("weight", and "scale" and "bias" [out] when affine).
#[derive(Debug)]
pub struct NormedLayer {
    pub weight: Tensor,
    pub scale: Option<Tensor>,
    pub bias: Option<Tensor>,
    pub op: Op,
    /// Multiplies the sum of squares: 1 / stride^2 for a transposed conv.
    factor: f64,
}

impl NormedLayer {
    /// `inputs` -> `outputs` units under `p` (`kernel` is ignored by
    /// [`Op::Linear`]), initialised as the authors' modules are:
    ///
    /// - the weight uniform in +-init_factor / sqrt(fan), fan = inputs for a
    ///   linear layer (WeightNormalizedLinear.py lines 24-26) and inputs *
    ///   kernel^2 for both convolutions (the conv modules scale PyTorch's
    ///   own init by init_factor, WeightNormalizedConv.py line 23; the
    ///   PyTorch of their time drew +-1/sqrt(in_channels * k^2), also for a
    ///   transposed conv);
    /// - when `affine`: the scale 1; the bias 0 for a convolution (line 20)
    ///   and uniform in the same +-bound for a linear layer
    ///   (WeightNormalizedLinear.py lines 27-28).
    ///
    /// The strict layer's output does not depend on the weight's scale, but
    /// the init still matters: RMSProp's steps have a fixed size, so a small
    /// weight turns faster (G's first layer uses init_factor 0.01).
    pub fn new(
        p: nn::Path,
        op: Op,
        inputs: i64,
        outputs: i64,
        kernel: i64,
        affine: bool,
        init_factor: f64,
    ) -> NormedLayer {
        let fan = match op {
            Op::Linear => inputs,
            Op::Conv2d { .. } | Op::ConvTranspose2d { .. } => inputs * kernel * kernel,
        };
        let bound = init_factor / (fan as f64).sqrt();
        let uniform = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = p.var("weight", &op.weight_shape(inputs, outputs, kernel), uniform);
        let bias_init = match op {
            Op::Linear => uniform,
            Op::Conv2d { .. } | Op::ConvTranspose2d { .. } => Init::Const(0.0),
        };
        let factor = match op {
            Op::ConvTranspose2d { stride, .. } => 1.0 / (stride * stride) as f64,
            Op::Linear | Op::Conv2d { .. } => 1.0,
        };
        NormedLayer {
            weight,
            scale: affine.then(|| p.var("scale", &[outputs], Init::Const(1.0))),
            bias: affine.then(|| p.var("bias", &[outputs], bias_init)),
            op,
            factor,
        }
    }

    /// [out]: sqrt(factor * sum of w^2 + 1e-6) per output unit.
    pub fn norm(&self) -> Tensor {
        let sum = unit_sum_of_squares(&self.weight, self.op.out_axis());
        (sum * self.factor + 1e-6).sqrt()
    }
}

impl Module for NormedLayer {
    /// The authors divide the op's output by the norm, then scale and add
    /// the bias (WeightNormalizedConv.py lines 40-49). Dividing the weight
    /// instead (scale / norm per output unit) and letting the op add the
    /// bias is the same function and gradient, on the weight rather than on
    /// the larger activations.
    fn forward(&self, x: &Tensor) -> Tensor {
        let gain = match &self.scale {
            Some(scale) => scale / self.norm(),
            None => self.norm().reciprocal(),
        };
        let axis = self.op.out_axis();
        let w = &self.weight * per_unit(&gain, self.weight.dim(), axis);
        self.op.apply(x, &w, self.bias.as_ref())
    }
}
