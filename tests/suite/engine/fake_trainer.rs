//! The training engine driven by a tiny fake trainer, independent of any
//! paper: which batches each step sees, schedules, the init hook, stopping
//! mid-epoch and resuming, k batches per step, and best-checkpoint selection
//! in both directions; the batches the same whether loaded at the step or
//! ahead by the loader thread (--prefetch), which no stop leaves behind.

use crate::common;

use clap::Parser;
use common::{alone, csv_rows, Counting, FakeConfig as Config};
use paperlab::data::batches::{epoch_order, Batch};
use paperlab::data::examples::Examples;
use paperlab::error::Result;
use paperlab::optim::schedule::{At, ExpDecay, Schedule};
use paperlab::runner::engine::epochs::{header, train, EpochEnd, Steps};
use paperlab::runner::engine::session::Session;
use paperlab::runner::engine::sums::{Means, RunningSums};
use paperlab::runner::record::progress::REPORT_EVERY;
use paperlab::runner::record::summary::{Goal, Selection};
use paperlab::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tch::{Kind, Tensor};

fn config(out: &Path, extra: &[&str]) -> Config {
    let mut argv = vec!["fake", "--quiet", "--device", "cpu", "--seed", "3"];
    argv.extend(["--out", out.to_str().unwrap()]);
    argv.extend(extra);
    Config::parse_from(argv)
}

/// A "model" w: each step adds lr * (sum of the step's indices) to it, so
/// its value tells exactly which batches were seen at which lr.
struct Fake {
    examples: Counting,
    batch_size: i64,
    k: i64,
    /// Examples per epoch, when not one pass.
    per_epoch: Option<i64>,
    epochs: i64,
    goal: Goal,
    w: Tensor,
    lr: f64,
    schedule: ExpDecay,
    /// (step, first batch's indices) of every init call, and every step's indices.
    inits: Vec<Vec<i64>>,
    seen: Vec<Vec<i64>>,
}

fn fake(k: i64, goal: Goal) -> Fake {
    Fake {
        examples: Counting::new(10),
        batch_size: 3,
        k,
        per_epoch: None,
        epochs: 3,
        goal,
        w: Tensor::from(0.0f64),
        lr: f64::NAN,
        schedule: ExpDecay {
            base: 1.0,
            rate: 0.5,
        },
        inits: vec![],
        seen: vec![],
    }
}

impl Steps for Fake {
    fn examples(&self) -> &dyn Examples {
        &self.examples
    }
    fn epoch_examples(&self) -> i64 {
        self.per_epoch.unwrap_or(self.examples.n)
    }
    fn batch_size(&self) -> i64 {
        self.batch_size
    }
    fn batches_per_step(&self) -> i64 {
        self.k
    }
    fn epochs(&self) -> i64 {
        self.epochs
    }
    fn selection(&self) -> Option<Selection> {
        Some(Selection::new("w", self.goal))
    }
    fn init(&mut self, first: &Batch) -> Result<()> {
        self.inits
            .push(Vec::<i64>::try_from(&first.labels).unwrap());
        Ok(())
    }
    fn schedule(&mut self, at: At) -> Result<()> {
        self.lr = self.schedule.value(at);
        Ok(())
    }
    fn step(&mut self, _at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()> {
        let mut indices = vec![];
        for b in batches {
            indices.extend(Vec::<i64>::try_from(&b.labels).unwrap());
            let s = b.images.sum(Kind::Double);
            self.w += &s * self.lr;
            sums.add("index", &s, b.labels.size()[0] as f64);
            sums.watch(&s);
        }
        self.seen.push(indices);
        Ok(())
    }
    fn progress(&self, means: &Means) -> String {
        format!("mean index {:.2}", means.get("index"))
    }
    fn end_epoch(&mut self, _s: &mut Session, epoch: i64, means: &Means) -> Result<EpochEnd> {
        let w = self.w.double_value(&[]);
        // Lower is best in epoch 2, higher in epoch 3.
        let score = [2.0, 1.0, 3.0][epoch as usize - 1];
        Ok(EpochEnd {
            columns: vec![self.lr, means.get("index"), score],
            line: format!("w {w}"),
            selection: score,
        })
    }
    fn replicated(&self) -> Vec<Tensor> {
        vec![self.w.shallow_clone()]
    }
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new().tensors("fake.", vec![("w".into(), self.w.copy())])
    }
    fn restore(&mut self, checkpoint: &CheckpointFile) -> Result<()> {
        self.w = checkpoint.section("fake.")[0].1.copy();
        Ok(())
    }
}

fn open(cfg: &Config) -> Session {
    common::ctrl_c_exits();
    Session::open(cfg, &header(&["lr", "mean_index", "w"])).unwrap()
}

fn rows(dir: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
    r.records()
        .map(|r| {
            let r = r.unwrap();
            // Without seconds and images_per_sec.
            r.iter().take(4).map(String::from).collect()
        })
        .collect()
}

