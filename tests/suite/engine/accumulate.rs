//! --accumulate N: the classifier steps split each optimizer step's batch
//! into N micro-batches, and the step equals the unsplit one (a mean loss
//! and Graham's summed loss, fp32 and fp16 on the CPU, an epoch's last
//! batch that does not divide evenly); whole runs of FMP and of the MLP GAN
//! (nets without batch norm or random layers) repeat their unaccumulated
//! metrics; config.json records it; a bad N is refused naming the flag.
//! The 2-process run is in dist/runs.rs.

use crate::common;
use common::*;

use paperlab::data::batches::Batch;
use paperlab::data::Dataset;
use paperlab::error::Result;
use paperlab::optim::schedule::At;
use paperlab::optim::{params_of, OptimConfig, SgdConfig, UpdateImpl};
use paperlab::runner::compute::layout::Layout;
use paperlab::runner::compute::precision::{Amp, Precision};
use paperlab::runner::engine::classify::{
    cross_entropy, Classifier, ClassifierNet, Evaluation, Hooks,
};
use paperlab::runner::engine::epochs::Steps;
use paperlab::runner::engine::session::Session;
use paperlab::runner::engine::sums::RunningSums;
use paperlab::runner::record::summary::{Goal, Selection};
use std::path::Path;
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

/// The loss (a mean, or Graham's sum) and the rows of every forward pass.
struct Recorder {
    summed: bool,
    rows: Vec<i64>,
}

impl Hooks for Recorder {
    fn forward(&mut self, model: &dyn ModuleT, x: &Tensor) -> Tensor {
        self.rows.push(x.size()[0]);
        model.forward_t(x, true)
    }
    fn loss(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        match self.summed {
            true => cross_entropy(logits, labels, Reduction::Sum),
            false => cross_entropy(logits, labels, Reduction::Mean),
        }
    }
    fn summed_loss(&self) -> bool {
        self.summed
    }
    fn selection(&self) -> Selection {
        Selection::new("x", Goal::Lower)
    }
    fn evaluate(&mut self, _: &ClassifierNet, _: &mut Session, _: i64) -> Result<Evaluation> {
        unreachable!("not evaluated here")
    }
}

/// A two-layer perceptron without batch norm or dropout, the same weights
/// for every call.
fn mlp(vs: &VarStore) -> nn::SequentialT {
    tch::manual_seed(7);
    let p = vs.root();
    nn::seq_t()
        .add(nn::linear(&p / "fc1", 8, 16, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&p / "fc2", 16, 3, Default::default()))
}

fn batch(rows: i64, seed: i64) -> Batch {
    tch::manual_seed(seed);
    Batch {
        images: Tensor::randn([rows, 8], (Kind::Float, Device::Cpu)),
        labels: Tensor::randint(3, [rows], (Kind::Int64, Device::Cpu)),
    }
}

/// What steps on `batches` (one per step) leave: the weights, the loss and
/// error means of the sums, the loss scaler's state, and the rows of every
/// forward pass.
struct After {
    weights: Vec<(String, Tensor)>,
    means: [f64; 2],
    scaler: Vec<f64>,
    rows: Vec<i64>,
}

fn steps(summed: bool, precision: Precision, accumulate: i64, batches: &[Batch]) -> After {
    let vs = VarStore::new(Device::Cpu);
    let model = mlp(&vs);
    let prepare = |x: &Tensor, _| x.shallow_clone();
    let examples = Dataset {
        images: Tensor::zeros([1, 8], (Kind::Float, Device::Cpu)),
        labels: Tensor::zeros([1], (Kind::Int64, Device::Cpu)),
        classes: 3,
    };
    let lr = if summed { 0.01 } else { 0.3 };
    let sgd = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(lr)
    };
    let mut classifier = Classifier {
        net: ClassifierNet {
            model: &model,
            vs: &vs,
            prepare: &prepare,
            batch_size: 12,
        },
        amp: Amp::new(precision, Layout::Contiguous, &vs),
        opt: OptimConfig::Sgd(sgd).build(params_of(&vs), UpdateImpl::Auto),
        schedules: vec![],
        examples: &examples,
        epochs: 1,
        hooks: Recorder {
            summed,
            rows: vec![],
        },
        accumulate,
    };
    let mut sums = RunningSums::new(0, Device::Cpu, false);
    for (step, b) in batches.iter().enumerate() {
        let at = At {
            epoch: 1,
            step: step as i64,
        };
        classifier
            .step(at, std::slice::from_ref(b), &mut sums)
            .unwrap();
        sums.advance();
    }
    let means = sums.means().unwrap();
    let mut weights: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    After {
        weights,
        means: [means.get("loss"), means.get("error")],
        scaler: classifier
            .amp
            .state()
            .iter()
            .map(|(_, t)| t.double_value(&[]))
            .collect(),
        rows: std::mem::take(&mut classifier.hooks.rows),
    }
}

