//! The weight-normalisation paper's CIFAR-10 network (openai/weightnorm,
//! lasagne/train.py, "specify model"): Gaussian noise on the input,
//! 3 x conv a, max-pool, dropout, 3 x conv b, max-pool, dropout, conv b
//! valid, 2 x NIN b, global average pool, dense; leaky ReLU after every
//! convolution, and every convolution and the dense layer wrapped in the
//! chosen normalisation. a = 96 and b = 192 in the paper; any input of at
//! least 12x12 works (CIFAR's 32x32x3, Fashion-MNIST's 28x28x1).

use crate::layers::activation::leaky_relu;
use crate::layers::batch_norm::BatchNorm;
use crate::layers::mean_only_bn::MeanOnlyBn;
use crate::layers::plain::{FixedScale, Plain};
use crate::layers::weight_norm::{DataInit, Op, WeightNorm};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init, Module, ModuleT};
use tch::Tensor;

/// How every convolution and the dense layer are normalised (the authors'
/// --norm_type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    /// Plain layers with a bias and a fixed per-unit scale (`no_norm`).
    None,
    /// Batch normalisation with a learned scale and bias (`batch_norm`).
    Batch,
    /// Weight normalisation with a bias (`weight_norm`).
    Weight,
    /// Weight normalisation followed by mean-only batch norm (`mean_only_bn`).
    WeightMeanbn,
}

/// The smallest input side: two 2x2 pools must leave at least 3x3 for the
/// valid 3x3 convolution.
pub const MIN_SIZE: i64 = 12;

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub norm: Norm,
    pub in_channels: i64,
    pub classes: i64,
    /// Widths of the first three and of the later convolutions (96, 192).
    pub widths: [i64; 2],
    /// Std of the Gaussian noise added to the input in training (0.15).
    pub noise: f64,
    /// Dropout after each max-pool (0.5).
    pub dropout: f64,
    /// Negative slope of the leaky ReLU (0.1).
    pub slope: f64,
}

/// One convolution or dense layer with its normalisation, before the
/// nonlinearity.
#[derive(Debug)]
enum Unit {
    None(FixedScale),
    /// A bias-free layer (weights N(0, 0.05), as the authors' `batch_norm`
    /// redraws them) and their batch norm: eps 1e-6 inside the square root,
    /// running averages updated by 0.1 of each batch's, the variance's
    /// corrected by B/(B-1).
    Batch(Plain, BatchNorm),
    Weight(WeightNorm),
    WeightMeanbn(WeightNorm, MeanOnlyBn),
}

/// The authors' `sqrt(1e-6 + var)` and `0.9*avg + 0.1*batch`
/// (lasagne/nn.py:121-131, `BatchNormLayer`).
const BN_EPS: f64 = 1e-6;
const BN_MOMENTUM: f64 = 0.1;

impl Unit {
    fn new(p: &nn::Path, norm: Norm, op: Op, inputs: i64, outputs: i64, kernel: i64) -> Unit {
        match norm {
            Norm::None => Unit::None(FixedScale::new(p, op, inputs, outputs, kernel)),
            Norm::Batch => {
                let normal = Init::Randn {
                    mean: 0.0,
                    stdev: 0.05,
                };
                let layer = Plain::new(p, op, inputs, outputs, kernel, false, normal);
                Unit::Batch(
                    layer,
                    BatchNorm::new(&(p / "bn"), outputs, BN_EPS, BN_MOMENTUM),
                )
            }
            Norm::Weight => Unit::Weight(WeightNorm::new(p, op, inputs, outputs, kernel, true)),
            Norm::WeightMeanbn => Unit::WeightMeanbn(
                WeightNorm::new(p, op, inputs, outputs, kernel, false),
                MeanOnlyBn::new(&(p / "meanbn"), outputs),
            ),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Unit::None(l) => l.forward(x),
            Unit::Batch(l, bn) => l.forward(x).apply_t(bn, train),
            Unit::Weight(l) => l.forward(x),
            Unit::WeightMeanbn(l, bn) => bn.forward_t(&l.forward(x), train),
        }
    }

    /// The authors' init pass through this unit: data-dependent scale and
    /// bias, except under batch norm, which normalises with the batch's
    /// statistics and changes nothing (its running averages included).
    fn init(&self, x: &Tensor) -> Tensor {
        match self {
            Unit::None(l) => l.init(x),
            Unit::Batch(l, bn) => bn.normalise_batch(&l.forward(x)),
            Unit::Weight(l) => l.init(x),
            Unit::WeightMeanbn(l, bn) => bn.centre(&l.init(x)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Train,
    Eval,
    /// The data-dependent initialisation: training mode (noise, dropout),
    /// each unit initialised on what the units below it now give.
    Init,
}

#[derive(Debug)]
pub struct WnNet {
    /// conv1..conv7, nin1, nin2, dense.
    units: Vec<Unit>,
    noise: f64,
    dropout: f64,
    slope: f64,
}

impl WnNet {
    /// Data-dependent initialisation on the (prepared) batch `x`.
    pub fn init(&self, x: &Tensor) {
        let _ = tch::no_grad(|| self.run(x, Pass::Init));
    }

    fn run(&self, x: &Tensor, pass: Pass) -> Tensor {
        let train = pass != Pass::Eval;
        let unit = |i: usize, h: &Tensor| match pass {
            Pass::Init => self.units[i].init(h),
            _ => self.units[i].forward_t(h, train),
        };
        let mut h = if train && self.noise > 0.0 {
            x + x.randn_like() * self.noise
        } else {
            x.shallow_clone()
        };
        // The nine convolutions, a 2x2 max-pool and dropout after the third and sixth.
        for (i, &pool) in [false, false, true, false, false, true, false, false, false]
            .iter()
            .enumerate()
        {
            h = leaky_relu(&unit(i, &h), self.slope);
            if pool {
                h = h
                    .max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
                    .dropout(self.dropout, train);
            }
        }
        unit(9, &h.mean_dim([2, 3].as_slice(), false, h.kind()))
    }
}

impl ModuleT for WnNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.run(x, if train { Pass::Train } else { Pass::Eval })
    }
}

/// Build the network under `p`: "conv1".."conv7", "nin1", "nin2", "dense".
pub fn net(p: &nn::Path, cfg: &NetConfig) -> WnNet {
    let [a, b] = cfg.widths;
    // (name, op, inputs, outputs, kernel)
    let layers = [
        ("conv1", Op::conv(1), cfg.in_channels, a, 3),
        ("conv2", Op::conv(1), a, a, 3),
        ("conv3", Op::conv(1), a, a, 3),
        ("conv4", Op::conv(1), a, b, 3),
        ("conv5", Op::conv(1), b, b, 3),
        ("conv6", Op::conv(1), b, b, 3),
        ("conv7", Op::conv(0), b, b, 3),
        ("nin1", Op::conv(0), b, b, 1),
        ("nin2", Op::conv(0), b, b, 1),
        ("dense", Op::Linear, b, cfg.classes, 0),
    ];
    WnNet {
        units: layers
            .iter()
            .map(|&(name, op, i, o, k)| Unit::new(&(p / name), cfg.norm, op, i, o, k))
            .collect(),
        noise: cfg.noise,
        dropout: cfg.dropout,
        slope: cfg.slope,
    }
}
