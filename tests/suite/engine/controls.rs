//! Training controls (issue 31): --resume=auto, --early-stop with
//! --min-delta (driven by a fake trainer with a scripted metric, so the
//! epoch it stops at is known), and --deterministic / --cudnn-benchmark as
//! libtorch holds them; bad values exit 2 naming the flag, writing nothing.

use crate::common;

use clap::Parser;
use common::{FakeConfig as Config, *};
use paperlab::data::batches::Batch;
use paperlab::data::examples::Examples;
use paperlab::error::Result;
use paperlab::native::{determinism, Determinism};
use paperlab::optim::schedule::At;
use paperlab::runner::compute::device;
use paperlab::runner::engine::epochs::{header, train, EpochEnd, Steps};
use paperlab::runner::engine::session::{resolve, Session};
use paperlab::runner::engine::sums::{Means, RunningSums};
use paperlab::runner::record::summary::{Figures, Goal, Selection};
use paperlab::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use std::path::Path;
use tch::{Kind, Tensor};

/// A trainer whose selection metric (lower is better) after epoch e is
/// `scores[e - 1]`; two steps an epoch; it counts the steps it took.
struct Scripted {
    examples: Counting,
    scores: Vec<f64>,
    steps: i64,
}

impl Steps for Scripted {
    fn examples(&self) -> &dyn Examples {
        &self.examples
    }
    fn batch_size(&self) -> i64 {
        5
    }
    fn epochs(&self) -> i64 {
        self.scores.len() as i64
    }
    fn selection(&self) -> Option<Selection> {
        Some(Selection::new("score", Goal::Lower))
    }
    fn schedule(&mut self, _at: At) -> Result<()> {
        Ok(())
    }
    fn step(&mut self, _at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()> {
        self.steps += 1;
        sums.add("index", &batches[0].images.sum(Kind::Double), 5.0);
        Ok(())
    }
    fn progress(&self, _means: &Means) -> String {
        String::new()
    }
    fn end_epoch(&mut self, _s: &mut Session, epoch: i64, _means: &Means) -> Result<EpochEnd> {
        let score = self.scores[epoch as usize - 1];
        Ok(EpochEnd {
            columns: vec![score],
            line: format!("score {score}"),
            selection: score,
        })
    }
    fn replicated(&self) -> Vec<Tensor> {
        vec![]
    }
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new()
    }
    fn restore(&mut self, _checkpoint: &CheckpointFile) -> Result<()> {
        Ok(())
    }
}

/// Train the scripted run `name` in `out` with `extra` flags: (whether it
/// finished, steps this process took, its session).
fn scripted(out: &Path, scores: &[f64], name: &str, extra: &[&str]) -> (bool, i64, Session) {
    let mut argv = vec!["fake", "--quiet", "--device", "cpu", "--name", name];
    argv.extend(["--out", out.to_str().unwrap()]);
    argv.extend(extra);
    let cfg = resolve(Config::parse_from(argv)).unwrap();
    common::ctrl_c_exits();
    let mut s = Session::open(&cfg, &header(&["score"])).unwrap();
    let mut t = Scripted {
        examples: Counting::new(10),
        scores: scores.to_vec(),
        steps: 0,
    };
    let outcome = train(&mut s, &mut t).unwrap();
    if outcome.finished {
        s.write_summary(None, Figures::new()).unwrap();
    }
    (outcome.finished, t.steps, s)
}

/// Improvements of 0.1 an epoch: none by more than 0.25 after epoch 1.
const SLOW: [f64; 6] = [3.0, 2.9, 2.8, 2.7, 2.6, 2.5];

#[test]
fn early_stop_ends_training_after_patience_epochs_without_improvement_by_min_delta() {
    let tmp = tempdir();
    // Epochs 2 and 3 improve by 0.1 and 0.2 on epoch 1's 3.0: not by more than 0.25.
    let (finished, steps, s) = scripted(
        tmp.path(),
        &SLOW,
        "delta",
        &["--early-stop", "2", "--min-delta", "0.25"],
    );
    assert!(finished, "an early stop finishes the run");
    assert_eq!((s.position.epoch, steps), (3, 6));
    // best.safetensors still follows every improvement.
    assert_eq!((s.position.best, s.position.best_epoch), (2.8, 3));
    let dir = tmp.path().join("fake/delta");
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["epochs"], 3);
    assert_eq!(
        summary["stopped"],
        serde_json::json!({"reason": "early-stop", "epoch": 3, "patience": 2, "min_delta": 0.25})
    );
    assert_eq!(csv_rows(&dir.join("metrics.csv")).len(), 3);
    let last = CheckpointFile::open(&dir.join("checkpoints/last.safetensors")).unwrap();
    assert_eq!(last.position().unwrap().epoch, 3);

    // Without --min-delta every epoch improves: all six run, no stop recorded.
    let (_, steps, s) = scripted(tmp.path(), &SLOW, "zero", &["--early-stop", "2"]);
    assert_eq!((s.position.epoch, steps), (6, 12));
    let summary = json(&tmp.path().join("fake/zero/summary.json"));
    assert!(summary.get("stopped").is_none(), "{summary}");

    // Exactly PATIENCE epochs after the best: best at 2, stop after 5.
    let scores = [2.0, 1.0, 1.5, 1.2, 1.1, 0.5, 0.4];
    let (_, _, s) = scripted(tmp.path(), &scores, "patience", &["--early-stop", "3"]);
    assert_eq!((s.position.epoch, s.position.best_epoch), (5, 2));
}

