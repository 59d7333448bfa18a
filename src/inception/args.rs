//! Flags of `train-inception`. The defaults are the paper's recipe (RMSProp
//! with decay 0.9, momentum 0.9 and epsilon 1.0, lr 0.045 at batch 32 decayed
//! by 0.94 every 2 epochs, clipping at 2.0, label smoothing 0.1, dropout
//! keep 0.8, weight decay 4e-5, weight EMA 0.9999) on ImageNet at 299x299.

use super::crops::COUNTS;
use super::data::DataSpec;
use super::eval::Settings;
use super::net::{Arch, Config, MIN_SIZE};
use crate::error::{usage, Result};
use crate::optim::schedule::{Scheduled, StepDecay};
use crate::optim::{Hyper, OptimConfig, RmsPropConfig};
use crate::ranges;
use crate::runner::args::Common;
use crate::runner::engine::classify::ClassifierOptions;
use crate::runner::engine::session::RunConfig;
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::Device;

#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainInceptionArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value = "inception-v4")]
    pub model: Arch,
    /// Print the layer table (output shapes at --image-size, parameters) and exit; reads no data.
    #[arg(long)]
    #[serde(skip)]
    pub summary: bool,
    /// imagenet (DATA_DIR/imagenet/{train,val}/<class>/*.JPEG), imagenet:PATH, fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse or folder:PATH.
    #[arg(long, default_value = "imagenet")]
    pub dataset: DataSpec,
    /// Use N training images (in-memory datasets: the first N; a folder: N evenly spaced through it).
    #[arg(long, value_parser = ranges::positive_int)]
    pub train_limit: Option<i64>,
    /// Use N validation images (the test split of in-memory datasets), chosen like --train-limit.
    #[arg(long, value_parser = ranges::positive_int)]
    pub val_limit: Option<i64>,
    /// Input size (square); at least 75.
    #[arg(long, default_value_t = 299, value_parser = image_size)]
    pub image_size: i64,
    /// Multiplies every filter count (1.0 = the paper).
    #[arg(long, default_value_t = 1.0, value_parser = ranges::positive)]
    pub width: f64,
    /// Classifier outputs (default: the dataset's classes; 1000 for --summary). Given with --init-from, a classifier of another size in the file is replaced.
    #[arg(long, value_parser = ranges::positive_int)]
    pub classes: Option<i64>,
    /// Overrides every residual block's scale (Inception-ResNets; the paper: 0.1 to 0.3, 1.0 shows the instability).
    #[arg(long, value_parser = ranges::non_negative)]
    pub residual_scale: Option<f64>,
    /// Start from these weights (timm state-dict names, safetensors), or a train-inception checkpoint.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Only evaluate the --init-from weights (no training).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub eval_only: bool,
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub epochs: i64,
    #[arg(long, default_value_t = 32, value_parser = ranges::positive_int)]
    pub batch_size: i64,
    /// Learning rate at batch size --lr-batch; scaled linearly with --batch-size.
    #[arg(long, default_value_t = 0.045, value_parser = ranges::positive)]
    pub lr: f64,
    /// The batch size --lr is meant for.
    #[arg(long, default_value_t = 32, value_parser = ranges::positive_int)]
    pub lr_batch: i64,
    /// The learning rate is multiplied by this every --lr-decay-epochs epochs.
    #[arg(long, default_value_t = 0.94, value_parser = ranges::positive)]
    pub lr_decay: f64,
    #[arg(long, default_value_t = 2, value_parser = ranges::positive_int)]
    pub lr_decay_epochs: i64,
    /// RMSProp's decay of the mean square.
    #[arg(long, default_value_t = 0.9, value_parser = ranges::fraction)]
    pub rmsprop_decay: f64,
    #[arg(long, default_value_t = 0.9, value_parser = ranges::fraction)]
    pub momentum: f64,
    /// RMSProp's epsilon, inside the square root (TensorFlow's RMSProp).
    #[arg(long, default_value_t = 1.0, value_parser = ranges::positive)]
    pub rmsprop_eps: f64,
    /// Clip the global gradient norm to this (0 = no clipping).
    #[arg(long, default_value_t = 2.0, value_parser = ranges::non_negative)]
    pub clip_grad_norm: f64,
    #[arg(long, default_value_t = 0.1, value_parser = ranges::fraction)]
    pub label_smoothing: f64,
    /// Dropout keep probability before the classifier.
    #[arg(long, default_value_t = 0.8, value_parser = ranges::keep_probability)]
    pub dropout_keep: f64,
    /// L2 weight decay of the convolution and classifier weights (not BatchNorm or biases, as TF-slim).
    #[arg(long, default_value_t = 4e-5, value_parser = ranges::non_negative)]
    pub weight_decay: f64,
    /// Decay of the moving average of the weights used for evaluation (0 = evaluate the weights themselves).
    #[arg(long, default_value_t = 0.9999, value_parser = ranges::fraction)]
    pub ema_decay: f64,
    /// BatchNorm momentum, PyTorch convention (TF-slim's decay 0.9997 is 0.0003).
    #[arg(long, default_value_t = 0.1, value_parser = ranges::closed_fraction)]
    pub bn_momentum: f64,
    /// Crops per validation image for the final evaluation: 1, 10 or 144 (per-epoch evaluations use 1).
    #[arg(long, default_value_t = 1, value_parser = parse_crops)]
    pub crops: i64,
    /// Evaluation resize = image size / crop-pct before cropping (default: timm's 0.875 for v4 and v1, 0.8975 for v2 on imagenet; 1.0 for in-memory datasets; 1.0 = no border cropped).
    #[arg(long, value_parser = ranges::keep_probability)]
    pub crop_pct: Option<f64>,
    /// Threads decoding images (default: the CPU threads of --threads or this process's share of the CPUs, at most 16).
    #[arg(long, value_parser = ranges::threads)]
    pub workers: Option<usize>,
}

