//! Flags of eval-parzen and eval-reconstruction.

use crate::ranges;
use crate::runner::args::EvalCommon;
use clap::Args;

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
