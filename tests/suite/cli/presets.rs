//! Presets layered under the command line, checked through --print-config
//! (which creates nothing and reads no data), and the flag checks every
//! subcommand shares: finite floats, --threads, negative numbers.

use crate::common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn experiments() -> Vec<PathBuf> {
    let dir = repo("experiments");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// A preset's subcommand, from its file name: fmp-* is train-fmp, and so on.
fn subcommand(preset: &Path) -> String {
    let name = preset.file_name().unwrap().to_str().unwrap();
    let (paper, _) = name
        .split_once('-')
        .expect("experiments/<paper>-<name>.toml");
    format!("train-{paper}")
}

/// `key = value` as a command-line flag.
fn as_flag(key: &str, value: &toml::Value) -> String {
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match value {
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(text).collect();
            format!("--{key}={}", items.join(","))
        }
        other => format!("--{key}={}", text(other)),
    }
}

/// Numbers, booleans and lists as the preset has them (strings such as
/// "2^(1/3)" are printed parsed, so `every_preset_resolves` compares those
/// with the same value given as a flag).
fn same(printed: &Value, preset: &toml::Value) -> bool {
    match (printed, preset) {
        (Value::Bool(a), toml::Value::Boolean(b)) => a == b,
        (Value::Number(a), toml::Value::Integer(b)) => a.as_i64() == Some(*b),
        (Value::Number(a), toml::Value::Float(b)) => {
            (a.as_f64().unwrap() - b).abs() <= 1e-12 * b.abs()
        }
        (Value::Array(a), toml::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        _ => false,
    }
}

#[test]
fn every_preset_resolves_to_its_values() {
    let ws = workspace();
    for preset in experiments() {
        let sub = subcommand(&preset);
        let path = preset.to_str().unwrap();
        let printed = resolved(ws.path(), &[&sub, "--config", path]);
        let table: toml::Table = std::fs::read_to_string(&preset).unwrap().parse().unwrap();
        let flags: Vec<String> = table.iter().map(|(k, v)| as_flag(k, v)).collect();
        let mut args = vec![sub.as_str()];
        args.extend(flags.iter().map(String::as_str));
        let by_flags = resolved(ws.path(), &args);
        for (key, value) in &table {
            let field = key.replace('-', "_");
            let got = &printed[&field];
            assert!(!got.is_null(), "{path}: {key} missing from {printed:#}");
            if !value.is_str() {
                assert!(same(got, value), "{path}: {key} = {value} printed as {got}");
            }
            assert_eq!(
                got, &by_flags[&field],
                "{path}: {key} differs from the flag"
            );
        }
        assert_eq!(printed["config"], path);
    }
    assert!(
        !ws.path().join("results").exists(),
        "--print-config created results/"
    );
}

#[test]
fn command_line_lists_replace_the_presets_and_booleans_turn_off() {
    let ws = workspace();
    let p = ws.path();
    let experiments = repo("experiments");
    let mnist = experiments.join("fmp-mnist.toml");
    let mnist = mnist.to_str().unwrap();
    let c = resolved(p, &["train-fmp", "--config", mnist, "--tests", "1"]);
    assert_eq!(c["tests"], serde_json::json!([1]));
    assert_eq!(c["epochs"], 100, "the rest of the preset stays");

    let cifar = experiments.join("fmp-cifar10.toml");
    let cifar = cifar.to_str().unwrap();
    assert_eq!(
        resolved(p, &["train-fmp", "--config", cifar])["augment"],
        true
    );
    for off in [&["--augment=false"][..], &["--augment", "false"]] {
        let mut args = vec!["train-fmp", "--config", cifar];
        args.extend(off);
        let c = resolved(p, &args);
        assert_eq!(c["augment"], false, "{off:?}");
        assert_eq!(c["layers"], 12);
    }
    // A bare boolean flag still means true; the last of repeated flags wins.
    let c = resolved(
        p,
        &[
            "train-fmp",
            "--augment",
            "--epochs",
            "3",
            "--epochs",
            "4",
            "--quiet",
        ],
    );
    assert_eq!(
        (&c["augment"], &c["epochs"], &c["quiet"]),
        (&Value::Bool(true), &4.into(), &Value::Bool(true))
    );
}

#[test]
fn print_config_checks_the_flags_and_shows_the_defaults_it_fills_in() {
    let ws = workspace();
    let p = ws.path();
    // The DCGAN's own defaults (pytorch/main.py), and the dataset found.
    let c = resolved(p, &["train-gan", "--model", "dcgan"]);
    assert_eq!(
        (&c["lr"], &c["batch_size"], &c["noise_dim"], &c["dataset"]),
        (
            &1e-4.into(),
            &32.into(),
            &128.into(),
            &"fashion-mnist".into()
        )
    );
    let c = resolved(p, &["train-gan"]);
    assert_eq!((&c["lr"], &c["batch_size"]), (&0.1.into(), &100.into()));
    refused_by_parser(
        &[],
        &[
            (
                &["train-fmp", "--layers=0"],
                &["'0' for '--layers", "positive"],
            ),
            (
                &["train-fmp", "--augment-epochs=-1"],
                &["'-1' for '--augment-epochs", "0 or more"],
            ),
            (
                &["train-fmp", "--train-limit=0"],
                &["'0' for '--train-limit", "positive"],
            ),
            (
                &["train-wn", "--widths=0,1"],
                &["'0' for '--widths", "positive"],
            ),
            (
                &["train-gan", "--d-units=0"],
                &["'0' for '--d-units", "positive"],
            ),
            (
                &["train-gan", "--model", "dcgan", "--features=0"],
                &["'0' for '--features", "positive"],
            ),
            (
                &["train-inception", "--epochs=0"],
                &["'0' for '--epochs", "positive"],
            ),
        ],
    );
    // A flag of the other --model (mlp is the default): clap's refusal with
    // the binary's tip naming the model that takes it.
    fails(
        paperlab(p, &["train-gan", "--features=8", "--print-config"]),
        2,
        &["unexpected argument '--features'", "--model dcgan"],
    );
    assert!(!p.join("results").exists());
}

#[test]
fn train_gan_takes_the_flags_of_the_model_its_command_line_or_preset_chooses() {
    let ws = workspace();
    let p = ws.path();
    fails(
        paperlab(p, &["train-gan", "--model", "dcgan", "--g-hidden", "5"]),
        2,
        &["unexpected argument '--g-hidden'", "--model mlp"],
    );
    let help = |args: &[&str]| String::from_utf8_lossy(&ok(paperlab(p, args)).stdout).into_owned();
    let dcgan = help(&["train-gan", "--model", "dcgan", "--help"]);
    assert!(
        dcgan.contains("--norm <NORM>") && !dcgan.contains("--g-hidden"),
        "{dcgan}"
    );
    let models = help(&["train-gan", "--help"]);
    assert!(
        models.contains("paperlab train-gan --model dcgan --help")
            && !models.contains("--features"),
        "{models}"
    );
    // A preset's model chooses the flags, the command line's among them.
    std::fs::write(p.join("dcgan.toml"), "model = \"dcgan\"\nfeatures = 8\n").unwrap();
    let c = resolved(
        p,
        &["train-gan", "--config", "dcgan.toml", "--norm", "batch"],
    );
    assert_eq!(
        (&c["model"], &c["features"], &c["norm"]),
        (&"dcgan".into(), &8.into(), &"batch".into())
    );
    fails(
        paperlab(
            p,
            &["train-gan", "--config", "dcgan.toml", "--model", "mlp"],
        ),
        2,
        &[
            "dcgan.toml",
            "unknown key \"features\"",
            "train-gan --model mlp",
        ],
    );
    assert!(!p.join("results").exists());
    // A sweep's runs take their preset's model's flags.
    let experiments = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments");
    std::os::unix::fs::symlink(experiments, p.join("experiments")).unwrap();
    let sweep = "experiments/sweeps/gan-norm.toml";
    ok(paperlab(p, &["sweep", sweep, "--slurm", "gan.sbatch"]));
}

#[test]
fn non_finite_floats_are_refused_naming_the_flag() {
    // "-inf" must be written --width=-inf: clap takes only digits for a negative number.
    refused_by_parser(
        &[],
        &[
            (&["train-fmp", "--lr=NaN"], &["--lr"]),
            (
                &["train-fmp", "--dropout-schedule=0,0,0,inf,0,0,0,0"],
                &["--dropout-schedule"],
            ),
            (&["train-gan", "--momentum=inf"], &["--momentum"]),
            (&["train-inception", "--width=-inf"], &["--width"]),
        ],
    );
    let ws = workspace();
    std::fs::write(ws.path().join("nan.toml"), "lr = nan\n").unwrap();
    refused_by_binary(
        ws.path(),
        &[],
        &[(
            &["train-gan", "--config", "nan.toml", "--print-config"],
            &["nan.toml", "--lr"],
        )],
    );
}

#[test]
fn threads_must_be_positive_and_negative_numbers_reach_the_checks() {
    refused_by_parser(
        &[],
        &[
            (&["train-fmp", "--threads", "0"], &["--threads"]),
            (&["train-fmp", "--threads", "-2"], &["--threads"]),
            (&["train-gan", "--threads", "0"], &["--threads"]),
            (&["train-gan", "--threads", "-2"], &["--threads"]),
            (&["train-inception", "--threads", "0"], &["--threads"]),
            (&["train-inception", "--threads", "-2"], &["--threads"]),
            (
                &["eval-fmp", "--run", "x", "--threads", "0"],
                &["--threads"],
            ),
            (
                &["train-fmp", "--lr", "-0.1", "--quiet"],
                &["--lr", "'-0.1'", "positive"],
            ),
            (
                &["train-gan", "--lr", "-0.1"],
                &["--lr", "'-0.1'", "positive"],
            ),
            (
                &["train-inception", "--lr", "-0.1"],
                &["--lr", "'-0.1'", "positive"],
            ),
        ],
    );
}
