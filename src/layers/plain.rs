//! Layers without weight normalization for the weight-normalisation
//! paper's baselines: [`Plain`] (a weight and an optional bias, as drawn)
//! and [`FixedScale`], the authors' `no_norm` layer (openai/weightnorm,
//! lasagne/nn.py:272-315, `InitLayer`), whose weight is multiplied by a
//! per-unit scale that only the data-dependent initialisation sets.

use super::weight_norm::{per_unit, standardise_units, DataInit, Op};
use tch::nn::{self, Init, Module};
use tch::Tensor;

/// Lasagne's default weights, `GlorotUniform()` with gain 1: uniform in
/// ±sqrt(3) std, std = sqrt(2 / ((n1 + n2) * receptive field)) for a
/// weight shaped [n1, n2, receptive field...] (Lasagne/Lasagne,
/// lasagne/init.py:173-176 and :86-100). Lasagne's dense weight is [in, out]
/// where ours is [out, in]: the sum n1 + n2 is the same.
pub fn glorot_uniform(shape: &[i64]) -> Init {
    let field: i64 = shape[2..].iter().product();
    let std = (2.0 / ((shape[0] + shape[1]) * field) as f64).sqrt();
    let a = 3f64.sqrt() * std;
    Init::Uniform { lo: -a, up: a }
}

/// A plain linear, conv2d or transposed conv2d layer ("weight", and "bias"
/// when it has one, initialised to 0).
#[derive(Debug)]
pub struct Plain {
    pub w: Tensor,
    pub b: Option<Tensor>,
    pub op: Op,
}

impl Plain {
    /// `inputs` -> `outputs` units under `p`, the weight drawn from `init`.
    pub fn new(
        p: &nn::Path,
        op: Op,
        inputs: i64,
        outputs: i64,
        kernel: i64,
        bias: bool,
        init: Init,
    ) -> Plain {
        Plain {
            w: p.var("weight", &op.weight_shape(inputs, outputs, kernel), init),
            b: bias.then(|| p.var("bias", &[outputs], Init::Const(0.0))),
            op,
        }
    }
}

impl Module for Plain {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.op.apply(x, &self.w, self.b.as_ref())
    }
}

/// The authors' `InitLayer`: computes with `g * w` plus a bias, w
/// Glorot-uniform (Lasagne's default, which `no_norm` keeps where the other
/// norms redraw N(0, 0.05)), g one per output unit, starting at 1. w and b
/// train; g does not (nn.py:280, `trainable=False`), so after the
/// data-dependent init it stays 1/s, and Adam's steps on w are steps on the
/// computed weight scaled by 1/s. The VarStore holds "weight", "bias" and
/// "g" (g untrained, but saved with the model).
#[derive(Debug)]
pub struct FixedScale {
    pub layer: Plain,
    /// [out], not trained.
    pub g: Tensor,
}

impl FixedScale {
    /// `inputs` -> `outputs` units under `p`.
    pub fn new(p: &nn::Path, op: Op, inputs: i64, outputs: i64, kernel: i64) -> FixedScale {
        let init = glorot_uniform(&op.weight_shape(inputs, outputs, kernel));
        FixedScale {
            layer: Plain::new(p, op, inputs, outputs, kernel, true, init),
            g: p.ones_no_train("g", &[outputs]),
        }
    }

    /// `g * w`, the weight the layer computes with (nn.py:294).
    pub fn weight(&self) -> Tensor {
        let Plain { w, op, .. } = &self.layer;
        per_unit(&self.g, w.dim(), op.out_axis()) * w
    }
}

impl Module for FixedScale {
    fn forward(&self, x: &Tensor) -> Tensor {
        let Plain { b, op, .. } = &self.layer;
        op.apply(x, &self.weight(), b.as_ref())
    }
}

impl DataInit for FixedScale {
    /// g <- g / s and b <- -m / s, m and s the mean and std of `g w.x`
    /// (nn.py:296-302); w is left as drawn.
    fn init(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let Plain { b, op, .. } = &self.layer;
            standardise_units(&op.apply(x, &self.weight(), None), &self.g, b.as_ref());
            self.forward(x)
        })
    }
}
