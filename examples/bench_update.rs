//! Benchmark (not a test) of everything train-inception does to the weights
//! after backward, for Inception-v4's parameters alone (width 1, 1000
//! classes, random gradients) on the CPU: L2 weight decay on the weights,
//! global gradient-norm clipping (2.0), TF-style RMSProp with momentum (the
//! paper's recipe) and the weight EMA over every variable. `make
//! bench-update` runs it.
//!
//! Four forms, timed in turn, step after step (A B C D A B C D ...):
//!
//! - `per-tensor`: paperlab's code (optim::RmsProp, clip_grad_norm,
//!   runner::compute::ema::Ema), a few ops per parameter tensor;
//! - `foreach`: the same code with `--update-impl foreach`: libtorch's
//!   multi-tensor ops on lists of tensors (what torch.optim, clip_grad_norm_
//!   and timm's ModelEmaV3 use on CUDA);
//! - `flat`: every variable, gradient and optimizer buffer a view into one
//!   contiguous buffer per role (the parameters with decay first, then the
//!   other parameters, then the BatchNorm statistics), so each part of the
//!   update is a handful of ops on one tensor;
//! - `flat-chunked`: the flat buffers, but the elementwise part walked in
//!   chunks of BENCH_CHUNK elements (default 262144, 1 MiB of floats), so
//!   temporaries stay small and the chunk's buffers stay in cache.
//!
//! The other forms are checked against per-tensor first (same start, same
//! gradients, three steps: parameters, RMSProp buffers and EMA agree to
//! float rounding). Environment: BENCH_THREADS (libtorch threads, default
//! 1), BENCH_RUNS (10), BENCH_WARMUP (2), BENCH_DEVICE (cpu; cuda for
//! `make bench-gpu`: each part is then timed to a device synchronisation). Prints per form and part the
//! median ms, and `RESULT form part ms` lines.

use paperlab::inception::net::{build, Arch, Config};
use paperlab::optim::{
    add_weight_decay, clip_grad_norm, params_of, Optimizer, Param, RmsPropConfig, UpdateImpl,
};
use paperlab::runner::compute::ema::Ema;
use std::collections::HashMap;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

mod common;
use common::{env, median};

const WD: f64 = 4e-5;
const CLIP: f64 = 2.0;
const EMA_DECAY: f64 = 0.9999;

fn rmsprop() -> RmsPropConfig {
    RmsPropConfig {
        alpha: 0.9,
        eps: 1.0,
        momentum: 0.9,
        tf_style: true,
        ..RmsPropConfig::new(0.045)
    }
}

fn device() -> Device {
    match std::env::var("BENCH_DEVICE").as_deref() {
        Ok("cuda") => Device::Cuda(0),
        _ => Device::Cpu,
    }
}

/// Inception-v4 on the CPU with gradients defined (then set by `grads`).
fn model() -> (VarStore, Config) {
    let vs = VarStore::new(device());
    let cfg = Config::new(Arch::InceptionV4, 1000);
    let _net = build(&vs.root(), &cfg);
    (vs, cfg)
}

/// Defines every parameter's gradient, then sets it to the same random
/// values for the same names (seeded by position in the sorted list).
fn set_grads(params: &[Param]) {
    let loss: Tensor = params
        .iter()
        .map(|p| p.tensor.sum(Kind::Float))
        .fold(Tensor::from(0f32), |a, b| a + b);
    loss.backward();
    tch::no_grad(|| {
        tch::manual_seed(11);
        for p in params {
            let _ = p.tensor.grad().copy_(&(p.tensor.randn_like() * 1e-3));
        }
    });
}

/// paperlab's own code, as the Inception trainer calls it, per tensor or
/// multi-tensor.
struct PerTensor {
    opt: Box<dyn Optimizer>,
    ema: Ema<paperlab::inception::net::Net>,
    update: UpdateImpl,
    _vs: VarStore,
}

impl PerTensor {
    fn new(update: UpdateImpl) -> PerTensor {
        // The same initial weights for both forms.
        tch::manual_seed(5);
        let (vs, cfg) = model();
        set_grads(&params_of(&vs));
        let ema = Ema::new(&vs, EMA_DECAY, |p| build(p, &cfg))
            .unwrap()
            .with_update(update);
        let opt = paperlab::optim::OptimConfig::RmsProp(rmsprop()).build(params_of(&vs), update);
        PerTensor {
            opt,
            ema,
            update,
            _vs: vs,
        }
    }

