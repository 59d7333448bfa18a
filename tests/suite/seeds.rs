//! Seeds and grids in sweeps, and `compare` over seeds: the expansion of a
//! sweep (names, count, --only, the Slurm array's size), the grouped
//! statistics and the t quantile against an independent NumPy/SciPy
//! computation (.venv's, installed by scripts/setup.sh --test), and bad
//! input refused with exit 2 naming the key.

use crate::common;
use common::*;
use paperlab::compare::stats::t_quantile;
use std::path::Path;
use std::process::Command;

/// Run `code` with the repository's .venv Python and parse its stdout as JSON.
pub fn python(code: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join(".venv/bin/python"))
        .args(["-c", code])
        .output()
        .expect("cannot run .venv/bin/python: run scripts/setup.sh --test");
    assert!(
        out.status.success(),
        "python failed (scipy is installed by scripts/setup.sh --test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_t_quantile_matches_scipy() {
    let dfs = [1, 2, 3, 4, 5, 7, 9, 10, 19, 29, 30, 31, 60, 100, 1000];
    let ps = [0.9, 0.975, 0.995];
    let scipy = python(&format!(
        "import json; from scipy.stats import t\nprint(json.dumps([[t.ppf(p, df) for p in {ps:?}] for df in {dfs:?}]))"
    ));
    for (i, df) in dfs.iter().enumerate() {
        for (j, p) in ps.iter().enumerate() {
            let expected = scipy[i][j].as_f64().unwrap();
            let ours = t_quantile(*p, *df as f64);
            assert!(
                (ours - expected).abs() <= 1e-10 * expected.abs(),
                "t({p}, {df}): {ours} against scipy's {expected}"
            );
            assert!((t_quantile(1.0 - p, *df as f64) + expected).abs() <= 1e-10 * expected);
        }
    }
}

/// A finished run of `train-toy` written by hand as paperlab would: its
/// config (norm, lr, seed), one metrics.csv row per epoch and a summary.
fn fake_run(ws: &Path, name: &str, norm: &str, seed: u64, test_error: f64, curve: &[f64]) {
    let dir = run_dir(ws, "train-toy", name);
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "command": "train-toy", "paperlab_version": "0", "git_commit": "0",
        "device": "cpu", "seed": seed,
        "config": {"seed": seed, "name": name, "norm": norm, "lr": 0.1},
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let mut metrics = "epoch,train_loss,seconds,images_per_sec\n".to_string();
    for (e, loss) in curve.iter().enumerate() {
        metrics += &format!("{},{loss},1,10\n", e + 1);
    }
    std::fs::write(dir.join("metrics.csv"), metrics).unwrap();
    let summary = serde_json::json!({
        "command": "train-toy", "selection": null, "best": null, "best_epoch": null,
        "epochs": curve.len(), "steps": 10 * curve.len(), "train_images_per_sec": 100.0 + seed as f64,
        "test_error": test_error,
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).unwrap();
}

/// compare.csv's rows as (group, metric) -> [n, mean, sd, ci_low, ci_high]
/// ("-" as NaN).
fn stats_csv(path: &Path) -> std::collections::BTreeMap<(String, String), Vec<f64>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        ["group", "metric", "n", "mean", "sd", "ci_low", "ci_high"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let numbers = (2..7).map(|i| r[i].parse().unwrap_or(f64::NAN)).collect();
            ((r[0].to_string(), r[1].to_string()), numbers)
        })
        .collect()
}

