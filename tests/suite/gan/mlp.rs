//! Goodfellow et al. 2014: maxout, D's dropout, the schedules, the Parzen
//! estimator against closed forms and a direct loop, the .npy and PNG writers,
//! and train-gan / eval-parzen through the binary on a Fashion-MNIST subset.

use crate::common;
use common::*;

use clap::{Args, Command, FromArgMatches};
use paperlab::gan::args::{parse_sigmas, DcganArgs, MlpGanArgs, TrainGanArgs};
use paperlab::gan::dcgan::GanNorm;
use paperlab::gan::mlp::dropout;
use paperlab::gan::parzen::{log_likelihoods, mean_and_se, select_sigma};
use paperlab::gan::samples::{grid, npy_bytes};
use paperlab::layers::maxout::{maxout, Maxout};
use paperlab::optim::schedule::{value_of, At};
use paperlab::optim::Hyper;
use std::f64::consts::PI;
use tch::nn::{Module, VarStore};
use tch::{Device, Kind, Tensor};

fn rows(t: &Tensor) -> Vec<Vec<f64>> {
    let (n, _) = t.size2().unwrap();
    (0..n).map(|i| values(&t.get(i))).collect()
}

#[test]
fn maxout_is_the_max_over_each_units_consecutive_pieces() {
    tch::manual_seed(1);
    let x = Tensor::randn([3, 4, 10], (Kind::Float, Device::Cpu));
    let y = maxout(&x, 5);
    assert_eq!(y.size(), [3, 4, 2]);
    let (xv, yv) = (values(&x), values(&y));
    for row in 0..12 {
        for unit in 0..2 {
            let pieces = &xv[row * 10 + unit * 5..row * 10 + unit * 5 + 5];
            let max = pieces.iter().cloned().fold(f64::MIN, f64::max);
            assert_eq!(yv[row * 2 + unit], max);
        }
    }
}

#[test]
fn maxout_layer_is_maxout_of_its_linear_map_with_pylearn2_init() {
    tch::manual_seed(2);
    let vs = VarStore::new(Device::Cpu);
    let layer = Maxout::new(vs.root() / "h0", 7, 3, 4, 0.005);
    let w = &layer.linear.ws;
    assert_eq!(w.size(), [12, 7]);
    assert!(w.abs().max().double_value(&[]) <= 0.005);
    assert!(w.abs().max().double_value(&[]) > 0.004);
    assert_eq!(
        layer
            .linear
            .bs
            .as_ref()
            .unwrap()
            .abs()
            .sum(Kind::Double)
            .double_value(&[]),
        0.0
    );
    let x = Tensor::randn([5, 7], (Kind::Float, Device::Cpu));
    let expected = maxout(&x.apply(&layer.linear), 4);
    assert_eq!(layer.forward(&x).size(), [5, 3]);
    assert!(layer.forward(&x).equal(&expected));
}

#[test]
fn dropout_keeps_with_the_include_probability_and_scales_by_its_inverse() {
    tch::manual_seed(3);
    let x = Tensor::ones([200_000], (Kind::Float, Device::Cpu));
    for include in [0.8, 0.5] {
        let y = dropout(&x, include, true);
        let kept = y.ne(0.0);
        let fraction = kept
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        assert!(
            (fraction - include).abs() < 0.005,
            "kept {fraction}, include {include}"
        );
        let scaled = y.masked_select(&kept);
        let expected = 1.0 / include;
        assert!((scaled - expected).abs().max().double_value(&[]) < 1e-6);
        assert!(dropout(&x, include, false).equal(&x));
    }
}

/// `flags` parsed as one model's flag set.
fn parsed<A: Args + FromArgMatches>(flags: &[&str]) -> A {
    let cmd = A::augment_args(Command::new("train-gan").no_binary_name(true));
    A::from_arg_matches(&cmd.try_get_matches_from(flags).unwrap()).unwrap()
}

fn gan_args(flags: &[&str]) -> MlpGanArgs {
    parsed(flags)
}

