//! --precision on the CPU (libtorch's CPU autocast does bf16 and fp16): a
//! few bf16 steps of every trainer give finite losses close to fp32's but
//! not equal to them (so autocast did run); an fp16 run stopped by
//! --max-steps and resumed repeats the uninterrupted one, loss scale
//! included; bad values are refused naming the flag; every layer keeps
//! autocast's dtype and its own float32 state. compute/variants.rs runs every
//! model variant in every precision.

use crate::common;
use common::*;

use paperlab::layers::activation::{leaky_relu, PReLU, TPReLU, TReLU};
use paperlab::layers::batch_norm::BatchNorm;
use paperlab::layers::gan_weight_norm::NormedLayer;
use paperlab::layers::maxout::Maxout;
use paperlab::layers::mean_only_bn::MeanOnlyBn;
use paperlab::layers::plain::FixedScale;
use paperlab::layers::weight_norm::{Op, WeightNorm};
use paperlab::runner::compute::precision::{Autocast, Precision};
use std::collections::HashMap;
use std::path::Path;
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// The largest relative difference of bf16's epoch losses from fp32's after
/// two or three steps. bf16 keeps 8 bits of mantissa (a relative rounding
/// of 2^-9, 0.2%) in every convolution and matrix product, and a few
/// updates from slightly different gradients move the losses further. The
/// largest measured (CPU, libtorch 2.11) was train-inception's, 1.2e-2;
/// then train-wn's 1.4e-3, the DCGAN's 3.6e-4, FMP's 2.9e-5 and the MLP
/// GAN's 1.3e-5.
const BF16_TOLERANCE: f64 = 0.03;

/// One tiny configuration of each trainer: its flags after the subcommand
/// (an epoch of two or three steps, one thread, once [`epoch`] adds its
/// own) and the loss columns of its metrics.csv.
fn trainers() -> Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)> {
    let classifier = vec!["train_loss"];
    let gan = vec!["d_loss", "g_loss", "d_x", "d_g_z"];
    vec![
        (
            "train-fmp",
            vec![
                "--train-limit",
                "100",
                "--test-limit",
                "50",
                "--filters",
                "4",
            ],
            classifier.clone(),
        ),
        (
            "train-wn",
            vec![
                "--train-limit",
                "100",
                "--test-limit",
                "50",
                "--init-batch",
                "50",
                "--widths",
                "4,8",
                "--zca",
                "off",
            ],
            classifier.clone(),
        ),
        (
            "train-inception",
            [
                &TINY_INCEPTION[1..],
                &["--train-limit", "32", "--val-limit", "16"],
            ]
            .concat(),
            classifier,
        ),
        (
            "train-gan",
            [
                &TINY_DCGAN[1..],
                &[
                    "--train-limit",
                    "200",
                    "--test-interval",
                    "3",
                    "--test-steps",
                    "2",
                ],
            ]
            .concat(),
            gan.clone(),
        ),
        (
            "train-gan",
            vec![
                "--dataset",
                "fashion-mnist",
                "--train-limit",
                "300",
                "--valid-size",
                "100",
                "--parzen-every",
                "0",
            ],
            gan,
        ),
    ]
}

/// Train one epoch of `flags` in `precision`; its metrics row.
fn epoch(
    cwd: &Path,
    run: usize,
    command: &str,
    flags: &[&str],
    precision: &str,
) -> HashMap<String, f64> {
    let name = format!("{run}-{precision}");
    let mut args = vec![command];
    args.extend(flags);
    // After the flags: a later flag wins.
    args.extend(["--epochs", "1", "--threads", "1", "--quiet"]);
    args.extend(["--precision", precision, "--name", &name]);
    ok(paperlab(cwd, &args));
    let mut rows = csv_rows(&run_dir(cwd, command, &name).join("metrics.csv"));
    assert_eq!(rows.len(), 1, "{command}: one epoch");
    rows.remove(0)
}