#[test]
fn compare_groups_runs_by_seed_with_intervals_that_match_scipy() {
    let ws = tempdir();
    let batch = [0.12, 0.135, 0.118];
    let weight = [0.101, 0.097];
    for (i, e) in batch.iter().enumerate() {
        let curve = [1.0 + i as f64 * 0.1, 0.5 + i as f64 * 0.05];
        fake_run(
            ws.path(),
            &format!("n-batch-seed={}", i + 1),
            "batch",
            i as u64 + 1,
            *e,
            &curve,
        );
    }
    for (i, e) in weight.iter().enumerate() {
        fake_run(
            ws.path(),
            &format!("n-weight-seed={}", i + 1),
            "weight",
            i as u64 + 1,
            *e,
            &[0.9, 0.4],
        );
    }
    fake_run(ws.path(), "n-none-seed=1", "none", 1, 0.2, &[1.2, 0.8]);

    let expected = python(&format!(
        r#"
import json, numpy as np
from scipy.stats import t
out = {{}}
for name, xs in {{"batch": {batch:?}, "weight": {weight:?}}}.items():
    xs = np.array(xs); n = len(xs); m = xs.mean(); sd = xs.std(ddof=1)
    h = t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    out[name] = [n, m, sd, m - h, m + h]
print(json.dumps(out))
"#
    ));
    // By seed (the default) and by the norm key: the same groups.
    for (flags, prefix) in [(vec![], "n-"), (vec!["--group-by", "norm"], "norm=")] {
        let label = |norm: &str| format!("{prefix}{norm}");
        let out_dir = format!("cmp{}", flags.len());
        let mut args = vec!["compare", "results/train-toy/*", "--out", &out_dir];
        args.extend(flags);
        ok(paperlab(ws.path(), &args));
        let cmp = ws.path().join(&out_dir);
        let rows = stats_csv(&cmp.join("compare.csv"));
        for norm in ["batch", "weight"] {
            let got = &rows[&(label(norm), "test_error".to_string())];
            let want: Vec<f64> = (0..5)
                .map(|i| expected[norm][i].as_f64().unwrap())
                .collect();
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-5 * w.abs(),
                    "{norm}: {got:?} against {want:?}"
                );
            }
        }
        let none = &rows[&(label("none"), "test_error".to_string())];
        assert_eq!(none[..2], [1.0, 0.2]);
        assert!(
            none[2..].iter().all(|v| v.is_nan()),
            "n = 1: no sd, no interval"
        );
        let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
        assert!(
            md.contains("| group | metric | n | mean | sd | ci_low | ci_high |"),
            "{md}"
        );
        assert!(
            md.contains(&format!(
                "{}: one run, so no standard deviation or interval",
                label("none")
            )),
            "{md}"
        );
        // compare.md carries compare.csv's numbers.
        let csv_text = std::fs::read_to_string(cmp.join("compare.csv")).unwrap();
        for line in csv_text.lines().skip(1) {
            assert!(
                md.contains(&format!("| {} |", line.replace(',', " | "))),
                "{line} not in\n{md}"
            );
        }
        // One mean line per group, bands for the groups of 2 and 3.
        let svg = std::fs::read_to_string(cmp.join("train_loss.svg")).unwrap();
        assert!(svg.contains(&format!("{} (n=3)", label("batch"))), "{svg}");
        assert_eq!(svg.matches("<polygon").count(), 2, "two bands");
    }

    // Runs that stand alone compare one per row, as before.
    ok(paperlab(
        ws.path(),
        &[
            "compare",
            "results/train-toy/n-batch-seed=1",
            "results/train-toy/n-none-seed=1",
            "--out",
            "alone",
        ],
    ));
    let md = std::fs::read_to_string(ws.path().join("alone/compare.md")).unwrap();
    assert!(md.starts_with("| run |"), "{md}");

    fails(
        paperlab(
            ws.path(),
            &[
                "compare",
                "results/train-toy/*",
                "--group-by",
                "norm,nosuch",
                "--out",
                "bad",
            ],
        ),
        2,
        &["--group-by nosuch", "no run has it", "norm"],
    );
    assert!(!ws.path().join("bad").exists(), "nothing written");
}

const TINY: &str = r#"
command = "train-fmp"
seeds = [1, 2]
[flags]
filters = 4
print-config = true
[grid]
lr = [0.01, 0.02]
[[runs]]
name = "a"
[[runs]]
name = "b"
pool = "max2"
"#;

