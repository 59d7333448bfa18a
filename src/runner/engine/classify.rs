//! The classifier steps of the training engine, shared by every paper that
//! trains a classifier: cross-entropy on a batch, one optimizer step,
//! training loss and error summed on the device, and a per-epoch evaluation;
//! the forward pass and loss under the run's autocast, and fp16's loss
//! scaling, come from [`Amp`].
//! What a paper adds (its own forward and loss, work around the optimizer
//! step such as gradient clipping or a weight average, extra checkpointed
//! state, its evaluation and columns) comes through [`Hooks`].

use crate::data::batches::{batch, Batch};
use crate::data::examples::Examples;
use crate::data::Dataset;
use crate::error::Result;
use crate::optim::schedule::{apply, values, At, Scheduled};
use crate::optim::{params_of, OptimConfig, Optimizer, Param};
use crate::rng::Stream;
use crate::runner::compute::precision::Amp;
use crate::runner::dist;
use crate::runner::engine::accumulate::micro_batches;
use crate::runner::engine::epochs::{EpochEnd, Steps};
use crate::runner::engine::session::{RunConfig, Session};
use crate::runner::engine::sums::{Means, RunningSums};
use crate::runner::record::summary::{Goal, Selection};
use crate::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use tch::{nn::ModuleT, nn::VarStore, Device, Kind, Reduction, Tensor};

/// Turns a batch of [0, 1] images on the device into the network's input
/// (padding, augmentation when `train`).
pub type Prepare<'a> = &'a dyn Fn(&Tensor, bool) -> Tensor;

/// The network being trained and how its inputs are made.
pub struct ClassifierNet<'a> {
    pub model: &'a dyn ModuleT,
    pub vs: &'a VarStore,
    pub prepare: Prepare<'a>,
    pub batch_size: i64,
}

/// One per-epoch evaluation.
pub struct Evaluation {
    /// The value of the hooks' selection metric.
    pub selection: f64,
    /// metrics.csv values after train_error.
    pub columns: Vec<f64>,
    /// For the epoch's log line, e.g. "test error 1.23%".
    pub line: String,
}

/// What a paper adds to the classifier steps. [`Hooks::selection`] and
/// [`Hooks::evaluate`] are required.
pub trait Hooks {
    /// Logits of a training batch.
    fn forward(&mut self, model: &dyn ModuleT, x: &Tensor) -> Tensor {
        model.forward_t(x, true)
    }
    /// The training loss: the batch's mean, or its sum where
    /// [`Hooks::summed_loss`] says so.
    fn loss(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        cross_entropy(logits, labels, Reduction::Mean)
    }
    /// Whether [`Hooks::loss`] is a sum over the batch (else a mean): how
    /// a distributed run combines the processes' gradients, and how the
    /// loss per example is reported.
    fn summed_loss(&self) -> bool {
        false
    }
    /// Before the first step of a run, with its first batch, prepared
    /// (data-dependent initialisation).
    fn init(&mut self, _net: &ClassifierNet, _x: &Tensor) -> Result<()> {
        Ok(())
    }
    /// After backward (and the gradients' reduction across processes and
    /// unscaling, [`Amp::unscale`]), before the optimizer step (e.g. clip
    /// the gradients); the gradients' norm when it measures one (on the
    /// device), which the per-step log shows as grad_norm.
    fn before_step(&mut self, _params: &[Param]) -> Option<Tensor> {
        None
    }
    /// After the optimizer step; `step` counts the steps taken so far.
    fn after_step(&mut self, _step: i64) {}
    /// Before every step, with where training stands: for what changes with
    /// the epoch besides the optimizer's hyperparameters (e.g. augmentation
    /// that stops after some epoch).
    fn schedule(&mut self, _at: At) {}
    /// Tensors saved with every checkpoint, keys prefixed by the hook
    /// (e.g. "ema."); they must not start with model., optim., scaler.,
    /// train., sums., pending. or window.
    fn state(&self) -> Vec<(String, Tensor)> {
        vec![]
    }
    /// Variables of the hooks' own that every process must hold alike (an
    /// EMA's shadow): see [`Steps::replicated`].
    fn replicated(&self) -> Vec<Tensor> {
        vec![]
    }
    /// Restore what [`Hooks::state`] saved, on --resume.
    fn load_state(&mut self, _checkpoint: &CheckpointFile) -> Result<()> {
        Ok(())
    }
    /// The evaluation metric that chooses best.safetensors.
    fn selection(&self) -> Selection;
    /// Evaluate after epoch `epoch` (1-based).
    fn evaluate(&mut self, net: &ClassifierNet, s: &mut Session, epoch: i64) -> Result<Evaluation>;
}