#[test]
fn the_dataset_is_saved_as_its_flag_and_older_forms_still_load() {
    use paperlab::gan::args::GanData;
    use serde_json::json;
    for text in ["mnist", "folder:a/b", "images:data/celeba"] {
        let data: GanData = text.parse().unwrap();
        let saved = serde_json::to_value(&data).unwrap();
        assert_eq!(saved, json!(text));
        assert_eq!(serde_json::from_value::<GanData>(saved).unwrap(), data);
    }
    for (old, text) in [
        (json!("FashionMnist"), "fashion-mnist"),
        (json!({"Folder": "a/b"}), "folder:a/b"),
        (json!({"images": "data/celeba"}), "images:data/celeba"),
    ] {
        assert_eq!(
            serde_json::from_value::<GanData>(old).unwrap().to_string(),
            text
        );
    }
    let args: DcganArgs = parsed(&["--dataset", "images:x"]);
    let saved = serde_json::to_value(&args).unwrap();
    assert_eq!(saved["dataset"], json!("images:x"));
}

/// config.json as train-gan wrote it when one flag set held both models'
/// flags (a dcgan run's `--print-config`).
const BOTH_MODELS: &str = r#"{"device":"auto","seed":0,"threads":null,"data_dir":"data","out":"results","name":null,"config":null,"max_steps":null,"quiet":false,"update_impl":"auto","log_every":20,"precision":"fp32","channels_last":false,"prefetch":2,"resume":false,"force":false,"model":"dcgan","dataset":"fashion-mnist","valid_size":10000,"train_limit":null,"noise":"normal","noise_dim":128,"norm":"batch","features":64,"image_size":null,"levels":null,"crop_size":null,"ls":false,"running":200,"final":2000,"split":"disjoint","test_interval":1000,"test_steps":50,"test_lr":0.01,"g_hidden":1200,"d_units":240,"d_pieces":5,"g_init":0.05,"d_init":0.005,"d_input_include":0.8,"d_hidden_include":0.5,"epochs":100,"batch_size":32,"lr":0.0001,"lr_decay":1.000004,"lr_min":1e-06,"momentum":0.5,"final_momentum":0.7,"momentum_saturate":250,"d_steps":1,"g_loss":"non-saturating","parzen_every":0,"parzen_samples":1000,"parzen_valid":1000}"#;

#[test]
fn config_json_holds_the_model_and_its_own_flags_and_older_runs_still_load() {
    use serde_json::{json, Value};
    let saved = serde_json::to_value(TrainGanArgs::Dcgan(parsed(&["--norm", "batch"]))).unwrap();
    assert_eq!(
        (&saved["model"], &saved["norm"], &saved["lr"]),
        (&json!("dcgan"), &json!("batch"), &json!(1e-4))
    );
    assert!(saved.get("g_hidden").is_none(), "{saved}");
    let back: TrainGanArgs = serde_json::from_value(saved.clone()).unwrap();
    assert_eq!(serde_json::to_value(back).unwrap(), saved);
    // A run saved with both models' flags loads as its own model's.
    let mut old: Value = serde_json::from_str(BOTH_MODELS).unwrap();
    let loaded: TrainGanArgs = serde_json::from_value(old.clone()).unwrap();
    let TrainGanArgs::Dcgan(d) = loaded else {
        panic!("{loaded:?}")
    };
    assert_eq!((d.norm, d.lr, d.batch_size), (GanNorm::Batch, 1e-4, 32));
    old["model"] = json!("mlp");
    let loaded: TrainGanArgs = serde_json::from_value(old).unwrap();
    let TrainGanArgs::Mlp(m) = loaded else {
        panic!("{loaded:?}")
    };
    assert_eq!(
        (m.g_hidden, m.d_steps, m.dataset.unwrap().to_string()),
        (1200, 1, "fashion-mnist".into())
    );
}

/// The learning rate of update `step` (0-based), from the run's schedules.
fn lr_at(a: &MlpGanArgs, step: i64) -> f64 {
    value_of(&a.schedules(), Hyper::Lr, At { epoch: 1, step }).unwrap()
}

/// The momentum in epoch `epoch` (1-based), from the run's schedules.
fn momentum_at(a: &MlpGanArgs, epoch: i64) -> f64 {
    value_of(&a.schedules(), Hyper::Momentum, At { epoch, step: 0 }).unwrap()
}

