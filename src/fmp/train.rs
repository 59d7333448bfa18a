//! `paperlab train-fmp`: train the FMP network, then report the test error
//! averaged over each requested number of passes.

use super::args::TrainFmpArgs;
use super::eval::error_by_tests;
use super::model::net;
use crate::augment::flip_affine;
use crate::data::{self, batches::pad_to};
use crate::error::{usage, Result};
use crate::optim::{params_of, Sgd};
use crate::runner::classify::{self, Trainer, HEADER};
use crate::runner::session::{self, Session};
use serde_json::json;
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
    let mut s = Session::open("train-fmp", &args, &HEADER)?;
    let vs = VarStore::new(s.device);
    let model = net(&vs.root(), &cfg);
    let mut opt = Sgd::new(params_of(&vs), args.lr);
    (opt.momentum, opt.nesterov, opt.weight_decay) =
        (args.momentum, args.nesterov, args.weight_decay);
    let augment = args.augment;
    let prepare = move |x: &Tensor, train: bool| {
        let x = if train && augment {
            flip_affine(x)
        } else {
            x.shallow_clone()
        };
        pad_to(&x, size)
    };
    let lr = |epoch: i64| args.lr * (-args.lr_decay * epoch as f64).exp();
    let mut trainer = Trainer {
        model: &model,
        vs: &vs,
        opt: &mut opt,
        prepare: &prepare,
        lr: &lr,
        epochs: args.epochs,
        batch_size: args.batch_size,
    };
    let outcome = classify::train(&mut s, &mut trainer, &train, &test)?;
    if !outcome.finished {
        return s.stopped();
    }
    s.progress.line(&format!(
        "evaluating the last epoch's net with {:?} passes",
        args.tests
    ));
    let errors = error_by_tests(
        &model,
        &prepare,
        &test,
        &args.tests,
        args.batch_size,
        s.device,
        s.seed,
        &mut s.progress,
    );
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
    s.write_summary(&json!({
        "test_error": errors.iter().find(|(r, _)| *r == 1).map_or(outcome.test_error, |(_, e)| *e),
        "test_error_by_tests": by_tests,
        "best_epoch_test_error": s.position.best,
        "params": params,
        "epochs": args.epochs,
        "input_size": size,
        "train_images_per_sec": outcome.images_per_sec,
    }))?;
    eprintln!("results: {}", s.dir.path.display());
    Ok(())
}
