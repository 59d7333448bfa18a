//! `paperlab train-gan`: builds G and D for --model, their optimizers and
//! schedules, and trains them with the GAN steps (gan/steps.rs) on the
//! shared engine, with the model's epoch report (gan/reports.rs). `run`
//! is its steps: load, build, train, summarise.

use super::args::TrainGanArgs;
use super::data::{self, select, GanImages, Held};
use super::nets::{self, GanConfig, ModelConfig};
use super::reports::{Grids, Monitor, ParzenReport, ReconReport};
use super::steps::{EpochReport, GanSteps, Player, COLUMNS};
use crate::error::{run as run_error, usage, Result};
use crate::figures;
use crate::optim::{parameter_count, params_of};
use crate::runner::args::flag_name;
use crate::runner::engine::epochs::{self, header};
use crate::runner::engine::session::{self, RunConfig, Session};
use crate::runner::record::summary::Figures;
use tch::nn::{ModuleT, VarStore};
use tch::Kind;

pub fn run(args: TrainGanArgs) -> Result<()> {
    let args = session::resolve(args)?;
    let images = load(&args)?;
    let shape = images.train.image_shape();
    let cfg = args.gan_config(shape[0], shape[1]);
    if let ModelConfig::Dcgan(c) = &cfg.model {
        c.check()?;
    }
    let mut s = Session::open(&args, &header(&columns(&args)))?;
    let mut steps = build(&args, &cfg, &images, &s)?;
    let outcome = epochs::train(&mut s, &mut steps)?;
    if !outcome.finished {
        return s.stopped();
    }
    let (figures, next) = summary(&args, &images, &steps);
    s.write_summary(Some(outcome.images_per_sec), figures)?;
    if s.is_writer() {
        eprintln!("next: {next} {}`", s.dir.path.display());
    }
    Ok(())
}

/// The model's images, with at least one left to train on.
fn load(args: &TrainGanArgs) -> Result<GanImages> {
    let images = data::load(args, args.common().compute.seed)?;
    if !images.train.is_empty() {
        return Ok(images);
    }
    let held = match args {
        TrainGanArgs::Mlp(a) => format!("--valid-size {}", a.valid_size),
        TrainGanArgs::Dcgan(a) => format!("--running {} and --final {}", a.running, a.final_images),
    };
    Err(usage(format!(
        "{held} (with --train-limit {:?}) leave no training images of {}; lower them",
        args.gan().train_limit,
        args.dataset()
    )))
}

/// metrics.csv's columns: the GAN steps', then the model's report's.
fn columns(args: &TrainGanArgs) -> Vec<&'static str> {
    let mut columns = COLUMNS.to_vec();
    match args {
        TrainGanArgs::Mlp(_) => columns.push("parzen_ll"),
        TrainGanArgs::Dcgan(_) => columns.extend(["iteration", "recon_mse"]),
    }
    columns
}

/// G and D of `cfg`, each with its optimizer, playing the game on the
/// training images with the model's epoch report.
fn build<'a>(
    args: &'a TrainGanArgs,
    cfg: &GanConfig,
    images: &'a GanImages,
    s: &Session,
) -> Result<GanSteps<'a>> {
    let (train, device) = (&images.train, s.device);
    let shape = train.image_shape();
    let player = |build: &dyn Fn(&VarStore) -> Box<dyn ModuleT>| {
        let vs = VarStore::new(device);
        let net = build(&vs);
        let amp = args.common().amp(&vs);
        let opt = args
            .optim_config()
            .build(params_of(&vs), args.common().update_impl);
        Player { net, vs, opt, amp }
    };
    let marginals = nets::marginals(train);
    let g = player(&|vs| nets::generator(&vs.root(), cfg, shape, Some(&marginals)));
    let d = player(&|vs| nets::discriminator(&vs.root(), cfg, shape));
    let (d_steps, epoch_examples) = match args {
        TrainGanArgs::Mlp(a) => (a.d_steps, train.len()),
        TrainGanArgs::Dcgan(a) => (1, a.test_interval * a.batch_size),
    };
    Ok(GanSteps {
        g,
        d,
        latent: cfg.latent,
        objective: args.objective(),
        schedules: args.schedules(),
        examples: train,
        epoch_examples,
        batch_size: args.batch_size(),
        d_steps,
        epochs: args.epochs(),
        accumulate: args.common().accumulate,
        report: report(args, cfg, images, s)?,
    })
}

/// The model's epoch report, with its sample grids (samples/): the Parzen
/// estimate on validation images for the mlp, the running reconstruction
/// test on the held-out draw (saved as heldout.json) for the dcgan.
fn report<'a>(
    args: &'a TrainGanArgs,
    cfg: &GanConfig,
    images: &GanImages,
    s: &Session,
) -> Result<Box<dyn EpochReport + 'a>> {
    let device = s.device;
    let samples = s.dir.file("samples");
    std::fs::create_dir_all(&samples)
        .map_err(|e| run_error(format!("cannot create {}: {e}", samples.display())))?;
    let grids = Grids::new(&cfg.latent, s.seed, device, samples);
    Ok(match (args, &images.held) {
        (TrainGanArgs::Mlp(a), Held::Valid(valid)) => Box::new(ParzenReport {
            args: a,
            latent: cfg.latent,
            monitor: (a.parzen_every > 0).then(|| Monitor::new(a, valid, device)),
            grids,
        }),
        (TrainGanArgs::Dcgan(a), Held::Draw(heldout, all)) => {
            if s.is_writer() {
                s.dir.write_json("heldout.json", heldout)?;
            }
            let running = select(all, &heldout.running).images.to_device(device);
            Box::new(ReconReport {
                running: running.to_kind(Kind::Float) / 255.0,
                code_size: cfg.latent.dim,
                recon: a.recon_config(),
                test_interval: a.test_interval,
                grids,
            })
        }
        _ => unreachable!("data::load holds out what the model measures"),
    })
}

/// summary.json's figures of a finished run, and what to run next.
fn summary(args: &TrainGanArgs, images: &GanImages, steps: &GanSteps) -> (Figures, &'static str) {
    let train = &images.train;
    let mut figures = figures! {
        "model" => flag_name(&args.model()),
        "dataset" => args.dataset(),
        "train_images" => train.len(),
        "g_params" => parameter_count(&steps.g.vs),
        "d_params" => parameter_count(&steps.d.vs),
    };
    figures.extend(match &images.held {
        Held::Valid(valid) => figures! { "valid_images" => valid.len() },
        Held::Draw(heldout, _) => figures! {
            "running_images" => heldout.running.len() as i64,
            "final_images" => heldout.final_set.len() as i64,
        },
    });
    let next = match args {
        TrainGanArgs::Mlp(_) => "the Parzen log-likelihood with `paperlab eval-parzen --run",
        TrainGanArgs::Dcgan(a) => {
            let size = train.image_shape()[1];
            figures.extend(figures! {
                "norm" => flag_name(&a.norm),
                "image_size" => size,
                "levels" => a.levels(size),
                "split" => flag_name(&a.split),
            });
            "the final reconstruction test with `paperlab eval-reconstruction --run"
        }
    };
    (figures, next)
}
