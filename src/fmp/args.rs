//! Flags of `train-fmp` and `eval-fmp`; the paper's values are the presets in
//! experiments/fmp-*.toml.

use super::augment::Augment;
use super::model::{levels_per_unit, NetConfig, Pool};
use crate::error::{usage, Result};
use crate::layers::background::margin;
use crate::layers::color_shift::ColorShift;
use crate::layers::fmp::{Fmp, Regions, Sequence, Share};
use crate::optim::schedule::{ExpDecay, Scheduled};
use crate::optim::{GrahamConfig, Hyper, OptimConfig, SgdConfig};
use crate::ranges;
use crate::runner::args::{ClassData, Common, EvalCommon};
use crate::runner::engine::classify::ClassifierOptions;
use crate::runner::engine::session::RunConfig;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

/// The update rule of train-fmp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FmpOptimizer {
    /// Graham's NAG-light momentum on the gradient of the loss summed over
    /// the batch (optim/graham.rs), as the paper's code trained.
    Graham,
    /// PyTorch's SGD on the batch's mean loss.
    Sgd,
}

/// Runs saved before --classifier-init existed started with HEAD's.
fn head_classifier_init() -> f64 {
    1.0
}

/// Runs saved before --optimizer existed trained with SGD.
fn saved_before_optimizer() -> FmpOptimizer {
    FmpOptimizer::Sgd
}

#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainFmpArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    #[command(flatten)]
    #[serde(flatten)]
    pub data: ClassData,
    /// L, the number of C2-FMP layers.
    #[arg(long, default_value_t = 6, value_parser = ranges::positive_int)]
    pub layers: i64,
    /// n: layer k has n*k filters.
    #[arg(long, default_value_t = 32, value_parser = ranges::positive_int)]
    pub filters: i64,
    /// Pooling ratio alpha > 1: a number, sqrtN or a^(b/c), e.g. sqrt2 or 2^(1/3).
    #[arg(long, default_value = "sqrt2", value_parser = parse_alpha)]
    pub alpha: f64,
    /// fmp (fractional max-pooling) or max2 (the 2x2 max-pooling baseline).
    #[arg(long, value_enum, default_value_t = Pool::Fmp)]
    pub pool: Pool,
    #[arg(long, value_enum, default_value_t = Sequence::Pseudorandom)]
    pub fmp_sequence: Sequence,
    #[arg(long, value_enum, default_value_t = Regions::Overlapping)]
    pub fmp_regions: Regions,
    /// One pair of sequences per image (Graham) or per batch (TensorFlow).
    #[arg(long, value_enum, default_value_t = Share::Image)]
    pub fmp_share: Share,
    /// Pool fixed N-pixel windows placed by the sequence (Graham's code and
    /// PyTorch's kernel) instead of the paper's overlapping regions.
    #[arg(long, value_name = "N", value_parser = ranges::positive_int)]
    #[serde(default)]
    pub fmp_window: Option<i64>,
    /// Dropout multiplier p: convolution j of L+2 drops p*j/(L+1) of its output channels.
    #[arg(long, default_value_t = 0.0, value_parser = ranges::fraction)]
    pub dropout: f64,
    /// Explicit dropout per convolution output (L+2 values), overriding --dropout.
    #[arg(long, value_delimiter = ',', value_parser = ranges::fraction)]
    pub dropout_schedule: Option<Vec<f64>>,
    /// The classifier's weights start uniform in +-sqrt(6 / (fan_in + A fan_out)): Graham's A is 1 at HEAD, 10000 in the April 2015 tree his CIFAR-100 net comes from.
    #[arg(long, default_value_t = 1.0, value_name = "A", value_parser = ranges::non_negative)]
    #[serde(default = "head_classifier_init")]
    pub classifier_init: f64,
    /// Negative slope of the leaky ReLU.
    #[arg(long, default_value_t = 0.333, value_parser = ranges::non_negative)]
    pub leaky: f64,
    #[arg(long, default_value_t = 10, value_parser = ranges::positive_int)]
    pub epochs: i64,
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub batch_size: i64,
    /// Hold out the last N training images as a validation set; best.safetensors is then chosen by its error.
    #[arg(long, default_value_t = 0, value_parser = ranges::count)]
    #[serde(default)]
    pub valid_size: i64,
    /// graham (NAG-light momentum on the summed loss, the paper's code) or sgd (PyTorch's SGD on the mean loss).
    #[arg(long, value_enum, default_value_t = FmpOptimizer::Graham)]
    #[serde(default = "saved_before_optimizer")]
    pub optimizer: FmpOptimizer,
    /// lr0 in lr0 * exp(-k * epoch).
    #[arg(long, default_value_t = 0.003, value_parser = ranges::positive)]
    pub lr: f64,
    /// k in lr0 * exp(-k * epoch).
    #[arg(long, default_value_t = 0.01, value_parser = ranges::non_negative)]
    pub lr_decay: f64,
    /// Momentum (Graham's default in SparseConvNet.h:52 is 0.99).
    #[arg(long, default_value_t = 0.99, value_parser = ranges::fraction)]
    pub momentum: f64,
    /// Nesterov momentum (--optimizer sgd).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub nesterov: bool,
    /// L2 weight decay (--optimizer sgd).
    #[arg(long, default_value_t = 0.0, value_parser = ranges::non_negative)]
    pub weight_decay: f64,
    /// Pixel level (0-255) that becomes 0 and fills the padding; pixels are scaled to (v - B) / max(B, 255 - B) as Graham's code does: 0 for MNIST ([0, 1]), 128 for his CIFAR input.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub background: u8,
    /// Pixels within this many levels of --background in every channel are background, set to it exactly, as Graham's input marks them (OpenCVPicture.cpp:386-391); 0 marks none (runs saved before this flag).
    #[arg(long, default_value_t = 2.0, value_name = "LEVELS", value_parser = ranges::non_negative)]
    #[serde(default)]
    pub background_margin: f64,
    /// Graham's ColorShiftLayer on training inputs (runCifar100.cu: 0.2,0.3,0.6,0.6): standard deviations, in input units, of a per-image and per-channel shift, cos-weighted shift, and row and column gradients.
    #[arg(long, value_delimiter = ',', value_name = "S1,S2,S3,S4", value_parser = ranges::non_negative)]
    #[serde(default)]
    pub color_shift: Option<Vec<f64>>,
    /// Graham's affine distortion with a horizontal flip of training images.
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub augment: bool,
    /// Shift training images by up to N pixels in the input field, each axis.
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = ranges::count)]
    #[serde(default)]
    pub jiggle: i64,
    /// Graham's colour distortion of training images: standard deviations in pixel levels of brightness, contrast, x gradient, y gradient (e.g. 25,0,2,2).
    #[arg(long, value_delimiter = ',', value_name = "S1,S2,S3,S4", value_parser = ranges::non_negative)]
    #[serde(default)]
    pub color_distortion: Option<Vec<f64>>,
    /// Augment only in epochs 1..=N (default: every epoch).
    #[arg(long, value_name = "N", value_parser = ranges::count)]
    #[serde(default)]
    pub augment_epochs: Option<i64>,
    /// After training, report the test error averaged over each of these numbers of passes.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = ranges::positive_int)]
    pub tests: Vec<i64>,
}

