//! The convolutional pair of Xiang & Li, "On the Effects of Batch and Weight
//! Normalization in Generative Adversarial Networks" (arXiv 1704.03971),
//! built as the authors' build_discriminator and build_generator do
//! (stormraiser/GAN-weight-norm, pytorch/model.py), in four --norm variants.
//!
//! D: `levels` 4x4 stride-2 convs, features doubling from --features, then
//! a conv over the remaining spatial size to one value. G mirrors it: a
//! linear map from z to the smallest feature map, transposed 4x4 stride-2
//! convs halving the features, and a last one to the data's channels, then
//! a sigmoid. Variables are named as the authors' modules ("level.1.conv",
//! "initial.batchnorm", "final.conv", ...), so the VarStore reads like their
//! state_dict.
//!
//! Padding (model.py lines 16-28 and 68-85): a level whose input side w has
//! w % 4 == 2 pads by 2 instead of 1, so that every level's input stays
//! even; D's last level pads by 1; G undoes D's sizes exactly. Every even
//! --image-size of at least 8 works, not only powers of two, with the
//! levels the authors derive from it or any other count (--levels, their
//! --nlayer) up to the one that leaves D a 1 x 1 map.

use crate::error::{self, Result};
use crate::layers::activation::{PReLU, TPReLU};
use crate::layers::gan_weight_norm::NormedLayer;
use crate::layers::weight_norm::Op;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Init, ModuleT, SequentialT};

/// Which normalization both networks use (model.py's `norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GanNorm {
    /// The paper's vanilla baseline: plain convs and linear layers (with
    /// bias) and PReLU after every hidden layer.
    None,
    /// Batch norm after every hidden layer but D's first (model.py line 36),
    /// and after G's initial linear layer; never on the final layers. PReLU.
    Batch,
    /// The paper's proposal: strict weight-normalized hidden layers (no
    /// scale, no bias) each followed by a TPReLU, whose learned shift stands
    /// in for the missing bias; D's final conv and G's last transposed conv
    /// are affine (WeightNormalizedConv2d's defaults, model.py lines 51 and
    /// 129), so the output logits and pixels get their scale and offset.
    Weight,
    /// Affine weight-normalized layers everywhere (scale and bias) with
    /// plain PReLU: the ablation showing that the strict form matters.
    WeightAffine,
}

impl GanNorm {
    /// Whether the convs and linear layers are weight-normalized.
    fn normed(self) -> bool {
        matches!(self, GanNorm::Weight | GanNorm::WeightAffine)
    }
}

/// The sizes and variant of the DCGAN pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DcganConfig {
    pub norm: GanNorm,
    /// D's first level's features (doubling per level); G's last hidden
    /// level's (doubling towards its input). The authors' --nfeature.
    pub features: i64,
    /// D's stride-2 levels and G's transposed ones (the authors' --nlayer);
    /// [`default_levels`] is what they derive from the size.
    pub levels: i64,
    /// Square images of image_size x image_size.
    pub image_size: i64,
    /// The data's channels: 3 (CIFAR-10, CelebA), 1 (Fashion-MNIST).
    pub channels: i64,
}

/// The levels the authors derive when --nlayer is not given (main.py lines
/// 134-139): halve, rounding up, while the side is at least 8. 32 -> 3,
/// 64 -> 4, 128 -> 5, 160 -> 5.
pub fn default_levels(image_size: i64) -> i64 {
    let (mut side, mut levels) = (image_size, 0);
    while side >= 8 {
        side = (side + 1) / 2;
        levels += 1;
    }
    levels
}

/// The most levels a side of `size` takes: D's sizes (model.py lines 16-48)
/// until its last level leaves 1 x 1. A further level would only repeat a
/// padded 2 x 2 map with twice the features.
fn max_levels(size: i64) -> i64 {
    let (mut side, mut levels) = (size, 1);
    while side > 2 {
        side = (side + 2 * i64::from(side % 4 == 2)) / 2;
        levels += 1;
    }
    levels
}

