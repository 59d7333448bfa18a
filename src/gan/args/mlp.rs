//! train-gan --model mlp: Goodfellow et al.'s MNIST model's flags.

use super::GanCommon;
use crate::data::DatasetName;
use crate::error::{usage, Result};
use crate::gan::mlp::MlpConfig;
use crate::optim::schedule::{LinearRamp, PerStepDecay, Scheduled};
use crate::optim::Hyper;
use crate::ranges;
use clap::Args;
use serde::{Deserialize, Serialize};

/// train-gan --model mlp: the flags of Goodfellow et al.'s MNIST model.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct MlpGanArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub gan: GanCommon,
    /// mnist, fashion-mnist, cifar10, ... or folder:PATH; pixels in [0, 1]
    /// (default: mnist, else fashion-mnist).
    #[arg(long)]
    pub dataset: Option<DatasetName>,
    /// Hold out the last N training images as validation (sigma selection
    /// and --parzen-every estimates), as the authors held out MNIST's last
    /// 10,000.
    #[arg(long, default_value_t = 10_000, value_parser = ranges::count)]
    pub valid_size: i64,
    /// Dimension of z.
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub noise_dim: i64,
    /// Width of each of G's two ReLU layers.
    #[arg(long, default_value_t = 1200, value_parser = ranges::positive_int)]
    pub g_hidden: i64,
    /// Maxout units in each of D's two hidden layers.
    #[arg(long, default_value_t = 240, value_parser = ranges::positive_int)]
    pub d_units: i64,
    /// Pieces per maxout unit.
    #[arg(long, default_value_t = 5, value_parser = ranges::positive_int)]
    pub d_pieces: i64,
    /// G's weights are uniform in [-r, r] (biases zero; the output bias is the
    /// logit of the per-pixel training mean).
    #[arg(long, default_value_t = 0.05, value_parser = ranges::non_negative)]
    pub g_init: f64,
    /// D's weights are uniform in [-r, r] (biases zero).
    #[arg(long, default_value_t = 0.005, value_parser = ranges::non_negative)]
    pub d_init: f64,
    /// Probability of keeping each of D's input pixels (kept ones scaled by 1/p).
    #[arg(long, default_value_t = 0.8, value_parser = ranges::keep_probability)]
    pub d_input_include: f64,
    /// Probability of keeping each input of D's later layers (scaled by 1/p).
    #[arg(long, default_value_t = 0.5, value_parser = ranges::keep_probability)]
    pub d_hidden_include: f64,
    /// Epochs (250: where momentum saturates).
    #[arg(long, default_value_t = 250, value_parser = ranges::positive_int)]
    pub epochs: i64,
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub batch_size: i64,
    /// SGD's learning rate of the first update, G and D alike.
    #[arg(long, default_value_t = 0.1, value_parser = ranges::positive)]
    pub lr: f64,
    /// The learning rate is divided by this after every update...
    #[arg(long, default_value_t = 1.000004, value_parser = ranges::at_least_one)]
    pub lr_decay: f64,
    /// ...down to this floor.
    #[arg(long, default_value_t = 1e-6, value_parser = ranges::non_negative)]
    pub lr_min: f64,
    /// Momentum in epoch 1.
    #[arg(long, default_value_t = 0.5, value_parser = ranges::fraction)]
    pub momentum: f64,
    /// Momentum from epoch --momentum-saturate on, reached linearly.
    #[arg(long, default_value_t = 0.7, value_parser = ranges::fraction)]
    pub final_momentum: f64,
    #[arg(long, default_value_t = 250, value_parser = ranges::positive_int)]
    pub momentum_saturate: i64,
    /// k: discriminator updates (each on its own real batch) per generator update.
    #[arg(long, default_value_t = 1, value_parser = ranges::positive_int)]
    pub d_steps: i64,
    /// Every N epochs, a quick Parzen estimate on validation images (0: never);
    /// the best checkpoint is then the one with the highest estimate.
    #[arg(long, default_value_t = 0, value_parser = ranges::count)]
    pub parzen_every: i64,
    /// G samples used as centres by the --parzen-every estimate.
    #[arg(long, default_value_t = 1000, value_parser = ranges::positive_int)]
    pub parzen_samples: i64,
    /// The estimate picks sigma on the first N validation images and reports
    /// the log-likelihood of the next N.
    #[arg(long, default_value_t = 1000, value_parser = ranges::positive_int)]
    pub parzen_valid: i64,
}

impl MlpGanArgs {
    /// What the flags' ranges cannot say (how flags combine), and the
    /// default dataset filled in (so config.json records what ran).
    pub(super) fn checked(mut self) -> Result<MlpGanArgs> {
        self.dataset = Some(self.dataset());
        if self.gan.common.channels_last {
            return Err(usage(
                "--channels-last: --model mlp has no convolutions; the flag is for the conv nets (--model dcgan)",
            ));
        }
        if self.parzen_every > self.epochs {
            return Err(usage(format!(
                "--parzen-every {} exceeds --epochs {}: no estimate would be made",
                self.parzen_every, self.epochs
            )));
        }
        if self.parzen_every > 0 && self.valid_size < 2 {
            return Err(usage(format!(
                "--parzen-every needs validation images (--valid-size {})",
                self.valid_size
            )));
        }
        if let Some(patience) = self.gan.common.early_stop {
            if self.parzen_every == 0 || patience < self.parzen_every {
                return Err(usage(format!(
                    "--early-stop {patience}: --model mlp watches the Parzen estimate, made every --parzen-every {} epochs (0: never); give --parzen-every N with N at most the patience",
                    self.parzen_every
                )));
            }
        }
        Ok(self)
    }

    /// The dataset: --dataset, else MNIST where it is found, else Fashion-MNIST.
    pub fn dataset(&self) -> DatasetName {
        self.dataset.clone().unwrap_or_else(|| {
            match DatasetName::Mnist.dir(&self.gan.common.data_dir).is_dir() {
                true => DatasetName::Mnist,
                false => DatasetName::FashionMnist,
            }
        })
    }

    pub(super) fn net_config(&self) -> MlpConfig {
        MlpConfig {
            g_hidden: self.g_hidden,
            d_units: self.d_units,
            d_pieces: self.d_pieces,
            g_init: self.g_init,
            d_init: self.d_init,
            d_input_include: self.d_input_include,
            d_hidden_include: self.d_hidden_include,
        }
    }

    /// See [`TrainGanArgs::schedules`].
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