#[test]
fn each_step_sees_the_shuffled_batches_at_the_scheduled_lr() {
    let tmp = common::tempdir();
    let cfg = config(tmp.path(), &["--name", "whole"]);
    let mut s = open(&cfg);
    let mut f = fake(1, Goal::Lower);
    let out = train(&mut s, &mut f).unwrap();
    assert!(out.finished);
    // 10 examples in batches of 3: 4 steps per epoch, the last one short.
    assert_eq!(f.seen.len(), 12);
    let mut w = 0.0;
    for epoch in 1..=3i64 {
        let order = epoch_order(10, 3, epoch as u64);
        let lr = (-0.5 * epoch as f64).exp();
        for b in 0..4 {
            let want = &order[b * 3..((b + 1) * 3).min(10)];
            assert_eq!(f.seen[(epoch as usize - 1) * 4 + b], want);
            w += lr * want.iter().sum::<i64>() as f64;
        }
    }
    assert!((f.w.double_value(&[]) - w).abs() < 1e-9);
    // The init hook ran once, before the first step, with the first batch.
    assert_eq!(f.inits, vec![f.seen[0].clone()]);
    let rows = rows(&tmp.path().join("fake/whole"));
    assert_eq!(rows.len(), 3);
    for (e, row) in rows.iter().enumerate() {
        assert_eq!(row[0], (e + 1).to_string());
        let lr: f64 = row[1].parse().unwrap();
        assert!((lr - (-0.5 * (e + 1) as f64).exp()).abs() < 1e-12);
        // Every example once per epoch: the mean index is 4.5.
        assert_eq!(row[2], "4.5");
    }
    assert_eq!(s.position.step, 12);
}

#[test]
fn stopping_mid_epoch_and_resuming_with_any_prefetch_repeats_the_uninterrupted_run() {
    for k in [1, 2] {
        let tmp = common::tempdir();
        let whole_cfg = config(tmp.path(), &["--name", "whole", "--prefetch", "0"]);
        let mut whole = fake(k, Goal::Lower);
        train(&mut open(&whole_cfg), &mut whole).unwrap();

        let mut seen = vec![];
        let mut inits = vec![];
        let mut w = f64::NAN;
        // Stop after 1, 3 and 5 steps (mid-epoch), then finish; each
        // process loading another number of steps ahead.
        let prefetch = ["3", "0", "1", "2"];
        for (i, stop) in ["1", "3", "5", ""].iter().enumerate() {
            let mut extra = vec!["--name", "parts", "--prefetch", prefetch[i]];
            if i > 0 {
                extra.push("--resume");
            }
            if !stop.is_empty() {
                extra.extend(["--max-steps", stop]);
            }
            let cfg = config(tmp.path(), &extra);
            let mut s = open(&cfg);
            let mut f = fake(k, Goal::Lower);
            let out = train(&mut s, &mut f).unwrap();
            assert_eq!(out.finished, stop.is_empty());
            if !stop.is_empty() {
                assert_eq!(s.position.step, stop.parse::<i64>().unwrap());
            }
            seen.extend(f.seen);
            inits.extend(f.inits);
            w = f.w.double_value(&[]);
        }
        assert_eq!(seen, whole.seen, "k = {k}");
        assert_eq!(inits.len(), 1, "init runs once per run, not per process");
        assert_eq!(w, whole.w.double_value(&[]));
        let (a, b) = (
            rows(&tmp.path().join("fake/whole")),
            rows(&tmp.path().join("fake/parts")),
        );
        assert_eq!(a, b, "k = {k}");
        // k batches per step: ceil(4 / k) steps per epoch.
        assert_eq!(whole.seen.len() as i64, 3 * ((4 + k - 1) / k));
    }
}

#[test]
fn every_prefetch_gives_the_inline_runs_batches_rows_and_weights() {
    for k in [1, 2] {
        let tmp = common::tempdir();
        let run = |prefetch: &str| {
            let cfg = config(tmp.path(), &["--name", prefetch, "--prefetch", prefetch]);
            let mut f = fake(k, Goal::Lower);
            train(&mut open(&cfg), &mut f).unwrap();
            let rows = rows(&tmp.path().join("fake").join(prefetch));
            (f.seen, f.inits, f.w.double_value(&[]), rows)
        };
        let inline = run("0");
        // 16: more steps ahead than an epoch has.
        for prefetch in ["1", "3", "16"] {
            assert_eq!(run(prefetch), inline, "k = {k}, --prefetch {prefetch}");
        }
    }
}