/// The classifier's metrics.csv columns before the hooks' own.
pub const COLUMNS: [&str; 3] = ["lr", "train_loss", "train_error"];

/// A classifier trained by the engine.
pub struct Classifier<'a, H> {
    pub net: ClassifierNet<'a>,
    pub opt: Box<dyn Optimizer>,
    pub schedules: Vec<Scheduled>,
    pub examples: &'a dyn Examples,
    pub epochs: i64,
    pub hooks: H,
    /// Precision and layout of the training step (`Common::amp`).
    pub amp: Amp,
    /// Micro-batches per optimizer step (--accumulate).
    pub accumulate: i64,
}

/// What a classifying trainer's configuration tells the shared steps
/// besides [`RunConfig`]'s batch and precision: its optimizer, schedules and
/// length.
pub trait ClassifierOptions: RunConfig {
    fn epochs(&self) -> i64;
    fn optim_config(&self) -> OptimConfig;
    fn schedules(&self) -> Vec<Scheduled>;
}

impl<'a, H: Hooks> Classifier<'a, H> {
    /// The steps that train `model` (its variables on `vs`, its input made
    /// by `prepare`) on `examples`, with everything else from `args`: the
    /// batch, precision and layout (converting `vs` to channels-last when
    /// asked), the optimizer in its --update-impl form, the schedules and
    /// the epochs.
    pub fn new(
        args: &impl ClassifierOptions,
        model: &'a dyn ModuleT,
        vs: &'a VarStore,
        prepare: Prepare<'a>,
        examples: &'a dyn Examples,
        hooks: H,
    ) -> Self {
        let common = args.common();
        Classifier {
            net: ClassifierNet {
                model,
                vs,
                prepare,
                batch_size: args.global_batch(),
            },
            amp: common.amp(vs),
            opt: args.optim_config().build(params_of(vs), common.update_impl),
            schedules: args.schedules(),
            examples,
            epochs: args.epochs(),
            hooks,
            accumulate: common.accumulate,
        }
    }
}

