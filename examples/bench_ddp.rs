//! Benchmark (not a test) of a distributed step's gradient sum over Gloo on
//! the CPU, for Inception-v4's parameters (width 1, 1000 classes, 42.7 M
//! values), run on every rank of a torchrun launch (`make bench-ddp`).
//! Each round takes the same cheap backward (every gradient a fixed random
//! tensor) and then sums the gradients over the processes in one of two
//! forms, or not, in turn (A B C A B C ...):
//!
//! - `per-tensor`: one blocking allreduce per gradient tensor, the naive form;
//! - `bucketed`: paperlab's `dist::reduced_backward`, 25 MiB flat buckets
//!   started by hooks during backward, as DDP's Reducer does;
//! - `backward`: the backward alone, no sum, to subtract.
//!
//! The two sums are checked against each other first (equal sums). BENCH_RUNS
//! (10) and BENCH_WARMUP (2); rank 0 prints the median ms of each and
//! `RESULT form ms` lines, and writes the gradients' shapes as JSON to
//! BENCH_SHAPES if set (for PyTorch DDP's side, scripts/bench_ddp.py).

use paperlab::inception::net::{build, Arch, Config};
use paperlab::optim::{params_of, Param};
use paperlab::runner::dist::{self, reduced_backward, DistArgs, Loss};
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

mod common;
use common::{env, median};

/// Backward of sum(p * r) over the parameters: each gradient becomes r.
fn backward(params: &[Param], r: &[Tensor]) {
    for p in params {
        let _ = p.tensor.grad().f_zero_();
    }
    let loss = params
        .iter()
        .zip(r)
        .map(|(p, r)| (&p.tensor * r).sum(Kind::Float))
        .fold(Tensor::zeros([], (Kind::Float, Device::Cpu)), |a, b| a + b);
    loss.backward();
}

fn per_tensor(params: &[Param], r: &[Tensor]) {
    backward(params, r);
    let w = dist::world().expect("launched by torchrun");
    for p in params {
        w.sum(&p.tensor.grad()).expect("sum");
    }
}

fn bucketed(params: &[Param], r: &[Tensor]) {
    reduced_backward(params, Loss::Sum, || backward(params, r)).expect("sum");
}

fn grads(params: &[Param]) -> Vec<Tensor> {
    params.iter().map(|p| p.tensor.grad().copy()).collect()
}

fn main() {
    tch::set_num_threads(1);
    let fail = |why: String| -> ! {
        eprintln!("bench_ddp: {why}");
        std::process::exit(2)
    };
    if let Err(e) = dist::init(&DistArgs::default(), "cpu", Device::Cpu) {
        fail(e.to_string());
    }
    let Some(w) = dist::world() else {
        fail("run it under torchrun, as `make bench-ddp` does".into());
    };
    let vs = VarStore::new(Device::Cpu);
    let _net = build(&vs.root(), &Config::new(Arch::InceptionV4, 1000));
    let params = params_of(&vs);
    let values: i64 = params.iter().map(|p| p.tensor.numel() as i64).sum();
    if let (Ok(path), 0) = (std::env::var("BENCH_SHAPES"), w.rank) {
        // For scripts/bench_ddp.py: the same tensors in the same order.
        let shapes: Vec<Vec<i64>> = params.iter().map(|p| p.tensor.size()).collect();
        std::fs::write(&path, serde_json::to_string(&shapes).unwrap()).expect("BENCH_SHAPES");
    }
    tch::manual_seed(w.rank as i64);
    let r: Vec<Tensor> = params.iter().map(|p| p.tensor.rand_like()).collect();

    per_tensor(&params, &r);
    let a = grads(&params);
    bucketed(&params, &r);
    let b = grads(&params);
    let diff = a
        .iter()
        .zip(&b)
        .map(|(a, b)| (a - b).abs().max().double_value(&[]))
        .fold(0.0, f64::max);
    assert!(diff < 1e-5, "per-tensor and bucketed sums differ by {diff}");

    let forms: [(&str, fn(&[Param], &[Tensor])); 3] = [
        ("per-tensor", per_tensor),
        ("bucketed", bucketed),
        ("backward", backward),
    ];
    let (runs, warmup) = (env("BENCH_RUNS", 10), env("BENCH_WARMUP", 2));
    let mut times = vec![vec![]; forms.len()];
    for round in 0..warmup + runs {
        for (i, (_, f)) in forms.iter().enumerate() {
            let start = Instant::now();
            f(&params, &r);
            if round >= warmup {
                times[i].push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    if w.rank == 0 {
        println!(
            "Inception-v4: {} gradient tensors, {:.1} M values, {} processes over Gloo, backward included",
            params.len(),
            values as f64 / 1e6,
            w.size
        );
        let ms: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
        for ((name, _), ms) in forms.iter().zip(&ms) {
            println!("{name:>10}: {ms:8.1} ms median of {runs}");
            println!("RESULT {name} {ms:.1}");
        }
        println!(
            "per-tensor / bucketed: {:.2} (less the backward alone: {:.2})",
            ms[0] / ms[1],
            (ms[0] - ms[2]) / (ms[1] - ms[2])
        );
    }
}