#[test]
fn learning_rate_divides_by_the_decay_per_update_down_to_the_floor() {
    let a = gan_args(&[]);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1e-6);
    assert!(close(lr_at(&a, 0), 0.1));
    assert!(close(lr_at(&a, 1), 0.1 / 1.000004));
    assert!(close(lr_at(&a, 500), 0.1 / 1.000004f64.powi(500)));
    // 10^6 updates: 0.1 * 1.000004^-1e6, about 0.1 * e^-4.
    assert!(close(
        lr_at(&a, 1_000_000),
        0.1 * (-1e6 * 1.000004f64.ln()).exp()
    ));
    assert!(close(lr_at(&a, 2_000_000_000), 1e-6));
    let b = gan_args(&["--lr", "0.5", "--lr-decay", "2", "--lr-min", "0.1"]);
    assert_eq!(
        [lr_at(&b, 0), lr_at(&b, 1), lr_at(&b, 2), lr_at(&b, 3)],
        [0.5, 0.25, 0.125, 0.1]
    );
}

#[test]
fn momentum_rises_linearly_from_epoch_1_to_250() {
    let a = gan_args(&[]);
    let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
    assert!(close(momentum_at(&a, 1), 0.5));
    assert!(close(momentum_at(&a, 2), 0.5 + 0.2 / 249.0));
    assert!(close(momentum_at(&a, 125), 0.5 + 0.2 * 124.0 / 249.0));
    assert!(close(momentum_at(&a, 250), 0.7));
    assert!(close(momentum_at(&a, 1000), 0.7));
    let b = gan_args(&[
        "--momentum",
        "0.1",
        "--final-momentum",
        "0.9",
        "--momentum-saturate",
        "5",
    ]);
    let m: Vec<f64> = (1..=6).map(|e| momentum_at(&b, e)).collect();
    for (got, want) in m.iter().zip([0.1, 0.3, 0.5, 0.7, 0.9, 0.9]) {
        assert!(close(*got, want), "{m:?}");
    }
    let c = gan_args(&["--momentum-saturate", "1"]);
    assert!(close(momentum_at(&c, 1), 0.7));
}

#[test]
fn sigma_grid_is_numpy_logspace() {
    let s = parse_sigmas("0.1:1:10").unwrap().0;
    assert_eq!(s.len(), 10);
    for (i, v) in s.iter().enumerate() {
        assert!((v - 10f64.powf(-1.0 + i as f64 / 9.0)).abs() < 1e-12);
    }
    assert_eq!(parse_sigmas("0.5:0.5:1").unwrap().0, vec![0.5]);
    for bad in ["0.1:1", "0:1:10", "1:0.1:10", "0.1:1:0", "a:b:c"] {
        assert!(parse_sigmas(bad).is_err(), "{bad}");
    }
}

/// log N(x; mu, sigma^2 I), directly.
fn gaussian_log_density(x: &[f64], mu: &[f64], sigma: f64) -> f64 {
    let d2: f64 = x.iter().zip(mu).map(|(a, b)| (a - b) * (a - b)).sum();
    -0.5 * d2 / (sigma * sigma) - x.len() as f64 * (sigma * (2.0 * PI).sqrt()).ln()
}

/// The estimator as a double loop in f64: logsumexp over centres.
fn parzen_loop(x: &[Vec<f64>], mu: &[Vec<f64>], sigma: f64) -> Vec<f64> {
    x.iter()
        .map(|xi| {
            let a: Vec<f64> = mu
                .iter()
                .map(|m| gaussian_log_density(xi, m, sigma))
                .collect();
            let max = a.iter().cloned().fold(f64::MIN, f64::max);
            max + a.iter().map(|v| (v - max).exp()).sum::<f64>().ln() - (mu.len() as f64).ln()
        })
        .collect()
}

