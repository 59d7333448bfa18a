//! Flags of `train-wn`. The defaults are the authors' CIFAR-10 recipe
//! (openai/weightnorm, lasagne/train.py) except two: the dataset is
//! Fashion-MNIST, so a bare run works on a CPU without CIFAR-10, and the
//! learning rate is 0.003, the value the paper reports, where the code's
//! default is 0.001. The presets experiments/wn-*.toml spell the recipe out.

use super::model::{NetConfig, Norm, MIN_SIZE};
use crate::error::{usage, Result};
use crate::optim::schedule::{HoldThenLinear, Scheduled, Switch};
use crate::optim::{AdamConfig, Hyper, OptimConfig};
use crate::runner::args::{ClassData, Common};
use crate::runner::session::RunConfig;
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
    #[arg(long, default_value_t = 500)]
    pub init_batch: i64,
    /// ZCA-whiten the scaled input (fitted on the training set, cached under --data-dir/zca); --zca off for datasets where it makes no sense.
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set, value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    pub zca: bool,
    /// ZCA regularisation added to every eigenvalue.
    #[arg(long, default_value_t = 1e-5)]
    pub zca_reg: f64,
    /// Widths of the first three convolutions and of the six later layers.
    #[arg(long, value_delimiter = ',', default_value = "96,192")]
    pub widths: Vec<i64>,
    /// Std of the Gaussian noise added to the input in training.
    #[arg(long, default_value_t = 0.15)]
    pub noise: f64,
    /// Dropout after each max-pool.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f64,
    /// Negative slope of the leaky ReLU.
    #[arg(long, default_value_t = 0.1)]
    pub leaky: f64,
    /// The learning rate falls linearly to 0 over the second half, and beta1 switches to --beta1-late there.
    #[arg(long, default_value_t = 200)]
    pub epochs: i64,
    #[arg(long, default_value_t = 100)]
    pub batch_size: i64,
    /// Adam's learning rate for the first half (the authors' code: 0.001).
    #[arg(long, default_value_t = 0.003)]
    pub lr: f64,
    /// Adam's beta1 for the first half.
    #[arg(long, default_value_t = 0.9)]
    pub beta1: f64,
    /// Adam's beta1 for the second half.
    #[arg(long, default_value_t = 0.5)]
    pub beta1_late: f64,
    #[arg(long, default_value_t = 0.999)]
    pub beta2: f64,
}

impl RunConfig for TrainWnArgs {
    fn common(&self) -> &Common {
        &self.common
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
    fn checked(self) -> Result<Self> {
        self.check()?;
        Ok(self)
    }
}

impl TrainWnArgs {
    /// Check the flags that clap cannot, before any data is read.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size),
            ("--init-batch", self.init_batch),
        ];
        self.data.check()?;
        for (flag, v) in positive {
            if v < 1 {
                return Err(usage(format!("{flag} {v}: expected a positive integer")));
            }
        }
        if !matches!(self.widths[..], [a, b] if a > 0 && b > 0) {
            return Err(usage(format!(
                "--widths {}: expected two positive widths, e.g. 96,192",
                join(&self.widths)
            )));
        }
        let in_unit = [
            ("--dropout", self.dropout),
            ("--beta1", self.beta1),
            ("--beta1-late", self.beta1_late),
            ("--beta2", self.beta2),
        ];
        if let Some((flag, v)) = in_unit.iter().find(|(_, v)| !(0.0..1.0).contains(v)) {
            return Err(usage(format!("{flag} {v}: expected a value in [0, 1)")));
        }
        let positive = [("--lr", self.lr), ("--zca-reg", self.zca_reg)];
        if let Some((flag, v)) = positive.iter().find(|(_, v)| *v <= 0.0) {
            return Err(usage(format!("{flag} {v}: expected a positive number")));
        }
        if self.noise < 0.0 {
            return Err(usage(format!(
                "--noise {}: expected a standard deviation, 0 or more",
                self.noise
            )));
        }
        Ok(())
    }

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

    /// Adam with --lr, --beta1 and --beta2 (PyTorch's epsilon, 1e-8).
    pub fn optim_config(&self) -> OptimConfig {
        OptimConfig::Adam(AdamConfig {
            beta1: self.beta1,
            beta2: self.beta2,
            ..AdamConfig::new(self.lr)
        })
    }

    /// The first epoch of the second half, where beta1 switches (101 of 200).
    fn second_half(&self) -> i64 {
        self.epochs / 2 + 1
    }

    /// beta1: --beta1 in the first half, --beta1-late from the second.
    pub fn beta1_schedule(&self) -> Switch {
        Switch {
            before: self.beta1,
            after: self.beta1_late,
            from: self.second_half(),
        }
    }

    /// The authors' schedules: lr constant, then falling linearly over the
    /// second half; beta1 switching at its start.
    pub fn schedules(&self) -> Vec<Scheduled> {
        let lr = HoldThenLinear {
            base: self.lr,
            hold: self.second_half() - 1,
            end: self.epochs,
        };
        vec![
            Scheduled::new(Hyper::Lr, lr),
            Scheduled::new(Hyper::Beta1, self.beta1_schedule()),
        ]
    }
}

fn join(values: &[i64]) -> String {
    values
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
