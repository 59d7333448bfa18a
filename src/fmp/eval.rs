//! Multi-pass evaluation: FMP draws fresh pooling regions on every pass, so
//! averaging the softmax over R passes is an ensemble for free (the paper's
//! "tests"). `paperlab eval-fmp` reloads a run and writes tests.csv.

use super::args::{check_tests, EvalFmpArgs, TrainFmpArgs};
use super::model::net;
use crate::data::{self, batches::pad_to, Dataset};
use crate::error::Result;
use crate::rng::Rng;
use crate::runner::classify::{error_rate, softmax_sums, Prepare};
use crate::runner::progress::Progress;
use crate::runner::reopen::{reopen, Reopened};
use crate::runner::run_dir::write_atomic;
use std::path::Path;
use tch::{nn::ModuleT, nn::VarStore, Device};

/// Test error after averaging the softmax over R passes, for each R in
/// `tests` (one sweep of max(tests) passes). Pass r is seeded from (seed, r).
#[allow(clippy::too_many_arguments)]
pub fn error_by_tests(
    model: &dyn ModuleT,
    prepare: Prepare,
    ds: &Dataset,
    tests: &[i64],
    batch_size: i64,
    device: Device,
    seed: u64,
    progress: &mut Progress,
) -> Vec<(i64, f64)> {
    let passes = tests.iter().copied().max().unwrap_or(1);
    progress.start("tests", passes as u64);
    let mut sum = None;
    let mut errors = vec![];
    for r in 1..=passes {
        let probs = softmax_sums(
            model,
            prepare,
            ds,
            batch_size,
            device,
            Rng::new(seed ^ 0x7e57, r as u64),
        );
        let total = match sum.take() {
            None => probs,
            Some(s) => s + probs,
        };
        if tests.contains(&r) {
            errors.push((r, error_rate(&total, &ds.labels)));
        }
        sum = Some(total);
        progress.update(r as u64, String::new());
    }
    errors
}

/// tests.csv: R, test error.
pub fn write_tests(path: &Path, errors: &[(i64, f64)]) -> Result<()> {
    let mut text = String::from("tests,test_error\n");
    for (r, e) in errors {
        text += &format!("{r},{e}\n");
    }
    write_atomic(path, text.as_bytes())
}

pub fn run(args: EvalFmpArgs) -> Result<()> {
    check_tests(&args.tests)?;
    let run: Reopened<TrainFmpArgs> = reopen("train-fmp", &args.common, &["tests.csv"])?;
    let train_args = &run.config;
    let test = data::load(&train_args.dataset, &run.data_dir)?
        .test
        .limit(args.test_limit.or(train_args.test_limit));
    let [channels, _, _] = test.image_shape();
    let cfg = train_args.net_config(channels, test.classes)?;
    let size = cfg.input_size();
    let vs = VarStore::new(run.device);
    let model = net(&vs.root(), &cfg);
    run.checkpoint.load_vars("model.", &vs)?;
    let prepare = |x: &tch::Tensor, _train: bool| pad_to(x, size);
    let mut progress = Progress::new(args.common.quiet);
    let errors = error_by_tests(
        &model,
        &prepare,
        &test,
        &args.tests,
        args.batch_size,
        run.device,
        args.common.seed,
        &mut progress,
    );
    let out = run.dir.file("tests.csv");
    write_tests(&out, &errors)?;
    for (r, e) in &errors {
        progress.line(&format!("test error, {r:>3} test(s): {:.2}%", 100.0 * e));
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}
