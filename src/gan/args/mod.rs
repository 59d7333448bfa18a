//! Flags of `train-gan`, `eval-parzen` and `eval-reconstruction`.
//! train-gan's --model chooses its flag set: [`MlpGanArgs`] (Goodfellow et
//! al.'s MLP pair) or [`DcganArgs`] (Xiang & Li's DCGAN), each the flags
//! both take ([`GanCommon`]) and its own, so a flag of one model is clap's
//! unknown argument under the other. The defaults are the authors' values
//! for each model: the MNIST model of goodfeli/adversarial (mnist.yaml) for
//! mlp, the CelebA runs of stormraiser/GAN-weight-norm (pytorch/main.py)
//! for dcgan; the presets experiments/gan-*.toml spell them out.
//! Here: the flags both models take and the run's config; `model.rs`: the
//! --model choice (from the command line or its preset), `mlp.rs` and
//! `dcgan.rs`: each model's flags, `eval.rs`: the evaluations' flags.

mod dcgan;
mod eval;
mod mlp;
mod model;

pub use dcgan::*;
pub use eval::*;
pub use mlp::*;
pub use model::*;

use crate::data::DatasetName;
use crate::error::Result;
use crate::gan::nets::{GanConfig, Latent, ModelConfig, Noise};
use crate::gan::steps::Objective;
use crate::optim::schedule::{Constant, Scheduled};
use crate::optim::{Hyper, OptimConfig, RmsPropConfig, SgdConfig};
use crate::ranges;
use crate::runner::args::Common;
use crate::runner::engine::session::RunConfig;
use clap::{Args, ValueEnum};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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

/// A train-gan run's flags: its --model's set. config.json holds them with
/// the model under "model" (a run saved when one set held both models'
/// flags loads as its model's, the other's keys left aside).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum TrainGanArgs {
    Mlp(MlpGanArgs),
    Dcgan(DcganArgs),
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