#[test]
fn parzen_with_one_centre_is_the_gaussian_log_density() {
    tch::manual_seed(4);
    for kind in [Kind::Double, Kind::Float] {
        let x = Tensor::rand([20, 784], (kind, Device::Cpu));
        let mu = Tensor::rand([1, 784], (kind, Device::Cpu));
        let sigmas = [0.1, 0.2, 1.0];
        let ll = log_likelihoods(&x, &mu, &sigmas);
        assert_eq!(ll.size(), [3, 20]);
        let (xs, m) = (rows(&x), values(&mu));
        for (s, sigma) in sigmas.iter().enumerate() {
            for (i, xi) in xs.iter().enumerate() {
                let want = gaussian_log_density(xi, &m, *sigma);
                let got = ll.double_value(&[s as i64, i as i64]);
                // float32 distances: about 1e-7 relative.
                let tol = if kind == Kind::Double { 1e-9 } else { 1e-6 } * want.abs().max(1.0);
                assert!(
                    (got - want).abs() < tol,
                    "{kind:?} sigma {sigma}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn parzen_matches_a_direct_double_loop() {
    tch::manual_seed(5);
    let x = Tensor::rand([40, 784], (Kind::Float, Device::Cpu));
    let mu = Tensor::rand([300, 784], (Kind::Float, Device::Cpu));
    let sigmas = [0.1, 0.3, 1.0];
    let ll = log_likelihoods(&x, &mu, &sigmas);
    let (xs, ms) = (rows(&x), rows(&mu));
    for (s, sigma) in sigmas.iter().enumerate() {
        let want = parzen_loop(&xs, &ms, *sigma);
        for (i, w) in want.iter().enumerate() {
            let got = ll.double_value(&[s as i64, i as i64]);
            assert!(
                (got - w).abs() < 1e-6 * w.abs().max(1.0),
                "sigma {sigma}, x {i}: {got} vs {w}"
            );
        }
    }
}

#[test]
fn parzen_is_the_same_across_chunks_of_the_points() {
    // 20,000 centres: 500 points a chunk, so 1,100 points take three chunks.
    tch::manual_seed(6);
    let x = Tensor::randn([1100, 3], (Kind::Double, Device::Cpu));
    let mu = Tensor::randn([20_000, 3], (Kind::Double, Device::Cpu));
    let ll = log_likelihoods(&x, &mu, &[0.5]).get(0);
    let want = parzen_loop(&rows(&x), &rows(&mu), 0.5);
    let got = values(&ll);
    for i in [0, 499, 500, 999, 1000, 1099] {
        assert!(
            (got[i] - want[i]).abs() < 1e-9 * want[i].abs().max(1.0),
            "{i}"
        );
    }
}

#[test]
fn mean_and_standard_error_use_the_population_std() {
    let (mean, se) = mean_and_se(&Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]));
    assert_eq!(mean, 2.5);
    assert!((se - 1.25f64.sqrt() / 2.0).abs() < 1e-15);
}

#[test]
fn sigma_selection_picks_the_best_validation_likelihood() {
    // Points scattered around one centre with std 0.3 per dimension: the
    // likelihood is highest for the grid's sigma nearest 0.3 (0.278).
    tch::manual_seed(7);
    let mu = Tensor::zeros([1, 50], (Kind::Float, Device::Cpu));
    let valid = Tensor::randn([2000, 50], (Kind::Float, Device::Cpu)) * 0.3;
    let sigmas = parse_sigmas("0.1:1:10").unwrap().0;
    let (best, means) = select_sigma(&valid, &mu, &sigmas);
    let direct = values(&log_likelihoods(&valid, &mu, &sigmas).mean_dim(1, false, Kind::Double));
    for (m, d) in means.iter().zip(&direct) {
        assert!((m - d).abs() < 1e-9 * d.abs());
    }
    let argmax = (0..direct.len())
        .max_by(|&a, &b| direct[a].total_cmp(&direct[b]))
        .unwrap();
    assert_eq!(best, argmax);
    assert!(
        (sigmas[best] - 0.2783).abs() < 1e-3,
        "chose {}",
        sigmas[best]
    );
}

#[test]
fn npy_files_hold_a_numpy_header_and_little_endian_float32() {
    let t = Tensor::from_slice(&[1.5f32, -2.0, 0.25, 4.0, 5.0, 6.0]).view([2, 3]);
    let bytes = npy_bytes(&t);
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    assert!(header.ends_with('\n'));
    let data: Vec<f32> = bytes[10 + header_len..]
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data, [1.5, -2.0, 0.25, 4.0, 5.0, 6.0]);
    let one_d = npy_bytes(&Tensor::from_slice(&[1f32, 2.0]));
    assert!(String::from_utf8_lossy(&one_d).contains("'shape': (2,), }"));
}

#[test]
fn sample_grids_tile_images_row_by_row() {
    // Image k is filled with k/99, so its tile's value says where it landed.
    let images = (Tensor::arange(100, (Kind::Float, Device::Cpu)) / 99.0)
        .view([100, 1, 1, 1])
        .expand([100, 1, 28, 28], false);
    let g = grid(&images, 10);
    assert_eq!(g.size(), [1, 280, 280]);
    assert_eq!(g.kind(), Kind::Uint8);
    for k in [0i64, 9, 10, 57, 99] {
        let (r, c) = (k / 10, k % 10);
        let want = (k as f64 / 99.0 * 255.0).round();
        assert_eq!(
            g.int64_value(&[0, r * 28 + 3, c * 28 + 27]) as f64,
            want,
            "image {k}"
        );
    }
}

/// A small, fast configuration of the paper's model: narrower nets and a
/// larger D initialisation so the game gets going within a few hundred
/// updates (with the paper's 0.005 and full-size nets, D(x) moves off 0.5
/// over the first epoch of 500 updates); the rest (lr, momentum, dropout, noise, losses) as the
/// paper's. One thread: other jobs on a small machine make libtorch's
/// thread pool spin.
fn tiny_flags() -> Vec<&'static str> {
    let paper_like = [
        "--train-limit",
        "2000",
        "--g-hidden",
        "256",
        "--d-units",
        "64",
        "--d-init",
        "0.05",
    ];
    [TINY_GAN, &paper_like].concat()
}

