//! --profile: every trainer at its default settings on the CPU reads
//! nothing back from the device within a training step (a read there would
//! stall a GPU's stream every step), and dispatches no more ops a step than
//! the budget written here, measured when the budget was set: a change that
//! adds ops or a sync to a step fails here. The counts are libtorch's
//! profiler's, deterministic where times are not. Also the files' shape,
//! and a fake trainer whose step reads once and dispatches a known number
//! of ops, which the counts must see.

use crate::common;
use common::*;

use clap::Parser;
use paperlab::data::batches::Batch;
use paperlab::data::examples::Examples;
use paperlab::error::Result;
use paperlab::optim::schedule::At;
use paperlab::runner::engine::epochs::{header, train, EpochEnd, Steps};
use paperlab::runner::engine::session::Session;
use paperlab::runner::engine::sums::{Means, RunningSums};
use paperlab::runner::record::summary::Selection;
use paperlab::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use serde_json::Value;
use std::path::Path;
use tch::{Kind, Tensor};

/// Each trainer's ops a step at its tiny configuration (default settings,
/// one CPU thread), as measured when set: lower them when a step gets
/// leaner, never raise them to let a new launch in.
const FMP_OPS: f64 = 2080.0;
const INCEPTION_OPS: f64 = 24166.0;
const GAN_MLP_OPS: f64 = 993.0;
const DCGAN_OPS: f64 = 2601.0;
const WN_OPS: f64 = 1519.0;

/// Steps each run records (after the engine's 2-step warm-up).
const STEPS: &str = "3";

/// summary.json's "profile" of a finished run of `args` with --profile.
fn profiled(ws: &Path, args: Vec<String>) -> Value {
    let mut args = args;
    args.extend(["--profile".into(), STEPS.into()]);
    let command = args[0].clone();
    let name = args[args.iter().position(|a| a == "--name").unwrap() + 1].clone();
    ok(paperlab(ws, &args));
    let summary = json(&run_dir(ws, &command, &name).join("summary.json"));
    summary["profile"].clone()
}

