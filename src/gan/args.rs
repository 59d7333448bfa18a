//! Flags of `train-gan`, `eval-parzen` and `eval-reconstruction`. The
//! defaults are the authors' values for each --model: the MNIST model of
//! goodfeli/adversarial (mnist.yaml) for mlp, the CelebA runs of
//! stormraiser/GAN-weight-norm (pytorch/main.py) for dcgan; the presets
//! experiments/gan-*.toml spell them out.

use super::dcgan::{default_levels, DcganConfig, GanNorm};
use super::mlp::MlpConfig;
use super::nets::{GanConfig, Latent, ModelConfig, Noise};
use super::reconstruct::ReconConfig;
use crate::data::DatasetName;
use crate::error::{usage, Result};
use crate::optim::schedule::{Constant, LinearRamp, PerStepDecay, Scheduled};
use crate::optim::{Hyper, OptimConfig, RmsPropConfig, SgdConfig};
use crate::ranges;
use crate::runner::args::{Common, EvalCommon};
use crate::runner::engine::session::RunConfig;
use clap::{Args, ValueEnum};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which generator/discriminator pair to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Goodfellow et al.'s MNIST model: a ReLU MLP generator, a maxout
    /// discriminator, SGD with momentum.
    Mlp,
    /// Xiang & Li's convolutional GAN (DCGAN-style) with the --norm of
    /// their comparison, RMSProp, and the reconstruction measure.
    Dcgan,
}

/// The defaults that differ between the models.
struct ModelDefaults {
    lr: f64,
    batch_size: i64,
    epochs: i64,
    noise_dim: i64,
}

impl Model {
    fn defaults(self) -> ModelDefaults {
        match self {
            // mnist.yaml: lr 0.1, batch 100, z of 100; 250 epochs (momentum saturates there).
            Model::Mlp => ModelDefaults {
                lr: 0.1,
                batch_size: 100,
                epochs: 250,
                noise_dim: 100,
            },
            // pytorch/main.py: lr 1e-4, batch 32, code 128, 100,000 iterations
            // (100 intervals of --test-interval 1000).
            Model::Dcgan => ModelDefaults {
                lr: 1e-4,
                batch_size: 32,
                epochs: 100,
                noise_dim: 128,
            },
        }
    }
}

/// What train-gan trains on: a dataset paperlab knows (mnist, fashion-mnist,
/// cifar10, ... or folder:PATH), or `images:PATH`, every image under PATH
/// (CelebA or LSUN exported as images), resized and centre-cropped.
/// Saved in config.json as the flag string.
#[derive(Debug, Clone, PartialEq)]
pub enum GanData {
    Named(DatasetName),
    Images { images: PathBuf },
}

impl Serialize for GanData {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GanData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        /// The flag string, or the untagged form that runs saved before
        /// paperlab wrote the flag ({"images": PATH}, a dataset's old form).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Saved {
            Flag(String),
            Images { images: PathBuf },
            Named(DatasetName),
        }
        match Saved::deserialize(d)? {
            Saved::Flag(s) => match s.strip_prefix("images:") {
                Some(path) => Ok(GanData::Images {
                    images: path.into(),
                }),
                None => DatasetName::from_saved(&s)
                    .map(GanData::Named)
                    .map_err(de::Error::custom),
            },
            Saved::Images { images } => Ok(GanData::Images { images }),
            Saved::Named(name) => Ok(GanData::Named(name)),
        }
    }
}

impl FromStr for GanData {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.strip_prefix("images:") {
            Some(path) => Ok(GanData::Images {
                images: path.into(),
            }),
            None => s.parse().map(GanData::Named),
        }
    }
}