    /// One full update after the gradients `saved`.
    fn step(&mut self, saved: &[Tensor], step: i64) {
        tch::no_grad(|| {
            for (p, g) in self.opt.params().iter().zip(saved) {
                p.tensor.grad().copy_(g);
            }
        });
        self.decay_and_clip();
        self.opt.step();
        self.ema.update(step);
    }

    fn decay_and_clip(&mut self) {
        let params = self.opt.params();
        add_weight_decay(
            params.iter().filter(|p| p.tensor.dim() > 1),
            WD,
            self.update,
        );
        clip_grad_norm(params, CLIP, self.update);
    }
}

/// The flat form: variables, gradients, buffers and shadow as views into
/// one buffer each.
struct Flat {
    /// Every variable: decayed parameters [0, decayed), other parameters
    /// [decayed, params), BatchNorm statistics [params, len).
    live: Tensor,
    grads: Tensor,
    square_avg: Tensor,
    momentum: Tensor,
    shadow: Tensor,
    decayed: i64,
    params: i64,
    chunk: Option<i64>,
    /// name -> (offset, shape), to compare with the per-tensor form.
    layout: HashMap<String, (i64, Vec<i64>)>,
    _vs: VarStore,
}

impl Flat {
    fn new(chunk: Option<i64>) -> Flat {
        let (vs, _) = model();
        let params = params_of(&vs);
        set_grads(&params);
        let trainable: HashMap<String, bool> = params
            .iter()
            .map(|p| (p.name.clone(), p.tensor.dim() > 1))
            .collect();
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        // Decayed parameters, other parameters, statistics; by name within each.
        let rank = |n: &str| match trainable.get(n) {
            Some(true) => 0,
            Some(false) => 1,
            None => 2,
        };
        vars.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
        let len: i64 = vars.iter().map(|(_, t)| t.numel() as i64).sum();
        let count = |r| -> i64 {
            vars.iter()
                .filter(|(n, _)| rank(n) <= r)
                .map(|(_, t)| t.numel() as i64)
                .sum()
        };
        let (decayed, nparams) = (count(0), count(1));
        let live = Tensor::zeros([len], (Kind::Float, device()));
        let grads = Tensor::zeros([nparams], (Kind::Float, device()));
        let mut layout = HashMap::new();
        let mut offset = 0;
        tch::no_grad(|| {
            for (name, t) in &mut vars {
                let n = t.numel() as i64;
                let view = live.narrow(0, offset, n).view(t.size().as_slice());
                view.shallow_clone().copy_(t);
                t.set_data(&view);
                if rank(name) < 2 {
                    let gview = grads.narrow(0, offset, n).view(t.size().as_slice());
                    gview.shallow_clone().copy_(&t.grad());
                    t.grad().set_data(&gview);
                }
                layout.insert(name.clone(), (offset, t.size()));
                offset += n;
            }
        });
        // The views really are the variables and gradients now.
        let (name, _) = vars.iter().find(|(n, _)| rank(n) == 0).unwrap();
        let p = &params.iter().find(|p| &p.name == name).unwrap().tensor;
        assert_eq!(p.data_ptr(), live.data_ptr());
        assert_eq!(p.grad().data_ptr(), grads.data_ptr());
        Flat {
            square_avg: Tensor::ones([nparams], (Kind::Float, device())),
            momentum: Tensor::zeros([nparams], (Kind::Float, device())),
            shadow: live.copy(),
            live,
            grads,
            decayed,
            params: nparams,
            chunk,
            layout,
            _vs: vs,
        }
    }

    /// (start, length) pieces of [0, n).
    fn pieces(&self, n: i64) -> Vec<(i64, i64)> {
        let c = self.chunk.unwrap_or(n).max(1);
        (0..n)
            .step_by(c as usize)
            .map(|s| (s, c.min(n - s)))
            .collect()
    }