/// The name and configuration of run `i` of a sweep whose [flags] has
/// print-config = true: `--only i` runs it, and it prints its
/// configuration and trains nothing.
fn planned(ws: &Path, file: &str, extra: &[&str], i: usize) -> (String, serde_json::Value) {
    let mut args = vec!["sweep", file];
    args.extend(extra);
    let i = i.to_string();
    args.extend(["--only", &i]);
    let out = ok(paperlab(ws, &args));
    let err = stderr(&out);
    let name = err
        .split("sweep: ")
        .nth(1)
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no run line in {err}"))
        .to_string();
    (name, serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn a_sweep_crosses_its_runs_with_the_grid_and_the_seeds() {
    let ws = workspace();
    std::fs::write(ws.path().join("tiny.toml"), TINY).unwrap();
    // Run by run, cell by cell, seed by seed.
    let names = [
        "tiny-a-lr=0.01-seed=1",
        "tiny-a-lr=0.01-seed=2",
        "tiny-a-lr=0.02-seed=1",
        "tiny-a-lr=0.02-seed=2",
        "tiny-b-lr=0.01-seed=1",
        "tiny-b-lr=0.01-seed=2",
        "tiny-b-lr=0.02-seed=1",
        "tiny-b-lr=0.02-seed=2",
    ];
    for i in [0, 3, 5, 6] {
        let (name, config) = planned(ws.path(), "tiny.toml", &[], i);
        assert_eq!(name, names[i]);
        assert_eq!(config["seed"], if i % 2 == 0 { 1 } else { 2 });
        assert_eq!(config["lr"], if i % 4 < 2 { 0.01 } else { 0.02 });
        assert_eq!(config["pool"], if i < 4 { "fmp" } else { "max2" });
        assert_eq!(config["filters"], 4);
        assert_eq!(config["name"], names[i]);
    }
    fails(
        paperlab(ws.path(), &["sweep", "tiny.toml", "--only", "8"]),
        2,
        &["--only 8", "the sweep has 8 runs"],
    );
    ok(paperlab(
        ws.path(),
        &["sweep", "tiny.toml", "--slurm", "tiny.sbatch"],
    ));
    let script = std::fs::read_to_string(ws.path().join("tiny.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-7"), "{script}");

    // The command line replaces the file's seeds and grid axis, and adds axes.
    let flags = [
        "--seeds",
        "3,4,5",
        "--grid",
        "lr=0.5",
        "--grid",
        "fmp-sequence=random,pseudorandom",
    ];
    let (name, config) = planned(ws.path(), "tiny.toml", &flags, 11);
    assert_eq!(name, "tiny-b-lr=0.5-fmp-sequence=pseudorandom-seed=5");
    assert_eq!(config["seed"], 5);
    assert_eq!(config["lr"], 0.5);
    let mut args = vec![
        "sweep",
        "tiny.toml",
        "--slurm",
        "wide.sbatch",
        "--tasks-per-run",
        "2",
    ];
    args.extend(flags);
    ok(paperlab(ws.path(), &args));
    let script = std::fs::read_to_string(ws.path().join("wide.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-11",
        "#SBATCH --ntasks=2",
        "'--seeds' '3,4,5' '--grid' 'lr=0.5' '--grid' 'fmp-sequence=random,pseudorandom' '--tasks-per-run' '2' '--only' \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(script.contains(line), "script lacks {line:?}:\n{script}");
    }

    // Without [[runs]], the grid and seeds alone make the list.
    std::fs::write(
        ws.path().join("grid.toml"),
        "command = \"train-fmp\"\nseeds = [7]\n[flags]\nprint-config = true\n[grid]\npool = [\"fmp\", \"max2\"]\nconfig = [\"p/x.toml\"]\n",
    )
    .unwrap();
    std::fs::create_dir_all(ws.path().join("p")).unwrap();
    std::fs::write(ws.path().join("p/x.toml"), "filters = 3\n").unwrap();
    let (name, config) = planned(ws.path(), "grid.toml", &[], 1);
    assert_eq!(name, "grid-config=p_x.toml-pool=max2-seed=7");
    assert_eq!(
        (config["pool"].as_str(), config["filters"].as_i64()),
        (Some("max2"), Some(3))
    );
}

#[test]
fn bad_seeds_and_grids_exit_2_naming_the_key_and_write_nothing() {
    let ws = workspace();
    let cases: [(&str, &[&str], &[&str]); 7] = [
        (
            "command = \"train-fmp\"\nseeds = []\n",
            &[],
            &["bad.toml", "seeds", "empty"],
        ),
        (
            "command = \"train-fmp\"\n[grid]\nlr = []\n",
            &[],
            &["bad.toml [grid]", "lr", "empty"],
        ),
        (
            "command = \"train-fmp\"\n[grid]\nlayerz = [1, 2]\n",
            &[],
            &["bad.toml [grid]", "\"layerz\""],
        ),
        (
            "command = \"train-fmp\"\n[[runs]]\nname = \"a\"\n",
            &["--grid", "layerz=1,2"],
            &["--grid", "\"layerz\""],
        ),
        (
            "command = \"train-fmp\"\n[[runs]]\nname = \"a\"\n",
            &["--grid", "lr="],
            &["--grid", "lr", "empty"],
        ),
        (
            "command = \"train-fmp\"\nseeds = [1]\n[flags]\nseed = 3\n",
            &[],
            &["bad.toml", "seed"],
        ),
        (
            "command = \"train-fmp\"\n[grid]\nlr = [0.1]\n",
            &["--set", "lr=0.2"],
            &["--set lr=0.2", "grid axis"],
        ),
    ];
    for (text, flags, words) in cases {
        std::fs::write(ws.path().join("bad.toml"), text).unwrap();
        let mut args = vec!["sweep", "bad.toml"];
        args.extend(flags);
        fails(paperlab(ws.path(), &args), 2, words);
        args.extend(["--slurm", "bad.sbatch"]);
        fails(paperlab(ws.path(), &args), 2, words);
        assert!(
            !ws.path().join("results").exists(),
            "{text}: nothing written"
        );
        assert!(!ws.path().join("bad.sbatch").exists());
    }
}
