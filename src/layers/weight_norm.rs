//! Weight normalization (Salimans & Kingma 2016) and data-dependent
//! initialisation, for linear, conv2d and transposed conv2d layers.
//!
//! A weight-normalized layer computes with `w = g * v / ||v||`: one scale
//! `g` per output unit and a direction `v` whose norm runs over every axis
//! but the output one (openai/weightnorm, lasagne/nn.py, `WeightNormLayer`:
//! axes 1,2,3 of a convolution, the input axis of a dense layer). `v` starts
//! as N(0, 0.05), `g` as 1 and `b` as 0; the VarStore (so a checkpoint)
//! holds `v`, `g` and `b`, and autograd takes gradients to all three.
//!
//! [`DataInit`] is the paper's initialisation: one forward pass over a batch
//! sets each unit's scale and bias so that its pre-activation has mean 0
//! and standard deviation 1 on that batch (lasagne/nn.py, the `init` branch
//! of `WeightNormLayer.get_output_for`); [`crate::layers::plain::FixedScale`]
//! is the authors' `no_norm` layer that gets it too.

use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

/// What a layer computes from its input and weight: the three kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `x w^T + b`, w [out, in].
    Linear,
    /// w [out, in, k, k].
    Conv2d { stride: i64, padding: i64 },
    /// w [in, out, k, k] (PyTorch's layout: the output axis is 1).
    ConvTranspose2d {
        stride: i64,
        padding: i64,
        output_padding: i64,
    },
}

impl Op {
    /// A 3x3-style convolution with stride 1.
    pub fn conv(padding: i64) -> Op {
        Op::Conv2d { stride: 1, padding }
    }

    pub fn apply(self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        match self {
            Op::Linear => x.linear(w, b),
            Op::Conv2d { stride, padding } => {
                x.conv2d(w, b, [stride, stride], [padding, padding], [1, 1], 1)
            }
            Op::ConvTranspose2d {
                stride,
                padding,
                output_padding,
            } => x.conv_transpose2d(
                w,
                b,
                [stride, stride],
                [padding, padding],
                [output_padding, output_padding],
                1,
                [1, 1],
            ),
        }
    }

    /// The weight's axis that indexes output units.
    pub fn out_axis(self) -> i64 {
        match self {
            Op::ConvTranspose2d { .. } => 1,
            Op::Linear | Op::Conv2d { .. } => 0,
        }
    }

    /// The weight's shape for `inputs` -> `outputs` units (`kernel` is
    /// ignored by [`Op::Linear`]).
    pub fn weight_shape(self, inputs: i64, outputs: i64, kernel: i64) -> Vec<i64> {
        match self {
            Op::Linear => vec![outputs, inputs],
            Op::Conv2d { .. } => vec![outputs, inputs, kernel, kernel],
            Op::ConvTranspose2d { .. } => vec![inputs, outputs, kernel, kernel],
        }
    }
}

/// A per-unit vector shaped to broadcast against a tensor of `dims`
/// dimensions whose unit axis is `axis` (a weight, or an activation's axis 1).
pub fn per_unit(t: &Tensor, dims: usize, axis: i64) -> Tensor {
    let mut shape = vec![1i64; dims];
    shape[axis as usize] = -1;
    t.view(shape.as_slice())
}

/// A per-unit parameter (or statistic) shaped to broadcast against
/// activations `x` [B, units, ...] and cast to their dtype, as
/// autocast-aware PyTorch modules do: under bf16/fp16 autocast, adding an
/// fp32 vector would promote the activation back to fp32 (and the next
/// conv would cast it down again). The cast is differentiable, so the
/// gradient still reaches the fp32 parameter.
pub fn per_unit_like(t: &Tensor, x: &Tensor) -> Tensor {
    per_unit(&t.to_kind(x.kind()), x.dim(), 1)
}

/// [out]: the sum of squares of weight `w` per output unit (`axis`), over
/// every other axis.
pub fn unit_sum_of_squares(w: &Tensor, axis: i64) -> Tensor {
    let others: Vec<i64> = (0..w.dim() as i64).filter(|&a| a != axis).collect();
    w.square()
        .sum_dim_intlist(others.as_slice(), false, w.kind())
}

/// The axes of activations [B, units, ...] other than the unit axis 1.
fn other_axes(t: &Tensor) -> Vec<i64> {
    (0..t.dim() as i64).filter(|&a| a != 1).collect()
}