impl RunConfig for TrainFmpArgs {
    const COMMAND: &'static str = "train-fmp";
    fn common(&self) -> &Common {
        &self.common
    }
    fn global_batch(&self) -> i64 {
        self.batch_size
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
    /// What the flags' ranges cannot say: how flags combine. Builds nothing.
    fn checked(self) -> Result<Self> {
        if let Some(d) = self.dropout_schedule.as_ref() {
            if d.len() as i64 != self.layers + 2 {
                return Err(usage(format!(
                    "--dropout-schedule has {} values; expected one per convolution, {} for --layers {}",
                    d.len(),
                    self.layers + 2,
                    self.layers
                )));
            }
        }
        if self.optimizer == FmpOptimizer::Graham && (self.nesterov || self.weight_decay != 0.0) {
            return Err(usage(
                "--nesterov and --weight-decay belong to --optimizer sgd; Graham's update has neither",
            ));
        }
        four_sigmas("--color-shift", &self.color_shift)?;
        four_sigmas("--color-distortion", &self.color_distortion)?;
        self.check_window()?;
        Ok(self)
    }
}

impl ClassifierOptions for TrainFmpArgs {
    fn epochs(&self) -> i64 {
        self.epochs
    }
    /// --optimizer with --momentum (and, for sgd, --nesterov and --weight-decay).
    fn optim_config(&self) -> OptimConfig {
        match self.optimizer {
            FmpOptimizer::Graham => OptimConfig::Graham(GrahamConfig {
                lr: self.lr,
                momentum: self.momentum,
            }),
            FmpOptimizer::Sgd => OptimConfig::Sgd(SgdConfig {
                momentum: self.momentum,
                nesterov: self.nesterov,
                weight_decay: self.weight_decay,
                ..SgdConfig::new(self.lr)
            }),
        }
    }
    /// The learning rate lr0 * exp(-k * epoch), the paper's schedule.
    fn schedules(&self) -> Vec<Scheduled> {
        vec![Scheduled::new(
            Hyper::Lr,
            ExpDecay {
                base: self.lr,
                rate: self.lr_decay,
            },
        )]
    }
}

impl TrainFmpArgs {
    /// --fmp-window: overlapping windows, each fitting every pool.
    fn check_window(&self) -> Result<()> {
        let Some(w) = self.fmp_window else {
            return Ok(());
        };
        if self.fmp_regions == Regions::Disjoint {
            return Err(usage(
                "--fmp-window places overlapping windows; it cannot be combined with --fmp-regions disjoint",
            ));
        }
        let sizes = self.net_config(1, 1).pool_sizes();
        match sizes.into_iter().find(|(i, o)| o - 1 + w > *i) {
            Some((into, out)) if self.pool == Pool::Fmp => Err(usage(format!(
                "--fmp-window {w}: the pool from {into}x{into} to {out}x{out} has room for windows of at most {} pixels",
                into - out + 1
            ))),
            _ => Ok(()),
        }
    }

