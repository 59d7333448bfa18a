//! Multi-pass evaluation: FMP draws fresh pooling regions on every pass, so
//! averaging the softmax over R passes is an ensemble for free (the paper's
//! "tests"). `paperlab eval-fmp` reloads a run (its last checkpoint unless
//! --checkpoint says otherwise: best.safetensors is chosen on the test set
//! unless the run held out --valid-size images) and writes tests.csv.

use super::args::{EvalFmpArgs, TrainFmpArgs};
use super::model::{net, Input};
use crate::data::{self, Dataset};
use crate::error::Result;
use crate::figures;
use crate::rng::Stream;
use crate::runner::engine::classify::{error_rate, ClassifierNet};
use crate::runner::record::progress::Progress;
use crate::runner::store::reopen::{reopen, Reopened};
use crate::runner::store::run_dir::write_atomic;
use std::collections::BTreeMap;
use std::path::Path;
use tch::nn::VarStore;

/// Test error after averaging the softmax over R passes, for each R in
/// `tests` (one sweep of max(tests) passes). Pass r is seeded from (seed, r).
pub fn error_by_tests(
    net: &ClassifierNet,
    ds: &Dataset,
    tests: &[i64],
    seed: u64,
    progress: &mut Progress,
) -> Result<Vec<(i64, f64)>> {
    let passes = tests.iter().copied().max().unwrap_or(1);
    progress.start("tests", passes as u64);
    let mut sum = None;
    let mut errors = vec![];
    for r in 1..=passes {
        let probs = net.softmax(ds, Stream::Tests(r as u64), seed)?;
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
    Ok(errors)
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
    let run: Reopened<TrainFmpArgs> = reopen(&args.common, "last", &["tests.csv"])?;
    let train_args = &run.config;
    let test = data::load(&train_args.data.dataset, &run.data_dir)?
        .test
        .limit(args.test_limit.or(train_args.data.test_limit));
    let [channels, _, _] = test.image_shape();
    let cfg = train_args.net_config(channels, test.classes);
    let input = Input {
        size: cfg.input_size(),
        background: train_args.background,
    };
    let vs = VarStore::new(run.device);
    let model = net(&vs.root(), &cfg);
    run.checkpoint.load_vars("model.", &vs)?;
    let prepare = |x: &tch::Tensor, _train: bool| input.prepare(x);
    let mut progress = Progress::new(args.common.quiet);
    let trained = ClassifierNet {
        model: &model,
        vs: &vs,
        prepare: &prepare,
        batch_size: args.batch_size,
    };
    let errors = error_by_tests(
        &trained,
        &test,
        &args.tests,
        args.common.compute.seed,
        &mut progress,
    )?;
    let out = run.dir.file("tests.csv");
    write_tests(&out, &errors)?;
    for (r, e) in &errors {
        progress.line(&format!("test error, {r:>3} test(s): {:.2}%", 100.0 * e));
    }
    let by_tests: BTreeMap<String, f64> = errors.iter().map(|(r, e)| (r.to_string(), *e)).collect();
    run.merge_summary(figures! {
        "eval_test_error_by_tests" => by_tests,
        "eval_checkpoint" => run.checkpoint.path.display().to_string(),
    })?;
    eprintln!("wrote {} and summary.json", out.display());
    Ok(())
}
