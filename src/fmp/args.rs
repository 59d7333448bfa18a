//! Flags of `train-fmp` and `eval-fmp`; the paper's values are the presets in
//! experiments/fmp-*.toml.

use super::model::{NetConfig, Pool};
use crate::data::DatasetName;
use crate::error::{usage, Result};
use crate::layers::fmp::{Fmp, Regions, Sequence, Share};
use crate::optim::schedule::{ExpDecay, Scheduled};
use crate::optim::{Hyper, OptimConfig, SgdConfig};
use crate::runner::args::{Common, EvalCommon};
use crate::runner::session::RunConfig;
use clap::Args;
use serde::{Deserialize, Serialize};

#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct TrainFmpArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: Common,
    /// fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse or folder:PATH.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: DatasetName,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_limit: Option<i64>,
    /// Use only the first N test images.
    #[arg(long)]
    pub test_limit: Option<i64>,
    /// L, the number of C2-FMP layers.
    #[arg(long, default_value_t = 6)]
    pub layers: i64,
    /// n: layer k has n*k filters.
    #[arg(long, default_value_t = 32)]
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
    /// Dropout multiplier p: convolution j of L+2 drops p*j/(L+1) of its input.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f64,
    /// Explicit dropout per convolution (L+2 values), overriding --dropout.
    #[arg(long, value_delimiter = ',')]
    pub dropout_schedule: Option<Vec<f64>>,
    /// Negative slope of the leaky ReLU.
    #[arg(long, default_value_t = 0.333)]
    pub leaky: f64,
    #[arg(long, default_value_t = 10)]
    pub epochs: i64,
    #[arg(long, default_value_t = 100)]
    pub batch_size: i64,
    /// lr0 in lr0 * exp(-k * epoch).
    #[arg(long, default_value_t = 0.003)]
    pub lr: f64,
    /// k in lr0 * exp(-k * epoch).
    #[arg(long, default_value_t = 0.01)]
    pub lr_decay: f64,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub nesterov: bool,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Random flips and small affine distortions of training images (colour datasets).
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub augment: bool,
    /// After training, report the test error averaged over each of these numbers of passes.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub tests: Vec<i64>,
}

impl RunConfig for TrainFmpArgs {
    fn common(&self) -> &Common {
        &self.common
    }
    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

impl TrainFmpArgs {
    /// Check the flags that clap cannot, and build the network's config.
    pub fn net_config(&self, in_channels: i64, classes: i64) -> Result<NetConfig> {
        let positive = [
            ("--layers", self.layers),
            ("--filters", self.filters),
            ("--epochs", self.epochs),
        ];
        for (flag, v) in positive
            .into_iter()
            .chain([("--batch-size", self.batch_size)])
        {
            if v < 1 {
                return Err(usage(format!("{flag} {v}: expected a positive integer")));
            }
        }
        check_tests(&self.tests)?;
        if self.lr <= 0.0 {
            return Err(usage(format!(
                "--lr {}: a learning rate must be positive",
                self.lr
            )));
        }
        let dropout = match &self.dropout_schedule {
            Some(d) if d.len() as i64 != self.layers + 2 => {
                return Err(usage(format!(
                    "--dropout-schedule has {} values; expected one per convolution, {} for --layers {}",
                    d.len(),
                    self.layers + 2,
                    self.layers
                )))
            }
            Some(d) => d.clone(),
            None => NetConfig::linear_dropout(self.layers, self.dropout),
        };
        if let Some(p) = dropout.iter().find(|p| !(0.0..1.0).contains(*p)) {
            return Err(usage(format!(
                "dropout {p}: expected a probability in [0, 1)"
            )));
        }
        let fmp = Fmp {
            share: self.fmp_share,
            ..Fmp::new(self.alpha, self.fmp_sequence, self.fmp_regions)
        };
        Ok(NetConfig {
            layers: self.layers,
            filters: self.filters,
            pool: self.pool,
            fmp,
            dropout,
            slope: self.leaky,
            in_channels,
            classes,
        })
    }
}

impl TrainFmpArgs {
    /// SGD with --momentum, --nesterov and --weight-decay.
    pub fn optim_config(&self) -> OptimConfig {
        OptimConfig::Sgd(SgdConfig {
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            ..SgdConfig::new(self.lr)
        })
    }

    /// The learning rate lr0 * exp(-k * epoch), the paper's schedule.
    pub fn schedules(&self) -> Vec<Scheduled> {
        vec![Scheduled::new(
            Hyper::Lr,
            ExpDecay {
                base: self.lr,
                rate: self.lr_decay,
            },
        )]
    }
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

/// --tests: positive pass counts.
pub fn check_tests(tests: &[i64]) -> Result<()> {
    match tests.iter().find(|&&r| r < 1) {
        Some(r) => Err(usage(format!(
            "--tests {r}: expected positive numbers of passes, e.g. 1,2,6,12"
        ))),
        None if tests.is_empty() => Err(usage(
            "--tests: expected at least one number of passes, e.g. 1,12",
        )),
        None => Ok(()),
    }
}

#[derive(Args, Debug, Clone)]
pub struct EvalFmpArgs {
    #[command(flatten)]
    pub common: EvalCommon,
    /// Numbers of passes R to average the softmax over.
    #[arg(long, value_delimiter = ',', default_value = "1,2,6,12")]
    pub tests: Vec<i64>,
    /// Use only the first N test images (default: the run's --test-limit).
    #[arg(long)]
    pub test_limit: Option<i64>,
    #[arg(long, default_value_t = 100)]
    pub batch_size: i64,
}
