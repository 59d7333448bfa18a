//! What train-gan reports at each epoch's end, besides the losses: a grid
//! of samples at a fixed z, and the model's measure of G. mlp: every
//! --parzen-every epochs a quick Parzen estimate on validation images
//! (higher is better); dcgan: the mean MSE of the running held-out set's
//! reconstructions (lower is better, Xiang & Li's measure). Either one then
//! chooses best.safetensors.

use super::args::{logspace, MlpGanArgs};
use super::nets::{self, Latent};
use super::parzen::{estimate, flat};
use super::reconstruct::{reconstruct, ReconConfig};
use super::samples::save_grid;
use super::steps::{EpochReport, Player};
use crate::data::Dataset;
use crate::error::Result;
use crate::rng::{seed_torch, Stream};
use crate::runner::dist;
use crate::runner::engine::session::Session;
use crate::runner::record::summary::{Goal, Selection};
use std::path::PathBuf;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};

/// The sample grids are GRID x GRID images of G at a fixed z.
const GRID: i64 = 10;

/// Validation images for the --parzen-every estimate: sigma is chosen on the
/// first half, the log-likelihood reported on the second.
pub struct Monitor {
    select: Tensor,
    eval: Tensor,
}

/// A fixed z and where its sample grids go.
pub struct Grids {
    pub z: Tensor,
    pub dir: PathBuf,
}

impl Grids {
    /// GRID x GRID samples of `latent`, drawn from the run's own stream.
    pub fn new(latent: &Latent, seed: u64, device: Device, dir: PathBuf) -> Grids {
        seed_torch(seed, Stream::Grid);
        Grids {
            z: latent.sample(GRID * GRID, device),
            dir,
        }
    }

    /// Save G at the fixed z (evaluation mode) as `name`, and log it as
    /// the image "samples" at the session's step.
    fn save(&self, s: &mut Session, g: &dyn ModuleT, name: &str) -> Result<()> {
        let images = tch::no_grad(|| g.forward_t(&self.z, false));
        let path = self.dir.join(name);
        save_grid(&path, &images, GRID)?;
        s.log.image(s.position.step, "samples", &path)
    }
}

/// The mlp's epoch report: samples/epoch_NNN.png, and the Parzen estimate
/// (metrics column parzen_ll, NaN in epochs without one).
pub struct ParzenReport<'a> {
    pub args: &'a MlpGanArgs,
    pub latent: Latent,
    pub monitor: Option<Monitor>,
    pub grids: Grids,
}

impl EpochReport for ParzenReport<'_> {
    fn selection(&self) -> Option<Selection> {
        self.monitor
            .as_ref()
            .map(|_| Selection::new("parzen_ll", Goal::Higher))
    }

    fn report(
        &mut self,
        s: &mut Session,
        g: &mut Player,
        epoch: i64,
    ) -> Result<(Vec<f64>, String, f64)> {
        let g = g.net.as_ref();
        if s.is_writer() {
            self.grids.save(s, g, &format!("epoch_{epoch:03}.png"))?;
        }
        let parzen = match &self.monitor {
            Some(m) if epoch % self.args.parzen_every == 0 => {
                seed_torch(s.seed, Stream::Parzen(epoch as u64));
                let centres = nets::sample(g, &self.latent, self.args.parzen_samples, s.device);
                estimate(
                    &centres.flatten(1, -1),
                    &m.select,
                    &m.eval,
                    &logspace(-1.0, 0.0, 10),
                )?
            }
            _ => f64::NAN,
        };
        let tail = if parzen.is_nan() {
            String::new()
        } else {
            format!("  Parzen LL {parzen:.1}")
        };
        Ok((vec![parzen], tail, parzen))
    }
}

impl Monitor {
    pub fn new(args: &MlpGanArgs, valid: &Dataset, device: Device) -> Monitor {
        let n = args.parzen_valid.min(valid.len() / 2);
        let (select, eval) = valid.limit(Some(2 * n)).split_last(n);
        Monitor {
            select: flat(&select, device),
            eval: flat(&eval, device),
        }
    }
}

/// The dcgan's epoch report (an epoch is --test-interval iterations):
/// samples/iter_NNNNNN.png, and the running reconstruction test (metrics
/// columns iteration and recon_mse).
pub struct ReconReport {
    /// The running set, float in [0, 1] on the device.
    pub running: Tensor,
    pub code_size: i64,
    pub recon: ReconConfig,
    pub test_interval: i64,
    pub grids: Grids,
}

impl EpochReport for ReconReport {
    fn selection(&self) -> Option<Selection> {
        Some(Selection::new("recon_mse", Goal::Lower))
    }

    fn report(
        &mut self,
        s: &mut Session,
        g: &mut Player,
        epoch: i64,
    ) -> Result<(Vec<f64>, String, f64)> {
        let iteration = epoch * self.test_interval;
        if s.is_writer() {
            self.grids
                .save(s, g.net.as_ref(), &format!("iter_{iteration:06}.png"))?;
        }
        // Each image's code is searched for on its own (the loss divides by
        // the fixed --batch-size), so a distributed run's processes each
        // take a contiguous share of the images and gather every MSE.
        let n = self.running.size()[0] as usize;
        let own = dist::eval_batches(n);
        let images = self.running.narrow(0, own.start as i64, own.len() as i64);
        g.vs.freeze();
        let (_, mse) = reconstruct(g.net.as_ref(), self.code_size, &images, &self.recon);
        g.vs.unfreeze();
        let mse = dist::gather_rows(&mse, n)?;
        let mean = mse.mean(Kind::Double).double_value(&[]);
        Ok((
            vec![iteration as f64, mean],
            format!("  iteration {iteration}  running reconstruction MSE {mean:.6}"),
            mean,
        ))
    }
}
