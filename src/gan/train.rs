//! `paperlab train-gan`: builds G and D for --model, their optimizers and
//! schedules, and trains them with the GAN steps (gan/steps.rs) on the
//! shared engine, with the model's epoch report (gan/reports.rs).

use super::args::{Model, TrainGanArgs};
use super::data::{self, select};
use super::nets::{self, ModelConfig};
use super::reports::{Grids, Monitor, ParzenReport, ReconReport};
use super::steps::{EpochReport, GanSteps, Objective, Player, COLUMNS};
use crate::error::{run as run_error, usage, Result};
use crate::figures;
use crate::optim::params_of;
use crate::runner::args::flag_name;
use crate::runner::engine::epochs::{self, header};
use crate::runner::engine::session::{self, Session};
use tch::nn::{ModuleT, VarStore};
use tch::Kind;

pub fn run(args: TrainGanArgs) -> Result<()> {
    let args = session::resolve(args)?;
    let dataset = args.dataset();
    let images = data::load(&args, args.common.compute.seed)?;
    let train = &images.train;
    if train.is_empty() {
        let held = match args.model {
            Model::Mlp => format!("--valid-size {}", args.valid_size),
            Model::Dcgan => format!(
                "--running {} and --final {}",
                args.running, args.final_images
            ),
        };
        return Err(usage(format!(
            "{held} (with --train-limit {:?}) leave no training images of {dataset}; lower them",
            args.train_limit
        )));
    }
    let shape = train.image_shape();
    let cfg = args.gan_config(shape[0], shape[1]);
    if let ModelConfig::Dcgan(c) = &cfg.model {
        c.check()?;
    }
    let mut columns = COLUMNS.to_vec();
    match args.model {
        Model::Mlp => columns.push("parzen_ll"),
        Model::Dcgan => columns.extend(["iteration", "recon_mse"]),
    }
    let mut s = Session::open(&args, &header(&columns))?;
    let device = s.device;
    let player = |build: &dyn Fn(&VarStore) -> Box<dyn ModuleT>| {
        let vs = VarStore::new(device);
        let net = build(&vs);
        let amp = args.common.amp(&vs);
        let opt = args
            .optim_config()
            .build(params_of(&vs), args.common.update_impl);
        Player { net, vs, opt, amp }
    };
    let marginals = nets::marginals(train);
    let g = player(&|vs| nets::generator(&vs.root(), &cfg, shape, Some(&marginals)));
    let d = player(&|vs| nets::discriminator(&vs.root(), &cfg, shape));
    let samples = s.dir.file("samples");
    std::fs::create_dir_all(&samples)
        .map_err(|e| run_error(format!("cannot create {}: {e}", samples.display())))?;
    let grids = Grids::new(&cfg.latent, s.seed, device, samples);
    let report: Box<dyn EpochReport + '_> = match &images.heldout {
        None => Box::new(ParzenReport {
            args: &args,
            latent: cfg.latent,
            monitor: match &images.valid {
                Some(valid) if args.parzen_every > 0 => Some(Monitor::new(&args, valid, device)),
                _ => None,
            },
            grids,
        }),
        Some((heldout, all)) => {
            if s.is_writer() {
                s.dir.write_json("heldout.json", heldout)?;
            }
            let running = select(all, &heldout.running).images.to_device(device);
            Box::new(ReconReport {
                running: running.to_kind(Kind::Float) / 255.0,
                code_size: cfg.latent.dim,
                recon: args.recon_config(),
                test_interval: args.test_interval,
                grids,
            })
        }
    };
    let (d_weight, epoch_examples) = match args.model {
        Model::Mlp => (0.5, train.len()),
        Model::Dcgan => (1.0, args.test_interval * args.batch_size()),
    };
    let mut steps = GanSteps {
        g,
        d,
        latent: cfg.latent,
        objective: Objective {
            g_loss: args.g_loss,
            least_squares: args.ls,
            d_weight,
        },
        schedules: args.schedules(),
        examples: train,
        epoch_examples,
        batch_size: args.batch_size(),
        d_steps: args.d_steps,
        epochs: args.epochs(),
        report,
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
    let mut figures = figures! {
        "model" => flag_name(&args.model),
        "dataset" => dataset.to_string(),
        "train_images" => train.len(),
        "g_params" => count(&steps.g.vs),
        "d_params" => count(&steps.d.vs),
    };
    let next = match &images.heldout {
        Some((heldout, _)) => {
            figures.extend(figures! {
                "norm" => flag_name(&args.norm),
                "image_size" => shape[1],
                "levels" => args.levels(shape[1]),
                "split" => flag_name(&args.split),
                "running_images" => heldout.running.len() as i64,
                "final_images" => heldout.final_set.len() as i64,
            });
            "the final reconstruction test with `paperlab eval-reconstruction --run"
        }
        None => {
            figures.extend(figures! {
                "valid_images" => images.valid.as_ref().map_or(0, |v| v.len()),
            });
            "the Parzen log-likelihood with `paperlab eval-parzen --run"
        }
    };
    s.write_summary(Some(outcome.images_per_sec), figures)?;
    if s.is_writer() {
        eprintln!("next: {next} {}`", s.dir.path.display());
    }
    Ok(())
}
