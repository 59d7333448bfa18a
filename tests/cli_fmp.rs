//! train-fmp and eval-fmp through the binary: run directories, resume,
//! presets, exit codes, and one short real training on Fashion-MNIST.

mod common;
use common::*;

/// A tiny, fast configuration: 600 images, batch 50 (12 steps an epoch).
const TINY: &[&str] = &[
    "train-fmp",
    "--train-limit",
    "600",
    "--test-limit",
    "200",
    "--filters",
    "4",
    "--batch-size",
    "50",
    "--epochs",
    "2",
    "--lr",
    "0.01",
    "--threads",
    "1",
    "--quiet",
];

fn tiny(extra: &[&str]) -> Vec<&'static str> {
    let mut args: Vec<&str> = TINY.to_vec();
    args.extend(
        extra
            .iter()
            .map(|s| -> &'static str { Box::leak(s.to_string().into_boxed_str()) }),
    );
    args
}

#[test]
fn a_run_writes_its_directory_and_refuses_to_overwrite_it() {
    let ws = workspace();
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "a", "--tests", "1,3"]),
    ));
    let dir = run_dir(ws.path(), "train-fmp", "a");
    for f in [
        "config.json",
        "metrics.csv",
        "summary.json",
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let config = json(&dir.join("config.json"));
    assert_eq!(config["command"], "train-fmp");
    assert_eq!(config["config"]["filters"], 4);
    // --device auto: CUDA where there is one.
    let auto = if tch::Cuda::is_available() {
        "cuda:0"
    } else {
        "cpu"
    };
    assert_eq!(config["device"], auto);
    let metrics = metrics_without_timing(&dir.join("metrics.csv"));
    assert_eq!(metrics.len(), 2);
    // The schedule: lr 0.01 * exp(-0.01 * epoch).
    for (e, row) in metrics.iter().enumerate() {
        let lr: f64 = row[1].parse().unwrap();
        let want = 0.01 * (-0.01 * (e + 1) as f64).exp();
        assert!(
            (lr - want).abs() < 1e-15,
            "epoch {}: lr {lr}, expected {want}",
            e + 1
        );
    }
    let summary = json(&dir.join("summary.json"));
    for key in ["test_error", "params", "train_images_per_sec"] {
        assert!(summary[key].is_number(), "summary.json lacks {key}");
    }
    assert_eq!(summary["command"], "train-fmp");
    assert_eq!(summary["epochs"], 2);
    assert_eq!(summary["steps"], 24);
    assert_eq!(summary["selection"]["metric"], "test_error");
    assert_eq!(summary["selection"]["goal"], "lower");
    // best is the lowest test_error of metrics.csv, in its epoch.
    let errors: Vec<f64> = metrics.iter().map(|r| r[4].parse().unwrap()).collect();
    let best = if errors[1] < errors[0] { 1 } else { 0 };
    assert_eq!(summary["best"], errors[best]);
    assert_eq!(summary["best_epoch"], best as i64 + 1);
    assert!(summary["test_error_by_tests"]["3"].is_number());

    fails(
        paperlab(ws.path(), &tiny(&["--name", "a"])),
        2,
        &["already holds a run", "--resume", "--force"],
    );
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "a", "--force", "--epochs", "1"]),
    ));
    assert_eq!(metrics_without_timing(&dir.join("metrics.csv")).len(), 1);
}

#[test]
fn resuming_after_max_steps_repeats_an_uninterrupted_run() {
    let ws = workspace();
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "whole", "--dropout", "0.3"]),
    ));
    // Stop mid-epoch 2 (step 17 of 24), then resume to the end.
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "parts", "--dropout", "0.3", "--max-steps", "17"]),
    ));
    let parts = run_dir(ws.path(), "train-fmp", "parts");
    assert_eq!(metrics_without_timing(&parts.join("metrics.csv")).len(), 1);
    assert!(!parts.join("summary.json").exists());
    ok(paperlab(
        ws.path(),
        &["train-fmp", "--name", "parts", "--resume", "--quiet"],
    ));
    let whole = run_dir(ws.path(), "train-fmp", "whole");
    assert_eq!(
        metrics_without_timing(&whole.join("metrics.csv")),
        metrics_without_timing(&parts.join("metrics.csv"))
    );
    assert_eq!(
        json(&whole.join("summary.json"))["test_error"],
        json(&parts.join("summary.json"))["test_error"]
    );
}

