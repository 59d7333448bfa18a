//! `paperlab compare` and `paperlab sweep` through the binary: the table, the
//! plots, runs of other subcommands, error paths, resumable sweeps and the
//! Slurm script.

use crate::common;
use common::*;
use std::path::Path;

/// A tiny FMP run (600 images, 2 epochs) named `name`, with `extra` flags.
fn fmp_run(ws: &Path, name: &str, extra: &[&str]) {
    ok(paperlab(ws, tiny_fmp(name, extra)));
}

/// The colours of the width-2 lines of an SVG plot: one per series (a line
/// and its legend sample share one).
fn series_colours(svg: &str) -> std::collections::BTreeSet<String> {
    svg.split("<polyline")
        .skip(1)
        .filter(|p| p.contains("stroke-width=\"2\""))
        .filter_map(|p| {
            p.split("stroke=\"")
                .nth(1)?
                .split('"')
                .next()
                .map(String::from)
        })
        .collect()
}

#[test]
fn compare_puts_two_runs_side_by_side_with_a_plot_per_metric() {
    let ws = workspace();
    fmp_run(ws.path(), "slow", &["--lr", "0.01"]);
    fmp_run(ws.path(), "fast", &["--lr", "0.03"]);
    let out = ok(paperlab(
        ws.path(),
        &["compare", "results/train-fmp/*", "--out", "cmp"],
    ));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let cmp = ws.path().join("cmp");
    let md = std::fs::read_to_string(cmp.join("compare.md")).unwrap();
    // The one differing key, and both runs' figures.
    let header = md.lines().next().unwrap();
    assert!(header.contains("| lr |"), "{md}");
    assert!(
        !header.contains("| filters |"),
        "an equal key is not listed: {md}"
    );
    for name in ["slow", "fast"] {
        let summary = json(&run_dir(ws.path(), "train-fmp", name).join("summary.json"));
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap();
        let error = summary["test_error"].as_f64().unwrap();
        assert!(
            line.contains(&format!("{error:.4}")),
            "{line} lacks {error}"
        );
        assert!(printed.contains(name));
    }
    let mut csv = csv::Reader::from_path(cmp.join("compare.csv")).unwrap();
    assert_eq!(csv.records().count(), 2);
    for metric in ["lr", "train_loss", "train_error", "test_error"] {
        let png = cmp.join(format!("{metric}.png"));
        let image = tch::vision::image::load(&png).unwrap();
        assert_eq!(image.size()[0], 3, "{metric}.png decodes as an RGB image");
        let svg = std::fs::read_to_string(cmp.join(format!("{metric}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{metric}.svg");
        assert_eq!(
            series_colours(&svg).len(),
            2,
            "{metric}: one series per run"
        );
        for name in ["slow", "fast"] {
            assert!(
                svg.contains(&format!("\n{name}\n")),
                "{metric}.svg names {name}"
            );
        }
    }
    assert!(!cmp.join("seconds.png").exists());
    // An existing comparison is not replaced without --force.
    fails(
        paperlab(
            ws.path(),
            &["compare", "results/train-fmp/*", "--out", "cmp"],
        ),
        2,
        &["already holds a comparison", "--force"],
    );
    ok(paperlab(
        ws.path(),
        &[
            "compare",
            "results/train-fmp/fast",
            "--out",
            "cmp",
            "--force",
            "--metric",
            "test_error",
            "--x",
            "seconds",
        ],
    ));
}

/// A run directory of another subcommand, written by hand as paperlab would.
fn other_run(ws: &Path) -> std::path::PathBuf {
    let dir = run_dir(ws, "train-other", "x");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"command": "train-other", "paperlab_version": "0", "git_commit": "0", "device": "cpu", "seed": 0, "config": {"width": 3}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("metrics.csv"),
        "epoch,g_loss,seconds,images_per_sec\n1,0.5,1,10\n2,0.25,1,10\n",
    )
    .unwrap();
    dir
}

#[test]
fn compare_notes_other_subcommands_and_missing_metrics_and_refuses_non_runs() {
    let ws = workspace();
    fmp_run(ws.path(), "a", &[]);
    other_run(ws.path());
    let out = ok(paperlab(
        ws.path(),
        &[
            "compare",
            "results/train-fmp/a",
            "results/train-other/x",
            "--out",
            "mixed",
        ],
    ));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    for note in [
        "runs of different subcommands",
        "x: no summary.json",
        "x: no metric test_error",
        "a: no metric g_loss",
    ] {
        assert!(printed.contains(note), "missing note {note:?}:\n{printed}");
    }
    let md = std::fs::read_to_string(ws.path().join("mixed/compare.md")).unwrap();
    assert!(md.contains("| command |"));
    let g = std::fs::read_to_string(ws.path().join("mixed/g_loss.svg")).unwrap();
    assert_eq!(series_colours(&g).len(), 1);

    // A metric no run has is a usage error naming the ones they have.
    fails(
        paperlab(
            ws.path(),
            &[
                "compare",
                "results/train-fmp/a",
                "results/train-other/x",
                "--metric",
                "test_error,no_such_metric",
                "--out",
                "unknown",
            ],
        ),
        2,
        &[
            "--metric no_such_metric",
            "no run has it",
            "test_error",
            "g_loss",
        ],
    );
    assert!(!ws.path().join("unknown").exists(), "nothing written");
    fails(
        paperlab(ws.path(), &["compare", "results/train-gan/*"]),
        2,
        &["results/train-gan/*", "matches no run directory"],
    );
    fails(
        paperlab(ws.path(), &["compare", "data"]),
        2,
        &["data", "not a paperlab run directory"],
    );
}

#[test]
fn a_sweep_runs_its_list_skips_finished_runs_and_writes_a_slurm_array() {
    let ws = workspace();
    std::fs::write(
        ws.path().join("tiny.toml"),
        r#"
command = "train-fmp"
[flags]
config = "tiny-preset.toml"
test-limit = 100
batch-size = 50
epochs = 2
threads = 1
[[runs]]
name = "a"
lr = 0.01
[[runs]]
name = "b"
lr = 0.02
"#,
    )
    .unwrap();
    // A preset under the runs' flags, as experiments/sweeps/*.toml use one.
    std::fs::write(
        ws.path().join("tiny-preset.toml"),
        "train-limit = 300\nfilters = 4\ntest-limit = 7\n",
    )
    .unwrap();
    fails(
        paperlab(ws.path(), &["sweep", "tiny.toml", "--jobs", "0"]),
        2,
        &["--jobs", "0 is not in 1.."],
    );
    assert!(!ws.path().join("results").exists(), "--jobs 0 ran nothing");
    // --only runs one of the list, as a Slurm array task does.
    ok(paperlab(
        ws.path(),
        &["sweep", "tiny.toml", "--only", "1", "--set", "epochs=1"],
    ));
    assert!(run_dir(ws.path(), "train-fmp", "tiny-b")
        .join("summary.json")
        .exists());
    assert!(!run_dir(ws.path(), "train-fmp", "tiny-a").exists());
    let out = ok(paperlab(
        ws.path(),
        &["sweep", "tiny.toml", "--jobs", "2", "--set", "epochs=1"],
    ));
    let err = stderr(&out);
    assert!(err.contains("tiny-b is done"), "{err}");
    let a = json(&run_dir(ws.path(), "train-fmp", "tiny-a").join("config.json"));
    assert_eq!(a["config"]["lr"], 0.01);
    assert_eq!(a["config"]["epochs"], 1, "--set applies to every run");
    assert_eq!(a["config"]["filters"], 4, "the preset applies");
    assert_eq!(
        a["config"]["test_limit"], 100,
        "the sweep's flags win over the preset"
    );
    let md = std::fs::read_to_string(ws.path().join("results/sweeps/tiny/compare.md")).unwrap();
    assert!(
        md.contains("| tiny-a |") && md.contains("| tiny-b |"),
        "{md}"
    );
    assert!(ws.path().join("results/sweeps/tiny/tiny-a.log").exists());

    ok(paperlab(
        ws.path(),
        &[
            "sweep",
            "tiny.toml",
            "--slurm",
            "tiny.sbatch",
            "--sbatch=--gres=gpu:1",
            "--set",
            "epochs=3",
        ],
    ));
    let script = std::fs::read_to_string(ws.path().join("tiny.sbatch")).unwrap();
    for line in [
        "#!/bin/bash",
        "#SBATCH --array=0-1",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --output=results/sweeps/tiny/slurm-%A_%a.log",
        "#SBATCH --signal=B:USR1@90",
        "#SBATCH --requeue",
        "'sweep' 'tiny.toml' '--out' 'results' '--set' 'epochs=3' '--only' \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(script.contains(line), "script lacks {line:?}:\n{script}");
    }

    std::fs::write(
        ws.path().join("bad.toml"),
        "command = \"train-fmp\"\n[[runs]]\nname = \"x\"\nlayerz = 3\n",
    )
    .unwrap();
    fails(
        paperlab(ws.path(), &["sweep", "bad.toml"]),
        2,
        &["bad.toml", "run bad-x", "\"layerz\""],
    );
}

#[test]
fn a_sweep_runs_its_own_binary_even_when_a_rebuild_removes_the_file() {
    let ws = workspace();
    std::fs::write(
        ws.path().join("two.toml"),
        "command = \"train-fmp\"\n[flags]\ntrain-limit = 100\ntest-limit = 50\nfilters = 2\nepochs = 1\nthreads = 1\n[[runs]]\nname = \"a\"\n[[runs]]\nname = \"b\"\n",
    )
    .unwrap();
    let copy = ws.path().join("paperlab-copy");
    std::fs::copy(PAPERLAB, &copy).unwrap();
    let child = Bin::at(&copy, ws.path())
        .args(["sweep", "two.toml"])
        .stdout(std::process::Stdio::piped())
        .spawn();
    // What `cargo build` does to the binary of a running sweep.
    std::fs::remove_file(&copy).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["two-a", "two-b"] {
        assert!(run_dir(ws.path(), "train-fmp", name)
            .join("summary.json")
            .exists());
    }
}
