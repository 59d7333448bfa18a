//! Benchmark (not a test) of fractional max-pooling on the CPU; `make bench-fmp`
//! runs it through scripts/bench_fmp.sh next to scripts/bench_fmp.py.
//!
//! (a) The FMP layer (src/layers/fmp.rs), forward + backward of the sum of its
//!     output, against libtorch's own `fractional_max_pool2d` (PyTorch's kernel,
//!     2x2 windows) on the same input and output size, for every variant.
//! (b) One training step (forward, cross-entropy, backward, SGD momentum step)
//!     of the MNIST FMP net (L=6, n=32 or BENCH_FILTERS, alpha sqrt 2, 36x36 input, the
//!     preset's 2-pixel windows and channel dropout) at batch 100.
//!
//! Every timing is the median of BENCH_RUNS runs (default 30) after
//! BENCH_WARMUP warm-up runs (default 5), with BENCH_THREADS intra-op threads
//! (default: libtorch's own default, the number of cores). Measurements that
//! are compared with each other run round-robin. Lines starting with
//! `RESULT name ms` are for scripts; `INFO key value` lines describe the setup.
//!
//! Other settings: BENCH_ONLY=layer|step; BENCH_CASE=<substring of a layer
//! case>; BENCH_CLOCK=cpu (process CPU time instead of wall time: with
//! BENCH_THREADS=1, barely moved by other jobs on a shared machine);
//! BENCH_MALLOC=glibc (glibc's default trimming instead of paperlab's
//! runner::compute::host_memory, to measure what that setting buys).

use paperlab::fmp::model::{net, NetConfig, Pool};
use paperlab::layers::fmp::{Fmp, Regions, Sequence, Share};
use paperlab::optim::{params_of, Optimizer, Sgd, SgdConfig};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

mod common;
use common::{env, malloc_as_paperlab};

const CPU: Device = Device::Cpu;