#[test]
fn a_stopped_or_failed_run_leaves_no_loader_thread_behind() {
    let tmp = common::tempdir();
    // Loads slow enough that a loader not waited for would still be loading.
    let slow = |unreadable: Option<i64>| {
        let mut f = fake(1, Goal::Lower);
        f.examples.slow = Duration::from_millis(30);
        f.examples.unreadable = unreadable;
        f
    };
    let mut f = slow(None);
    let extra = ["--name", "stopped", "--prefetch", "4", "--max-steps", "2"];
    let out = train(&mut open(&config(tmp.path(), &extra)), &mut f).unwrap();
    assert!(!out.finished);
    assert_eq!(f.seen.len(), 2);
    assert_eq!(
        Arc::strong_count(&f.examples.live),
        1,
        "a loader outlived its run"
    );

    // An example of step 2's batch cannot be loaded: steps 0 and 1 run,
    // then the run fails with the loader's error, wherever it was loaded.
    let bad = epoch_order(10, 3, 1)[6];
    for prefetch in ["0", "4"] {
        let mut f = slow(Some(bad));
        let name = format!("failed-{prefetch}");
        let cfg = config(tmp.path(), &["--name", &name, "--prefetch", prefetch]);
        let Err(err) = train(&mut open(&cfg), &mut f) else {
            panic!("--prefetch {prefetch}: the run did not fail");
        };
        assert!(
            err.to_string()
                .contains(&format!("example {bad} is unreadable")),
            "{err}"
        );
        assert_eq!(f.seen.len(), 2, "--prefetch {prefetch}");
        assert_eq!(
            Arc::strong_count(&f.examples.live),
            1,
            "--prefetch {prefetch}"
        );
    }
}

/// Alone in its own process: it sets and reads libtorch's thread count.
#[test]
fn the_loader_threads_libtorch_ops_run_on_it_alone_and_no_other_threads_change() {
    alone!(the_loader_threads_libtorch_ops_run_on_it_alone_and_no_other_threads_change);
    tch::set_num_threads(2);
    let loader = std::thread::spawn(|| {
        paperlab::native::serial_thread();
        tch::get_num_threads()
    });
    assert_eq!(loader.join().unwrap(), 1);
    assert_eq!(tch::get_num_threads(), 2, "this thread");
    let later = std::thread::spawn(tch::get_num_threads);
    assert_eq!(later.join().unwrap(), 2, "a thread started later");
}

#[test]
fn steps_csv_takes_images_per_sec_at_the_reads_of_the_sums() {
    let tmp = common::tempdir();
    let mut f = fake(1, Goal::Lower);
    (f.examples.n, f.batch_size, f.epochs) = (100, 1, 1);
    let cfg = config(tmp.path(), &["--name", "rate", "--log-every", "5"]);
    train(&mut open(&cfg), &mut f).unwrap();
    let steps = csv_rows(&tmp.path().join("fake/rate/steps.csv"));
    assert_eq!(steps.len(), 20);
    // The sums are read every REPORT_EVERY steps: the log points that read
    // writes share the images/s over the steps since the previous read.
    for read in steps.chunks(REPORT_EVERY as usize / 5) {
        let rate = read[0]["images_per_sec"];
        assert!(
            rate > 0.0 && read.iter().all(|r| r["images_per_sec"] == rate),
            "{read:?}"
        );
    }
}

#[test]
fn best_checkpoint_follows_the_selection_direction() {
    for goal in [Goal::Lower, Goal::Higher] {
        let tmp = common::tempdir();
        let cfg = config(tmp.path(), &["--name", "best"]);
        let mut s = open(&cfg);
        let mut f = fake(1, goal);
        train(&mut s, &mut f).unwrap();
        let want = match goal {
            Goal::Lower => 1,
            Goal::Higher => 2,
        };
        let scores = [2.0, 1.0, 3.0];
        assert_eq!(
            s.position.best_epoch,
            want as i64 + 1,
            "{goal:?} {scores:?}"
        );
        assert_eq!(s.position.best, scores[want]);
        let best = CheckpointFile::open(&tmp.path().join("fake/best/checkpoints/best.safetensors"))
            .unwrap();
        assert_eq!(best.position().unwrap().epoch, want as i64 + 1);
    }
}

#[test]
fn epochs_of_a_set_size_walk_an_endless_stream_of_shuffled_passes() {
    let tmp = common::tempdir();
    let run = |name: &str, stop: Option<&str>, resume: bool| {
        let mut extra = vec!["--name", name];
        if resume {
            extra.push("--resume");
        }
        if let Some(stop) = stop {
            extra.extend(["--max-steps", stop]);
        }
        let mut f = fake(1, Goal::Lower);
        f.per_epoch = Some(6);
        train(&mut open(&config(tmp.path(), &extra)), &mut f).unwrap();
        f.seen
    };
    // 3 epochs of 6 examples (2 steps of 3) out of 10: 1.8 passes.
    let seen: Vec<i64> = run("whole", None, false).concat();
    let mut stream = epoch_order(10, 3, 1);
    stream.extend(&epoch_order(10, 3, 2)[..8]);
    assert_eq!(seen, stream);
    let mut parts = run("parts", Some("3"), false);
    parts.extend(run("parts", None, true));
    assert_eq!(parts.concat(), stream, "resumed mid-stream");
}
