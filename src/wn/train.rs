//! `paperlab train-wn`: the weight-normalisation paper's CIFAR-10
//! comparison, one normalisation per run, on the shared classifier steps.
//! What it adds through [`Hooks`]: the data-dependent initialisation
//! before step 0 and a beta1 column beside the test error.

use super::args::{InitMode, TrainWnArgs};
use super::model::{net, WnNet};
use super::zca::{self, scale, Origin, Zca};
use crate::data::batches::{batch, epoch_order};
use crate::data::{self, Dataset};
use crate::error::{usage, Result};
use crate::figures;
use crate::optim::parameter_count;
use crate::optim::schedule::{At, Schedule, Switch};
use crate::runner::args::flag_name;
use crate::runner::dist;
use crate::runner::engine::classify::{
    Classifier, ClassifierNet, Evaluation, Hooks, TestSet, COLUMNS,
};
use crate::runner::engine::epochs::{self, header};
use crate::runner::engine::session::{self, Session};
use crate::runner::record::summary::Selection;
use tch::{nn::VarStore, Tensor};

/// metrics.csv columns after the classifier's.
const EVAL_COLUMNS: [&str; 2] = ["test_error", "beta1"];

struct WnHooks<'a> {
    model: &'a WnNet,
    train: &'a Dataset,
    test: TestSet<'a>,
    /// Images of the data-dependent initialisation; None: --init default.
    init_batch: Option<i64>,
    beta1: Switch,
    seed: u64,
    /// The last evaluation's test error.
    test_error: f64,
}

impl Hooks for WnHooks<'_> {
    /// The paper's initialisation on the first `init_batch` images of epoch
    /// 1's order, rather than the engine's first batch: the authors used
    /// 500 images, more than a batch (lasagne/train.py,
    /// `initfun(trainx_white[:500])` after the first shuffle). The engine
    /// calls this before step 0 only, so a resumed run keeps its weights.
    fn init(&mut self, net: &ClassifierNet, _first: &Tensor) -> Result<()> {
        let Some(n) = self.init_batch else {
            return Ok(());
        };
        let order = epoch_order(self.train.len(), self.seed, 1);
        let take = (n as usize).min(order.len());
        let images = batch(self.train, &order[..take], net.vs.device()).images;
        self.model.init(&(net.prepare)(&images, true));
        Ok(())
    }

    fn selection(&self) -> Selection {
        self.test.selection()
    }

    fn evaluate(&mut self, net: &ClassifierNet, s: &mut Session, epoch: i64) -> Result<Evaluation> {
        let mut eval = self.test.evaluate(net, s, epoch)?;
        self.test_error = eval.selection;
        let beta1 = self.beta1.value(At { epoch, step: 0 });
        eval.columns.push(beta1);
        eval.line = format!("{}  beta1 {beta1}", eval.line);
        Ok(eval)
    }
}

pub fn run(args: TrainWnArgs) -> Result<()> {
    let args = session::resolve(args)?;
    let (train, test) = load(&args)?;
    let cfg = args.net_config(train.image_shape(), train.classes)?;
    let mut columns = COLUMNS.to_vec();
    columns.extend(EVAL_COLUMNS);
    let mut s = Session::open(&args, &header(&columns))?;
    let zca = match args.zca {
        true => Some(whitening(&args, &train, &mut s)?.to(s.device)),
        false => None,
    };
    let prepare = move |x: &Tensor, _train: bool| {
        let x = scale(x);
        match &zca {
            Some(z) => z.apply(&x),
            None => x,
        }
    };
    let vs = VarStore::new(s.device);
    let model = net(&vs.root(), &cfg);
    let hooks = WnHooks {
        model: &model,
        train: &train,
        test: TestSet(&test),
        init_batch: (args.init == InitMode::Data).then_some(args.init_batch),
        beta1: args.beta1_schedule(),
        seed: s.seed,
        test_error: f64::NAN,
    };
    let mut steps = Classifier::new(&args, &model, &vs, &prepare, &train, hooks);
    let outcome = epochs::train(&mut s, &mut steps)?;
    if !outcome.finished {
        return s.stopped();
    }
    let seconds_per_epoch = train.len() as f64 / outcome.images_per_sec;
    s.progress.line(&format!(
        "{}: test error {:.2}%, {seconds_per_epoch:.1} s per epoch",
        flag_name(&args.norm),
        100.0 * steps.hooks.test_error
    ));
    s.write_summary(
        Some(outcome.images_per_sec),
        figures! {
            "norm" => flag_name(&args.norm),
            "test_error" => steps.hooks.test_error,
            "seconds_per_epoch" => seconds_per_epoch,
            "params" => parameter_count(&vs),
            "zca" => args.zca,
            "data_init" => args.init == InitMode::Data,
        },
    )
}

/// The training and test images, after --train-limit and --test-limit:
/// neither may be empty.
fn load(args: &TrainWnArgs) -> Result<(Dataset, Dataset)> {
    let splits = data::load(&args.data.dataset, &args.common.data_dir)?;
    let (train, test) = (
        splits.train.limit(args.data.train_limit),
        splits.test.limit(args.data.test_limit),
    );
    if train.is_empty() || test.is_empty() {
        return Err(usage(format!(
            "--dataset {}: {} training and {} test images; train-wn needs both",
            args.data.dataset,
            train.len(),
            test.len()
        )));
    }
    Ok((train, test))
}

/// The ZCA fit of the training set (from the cache when there is one),
/// saying in the log where it came from. In a distributed run rank 0 fits
/// and caches it first and the others read its cache.
fn whitening(args: &TrainWnArgs, train: &Dataset, s: &mut Session) -> Result<Zca> {
    let path = zca::cache_path(
        &args.common.data_dir,
        &args.data.dataset,
        train.len(),
        args.zca_reg,
    );
    let write = s.is_writer();
    let (fit, origin) = dist::rank_zero_first("zca_cached", || {
        zca::load_or_fit(train, &path, args.zca_reg, write)
    })?;
    let line = match origin {
        Origin::Cached(p) => format!("ZCA whitening from {}", p.display()),
        Origin::Fitted { cached: Ok(p) } => format!(
            "ZCA whitening fitted on {} training images, cached at {}",
            train.len(),
            p.display()
        ),
        Origin::Fitted { cached: Err(e) } => format!(
            "ZCA whitening fitted on {} training images (not cached: {e})",
            train.len()
        ),
    };
    s.progress.line(&line);
    Ok(fit)
}
