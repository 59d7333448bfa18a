//! Every trainer's every model variant in every --precision and, for the
//! conv nets, both layouts (--channels-last): one optimizer step each
//! (--max-steps 1) at tiny sizes on the CPU. A cell passes when its run
//! returns Ok without a panic (what the binary turns into exit 0; a
//! libtorch exception reaching an unwrap is a panic) and its steps.csv
//! (--log-every 1) holds finite losses.
//!
//! The cells run in this process through `paperlab::cli::run`, each in its
//! own run directory: a paperlab process spends 0.6 s loading libtorch,
//! more than most cells' step. The data is the first images of
//! Fashion-MNIST written as a tiny raw IDX dataset, so no cell decompresses
//! the whole set.
//!
//! fp16 on the CPU: libtorch 2.11's CPU autocast takes float16, and every
//! op these nets use has a CPU Half kernel (convolutions, transposed
//! convolutions, linear, prelu, batch norm with float32 statistics, the
//! pools, FMP's), so every cell runs; it is slow (no fp16 matrix units),
//! a check of correctness, not a way to train.

use crate::common;
use common::*;

use paperlab::data::{load, DatasetName};
use paperlab::error::{internal_error, panic_text};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

const PRECISIONS: [&str; 3] = ["fp32", "bf16", "fp16"];

/// Training and test images of the tiny dataset.
const TRAIN: i64 = 64;
const TEST: i64 = 16;

/// data/fashion-mnist under `dir`: the first [`TRAIN`] and [`TEST`] images
/// of the real set, raw IDX files.
fn tiny_fashion_mnist(dir: &Path) {
    let full = load(
        &DatasetName::FashionMnist,
        Path::new(FASHION).parent().unwrap(),
    )
    .unwrap();
    let out = dir.join("data/fashion-mnist");
    std::fs::create_dir_all(&out).unwrap();
    for (prefix, set, n) in [("train", &full.train, TRAIN), ("t10k", &full.test, TEST)] {
        let images = Vec::<u8>::try_from(set.images.narrow(0, 0, n).flatten(0, -1)).unwrap();
        let labels = Vec::<i64>::try_from(set.labels.narrow(0, 0, n)).unwrap();
        let labels: Vec<u8> = labels.into_iter().map(|l| l as u8).collect();
        let [_, h, w] = set.image_shape().map(|d| d as u32);
        let n = n as u32;
        let write = |name: &str, bytes: Vec<u8>| {
            std::fs::write(out.join(format!("{prefix}-{name}")), bytes).unwrap()
        };
        write(
            "images-idx3-ubyte",
            common::idx(0x0803, &[n, h, w], &images),
        );
        write("labels-idx1-ubyte", common::idx(0x0801, &[n], &labels));
    }
}

/// One model variant: a name for messages and its command line after
/// `paperlab`, subcommand first.
struct Variant {
    name: String,
    flags: Vec<String>,
}

