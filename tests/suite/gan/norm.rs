//! Xiang & Li 2017 through the binary and the library: train-gan --model
//! dcgan (held-out sets, the running reconstruction test, best selection,
//! resume), the reconstruction measure against its definition, and
//! eval-reconstruction for dcgan and mlp runs.

use crate::common;
use common::*;

use paperlab::error::exit_code;
use paperlab::gan::args::Split;
use paperlab::gan::data::draw_heldout;
use paperlab::gan::reconstruct::{per_image_mse, reconstruct, ReconConfig};
use std::collections::HashSet;
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

#[test]
fn a_dcgan_run_holds_out_images_and_selects_by_reconstruction() {
    let ws = workspace();
    ok(paperlab(ws.path(), &tiny_dcgan("wn", &[])));
    let dir = run_dir(ws.path(), "train-gan", "wn");
    let heldout = json(&dir.join("heldout.json"));
    let ids = |key: &str| -> Vec<i64> {
        heldout[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect()
    };
    let (running, fin) = (ids("running"), ids("final"));
    assert_eq!((running.len(), fin.len()), (16, 32));
    let all: HashSet<i64> = running.iter().chain(&fin).copied().collect();
    assert_eq!(all.len(), 48, "the two sets are disjoint draws");
    assert!(all.iter().all(|&i| (0..70_000).contains(&i)));

    let metrics = csv_rows(&dir.join("metrics.csv"));
    assert_eq!(metrics.len(), 2);
    for (e, row) in metrics.iter().enumerate() {
        assert_eq!(row["iteration"], 20.0 * (e + 1) as f64);
        assert!(row["recon_mse"] > 0.0 && row["recon_mse"] < 0.5, "{row:?}");
        assert!(row["d_loss"].is_finite() && row["g_loss"].is_finite());
        assert_eq!(row["lr"], 1e-4, "the paper's RMSProp lr");
    }
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["selection"]["metric"], "recon_mse");
    assert_eq!(summary["selection"]["goal"], "lower");
    let best = metrics
        .iter()
        .map(|r| r["recon_mse"])
        .fold(f64::INFINITY, f64::min);
    // (serde_json's float parsing may be an ulp off the CSV's.)
    assert!((summary["best"].as_f64().unwrap() - best).abs() < 1e-12);
    assert_eq!(summary["norm"], "weight");
    assert_eq!(summary["steps"], 40);
    for f in ["samples/iter_000020.png", "samples/iter_000040.png"] {
        assert!(dir.join(f).is_file(), "{f}");
    }

    // eval-reconstruction on the first 8 final images.
    let out = ok(paperlab(
        ws.path(),
        &[
            "eval-reconstruction",
            "--run",
            dir.to_str().unwrap(),
            "--images",
            "8",
            "--steps",
            "5",
            "--quiet",
        ],
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("reconstruction MSE"));
    let table = csv_rows(&dir.join("reconstruction.csv"));
    let images: Vec<i64> = table.iter().map(|r| r["image"] as i64).collect();
    assert_eq!(images, fin[..8], "the final set, in its order");
    let mean = table.iter().map(|r| r["mse"]).sum::<f64>() / 8.0;
    let summary = json(&dir.join("summary.json"));
    assert!((summary["recon_mse"].as_f64().unwrap() - mean).abs() < 1e-6);
    assert_eq!(summary["recon_images"], 8);
    assert!(
        (summary["best"].as_f64().unwrap() - best).abs() < 1e-12,
        "the training figures stay"
    );
    // Originals above reconstructions: 2 rows of 8 images of 32x32.
    let png = tch::vision::image::load(dir.join("reconstruction.png")).unwrap();
    assert_eq!(png.size(), [3, 64, 256]);
    fails(
        paperlab(
            ws.path(),
            &["eval-reconstruction", "--run", dir.to_str().unwrap()],
        ),
        2,
        &["reconstruction.csv", "--force"],
    );
    // The final test's own default steps, not the running test's 5.
    ok(paperlab(
        ws.path(),
        &[
            "eval-reconstruction",
            "--run",
            dir.to_str().unwrap(),
            "--images",
            "2",
            "--force",
            "--quiet",
        ],
    ));
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["recon_steps"], 500);
    assert_eq!(summary["recon_images"], 2);
}