fn tiny(extra: &[&str]) -> Vec<String> {
    argv(&tiny_flags(), extra)
}

/// Run eval-parzen on `dir` and return its log-likelihood.
fn eval_parzen(ws: &std::path::Path, dir: &std::path::Path) -> f64 {
    let dir = dir.to_str().unwrap();
    let out = ok(paperlab(
        ws,
        &[
            "eval-parzen",
            "--run",
            dir,
            "--checkpoint",
            "last",
            "--samples",
            "1000",
            "--valid-limit",
            "500",
            "--test-limit",
            "1000",
            "--threads",
            "2",
            "--quiet",
            "--force",
        ],
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("Parzen log-likelihood: "), "{stdout}");
    json(&std::path::Path::new(dir).join("summary.json"))["parzen_ll"]
        .as_f64()
        .unwrap()
}

#[test]
fn training_separates_d_outputs_and_raises_the_parzen_likelihood() {
    let ws = workspace();
    let dir = run_dir(ws.path(), "train-gan", "short");
    // The untrained G: stop before the first update, then evaluate it.
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "short", "--epochs", "10", "--max-steps", "0"]),
    ));
    let untrained = eval_parzen(ws.path(), &dir);
    assert_eq!(csv_rows(&dir.join("parzen.csv")).len(), 10);
    let npy = std::fs::read(dir.join("samples.npy")).unwrap();
    assert!(String::from_utf8_lossy(&npy[..128]).contains("'shape': (1000, 784)"));

    ok(paperlab(
        ws.path(),
        &["train-gan", "--name", "short", "--resume", "--quiet"],
    ));
    let metrics = csv_rows(&dir.join("metrics.csv"));
    assert_eq!(metrics.len(), 10);
    let last = &metrics[9];
    let (d_x, d_g_z) = (last["d_x"], last["d_g_z"]);
    assert!(d_x - d_g_z > 0.3, "D(x) {d_x}, D(G(z)) {d_g_z}");
    assert!(ws
        .path()
        .join("results/train-gan/short/samples/epoch_010.png")
        .is_file());
    let trained = eval_parzen(ws.path(), &dir);
    assert!(
        trained > untrained + 10.0,
        "Parzen LL {untrained} untrained, {trained} trained"
    );
    let summary = json(&dir.join("summary.json"));
    for key in ["parzen_se", "sigma", "g_params", "d_params"] {
        assert!(summary[key].is_number(), "summary.json lacks {key}");
    }
}