    /// The network's config for `in_channels` and `classes` (the flags
    /// checked).
    pub fn net_config(&self, in_channels: i64, classes: i64) -> NetConfig {
        let dropout = match &self.dropout_schedule {
            Some(d) => d.clone(),
            None => NetConfig::linear_dropout(self.layers, self.dropout),
        };
        let fmp = Fmp {
            share: self.fmp_share,
            window: self.fmp_window,
            ..Fmp::new(self.alpha, self.fmp_sequence, self.fmp_regions)
        };
        NetConfig {
            layers: self.layers,
            filters: self.filters,
            pool: self.pool,
            fmp,
            dropout,
            slope: self.leaky,
            in_channels,
            classes,
            background_margin: if self.background_margin == 0.0 {
                0.0
            } else {
                margin(self.background_margin, levels_per_unit(self.background))
            },
            color_shift: sigmas(&self.color_shift).map(|sigma| ColorShift { sigma }),
            classifier_init: self.classifier_init,
        }
    }

    /// The training-time augmentation (--augment, --jiggle, --color-distortion).
    pub fn augment(&self, levels_per_unit: f64) -> Augment {
        Augment {
            affine: self.augment,
            jiggle: self.jiggle,
            color: sigmas(&self.color_distortion),
            levels_per_unit,
        }
    }
}

/// A flag of four standard deviations (each checked by its range), if
/// given, has four.
fn four_sigmas(flag: &str, v: &Option<Vec<f64>>) -> Result<()> {
    match v.as_deref() {
        None | Some([_, _, _, _]) => Ok(()),
        Some(v) => Err(usage(format!(
            "{flag}: {} values given; expected four standard deviations",
            v.len()
        ))),
    }
}

/// The four standard deviations of a checked flag ([`four_sigmas`]).
fn sigmas(v: &Option<Vec<f64>>) -> Option<[f64; 4]> {
    v.as_deref().map(|v| [v[0], v[1], v[2], v[3]])
}

/// Parse alpha: `1.5`, `sqrt2`, `2^(1/3)`; it must exceed 1.
pub fn parse_alpha(s: &str) -> std::result::Result<f64, String> {
    let t = s.replace(' ', "");
    let value = if let Some(r) = t.strip_prefix("sqrt") {
        r.trim_matches(|c| c == '(' || c == ')')
            .parse::<f64>()
            .ok()
            .map(f64::sqrt)
    } else if let Some((base, exp)) = t.split_once('^') {
        let exp = exp.trim_matches(|c| c == '(' || c == ')');
        let exp = match exp.split_once('/') {
            Some((a, b)) => a
                .parse::<f64>()
                .ok()
                .zip(b.parse::<f64>().ok())
                .map(|(a, b)| a / b),
            None => exp.parse().ok(),
        };
        base.parse::<f64>().ok().zip(exp).map(|(b, e)| b.powf(e))
    } else {
        t.parse().ok()
    };
    match value {
        Some(a) if a > 1.0 && a.is_finite() => Ok(a),
        Some(a) => Err(format!("alpha must be greater than 1, got {a}")),
        None => Err(format!("expected a number, sqrtN or a^(b/c), got {s:?}")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct EvalFmpArgs {
    #[command(flatten)]
    pub common: EvalCommon,
    /// Numbers of passes R to average the softmax over.
    #[arg(long, value_delimiter = ',', default_value = "1,2,6,12", value_parser = ranges::positive_int)]
    pub tests: Vec<i64>,
    /// Use only the first N test images (default: the run's --test-limit).
    #[arg(long, value_parser = ranges::positive_int)]
    pub test_limit: Option<i64>,
    #[arg(long, default_value_t = 100, value_parser = ranges::positive_int)]
    pub batch_size: i64,
}