impl fmt::Display for GanData {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            GanData::Named(name) => write!(f, "{name}"),
            GanData::Images { images } => write!(f, "images:{}", images.display()),
        }
    }
}

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
    /// mnist, fashion-mnist, cifar10, ..., folder:PATH or images:PATH; pixels
    /// in [0, 1] (default: mnist, else fashion-mnist for mlp; cifar10, else
    /// fashion-mnist for dcgan, which pads it to 32x32).
    #[arg(long)]
    pub dataset: Option<GanData>,
    /// mlp: hold out the last N training images as validation (sigma
    /// selection and --parzen-every estimates), as the authors held out
    /// MNIST's last 10,000.
    #[arg(long, default_value_t = 10_000, value_parser = ranges::count)]
    pub valid_size: i64,
    /// Train on only the first N of the remaining training images.
    #[arg(long, value_parser = ranges::positive_int)]
    pub train_limit: Option<i64>,
    #[arg(long, value_enum, default_value_t = Noise::Normal)]
    pub noise: Noise,
    /// Dimension of z (default: 100 for mlp, 128 for dcgan).
    #[arg(long, alias = "code-size", value_parser = ranges::positive_int)]
    pub noise_dim: Option<i64>,
    /// dcgan: the normalization of Xiang & Li's comparison.
    #[arg(long, value_enum, default_value_t = GanNorm::Weight)]
    pub norm: GanNorm,
    /// dcgan: D's first convolution has this many features, doubled at each level; G mirrors D.
    #[arg(long, default_value_t = 64, value_parser = ranges::positive_int)]
    pub features: i64,
    /// dcgan: side of the square images (default 64 for images:PATH; cifar10 and padded fashion-mnist are 32).
    #[arg(long, value_parser = ranges::positive_int)]
    pub image_size: Option<i64>,
    /// dcgan: D's stride-2 levels and G's transposed ones (the authors'
    /// --nlayer; default: halve the side while it is at least 8, as they do).
    #[arg(long, alias = "nlayer", value_parser = ranges::positive_int)]
    pub levels: Option<i64>,
    /// dcgan on images:PATH: keep the centre N x N of every image before the
    /// resize to --image-size (the authors' --crop_size; 160 for CelebA).
    #[arg(long, value_parser = ranges::positive_int)]
    pub crop_size: Option<i64>,
    /// dcgan: least-squares losses on D's outputs instead of binary cross-entropy.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub ls: bool,
    /// dcgan: held-out images reconstructed during training (best.safetensors: the lowest mean MSE).
    #[arg(long, default_value_t = 200, value_parser = ranges::positive_int)]
    pub running: i64,
    /// dcgan: held-out images kept for eval-reconstruction's final test.
    #[arg(long = "final", default_value_t = 2000, value_parser = ranges::positive_int)]
    #[serde(rename = "final")]
    pub final_images: i64,
    /// dcgan: how the held-out sets are drawn from one seeded permutation.
    #[arg(long, value_enum, default_value_t = Split::Disjoint)]
    #[serde(default)]
    pub split: Split,
    /// dcgan: an epoch is this many iterations; each ends with the running reconstruction test.
    #[arg(long, default_value_t = 1000, value_parser = ranges::positive_int)]
    pub test_interval: i64,
    /// dcgan: RMSProp steps of the running reconstruction test.
    #[arg(long, default_value_t = 50, value_parser = ranges::positive_int)]
    pub test_steps: i64,
    /// dcgan: learning rate of the reconstruction test's RMSProp.
    #[arg(long, default_value_t = 0.01, value_parser = ranges::positive)]
    pub test_lr: f64,
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
    /// Epochs (default: 250 for mlp, where momentum saturates; for dcgan,
    /// 100 of --test-interval iterations, the authors' 100,000).
    #[arg(long, value_parser = ranges::positive_int)]
    pub epochs: Option<i64>,
    /// Default: 100 for mlp, 32 for dcgan.
    #[arg(long, value_parser = ranges::positive_int)]
    pub batch_size: Option<i64>,
    /// Learning rate of the first update, G and D alike (default: 0.1 for
    /// mlp's SGD, 1e-4 for dcgan's RMSProp).
    #[arg(long, value_parser = ranges::positive)]
    pub lr: Option<f64>,
    /// mlp: the learning rate is divided by this after every update...
    #[arg(long, default_value_t = 1.000004, value_parser = ranges::at_least_one)]
    pub lr_decay: f64,
    /// mlp: ...down to this floor.
    #[arg(long, default_value_t = 1e-6, value_parser = ranges::non_negative)]
    pub lr_min: f64,
    /// mlp: momentum in epoch 1.
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
    #[arg(long, value_enum, default_value_t = GLoss::NonSaturating)]
    pub g_loss: GLoss,
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

