//! `paperlab eval-reconstruction`: Xiang & Li's final test
//! (gan/reconstruct.rs) on a finished train-gan run, written to the run
//! directory as reconstruction.csv, reconstruction.png and summary figures.

use super::args::{EvalReconstructionArgs, TrainGanArgs, TEST_LR};
use super::data::{all_images, select, Heldout};
use super::nets::trained_generator;
use super::parzen::mean_and_se;
use super::reconstruct::{reconstruct, ReconConfig};
use super::samples::save_grid;
use crate::data::{self, Dataset};
use crate::error::{run as run_error, usage, Result};
use crate::figures;
use crate::runner::engine::session::RunConfig;
use crate::runner::record::progress::Progress;
use crate::runner::record::step_log::evaluation_image;
use crate::runner::store::reopen::{reopen, Reopened};
use crate::runner::store::run_dir::write_atomic;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Pairs of rows (originals above reconstructions) in reconstruction.png.
const FIGURE_ROWS: i64 = 5;
const FIGURE_COLUMNS: i64 = 10;

/// `paperlab eval-reconstruction`: the final test on a train-gan run's final
/// held-out set (runs without one, such as mlp runs: the test split).
pub fn run(a: EvalReconstructionArgs) -> Result<()> {
    let outputs = ["reconstruction.csv", "reconstruction.png"];
    let run: Reopened<TrainGanArgs> = reopen(&a.common, "best", &outputs)?;
    let gan = &run.config;
    let (images, index): (Dataset, Vec<i64>) = match gan {
        TrainGanArgs::Dcgan(d) => {
            let heldout: Heldout = run.dir.read_json("heldout.json")?;
            let workers = a.common.compute.cpu_threads()?.intra;
            let all = all_images(d, &run.data_dir, workers)?;
            (select(&all, &heldout.final_set), heldout.final_set)
        }
        TrainGanArgs::Mlp(m) => {
            let test = data::load(&m.dataset(), &run.data_dir)?.test;
            let index = (0..test.len()).collect();
            (test, index)
        }
    };
    let n = a.images.unwrap_or(MLP_IMAGES.min(images.len()));
    if n < 1 || n > images.len() {
        return Err(usage(format!(
            "--images {n}: the run has {} images to reconstruct; expected 1 to that",
            images.len()
        )));
    }
    let recon = ReconConfig {
        steps: a.steps,
        lr: a.lr.unwrap_or(match gan {
            TrainGanArgs::Dcgan(d) => d.test_lr,
            TrainGanArgs::Mlp(_) => TEST_LR,
        }),
        batch_size: gan.batch_size(),
    };
    let x = images
        .limit(Some(n))
        .images
        .to_device(run.device)
        .to_kind(Kind::Float)
        / 255.0;
    let shape = images.image_shape();
    let cfg = gan.gan_config(shape[0], shape[1]);
    let g = trained_generator(&cfg, &run.checkpoint, run.device, shape)?;
    let mut progress = Progress::new(a.common.quiet);
    progress.line(&format!(
        "reconstructing {n} images with {} RMSProp steps (lr {})",
        recon.steps, recon.lr
    ));
    let started = Instant::now();
    let (z, mse) = reconstruct(g.as_ref(), cfg.latent.dim, &x, &recon);
    // Reading the errors waits for the device, so the time is the work's.
    let errors = Vec::<f64>::try_from(mse.to_kind(Kind::Double).to_device(Device::Cpu))
        .map_err(|e| run_error(format!("reading the errors: {e}")))?;
    let seconds = started.elapsed().as_secs_f64();
    let mut table = String::from("image,mse\n");
    for (i, e) in index.iter().zip(&errors) {
        table += &format!("{i},{e}\n");
    }
    write_atomic(&run.dir.file(outputs[0]), table.as_bytes())?;
    let rec = tch::no_grad(|| g.forward_t(&z, false));
    let png = run.dir.file(outputs[1]);
    save_grid(&png, &pairs(&x, &rec), figure_rows(n))?;
    // At the step of the checkpoint evaluated (0 for one without a position).
    let step = run.checkpoint.position().map_or(0, |p| p.step);
    let every = gan.common().log_every;
    evaluation_image(&run.dir, every, "reconstruction", step, &png)?;
    let (mean, se) = mean_and_se(&mse);
    run.merge_summary(figures! {
        "recon_mse" => mean,
        "recon_se" => se,
        "recon_images" => n,
        "recon_steps" => recon.steps,
        "recon_lr" => recon.lr,
        "recon_checkpoint" => run.checkpoint.path.display().to_string(),
        "recon_seconds" => seconds,
    })?;
    println!("reconstruction MSE: {mean:.6} +- {se:.6} over {n} images ({seconds:.1} s)");
    Ok(())
}

/// Images the test takes from a run without a final set (the paper's 2000).
const MLP_IMAGES: i64 = 2000;

/// Rows of reconstruction.png for `n` images: pairs of rows.
fn figure_rows(n: i64) -> i64 {
    2 * (n / FIGURE_COLUMNS.min(n)).min(FIGURE_ROWS)
}

/// The first images of `x` and their reconstructions `y`, tiled as rows of
/// originals each above its row of reconstructions.
fn pairs(x: &Tensor, y: &Tensor) -> Tensor {
    let n = x.size()[0];
    let cols = FIGURE_COLUMNS.min(n);
    let rows = figure_rows(n) / 2;
    let [c, h, w] = [x.size()[1], x.size()[2], x.size()[3]];
    let take = |t: &Tensor| t.narrow(0, 0, rows * cols).view([rows, 1, cols, c, h, w]);
    Tensor::cat(&[take(x), take(y)], 1).reshape([rows * 2 * cols, c, h, w])
}