/// Per-unit mean of activations [B, units, ...] over every axis but 1, in
/// float32 for bf16/fp16 activations (autocast's): running statistics stay
/// float32 and take float32 updates.
pub fn unit_mean(t: &Tensor) -> Tensor {
    let kind = match t.kind() {
        Kind::Half | Kind::BFloat16 => Kind::Float,
        other => other,
    };
    t.mean_dim(other_axes(t).as_slice(), false, kind)
}

/// Per-unit mean and standard deviation of activations [B, units, ...]
/// over every axis but 1; the std is the population one, as the authors'
/// `sqrt(mean(square(x - m)))`.
pub fn unit_stats(t: &Tensor) -> (Tensor, Tensor) {
    let mean = unit_mean(t);
    let centred = t - per_unit(&mean, t.dim(), 1);
    (mean, unit_mean(&centred.square()).sqrt())
}

/// Layers that set their own scale and bias from data.
pub trait DataInit {
    /// Forward `x` once and set the scale (and bias, when the layer has one)
    /// so that every output unit has mean 0 and std 1 on `x`; returns the
    /// layer's output on `x` with the new values, for the next layer's init.
    fn init(&self, x: &Tensor) -> Tensor;
}

/// A weight-normalized linear, conv2d or transposed conv2d layer.
#[derive(Debug)]
pub struct WeightNorm {
    pub v: Tensor,
    /// [out]: one scale per output unit.
    pub g: Tensor,
    /// [out], or None when a (mean-only) batch norm follows.
    pub b: Option<Tensor>,
    pub op: Op,
}

impl WeightNorm {
    /// `inputs` -> `outputs` units under `p` ("v", "g", "b").
    pub fn new(
        p: &nn::Path,
        op: Op,
        inputs: i64,
        outputs: i64,
        kernel: i64,
        bias: bool,
    ) -> WeightNorm {
        let v = p.var(
            "v",
            &op.weight_shape(inputs, outputs, kernel),
            Init::Randn {
                mean: 0.0,
                stdev: 0.05,
            },
        );
        WeightNorm {
            v,
            g: p.var("g", &[outputs], Init::Const(1.0)),
            b: bias.then(|| p.var("b", &[outputs], Init::Const(0.0))),
            op,
        }
    }

    /// `g * v / ||v||`, the weight the layer computes with, in `v`'s memory
    /// layout. For a contiguous `v` with its units on axis 0, libtorch's
    /// fused `_weight_norm` (as torch.nn.utils.weight_norm): one op forward
    /// and one backward, where the elementwise form takes some ten. The
    /// elementwise form keeps a channels-last `v` channels-last (the fused
    /// op would copy it to NCHW every forward, and the convolution would
    /// copy the weight back) and serves a transposed convolution's axis 1.
    pub fn weight(&self) -> Tensor {
        let axis = self.op.out_axis();
        if axis == 0 && self.v.is_contiguous() {
            return Tensor::internal_weight_norm(&self.v, &self.g, 0);
        }
        let gain = &self.g / unit_sum_of_squares(&self.v, axis).sqrt();
        &self.v * per_unit(&gain, self.v.dim(), axis)
    }
}

impl Module for WeightNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.op.apply(x, &self.weight(), self.b.as_ref())
    }
}

impl DataInit for WeightNorm {
    /// g <- g / s and b <- -m / s, m and s the mean and std of `g v.x/||v||`.
    fn init(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let pre = self.op.apply(x, &self.weight(), None);
            standardise_units(&pre, &self.g, self.b.as_ref());
            self.forward(x)
        })
    }
}

/// The data-dependent init's update from a layer's bias-free output `pre`
/// [B, units, ...] with mean m and std s per unit: the scale `g` <- g / s
/// and the bias, if any, <- -m / s (lasagne/nn.py:253-257, and :298-302
/// for `InitLayer`).
pub fn standardise_units(pre: &Tensor, g: &Tensor, b: Option<&Tensor>) {
    tch::no_grad(|| {
        let (m, s) = unit_stats(pre);
        let _ = g.shallow_clone().g_div_(&s);
        if let Some(b) = b {
            let _ = b.shallow_clone().copy_(&(-m / &s));
        }
    });
}