impl RunConfig for TrainInceptionArgs {
    const COMMAND: &'static str = "train-inception";
    fn common(&self) -> &Common {
        &self.common
    }
    fn global_batch(&self) -> i64 {
        self.batch_size
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
    /// What the flags' ranges cannot say: how flags combine (before
    /// anything is read or created).
    fn checked(self) -> Result<Self> {
        if self.residual_scale.is_some() && self.model == Arch::InceptionV4 {
            return Err(usage(
                "--residual-scale: inception-v4 has no residual blocks; use --model inception-resnet-v1 or inception-resnet-v2",
            ));
        }
        if self.eval_only && self.init_from.is_none() {
            return Err(usage(
                "--eval-only evaluates given weights: pass --init-from FILE.safetensors",
            ));
        }
        Ok(self)
    }
}

impl ClassifierOptions for TrainInceptionArgs {
    fn epochs(&self) -> i64 {
        self.epochs
    }
    /// TensorFlow's RMSProp (eps inside the root, the learning rate inside
    /// the momentum buffer), as the paper trained.
    fn optim_config(&self) -> OptimConfig {
        OptimConfig::RmsProp(RmsPropConfig {
            alpha: self.rmsprop_decay,
            eps: self.rmsprop_eps,
            momentum: self.momentum,
            tf_style: true,
            ..RmsPropConfig::new(self.lr)
        })
    }
    /// The learning rate, scaled linearly to the batch size and multiplied
    /// by --lr-decay every --lr-decay-epochs epochs.
    fn schedules(&self) -> Vec<Scheduled> {
        vec![Scheduled::new(
            Hyper::Lr,
            StepDecay {
                base: self.lr * self.batch_size as f64 / self.lr_batch as f64,
                factor: self.lr_decay,
                every: self.lr_decay_epochs,
            },
        )]
    }
}

fn parse_crops(s: &str) -> std::result::Result<i64, String> {
    match s.parse::<i64>() {
        Ok(n) if COUNTS.contains(&n) => Ok(n),
        _ => Err(format!("expected 1, 10 or 144, got {s:?}")),
    }
}

/// --image-size: at least [`MIN_SIZE`].
fn image_size(s: &str) -> std::result::Result<i64, String> {
    match s.trim().parse::<i64>() {
        Ok(size) if size >= MIN_SIZE => Ok(size),
        _ => Err(format!(
            "expected at least {MIN_SIZE} (the networks' valid-padding stem and reductions leave 1x1 at 75)"
        )),
    }
}

impl TrainInceptionArgs {
    pub fn net_config(&self, classes: i64) -> Config {
        Config {
            width: self.width,
            residual_scale: self.residual_scale,
            keep: self.dropout_keep,
            bn_momentum: self.bn_momentum,
            ..Config::new(self.model, classes)
        }
    }

    /// --workers, else this process's CPU threads, at most 16.
    pub fn workers(&self) -> Result<usize> {
        match self.workers {
            Some(n) => Ok(n),
            None => Ok(self.common.compute.cpu_threads()?.intra.min(16)),
        }
    }

    /// --crop-pct, else the model's on ImageNet, else 1.0.
    pub fn crop_pct(&self) -> f64 {
        self.crop_pct.unwrap_or(match self.dataset {
            DataSpec::ImageNet(_) => self.model.crop_pct(),
            DataSpec::Memory(_) => 1.0,
        })
    }

    pub fn eval_settings(&self, crops: i64, device: Device) -> Result<Settings> {
        Ok(Settings {
            crops,
            crop_pct: self.crop_pct(),
            size: self.image_size,
            batch_size: self.batch_size,
            workers: self.workers()?,
            device,
        })
    }
}