struct Timer {
    warmup: usize,
    runs: usize,
    /// Measure the process's CPU time instead of wall time (BENCH_CLOCK=cpu).
    /// With BENCH_THREADS=1 this is the on-CPU time of the one thread doing
    /// the work, which load from other processes on the machine barely moves:
    /// the clock used to compare implementations on a busy machine.
    cpu_clock: bool,
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CLOCK_PROCESS_CPUTIME_ID (Linux): CPU time of all threads of the process.
fn process_cpu_ms() -> f64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `ts` is (64-bit Linux layout).
    let rc = unsafe { clock_gettime(2, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 * 1e-6
}

impl Timer {
    /// (median, min) time in ms of each closure, run round-robin (one run
    /// of each in turn) so that a burst of load elsewhere on the machine hits
    /// all of them alike and their ratios stay meaningful.
    fn medians(&self, fs: &mut [Box<dyn FnMut() + '_>]) -> Vec<(f64, f64)> {
        for _ in 0..self.warmup {
            for f in fs.iter_mut() {
                f();
            }
        }
        let mut t = vec![Vec::with_capacity(self.runs); fs.len()];
        for _ in 0..self.runs {
            for (f, t) in fs.iter_mut().zip(t.iter_mut()) {
                if self.cpu_clock {
                    let start = process_cpu_ms();
                    f();
                    t.push(process_cpu_ms() - start);
                } else {
                    let start = Instant::now();
                    f();
                    t.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        t.into_iter()
            .map(|mut t| {
                t.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let n = t.len();
                let median = if n % 2 == 1 {
                    t[n / 2]
                } else {
                    0.5 * (t[n / 2 - 1] + t[n / 2])
                };
                (median, t[0])
            })
            .collect()
    }
}

fn report(name: &str, ms: f64, note: &str) {
    println!("  {name:<48} {ms:>9.3} ms  {note}");
    println!("RESULT {name} {ms:.4}");
}

/// Gradient of sum(pool(x)) with respect to x, without touching x.grad().
fn grad_of_sum(y: &Tensor, x: &Tensor) -> Tensor {
    Tensor::run_backward(&[y.sum(Kind::Float)], &[x], false, false).remove(0)
}

struct LayerCase {
    label: &'static str,
    batch: i64,
    channels: i64,
    n_in: i64,
    n_out: i64,
    alpha: f64,
}

/// The variant's name in RESULT lines: sequence, regions, share.
fn tag_of(f: &Fmp) -> String {
    let sequence = match f.sequence {
        Sequence::Pseudorandom => "pseudo",
        Sequence::Random => "random",
    };
    let regions = match (f.window, f.regions) {
        (Some(_), _) => "window",
        (None, Regions::Overlapping) => "overlap",
        (None, Regions::Disjoint) => "disjoint",
    };
    let share = match f.share {
        Share::Image => "image",
        Share::Batch => "batch",
    };
    format!("{sequence}_{regions}_{share}")
}

fn bench_layer(t: &Timer, case: &LayerCase) {
    let LayerCase {
        label,
        batch: b,
        channels: c,
        n_in,
        n_out,
        alpha,
    } = *case;
    println!(
        "\n[layer {label}] x = [{b}, {c}, {n_in}, {n_in}] -> {n_out}x{n_out}, alpha {alpha:.4} (nominal; the pools use N_in/N_out = {:.4})",
        n_in as f64 / n_out as f64
    );
    let x = Tensor::randn([b, c, n_in, n_in], (Kind::Float, CPU)).set_requires_grad(true);
    let x = &x;
    let base = Fmp {
        output: Some((n_out, n_out)),
        ..Fmp::new(alpha, Sequence::Pseudorandom, Regions::Overlapping)
    };
    let window = Fmp {
        window: Some(2),
        ..base
    };
    // Everything timed here runs forward + backward of sum(output), drawing
    // fresh sequences (ours) or fresh samples (PyTorch's) every run.
    let mut names: Vec<String> = vec!["torch_kernel".into()];
    let mut fs: Vec<Box<dyn FnMut() + '_>> = vec![Box::new(move || {
        // PyTorch's kernel: 2x2 windows, one u per (image, channel) and axis.
        let samples = Tensor::rand([b, c, 2], (Kind::Float, CPU));
        let (y, _) = x.fractional_max_pool2d([2, 2], [n_out, n_out], &samples);
        let _ = grad_of_sum(&y, x);
    })];
    let variants = [
        base,
        Fmp {
            sequence: Sequence::Random,
            ..base
        },
        Fmp {
            share: Share::Batch,
            ..base
        },
        Fmp {
            regions: Regions::Disjoint,
            ..base
        },
        window,
        Fmp {
            sequence: Sequence::Random,
            ..window
        },
    ];
    for fmp in variants {
        names.push(format!("ours_{}", tag_of(&fmp)));
        fs.push(Box::new(move || {
            let y = fmp.forward(x);
            let _ = grad_of_sum(&y, x);
        }));
    }
    // Pseudorandom windows are PyTorch's kernel; this times the general
    // (key-based) path on the same windows.
    names.push(format!("ours_{}_keys", tag_of(&window)));
    fs.push(Box::new(move || {
        let rows = window.sequences(n_in, n_out, b, CPU);
        let cols = window.sequences(n_in, n_out, b, CPU);
        let y = window.forward_with(x, &rows, &cols);
        let _ = grad_of_sum(&y, x);
    }));
    let res = t.medians(&mut fs);
    drop(fs);
    let torch_ms = res[0].0;
    for (name, &(ms, min)) in names.iter().zip(&res) {
        let note = format!("{:5.2}x kernel  (min {min:.2})", ms / torch_ms);
        report(&format!("layer/{label}/{name}"), ms, &note);
    }
}

// ---------------------------------------------------------------------------
// (b) One training step of the MNIST FMP net.
// ---------------------------------------------------------------------------

/// The MNIST preset's net (experiments/fmp-mnist.toml).
fn mnist_config() -> NetConfig {
    NetConfig {
        layers: 6,
        filters: 32,
        pool: Pool::Fmp,
        fmp: Fmp {
            window: Some(2),
            ..Fmp::new(2f64.sqrt(), Sequence::Pseudorandom, Regions::Overlapping)
        },
        dropout: vec![0.0, 0.0, 0.0, 0.0, 0.2, 0.333333, 0.428571, 0.5],
        slope: 0.333,
        in_channels: 1,
        classes: 10,
        // As the PyTorch side computes it: no background marking.
        background_margin: 0.0,
        color_shift: None,
        classifier_init: 1.0,
    }
}

fn bench_step(t: &Timer) {
    let preset = NetConfig {
        filters: env("BENCH_FILTERS", 32) as i64,
        ..mnist_config()
    };
    let paper_regions = NetConfig {
        fmp: Fmp {
            window: None,
            ..preset.fmp
        },
        ..preset.clone()
    };
    let size = preset.input_size();
    let batch = 100;
    println!(
        "\n[step] MNIST FMP net: L={} n={} alpha {:.4} pools {:?}, input {}x{size}x{size}, batch {batch}, dropout {:?}, SGD lr 0.003 momentum 0.9",
        preset.layers,
        preset.filters,
        preset.fmp.alpha,
        preset.pool_sizes(),
        preset.in_channels,
        preset.dropout
    );
    let x = Tensor::rand([batch, preset.in_channels, size, size], (Kind::Float, CPU));
    let y = Tensor::randint(preset.classes, [batch], (Kind::Int64, CPU));
    let setups = [
        (
            "mnist_fmp_net",
            &preset,
            "the preset's net: 2-pixel pseudorandom windows",
        ),
        (
            "mnist_fmp_net_paper_regions",
            &paper_regions,
            "the same with the paper's overlapping regions",
        ),
    ];
    let nets: Vec<(VarStore, Box<dyn ModuleT>)> = setups
        .iter()
        .map(|(_, cfg, _)| {
            let vs = VarStore::new(CPU);
            let model: Box<dyn ModuleT> = Box::new(net(&vs.root(), cfg));
            (vs, model)
        })
        .collect();
    let mut fs: Vec<Box<dyn FnMut() + '_>> = vec![];
    for (vs, model) in &nets {
        let mut opt = Sgd::new(
            params_of(vs),
            SgdConfig {
                momentum: 0.9,
                ..SgdConfig::new(0.003)
            },
        );
        let (x, y) = (&x, &y);
        fs.push(Box::new(move || {
            opt.zero_grad();
            let loss = model.forward_t(x, true).cross_entropy_for_logits(y);
            loss.backward();
            opt.step();
        }));
    }
    let res = t.medians(&mut fs);
    drop(fs);
    for ((name, _, note), &(ms, min)) in setups.iter().zip(&res) {
        report(
            &format!("step/{name}"),
            ms,
            &format!("(min {min:.2}; {note})"),
        );
    }
}

fn main() {
    let threads = env("BENCH_THREADS", tch::get_num_threads() as usize) as i32;
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let t = Timer {
        warmup: env("BENCH_WARMUP", 5),
        runs: env("BENCH_RUNS", 30),
        cpu_clock: std::env::var("BENCH_CLOCK").is_ok_and(|c| c == "cpu"),
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default(); // "", "layer" or "step"
    println!("INFO threads {}", tch::get_num_threads());
    println!("INFO interop_threads {}", tch::get_num_interop_threads());
    println!("INFO warmup {} runs {}", t.warmup, t.runs);
    println!("INFO device cpu");
    malloc_as_paperlab();
    println!(
        "INFO clock {}",
        if t.cpu_clock {
            "process-cpu-time"
        } else {
            "wall"
        }
    );
    println!(
        "fractional max-pooling benchmark: median of {} runs after {} warm-up, {} threads",
        t.runs,
        t.warmup,
        tch::get_num_threads()
    );

    if only.is_empty() || only == "layer" {
        let cases = [
            LayerCase {
                label: "n16_b100_c16_35to25",
                batch: 100,
                channels: 16,
                n_in: 35,
                n_out: 25,
                alpha: 2f64.sqrt(),
            },
            LayerCase {
                label: "mnist1_b100_c32_35to25",
                batch: 100,
                channels: 32,
                n_in: 35,
                n_out: 25,
                alpha: 2f64.sqrt(),
            },
            LayerCase {
                label: "mnist2_b100_c64_24to17",
                batch: 100,
                channels: 64,
                n_in: 24,
                n_out: 17,
                alpha: 2f64.sqrt(),
            },
            LayerCase {
                label: "b100_c96_24to17",
                batch: 100,
                channels: 96,
                n_in: 24,
                n_out: 17,
                alpha: 2f64.sqrt(),
            },
            LayerCase {
                label: "cifar_b50_c64_94to75",
                batch: 50,
                channels: 64,
                n_in: 94,
                n_out: 75,
                alpha: 2f64.powf(1.0 / 3.0),
            },
        ];
        let filter = std::env::var("BENCH_CASE").unwrap_or_default();
        for case in cases.iter().filter(|c| c.label.contains(filter.as_str())) {
            bench_layer(&t, case);
        }
    }
    if only.is_empty() || only == "step" {
        bench_step(&t);
    }
}