impl DcganConfig {
    /// Refuses what the networks cannot be built for: an odd or too small
    /// --image-size (model.py lines 10-11 and 61-62 require even sides; below
    /// 8 there is no stride-2 level), --features below 1, or --levels outside
    /// 1 to the count that brings D's last map to 1 x 1.
    pub fn check(&self) -> Result<()> {
        let size = self.image_size;
        if size < 8 || size % 2 != 0 {
            return Err(error::usage(format!(
                "--image-size {size}: the DCGAN needs an even size of at least 8 \
                 (such as 32, 64 or 128); images are resized and centre-cropped to it"
            )));
        }
        if self.features < 1 {
            return Err(error::usage(format!(
                "--features {}: D's first level needs at least 1 feature (the paper uses 64)",
                self.features
            )));
        }
        let most = max_levels(size);
        if !(1..=most).contains(&self.levels) {
            return Err(error::usage(format!(
                "--levels {}: {size}x{size} images take 1 to {most} levels \
                 (default {}, as the authors derive it)",
                self.levels,
                default_levels(size)
            )));
        }
        Ok(())
    }
}

/// A bound of PyTorch's default init, uniform in +-1/sqrt(fan), which the
/// authors' plain nn.Linear, nn.Conv2d and nn.ConvTranspose2d got for weights
/// and biases alike (fan = in_features, or in_channels * k^2 for both convs
/// in the PyTorch of their time).
fn torch_default(fan: i64) -> Init {
    let bound = 1.0 / (fan as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Where a linear or conv layer sits, which decides its weight-normalized
/// form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// G's linear map from z: hidden, with init_factor 0.01 when
    /// weight-normalized (model.py line 89; the plain nn.Linear has
    /// PyTorch's init).
    Initial,
    /// A hidden conv: strict for `weight`.
    Hidden,
    /// D's final conv and G's last transposed conv: affine for `weight`
    /// (WeightNormalizedConv2d's defaults, model.py lines 51 and 129).
    Last,
}

/// Appends one linear or conv layer of the variant under `p`: a plain layer
/// with bias for none and batch; a weight-normalized one otherwise, affine
/// for the last layers or everywhere for weight-affine.
#[allow(clippy::too_many_arguments)]
fn weighted(
    seq: SequentialT,
    p: nn::Path,
    norm: GanNorm,
    role: Role,
    op: Op,
    inputs: i64,
    outputs: i64,
    kernel: i64,
) -> SequentialT {
    if norm.normed() {
        let affine = role == Role::Last || norm == GanNorm::WeightAffine;
        let init_factor = if role == Role::Initial { 0.01 } else { 1.0 };
        let layer = NormedLayer::new(p, op, inputs, outputs, kernel, affine, init_factor);
        return seq.add(layer);
    }
    match op {
        Op::Linear => {
            let init = torch_default(inputs);
            let config = nn::LinearConfig {
                ws_init: init,
                bs_init: Some(init),
                bias: true,
            };
            seq.add(nn::linear(p, inputs, outputs, config))
        }
        Op::Conv2d { stride, padding } => {
            let init = torch_default(inputs * kernel * kernel);
            let config = nn::ConvConfig {
                stride,
                padding,
                ws_init: init,
                bs_init: init,
                ..Default::default()
            };
            seq.add(nn::conv2d(p, inputs, outputs, kernel, config))
        }
        Op::ConvTranspose2d {
            stride,
            padding,
            output_padding,
        } => {
            let init = torch_default(inputs * kernel * kernel);
            let config = nn::ConvTransposeConfig {
                stride,
                padding,
                output_padding,
                ws_init: init,
                bs_init: init,
                ..Default::default()
            };
            seq.add(nn::conv_transpose2d(p, inputs, outputs, kernel, config))
        }
    }
}

/// Appends batch norm under `p`/batchnorm for the batch variant, and the
/// variant's activation under `p`/prelu or `p`/tprelu (model.py lines 36-44
/// and 97-102).
fn norm_and_activation(
    seq: SequentialT,
    p: &nn::Path,
    norm: GanNorm,
    with_bn: bool,
    channels: i64,
) -> SequentialT {
    let seq = if norm == GanNorm::Batch && with_bn {
        // tch's defaults are PyTorch's: eps 1e-5, momentum 0.1, and the
        // gamma uniform in [0, 1) as BatchNorm2d drew it in the authors' time.
        seq.add(nn::batch_norm2d(
            p / "batchnorm",
            channels,
            Default::default(),
        ))
    } else {
        seq
    };
    if norm == GanNorm::Weight {
        seq.add(TPReLU::new(p / "tprelu", channels))
    } else {
        seq.add(PReLU::new(p / "prelu", channels))
    }
}

/// Every level's conv (transposed in G) is 4x4 with stride 2.
const KERNEL: i64 = 4;
const STRIDE: i64 = 2;

/// G under `p`: z [B, code_size] -> images [B, channels, S, S] in [0, 1]
/// (model.py build_generator, lines 59-134). Call [`DcganConfig::check`]
/// first.
pub fn generator(p: &nn::Path, cfg: &DcganConfig, code_size: i64) -> impl ModuleT {
    let levels = cfg.levels;
    // pads[l]: the extra padding of level l, counted from the output
    // (level 0 makes the image); the innermost level never pads.
    let (mut pads, mut side, mut f) = (vec![], cfg.image_size, cfg.features);
    for _ in 0..levels - 1 {
        let pad = i64::from(side % 4 == 2);
        pads.push(pad);
        side = (side + 2 * pad) / 2;
        f *= 2;
    }
    pads.push(0);
    let side = side / 2;

    let initial = p / "initial";
    let (norm, linear) = (cfg.norm, &initial / "linear");
    let seq = weighted(
        nn::seq_t(),
        linear,
        norm,
        Role::Initial,
        Op::Linear,
        code_size,
        f * side * side,
        0,
    );
    let seq = seq.add_fn(move |x| x.view([-1, f, side, side]));
    let mut seq = norm_and_activation(seq, &initial, norm, true, f);
    for level in (1..levels).rev() {
        let lp = p / "level" / level;
        let op = Op::ConvTranspose2d {
            stride: STRIDE,
            padding: 1 + pads[level as usize],
            output_padding: 0,
        };
        seq = weighted(seq, &lp / "conv", norm, Role::Hidden, op, f, f / 2, KERNEL);
        seq = norm_and_activation(seq, &lp, norm, true, f / 2);
        f /= 2;
    }
    let op = Op::ConvTranspose2d {
        stride: STRIDE,
        padding: 1 + pads[0],
        output_padding: 0,
    };
    let conv = p / "level" / 0 / "conv";
    weighted(seq, conv, norm, Role::Last, op, f, cfg.channels, KERNEL).add_fn(|x| x.sigmoid())
}

/// D under `p`: images [B, channels, S, S] in [0, 1] -> one logit per
/// image, [B] (model.py build_discriminator, lines 8-57). The authors end
/// with a sigmoid and BCELoss; the trainer takes the logit to BCE with
/// logits instead, the same loss without the sigmoid's overflow. Call
/// [`DcganConfig::check`] first.
pub fn discriminator(p: &nn::Path, cfg: &DcganConfig) -> impl ModuleT {
    let (levels, norm) = (cfg.levels, cfg.norm);
    let (mut seq, mut f_prev, mut f, mut side) =
        (nn::seq_t(), cfg.channels, cfg.features, cfg.image_size);
    for i in 0..levels {
        let pad = i64::from(i < levels - 1 && side % 4 == 2);
        let lp = p / "level" / i;
        let op = Op::Conv2d {
            stride: STRIDE,
            padding: 1 + pad,
        };
        seq = weighted(seq, &lp / "conv", norm, Role::Hidden, op, f_prev, f, KERNEL);
        seq = norm_and_activation(seq, &lp, norm, i > 0, f);
        f_prev = f;
        f *= 2;
        side = (side + 2 * pad) / 2;
    }
    let op = Op::Conv2d {
        stride: 1,
        padding: 0,
    };
    let conv = p / "final" / "conv";
    weighted(seq, conv, norm, Role::Last, op, f_prev, 1, side).add_fn(|x| x.reshape([-1]))
}