#[test]
fn the_authors_split_nests_the_running_set_in_the_final_set() {
    let (n, r, f, seed) = (100, 10, 30, 5);
    let ours = draw_heldout(n, r, f, Split::Disjoint, seed).unwrap();
    let theirs = draw_heldout(n, r, f, Split::Authors, seed).unwrap();
    assert_eq!((theirs.running.len(), theirs.final_set.len()), (10, 30));
    // One permutation, cut two ways: perm[:10] and perm[:30] (split_data.py),
    // or perm[:10] and perm[10:40].
    assert_eq!(theirs.running, theirs.final_set[..10]);
    assert_eq!(ours.running, theirs.running);
    assert_eq!(ours.final_set[..20], theirs.final_set[10..]);
    let distinct: HashSet<i64> = ours
        .running
        .iter()
        .chain(&ours.final_set)
        .copied()
        .collect();
    assert_eq!(distinct.len(), 40);
    // The authors' split needs only --final < n; ours needs both sets to fit.
    assert!(draw_heldout(n, 10, 99, Split::Authors, seed).is_ok());
    for (split, r, f) in [(Split::Authors, 10, 100), (Split::Disjoint, 10, 90)] {
        let err = draw_heldout(n, r, f, split, seed).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(
            err.to_string().contains("leave no training images"),
            "{err}"
        );
    }
}

#[test]
fn levels_split_and_crop_flags_reach_the_run_or_are_refused() {
    let ws = workspace();
    ok(paperlab(
        ws.path(),
        &tiny_dcgan("nested", &["--split", "authors", "--levels", "2"]),
    ));
    let dir = run_dir(ws.path(), "train-gan", "nested");
    let heldout = json(&dir.join("heldout.json"));
    assert_eq!(
        heldout["running"].as_array().unwrap()[..],
        heldout["final"].as_array().unwrap()[..16]
    );
    let summary = json(&dir.join("summary.json"));
    assert_eq!(
        (&summary["levels"], &summary["split"]),
        (&2.into(), &"authors".into())
    );
    // Two levels of the strict weight-normalized G (the default --norm) for
    // 32x32: z (128) to 16 features of 8x8, a TPReLU, a transposed conv to
    // 8 features, a TPReLU, and the affine last one to 1 channel (the
    // derived 3 levels would start from 32 features of 4x4).
    let g = 128 * 16 * 64 + 2 * 16 + 16 * 8 * 16 + 2 * 8 + 8 * 16 + 2;
    assert_eq!(summary["g_params"], g, "{summary:#}");

    refused_by_parser(
        TINY_DCGAN,
        &[(&["--levels", "0"], &["'0' for '--levels", "positive"])],
    );
    refused_by_binary(
        ws.path(),
        TINY_DCGAN,
        &[
            (
                &["--name", "refused", "--crop-size", "20", "--print-config"],
                &["--crop-size", "fashion-mnist"],
            ),
            (
                &[
                    "--name",
                    "refused",
                    "--split",
                    "authors",
                    "--running",
                    "40",
                    "--print-config",
                ],
                &["--running 40 exceeds --final 32"],
            ),
            (
                &["--name", "deep", "--levels", "6"],
                &["--levels 6", "32x32 images take 1 to 5 levels"],
            ),
        ],
    );
    assert!(!run_dir(ws.path(), "train-gan", "deep").exists());
}

#[test]
fn a_dcgan_run_resumed_mid_interval_repeats_the_uninterrupted_one() {
    let ws = workspace();
    let extra = ["--norm", "weight-affine", "--ls"];
    ok(paperlab(ws.path(), &tiny_dcgan("whole", &extra)));
    let mut parts = tiny_dcgan("parts", &extra);
    parts.extend(["--max-steps", "13"].map(String::from));
    ok(paperlab(ws.path(), &parts));
    ok(paperlab(
        ws.path(),
        &[
            "train-gan",
            "--name",
            "parts",
            "--resume",
            "--quiet",
            "--threads",
            "1",
        ],
    ));
    let metrics = |name: &str| {
        metrics_without_timing(&run_dir(ws.path(), "train-gan", name).join("metrics.csv"))
    };
    assert_eq!(metrics("whole").len(), 2);
    assert_eq!(metrics("whole"), metrics("parts"));
    let summary = json(&run_dir(ws.path(), "train-gan", "parts").join("summary.json"));
    assert_eq!(summary["norm"], "weight-affine", "spelled as the flag");
}

