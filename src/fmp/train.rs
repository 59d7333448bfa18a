//! `paperlab train-fmp`: train the FMP network with the classifier steps on
//! the shared engine, then report the test error averaged over each
//! requested number of passes.

use super::args::TrainFmpArgs;
use super::eval::error_by_tests;
use super::model::net;
use crate::augment::flip_affine;
use crate::data::{self, batches::pad_to};
use crate::error::{usage, Result};
use crate::figures;
use crate::optim::params_of;
use crate::runner::classify::{Classifier, ClassifierNet, TestSet, COLUMNS};
use crate::runner::epochs::{self, header};
use crate::runner::session::{self, Session};
use std::collections::BTreeMap;
use tch::{nn::VarStore, Tensor};

pub fn run(args: TrainFmpArgs) -> Result<()> {
    let args = session::resolve("train-fmp", args)?;
    let splits = data::load(&args.dataset, &args.common.data_dir)?;
    let (train, test) = (
        splits.train.limit(args.train_limit),
        splits.test.limit(args.test_limit),
    );
    let [channels, height, width] = train.image_shape();
    let cfg = args.net_config(channels, train.classes)?;
    let size = cfg.input_size();
    if size < height.max(width) {
        return Err(usage(format!(
            "--layers {} with --alpha {} gives a {size}x{size} input, smaller than the {height}x{width} images of {}; use more layers or a larger alpha",
            args.layers, args.alpha, args.dataset
        )));
    }
    let mut columns = COLUMNS.to_vec();
    columns.push("test_error");
    let mut s = Session::open("train-fmp", &args, &header(&columns))?;
    let vs = VarStore::new(s.device);
    let model = net(&vs.root(), &cfg);
    let augment = args.augment;
    let prepare = move |x: &Tensor, train: bool| {
        let x = if train && augment {
            flip_affine(x)
        } else {
            x.shallow_clone()
        };
        pad_to(&x, size)
    };
    let mut steps = Classifier {
        net: ClassifierNet {
            model: &model,
            vs: &vs,
            prepare: &prepare,
            batch_size: args.batch_size,
        },
        opt: args.optim_config().build(params_of(&vs)),
        schedules: args.schedules(),
        examples: &train,
        epochs: args.epochs,
        hooks: TestSet(&test),
    };
    let outcome = epochs::train(&mut s, &mut steps)?;
    if !outcome.finished {
        return s.stopped();
    }
    s.progress.line(&format!(
        "evaluating the last epoch's net with {:?} passes",
        args.tests
    ));
    // Pass 1 is computed on the way to any R, so test_error is always there.
    let mut tests = args.tests.clone();
    if !tests.contains(&1) {
        tests.insert(0, 1);
    }
    let errors = error_by_tests(&steps.net, &test, &tests, s.seed, &mut s.progress);
    let by_tests: BTreeMap<String, f64> = errors.iter().map(|(r, e)| (r.to_string(), *e)).collect();
    for (r, e) in &errors {
        s.progress
            .line(&format!("test error, {r:>3} test(s): {:.2}%", 100.0 * e));
    }
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    s.write_summary(
        Some(outcome.images_per_sec),
        figures! {
            "test_error" => errors.iter().find(|(r, _)| *r == 1).map(|(_, e)| *e),
            "test_error_by_tests" => by_tests,
            "params" => params,
            "input_size" => size,
        },
    )?;
    eprintln!("results: {}", s.dir.path.display());
    Ok(())
}