#[test]
fn resuming_after_a_kill_drops_rows_written_after_the_checkpoint() {
    let ws = workspace();
    ok(paperlab(ws.path(), &tiny(&["--name", "whole"])));
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "killed", "--max-steps", "12"]),
    ));
    // A process killed between writing a metrics row and its checkpoint
    // leaves a row the checkpoint does not know about.
    let killed = run_dir(ws.path(), "train-fmp", "killed");
    let metrics = killed.join("metrics.csv");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text += "2,0.1,9,9,9,1,1\n";
    std::fs::write(&metrics, text).unwrap();
    ok(paperlab(
        ws.path(),
        &["train-fmp", "--name", "killed", "--resume", "--quiet"],
    ));
    let whole = run_dir(ws.path(), "train-fmp", "whole");
    assert_eq!(
        metrics_without_timing(&whole.join("metrics.csv")),
        metrics_without_timing(&metrics)
    );
}

/// kill -9 once the first epoch's checkpoint is on disk (so somewhere in
/// epoch 2 or at its end), resume, and compare with an uninterrupted run.
#[test]
fn resuming_after_kill_9_repeats_an_uninterrupted_run() {
    let ws = workspace();
    let args = tiny(&["--train-limit", "1500", "--epochs", "3"]);
    let with_name = |name: &'static str| [args.clone(), vec!["--name", name]].concat();
    ok(paperlab(ws.path(), &with_name("whole")));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_paperlab"))
        .current_dir(ws.path())
        .args(with_name("killed"))
        .spawn()
        .unwrap();
    let dir = run_dir(ws.path(), "train-fmp", "killed");
    let rows = || {
        std::fs::read_to_string(dir.join("metrics.csv"))
            .map_or(0, |t| t.lines().count().saturating_sub(1))
    };
    let saved = || dir.join("checkpoints/last.safetensors").exists();
    while (rows() < 1 || !saved()) && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    if !dir.join("summary.json").exists() {
        ok(paperlab(
            ws.path(),
            &["train-fmp", "--name", "killed", "--resume", "--quiet"],
        ));
    }
    let whole = run_dir(ws.path(), "train-fmp", "whole");
    assert_eq!(
        metrics_without_timing(&whole.join("metrics.csv")),
        metrics_without_timing(&dir.join("metrics.csv"))
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_exits_130() {
    let ws = workspace();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_paperlab"))
        .current_dir(ws.path())
        .args(tiny(&["--name", "int", "--epochs", "1000"]))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dir = run_dir(ws.path(), "train-fmp", "int");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !dir.join("checkpoints/last.safetensors").exists() && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    fails(out, 130, &["interrupted at step", "--resume"]);
    assert!(dir.join("checkpoints/last.safetensors").is_file());
}

#[test]
fn presets_are_overridden_by_flags_and_unknown_keys_are_refused() {
    let ws = workspace();
    let preset = ws.path().join("p.toml");
    std::fs::write(
        &preset,
        "filters = 6\nepochs = 1\ntests = [1, 2]\nfmp-sequence = \"random\"\n",
    )
    .unwrap();
    ok(paperlab(
        ws.path(),
        &tiny(&["--config", "p.toml", "--epochs", "1"]),
    ));
    // The run is named after the preset; --filters 4 from the command line wins over the preset's 6.
    let config = json(&run_dir(ws.path(), "train-fmp", "p").join("config.json"));
    assert_eq!(config["config"]["filters"], 4);
    assert_eq!(config["config"]["fmp_sequence"], "random");
    assert_eq!(config["config"]["tests"], serde_json::json!([1, 2]));

    std::fs::write(&preset, "filtres = 6\n").unwrap();
    fails(
        paperlab(ws.path(), &tiny(&["--config", "p.toml", "--name", "q"])),
        2,
        &["p.toml", "filtres"],
    );
}

#[test]
fn bad_input_exits_2_with_a_message_naming_it() {
    let ws = workspace();
    let p = ws.path();
    fails(
        paperlab(p, &tiny(&["--data-dir", "nowhere"])),
        2,
        &["nowhere/fashion-mnist", "data/README.md"],
    );
    fails(
        paperlab(p, &tiny(&["--dataset", "imagenette"])),
        2,
        &["--dataset", "imagenette"],
    );
    fails(
        paperlab(p, &tiny(&["--epochs", "ten"])),
        2,
        &["--epochs", "ten"],
    );
    fails(
        paperlab(p, &tiny(&["--alpha", "0.7"])),
        2,
        &["--alpha", "greater than 1"],
    );
    fails(
        paperlab(p, &tiny(&["--device", "tpu"])),
        2,
        &["--device tpu"],
    );
    fails(
        paperlab(p, &tiny(&["--dropout-schedule", "0.1,0.2"])),
        2,
        &["--dropout-schedule", "8"],
    );
    fails(
        paperlab(p, &tiny(&["--resume", "--name", "never-ran"])),
        2,
        &["--resume", "never-ran"],
    );
    std::fs::write(p.join("a-file"), "").unwrap();
    fails(
        paperlab(p, &tiny(&["--out", "a-file/results"])),
        2,
        &["--out", "a-file"],
    );
    // A truncated IDX file.
    std::fs::create_dir_all(p.join("bad/mnist")).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::write(p.join("bad/mnist").join(f), [0u8, 0, 8, 3, 0, 0, 0, 9]).unwrap();
    }
    fails(
        paperlab(p, &tiny(&["--dataset", "mnist", "--data-dir", "bad"])),
        2,
        &["bad/mnist/train-images-idx3-ubyte"],
    );
}

#[test]
fn a_diverging_run_stops_naming_the_step() {
    let ws = workspace();
    fails(
        paperlab(ws.path(), &tiny(&["--lr", "1e9", "--name", "nan"])),
        1,
        &["NaN or infinite at step", "--lr"],
    );
}

#[test]
fn eval_fmp_reloads_a_run_and_refuses_another_models_checkpoint() {
    let ws = workspace();
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "a", "--epochs", "1"]),
    ));
    ok(paperlab(
        ws.path(),
        &tiny(&["--name", "wide", "--epochs", "1", "--filters", "5"]),
    ));
    let run = run_dir(ws.path(), "train-fmp", "a");
    let run_s = run.to_str().unwrap();
    ok(paperlab(
        ws.path(),
        &["eval-fmp", "--run", run_s, "--tests", "1,2,4", "--quiet"],
    ));
    let tests = std::fs::read_to_string(run.join("tests.csv")).unwrap();
    let lines: Vec<&str> = tests.lines().collect();
    assert_eq!(lines[0], "tests,test_error");
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("4,"));
    fails(
        paperlab(ws.path(), &["eval-fmp", "--run", run_s, "--quiet"]),
        2,
        &["tests.csv", "--force"],
    );
    let other = run_dir(ws.path(), "train-fmp", "wide").join("checkpoints/last.safetensors");
    fails(
        paperlab(
            ws.path(),
            &[
                "eval-fmp",
                "--run",
                run_s,
                "--force",
                "--checkpoint",
                other.to_str().unwrap(),
            ],
        ),
        2,
        &["different model", "model.classifier.weight", "[10, 40]"],
    );
    fails(
        paperlab(ws.path(), &["eval-fmp", "--run", "results"]),
        2,
        &["--run", "config.json"],
    );
}

/// One short real training: 4,000 Fashion-MNIST images, two epochs. Chance is
/// 90% error; the net must be far better.
#[test]
fn train_fmp_learns_fashion_mnist() {
    let ws = workspace();
    let args = [
        "train-fmp",
        "--train-limit",
        "4000",
        "--test-limit",
        "1000",
        "--filters",
        "8",
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--tests",
        "1,4",
        "--quiet",
        "--name",
        "learn",
    ];
    ok(paperlab(ws.path(), &args));
    let summary = json(&run_dir(ws.path(), "train-fmp", "learn").join("summary.json"));
    let err = summary["test_error"].as_f64().unwrap();
    assert!(err < 0.5, "test error {err}");
    assert!(summary["test_error_by_tests"]["4"].as_f64().unwrap() < 0.5);
}
