//! Flags of `train-gan` and `eval-parzen`. The defaults are the values of the
//! authors' MNIST model (goodfeli/adversarial, mnist.yaml); the preset
//! experiments/gan-mlp.toml spells them out.

use super::mlp::MlpConfig;
use super::nets::{GanConfig, Latent, ModelConfig, Noise};
use crate::data::DatasetName;
use crate::error::{usage, Result};
use crate::optim::schedule::{LinearRamp, PerStepDecay, Scheduled};
use crate::optim::{Hyper, OptimConfig, SgdConfig};
use crate::runner::args::{Common, EvalCommon};
use crate::runner::session::RunConfig;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which generator/discriminator pair to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// The paper's MNIST model: a ReLU MLP generator, a maxout discriminator.
    Mlp,
}

/// What G minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GLoss {
    /// -log D(G(z)): strong gradients early on (the paper's section 3).
    NonSaturating,
    /// log(1 - D(G(z))): the minimax game as written; saturates early.
    Minimax,
}

#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainGanArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[arg(long, value_enum, default_value_t = Model::Mlp)]
    pub model: Model,
    /// mnist, fashion-mnist, cifar10, ... or folder:PATH, flattened, pixels in
    /// [0, 1] (default: mnist when <data-dir>/mnist exists, else fashion-mnist).
    #[arg(long)]
    pub dataset: Option<DatasetName>,
    /// Hold out the last N training images as validation (sigma selection and
    /// --parzen-every estimates), as the authors held out MNIST's last 10,000.
    #[arg(long, default_value_t = 10_000)]
    pub valid_size: i64,
    /// Train on only the first N of the remaining training images.
    #[arg(long)]
    pub train_limit: Option<i64>,
    #[arg(long, value_enum, default_value_t = Noise::Normal)]
    pub noise: Noise,
    /// Dimension of z.
    #[arg(long, default_value_t = 100)]
    pub noise_dim: i64,
    /// Width of each of G's two ReLU layers.
    #[arg(long, default_value_t = 1200)]
    pub g_hidden: i64,
    /// Maxout units in each of D's two hidden layers.
    #[arg(long, default_value_t = 240)]
    pub d_units: i64,
    /// Pieces per maxout unit.
    #[arg(long, default_value_t = 5)]
    pub d_pieces: i64,
    /// G's weights are uniform in [-r, r] (biases zero; the output bias is the
    /// logit of the per-pixel training mean).
    #[arg(long, default_value_t = 0.05)]
    pub g_init: f64,
    /// D's weights are uniform in [-r, r] (biases zero).
    #[arg(long, default_value_t = 0.005)]
    pub d_init: f64,
    /// Probability of keeping each of D's input pixels (kept ones scaled by 1/p).
    #[arg(long, default_value_t = 0.8)]
    pub d_input_include: f64,
    /// Probability of keeping each input of D's later layers (scaled by 1/p).
    #[arg(long, default_value_t = 0.5)]
    pub d_hidden_include: f64,
    /// The authors' config has no stopping rule; 250 is where momentum saturates.
    #[arg(long, default_value_t = 250)]
    pub epochs: i64,
    #[arg(long, default_value_t = 100)]
    pub batch_size: i64,
    /// Learning rate of the first update (G and D alike).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// The learning rate is divided by this after every update...
    #[arg(long, default_value_t = 1.000004)]
    pub lr_decay: f64,
    /// ...down to this floor.
    #[arg(long, default_value_t = 1e-6)]
    pub lr_min: f64,
    /// Momentum in epoch 1.
    #[arg(long, default_value_t = 0.5)]
    pub momentum: f64,
    /// Momentum from epoch --momentum-saturate on, reached linearly.
    #[arg(long, default_value_t = 0.7)]
    pub final_momentum: f64,
    #[arg(long, default_value_t = 250)]
    pub momentum_saturate: i64,
    /// k: discriminator updates (each on its own real batch) per generator update.
    #[arg(long, default_value_t = 1)]
    pub d_steps: i64,
    #[arg(long, value_enum, default_value_t = GLoss::NonSaturating)]
    pub g_loss: GLoss,
    /// Every N epochs, a quick Parzen estimate on validation images (0: never);
    /// the best checkpoint is then the one with the highest estimate.
    #[arg(long, default_value_t = 0)]
    pub parzen_every: i64,
    /// G samples used as centres by the --parzen-every estimate.
    #[arg(long, default_value_t = 1000)]
    pub parzen_samples: i64,
    /// The estimate picks sigma on the first N validation images and reports
    /// the log-likelihood of the next N.
    #[arg(long, default_value_t = 1000)]
    pub parzen_valid: i64,
}

