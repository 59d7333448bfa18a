//! The paper's Parzen-window log-likelihood (goodfeli/adversarial,
//! parzen_ll.py), and `paperlab eval-parzen`.
//!
//! With centres mu_1..mu_M (G samples) and width sigma, the log-density of x
//! in D dimensions is
//! logsumexp_i(-||x - mu_i||^2 / (2 sigma^2)) - log M - D log(sigma sqrt(2 pi)).
//! All of it is one matrix product and a few elementwise passes per chunk of
//! x, on the device (see [`log_likelihoods`]); sigma is chosen by the mean
//! log-likelihood of validation images; the result is the mean over the test
//! set with its standard error (population std / sqrt N, as numpy's std).

use super::args::{EvalParzenArgs, TrainGanArgs};
use super::nets::{self, trained_generator};
use super::samples::write_npy;
use crate::data::{self, Dataset};
use crate::error::{usage, Result};
use crate::figures;
use crate::runner::dist;
use crate::runner::record::progress::Progress;
use crate::runner::store::reopen::{reopen, Reopened};
use crate::runner::store::run_dir::write_atomic;
use std::f64::consts::PI;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Values in one [rows, M] block of inner products (40 MB as float32).
const BLOCK: i64 = 10_000_000;

/// Log-likelihood of each row of `x` [N, D] under the Parzen window centred on
/// the rows of `centres` [M, D], for each of `sigmas`: [S, N], double.
///
/// The exponent for centre i is -||x - mu_i||^2 / (2 s^2) =
/// (x.mu_i - ||mu_i||^2 / 2) / s^2 - ||x||^2 / (2 s^2): the last term is the
/// same for every centre, so it leaves the log-sum-exp, and one matrix
/// product (with the ||mu||^2 / 2 bias added by the same call) gives the rest
/// for every sigma. Both sides are first shifted by the centres' mean, which
/// changes no distance but shrinks the norms, so float32 stays accurate.
pub fn log_likelihoods(x: &Tensor, centres: &Tensor, sigmas: &[f64]) -> Tensor {
    let (m, d) = centres.size2().expect("centres must be [M, D]");
    let (n, dx) = x.size2().expect("points must be [N, D]");
    assert_eq!(d, dx, "points have {dx} dimensions, centres {d}");
    tch::no_grad(|| {
        let shift = centres.mean_dim(0, true, None);
        let mu = centres - &shift;
        let mu_t = mu.tr().contiguous();
        let half_mu_sq = mu.square().sum_dim_intlist(1, false, None) * -0.5;
        let constants: Vec<f64> = sigmas
            .iter()
            .map(|s| -(m as f64).ln() - d as f64 * (s * (2.0 * PI).sqrt()).ln())
            .collect();
        let rows = (BLOCK / m.max(1)).max(1);
        let mut parts = vec![];
        for start in (0..n).step_by(rows as usize) {
            let xc = x.narrow(0, start, rows.min(n - start)) - &shift;
            let half_x_sq = xc.square().sum_dim_intlist(1, false, Kind::Double) * -0.5;
            // p_i = x.mu_i - ||mu_i||^2 / 2, then p_i - max_i p_i <= 0.
            let mut p = half_mu_sq.addmm(&xc, &mu_t);
            let top = p.amax(1, true);
            let _ = p.g_sub_(&top);
            let top = top.squeeze_dim(1).to_kind(Kind::Double) + half_x_sq;
            let per_sigma: Vec<Tensor> = sigmas
                .iter()
                .zip(&constants)
                .map(|(s, c)| {
                    let scale = 1.0 / (s * s);
                    let sum = (&p * scale).exp_().sum_dim_intlist(1, false, None);
                    sum.to_kind(Kind::Double).log_() + &top * scale + *c
                })
                .collect();
            parts.push(Tensor::stack(&per_sigma, 0));
        }
        if parts.is_empty() {
            return Tensor::zeros([sigmas.len() as i64, 0], (Kind::Double, x.device()));
        }
        Tensor::cat(&parts, 1)
    })
}

/// Mean of per-point log-likelihoods [N] and its standard error.
pub fn mean_and_se(ll: &Tensor) -> (f64, f64) {
    let n = ll.size()[0] as f64;
    let mean = ll.mean(Kind::Double).double_value(&[]);
    let std = ll.to_kind(Kind::Double).std(false).double_value(&[]);
    (mean, std / n.sqrt())
}

/// Mean validation log-likelihood for each sigma, and the index of the best
/// (the first of equals, as numpy.argmax).
pub fn select_sigma(valid: &Tensor, centres: &Tensor, sigmas: &[f64]) -> (usize, Vec<f64>) {
    best_sigma(&log_likelihoods(valid, centres, sigmas))
}

