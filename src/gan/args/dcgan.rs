//! train-gan --model dcgan: Xiang & Li's DCGAN's flags.

use super::{GanCommon, GanData};
use crate::data::DatasetName;
use crate::error::{usage, Result};
use crate::gan::dcgan::{default_levels, DcganConfig, GanNorm};
use crate::gan::reconstruct::ReconConfig;
use crate::ranges;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// How a dcgan run's running and final sets are drawn from one seeded
/// permutation `perm` of every image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// running = perm[:running], final = the next --final: two separate
    /// sets, so the final test measures images the running test never chose
    /// a checkpoint by.
    #[default]
    Disjoint,
    /// The authors' split_data.py: running = perm[:running], final =
    /// perm[:final] (the final set holds the running set), train on the rest.
    Authors,
}

/// The running reconstruction test's default learning rate (the authors'
/// --test_lr), also eval-reconstruction's for runs without one.
pub const TEST_LR: f64 = 0.01;

/// train-gan --model dcgan: the flags of Xiang & Li's DCGAN.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct DcganArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub gan: GanCommon,
    /// mnist, fashion-mnist, cifar10, ..., folder:PATH or images:PATH; pixels
    /// in [0, 1]; a named dataset's images are padded to 32x32 (default:
    /// cifar10, else fashion-mnist).
    #[arg(long)]
    pub dataset: Option<GanData>,
    /// Dimension of z (the authors' --code_size).
    #[arg(long, alias = "code-size", default_value_t = 128, value_parser = ranges::positive_int)]
    pub noise_dim: i64,
    /// The normalization of Xiang & Li's comparison.
    #[arg(long, value_enum, default_value_t = GanNorm::Weight)]
    pub norm: GanNorm,
    /// D's first convolution has this many features, doubled at each level; G mirrors D.
    #[arg(long, default_value_t = 64, value_parser = ranges::positive_int)]
    pub features: i64,
    /// Side of the square images (default 64 for images:PATH; cifar10 and padded fashion-mnist are 32).
    #[arg(long, value_parser = ranges::positive_int)]
    pub image_size: Option<i64>,
    /// D's stride-2 levels and G's transposed ones (the authors'
    /// --nlayer; default: halve the side while it is at least 8, as they do).
    #[arg(long, alias = "nlayer", value_parser = ranges::positive_int)]
    pub levels: Option<i64>,
    /// On images:PATH: keep the centre N x N of every image before the
    /// resize to --image-size (the authors' --crop_size; 160 for CelebA).
    #[arg(long, value_parser = ranges::positive_int)]
    pub crop_size: Option<i64>,
    /// Least-squares losses on D's outputs instead of binary cross-entropy.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub ls: bool,
    /// Epochs of --test-interval iterations (100: the authors' 100,000 iterations).
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub epochs: i64,
    #[arg(long, default_value_t = 32, value_parser = ranges::positive_int)]
    pub batch_size: i64,
    /// RMSProp's learning rate, G and D alike.
    #[arg(long, default_value_t = 1e-4, value_parser = ranges::positive)]
    pub lr: f64,
    /// Held-out images reconstructed during training (best.safetensors: the lowest mean MSE).
    #[arg(long, default_value_t = 200, value_parser = ranges::positive_int)]
    pub running: i64,
    /// Held-out images kept for eval-reconstruction's final test.
    #[arg(long = "final", default_value_t = 2000, value_parser = ranges::positive_int)]
    #[serde(rename = "final")]
    pub final_images: i64,
    /// How the held-out sets are drawn from one seeded permutation.
    #[arg(long, value_enum, default_value_t = Split::Disjoint)]
    #[serde(default)]
    pub split: Split,
    /// An epoch is this many iterations; each ends with the running reconstruction test.
    #[arg(long, default_value_t = 1000, value_parser = ranges::positive_int)]
    pub test_interval: i64,
    /// RMSProp steps of the running reconstruction test.
    #[arg(long, default_value_t = 50, value_parser = ranges::positive_int)]
    pub test_steps: i64,
    /// Learning rate of the reconstruction test's RMSProp.
    #[arg(long, default_value_t = TEST_LR, value_parser = ranges::positive)]
    pub test_lr: f64,
}

impl DcganArgs {
    /// What the flags' ranges cannot say (how flags combine), and the
    /// default dataset filled in (so config.json records what ran).
    pub(super) fn checked(mut self) -> Result<DcganArgs> {
        self.dataset = Some(self.dataset());
        if self.crop_size.is_some() && !matches!(self.dataset(), GanData::Images { .. }) {
            return Err(usage(format!(
                "--crop-size: crops images:PATH folders before the resize; --dataset {} is padded to 32x32 instead",
                self.dataset()
            )));
        }
        if self.split == Split::Authors && self.running > self.final_images {
            return Err(usage(format!(
                "--split authors: --running {} exceeds --final {}; the running set is the final set's first images",
                self.running, self.final_images
            )));
        }
        Ok(self)
    }

    /// The dataset: --dataset, else CIFAR-10 where it is found, else
    /// Fashion-MNIST.
    pub fn dataset(&self) -> GanData {
        self.dataset.clone().unwrap_or_else(|| {
            GanData::Named(
                match DatasetName::Cifar10.dir(&self.gan.common.data_dir).is_dir() {
                    true => DatasetName::Cifar10,
                    false => DatasetName::FashionMnist,
                },
            )
        })
    }

    /// --levels, else the authors' count for images of `size`.
    pub fn levels(&self, size: i64) -> i64 {
        self.levels.unwrap_or(default_levels(size))
    }

    pub(super) fn net_config(&self, channels: i64, size: i64) -> DcganConfig {
        DcganConfig {
            norm: self.norm,
            features: self.features,
            levels: self.levels(size),
            image_size: size,
            channels,
        }
    }

    /// The running reconstruction test's settings.
    pub fn recon_config(&self) -> ReconConfig {
        ReconConfig {
            steps: self.test_steps,
            lr: self.test_lr,
            batch_size: self.batch_size,
        }
    }
}