#[test]
fn a_run_stopped_and_resumed_stops_early_where_the_uninterrupted_one_does() {
    let tmp = tempdir();
    let flags = ["--early-stop", "2", "--min-delta", "0.25"];
    let (_, whole_steps, whole) = scripted(tmp.path(), &SLOW, "whole", &flags);
    let whole_rows = metrics_without_timing(&tmp.path().join("fake/whole/metrics.csv"));
    // Stopped mid-epoch 2, mid-epoch 3, and at epoch 3's end (where the
    // early stop is due, before a step of epoch 4), then resumed.
    for stop in ["3", "5", "6"] {
        let name = format!("parts-{stop}");
        let mut first = flags.to_vec();
        first.extend(["--max-steps", stop]);
        let (finished, before, _) = scripted(tmp.path(), &SLOW, &name, &first);
        assert_eq!(finished, stop == "6", "--max-steps {stop}");
        let mut again = flags.to_vec();
        again.push("--resume");
        let (finished, after, s) = scripted(tmp.path(), &SLOW, &name, &again);
        assert!(finished);
        assert_eq!(before + after, whole_steps, "--max-steps {stop}");
        assert_eq!(s.position, whole.position, "--max-steps {stop}");
        assert_eq!(s.early_stopped, whole.early_stopped, "--max-steps {stop}");
        let rows = metrics_without_timing(&tmp.path().join("fake").join(&name).join("metrics.csv"));
        assert_eq!(rows, whole_rows, "--max-steps {stop}");
    }
    // A run that stopped early stays stopped when resumed.
    let resumed = [flags.as_slice(), &["--resume"]].concat();
    let (finished, steps, s) = scripted(tmp.path(), &SLOW, "whole", &resumed);
    assert!(finished);
    assert_eq!((steps, s.position.epoch), (0, 3));
    assert!(s.early_stopped.is_some());
}

#[test]
fn determinism_flags_set_libtorchs_global_state() {
    // libtorch's flags and the environment are the process's.
    alone!(determinism_flags_set_libtorchs_global_state);
    let read = |deterministic, benchmark| {
        device::determinism(deterministic, benchmark);
        determinism()
    };
    assert_eq!(
        read(true, false),
        Determinism {
            deterministic_cudnn: true,
            benchmark_cudnn: false,
            deterministic_algorithms: true,
        }
    );
    assert_eq!(
        std::env::var("CUBLAS_WORKSPACE_CONFIG").as_deref(),
        Ok(":4096:8")
    );
    assert_eq!(
        read(false, true),
        Determinism {
            deterministic_cudnn: false,
            benchmark_cudnn: true,
            deterministic_algorithms: false,
        }
    );
    let off = read(false, false);
    assert!(!off.deterministic_cudnn && !off.benchmark_cudnn && !off.deterministic_algorithms);
}

#[test]
fn resume_auto_starts_a_missing_run_and_continues_an_existing_one() {
    let ws = workspace();
    let out = paperlab(
        ws.path(),
        &tiny_fmp("job", &["--resume=auto", "--max-steps", "5"]),
    );
    let err = stderr(&ok(out));
    assert!(
        err.contains("no run there yet: starting it (--resume=auto)"),
        "{err}"
    );
    let dir = run_dir(ws.path(), "train-fmp", "job");
    assert!(!dir.join("summary.json").exists());
    let out = paperlab(ws.path(), &tiny_fmp("job", &["--resume", "auto"]));
    let err = stderr(&ok(out));
    assert!(err.contains("continuing it (--resume=auto)"), "{err}");
    assert_eq!(json(&dir.join("summary.json"))["steps"], 24);
    // Bare --resume still refuses a run that does not exist.
    fails(
        paperlab(ws.path(), &tiny_fmp("none", &["--resume"])),
        2,
        &["--resume", "holds no run to continue"],
    );
}

#[test]
fn bad_control_flags_exit_2_naming_the_flag_and_write_nothing() {
    let ws = workspace();
    let gan = ["train-gan", "--model", "mlp", "--early-stop", "3"];
    let owned = |argv: &[&str]| -> Vec<String> { argv.iter().map(|a| a.to_string()).collect() };
    let cases: [(Vec<String>, &str); 6] = [
        (tiny_fmp("bad", &["--early-stop", "0"]), "--early-stop"),
        (
            tiny_fmp("bad", &["--early-stop", "2", "--min-delta", "-0.1"]),
            "--min-delta",
        ),
        (tiny_fmp("bad", &["--min-delta", "0.1"]), "--early-stop"),
        (
            tiny_fmp("bad", &["--deterministic", "--cudnn-benchmark"]),
            "--cudnn-benchmark",
        ),
        (owned(&gan), "--early-stop"),
        (
            owned(&[gan.as_slice(), &["--parzen-every", "4", "--epochs", "10"]].concat()),
            "--parzen-every",
        ),
    ];
    for (argv, flag) in cases {
        fails(paperlab(ws.path(), &argv), 2, &[flag]);
        assert!(
            !ws.path().join("results").exists(),
            "{argv:?} wrote results/"
        );
    }
}