/// The means of `ll` [S, N] by sigma, and the index of the highest.
fn best_sigma(ll: &Tensor) -> (usize, Vec<f64>) {
    let means = Vec::<f64>::try_from(ll.mean_dim(1, false, Kind::Double).to_device(Device::Cpu))
        .expect("double means convert to Vec<f64>");
    let best = (0..means.len()).fold(0, |b, i| if means[i] > means[b] { i } else { b });
    (best, means)
}

/// [`log_likelihoods`] in a distributed run: each process takes a
/// contiguous share of the rows of `x` (`dist::eval_batches`, one row a
/// unit) and all receive every value, so more processes are faster and the
/// figures are the one-process ones (the centres are the same everywhere).
fn shared_log_likelihoods(x: &Tensor, centres: &Tensor, sigmas: &[f64]) -> Result<Tensor> {
    let n = x.size()[0] as usize;
    let own = dist::eval_batches(n);
    let part = log_likelihoods(
        &x.narrow(0, own.start as i64, own.len() as i64),
        centres,
        sigmas,
    );
    Ok(dist::gather_rows(&part.tr(), n)?.tr())
}

/// Images of `ds` as rows of floats in [0, 1] on `device`, [N, C*H*W].
pub fn flat(ds: &Dataset, device: Device) -> Tensor {
    ds.images
        .flatten(1, -1)
        .to_device(device)
        .to_kind(Kind::Float)
        / 255.0
}

/// The quick estimate of `train-gan --parzen-every`: sigma chosen on `select`,
/// the mean log-likelihood of `eval`, both shared among a distributed run's
/// processes.
pub fn estimate(centres: &Tensor, select: &Tensor, eval: &Tensor, sigmas: &[f64]) -> Result<f64> {
    let (best, _) = best_sigma(&shared_log_likelihoods(select, centres, sigmas)?);
    let ll = shared_log_likelihoods(eval, centres, &sigmas[best..=best])?;
    Ok(mean_and_se(&ll.get(0)).0)
}

pub fn run(a: EvalParzenArgs) -> Result<()> {
    let run: Reopened<TrainGanArgs> = reopen(&a.common, "best", &["parzen.csv", "samples.npy"])?;
    let (config, device) = (&run.config, run.device);
    let TrainGanArgs::Mlp(gan) = config else {
        return Err(usage(format!(
            "--run {}: eval-parzen measures --model mlp runs; for a dcgan run use eval-reconstruction",
            a.common.run.display()
        )));
    };
    let splits = data::load(&gan.dataset(), &run.data_dir)?;
    let valid = splits
        .train
        .split_last(gan.valid_size)
        .1
        .limit(Some(a.valid_limit));
    if valid.is_empty() && a.sigma.is_none() {
        return Err(usage(format!(
            "--run {}: the run holds out no validation images (--valid-size 0) to choose sigma on; pass --sigma",
            a.common.run.display()
        )));
    }
    let test = splits.test.limit(a.test_limit);
    let shape = test.image_shape();
    let cfg = config.gan_config(shape[0], shape[1]);
    let g = trained_generator(&cfg, &run.checkpoint, device, shape)?;
    let mut progress = Progress::new(a.common.quiet);

    let centres = nets::sample(g.as_ref(), &cfg.latent, a.samples, device).flatten(1, -1);
    write_npy(&run.dir.file("samples.npy"), &centres)?;

    let candidates = a.sigma.map_or(a.sigmas.0.clone(), |s| vec![s]);
    progress.line(&format!(
        "choosing sigma among {} on {} validation images",
        candidates.len(),
        valid.len()
    ));
    let (best, valid_ll) = select_sigma(&flat(&valid, device), &centres, &candidates);
    let mut table = String::from("sigma,valid_ll\n");
    for (s, ll) in candidates.iter().zip(&valid_ll) {
        table += &format!("{s},{ll}\n");
    }
    write_atomic(&run.dir.file("parzen.csv"), table.as_bytes())?;
    let sigma = candidates[best];

    let test_x = flat(&test, device);
    let started = Instant::now();
    let ll = log_likelihoods(&test_x, &centres, &[sigma]).get(0);
    let (mean, se) = mean_and_se(&ll);
    let seconds = started.elapsed().as_secs_f64();
    progress.line(&format!(
        "{} test images x {} centres in {seconds:.2} s",
        test.len(),
        a.samples
    ));

    run.merge_summary(figures! {
        "parzen_ll" => mean,
        "parzen_se" => se,
        "sigma" => sigma,
        "parzen_samples" => a.samples,
        "parzen_test_images" => test.len(),
        "parzen_checkpoint" => run.checkpoint.path.display().to_string(),
        "parzen_seconds" => seconds,
    })?;
    println!("Parzen log-likelihood: {mean:.1} +- {se:.1} (sigma {sigma:.4})");
    Ok(())
}