#[test]
fn bf16_trains_every_trainer_with_finite_losses_close_to_fp32s() {
    let ws = workspace();
    for (run, (command, flags, losses)) in trainers().into_iter().enumerate() {
        let fp32 = epoch(ws.path(), run, command, &flags, "fp32");
        let bf16 = epoch(ws.path(), run, command, &flags, "bf16");
        let mut differs = false;
        for column in losses {
            let (a, b) = (fp32[column], bf16[column]);
            assert!(
                a.is_finite() && b.is_finite(),
                "{command} {column}: {a} {b}"
            );
            let relative = (a - b).abs() / a.abs();
            eprintln!("{command} {flags:?} {column}: fp32 {a} bf16 {b} ({relative:.2e})");
            assert!(
                relative <= BF16_TOLERANCE,
                "{command} {column}: bf16 {b} against fp32 {a}"
            );
            differs |= a != b;
        }
        assert!(
            differs,
            "{command}: bf16 gave fp32's losses exactly; autocast did not run"
        );
    }
}

/// The loss scaler's entries of a checkpoint.
fn scaler_state(dir: &Path) -> Vec<(String, Vec<f64>)> {
    let mut state: Vec<(String, Vec<f64>)> =
        Tensor::read_safetensors(dir.join("checkpoints/last.safetensors"))
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.starts_with("scaler."))
            .map(|(k, t)| (k, vec![t.double_value(&[])]))
            .collect();
    state.sort_by(|a, b| a.0.cmp(&b.0));
    state
}

#[test]
fn an_fp16_run_resumed_after_max_steps_repeats_the_run_and_its_loss_scale() {
    let ws = workspace();
    // Two epochs of 6 steps; Graham's summed loss overflows fp16 at the
    // initial scale of 2^16, so the run skips steps and backs off.
    let args = |name: &str, extra: &[&str]| -> Vec<String> {
        let fp16 = [
            "--train-limit",
            "300",
            "--test-limit",
            "50",
            "--precision",
            "fp16",
        ];
        tiny_fmp(name, &[&fp16[..], extra].concat())
    };
    let run = |a: Vec<String>| ok(paperlab(ws.path(), &a));
    run(args("whole", &[]));
    run(args("parts", &["--max-steps", "8"]));
    let (whole, parts) = (
        run_dir(ws.path(), "train-fmp", "whole"),
        run_dir(ws.path(), "train-fmp", "parts"),
    );
    let stopped = scaler_state(&parts);
    assert_eq!(
        stopped.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["scaler.growth_tracker", "scaler.scale"]
    );
    assert!(
        stopped[1].1[0] < 65536.0,
        "the scale backed off: {stopped:?}"
    );
    ok(paperlab(
        ws.path(),
        &["train-fmp", "--name", "parts", "--resume", "--quiet"],
    ));
    assert_eq!(
        metrics_without_timing(&whole.join("metrics.csv")),
        metrics_without_timing(&parts.join("metrics.csv"))
    );
    assert_eq!(scaler_state(&whole), scaler_state(&parts));
    let config = json(&whole.join("config.json"));
    assert_eq!(config["config"]["precision"], "fp16");
    assert_eq!(config["config"]["channels_last"], false);
}

#[test]
fn bad_values_are_refused_naming_the_flag() {
    refused_by_parser(
        &[],
        &[
            (
                &["train-fmp", "--precision", "fp64"],
                &["--precision", "fp64"],
            ),
            (
                &["train-wn", "--precision", "fp64"],
                &["--precision", "fp64"],
            ),
            (
                &["train-inception", "--precision", "fp64"],
                &["--precision", "fp64"],
            ),
            (
                &["train-gan", "--precision", "fp64"],
                &["--precision", "fp64"],
            ),
        ],
    );
    let ws = workspace();
    let p = ws.path();
    refused_by_binary(
        p,
        &[],
        &[(
            &["train-gan", "--channels-last", "--print-config"],
            &["--channels-last", "--model mlp"],
        )],
    );
    ok(paperlab(
        p,
        &[
            "train-gan",
            "--model",
            "dcgan",
            "--channels-last",
            "--print-config",
        ],
    ));
    assert!(!p.join("results").exists());
}