fn variant(name: String, flags: &[&str]) -> Variant {
    Variant {
        name,
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

/// One optimizer step of `variant` in `precision` and layout, run in this
/// process under `root`; what went wrong, if anything.
fn cell(root: &Path, variant: &Variant, precision: &str, channels_last: bool) -> Option<String> {
    let name = format!(
        "{}-{precision}{}",
        variant.name,
        if channels_last { "-cl" } else { "" }
    );
    let (data, out) = (root.join("data"), root.join("results"));
    let mut argv: Vec<String> = ["paperlab"].map(String::from).to_vec();
    argv.extend(variant.flags.iter().cloned());
    for flag in [
        "--threads",
        "1",
        "--quiet",
        "--max-steps",
        "1",
        "--log-every",
        "1",
        "--precision",
        precision,
        "--name",
        &name,
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ] {
        argv.push(flag.into());
    }
    if channels_last {
        argv.push("--channels-last".into());
    }
    ctrl_c_exits();
    let result = catch_unwind(AssertUnwindSafe(|| {
        paperlab::cli::run(argv.iter().map(Into::into).collect())
    }));
    let failure = match result {
        Ok(Ok(())) => return non_finite_losses(&out.join(&variant.flags[0]).join(&name)),
        Ok(Err(e)) => format!("error: {e:#}"),
        Err(panic) => internal_error(panic_text(&*panic), None, false),
    };
    Some(format!("{name}: {failure}"))
}

/// steps.csv's loss columns (those named *loss) of the run in `dir`, if
/// any is missing or not finite.
fn non_finite_losses(dir: &Path) -> Option<String> {
    let rows = csv_rows(&dir.join("steps.csv"));
    let Some(row) = rows.first() else {
        return Some(format!("{}: no steps.csv row", dir.display()));
    };
    let losses: Vec<(&String, &f64)> = row.iter().filter(|(k, _)| k.ends_with("loss")).collect();
    match losses.iter().any(|(_, v)| !v.is_finite()) || losses.is_empty() {
        true => Some(format!("{}: losses {losses:?}", dir.display())),
        false => None,
    }
}

/// Every variant in every precision, and in both layouts when
/// `channels_last`: the failures listed together.
fn matrix(variants: Vec<Variant>, channels_last: bool) {
    let ws = common::tempdir();
    tiny_fashion_mnist(ws.path());
    let layouts: &[bool] = if channels_last {
        &[false, true]
    } else {
        &[false]
    };
    let mut failures = vec![];
    for v in &variants {
        for precision in PRECISIONS {
            for &cl in layouts {
                failures.extend(cell(ws.path(), v, precision, cl));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn train_wn_in_every_norm() {
    let variants = ["none", "batch", "weight", "weight-meanbn"].map(|norm| {
        variant(
            format!("wn-{norm}"),
            &[
                "train-wn",
                "--norm",
                norm,
                "--widths",
                "4,8",
                "--zca",
                "off",
                "--batch-size",
                "8",
                "--init-batch",
                "8",
            ],
        )
    });
    matrix(variants.into(), true);
}

#[test]
fn train_fmp_in_every_pooling() {
    let mut variants: Vec<Variant> = vec![];
    for sequence in ["random", "pseudorandom"] {
        for regions in ["disjoint", "overlapping"] {
            variants.push(variant(
                format!("fmp-{sequence}-{regions}"),
                &[
                    "train-fmp",
                    "--filters",
                    "4",
                    "--batch-size",
                    "8",
                    "--fmp-sequence",
                    sequence,
                    "--fmp-regions",
                    regions,
                ],
            ));
        }
    }
    variants.push(variant(
        "fmp-max2".into(),
        &[
            "train-fmp",
            "--filters",
            "4",
            "--batch-size",
            "8",
            "--pool",
            "max2",
        ],
    ));
    matrix(variants, true);
}

#[test]
fn train_inception_every_model() {
    let variants = ["inception-v4", "inception-resnet-v1", "inception-resnet-v2"].map(|model| {
        variant(
            model.into(),
            &[
                "train-inception",
                "--model",
                model,
                "--dataset",
                "fashion-mnist",
                "--width",
                "0.0625",
                "--image-size",
                "75",
                "--batch-size",
                "4",
            ],
        )
    });
    matrix(variants.into(), true);
}

#[test]
fn train_gan_dcgan_in_every_norm_and_level_count_of_32x32_images() {
    let mut variants = vec![];
    for norm in ["none", "batch", "weight", "weight-affine"] {
        for levels in ["1", "2", "3", "4"] {
            variants.push(variant(
                format!("dcgan-{norm}-{levels}"),
                &[
                    "train-gan",
                    "--model",
                    "dcgan",
                    "--dataset",
                    "fashion-mnist",
                    "--norm",
                    norm,
                    "--levels",
                    levels,
                    "--features",
                    "4",
                    "--batch-size",
                    "8",
                    "--running",
                    "8",
                    "--final",
                    "8",
                ],
            ));
        }
    }
    matrix(variants, true);
}

#[test]
fn train_gan_mlp() {
    let mlp = variant(
        "mlp".into(),
        &[
            "train-gan",
            "--dataset",
            "fashion-mnist",
            "--valid-size",
            "16",
            "--parzen-every",
            "0",
            "--batch-size",
            "8",
            "--g-hidden",
            "16",
            "--d-units",
            "8",
        ],
    );
    matrix(vec![mlp], false);
}
