//! The GAN steps of the training engine: the adversarial game of the
//! paper's Algorithm 1 for any pair of networks. Each step makes k D
//! updates, each on its own real batch and fresh z, then one G update on
//! fresh z; D's dropout is on in both, as in the authors' cost. (The
//! authors' code, with k = 1, took the D and G steps from one shared forward
//! pass; here they alternate, as the paper writes.) An epoch is one pass of
//! D over the training images.

use super::args::GLoss;
use super::nets::Latent;
use crate::data::batches::Batch;
use crate::data::examples::Examples;
use crate::error::Result;
use crate::optim::schedule::{apply, values, At, Scheduled};
use crate::optim::{Hyper, Optimizer};
use crate::runner::compute::precision::Amp;
use crate::runner::dist::{self, share};
use crate::runner::engine::accumulate::{micro_batches, Micro};
use crate::runner::engine::epochs::{EpochEnd, Steps};
use crate::runner::engine::session::Session;
use crate::runner::engine::sums::{Means, RunningSums};
use crate::runner::record::summary::Selection;
use crate::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use tch::nn::{ModuleT, VarStore};
use tch::{Kind, Tensor};

/// One of the two players: its network, variables and optimizer, and the
/// precision and layout of its updates (each player has its own fp16 loss
/// scaler, so one's overflow does not skip the other's step).
pub struct Player {
    pub net: Box<dyn ModuleT>,
    pub vs: VarStore,
    pub opt: Box<dyn Optimizer>,
    pub amp: Amp,
}

/// What the GAN reports after each epoch, besides the losses.
pub trait EpochReport {
    /// The selection metric, if the run measures one.
    fn selection(&self) -> Option<Selection>;
    /// Columns after d_loss, g_loss, d_x, d_g_z, lr, momentum; the log
    /// line's tail; the selection value (NaN when not measured).
    fn report(
        &mut self,
        s: &mut Session,
        g: &mut Player,
        epoch: i64,
    ) -> Result<(Vec<f64>, String, f64)>;
}

/// What D and G minimise.
#[derive(Debug, Clone, Copy)]
pub struct Objective {
    pub g_loss: GLoss,
    /// Least squares on D's outputs: D minimises (D(x) - 1)^2 + D(G(z))^2,
    /// G minimises (D(G(z)) - 1)^2 (--ls); else binary cross-entropy.
    pub least_squares: bool,
    /// D's loss is its two terms times this: 0.5 for the MLP (pylearn2's
    /// d_obj, their mean), 1 for the DCGAN (pytorch/main.py adds the BCE of
    /// the real and the fake batch).
    pub d_weight: f64,
}

pub struct GanSteps<'a> {
    pub g: Player,
    pub d: Player,
    pub latent: Latent,
    pub objective: Objective,
    /// Applied to both players' optimizers.
    pub schedules: Vec<Scheduled>,
    pub examples: &'a dyn Examples,
    /// Examples an epoch draws (one pass, or --test-interval batches).
    pub epoch_examples: i64,
    pub batch_size: i64,
    /// k: D updates per G update.
    pub d_steps: i64,
    pub epochs: i64,
    /// Micro-batches per D and per G update (--accumulate).
    pub accumulate: i64,
    pub report: Box<dyn EpochReport + 'a>,
}

/// metrics.csv columns of the GAN steps before the report's own: d_x and
/// d_g_z are the mean D(x) and D(G(z)) of D's training passes (dropout on).
pub const COLUMNS: [&str; 6] = ["d_loss", "g_loss", "d_x", "d_g_z", "lr", "momentum"];

