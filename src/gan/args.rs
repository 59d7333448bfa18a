//! Flags of `train-gan`, `eval-parzen` and `eval-reconstruction`.
//! train-gan's --model chooses its flag set: [`MlpGanArgs`] (Goodfellow et
//! al.'s MLP pair) or [`DcganArgs`] (Xiang & Li's DCGAN), each the flags
//! both take ([`GanCommon`]) and its own, so a flag of one model is clap's
//! unknown argument under the other. The defaults are the authors' values
//! for each model: the MNIST model of goodfeli/adversarial (mnist.yaml) for
//! mlp, the CelebA runs of stormraiser/GAN-weight-norm (pytorch/main.py)
//! for dcgan; the presets experiments/gan-*.toml spell them out.

use super::dcgan::{default_levels, DcganConfig, GanNorm};
use super::mlp::MlpConfig;
use super::nets::{GanConfig, Latent, ModelConfig, Noise};
use super::reconstruct::ReconConfig;
use super::steps::Objective;
use crate::data::DatasetName;
use crate::error::{usage, Result};
use crate::optim::schedule::{Constant, LinearRamp, PerStepDecay, Scheduled};
use crate::optim::{Hyper, OptimConfig, RmsPropConfig, SgdConfig};
use crate::ranges;
use crate::runner::args::{flag_name, Common, EvalCommon};
use crate::runner::engine::session::RunConfig;
use clap::{ArgMatches, Args, Command, FromArgMatches, ValueEnum};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which generator/discriminator pair to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Goodfellow et al.'s MNIST model: a ReLU MLP generator, a maxout
    /// discriminator, SGD with momentum, the Parzen estimate.
    Mlp,
    /// Xiang & Li's convolutional GAN (DCGAN-style) with the --norm of
    /// their comparison, RMSProp, and the reconstruction measure.
    Dcgan,
}

impl Model {
    /// train-gan's command `generic` (its --model, from [`TrainGanArgs`])
    /// with the flags of this model.
    pub fn args(self, generic: Command) -> Command {
        let name = flag_name(&self);
        let cmd = generic
            .display_name(format!("train-gan --model {name}"))
            .override_usage(format!("paperlab train-gan --model {name} [OPTIONS]"));
        let cmd = match self {
            Model::Mlp => MlpGanArgs::augment_args(cmd),
            Model::Dcgan => DcganArgs::augment_args(cmd),
        };
        match self.to_possible_value().and_then(|v| v.get_help().cloned()) {
            Some(help) => cmd.about(format!(
                "Train a generative adversarial net, --model {name}: {help}"
            )),
            None => cmd,
        }
    }

    /// Whether this model takes the flag `--long` (or has it as an alias).
    pub fn takes(self, long: &str) -> bool {
        self.args(Command::new(TrainGanArgs::COMMAND))
            .get_arguments()
            .any(|a| {
                a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&long))
            })
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

/// The flags both models take.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct GanCommon {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// Train on only the first N of the remaining training images.
    #[arg(long, value_parser = ranges::positive_int)]
    pub train_limit: Option<i64>,
    /// The distribution of z.
    #[arg(long, value_enum, default_value_t = Noise::Normal)]
    pub noise: Noise,
    /// What G minimises.
    #[arg(long, value_enum, default_value_t = GLoss::NonSaturating)]
    pub g_loss: GLoss,
}

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

/// A train-gan run's flags: its --model's set. config.json holds them with
/// the model under "model" (a run saved when one set held both models'
/// flags loads as its model's, the other's keys left aside).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum TrainGanArgs {
    Mlp(MlpGanArgs),
    Dcgan(DcganArgs),
}

/// train-gan's --model, which chooses the set its other flags are parsed with.
#[derive(Args)]
struct Choice {
    /// The generator/discriminator pair, which chooses the other flags
    /// train-gan takes (or a preset's `model` key).
    #[arg(long, value_enum, default_value_t = Model::Mlp)]
    model: Model,
}