/// The step reads nothing back; its ops stay within `budget`.
fn lean(what: &str, profile: &Value, budget: f64) {
    let figure = |k: &str| {
        profile[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no {k}"))
    };
    assert_eq!(figure("steps"), 3.0, "{what}: steps recorded");
    assert_eq!(
        figure("host_reads_per_step"),
        0.0,
        "{what}: a training step reads from the device (item, nonzero): see profile/ops.csv"
    );
    let ops = figure("ops_per_step");
    assert!(
        ops > 0.0 && ops <= budget,
        "{what}: {ops} ops a step, over its budget of {budget}"
    );
}

#[test]
fn train_fmp_steps_read_nothing_and_keep_their_op_budget() {
    let ws = workspace();
    let p = profiled(ws.path(), tiny_fmp("p", &["--epochs", "1"]));
    lean("train-fmp", &p, FMP_OPS);
}

#[test]
fn train_inception_steps_read_nothing_and_keep_their_op_budget() {
    let ws = workspace();
    let p = profiled(ws.path(), tiny_inception("p", &["--epochs", "1"]));
    lean("train-inception", &p, INCEPTION_OPS);
}

#[test]
fn train_gan_mlp_steps_read_nothing_and_keep_their_op_budget() {
    let ws = workspace();
    let p = profiled(ws.path(), tiny_gan("p", &["--epochs", "1"]));
    lean("train-gan --model mlp", &p, GAN_MLP_OPS);
}

#[test]
fn train_gan_dcgan_steps_read_nothing_and_keep_their_op_budget() {
    let ws = workspace();
    let p = profiled(ws.path(), tiny_dcgan("p", &["--epochs", "1"]));
    lean("train-gan --model dcgan", &p, DCGAN_OPS);
}

#[test]
fn train_wn_steps_read_nothing_and_keep_their_op_budget() {
    let ws = workspace();
    let p = profiled(ws.path(), named(TINY_WN, "p", &["--widths", "8,16"]));
    lean("train-wn", &p, WN_OPS);
}

/// The files of a profiled run: trace.json is a Chrome trace with one
/// `paperlab::step` range per recorded step; ops.csv has its columns, and
/// its aten ops' calls add up to the summary's ops per step.
#[test]
fn a_profiled_run_writes_a_chrome_trace_and_an_op_table_that_add_up() {
    let ws = workspace();
    let p = profiled(ws.path(), tiny_fmp("p", &["--epochs", "1"]));
    let dir = run_dir(ws.path(), "train-fmp", "p").join("profile");
    let trace = json(&dir.join("trace.json"));
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let steps = events
        .iter()
        .filter(|e| e["name"] == "paperlab::step")
        .count();
    assert_eq!(steps, 3, "step ranges in trace.json");
    assert_eq!(
        json(&dir.join("figures.json")),
        p,
        "figures.json and summary.json's profile"
    );
    let mut table = csv::Reader::from_path(dir.join("ops.csv")).unwrap();
    let columns: Vec<String> = table.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(columns, ["op", "calls_per_step", "self_cpu_us_per_step"]);
    let hidden = ["aten::is_leaf", "aten::output_nr", "aten::_version"];
    let aten: f64 = table
        .records()
        .map(|r| r.unwrap())
        .filter(|r| r[0].starts_with("aten::") && !hidden.contains(&&r[0]))
        .map(|r| r[1].parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        aten,
        p["ops_per_step"].as_f64().unwrap(),
        "ops.csv's aten calls"
    );
}

#[test]
fn profile_takes_a_positive_number_of_steps() {
    let ws = workspace();
    for bad in ["0", "-1", "x"] {
        let args = tiny_fmp("bad", &["--profile", bad]);
        fails(paperlab(ws.path(), &args), 2, &["--profile"]);
        assert!(!run_dir(ws.path(), "train-fmp", "bad").exists());
    }
}

/// A trainer whose step adds its batch's sum to w, and with `read` also
/// reads w back (one item: two ops, one host read).
struct Reader {
    examples: Counting,
    w: Tensor,
    read: bool,
}

impl Steps for Reader {
    fn examples(&self) -> &dyn Examples {
        &self.examples
    }
    fn batch_size(&self) -> i64 {
        3
    }
    fn epochs(&self) -> i64 {
        2
    }
    fn selection(&self) -> Option<Selection> {
        None
    }
    fn schedule(&mut self, _at: At) -> Result<()> {
        Ok(())
    }
    fn step(&mut self, _at: At, batches: &[Batch], sums: &mut RunningSums) -> Result<()> {
        let s = batches[0].images.sum(Kind::Double);
        self.w += &s;
        sums.add("index", &s, 3.0);
        if self.read {
            self.w.double_value(&[]);
        }
        Ok(())
    }
    fn progress(&self, _means: &Means) -> String {
        String::new()
    }
    fn end_epoch(&mut self, _s: &mut Session, _epoch: i64, means: &Means) -> Result<EpochEnd> {
        Ok(EpochEnd {
            columns: vec![means.get("index")],
            line: format!("w {}", self.w.double_value(&[])),
            selection: f64::NAN,
        })
    }
    fn replicated(&self) -> Vec<Tensor> {
        vec![self.w.shallow_clone()]
    }
    fn checkpoint(&self) -> Checkpoint {
        Checkpoint::new()
    }
    fn restore(&mut self, _checkpoint: &CheckpointFile) -> Result<()> {
        Ok(())
    }
}

/// The counts see what a step does: a read of w in the step is one host
/// read and two more ops (item, _local_scalar_dense) a step; without it,
/// none, while the epoch's end inside the recording (10 examples in steps
/// of 3: steps 2..5 cross it) reads w between steps, counted apart.
#[test]
fn a_host_read_in_the_step_is_counted_and_an_epoch_ends_reads_are_not() {
    alone!(a_host_read_in_the_step_is_counted_and_an_epoch_ends_reads_are_not);
    let tmp = tempdir();
    let figures = |read: bool| {
        let name = if read { "read" } else { "lean" };
        let out = tmp.path().to_str().unwrap();
        let argv = [
            "fake", "--quiet", "--device", "cpu", "--out", out, "--name", name,
        ];
        let cfg = FakeConfig::parse_from(argv.iter().chain(&["--profile", STEPS]));
        ctrl_c_exits();
        let mut s = Session::open(&cfg, &header(&["mean_index"])).unwrap();
        let mut trainer = Reader {
            examples: Counting::new(10),
            w: Tensor::from(0.0f64),
            read,
        };
        assert!(train(&mut s, &mut trainer).unwrap().finished);
        json(
            &tmp.path()
                .join("fake")
                .join(name)
                .join("profile/figures.json"),
        )
    };
    let (lean, read) = (figures(false), figures(true));
    let f = |p: &Value, k: &str| p[k].as_f64().unwrap();
    assert_eq!(f(&lean, "steps"), 3.0);
    assert_eq!(f(&lean, "host_reads_per_step"), 0.0);
    assert_eq!(f(&read, "host_reads_per_step"), 1.0);
    assert_eq!(f(&read, "ops_per_step") - f(&lean, "ops_per_step"), 2.0);
    assert!(f(&lean, "host_reads_between_steps") > 0.0, "{lean}");
}