/// Three steps, the last on an epoch's last batch of 10 rows (micro-batches
/// of 2 and 3 under N = 4).
fn three_batches() -> Vec<Batch> {
    vec![batch(12, 1), batch(12, 2), batch(10, 3)]
}

fn same_steps(summed: bool, precision: Precision, tolerance: f64) {
    let what = format!("summed {summed}, {precision:?}");
    let batches = three_batches();
    let (whole, split) = (
        steps(summed, precision, 1, &batches),
        steps(summed, precision, 4, &batches),
    );
    assert_eq!(whole.rows, [12, 12, 10]);
    assert_eq!(split.rows, [3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3]);
    let start = steps(summed, precision, 1, &[]);
    for (((name, a), (_, b)), (_, w0)) in
        whole.weights.iter().zip(&split.weights).zip(&start.weights)
    {
        let moved = (a - w0).abs().max().double_value(&[]);
        assert!(moved > 1e-2, "{what}: {name} moved by only {moved}");
        assert_close(b, a, tolerance, tolerance, &format!("{what}: {name}"));
    }
    assert_close(&split.means, &whole.means, tolerance, 1e-6, &what);
    assert_eq!(split.scaler, whole.scaler, "{what}: the loss scaler");
}

#[test]
fn an_accumulated_step_is_the_unsplit_step_for_a_mean_loss() {
    same_steps(false, Precision::Fp32, 1e-5);
}

#[test]
fn an_accumulated_step_is_the_unsplit_step_for_grahams_summed_loss() {
    same_steps(true, Precision::Fp32, 1e-5);
}

/// Under fp16 autocast each micro-batch's loss is scaled by the same scale
/// and the gradients unscaled once per step: the weights agree to fp16's
/// rounding, and the scaler took three good steps in both.
#[test]
fn an_accumulated_fp16_step_is_the_unsplit_step() {
    same_steps(false, Precision::Fp16, 2e-3);
    let after = steps(false, Precision::Fp16, 4, &three_batches());
    assert_eq!(after.scaler, [65536.0, 3.0], "scale, growth tracker");
}

/// train-fmp without random layers (2x2 max-pooling; no dropout or
/// augmentation by default) and --background-margin 0 (no ties in the
/// pooling, see dist/runs.rs): two epochs with --accumulate 5 give the
/// unaccumulated metrics.csv, for Graham's summed loss and SGD's mean;
/// resumed after --max-steps, the accumulated run repeats itself.
#[test]
fn an_accumulated_fmp_run_repeats_the_unaccumulated_metrics() {
    let ws = workspace();
    for optimizer in ["graham", "sgd"] {
        let flags = |n: &str| -> Vec<String> {
            let extra = [
                "--pool",
                "max2",
                "--background-margin",
                "0",
                "--optimizer",
                optimizer,
                "--accumulate",
                n,
            ];
            tiny_fmp(&format!("{optimizer}-{n}"), &extra)
        };
        ok(paperlab(ws.path(), &flags("1")));
        ok(paperlab(ws.path(), &flags("5")));
        let dir = |n: &str| run_dir(ws.path(), "train-fmp", &format!("{optimizer}-{n}"));
        same_metrics(&dir("1"), &dir("5"), optimizer);
        // The loss per image, whether the optimizer takes its mean or its
        // sum (a sum over the 50 images of a batch would be 50 times it).
        let loss = csv_rows(&dir("1").join("metrics.csv"))[0]["train_loss"];
        assert!(
            loss > 0.0 && loss < 2.0 * 10f64.ln(),
            "{optimizer}: train_loss {loss}"
        );
        assert_eq!(
            json(&dir("5").join("config.json"))["config"]["accumulate"],
            5
        );
    }
    // Checkpoints are at optimizer steps: stopped after 7 and resumed (with
    // config.json's --accumulate), the run repeats the uninterrupted one.
    let stopped = [
        "--pool",
        "max2",
        "--background-margin",
        "0",
        "--optimizer",
        "graham",
        "--accumulate",
        "5",
        "--max-steps",
        "7",
    ];
    ok(paperlab(ws.path(), &tiny_fmp("stopped", &stopped)));
    ok(paperlab(
        ws.path(),
        ["train-fmp", "--name", "stopped", "--resume", "--quiet"],
    ));
    let metrics = |name: &str| {
        metrics_without_timing(&run_dir(ws.path(), "train-fmp", name).join("metrics.csv"))
    };
    assert_eq!(metrics("stopped"), metrics("graham-5"));
}