impl GanSteps<'_> {
    /// One D update on real images `x` and as many samples of G, over
    /// --accumulate's micro-batches (z drawn for the whole batch first).
    fn d_step(&mut self, x: &Tensor, sums: &mut RunningSums) -> Result<()> {
        let n = x.size()[0];
        let z = self.latent.sample(n, x.device());
        let x = self.d.amp.input(x);
        self.d.opt.zero_grad();
        for micro in micro_batches(n, self.accumulate, false) {
            let (x, z) = (micro.rows(&x), micro.rows(&z));
            let (g, d, objective) = (&self.g, &self.d, self.objective);
            let (real, fake, loss) = d.amp.autocast(|| {
                let fake = tch::no_grad(|| g.net.forward_t(&z, true));
                let real = d.amp.fp32_outputs(d.net.forward_t(&x, true));
                let fake = d.amp.fp32_outputs(d.net.forward_t(&fake, true));
                // BCE: -(log D(x) + log(1 - D(G(z)))), from D's logits.
                let terms = match objective.least_squares {
                    false => {
                        (-&real).softplus().mean(Kind::Float) + fake.softplus().mean(Kind::Float)
                    }
                    true => {
                        (real.sigmoid() - 1.0).square().mean(Kind::Float)
                            + fake.sigmoid().square().mean(Kind::Float)
                    }
                };
                // A weight of 1 is no op (one launch less each way).
                let loss = match objective.d_weight == 1.0 {
                    true => terms,
                    false => terms * objective.d_weight,
                };
                (real, fake, loss)
            });
            micro.backward(d.opt.params(), &loss, |l| d.amp.backward(l))?;
            // Each update's means, from its micro-batches' by their shares.
            sums.watch(&loss);
            tch::no_grad(|| {
                let mean = |t: &Tensor| micro.weigh(&t.sigmoid().mean(Kind::Double));
                sums.add("d_loss", &micro.weigh(&loss), micro.share);
                sums.add("d_x", &mean(&real), micro.share);
                sums.add("d_g_z", &mean(&fake), micro.share);
            });
        }
        self.d.amp.step(self.d.opt.as_mut());
        Ok(())
    }

    /// One G update on a batch of fresh z (this process's share of it in a
    /// distributed run), over --accumulate's micro-batches; D is frozen
    /// meanwhile, so no gradient is computed for its weights.
    fn g_step(&mut self, sums: &mut RunningSums) -> Result<()> {
        self.d.vs.freeze();
        let n = share(self.batch_size);
        let z = self.latent.sample(n, self.g.vs.device());
        self.g.opt.zero_grad();
        let reduced = micro_batches(n, self.accumulate, false)
            .iter()
            .try_for_each(|micro| self.g_micro(&micro.rows(&z), micro, sums));
        self.d.vs.unfreeze();
        reduced?;
        self.g.amp.step(self.g.opt.as_mut());
        Ok(())
    }

    /// Forward and backward of G's loss on one micro-batch `z`.
    fn g_micro(&self, z: &Tensor, micro: &Micro, sums: &mut RunningSums) -> Result<()> {
        let (g, d, objective) = (&self.g, &self.d, self.objective);
        let loss = g.amp.autocast(|| {
            let logit = g
                .amp
                .fp32_outputs(d.net.forward_t(&g.net.forward_t(z, true), true));
            match (objective.least_squares, objective.g_loss) {
                (true, _) => (logit.sigmoid() - 1.0).square().mean(Kind::Float),
                (false, GLoss::NonSaturating) => (-&logit).softplus().mean(Kind::Float),
                (false, GLoss::Minimax) => -logit.softplus().mean(Kind::Float),
            }
        });
        micro.backward(g.opt.params(), &loss, |l| g.amp.backward(l))?;
        sums.watch(&loss);
        tch::no_grad(|| sums.add("g_loss", &micro.weigh(&loss), micro.share));
        Ok(())
    }
}

impl Steps for GanSteps<'_> {
    fn examples(&self) -> &dyn Examples {
        self.examples
    }

    fn epoch_examples(&self) -> i64 {
        self.epoch_examples
    }

    fn batch_size(&self) -> i64 {
        self.batch_size
    }

    fn batches_per_step(&self) -> i64 {
        self.d_steps
    }

    fn epochs(&self) -> i64 {
        self.epochs
    }

    fn selection(&self) -> Option<Selection> {
        self.report.selection()
    }

    fn schedule(&mut self, at: At) -> Result<()> {
        apply(&self.schedules, self.g.opt.as_mut(), at)?;
        apply(&self.schedules, self.d.opt.as_mut(), at)
    }

    fn hyperparameters(&self, at: At) -> Vec<(&'static str, f64)> {
        values(&self.schedules, at)
    }

    fn step(&mut self, _at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()> {
        for b in batches {
            self.d_step(&b.images, sums)?;
        }
        self.g_step(sums)
    }

    fn progress(&self, m: &Means) -> String {
        format!(
            "D loss {:.3}  G loss {:.3}  D(x) {:.2}  D(G(z)) {:.2}",
            m.get("d_loss"),
            m.get("g_loss"),
            m.get("d_x"),
            m.get("d_g_z")
        )
    }

    fn end_epoch(&mut self, s: &mut Session, epoch: i64, m: &Means) -> Result<EpochEnd> {
        // What the last step used (RMSProp's momentum is 0).
        let lr = self.g.opt.lr();
        let momentum = self.g.opt.get(Hyper::Momentum).unwrap_or(f64::NAN);
        let (extra, tail, selection) = self.report.report(s, &mut self.g, epoch)?;
        let mut columns = vec![
            m.get("d_loss"),
            m.get("g_loss"),
            m.get("d_x"),
            m.get("d_g_z"),
            lr,
            momentum,
        ];
        columns.extend(extra);
        Ok(EpochEnd {
            columns,
            line: format!(
                "{}  lr {lr:.5}  momentum {momentum:.3}{tail}",
                self.progress(m)
            ),
            selection,
        })
    }

    fn replicated(&self) -> Vec<Tensor> {
        let mut vars = dist::variables(&self.g.vs);
        vars.extend(dist::variables(&self.d.vs));
        vars
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new()
            .vars("g.", &self.g.vs)
            .vars("d.", &self.d.vs)
            .tensors("g_optim.", self.g.opt.state())
            .tensors("d_optim.", self.d.opt.state())
            .tensors("g_scaler.", self.g.amp.state())
            .tensors("d_scaler.", self.d.amp.state())
    }

    fn restore(&mut self, ckpt: &CheckpointFile) -> Result<()> {
        ckpt.load_vars("g.", &self.g.vs)?;
        ckpt.load_vars("d.", &self.d.vs)?;
        self.g.opt.load_state(&ckpt.section("g_optim."))?;
        self.d.opt.load_state(&ckpt.section("d_optim."))?;
        self.g.amp.load_state(&ckpt.section("g_scaler."))?;
        self.d.amp.load_state(&ckpt.section("d_scaler."))
    }
}
