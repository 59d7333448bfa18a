//! The per-step log through the binary: steps.csv and the TensorBoard event
//! files, read back by TensorBoard's own EventAccumulator
//! (scripts/read_events.py, run from .venv; `scripts/setup.sh --test`
//! installs tensorboard there): the scalars are metrics.csv's and
//! steps.csv's, the GAN's images decode, the text holds the config; a
//! resumed run has each step once; --log-every 0 writes neither file; and
//! compare --x step reads steps.csv, and still compares runs without it.

use crate::common;
use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// What TensorBoard reads from the run directory `dir` (see
/// scripts/read_events.py for the layout).
fn read_events(dir: &Path) -> Value {
    serde_json::from_slice(&python("read_events.py", [dir]).stdout).unwrap()
}

/// A CSV of numbers: its header and rows.
fn table(path: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

/// A scalar tag's (step, value) pairs.
fn scalar(events: &Value, tag: &str) -> Vec<(i64, f64)> {
    events["scalars"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no scalar {tag}: {}", events["scalars"]))
        .iter()
        .map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap()))
        .collect()
}

/// The same steps, and values equal to float32's precision (event files
/// hold scalars as float).
fn same(a: &[(i64, f64)], b: &[(i64, f64)], what: &str) {
    let steps = |v: &[(i64, f64)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
    assert_eq!(steps(a), steps(b), "{what}: steps");
    let values = |v: &[(i64, f64)]| v.iter().map(|p| p.1).collect::<Vec<_>>();
    assert_close(&values(a), &values(b), 1e-6, 1e-9, what);
}

/// The (step, value) pairs of `column` in a CSV table whose x is `x`.
fn column(table: &(Vec<String>, Vec<Vec<f64>>), x: &str, column: &str) -> Vec<(i64, f64)> {
    let at = |name: &str| table.0.iter().position(|h| h == name).unwrap();
    let (x, c) = (at(x), at(column));
    table.1.iter().map(|r| (r[x] as i64, r[c])).collect()
}

/// Ten steps an epoch (200 images, batches of 20), two epochs.
fn fmp(ws: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let steps = [
        "--train-limit",
        "200",
        "--test-limit",
        "100",
        "--batch-size",
        "20",
    ];
    ok(paperlab(ws, tiny_fmp(name, &[&steps[..], extra].concat())));
    run_dir(ws, "train-fmp", name)
}

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("tfevents"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_event_files_hold_metrics_csv_steps_csv_and_the_config() {
    let ws = workspace();
    let dir = fmp(ws.path(), "log", &["--log-every", "3"]);
    let steps = table(&dir.join("steps.csv"));
    assert_eq!(
        steps.0,
        ["step", "epoch", "error", "loss", "lr", "images_per_sec"]
    );
    let logged: Vec<(i64, f64)> = column(&steps, "step", "epoch");
    let expected: Vec<(i64, f64)> = [3, 6, 9, 12, 15, 18]
        .iter()
        .map(|&s| (s, if s <= 10 { 1.0 } else { 2.0 }))
        .collect();
    assert_eq!(
        logged, expected,
        "every 3 steps, in the epoch being trained"
    );
    let events = read_events(&dir);
    let mut tags = vec![];
    for name in &steps.0[2..] {
        let tag = format!("train/{name}");
        same(&scalar(&events, &tag), &column(&steps, "step", name), &tag);
        tags.push(tag);
    }
    // Every metrics.csv column at its epoch's last step (10 and 20).
    let metrics = table(&dir.join("metrics.csv"));
    let mut at_steps = metrics.clone();
    for row in &mut at_steps.1 {
        row.push(row[0] * 10.0);
    }
    at_steps.0.push("last_step".into());
    for name in &metrics.0 {
        let tag = format!("epoch/{name}");
        same(
            &scalar(&events, &tag),
            &column(&at_steps, "last_step", name),
            &tag,
        );
        tags.push(tag);
    }
    let mut found: Vec<String> = events["scalars"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    (found.sort(), tags.sort());
    assert_eq!(found, tags, "no other scalars");

    let text = events["text"]["config"].as_array().unwrap();
    assert_eq!(text.len(), 1);
    let block = text[0].as_str().unwrap();
    let dedented: String = block
        .lines()
        .map(|l| l.strip_prefix("    ").expect("a Markdown code block"))
        .collect::<Vec<_>>()
        .join("\n");
    let config = json(&dir.join("config.json"));
    assert_eq!(serde_json::from_str::<Value>(&dedented).unwrap(), config);
    let hparams = &events["hparams"];
    assert_eq!(hparams["command"], "train-fmp");
    assert_eq!(hparams["lr"], config["config"]["lr"]);
    assert_eq!(hparams["filters"], 4.0);
    assert!(hparams.get("out").is_none(), "runtime keys are left out");
    assert_eq!(events["session_end"], 1, "STATUS_SUCCESS: the run finished");
    assert_eq!(event_files(&dir).len(), 1);
}

/// Rows of steps.csv without images_per_sec, as text.
fn steps_without_timing(dir: &Path) -> Vec<Vec<String>> {
    metrics_without_timing(&dir.join("steps.csv"))
}

#[test]
fn a_resumed_run_logs_each_step_once_as_the_uninterrupted_one() {
    let ws = workspace();
    let whole = fmp(ws.path(), "whole", &["--log-every", "3"]);
    // Stopped at step 5 (mid-window: step 6 is the next log point), then
    // run on to step 13 past the epoch's end; putting step 5's checkpoint
    // back leaves what a process killed after step 13 would: rows and
    // events after the last checkpoint, which the resumed run must drop.
    let parts = fmp(
        ws.path(),
        "parts",
        &["--log-every", "3", "--max-steps", "5"],
    );
    let last = parts.join("checkpoints/last.safetensors");
    let at_5 = ws.path().join("at_5.safetensors");
    std::fs::copy(&last, &at_5).unwrap();
    fmp(ws.path(), "parts", &["--resume", "--max-steps", "13"]);
    assert_eq!(steps_without_timing(&parts).len(), 4, "steps 3 to 12");
    std::fs::copy(&at_5, &last).unwrap();
    fmp(ws.path(), "parts", &["--resume"]);

    assert_eq!(
        steps_without_timing(&parts),
        steps_without_timing(&whole),
        "steps.csv: each step once, with the uninterrupted run's values"
    );
    let (a, b) = (read_events(&whole), read_events(&parts));
    for (tag, points) in a["scalars"].as_object().unwrap() {
        let (got, want) = (scalar(&b, tag), scalar(&a, tag));
        if tag.ends_with("seconds") || tag.ends_with("images_per_sec") {
            let steps = |v: &[(i64, f64)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
            assert_eq!(steps(&got), steps(&want), "{tag}: steps");
        } else {
            same(&got, &want, tag);
        }
        assert!(!points.as_array().unwrap().is_empty());
    }
    assert_eq!(b["text"]["config"].as_array().unwrap().len(), 1);
    assert_eq!(event_files(&parts).len(), 3, "a new file for each process");
}

#[test]
fn log_every_0_writes_no_log_and_compare_still_reads_such_runs() {
    let ws = workspace();
    let quiet = fmp(ws.path(), "unlogged", &["--log-every", "0"]);
    assert!(event_files(&quiet).is_empty(), "no event file");
    assert!(!quiet.join("steps.csv").exists(), "no steps.csv");
    assert_eq!(table(&quiet.join("metrics.csv")).1.len(), 2);
    let logged = fmp(ws.path(), "logged", &["--log-every", "2"]);
    assert_eq!(table(&logged.join("steps.csv")).1.len(), 10);

    let out = ws.path().join("cmp");
    let runs = [quiet.to_str().unwrap(), logged.to_str().unwrap()];
    let mut args = vec!["compare", "--x", "step", "--out", out.to_str().unwrap()];
    args.extend(runs);
    ok(paperlab(ws.path(), &args));
    // loss is steps.csv's alone: one line, and a note for the other run.
    assert!(out.join("loss.png").is_file() && out.join("loss.svg").is_file());
    let svg = std::fs::read_to_string(out.join("loss.svg")).unwrap();
    assert!(svg.contains("logged") && !svg.contains("unlogged"), "{svg}");
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("unlogged: no metric loss"), "{md}");
    // Over epochs, only metrics.csv's columns.
    let mut args = vec!["compare", "--force", "--out", out.to_str().unwrap()];
    args.extend(runs);
    std::fs::remove_file(out.join("loss.png")).unwrap();
    ok(paperlab(ws.path(), &args));
    assert!(!out.join("loss.png").exists());
    assert!(out.join("train_loss.png").is_file());
}

/// A PNG in hex, as scripts/read_events.py prints it.
fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// An image tag's steps and PNGs, each checked to decode to the size the
/// event says.
fn images(events: &Value, tag: &str) -> Vec<(i64, Vec<u8>)> {
    let list = events["images"][tag]
        .as_array()
        .unwrap_or_else(|| panic!("no image {tag}: {:?}", events["images"]));
    list.iter()
        .map(|e| {
            let png = unhex(e["png"].as_str().unwrap());
            let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
                .expect("the image decodes as PNG");
            let size = (decoded.width() as i64, decoded.height() as i64);
            let said = (e["width"].as_i64().unwrap(), e["height"].as_i64().unwrap());
            assert_eq!(size, said, "{tag}: the event's size is the PNG's");
            (e["step"].as_i64().unwrap(), png)
        })
        .collect()
}

#[test]
fn a_gan_logs_both_losses_its_sample_grids_and_the_reconstruction_figure() {
    let ws = workspace();
    // Epochs of 20 iterations (the DCGAN's --test-interval), two of them.
    ok(paperlab(
        ws.path(),
        tiny_dcgan("gan", &["--log-every", "5"]),
    ));
    let dir = run_dir(ws.path(), "train-gan", "gan");
    let steps = table(&dir.join("steps.csv"));
    for name in ["d_loss", "g_loss", "d_x", "d_g_z", "lr", "images_per_sec"] {
        assert!(
            steps.0.iter().any(|h| h == name),
            "steps.csv has {name}: {:?}",
            steps.0
        );
    }
    let events = read_events(&dir);
    for name in ["d_loss", "g_loss"] {
        let tag = format!("train/{name}");
        let logged = scalar(&events, &tag);
        assert_eq!(
            logged.iter().map(|p| p.0).collect::<Vec<_>>(),
            [5, 10, 15, 20, 25, 30, 35, 40]
        );
        same(&logged, &column(&steps, "step", name), &tag);
    }
    let grids = images(&events, "samples");
    assert_eq!(grids.iter().map(|g| g.0).collect::<Vec<_>>(), [20, 40]);
    let saved = std::fs::read(dir.join("samples/iter_000040.png")).unwrap();
    assert_eq!(grids[1].1, saved, "the grid written to samples/");

    let eval = |extra: &[&str]| {
        let mut a = vec!["eval-reconstruction", "--run", dir.to_str().unwrap()];
        a.extend(["--images", "2", "--steps", "2", "--quiet"]);
        a.extend(extra);
        ok(paperlab(ws.path(), &a));
    };
    eval(&[]);
    eval(&["--force"]);
    let events = read_events(&dir);
    let figure = images(&events, "reconstruction");
    assert_eq!(figure.len(), 1, "--force replaces the evaluation's image");
    assert_eq!(
        figure[0].1,
        std::fs::read(dir.join("reconstruction.png")).unwrap()
    );
    let best = json(&dir.join("summary.json"))["best_epoch"]
        .as_i64()
        .unwrap();
    assert_eq!(
        figure[0].0,
        20 * best,
        "at the evaluated (best) checkpoint's step"
    );
    assert_eq!(
        images(&events, "samples").len(),
        2,
        "the training images stay"
    );
}

#[test]
fn inception_logs_the_gradient_norm_its_clipping_measures() {
    let ws = workspace();
    let train = |extra: &[&str]| {
        ok(paperlab(ws.path(), tiny_inception("clip", extra)));
    };
    train(&["--log-every", "2"]);
    let dir = run_dir(ws.path(), "train-inception", "clip");
    let steps = table(&dir.join("steps.csv"));
    let norms = column(&steps, "step", "grad_norm");
    assert_eq!(
        norms.iter().map(|p| p.0).collect::<Vec<_>>(),
        [2, 4, 6, 8, 10, 12]
    );
    assert!(
        norms.iter().all(|p| p.1 > 0.0 && p.1.is_finite()),
        "{norms:?}"
    );
    same(
        &scalar(&read_events(&dir), "train/grad_norm"),
        &norms,
        "train/grad_norm",
    );
    // Without clipping nothing measures the norm.
    train(&["--log-every", "2", "--clip-grad-norm", "0", "--force"]);
    let steps = table(&dir.join("steps.csv"));
    assert!(!steps.0.iter().any(|h| h == "grad_norm"), "{:?}", steps.0);
}
