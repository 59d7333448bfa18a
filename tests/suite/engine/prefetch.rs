//! --prefetch end to end, on the two trainers whose loading it changes
//! most: train-inception on a lazily decoded ImageNet-style folder (two
//! decoding workers) and the GAN's k batches a step. Each run is the same
//! whether a step's batches are loaded when it starts (0) or ahead by the
//! loader thread, and so is a run stopped by --max-steps and resumed with
//! other values; bad values are refused naming the flag.

use crate::common;
use common::*;

use std::path::Path;

/// train-inception on data/imagenet (32 training images in batches of 4:
/// 8 steps an epoch), logging every 2 steps.
fn folder_inception(name: &str, extra: &[&str]) -> Vec<String> {
    let logged = ["--log-every", "2", "--seed", "5"];
    tiny_folder_inception(name, &[&logged[..], extra].concat())
}

/// The MLP GAN with k = 2 D batches a step (6 steps an epoch).
fn gan(name: &str, extra: &[&str]) -> Vec<String> {
    let k2 = [
        "--d-steps",
        "2",
        "--d-pieces",
        "2",
        "--parzen-every",
        "1",
        "--parzen-samples",
        "100",
        "--parzen-valid",
        "50",
        "--log-every",
        "2",
        "--seed",
        "6",
    ];
    tiny_gan(name, &[&k2[..], extra].concat())
}

fn run(ws: &Path, args: Vec<String>) {
    ok(paperlab(ws, args));
}

/// Run `name` ended as run "inline" did: metrics.csv and steps.csv but
/// for their timings, `files` byte for byte, and the last checkpoint's
/// tensors (their order in the file depends on where a run resumed).
fn same_as_inline(ws: &Path, command: &str, name: &str, files: &[&str]) {
    let (a, b) = (run_dir(ws, command, "inline"), run_dir(ws, command, name));
    for csv in ["metrics.csv", "steps.csv"] {
        assert_eq!(
            metrics_without_timing(&a.join(csv)),
            metrics_without_timing(&b.join(csv)),
            "{command} {name}: {csv}"
        );
    }
    for file in files {
        let read = |dir: &Path| std::fs::read(dir.join(file)).unwrap();
        assert!(read(&a) == read(&b), "{command} {name}: {file} differs");
    }
    let last = "checkpoints/last.safetensors";
    same_checkpoint(&a.join(last), &b.join(last));
}

/// --prefetch 0 and 3, and a run stopped after 3 and 11 steps, each
/// process with another --prefetch, all end as the inline run.
fn prefetch_changes_nothing(ws: &Path, args: fn(&str, &[&str]) -> Vec<String>, files: &[&str]) {
    let command = args("", &[])[0].clone();
    run(ws, args("inline", &["--prefetch", "0"]));
    run(ws, args("ahead", &["--prefetch", "3"]));
    let mut whole = files.to_vec();
    whole.push("checkpoints/last.safetensors");
    same_as_inline(ws, &command, "ahead", &whole);
    run(ws, args("parts", &["--prefetch", "1", "--max-steps", "3"]));
    let resume = ["--resume", "--prefetch", "0", "--max-steps", "11"];
    run(ws, args("parts", &resume));
    run(ws, args("parts", &["--resume", "--prefetch", "4"]));
    same_as_inline(ws, &command, "parts", files);
}

#[test]
fn a_folder_inception_run_is_the_same_with_any_prefetch() {
    let ws = workspace();
    imagenet_folder(ws.path());
    let files = ["predictions.csv", "weights.safetensors"];
    prefetch_changes_nothing(ws.path(), folder_inception, &files);
}

#[test]
fn a_gan_run_of_k_batches_a_step_is_the_same_with_any_prefetch() {
    let ws = workspace();
    prefetch_changes_nothing(ws.path(), gan, &["samples/epoch_002.png"]);
}

#[test]
fn bad_prefetch_values_are_refused_naming_the_flag() {
    refused_by_parser(
        &["train-fmp"],
        &[
            (&["--prefetch", "17"], &["--prefetch"]),
            (&["--prefetch", "-1"], &["--prefetch"]),
            (&["--prefetch", "two"], &["--prefetch"]),
        ],
    );
    let ws = workspace();
    std::fs::write(ws.path().join("preset.toml"), "prefetch = 99\n").unwrap();
    refused_by_binary(
        ws.path(),
        &[],
        &[(
            &["train-wn", "--config", "preset.toml", "--print-config"],
            &["--prefetch", "99"],
        )],
    );
    // Every trainer takes it, from the command line or a preset.
    std::fs::write(ws.path().join("five.toml"), "prefetch = 5\n").unwrap();
    for command in ["train-fmp", "train-wn", "train-gan", "train-inception"] {
        for flags in [["--prefetch", "5"], ["--config", "five.toml"]] {
            let config = resolved(ws.path(), [command, flags[0], flags[1]]);
            assert_eq!(config["prefetch"], 5, "{command} {flags:?}");
        }
    }
}
