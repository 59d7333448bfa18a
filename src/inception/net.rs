//! The three networks behind one type: stages (the trunk up to the final
//! pool, under timm's names), global average pooling, dropout and the linear
//! classifier. [`Net::features_t`] exposes the activations entering the final
//! pool, so training can log how many are exactly zero.

use super::blocks::{Ctx, Stages, Unit};
use super::{resnet_v1, resnet_v2, v4};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// The smallest input the valid-padding stems accept: 75x75 leaves 1x1
/// after the last reduction.
pub const MIN_SIZE: i64 = 75;

/// Input channels: RGB (grey-scale datasets are repeated across the three).
pub const CHANNELS: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    #[value(name = "inception-v4")]
    InceptionV4,
    #[value(name = "inception-resnet-v1")]
    InceptionResnetV1,
    #[value(name = "inception-resnet-v2")]
    InceptionResnetV2,
}

impl Arch {
    /// timm's name of the classifier layer.
    pub fn classifier(self) -> &'static str {
        match self {
            Arch::InceptionV4 => "last_linear",
            Arch::InceptionResnetV1 | Arch::InceptionResnetV2 => "classif",
        }
    }

    /// timm's evaluation crop_pct (v1 has no released weights: v4's).
    pub fn crop_pct(self) -> f64 {
        match self {
            Arch::InceptionV4 | Arch::InceptionResnetV1 => 0.875,
            Arch::InceptionResnetV2 => 0.8975,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub arch: Arch,
    pub classes: i64,
    /// Filter-count multiplier (1.0 = the paper).
    pub width: f64,
    /// Overrides every residual block's scale (Inception-ResNets only).
    pub residual_scale: Option<f64>,
    /// Dropout keep probability before the classifier (the paper: 0.8).
    pub keep: f64,
    /// BatchNorm momentum, PyTorch convention.
    pub bn_momentum: f64,
}

impl Config {
    /// The paper's network at 1000 classes.
    pub fn new(arch: Arch, classes: i64) -> Config {
        Config {
            arch,
            classes,
            width: 1.0,
            residual_scale: None,
            keep: 0.8,
            bn_momentum: 0.1,
        }
    }
}

#[derive(Debug)]
pub struct Net {
    pub arch: Arch,
    stages: Vec<(String, Unit)>,
    classifier: nn::Linear,
    /// Channels entering the final pool.
    pub features: i64,
    pub classes: i64,
    drop: f64,
    /// Run the trunk on channels-last (NHWC-strided) tensors: the same
    /// results up to float rounding, and faster convolutions (oneDNN on the
    /// CPU, cuDNN on GPUs). On by default.
    pub channels_last: bool,
}

/// Build the network of `cfg` under `p` (the root of a VarStore, for timm's names).
pub fn build(p: &nn::Path, cfg: &Config) -> Net {
    let ctx = Ctx {
        width: cfg.width,
        bn_momentum: cfg.bn_momentum,
    };
    let mut s = Stages::new(p.clone(), CHANNELS);
    match cfg.arch {
        Arch::InceptionV4 => v4::stages(&ctx, &mut s),
        Arch::InceptionResnetV1 => resnet_v1::stages(&ctx, &mut s, cfg.residual_scale),
        Arch::InceptionResnetV2 => resnet_v2::stages(&ctx, &mut s, cfg.residual_scale),
    }
    let classifier = nn::linear(
        p / cfg.arch.classifier(),
        s.c,
        cfg.classes,
        Default::default(),
    );
    Net {
        arch: cfg.arch,
        features: s.c,
        stages: s.list,
        classifier,
        classes: cfg.classes,
        drop: 1.0 - cfg.keep,
        channels_last: true,
    }
}

impl Net {
    /// The activations entering the final pool, [B, features, h, w].
    pub fn features_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = if self.channels_last {
            to_channels_last(x)
        } else {
            x.shallow_clone()
        };
        for (_, unit) in &self.stages {
            y = unit.forward_t(&y, train);
        }
        y
    }

    /// Global average pool, dropout, classifier.
    pub fn head_t(&self, features: &Tensor, train: bool) -> Tensor {
        features
            .mean_dim([2i64, 3].as_slice(), false, None::<Kind>)
            .dropout(self.drop, train)
            .apply(&self.classifier)
    }

    /// Each stage's name and output [C, H, W] for a size x size input,
    /// computed from the layer geometry (no forward pass); None from the
    /// first stage the input is too small for.
    pub fn stage_shapes(&self, size: i64) -> Vec<(String, Option<[i64; 3]>)> {
        let mut shape = Some([CHANNELS, size, size]);
        self.stages
            .iter()
            .map(|(name, unit)| {
                shape = shape.and_then(|s| unit.shape(s));
                (name.clone(), shape)
            })
            .collect()
    }

    /// Each stage's name and actual output shape from a forward pass of `x`
    /// (evaluation mode, no gradients).
    pub fn forward_shapes(&self, x: &Tensor) -> Vec<(String, Vec<i64>)> {
        tch::no_grad(|| {
            let mut y = if self.channels_last {
                to_channels_last(x)
            } else {
                x.shallow_clone()
            };
            self.stages
                .iter()
                .map(|(name, unit)| {
                    y = unit.forward_t(&y, false);
                    (name.clone(), y.size())
                })
                .collect()
        })
    }
}

impl ModuleT for Net {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.head_t(&self.features_t(x, train), train)
    }
}

/// The same [B, C, H, W] tensor laid out channels-last (strides of NHWC),
/// which convolutions, BatchNorm, pooling and concatenation then keep.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}