/// G(z) = sigmoid(A z + b): the reconstruction of its own outputs.
#[derive(Debug)]
struct Linear(nn::Linear);

impl ModuleT for Linear {
    fn forward_t(&self, z: &Tensor, _train: bool) -> Tensor {
        self.0.forward(z).sigmoid().view([-1, 1, 4, 4])
    }
}

#[test]
fn reconstruction_finds_codes_and_treats_each_image_on_its_own() {
    tch::manual_seed(0);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let g = Linear(nn::linear(vs.root(), 3, 16, Default::default()));
    vs.freeze();
    let target = Tensor::randn([6, 3], (Kind::Float, Device::Cpu));
    let x = tch::no_grad(|| g.forward_t(&target, false));
    let cfg = ReconConfig {
        steps: 200,
        lr: 0.01,
        batch_size: 32,
    };
    let start = tch::no_grad(|| {
        per_image_mse(
            &g.forward_t(&Tensor::zeros([6, 3], (Kind::Float, Device::Cpu)), false),
            &x,
        )
    });
    let (_, mse) = reconstruct(&g, 3, &x, &cfg);
    for i in 0..6 {
        let (before, after) = (start.double_value(&[i]), mse.double_value(&[i]));
        assert!(after < 0.05 * before, "image {i}: {before} -> {after}");
    }
    // One batched optimisation equals optimising each image alone: every
    // code gets exactly its own image's gradient. (Few steps: near the
    // optimum RMSProp's steps are sign-like and amplify rounding.)
    let cfg = ReconConfig { steps: 20, ..cfg };
    let (z, mse) = reconstruct(&g, 3, &x, &cfg);
    for i in 0..6 {
        let (zi, mi) = reconstruct(&g, 3, &x.narrow(0, i, 1), &cfg);
        let dz = (zi - z.narrow(0, i, 1)).abs().max().double_value(&[]);
        assert!(dz < 1e-5, "image {i}: codes differ by {dz}");
        assert!((mi.double_value(&[0]) - mse.double_value(&[i])).abs() < 1e-7);
    }
    // The per-image MSE is the mean over its pixels.
    let y = Tensor::ones([2, 1, 4, 4], (Kind::Float, Device::Cpu));
    let x2 = Tensor::zeros([2, 1, 4, 4], (Kind::Float, Device::Cpu));
    assert_eq!(
        Vec::<f32>::try_from(per_image_mse(&y, &x2)).unwrap(),
        [1.0, 1.0]
    );
}

#[test]
fn eval_reconstruction_measures_an_mlp_run_on_its_test_images() {
    let ws = workspace();
    let heldout = [
        "--train-limit",
        "500",
        "--valid-size",
        "100",
        "--d-pieces",
        "2",
    ];
    ok(paperlab(
        ws.path(),
        tiny_gan("mlp", &[&heldout[..], &["--epochs", "1"]].concat()),
    ));
    let dir = run_dir(ws.path(), "train-gan", "mlp");
    ok(paperlab(
        ws.path(),
        &[
            "eval-reconstruction",
            "--run",
            dir.to_str().unwrap(),
            "--images",
            "10",
            "--steps",
            "3",
            "--quiet",
        ],
    ));
    let table = csv_rows(&dir.join("reconstruction.csv"));
    assert_eq!(
        table.iter().map(|r| r["image"] as i64).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
    assert!(json(&dir.join("summary.json"))["recon_mse"].is_number());
    refused_by_parser(
        &["eval-reconstruction", "--run", dir.to_str().unwrap()],
        &[(&["--images", "0", "--force"], &["'0' for '--images"])],
    );
}