impl RunConfig for TrainGanArgs {
    const COMMAND: &'static str = "train-gan";
    fn common(&self) -> &Common {
        &self.common
    }
    fn global_batch(&self) -> i64 {
        self.batch_size()
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
    /// What the flags' ranges cannot say (how flags combine), and the
    /// model's defaults and the default dataset filled in (so config.json
    /// records what ran).
    fn checked(mut self) -> Result<TrainGanArgs> {
        let d = self.model.defaults();
        self.lr = Some(self.lr.unwrap_or(d.lr));
        self.batch_size = Some(self.batch_size.unwrap_or(d.batch_size));
        self.epochs = Some(self.epochs.unwrap_or(d.epochs));
        self.noise_dim = Some(self.noise_dim.unwrap_or(d.noise_dim));
        self.dataset = Some(self.dataset());
        if self.common.channels_last && self.model == Model::Mlp {
            return Err(usage(
                "--channels-last: --model mlp has no convolutions; the flag is for the conv nets (--model dcgan)",
            ));
        }
        if self.parzen_every > self.epochs() {
            return Err(usage(format!(
                "--parzen-every {} exceeds --epochs {}: no estimate would be made",
                self.parzen_every,
                self.epochs()
            )));
        }
        if let (Some(patience), Model::Mlp) = (self.common.early_stop, self.model) {
            if self.parzen_every == 0 || patience < self.parzen_every {
                return Err(usage(format!(
                    "--early-stop {patience}: --model mlp watches the Parzen estimate, made every --parzen-every {} epochs (0: never); give --parzen-every N with N at most the patience",
                    self.parzen_every
                )));
            }
        }
        if self.parzen_every > 0 && (self.valid_size < 2 || self.model != Model::Mlp) {
            return Err(usage(format!(
                "--parzen-every needs --model mlp and validation images (--valid-size {})",
                self.valid_size
            )));
        }
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
        if self.model == Model::Dcgan && self.d_steps != 1 {
            return Err(usage(
                "--d-steps: the dcgan model makes one D step per G step, as the authors' code",
            ));
        }
        Ok(self)
    }
}

impl TrainGanArgs {
    /// The dataset: --dataset, else the model's default.
    pub fn dataset(&self) -> GanData {
        self.dataset.clone().unwrap_or_else(|| {
            let dir = &self.common.data_dir;
            let named = match self.model {
                Model::Mlp if DatasetName::Mnist.dir(dir).is_dir() => DatasetName::Mnist,
                Model::Dcgan if DatasetName::Cifar10.dir(dir).is_dir() => DatasetName::Cifar10,
                _ => DatasetName::FashionMnist,
            };
            GanData::Named(named)
        })
    }

    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(self.model.defaults().lr)
    }

    pub fn batch_size(&self) -> i64 {
        self.batch_size.unwrap_or(self.model.defaults().batch_size)
    }

    pub fn epochs(&self) -> i64 {
        self.epochs.unwrap_or(self.model.defaults().epochs)
    }

    pub fn noise_dim(&self) -> i64 {
        self.noise_dim.unwrap_or(self.model.defaults().noise_dim)
    }

    /// dcgan: --levels, else the authors' count for images of `size`.
    pub fn levels(&self, size: i64) -> i64 {
        self.levels.unwrap_or(default_levels(size))
    }

