//! `paperlab train-inception`: train (or, with --eval-only, only evaluate) an
//! Inception network on the shared classifier loop, then evaluate the moving
//! average of its weights with 1, 10 or 144 crops.
//!
//! A run directory holds config.json, metrics.csv (one row per epoch),
//! checkpoints/{last,best}.safetensors (weights, optimizer, EMA, position),
//! predictions.csv (the final evaluation), weights.safetensors (the
//! evaluated weights under timm's names) and summary.json.

use super::args::TrainInceptionArgs;
use super::crops::{resize, to_rgb_float};
use super::data::{self, FolderSplits, Request, Train, Val};
use super::eval::{self, predict, top_errors};
use super::net::{build, Net};
use super::{summary, weights};
use crate::error::{usage, Result};
use crate::figures;
use crate::optim::{add_weight_decay, clip_grad_norm_total, parameter_count, Param};
use crate::runner::args::flag_name;
use crate::runner::compute::ema::Ema;
use crate::runner::engine::classify::{self, Classifier, Evaluation, Hooks, COLUMNS};
use crate::runner::engine::epochs::{self, header, Outcome};
use crate::runner::engine::session::{self, RunConfig, Session};
use crate::runner::record::summary::{Goal, Selection};
use crate::runner::store::checkpoint::CheckpointFile;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

/// metrics.csv columns after the classifier's (whose train_error is the
/// training top-1 error).
const EVAL_COLUMNS: [&str; 3] = ["val_top1_error", "val_top5_error", "zero_fraction"];

/// What train-inception adds to the shared loop.
struct InceptionHooks<'a> {
    net: &'a Net,
    ema: Option<&'a Ema<Net>>,
    val: &'a Val,
    args: &'a TrainInceptionArgs,
    /// Exactly-zero activations entering the final pool, and all of them,
    /// over the epoch's training batches (on the device).
    zeros: Tensor,
    seen: Tensor,
}

impl InceptionHooks<'_> {
    fn reset_zeros(&mut self, device: Device) {
        self.zeros = Tensor::zeros([], (Kind::Int64, device));
        self.seen = Tensor::zeros([], (Kind::Int64, device));
    }
}

impl Hooks for InceptionHooks<'_> {
    fn forward(&mut self, _model: &dyn ModuleT, x: &Tensor) -> Tensor {
        let features = self.net.features_t(x, true);
        tch::no_grad(|| {
            self.zeros += features.eq(0.0).sum(Kind::Int64);
            self.seen += features.numel() as i64;
        });
        self.net.head_t(&features, true)
    }

    fn loss(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        logits.cross_entropy_loss(
            labels,
            None::<Tensor>,
            Reduction::Mean,
            -100,
            self.args.label_smoothing,
        )
    }

    fn before_step(&mut self, params: &[Param]) -> Option<Tensor> {
        let (wd, update) = (self.args.weight_decay, self.args.common.update_impl);
        if wd > 0.0 {
            // L2 on weights only (convolutions, classifier), as TF-slim's
            // regularizers: its gradient joins the loss's before clipping.
            add_weight_decay(params.iter().filter(|p| p.tensor.dim() > 1), wd, update);
        }
        // The norm before clipping, as torch's clip_grad_norm_ returns it.
        (self.args.clip_grad_norm > 0.0)
            .then(|| clip_grad_norm_total(params, self.args.clip_grad_norm, update))
    }

    fn after_step(&mut self, step: i64) {
        if let Some(ema) = self.ema {
            ema.update(step);
        }
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut state = self.ema.map_or(vec![], |e| e.state());
        state.push(("zeros.count".into(), self.zeros.shallow_clone()));
        state.push(("zeros.seen".into(), self.seen.shallow_clone()));
        state
    }

    fn replicated(&self) -> Vec<Tensor> {
        self.ema.map_or(vec![], |e| e.variables())
    }

    fn load_state(&mut self, checkpoint: &CheckpointFile) -> Result<()> {
        if let Some(ema) = self.ema {
            ema.load(checkpoint)?;
        }
        let device = self.zeros.device();
        for (k, v) in checkpoint.section("zeros.") {
            match k.as_str() {
                "count" => self.zeros = v.to(device),
                "seen" => self.seen = v.to(device),
                _ => {}
            }
        }
        Ok(())
    }

    fn selection(&self) -> Selection {
        Selection::new("val_top1_error", Goal::Lower)
    }

    fn evaluate(
        &mut self,
        _net: &classify::ClassifierNet,
        s: &mut Session,
        _epoch: i64,
    ) -> Result<Evaluation> {
        let net = self.ema.map_or(self.net, |e| e.model());
        let settings = self.args.eval_settings(1, s.device)?;
        let probs = predict(net, self.val, &settings, &mut s.progress)?;
        let (top1, top5) = top_errors(&probs, &eval::labels(self.val));
        // Replaced by each epoch's evaluation, then by the final one.
        if s.is_writer() {
            eval::write_predictions(&s.dir.file("predictions.csv"), self.val, &probs)?;
        }
        let seen = self.seen.int64_value(&[]).max(1);
        let zero = self.zeros.int64_value(&[]) as f64 / seen as f64;
        self.reset_zeros(s.device);
        Ok(Evaluation {
            selection: top1,
            columns: vec![top1, top5, zero],
            line: format!(
                "val top-1 {:.2}%  top-5 {:.2}%  zeros {zero:.3}",
                100.0 * top1,
                100.0 * top5
            ),
        })
    }
}