#[test]
fn resuming_after_max_steps_repeats_an_uninterrupted_run() {
    let ws = workspace();
    let small = [
        "--train-limit",
        "500",
        "--epochs",
        "3",
        "--parzen-every",
        "1",
        "--parzen-samples",
        "100",
        "--parzen-valid",
        "100",
        "--lr-decay",
        "1.01",
        "--momentum-saturate",
        "3",
    ];
    ok(paperlab(
        ws.path(),
        &tiny(&[&["--name", "whole"][..], &small].concat()),
    ));
    // 10 iterations an epoch: stop at the end of epoch 1, then mid-epoch 2.
    ok(paperlab(
        ws.path(),
        &tiny(&[&["--name", "parts", "--max-steps", "10"][..], &small].concat()),
    ));
    ok(paperlab(
        ws.path(),
        &[
            "train-gan",
            "--name",
            "parts",
            "--resume",
            "--max-steps",
            "15",
            "--quiet",
        ],
    ));
    ok(paperlab(
        ws.path(),
        &["train-gan", "--name", "parts", "--resume", "--quiet"],
    ));
    let metrics = |name: &str| {
        metrics_without_timing(&run_dir(ws.path(), "train-gan", name).join("metrics.csv"))
    };
    assert_eq!(metrics("whole").len(), 3);
    assert_eq!(metrics("whole"), metrics("parts"));
    // The schedules: lr 0.1 / 1.01^step of the epoch's last step (10 an
    // epoch), momentum 0.5 -> 0.7 linearly over epochs 1..3.
    for (e, row) in csv_rows(&run_dir(ws.path(), "train-gan", "whole").join("metrics.csv"))
        .iter()
        .enumerate()
    {
        let lr = 0.1 / 1.01f64.powi(10 * (e as i32 + 1) - 1);
        let momentum = 0.5 + 0.1 * e as f64;
        assert!((row["lr"] - lr).abs() < 1e-15, "epoch {}: {row:?}", e + 1);
        assert!(
            (row["momentum"] - momentum).abs() < 1e-15,
            "epoch {}: {row:?}",
            e + 1
        );
    }
    let summary = json(&run_dir(ws.path(), "train-gan", "whole").join("summary.json"));
    assert_eq!(summary["selection"]["goal"], "higher");
    let parzen: Vec<f64> = csv_rows(&run_dir(ws.path(), "train-gan", "whole").join("metrics.csv"))
        .iter()
        .map(|r| r["parzen_ll"])
        .collect();
    let best = parzen.iter().cloned().fold(f64::MIN, f64::max);
    assert_eq!(
        summary["best"], best,
        "the highest Parzen estimate of {parzen:?}"
    );
}

#[test]
fn eval_parzen_refuses_runs_of_other_subcommands_and_bad_flags() {
    refused_by_parser(
        &tiny_flags(),
        &[(
            &["--name", "d", "--d-input-include", "0"],
            &["--d-input-include"],
        )],
    );
    refused_by_parser(
        &["eval-parzen", "--run", "x"],
        &[
            (&["--sigmas", "1:0.1:3"], &["LO:HI:N"]),
            (&["--sigma", "0.2", "--sigmas", "0.1:1:3"], &["--sigma"]),
        ],
    );
    let ws = workspace();
    let other = ws.path().join("results/train-fmp/x");
    std::fs::create_dir_all(&other).unwrap();
    let config = r#"{"command": "train-fmp", "paperlab_version": "0", "git_commit": "0", "device": "cpu", "seed": 0, "config": {}}"#;
    std::fs::write(other.join("config.json"), config).unwrap();
    let path = other.to_str().unwrap();
    refused_by_binary(
        ws.path(),
        &[],
        &[
            (&["eval-parzen", "--run", path], &["not a train-gan run"]),
            (
                &["eval-parzen", "--run", "nowhere"],
                &["nowhere", "config.json"],
            ),
        ],
    );
    refused_by_binary(
        ws.path(),
        &tiny_flags(),
        &[
            (&["--name", "v", "--valid-size", "60000"], &["--valid-size"]),
            (
                &["--name", "p", "--epochs", "2", "--parzen-every", "3"],
                &["--parzen-every"],
            ),
        ],
    );
}

/// A diverging GAN stops with exit 1 and says no checkpoint exists yet.
#[test]
fn a_diverging_gan_stops_with_a_clear_message() {
    let ws = workspace();
    let args = [
        "train-gan",
        "--dataset",
        "fashion-mnist",
        "--train-limit",
        "2000",
        "--valid-size",
        "500",
        "--lr",
        "1e30",
        "--epochs",
        "1",
        "--quiet",
        "--threads",
        "1",
    ];
    fails(
        paperlab(ws.path(), &args),
        1,
        &[
            "NaN or infinite at step",
            "no checkpoint had been written yet",
        ],
    );
}
