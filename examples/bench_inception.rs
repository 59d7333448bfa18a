//! Benchmark (not a test) of the Inception networks on the CPU; `make
//! bench-inception` runs it through scripts/bench_inception.sh next to
//! scripts/bench_inception.py (timm in PyTorch eager).
//!
//! 1. Exactness: with `BENCH_EXPORT=DIR` (written by `bench_inception.py
//!    export DIR`), load timm's state dict of inception_v4 and
//!    inception_resnet_v2 through the --init-from loader and compare the
//!    logits with timm's on the same input (evaluation mode).
//! 2. Speed: forward + backward (training mode, cross-entropy on random
//!    labels) of paperlab's default (channels-last) and of the plain NCHW
//!    layout ("paperlab_nchw") at 299x299, batch BENCH_BATCH (default 2), median of BENCH_RUNS
//!    (default 5) after BENCH_WARMUP (default 1), with BENCH_THREADS intra-op
//!    threads (default: libtorch's); BENCH_SKIP_TIMING=1 only checks;
//!    BENCH_MALLOC=glibc runs with glibc's default malloc instead of paperlab's.
//!    Lines `SAMPLE name ms` (one per timed run) and `RESULT name ms` (the
//!    median) are for scripts.

use paperlab::inception::net::{build, Arch, Config};
use paperlab::inception::weights;
use paperlab::optim::params_of;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

mod common;
use common::{env, malloc_as_paperlab};

const MODELS: [(Arch, &str); 2] = [
    (Arch::InceptionV4, "inception_v4"),
    (Arch::InceptionResnetV2, "inception_resnet_v2"),
];

/// Largest |paperlab - timm| of the logits, and of timm's logits themselves.
fn check(dir: &Path, arch: Arch, timm: &str, channels_last: bool) -> (f64, f64) {
    let vs = VarStore::new(Device::Cpu);
    let mut net = build(&vs.root(), &Config::new(arch, 1000));
    net.channels_last = channels_last;
    let file = dir.join(format!("{timm}.safetensors"));
    weights::load(&vs, &file, timm, arch.classifier(), false).expect("timm's state dict loads");
    let io: Vec<(String, Tensor)> =
        Tensor::read_safetensors(dir.join(format!("{timm}.io.safetensors"))).unwrap();
    let get = |k: &str| io.iter().find(|(n, _)| n == k).unwrap().1.shallow_clone();
    let ours = tch::no_grad(|| net.forward_t(&get("input"), false));
    let theirs = get("logits");
    let diff = (&ours - &theirs).abs().max().double_value(&[]);
    let scale = theirs.abs().max().double_value(&[]);
    (diff, scale)
}

fn main() {
    let threads = env("BENCH_THREADS", tch::get_num_threads() as usize) as i32;
    tch::set_num_threads(threads);
    let (warmup, runs, batch) = (
        env("BENCH_WARMUP", 1),
        env("BENCH_RUNS", 5).max(1),
        env("BENCH_BATCH", 2) as i64,
    );
    println!("INFO threads {}", tch::get_num_threads());
    println!("INFO warmup {warmup} runs {runs} batch {batch}");
    malloc_as_paperlab();
    if let Ok(dir) = std::env::var("BENCH_EXPORT") {
        let dir = PathBuf::from(dir);
        for (arch, timm) in MODELS {
            for (layout, channels_last) in [("nchw", false), ("channels_last", true)] {
                let (diff, scale) = check(&dir, arch, timm, channels_last);
                println!(
                    "  exactness {timm:<20} {layout:<14} max |paperlab - timm| logit {diff:.3e} (logits up to {scale:.3})"
                );
                println!("RESULT exact/{timm}/{layout} {diff:.6e}");
                assert!(
                    diff <= 1e-4 * scale.max(1.0),
                    "{timm}: logits differ by {diff}"
                );
            }
        }
    }
    if std::env::var("BENCH_SKIP_TIMING").is_ok_and(|v| v == "1") {
        return;
    }
    for (arch, timm) in MODELS {
        // paperlab's default (channels-last) and the plain NCHW layout.
        for (tag, channels_last) in [("paperlab", true), ("paperlab_nchw", false)] {
            tch::manual_seed(0);
            let vs = VarStore::new(Device::Cpu);
            let mut net = build(&vs.root(), &Config::new(arch, 1000));
            net.channels_last = channels_last;
            let params = params_of(&vs);
            let x = Tensor::rand([batch, 3, 299, 299], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
            let y = Tensor::randint(1000, [batch], (Kind::Int64, Device::Cpu));
            let step = || {
                for p in &params {
                    let mut g = p.tensor.grad();
                    if g.defined() {
                        let _ = g.zero_();
                    }
                }
                let loss = net.forward_t(&x, true).cross_entropy_for_logits(&y);
                loss.backward();
            };
            for _ in 0..warmup {
                step();
            }
            let mut times: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    step();
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            for t in &times {
                println!("SAMPLE {tag}/{timm} {t:.3}");
            }
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let n = times.len();
            let median = 0.5 * (times[(n - 1) / 2] + times[n / 2]);
            println!(
                "  {tag}/{timm:<24} {median:9.1} ms per batch of {batch}  (min {:.1})",
                times[0]
            );
            println!("RESULT {tag}/{timm} {median:.3}");
        }
    }
}