pub fn run(args: TrainInceptionArgs) -> Result<()> {
    if args.summary {
        return summary::print(&args.checked()?);
    }
    let args = session::resolve(args)?;
    let (splits, classes) = load(&args)?;
    // Build and load --init-from before the run directory exists, so a
    // wrong file creates nothing (the session re-seeds the same way).
    let vs = VarStore::new(args.common.compute.setup()?);
    let cfg = args.net_config(classes);
    let net = build(&vs.root(), &cfg);
    let loaded = init_from(&args, &vs)?;
    let mut columns = COLUMNS.to_vec();
    columns.extend(EVAL_COLUMNS);
    let mut s = Session::open(&args, &header(&columns))?;
    if let Some(line) = loaded {
        s.progress.line(&line);
    }
    let ema = (args.ema_decay > 0.0 && !args.eval_only)
        .then(|| {
            Ema::new(&vs, args.ema_decay, |p| build(p, &cfg))
                .map(|e| e.with_update(args.common.update_impl))
        })
        .transpose()?;
    let trained = match &splits.train {
        Some(train) => {
            let done = train_epochs(&args, &mut s, (&net, &vs), ema.as_ref(), train, &splits.val)?;
            if !done.finished {
                return s.stopped();
            }
            Some(done.images_per_sec)
        }
        None => None,
    };
    let model = Model {
        net: &net,
        vs: &vs,
        ema: ema.as_ref(),
        classes,
    };
    evaluate(&args, &mut s, model, &splits.val, trained)
}

/// The dataset's splits and the classifier's outputs (--classes, at least
/// the dataset's classes).
fn load(args: &TrainInceptionArgs) -> Result<(FolderSplits, i64)> {
    let splits = data::load(&Request {
        spec: &args.dataset,
        data_dir: &args.common.data_dir,
        train: !args.eval_only,
        train_limit: args.train_limit,
        val_limit: args.val_limit,
        size: args.image_size,
        workers: args.workers()?,
    })?;
    let classes = args.classes.unwrap_or(splits.classes);
    if classes < splits.classes {
        return Err(usage(format!(
            "--classes {classes}: {} has {} classes; expected at least that many outputs",
            args.dataset, splits.classes
        )));
    }
    Ok((splits, classes))
}

