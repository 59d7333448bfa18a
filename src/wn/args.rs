//! Flags of `train-wn`. The defaults are the authors' CIFAR-10 recipe
//! (openai/weightnorm, lasagne/train.py) except two: the dataset is
//! Fashion-MNIST, so a bare run works on a CPU without CIFAR-10, and the
//! learning rate is 0.003, the value the paper reports, where the code's
//! default is 0.001. The presets experiments/wn-*.toml spell the recipe out.
//! The schedule is in absolute epochs, as the authors': a run shorter than
//! --decay-after trains at constant lr and beta1.

use super::model::{NetConfig, Norm, MIN_SIZE};
use crate::error::{usage, Result};
use crate::optim::schedule::{HoldThenLinear, Scheduled, Switch};
use crate::optim::{AdamConfig, Hyper, OptimConfig};
use crate::ranges;
use crate::runner::args::{ClassData, Common};
use crate::runner::engine::classify::ClassifierOptions;
use crate::runner::engine::session::RunConfig;
use clap::builder::BoolishValueParser;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// How the network's scales and biases start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitMode {
    /// The paper's data-dependent initialisation on --init-batch training images.
    Data,
    /// Leave the layers as drawn (g = 1, b = 0 under weight norm).
    Default,
}

#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainWnArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[command(flatten)]
    #[serde(flatten)]
    pub data: ClassData,
    /// What wraps every convolution and the dense layer.
    #[arg(long, value_enum, default_value_t = Norm::Weight)]
    pub norm: Norm,
    /// data: each unit starts zero-mean, unit-variance on --init-batch images; default: as drawn.
    #[arg(long, value_enum, default_value_t = InitMode::Data)]
    pub init: InitMode,
    /// Training images the data-dependent initialisation sees (the first of epoch 1's order).
    #[arg(long, default_value_t = 500, value_parser = ranges::positive_int)]
    pub init_batch: i64,
    /// ZCA-whiten the scaled input (fitted on the training set, cached under --data-dir/zca); --zca off for datasets where it makes no sense.
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub zca: bool,
    /// ZCA regularisation added to every eigenvalue.
    #[arg(long, default_value_t = 1e-5, value_parser = ranges::positive)]
    pub zca_reg: f64,
    /// Widths of the first three convolutions and of the six later layers.
    #[arg(long, value_delimiter = ',', default_value = "96,192", value_parser = ranges::positive_int)]
    pub widths: Vec<i64>,
    /// Std of the Gaussian noise added to the input in training.
    #[arg(long, default_value_t = 0.15, value_parser = ranges::non_negative)]
    pub noise: f64,
    /// Dropout after each max-pool.
    #[arg(long, default_value_t = 0.5, value_parser = ranges::fraction)]
    pub dropout: f64,
    /// Negative slope of the leaky ReLU.
    #[arg(long, default_value_t = 0.1, value_parser = ranges::non_negative)]
    pub leaky: f64,
    /// Epochs to train: 200 is the authors' whole schedule, fewer its start.
    #[arg(long, default_value_t = 200, value_parser = ranges::positive_int)]
    pub epochs: i64,
    /// Epochs at --lr and --beta1 before the decay; from the next one beta1 is --beta1-late and the lr falls.
    #[arg(long, default_value_t = 100, value_parser = ranges::count)]
    pub decay_after: i64,
    /// Epochs of the linear decay: the lr is lr*(1 - k/D) in its k-th epoch (k from 0), lr/D in its last.
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub decay_epochs: i64,
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub batch_size: i64,
    /// Adam's learning rate before the decay (the authors' code: 0.001).
    #[arg(long, default_value_t = 0.003, value_parser = ranges::positive)]
    pub lr: f64,
    /// Adam's beta1 before the decay.
    #[arg(long, default_value_t = 0.9, value_parser = ranges::fraction)]
    pub beta1: f64,
    /// Adam's beta1 during the decay.
    #[arg(long, default_value_t = 0.5, value_parser = ranges::fraction)]
    pub beta1_late: f64,
    #[arg(long, default_value_t = 0.999, value_parser = ranges::fraction)]
    pub beta2: f64,
}

impl RunConfig for TrainWnArgs {
    const COMMAND: &'static str = "train-wn";
    fn common(&self) -> &Common {
        &self.common
    }
    fn global_batch(&self) -> i64 {
        self.batch_size
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
    /// What the flags' ranges cannot say: how flags combine (before any
    /// data is read).
    fn checked(self) -> Result<Self> {
        let end = self.decay_after + self.decay_epochs;
        if self.epochs > end {
            return Err(usage(format!(
                "--epochs {}: beyond the schedule's end, epoch {end} (--decay-after {} + --decay-epochs {}), after which the learning rate is 0",
                self.epochs, self.decay_after, self.decay_epochs
            )));
        }
        if self.widths.len() != 2 {
            return Err(usage(format!(
                "--widths: {} values given; expected two widths, e.g. 96,192",
                self.widths.len()
            )));
        }
        Ok(self)
    }
}

impl ClassifierOptions for TrainWnArgs {
    fn epochs(&self) -> i64 {
        self.epochs
    }
    /// The authors' Adam (lasagne/nn.py:73-90): --lr, --beta1, --beta2, and
    /// 1e-8 added inside the square root, `sqrt(v_hat + 1e-8)`.
    fn optim_config(&self) -> OptimConfig {
        OptimConfig::Adam(AdamConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            eps_in_sqrt: true,
            ..AdamConfig::new(self.lr)
        })
    }
    /// The authors' schedules, in absolute epochs whatever --epochs is, so
    /// a shorter run is the start of the paper's (lasagne/train.py:119-125,
    /// `lr * min(2 - epoch/100, 1)` for 0-based epochs of 200): lr constant
    /// until --decay-after, then falling linearly over --decay-epochs;
    /// beta1 switching where the decay starts.
    fn schedules(&self) -> Vec<Scheduled> {
        let lr = HoldThenLinear {
            base: self.lr,
            hold: self.decay_after,
            end: self.decay_after + self.decay_epochs,
        };
        vec![
            Scheduled::new(Hyper::Lr, lr),
            Scheduled::new(Hyper::Beta1, self.beta1_schedule()),
        ]
    }
}

impl TrainWnArgs {
    /// The network's config for images [channels, height, width] of
    /// --dataset with `classes` classes (flags already checked).
    pub fn net_config(&self, shape: [i64; 3], classes: i64) -> Result<NetConfig> {
        let [channels, height, width] = shape;
        if height.min(width) < MIN_SIZE {
            return Err(usage(format!(
                "--dataset {}: its {height}x{width} images are too small for this network, which needs at least {MIN_SIZE}x{MIN_SIZE}",
                self.data.dataset
            )));
        }
        Ok(NetConfig {
            norm: self.norm,
            in_channels: channels,
            classes,
            widths: [self.widths[0], self.widths[1]],
            noise: self.noise,
            dropout: self.dropout,
            slope: self.leaky,
        })
    }

    /// beta1: --beta1 for the first --decay-after epochs, then --beta1-late
    /// (train.py:122-125: 0.9 while the 0-based epoch is below 100).
    pub fn beta1_schedule(&self) -> Switch {
        Switch {
            before: self.beta1,
            after: self.beta1_late,
            from: self.decay_after + 1,
        }
    }
}