impl<H: Hooks> Steps for Classifier<'_, H> {
    fn examples(&self) -> &dyn Examples {
        self.examples
    }

    fn batch_size(&self) -> i64 {
        self.net.batch_size
    }

    fn epochs(&self) -> i64 {
        self.epochs
    }

    fn selection(&self) -> Option<Selection> {
        Some(self.hooks.selection())
    }

    fn init(&mut self, first: &Batch) -> Result<()> {
        let x = (self.net.prepare)(&first.images, true);
        self.hooks.init(&self.net, &x)
    }

    fn schedule(&mut self, at: At) -> Result<()> {
        self.hooks.schedule(at);
        apply(&self.schedules, self.opt.as_mut(), at)
    }

    fn hyperparameters(&self, at: At) -> Vec<(&'static str, f64)> {
        values(&self.schedules, at)
    }

    fn step(&mut self, at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()> {
        for data in batches {
            let x = self.amp.input(&(self.net.prepare)(&data.images, true));
            self.opt.zero_grad();
            let n = data.labels.size()[0];
            let summed = self.hooks.summed_loss();
            for micro in micro_batches(n, self.accumulate, summed) {
                let labels = micro.rows(&data.labels);
                let (logits, loss) = self.amp.autocast(|| {
                    let logits = self
                        .amp
                        .fp32_outputs(self.hooks.forward(self.net.model, &micro.rows(&x)));
                    let loss = self.hooks.loss(&logits, &labels);
                    (logits, loss)
                });
                let amp = &self.amp;
                micro.backward(self.opt.params(), &loss, |l| amp.backward(l))?;
                add_sums(sums, &logits, &loss, &labels, summed);
            }
            self.amp.unscale(self.opt.params());
            let norm = self.hooks.before_step(self.opt.params());
            self.amp.step(self.opt.as_mut());
            if let Some(norm) = norm {
                sums.add("grad_norm", &norm, 1.0);
            }
        }
        self.hooks.after_step(at.step + 1);
        Ok(())
    }

    fn progress(&self, means: &Means) -> String {
        format!("loss {:.4}", means.get("loss"))
    }

    fn end_epoch(&mut self, s: &mut Session, epoch: i64, means: &Means) -> Result<EpochEnd> {
        let eval = self.hooks.evaluate(&self.net, s, epoch)?;
        let (lr, loss, error) = (self.opt.lr(), means.get("loss"), means.get("error"));
        let mut columns = vec![lr, loss, error];
        columns.extend(&eval.columns);
        Ok(EpochEnd {
            columns,
            line: format!(
                "lr {lr:.5}  train loss {loss:.4}  train error {:.2}%  {}",
                100.0 * error,
                eval.line
            ),
            selection: eval.selection,
        })
    }

    fn replicated(&self) -> Vec<Tensor> {
        let mut vars = dist::variables(self.net.vs);
        vars.extend(self.hooks.replicated());
        vars
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new()
            .vars("model.", self.net.vs)
            .tensors("optim.", self.opt.state())
            .tensors("scaler.", self.amp.state())
            .tensors("", self.hooks.state())
    }

    fn restore(&mut self, checkpoint: &CheckpointFile) -> Result<()> {
        checkpoint.load_vars("model.", self.net.vs)?;
        self.opt.load_state(&checkpoint.section("optim."))?;
        self.amp.load_state(&checkpoint.section("scaler."))?;
        self.hooks.load_state(checkpoint)
    }
}

/// A (micro-)batch's training loss (per example, whether `loss` is their
/// mean or their sum) and errors, each example counted once.
fn add_sums(sums: &mut RunningSums, logits: &Tensor, loss: &Tensor, labels: &Tensor, summed: bool) {
    let n = labels.size()[0] as f64;
    sums.watch(loss);
    tch::no_grad(|| {
        match summed {
            true => sums.add("loss", loss, n),
            false => sums.add("loss", &(loss * n), n),
        }
        let wrong = logits.argmax(1, false).ne_tensor(labels).sum(Kind::Int64);
        sums.add("error", &wrong, n);
    });
}

/// The plain evaluation (train-fmp's): one pass over a test set, test_error.
pub struct TestSet<'a>(pub &'a Dataset);

impl Hooks for TestSet<'_> {
    fn selection(&self) -> Selection {
        Selection::new("test_error", Goal::Lower)
    }

    fn evaluate(&mut self, net: &ClassifierNet, s: &mut Session, epoch: i64) -> Result<Evaluation> {
        let probs = net.softmax(self.0, Stream::Eval(epoch as u64), s.seed)?;
        let error = error_rate(&probs, &self.0.labels);
        Ok(Evaluation {
            selection: error,
            columns: vec![error],
            line: format!("test error {:.2}%", 100.0 * error),
        })
    }
}

impl ClassifierNet<'_> {
    /// The softmax over `ds`, one pass (evaluation mode), in dataset order:
    /// the building block of single and multi-pass evaluation. Seeded from
    /// its own `stream` so evaluation does not disturb (or depend on)
    /// training's random draws.
    /// In a distributed run each process takes its share of the batches
    /// and all receive every row (`dist::gather_rows`).
    pub fn softmax(&self, ds: &Dataset, stream: Stream, seed: u64) -> Result<Tensor> {
        dist::seed_pass(seed, stream);
        let order: Vec<i64> = (0..ds.len()).collect();
        let batches: Vec<&[i64]> = order.chunks(self.batch_size as usize).collect();
        let own = dist::eval_batches(batches.len());
        let device = self.vs.device();
        tch::no_grad(|| {
            let parts: Vec<Tensor> = batches[own]
                .iter()
                .map(|idx| {
                    let data = batch(ds, idx, device);
                    self.model
                        .forward_t(&(self.prepare)(&data.images, false), false)
                        .softmax(1, Kind::Float)
                })
                .collect();
            dist::gather_rows(&Tensor::cat(&parts, 0), batches.len())
        })
    }
}