/// train-gan before a model is chosen: --model alone, and how to see each
/// model's flags (the command line is parsed with [`Model::args`]' command).
impl Args for TrainGanArgs {
    fn augment_args(cmd: Command) -> Command {
        let each: Vec<String> = Model::value_variants()
            .iter()
            .map(|m| format!("  paperlab train-gan --model {} --help", flag_name(m)))
            .collect();
        Choice::augment_args(cmd).after_help(format!(
            "Each model takes flags of its own; they are listed by\n{}",
            each.join("\n")
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for TrainGanArgs {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        Ok(match Choice::from_arg_matches(m)?.model {
            Model::Mlp => TrainGanArgs::Mlp(MlpGanArgs::from_arg_matches(m)?),
            Model::Dcgan => TrainGanArgs::Dcgan(DcganArgs::from_arg_matches(m)?),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl RunConfig for TrainGanArgs {
    const COMMAND: &'static str = "train-gan";
    fn common(&self) -> &Common {
        &self.gan().common
    }
    fn global_batch(&self) -> i64 {
        self.batch_size()
    }
    fn common_mut(&mut self) -> &mut Common {
        match self {
            TrainGanArgs::Mlp(a) => &mut a.gan.common,
            TrainGanArgs::Dcgan(a) => &mut a.gan.common,
        }
    }
    fn checked(self) -> Result<TrainGanArgs> {
        Ok(match self {
            TrainGanArgs::Mlp(a) => TrainGanArgs::Mlp(a.checked()?),
            TrainGanArgs::Dcgan(a) => TrainGanArgs::Dcgan(a.checked()?),
        })
    }
}

impl TrainGanArgs {
    pub fn model(&self) -> Model {
        match self {
            TrainGanArgs::Mlp(_) => Model::Mlp,
            TrainGanArgs::Dcgan(_) => Model::Dcgan,
        }
    }

    /// The flags both models take.
    pub fn gan(&self) -> &GanCommon {
        match self {
            TrainGanArgs::Mlp(a) => &a.gan,
            TrainGanArgs::Dcgan(a) => &a.gan,
        }
    }

    /// The dataset, as its flag spells it.
    pub fn dataset(&self) -> String {
        match self {
            TrainGanArgs::Mlp(a) => a.dataset().to_string(),
            TrainGanArgs::Dcgan(a) => a.dataset().to_string(),
        }
    }

    pub fn batch_size(&self) -> i64 {
        match self {
            TrainGanArgs::Mlp(a) => a.batch_size,
            TrainGanArgs::Dcgan(a) => a.batch_size,
        }
    }

    pub fn epochs(&self) -> i64 {
        match self {
            TrainGanArgs::Mlp(a) => a.epochs,
            TrainGanArgs::Dcgan(a) => a.epochs,
        }
    }

    /// G and D's networks, for images of `channels` x `size` x `size`
    /// (the dcgan builders need them; the mlp's take the shape at build time).
    pub fn gan_config(&self, channels: i64, size: i64) -> GanConfig {
        let (dim, model) = match self {
            TrainGanArgs::Mlp(a) => (a.noise_dim, ModelConfig::Mlp(a.net_config())),
            TrainGanArgs::Dcgan(a) => (
                a.noise_dim,
                ModelConfig::Dcgan(a.net_config(channels, size)),
            ),
        };
        GanConfig {
            latent: Latent {
                noise: self.gan().noise,
                dim,
            },
            model,
        }
    }

    /// G's and D's optimizer (each its own, with the same settings). mlp:
    /// pylearn2's SGD with momentum, the same as PyTorch's at a constant lr;
    /// dcgan: RMSProp with alpha 0.9 and eps 1e-6 (pytorch/main.py).
    pub fn optim_config(&self) -> OptimConfig {
        match self {
            TrainGanArgs::Mlp(a) => OptimConfig::Sgd(SgdConfig {
                momentum: a.momentum,
                ..SgdConfig::new(a.lr)
            }),
            TrainGanArgs::Dcgan(a) => OptimConfig::RmsProp(RmsPropConfig {
                alpha: 0.9,
                eps: 1e-6,
                ..RmsPropConfig::new(a.lr)
            }),
        }
    }

    /// mlp: the learning rate divided by --lr-decay after every update down
    /// to --lr-min (pylearn2's ExponentialDecay); momentum from --momentum in
    /// epoch 1 to --final-momentum at --momentum-saturate (its
    /// MomentumAdjustor, start 1). dcgan: a constant learning rate.
    pub fn schedules(&self) -> Vec<Scheduled> {
        match self {
            TrainGanArgs::Mlp(a) => a.schedules(),
            TrainGanArgs::Dcgan(a) => vec![Scheduled::new(Hyper::Lr, Constant(a.lr))],
        }
    }

    /// What D and G minimise: D's loss is its two terms' mean for the mlp
    /// (pylearn2's d_obj), their sum for the dcgan (pytorch/main.py).
    pub fn objective(&self) -> Objective {
        let (least_squares, d_weight) = match self {
            TrainGanArgs::Mlp(_) => (false, 0.5),
            TrainGanArgs::Dcgan(a) => (a.ls, 1.0),
        };
        Objective {
            g_loss: self.gan().g_loss,
            least_squares,
            d_weight,
        }
    }
}

impl MlpGanArgs {
    /// What the flags' ranges cannot say (how flags combine), and the
    /// default dataset filled in (so config.json records what ran).
    fn checked(mut self) -> Result<MlpGanArgs> {
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

    fn net_config(&self) -> MlpConfig {
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

impl DcganArgs {
    /// What the flags' ranges cannot say (how flags combine), and the
    /// default dataset filled in (so config.json records what ran).
    fn checked(mut self) -> Result<DcganArgs> {
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

    fn net_config(&self, channels: i64, size: i64) -> DcganConfig {
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
    /// RMSProp's learning rate (default: the run's --test-lr; 0.01 for runs
    /// without one, such as mlp runs).
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