    fn decay_and_clip(&self) {
        tch::no_grad(|| {
            for (s, n) in self.pieces(self.decayed) {
                let _ = self
                    .grads
                    .narrow(0, s, n)
                    .g_add_(&(self.live.narrow(0, s, n) * WD));
            }
            let total = self.grads.norm();
            let coef = ((&total + 1e-6).reciprocal() * CLIP).clamp_max(1.0);
            let _ = self.grads.shallow_clone().g_mul_(&coef);
        });
    }

    /// TF-style RMSProp with momentum, as src/optim/rmsprop.rs.
    fn rmsprop(&self) {
        let RmsPropConfig {
            lr,
            alpha,
            eps,
            momentum,
            ..
        } = rmsprop();
        tch::no_grad(|| {
            for (s, n) in self.pieces(self.params) {
                let g = self.grads.narrow(0, s, n);
                let mut v = self.square_avg.narrow(0, s, n);
                let mut buf = self.momentum.narrow(0, s, n);
                let mut p = self.live.narrow(0, s, n);
                let _ = v.g_mul_scalar_(alpha);
                let _ = v.addcmul_(&(&g * (1.0 - alpha)), &g);
                let avg = (&v + eps).sqrt_();
                let _ = buf.g_mul_scalar_(momentum);
                let _ = buf.addcdiv_(&(&g * lr), &avg);
                let _ = p.g_sub_(&buf);
            }
        });
    }

    fn ema(&self, w: f64) {
        tch::no_grad(|| {
            for (s, n) in self.pieces(self.live.numel() as i64) {
                let _ = self
                    .shadow
                    .narrow(0, s, n)
                    .lerp_(&self.live.narrow(0, s, n), w);
            }
        });
    }

    fn view(&self, t: &Tensor, name: &str) -> Tensor {
        let (offset, shape) = &self.layout[name];
        let n: i64 = shape.iter().product();
        t.narrow(0, *offset, n).view(shape.as_slice())
    }
}

/// Largest |a - b| / (1 + |b|) between the two forms of paperlab's code:
/// parameters, optimizer state and shadow.
fn compare_lists(per: &PerTensor, multi: &PerTensor) -> f64 {
    let mut worst = 0f64;
    let mut check = |a: &Tensor, b: &Tensor| {
        let b = b.to_kind(Kind::Double);
        let d = ((a.to_kind(Kind::Double) - &b).abs() / (b.abs() + 1.0))
            .max()
            .double_value(&[]);
        worst = worst.max(d);
    };
    for (p, q) in per.opt.params().iter().zip(multi.opt.params()) {
        check(&q.tensor, &p.tensor);
    }
    for ((_, a), (_, b)) in per.opt.state().iter().zip(multi.opt.state()) {
        check(&b, a);
    }
    for ((_, a), (_, b)) in per.ema.state().iter().zip(multi.ema.state()) {
        check(&b, a);
    }
    worst
}

/// Largest |a - b| / (1 + |b|) over the parameters, buffers and shadow.
fn compare(per: &PerTensor, flat: &Flat) -> f64 {
    let mut worst = 0f64;
    let mut check = |a: &Tensor, b: &Tensor| {
        let d = ((a - b).abs() / (b.abs() + 1.0)).max().double_value(&[]);
        worst = worst.max(d);
    };
    for p in per.opt.params() {
        check(&flat.view(&flat.live, &p.name), &p.tensor);
    }
    for (key, t) in per.opt.state() {
        for (prefix, buf) in [
            ("square_avg.", &flat.square_avg),
            ("momentum.", &flat.momentum),
        ] {
            if let Some(name) = key.strip_prefix(prefix) {
                check(&flat.view(buf, name), &t);
            }
        }
    }
    for (key, t) in per.ema.state() {
        check(&flat.view(&flat.shadow, &key["ema.".len()..]), &t);
    }
    worst
}

