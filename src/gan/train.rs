//! `paperlab train-gan`: builds G and D for --model, their optimizers and
//! schedules, and trains them with the GAN steps (gan/steps.rs) on the
//! shared engine. After each epoch it saves a grid of samples at a fixed z
//! and, every --parzen-every epochs, a quick Parzen estimate on validation
//! images, which then chooses best.safetensors.

use super::args::{logspace, TrainGanArgs};
use super::nets::{self, GanConfig};
use super::parzen::{estimate, flat};
use super::samples::save_grid;
use super::steps::{EpochReport, GanSteps, Player, COLUMNS};
use crate::data::{self, Dataset};
use crate::error::{run as run_error, usage, Result};
use crate::figures;
use crate::optim::params_of;
use crate::optim::schedule::At;
use crate::rng::{seed_torch, Stream};
use crate::runner::epochs::{self, header};
use crate::runner::session::{self, Session};
use crate::runner::summary::{Goal, Selection};
use std::path::PathBuf;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Tensor};

/// The sample grids are GRID x GRID images of G at a fixed z.
const GRID: i64 = 10;

/// Validation images for the --parzen-every estimate: sigma is chosen on the
/// first half, the log-likelihood reported on the second.
struct Monitor {
    select: Tensor,
    eval: Tensor,
}

/// train-gan's epoch report: the sample grid, and the Parzen estimate
/// (metrics column parzen_ll, NaN in epochs without one).
struct GanReport<'a> {
    args: &'a TrainGanArgs,
    cfg: GanConfig,
    monitor: Option<Monitor>,
    grid_z: Tensor,
    samples_dir: PathBuf,
}

impl EpochReport for GanReport<'_> {
    fn selection(&self) -> Option<Selection> {
        self.monitor
            .as_ref()
            .map(|_| Selection::new("parzen_ll", Goal::Higher))
    }

    fn report(
        &mut self,
        s: &mut Session,
        g: &dyn ModuleT,
        epoch: i64,
    ) -> Result<(Vec<f64>, String, f64)> {
        let grid = tch::no_grad(|| g.forward_t(&self.grid_z, false));
        save_grid(
            &self.samples_dir.join(format!("epoch_{epoch:03}.png")),
            &grid,
            GRID,
        )?;
        let parzen = match &self.monitor {
            Some(m) if epoch % self.args.parzen_every == 0 => {
                seed_torch(s.seed, Stream::Parzen(epoch as u64));
                let centres = nets::sample(g, &self.cfg.latent, self.args.parzen_samples, s.device);
                estimate(
                    &centres.flatten(1, -1),
                    &m.select,
                    &m.eval,
                    &logspace(-1.0, 0.0, 10),
                )
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
    fn new(args: &TrainGanArgs, valid: &Dataset, device: Device) -> Monitor {
        let n = args.parzen_valid.min(valid.len() / 2);
        let (select, eval) = valid.limit(Some(2 * n)).split_last(n);
        Monitor {
            select: flat(&select, device),
            eval: flat(&eval, device),
        }
    }
}

pub fn run(args: TrainGanArgs) -> Result<()> {
    let args = session::resolve("train-gan", args)?.checked()?;
    let dataset = args.dataset();
    let splits = data::load(&dataset, &args.common.data_dir)?;
    let (train, valid) = splits.train.split_last(args.valid_size);
    let train = train.limit(args.train_limit);
    if train.is_empty() {
        return Err(usage(format!(
            "--valid-size {} leaves no training images of {dataset}; lower it",
            args.valid_size
        )));
    }
    let mut columns = COLUMNS.to_vec();
    columns.push("parzen_ll");
    let mut s = Session::open("train-gan", &args, &header(&columns))?;
    let shape = train.image_shape();
    let device = s.device;
    let cfg = args.gan_config();
    let player = |build: &dyn Fn(&VarStore) -> Box<dyn ModuleT>| {
        let vs = VarStore::new(device);
        let net = build(&vs);
        let opt = args.optim_config().build(params_of(&vs));
        Player { net, vs, opt }
    };
    let marginals = nets::marginals(&train);
    let g = player(&|vs| nets::generator(&vs.root(), &cfg, shape, Some(&marginals)));
    let d = player(&|vs| nets::discriminator(&vs.root(), &cfg, shape));
    seed_torch(s.seed, Stream::Grid);
    let samples_dir = s.dir.file("samples");
    std::fs::create_dir_all(&samples_dir)
        .map_err(|e| run_error(format!("cannot create {}: {e}", samples_dir.display())))?;
    let report = GanReport {
        args: &args,
        cfg,
        monitor: (args.parzen_every > 0).then(|| Monitor::new(&args, &valid, device)),
        grid_z: cfg.latent.sample(GRID * GRID, device),
        samples_dir,
    };
    let mut steps = GanSteps {
        g,
        d,
        latent: cfg.latent,
        g_loss: args.g_loss,
        schedules: args.schedules(),
        examples: &train,
        batch_size: args.batch_size,
        d_steps: args.d_steps,
        epochs: args.epochs,
        report,
        last: At { epoch: 1, step: 0 },
    };
    let outcome = epochs::train(&mut s, &mut steps)?;
    if !outcome.finished {
        return s.stopped();
    }
    let count = |vs: &VarStore| -> i64 {
        vs.trainable_variables()
            .iter()
            .map(|v| v.numel() as i64)
            .sum()
    };
    s.write_summary(
        Some(outcome.images_per_sec),
        figures! {
            "model" => format!("{:?}", args.model).to_lowercase(),
            "dataset" => dataset.to_string(),
            "train_images" => train.len(),
            "valid_images" => valid.len(),
            "g_params" => count(&steps.g.vs),
            "d_params" => count(&steps.d.vs),
        },
    )?;
    eprintln!(
        "results: {}; estimate the Parzen log-likelihood with `paperlab eval-parzen --run {}`",
        s.dir.path.display(),
        s.dir.path.display()
    );
    Ok(())
}