/// Under bf16 and fp16 autocast every layer gives its input's dtype (a
/// float32 per-unit parameter would promote the activation back to
/// float32, and the next conv cast it down again), in training and
/// evaluation; running statistics stay float32 and take the batch's; every
/// parameter gets a float32 gradient.
#[test]
fn every_layer_keeps_its_input_dtype_under_autocast() {
    // One thread: the suite's tests run side by side (see tests/suite/common).
    tch::set_num_threads(1);
    for (precision, kind) in [
        (Precision::Bf16, Kind::BFloat16),
        (Precision::Fp16, Kind::Half),
    ] {
        layers_keep(precision, kind);
    }
}

/// Every layer in `precision`'s autocast, on inputs of its dtype `kind`.
fn layers_keep(precision: Precision, kind: Kind) {
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root();
    let c = 4;
    let up = Op::ConvTranspose2d {
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    let (image, flat) = (vec![3, c, 6, 6], vec![3, c]);
    let layers: Vec<(&str, Box<dyn ModuleT>, &[i64])> = vec![
        ("PReLU", Box::new(PReLU::new(&p / "prelu", c)), &image),
        ("TPReLU", Box::new(TPReLU::new(&p / "tprelu", c)), &image),
        ("TReLU", Box::new(TReLU::new(&p / "trelu", c)), &flat),
        (
            "leaky ReLU",
            Box::new(nn::func(|x| leaky_relu(x, 0.1))),
            &image,
        ),
        (
            "mean-only BN",
            Box::new(MeanOnlyBn::new(&(&p / "meanbn"), c)),
            &image,
        ),
        (
            "batch norm",
            Box::new(BatchNorm::new(&(&p / "bn"), c, 1e-6, 0.1)),
            &image,
        ),
        (
            "tch's batch norm",
            Box::new(nn::batch_norm2d(&p / "bn2d", c, Default::default())),
            &image,
        ),
        (
            "weight-normalized conv",
            Box::new(WeightNorm::new(&(&p / "wn"), Op::conv(1), c, c, 3, true)),
            &image,
        ),
        (
            "weight-normalized linear",
            Box::new(WeightNorm::new(
                &(&p / "wn_linear"),
                Op::Linear,
                c,
                c,
                1,
                true,
            )),
            &flat,
        ),
        (
            "fixed-scale conv",
            Box::new(FixedScale::new(&(&p / "fixed"), Op::conv(1), c, c, 3)),
            &image,
        ),
        (
            "strict normed conv",
            Box::new(NormedLayer::new(
                &p / "strict",
                Op::conv(1),
                c,
                c,
                3,
                false,
                1.0,
            )),
            &image,
        ),
        (
            "affine normed transposed conv",
            Box::new(NormedLayer::new(&p / "affine", up, c, c, 4, true, 1.0)),
            &image,
        ),
        (
            "maxout",
            Box::new(Maxout::new(&p / "maxout", c, 2, 2, 0.1)),
            &flat,
        ),
    ];
    let (mut outputs, mut promoted) = (vec![], vec![]);
    for (what, layer, shape) in &layers {
        let x = Tensor::randn(*shape, (Kind::Float, Device::Cpu)).to_kind(kind);
        let _autocast = Autocast::new(Device::Cpu, precision);
        for train in [true, false] {
            let y = layer.forward_t(&x, train);
            if y.kind() != kind {
                promoted.push(format!("{what} (train {train}): {:?}", y.kind()));
            }
            outputs.push(y);
        }
    }
    assert!(promoted.is_empty(), "{kind:?} in, not out: {promoted:?}");
    let sums = outputs
        .iter()
        .map(|y| y.to_kind(Kind::Float).sum(Kind::Float));
    Tensor::stack(&sums.collect::<Vec<_>>(), 0)
        .sum(Kind::Float)
        .backward();
    for (name, v) in vs.variables() {
        assert_eq!(v.kind(), Kind::Float, "{precision:?} {name}");
        if v.requires_grad() {
            assert!(v.grad().defined(), "{precision:?} {name}: no gradient");
            assert_eq!(
                v.grad().kind(),
                Kind::Float,
                "{precision:?} {name}'s gradient"
            );
        }
        if name.contains("running_") {
            let start = if name.ends_with("var") { 1.0 } else { 0.0 };
            assert!(
                v.ne(start).any().int64_value(&[]) == 1,
                "{precision:?} {name} took no batch statistics"
            );
        }
    }
}
