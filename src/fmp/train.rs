//! `paperlab train-fmp`: train the FMP network with the classifier steps on
//! the shared engine, then report the test error averaged over each
//! requested number of passes. What the paper's recipe adds comes through
//! [`Hooks`] ([`Recipe`]): Graham's summed loss, the augmentation of the
//! input field (until --augment-epochs), and the validation split that
//! chooses best.safetensors (--valid-size).

use super::args::{FmpOptimizer, TrainFmpArgs};
use super::augment::Augment;
use super::eval::error_by_tests;
use super::model::{net, Input};
use crate::data::{self, Dataset};
use crate::error::{usage, Result};
use crate::figures;
use crate::optim::parameter_count;
use crate::optim::schedule::At;
use crate::rng::Stream;
use crate::runner::engine::classify::{
    cross_entropy, error_rate, Classifier, ClassifierNet, Evaluation, Hooks, TestSet, COLUMNS,
};
use crate::runner::engine::epochs::{self, header};
use crate::runner::engine::session::{self, Session};
use crate::runner::record::summary::{Goal, Selection};
use std::collections::BTreeMap;
use tch::nn::{ModuleT, VarStore};
use tch::{Reduction, Tensor};

/// The paper's training recipe around the classifier steps.
struct Recipe<'a> {
    /// Differentiate the loss summed over the batch, as Graham's optimizer
    /// needs: SoftmaxClassifier.cu:7-14 back-propagates p - onehot for
    /// every image, not divided by the batch size, and his learning rates
    /// assume it (the engine still reports the loss per image).
    summed: bool,
    augment: Augment,
    /// Augment in epochs 1..=N only; None: always.
    augment_epochs: Option<i64>,
    /// The epoch being trained.
    epoch: i64,
    /// The held-out split that chooses best.safetensors, if any.
    valid: Option<&'a Dataset>,
    test: TestSet<'a>,
}

impl Hooks for Recipe<'_> {
    fn forward(&mut self, model: &dyn ModuleT, x: &Tensor) -> Tensor {
        let augmenting =
            self.augment.is_active() && self.augment_epochs.is_none_or(|n| self.epoch <= n);
        if augmenting {
            model.forward_t(&self.augment.apply(x), true)
        } else {
            model.forward_t(x, true)
        }
    }

    fn loss(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        let reduction = match self.summed {
            true => Reduction::Sum,
            false => Reduction::Mean,
        };
        cross_entropy(logits, labels, reduction)
    }

    fn summed_loss(&self) -> bool {
        self.summed
    }

    fn schedule(&mut self, at: At) {
        self.epoch = at.epoch;
    }

    fn selection(&self) -> Selection {
        match self.valid {
            Some(_) => Selection::new("valid_error", Goal::Lower),
            None => self.test.selection(),
        }
    }

    fn evaluate(&mut self, net: &ClassifierNet, s: &mut Session, epoch: i64) -> Result<Evaluation> {
        let mut eval = self.test.evaluate(net, s, epoch)?;
        if let Some(valid) = self.valid {
            let probs = net.softmax(valid, Stream::Eval(epoch as u64), s.seed)?;
            let error = error_rate(&probs, &valid.labels);
            eval.columns.insert(0, error);
            eval.line = format!("valid error {:.2}%  {}", 100.0 * error, eval.line);
            eval.selection = error;
        }
        Ok(eval)
    }
}

pub fn run(args: TrainFmpArgs) -> Result<()> {
    let args = session::resolve(args)?;
    let data = load(&args)?;
    let cfg = args.net_config(data.train.image_shape()[0], data.train.classes);
    let input = input(&args, cfg.input_size(), &data.train)?;
    let mut columns = COLUMNS.to_vec();
    if args.valid_size > 0 {
        columns.push("valid_error");
    }
    columns.push("test_error");
    let mut s = Session::open(&args, &header(&columns))?;
    let vs = VarStore::new(s.device);
    let model = net(&vs.root(), &cfg);
    let prepare = move |x: &Tensor, _train: bool| input.prepare(x);
    let hooks = Recipe {
        summed: args.optimizer == FmpOptimizer::Graham,
        augment: args.augment(input.levels_per_unit()),
        augment_epochs: args.augment_epochs,
        epoch: 0,
        valid: (args.valid_size > 0).then_some(&data.valid),
        test: TestSet(&data.test),
    };
    let mut steps = Classifier::new(&args, &model, &vs, &prepare, &data.train, hooks);
    let outcome = epochs::train(&mut s, &mut steps)?;
    if !outcome.finished {
        return s.stopped();
    }
    let trained = Trained {
        net: &steps.net,
        images_per_sec: outcome.images_per_sec,
        input_size: input.size,
    };
    evaluate(&args, &mut s, trained, &data)
}

/// The dataset cut as the flags say: training images (less the held-out
/// validation images, then --train-limit), validation and test images.
struct Splits {
    train: Dataset,
    valid: Dataset,
    test: Dataset,
}

fn load(args: &TrainFmpArgs) -> Result<Splits> {
    let splits = data::load(&args.data.dataset, &args.common.data_dir)?;
    if args.valid_size >= splits.train.len() {
        return Err(usage(format!(
            "--valid-size {}: expected fewer than the {} training images of {}",
            args.valid_size,
            splits.train.len(),
            args.data.dataset
        )));
    }
    let (train, valid) = splits.train.split_last(args.valid_size);
    Ok(Splits {
        train: train.limit(args.data.train_limit),
        valid,
        test: splits.test.limit(args.data.test_limit),
    })
}

/// The network's input for `size` (from --layers and --alpha), which must
/// hold the dataset's images.
fn input(args: &TrainFmpArgs, size: i64, train: &Dataset) -> Result<Input> {
    let [_, height, width] = train.image_shape();
    if size < height.max(width) {
        return Err(usage(format!(
            "--layers {} with --alpha {} gives a {size}x{size} input, smaller than the {height}x{width} images of {}; use more layers or a larger alpha",
            args.layers, args.alpha, args.data.dataset
        )));
    }
    Ok(Input {
        size,
        background: args.background,
    })
}

/// The trained network and what the summary says of its training.
struct Trained<'a> {
    net: &'a ClassifierNet<'a>,
    images_per_sec: f64,
    input_size: i64,
}

/// The last epoch's net tested with --tests passes each (pass 1 always,
/// as test_error), printed and written to summary.json.
fn evaluate(args: &TrainFmpArgs, s: &mut Session, t: Trained, data: &Splits) -> Result<()> {
    s.progress.line(&format!(
        "evaluating the last epoch's net with {:?} passes",
        args.tests
    ));
    let mut tests = args.tests.clone();
    if !tests.contains(&1) {
        tests.insert(0, 1);
    }
    let errors = error_by_tests(t.net, &data.test, &tests, s.seed, &mut s.progress)?;
    let by_tests: BTreeMap<String, f64> = errors.iter().map(|(r, e)| (r.to_string(), *e)).collect();
    for (r, e) in &errors {
        s.progress
            .line(&format!("test error, {r:>3} test(s): {:.2}%", 100.0 * e));
    }
    s.write_summary(
        Some(t.images_per_sec),
        figures! {
            "test_error" => errors.iter().find(|(r, _)| *r == 1).map(|(_, e)| *e),
            "test_error_by_tests" => by_tests,
            "params" => parameter_count(t.net.vs),
            "input_size" => t.input_size,
            "valid_images" => data.valid.len(),
        },
    )
}