fn main() {
    tch::set_num_threads(env("BENCH_THREADS", 1) as i32);
    let (runs, warmup) = (env("BENCH_RUNS", 10).max(1), env("BENCH_WARMUP", 2));
    let chunk = env("BENCH_CHUNK", 1 << 18) as i64;

    let mut per = PerTensor::new(UpdateImpl::PerTensor);
    let mut multi = PerTensor::new(UpdateImpl::Foreach);
    let forms = [
        ("flat", Flat::new(None)),
        ("flat-chunked", Flat::new(Some(chunk))),
    ];
    let params: i64 = per
        .opt
        .params()
        .iter()
        .map(|p| p.tensor.numel() as i64)
        .sum();
    println!(
        "INFO inception_v4 on {:?}: {} parameter tensors ({params} values), {} variables ({} values); threads {}, chunk {chunk}",
        device(),
        per.opt.params().len(),
        forms[0].1.layout.len(),
        forms[0].1.live.numel(),
        tch::get_num_threads()
    );
    assert_eq!(params, forms[0].1.params);

    // Same start, same gradients: three steps of each must agree.
    for (_, f) in &forms {
        tch::no_grad(|| {
            for p in per.opt.params() {
                f.view(&f.live, &p.name).copy_(&p.tensor);
                f.view(&f.grads, &p.name).copy_(&p.tensor.grad());
            }
            f.shadow.shallow_clone().copy_(&f.live);
        });
    }
    let saved: Vec<Tensor> = per
        .opt
        .params()
        .iter()
        .map(|p| p.tensor.grad().copy())
        .collect();
    for step in 0..3 {
        per.step(&saved, step);
        multi.step(&saved, step);
        for (_, f) in &forms {
            tch::no_grad(|| {
                for (p, g) in per.opt.params().iter().zip(&saved) {
                    f.view(&f.grads, &p.name).copy_(g);
                }
            });
            f.decay_and_clip();
            f.rmsprop();
            f.ema(1.0 - per.ema.decay_at(step));
        }
    }
    let d = compare_lists(&per, &multi);
    println!("  check foreach       max relative difference to per-tensor after 3 steps: {d:.2e}");
    assert!(d < 1e-5, "foreach differs from per-tensor by {d}");
    for (name, f) in &forms {
        let d = compare(&per, f);
        println!("  check {name:<13} max relative difference to per-tensor after 3 steps: {d:.2e}");
        assert!(d < 1e-5, "{name} differs from per-tensor by {d}");
    }

    let parts = ["decay+clip", "rmsprop", "ema", "total"];
    let mut samples: HashMap<(&str, &str), Vec<f64>> = HashMap::new();
    let sync = || {
        if let Device::Cuda(i) = device() {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let time = |f: &mut dyn FnMut()| {
        sync();
        let t = Instant::now();
        f();
        sync();
        t.elapsed().as_secs_f64() * 1e3
    };
    for run in 0..warmup + runs {
        let step = 3 + run as i64;
        let a = time(&mut || per.decay_and_clip());
        let b = time(&mut || per.opt.step());
        let c = time(&mut || per.ema.update(step));
        let mut rows = vec![("per-tensor", [a, b, c])];
        let a = time(&mut || multi.decay_and_clip());
        let b = time(&mut || multi.opt.step());
        let c = time(&mut || multi.ema.update(step));
        rows.push(("foreach", [a, b, c]));
        for (name, f) in &forms {
            let w = 1.0 - per.ema.decay_at(step);
            let a = time(&mut || f.decay_and_clip());
            let b = time(&mut || f.rmsprop());
            let c = time(&mut || f.ema(w));
            rows.push((name, [a, b, c]));
        }
        if run >= warmup {
            for (name, [a, b, c]) in rows {
                for (part, ms) in parts.iter().zip([a, b, c, a + b + c]) {
                    samples.entry((name, part)).or_default().push(ms);
                }
            }
        }
    }
    println!("  median ms over {runs} steps (after {warmup} warm-up)");
    println!(
        "  {:<13}{}",
        "form",
        parts.iter().map(|p| format!("{p:>12}")).collect::<String>()
    );
    for name in ["per-tensor", "foreach", "flat", "flat-chunked"] {
        let cells: String = parts
            .iter()
            .map(|p| format!("{:>12.1}", median(samples.get_mut(&(name, *p)).unwrap())))
            .collect();
        println!("  {name:<13}{cells}");
    }
    for name in ["per-tensor", "foreach", "flat", "flat-chunked"] {
        for p in parts {
            let ms = median(samples.get_mut(&(name, p)).unwrap());
            println!("RESULT {name} {p} {ms:.2}");
        }
    }
}