impl RunConfig for TrainGanArgs {
    fn common(&self) -> &Common {
        &self.common
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

impl TrainGanArgs {
    /// Check the flags clap cannot and fill in the default dataset.
    pub fn checked(mut self) -> Result<TrainGanArgs> {
        let positive = [
            ("--noise-dim", self.noise_dim),
            ("--g-hidden", self.g_hidden),
            ("--d-units", self.d_units),
            ("--d-pieces", self.d_pieces),
            ("--epochs", self.epochs),
            ("--batch-size", self.batch_size),
            ("--momentum-saturate", self.momentum_saturate),
            ("--d-steps", self.d_steps),
            ("--parzen-samples", self.parzen_samples),
            ("--parzen-valid", self.parzen_valid),
        ];
        for (flag, v) in positive {
            if v < 1 {
                return Err(usage(format!("{flag} {v}: expected a positive integer")));
            }
        }
        for (flag, p) in [
            ("--d-input-include", self.d_input_include),
            ("--d-hidden-include", self.d_hidden_include),
        ] {
            if !(p > 0.0 && p <= 1.0) {
                return Err(usage(format!(
                    "{flag} {p}: expected a probability in (0, 1]"
                )));
            }
        }
        if !(self.lr > 0.0 && self.lr_min >= 0.0 && self.lr_decay >= 1.0) {
            return Err(usage(format!(
                "--lr {}, --lr-decay {}, --lr-min {}: expected lr > 0, decay >= 1, floor >= 0",
                self.lr, self.lr_decay, self.lr_min
            )));
        }
        if self.valid_size < 0 || self.parzen_every < 0 {
            return Err(usage(format!(
                "--valid-size {} and --parzen-every {} cannot be negative",
                self.valid_size, self.parzen_every
            )));
        }
        if self.parzen_every > self.epochs {
            return Err(usage(format!(
                "--parzen-every {} exceeds --epochs {}: no estimate would be made",
                self.parzen_every, self.epochs
            )));
        }
        if self.parzen_every > 0 && self.valid_size < 2 {
            return Err(usage(format!(
                "--parzen-every needs validation images; --valid-size {} is too small",
                self.valid_size
            )));
        }
        if self.dataset.is_none() {
            self.dataset = Some(default_dataset(&self.common.data_dir));
        }
        Ok(self)
    }

    /// The dataset, after [`Self::checked`] filled in the default.
    pub fn dataset(&self) -> DatasetName {
        self.dataset
            .clone()
            .unwrap_or_else(|| default_dataset(&self.common.data_dir))
    }

    /// G and D's networks.
    pub fn gan_config(&self) -> GanConfig {
        let model = match self.model {
            Model::Mlp => ModelConfig::Mlp(MlpConfig {
                g_hidden: self.g_hidden,
                d_units: self.d_units,
                d_pieces: self.d_pieces,
                g_init: self.g_init,
                d_init: self.d_init,
                d_input_include: self.d_input_include,
                d_hidden_include: self.d_hidden_include,
            }),
        };
        GanConfig {
            latent: Latent {
                noise: self.noise,
                dim: self.noise_dim,
            },
            model,
        }
    }

    /// G's and D's optimizer (each its own, with the same settings):
    /// pylearn2's SGD with momentum, the same as PyTorch's at a constant lr.
    pub fn optim_config(&self) -> OptimConfig {
        OptimConfig::Sgd(SgdConfig {
            momentum: self.momentum,
            ..SgdConfig::new(self.lr)
        })
    }

    /// The learning rate divided by --lr-decay after every update down to
    /// --lr-min (pylearn2's ExponentialDecay); momentum from --momentum in
    /// epoch 1 to --final-momentum at --momentum-saturate (its
    /// MomentumAdjustor, start 1).
    pub fn schedules(&self) -> Vec<Scheduled> {
        vec![
            Scheduled::new(
                Hyper::Lr,
                PerStepDecay {
                    base: self.lr,
                    divisor: self.lr_decay,
                    floor: self.lr_min,
                },
            ),
            Scheduled::new(
                Hyper::Momentum,
                LinearRamp {
                    from: self.momentum,
                    to: self.final_momentum,
                    saturate: self.momentum_saturate,
                },
            ),
        ]
    }
}

/// mnist when it is there, else fashion-mnist (which `make setup` links).
fn default_dataset(data_dir: &Path) -> DatasetName {
    if DatasetName::Mnist.dir(data_dir).is_dir() {
        DatasetName::Mnist
    } else {
        DatasetName::FashionMnist
    }
}

#[derive(Args, Debug, Clone)]
pub struct EvalParzenArgs {
    #[command(flatten)]
    pub common: EvalCommon,
    /// G samples used as the Parzen window's centres.
    #[arg(long, default_value_t = 10_000)]
    pub samples: i64,
    /// Candidate sigmas LO:HI:N, N values log-spaced from LO to HI (numpy.logspace).
    #[arg(long, default_value = "0.1:1:10", value_parser = parse_sigmas)]
    pub sigmas: Sigmas,
    /// Use this sigma instead of choosing one on validation images.
    #[arg(long, conflicts_with = "sigmas")]
    pub sigma: Option<f64>,
    /// Choose sigma on the first N validation images.
    #[arg(long, default_value_t = 1000)]
    pub valid_limit: i64,
    /// Use only the first N test images.
    #[arg(long)]
    pub test_limit: Option<i64>,
}

/// The candidate sigmas of --sigmas (a newtype, so clap takes one value).
#[derive(Debug, Clone, PartialEq)]
pub struct Sigmas(pub Vec<f64>);

/// Parse LO:HI:N into N log-spaced values from LO to HI.
pub fn parse_sigmas(s: &str) -> std::result::Result<Sigmas, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("expected LO:HI:N with 0 < LO <= HI and N >= 1, e.g. 0.1:1:10; got {s:?}");
    let [lo, hi, n] = parts.as_slice() else {
        return Err(bad());
    };
    let (lo, hi, n) = match (lo.parse::<f64>(), hi.parse::<f64>(), n.parse::<usize>()) {
        (Ok(lo), Ok(hi), Ok(n)) if lo > 0.0 && lo <= hi && hi.is_finite() && n >= 1 => (lo, hi, n),
        _ => return Err(bad()),
    };
    Ok(Sigmas(logspace(lo.log10(), hi.log10(), n)))
}

/// numpy.logspace(a, b, n): 10^a .. 10^b, n values.
pub fn logspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    let step = if n > 1 { (b - a) / (n - 1) as f64 } else { 0.0 };
    (0..n).map(|i| 10f64.powf(a + step * i as f64)).collect()
}