/// The MLP GAN with dropout off (D keeps every input): each D and G update
/// on two micro-batches gives the unaccumulated weights of G and D, and
/// the same losses and D outputs.
#[test]
fn an_accumulated_gan_run_repeats_the_unaccumulated_run() {
    let ws = workspace();
    let run = |name: &str, extra: &[&str]| {
        // No dropout, and D's weights large enough for G to learn from.
        let no_dropout = [
            "--d-input-include",
            "1",
            "--d-hidden-include",
            "1",
            "--d-init",
            "0.1",
        ];
        ok(paperlab(
            ws.path(),
            &tiny_gan(name, &[&no_dropout[..], extra].concat()),
        ));
        run_dir(ws.path(), "train-gan", name)
    };
    let start = weights(&run("start", &["--max-steps", "0"]));
    let (whole, split) = (
        run("whole", &["--accumulate", "1"]),
        run("split", &["--accumulate", "2"]),
    );
    same_metrics(&whole, &split, "mlp gan");
    let (a, b) = (weights(&whole), weights(&split));
    let names =
        |w: &[(String, Tensor)]| -> Vec<String> { w.iter().map(|(k, _)| k.clone()).collect() };
    assert!(
        names(&a).contains(&"g.y.weight".to_string()),
        "{:?}",
        names(&a)
    );
    assert!(
        names(&a).contains(&"d.y.weight".to_string()),
        "{:?}",
        names(&a)
    );
    assert_eq!(names(&a), names(&b));
    assert_eq!(names(&a), names(&start));
    // Each tensor's difference against how far the 24 steps moved it: at
    // most 1.2e-4 of it (g.h0.weight, measured 2026-12-06), the rounding of
    // float32 sums in another order.
    for (((name, a), (_, b)), (_, w0)) in a.iter().zip(&b).zip(&start) {
        let moved = (a - w0).abs().max().double_value(&[]);
        let d = (a - b).abs().max().double_value(&[]);
        assert!(
            d < 1e-3 * moved,
            "{name}: accumulated differs by {d}; training moved it by {moved}"
        );
    }
}

/// The networks' weights in a run's last checkpoint, by name.
fn weights(dir: &Path) -> Vec<(String, Tensor)> {
    let mut w: Vec<(String, Tensor)> =
        Tensor::read_safetensors(dir.join("checkpoints/last.safetensors"))
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k.starts_with("g.") || k.starts_with("d."))
            .collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

/// metrics.csv of `b` row by row within float rounding of `a`'s (a column
/// not measured, NaN, in both), and the run trained (its first row differs
/// from its last).
fn same_metrics(a: &Path, b: &Path, what: &str) {
    let numbers = |dir: &Path| -> Vec<Vec<f64>> {
        metrics_without_timing(&dir.join("metrics.csv"))
            .iter()
            .map(|r| r.iter().map(|v| v.parse().unwrap()).collect())
            .collect()
    };
    let (a, b) = (numbers(a), numbers(b));
    assert_eq!(a.len(), 2, "{what}");
    assert_ne!(a[0][1..], a[1][1..], "{what}: the epochs differ");
    assert_eq!(a.len(), b.len(), "{what}");
    for (ra, rb) in a.iter().zip(&b) {
        let measured = |r: &[f64]| -> Vec<f64> {
            r.iter()
                .zip(ra)
                .filter(|(_, x)| !x.is_nan())
                .map(|(v, _)| *v)
                .collect()
        };
        let what = format!("{what}: {rb:?} against {ra:?}");
        assert_close(&measured(rb), &measured(ra), 1e-4, 1e-4, &what);
    }
}

#[test]
fn a_bad_accumulation_is_refused_naming_the_flag() {
    let zero = ["--accumulate", "0"];
    refused_by_parser(
        &[],
        &[
            (&["train-fmp", "--accumulate", "0"], &zero),
            (&["train-wn", "--accumulate", "0"], &zero),
            (&["train-inception", "--accumulate", "0"], &zero),
            (&["train-gan", "--accumulate", "0"], &zero),
            (
                &["train-gan", "--model", "dcgan", "--accumulate", "0"],
                &zero,
            ),
            (
                &["train-fmp", "--accumulate", "-2"],
                &["--accumulate", "-2"],
            ),
        ],
    );
    let ws = workspace();
    refused_by_binary(
        ws.path(),
        &[],
        &[
            (
                &["train-fmp", "--batch-size", "50", "--accumulate", "3"],
                &["--accumulate 3", "--batch-size", "divisor of 50"],
            ),
            (
                &["train-gan", "--batch-size", "50", "--accumulate", "4"],
                &["--accumulate 4", "divisor of 50"],
            ),
            (
                &["train-wn", "--batch-size", "50", "--accumulate", "7"],
                &["--accumulate 7", "divisor of 50"],
            ),
            (
                &[
                    "train-inception",
                    "--batch-size",
                    "16",
                    "--accumulate",
                    "3",
                    "--print-config",
                ],
                &["--accumulate 3", "divisor of 16"],
            ),
        ],
    );
    assert!(
        !ws.path().join("results").exists(),
        "a refused command wrote nothing"
    );
    // Dividing the batch, it is checked and recorded.
    let config = resolved(ws.path(), tiny_fmp("ok", &["--accumulate", "5"]));
    assert_eq!(config["accumulate"], 5);
}