/// Load --init-from into `vs` (not on --resume, whose checkpoint wins):
/// the line that says what was loaded.
fn init_from(args: &TrainInceptionArgs, vs: &VarStore) -> Result<Option<String>> {
    let (Some(file), false) = (&args.init_from, args.common.resuming()) else {
        return Ok(None);
    };
    let what = format!("{} (--width {})", flag_name(&args.model), args.width);
    let classifier = args.model.classifier();
    let loaded = weights::load(vs, file, &what, classifier, args.classes.is_some())?;
    let section = loaded
        .section
        .map_or(String::new(), |p| format!(" (its {p}* weights)"));
    let replaced = match loaded.classifier_replaced {
        true => "; the classifier is new",
        false => "",
    };
    Ok(Some(format!(
        "loaded {} tensors from {}{section}{replaced}",
        loaded.tensors,
        file.display()
    )))
}

/// The engine's epochs on `train`, validating on `val` after each.
fn train_epochs(
    args: &TrainInceptionArgs,
    s: &mut Session,
    (net, vs): (&Net, &VarStore),
    ema: Option<&Ema<Net>>,
    train: &Train,
    val: &Val,
) -> Result<Outcome> {
    let size = args.image_size;
    let prepare = move |x: &Tensor, train: bool| {
        let x = to_rgb_float(x);
        let x = resize(&x, size, size);
        let x = if train { random_flip(&x) } else { x };
        x * 2.0 - 1.0
    };
    let hooks = InceptionHooks {
        net,
        ema,
        val,
        args,
        zeros: Tensor::zeros([], (Kind::Int64, s.device)),
        seen: Tensor::zeros([], (Kind::Int64, s.device)),
    };
    let mut steps = Classifier::new(args, net, vs, &prepare, train.examples(), hooks);
    if let Some(e) = ema {
        steps.amp.layout().convert(e.vs());
    }
    epochs::train(s, &mut steps)
}

/// The trained (or --init-from) network, its weight average if any, and
/// its outputs.
struct Model<'a> {
    net: &'a Net,
    vs: &'a VarStore,
    ema: Option<&'a Ema<Net>>,
    classes: i64,
}

/// The final evaluation on `val`, with the weight average when there is
/// one: predictions.csv, weights.safetensors and summary.json (`trained`:
/// the training images/s, None for --eval-only).
fn evaluate(
    args: &TrainInceptionArgs,
    s: &mut Session,
    m: Model,
    val: &Val,
    trained: Option<f64>,
) -> Result<()> {
    let (eval_net, eval_vs) = match m.ema {
        Some(e) => (e.model(), e.vs()),
        None => (m.net, m.vs),
    };
    let settings = args.eval_settings(args.crops, s.device)?;
    let averaged = if m.ema.is_some() {
        "the weight EMA of "
    } else {
        ""
    };
    s.progress.line(&format!(
        "evaluating {averaged}{} on {} images, {} crop(s) each",
        flag_name(&args.model),
        val.len(),
        args.crops
    ));
    let probs = predict(eval_net, val, &settings, &mut s.progress)?;
    let (top1, top5) = top_errors(&probs, &eval::labels(val));
    if s.is_writer() {
        eval::write_predictions(&s.dir.file("predictions.csv"), val, &probs)?;
        if !args.eval_only {
            weights::save(eval_vs, &s.dir.file("weights.safetensors"))?;
        }
    }
    s.progress.line(&format!(
        "{}-crop val error: top-1 {:.2}%  top-5 {:.2}%",
        args.crops,
        100.0 * top1,
        100.0 * top5
    ));
    s.write_summary(
        trained,
        figures! {
            "model" => flag_name(&args.model),
            "params" => parameter_count(m.vs),
            "top1_error" => top1,
            "top5_error" => top5,
            "crops" => args.crops,
            "crop_pct" => settings.crop_pct,
            "image_size" => args.image_size,
            "width" => args.width,
            "classes" => m.classes,
            "val_images" => val.len(),
            "ema" => m.ema.is_some(),
            "init_from" => args.init_from.as_ref().map(|p| p.display().to_string()),
        },
    )
}

/// Mirror each image of [B, C, H, W] with probability 1/2 (torch's
/// generator, seeded per step by the loop).
fn random_flip(x: &Tensor) -> Tensor {
    let b = x.size()[0];
    let flip = Tensor::rand([b], (Kind::Float, x.device()))
        .lt(0.5)
        .view([b, 1, 1, 1]);
    x.flip([3]).where_self(&flip, x)
}