/// Fraction of rows of `scores` whose argmax differs from `labels`.
pub fn error_rate(scores: &Tensor, labels: &Tensor) -> f64 {
    let wrong = scores
        .argmax(1, false)
        .to(Device::Cpu)
        .ne_tensor(labels)
        .sum(Kind::Int64)
        .int64_value(&[]);
    wrong as f64 / labels.size()[0].max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{params_of, OptimConfig, SgdConfig, UpdateImpl};
    use crate::runner::compute::ema::Ema;
    use crate::runner::compute::layout::Layout;
    use crate::runner::compute::precision::Precision;
    use std::collections::HashSet;
    use tch::nn::{self, Module};

    /// Hooks holding a weight EMA, as Inception's do.
    struct WithEma(Ema<nn::Linear>);

    impl Hooks for WithEma {
        fn replicated(&self) -> Vec<Tensor> {
            self.0.variables()
        }
        fn selection(&self) -> Selection {
            Selection::new("x", Goal::Lower)
        }
        fn evaluate(&mut self, _: &ClassifierNet, _: &mut Session, _: i64) -> Result<Evaluation> {
            unreachable!("not evaluated here")
        }
    }

    fn pointers(ts: &[Tensor]) -> HashSet<usize> {
        ts.iter().map(|t| t.data_ptr() as usize).collect()
    }

    /// What a distributed run broadcasts at step 0 is the model's and the
    /// EMA's variables themselves (so the broadcast updates them), every
    /// one of them, and nothing of the optimizer's or the loss scaler's
    /// state (copies, some of them on the CPU whatever the device).
    #[test]
    fn replicated_are_the_model_and_ema_variables_themselves() {
        let vs = VarStore::new(Device::Cpu);
        let linear = |p: &nn::Path| nn::linear(p / "fc", 4, 3, Default::default());
        let model = linear(&vs.root());
        let ema = Ema::new(&vs, 0.9, linear).unwrap();
        let sgd = SgdConfig {
            momentum: 0.9,
            ..SgdConfig::new(0.1)
        };
        let mut opt = OptimConfig::Sgd(sgd).build(params_of(&vs), UpdateImpl::Auto);
        // One step, so the optimizer holds its state.
        model
            .forward(&Tensor::ones([2, 4], (Kind::Float, Device::Cpu)))
            .sum(Kind::Float)
            .backward();
        opt.step();
        let examples = Dataset {
            images: Tensor::zeros([1, 1, 2, 2], (Kind::Uint8, Device::Cpu)),
            labels: Tensor::zeros([1], (Kind::Int64, Device::Cpu)),
            classes: 3,
        };
        let prepare = |x: &Tensor, _| x.shallow_clone();
        let steps = Classifier {
            net: ClassifierNet {
                model: &model,
                vs: &vs,
                prepare: &prepare,
                batch_size: 1,
            },
            amp: Amp::new(Precision::Fp16, Layout::Contiguous, &vs),
            opt,
            schedules: vec![],
            examples: &examples,
            epochs: 1,
            hooks: WithEma(ema),
            accumulate: 1,
        };
        let replicated = steps.replicated();
        let live: Vec<Tensor> = vs.variables().into_values().collect();
        let mut expected = pointers(&live);
        expected.extend(pointers(&steps.hooks.0.variables()));
        assert_eq!(
            replicated.len(),
            4,
            "the weight and bias of the model and of its EMA"
        );
        assert_eq!(pointers(&replicated), expected);
        let state: Vec<Tensor> = steps
            .opt
            .state()
            .into_iter()
            .chain(steps.amp.state())
            .map(|(_, t)| t)
            .collect();
        assert!(!state.is_empty());
        assert!(pointers(&replicated).is_disjoint(&pointers(&state)));
    }
}

/// The cross-entropy of `logits` against `labels` as one op (tch's
/// `cross_entropy_for_logits` dispatches log_softmax and nll_loss).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, reduction: Reduction) -> Tensor {
    logits.cross_entropy_loss::<Tensor>(labels, None, reduction, -100, 0.0)
}