    /// G and D's networks, for images of `channels` x `size` x `size`
    /// (the dcgan builders need them; the mlp's take the shape at build time).
    pub fn gan_config(&self, channels: i64, size: i64) -> GanConfig {
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
            Model::Dcgan => ModelConfig::Dcgan(DcganConfig {
                norm: self.norm,
                features: self.features,
                levels: self.levels(size),
                image_size: size,
                channels,
            }),
        };
        GanConfig {
            latent: Latent {
                noise: self.noise,
                dim: self.noise_dim(),
            },
            model,
        }
    }

    /// G's and D's optimizer (each its own, with the same settings). mlp:
    /// pylearn2's SGD with momentum, the same as PyTorch's at a constant lr;
    /// dcgan: RMSProp with alpha 0.9 and eps 1e-6 (pytorch/main.py).
    pub fn optim_config(&self) -> OptimConfig {
        match self.model {
            Model::Mlp => OptimConfig::Sgd(SgdConfig {
                momentum: self.momentum,
                ..SgdConfig::new(self.lr())
            }),
            Model::Dcgan => OptimConfig::RmsProp(RmsPropConfig {
                alpha: 0.9,
                eps: 1e-6,
                ..RmsPropConfig::new(self.lr())
            }),
        }
    }

    /// mlp: the learning rate divided by --lr-decay after every update down
    /// to --lr-min (pylearn2's ExponentialDecay); momentum from --momentum in
    /// epoch 1 to --final-momentum at --momentum-saturate (its
    /// MomentumAdjustor, start 1). dcgan: a constant learning rate.
    pub fn schedules(&self) -> Vec<Scheduled> {
        if self.model == Model::Dcgan {
            return vec![Scheduled::new(Hyper::Lr, Constant(self.lr()))];
        }
        vec![
            Scheduled::new(
                Hyper::Lr,
                PerStepDecay {
                    base: self.lr(),
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

    /// The running reconstruction test's settings.
    pub fn recon_config(&self) -> ReconConfig {
        ReconConfig {
            steps: self.test_steps,
            lr: self.test_lr,
            batch_size: self.batch_size(),
        }
    }
}

/// The final test's default RMSProp steps (see EvalReconstructionArgs::steps).
pub const FINAL_STEPS: i64 = 500;

#[derive(Args, Debug, Clone)]
pub struct EvalReconstructionArgs {
    #[command(flatten)]
    pub common: EvalCommon,
    /// Reconstruct the first N images of the run's final set (runs without
    /// one, such as mlp runs: of the dataset's test split; default 2000).
    #[arg(long, value_parser = ranges::positive_int)]
    pub images: Option<i64>,
    /// RMSProp steps. The authors' README asks the final test for more
    /// than the running test's 50 without a number; 500 lets each code
    /// coordinate travel about 5 (RMSProp moves it about --lr a step), the
    /// span of z ~ N(0, 1).
    #[arg(long, default_value_t = FINAL_STEPS, value_parser = ranges::positive_int)]
    pub steps: i64,
    /// RMSProp's learning rate (default: the run's --test-lr).
    #[arg(long, value_parser = ranges::positive)]
    pub lr: Option<f64>,
}

#[derive(Args, Debug, Clone)]
pub struct EvalParzenArgs {
    #[command(flatten)]
    pub common: EvalCommon,
    /// G samples used as the Parzen window's centres.
    #[arg(long, default_value_t = 10_000, value_parser = ranges::positive_int)]
    pub samples: i64,
    /// Candidate sigmas LO:HI:N, N values log-spaced from LO to HI (numpy.logspace).
    #[arg(long, default_value = "0.1:1:10", value_parser = parse_sigmas)]
    pub sigmas: Sigmas,
    /// Use this sigma instead of choosing one on validation images.
    #[arg(long, conflicts_with = "sigmas", value_parser = ranges::positive)]
    pub sigma: Option<f64>,
    /// Choose sigma on the first N validation images.
    #[arg(long, default_value_t = 1000, value_parser = ranges::positive_int)]
    pub valid_limit: i64,
    /// Use only the first N test images.
    #[arg(long, value_parser = ranges::positive_int)]
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
