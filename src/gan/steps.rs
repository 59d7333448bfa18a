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
use crate::optim::schedule::{apply, value_of, At, Scheduled};
use crate::optim::{Hyper, Optimizer};
use crate::runner::checkpoint::{Checkpoint, CheckpointFile};
use crate::runner::epochs::{EpochEnd, Steps};
use crate::runner::session::Session;
use crate::runner::summary::Selection;
use crate::runner::sums::{Means, RunningSums};
use tch::nn::{ModuleT, VarStore};
use tch::{Kind, Tensor};

/// One of the two players: its network, variables and optimizer.
pub struct Player {
    pub net: Box<dyn ModuleT>,
    pub vs: VarStore,
    pub opt: Box<dyn Optimizer>,
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
        g: &dyn ModuleT,
        epoch: i64,
    ) -> Result<(Vec<f64>, String, f64)>;
}

pub struct GanSteps<'a, R> {
    pub g: Player,
    pub d: Player,
    pub latent: Latent,
    pub g_loss: GLoss,
    /// Applied to both players' optimizers.
    pub schedules: Vec<Scheduled>,
    pub examples: &'a dyn Examples,
    pub batch_size: i64,
    /// k: D updates per G update.
    pub d_steps: i64,
    pub epochs: i64,
    pub report: R,
    /// Where the last step was, for the epoch's lr and momentum columns.
    pub last: At,
}

/// metrics.csv columns of the GAN steps before the report's own: d_x and
/// d_g_z are the mean D(x) and D(G(z)) of D's training passes (dropout on).
pub const COLUMNS: [&str; 6] = ["d_loss", "g_loss", "d_x", "d_g_z", "lr", "momentum"];

impl<R> GanSteps<'_, R> {
    /// One D update on real images `x` and as many samples of G.
    fn d_step(&mut self, x: &Tensor, sums: &mut RunningSums) {
        let z = self.latent.sample(x.size()[0], x.device());
        let fake = tch::no_grad(|| self.g.net.forward_t(&z, true));
        let real = self.d.net.forward_t(x, true);
        let fake = self.d.net.forward_t(&fake, true);
        // -(log D(x) + log(1 - D(G(z)))) / 2, as the authors' d_obj.
        let loss =
            ((-&real).softplus().mean(Kind::Float) + fake.softplus().mean(Kind::Float)) * 0.5;
        self.d.opt.zero_grad();
        loss.backward();
        self.d.opt.step();
        sums.watch(&loss);
        sums.add("d_loss", &loss, 1.0);
        tch::no_grad(|| {
            sums.add("d_x", &real.sigmoid().mean(Kind::Double), 1.0);
            sums.add("d_g_z", &fake.sigmoid().mean(Kind::Double), 1.0);
        });
    }

    /// One G update on a batch of fresh z; D is frozen meanwhile, so no
    /// gradient is computed for its weights.
    fn g_step(&mut self, sums: &mut RunningSums) {
        self.d.vs.freeze();
        let z = self.latent.sample(self.batch_size, self.g.vs.device());
        let logit = self.d.net.forward_t(&self.g.net.forward_t(&z, true), true);
        let loss = match self.g_loss {
            GLoss::NonSaturating => (-&logit).softplus().mean(Kind::Float),
            GLoss::Minimax => -logit.softplus().mean(Kind::Float),
        };
        self.g.opt.zero_grad();
        loss.backward();
        self.g.opt.step();
        self.d.vs.unfreeze();
        sums.watch(&loss);
        sums.add("g_loss", &loss, 1.0);
    }
}

impl<R: EpochReport> Steps for GanSteps<'_, R> {
    fn examples(&self) -> &dyn Examples {
        self.examples
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
        self.last = at;
        apply(&self.schedules, self.g.opt.as_mut(), at)?;
        apply(&self.schedules, self.d.opt.as_mut(), at)
    }

    fn step(&mut self, _at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()> {
        for b in batches {
            self.d_step(&b.images, sums);
        }
        self.g_step(sums);
        Ok(())
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
        let lr = value_of(&self.schedules, Hyper::Lr, self.last).unwrap_or(f64::NAN);
        let momentum = value_of(&self.schedules, Hyper::Momentum, self.last).unwrap_or(f64::NAN);
        let (extra, tail, selection) = self.report.report(s, self.g.net.as_ref(), epoch)?;
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

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new()
            .vars("g.", &self.g.vs)
            .vars("d.", &self.d.vs)
            .tensors("g_optim.", self.g.opt.state())
            .tensors("d_optim.", self.d.opt.state())
    }

    fn restore(&mut self, ckpt: &CheckpointFile) -> Result<()> {
        ckpt.load_vars("g.", &self.g.vs)?;
        ckpt.load_vars("d.", &self.d.vs)?;
        self.g.opt.load_state(&ckpt.section("g_optim."))?;
        self.d.opt.load_state(&ckpt.section("d_optim."))
    }
}
