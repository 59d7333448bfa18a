//! Benchmark (not a test) of fractional max-pooling on the CPU; `make bench-fmp`
//! runs it through scripts/bench_fmp.sh next to scripts/bench_fmp.py.
//!
//! (a) The FMP layer (src/layers/fmp.rs), forward + backward of the sum of its
//!     output, against libtorch's own `fractional_max_pool2d` (PyTorch's kernel,
//!     2x2 windows) on the same input and output size.
//! (b) One training step (forward, cross-entropy, backward, SGD momentum step)
//!     of the MNIST FMP net (L=6, n=32, alpha sqrt 2, 36x36 input) at batch 100.
//!
//! Every timing is the median of BENCH_RUNS runs (default 30) after
//! BENCH_WARMUP warm-up runs (default 5), with BENCH_THREADS intra-op threads
//! (default: libtorch's own default, the number of cores). Lines starting with
//! `RESULT name ms` are for scripts; `INFO key value` lines describe the setup.
//!
//! Sections marked PROTOTYPE are alternative implementations of the layer,
//! written here only to measure them against the one in src/; they are checked
//! against `Fmp::forward_with` (same output, same input gradient) before they
//! are timed.

use paperlab::fmp::model::{net, NetConfig, Pool};
use paperlab::layers::activation::leaky_relu;
use paperlab::layers::fmp::{Fmp, Regions, Sequence, Share};
use paperlab::optim::{params_of, Optimizer, Sgd};
use std::time::Instant;
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Timer {
    warmup: usize,
    runs: usize,
}

impl Timer {
    /// Median wall time of `f` in milliseconds.
    fn median_ms(&self, f: impl FnMut()) -> f64 {
        let mut fs: Vec<Box<dyn FnMut() + '_>> = vec![Box::new(f)];
        self.medians(&mut fs)[0].0
    }

    /// (median, min) wall time in ms of each closure, run round-robin (one run
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
                let start = Instant::now();
                f();
                t.push(start.elapsed().as_secs_f64() * 1e3);
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
    println!("  {name:<44} {ms:>9.3} ms  {note}");
    println!("RESULT {name} {ms:.4}");
}

/// Gradient of sum(pool(x)) with respect to x, without touching x.grad().
fn grad_of_sum(y: &Tensor, x: &Tensor) -> Tensor {
    Tensor::run_backward(&[y.sum(Kind::Float)], &[x], false, false).remove(0)
}

// ---------------------------------------------------------------------------
// PROTOTYPE: FMP as stride-1 max-pooling followed by a gather of the outputs.
//
// Along one axis every region [start, end] has one of at most two lengths:
// floor(alpha) or ceil(alpha) (disjoint), one more than that (overlapping;
// the last overlapping region, clamped to N_in - 1, becomes a full-length
// region once the axis is padded with -inf by one pixel, which max_pool2d's
// `padding` does). So max over a region = (stride-1 max-pool with a window of
// that length)[start], and a single gather of N_out entries from the (at most
// two) pooled maps replaces the gather of N_out * K entries and the max over K.
// Backward is max_pool2d's own index-based backward plus a scatter of N_out
// entries instead of N_out * K.
// ---------------------------------------------------------------------------

/// The lengths of the regions along one axis and the padding that makes the
/// clamped last region full-length: (lo, hi, pad).
fn region_lengths(fmp: &Fmp, n_in: i64, n_out: i64) -> (i64, i64, i64) {
    let floor = n_in / n_out;
    let ceil = (n_in + n_out - 1) / n_out;
    match fmp.regions {
        Regions::Disjoint => (floor, ceil, 0),
        Regions::Overlapping => (floor + 1, ceil + 1, 1),
    }
}

/// Stride-1 max-pool of `x` along `dim` (2 or 3) with window `k`, padded by
/// `pad` on both sides (-inf); output length n + 2 pad - k + 1.
fn sliding_max(x: &Tensor, dim: i64, k: i64, pad: i64) -> Tensor {
    if k == 1 && pad == 0 {
        return x.shallow_clone();
    }
    let (kernel, padding) = if dim == 2 {
        ([k, 1], [pad, 0])
    } else {
        ([1, k], [0, pad])
    };
    x.max_pool2d(kernel, [1, 1], padding, [1, 1], false)
}

/// Gather `idx` [S, N] along `dim` of `x` [B, C, H, W]; S is B or 1.
fn gather_axis(x: &Tensor, idx: &Tensor, dim: i64) -> Tensor {
    let (s, n) = idx.size2().unwrap();
    if s == 1 {
        return x.index_select(dim, &idx.view([-1]));
    }
    let mut shape = vec![s, 1, 1, 1];
    shape[dim as usize] = n;
    let mut expanded = x.size();
    expanded[dim as usize] = n;
    x.gather(
        dim,
        &idx.view(shape.as_slice())
            .expand(expanded.as_slice(), false),
        false,
    )
}

/// One axis: max over each region = a stride-1 max-pool read at the region's start.
fn proto_pool_axis(fmp: &Fmp, x: &Tensor, bounds: &Tensor, dim: i64) -> Tensor {
    let n_in = x.size()[dim as usize];
    let n_out = bounds.size()[1] - 1;
    let (lo, hi, pad) = region_lengths(fmp, n_in, n_out);
    let start = bounds.narrow(1, 0, n_out);
    let m_lo = sliding_max(x, dim, lo, pad);
    if lo == hi {
        return gather_axis(&m_lo, &(start + pad), dim);
    }
    let len_lo = m_lo.size()[dim as usize];
    let m = Tensor::cat(&[m_lo, sliding_max(x, dim, hi, pad)], dim);
    let step = bounds.narrow(1, 1, n_out) - &start;
    // A long region (increment ceil(alpha)) reads the second map.
    let idx = start + pad + step.eq(hi - pad).to_kind(Kind::Int64) * len_lo;
    gather_axis(&m, &idx, dim)
}

/// PROTOTYPE 1: separable, rows then columns.
fn proto_separable(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    let x = proto_pool_axis(fmp, x, rows, 2);
    proto_pool_axis(fmp, &x, cols, 3)
}

/// PROTOTYPE 2: 2-D, one max_pool2d per (row length, column length) pair
/// (at most four) and a single gather of N_out^2 entries per image.
fn proto_2d(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    let (b, c, h, w) = x.size4().unwrap();
    let (ho, wo) = (rows.size()[1] - 1, cols.size()[1] - 1);
    let (rlo, rhi, pad) = region_lengths(fmp, h, ho);
    let (clo, chi, _) = region_lengths(fmp, w, wo);
    let rlens: Vec<i64> = if rlo == rhi {
        vec![rlo]
    } else {
        vec![rlo, rhi]
    };
    let clens: Vec<i64> = if clo == chi {
        vec![clo]
    } else {
        vec![clo, chi]
    };
    let mut maps = vec![];
    let mut offsets = vec![]; // (kr, kc, offset, row stride)
    let mut offset = 0;
    for &kr in &rlens {
        for &kc in &clens {
            let m = if kr == 1 && kc == 1 {
                x.shallow_clone()
            } else {
                x.max_pool2d([kr, kc], [1, 1], [pad, pad], [1, 1], false)
            };
            let (_, _, mh, mw) = m.size4().unwrap();
            offsets.push((kr, kc, offset, mw));
            offset += mh * mw;
            maps.push(m.view([b, c, mh * mw]));
        }
    }
    let flat = Tensor::cat(&maps, 2);
    let rstart = rows.narrow(1, 0, ho);
    let rlen = rows.narrow(1, 1, ho) - &rstart + pad; // region length per row
    let cstart = cols.narrow(1, 0, wo);
    let clen = cols.narrow(1, 1, wo) - &cstart + pad;
    // idx[s, i, j] = offset(len_i, len_j) + (rstart_i + pad) * stride + cstart_j + pad
    let mut idx = Tensor::zeros(
        [rows.size()[0].max(cols.size()[0]), ho, wo],
        (Kind::Int64, CPU),
    );
    for &(kr, kc, off, stride) in &offsets {
        let sel = rlen
            .eq(kr)
            .unsqueeze(2)
            .logical_and(&clen.eq(kc).unsqueeze(1));
        let at = (&rstart + pad).unsqueeze(2) * stride + (&cstart + pad).unsqueeze(1) + off;
        idx = at.where_self(&sel, &idx);
    }
    let s = idx.size()[0];
    let out = if s == 1 {
        flat.index_select(2, &idx.view([-1]))
    } else {
        flat.gather(
            2,
            &idx.view([s, 1, ho * wo]).expand([b, c, ho * wo], false),
            false,
        )
    };
    out.view([b, c, ho, wo])
}

// ---------------------------------------------------------------------------
// PROTOTYPE 0: the algorithm of src/layers/fmp.rs (gather N_out * K, max over
// K), copied so that its parts can be timed separately.
// ---------------------------------------------------------------------------

fn current_indices(fmp: &Fmp, bounds: &Tensor, n_in: i64) -> Tensor {
    let n_out = bounds.size()[1] - 1;
    let start = bounds.narrow(1, 0, n_out);
    let next = bounds.narrow(1, 1, n_out);
    let ceil_alpha = (n_in + n_out - 1) / n_out;
    let (end, k) = match fmp.regions {
        Regions::Disjoint => (next - 1, ceil_alpha),
        Regions::Overlapping => (next.clamp_max(n_in - 1), ceil_alpha + 1),
    };
    let offsets = Tensor::arange(k, (Kind::Int64, bounds.device()));
    (start.unsqueeze(2) + offsets).minimum(&end.unsqueeze(2))
}

fn current_gather(x: &Tensor, idx: &Tensor, dim: i64) -> Tensor {
    let (s, n_out, k) = idx.size3().unwrap();
    if s == 1 {
        return x.index_select(dim, &idx.view([-1]));
    }
    let mut shape = vec![s, 1, 1, 1];
    shape[dim as usize] = n_out * k;
    let mut expanded = x.size();
    expanded[dim as usize] = n_out * k;
    x.gather(
        dim,
        &idx.view(shape.as_slice())
            .expand(expanded.as_slice(), false),
        false,
    )
}

fn current_max(g: &Tensor, dim: i64, n_out: i64, k: i64) -> Tensor {
    let mut split = g.size();
    split[dim as usize] = n_out;
    split.insert(dim as usize + 1, k);
    g.view(split.as_slice()).max_dim(dim + 1, false).0
}

struct LayerCase {
    label: &'static str,
    batch: i64,
    channels: i64,
    n_in: i64,
    n_out: i64,
    alpha: f64,
}

fn bench_layer(t: &Timer, case: &LayerCase) -> f64 {
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
    let count_of = |f: &Fmp| if f.share == Share::Batch { 1 } else { b };
    let tag_of = |f: &Fmp| {
        format!(
            "{}_{}_{}",
            if f.sequence == Sequence::Pseudorandom {
                "pseudo"
            } else {
                "random"
            },
            if f.regions == Regions::Overlapping {
                "overlap"
            } else {
                "disjoint"
            },
            if f.share == Share::Batch {
                "batch"
            } else {
                "image"
            }
        )
    };

    // Everything timed here runs forward + backward of sum(output), drawing
    // fresh sequences (ours) or fresh samples (PyTorch's) every run.
    let mut names: Vec<String> = vec![];
    let mut fs: Vec<Box<dyn FnMut() + '_>> = vec![];
    // PyTorch's kernel: 2x2 windows, one u per (image, channel) and axis.
    names.push("torch_kernel".into());
    fs.push(Box::new(move || {
        let samples = Tensor::rand([b, c, 2], (Kind::Float, CPU));
        let (y, _) = x.fractional_max_pool2d([2, 2], [n_out, n_out], &samples);
        let _ = grad_of_sum(&y, x);
    }));
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
    ];
    for fmp in variants {
        names.push(format!("ours_{}", tag_of(&fmp)));
        fs.push(Box::new(move || {
            let y = fmp.forward(x);
            let _ = grad_of_sum(&y, x);
        }));
    }
    // PROTOTYPES, first checked against forward_with on the same sequences.
    let protos: [(&str, Proto); 2] = [
        ("proto_separable_maxpool", proto_separable),
        ("proto_2d_maxpool", proto_2d),
    ];
    for fmp in [
        base,
        Fmp {
            share: Share::Batch,
            ..base
        },
        Fmp {
            regions: Regions::Disjoint,
            ..base
        },
    ] {
        let count = count_of(&fmp);
        let rows = fmp.boundaries(n_in, n_out, count, CPU);
        let cols = fmp.boundaries(n_in, n_out, count, CPU);
        let want = fmp.forward_with(x, &rows, &cols);
        let want_g = grad_of_sum(&want, x);
        for (pname, f) in protos {
            let got = f(&fmp, x, &rows, &cols);
            let got_g = grad_of_sum(&got, x);
            let dy = (&got - &want).abs().max().double_value(&[]);
            let dg = (&got_g - &want_g).abs().max().double_value(&[]);
            assert!(
                got.size() == want.size() && dy == 0.0 && dg == 0.0,
                "{pname} {} differs from forward_with: |dy| {dy}, |dg| {dg}",
                tag_of(&fmp)
            );
            names.push(format!("{pname}_{}", tag_of(&fmp)));
            fs.push(Box::new(move || {
                let rows = fmp.boundaries(n_in, n_out, count, CPU);
                let cols = fmp.boundaries(n_in, n_out, count, CPU);
                let y = f(&fmp, x, &rows, &cols);
                let _ = grad_of_sum(&y, x);
            }));
        }
    }
    let res = t.medians(&mut fs);
    drop(fs);
    let torch_ms = res[0].0;
    for (name, &(ms, min)) in names.iter().zip(&res) {
        let note = if name.starts_with("proto") {
            format!(
                "{:5.2}x kernel  (min {min:.2}; PROTOTYPE, output and grad identical to src)",
                ms / torch_ms
            )
        } else {
            format!("{:5.2}x kernel  (min {min:.2})", ms / torch_ms)
        };
        report(&format!("layer/{label}/{name}"), ms, &note);
    }
    let main_ms = res[1].0;

    // Where the time goes in the default (pseudorandom, overlapping, per image).
    println!("  -- breakdown of ours_pseudo_overlap_image, and PyTorch's kernel forward only --");
    let fmp = base;
    let torch_fwd = t.median_ms(|| {
        let samples = Tensor::rand([b, c, 2], (Kind::Float, CPU));
        let _ = x.fractional_max_pool2d([2, 2], [n_out, n_out], &samples);
    });
    report(
        &format!("layer/{label}/torch_kernel_fwd"),
        torch_fwd,
        "forward only (with autograd graph)",
    );
    let seq_ms = t.median_ms(|| {
        let _ = fmp.boundaries(n_in, n_out, b, CPU);
        let _ = fmp.boundaries(n_in, n_out, b, CPU);
    });
    report(
        &format!("layer/{label}/part_sequences"),
        seq_ms,
        "2x boundaries()",
    );
    let random = Fmp {
        sequence: Sequence::Random,
        ..fmp
    };
    let rand_seq_ms = t.median_ms(|| {
        let _ = random.boundaries(n_in, n_out, b, CPU);
        let _ = random.boundaries(n_in, n_out, b, CPU);
    });
    report(
        &format!("layer/{label}/part_sequences_random"),
        rand_seq_ms,
        "2x boundaries(), Random (two argsorts)",
    );
    let rows = fmp.boundaries(n_in, n_out, b, CPU);
    let cols = fmp.boundaries(n_in, n_out, b, CPU);
    let ridx = current_indices(&fmp, &rows, n_in);
    let cidx = current_indices(&fmp, &cols, n_in);
    let k = ridx.size()[2];
    let idx_ms = t.median_ms(|| {
        let _ = current_indices(&fmp, &rows, n_in);
        let _ = current_indices(&fmp, &cols, n_in);
    });
    report(
        &format!("layer/{label}/part_region_indices"),
        idx_ms,
        &format!("2x region_indices, K = {k}"),
    );
    let xd = x.detach();
    let g_rows = current_gather(&xd, &ridx, 2);
    let r = current_max(&g_rows, 2, n_out, k);
    let g_cols = current_gather(&r, &cidx, 3);
    let parts: [(&str, Box<dyn Fn()>, String); 4] = [
        (
            "part_rows_gather",
            Box::new(|| drop(current_gather(&xd, &ridx, 2))),
            format!("no grad, -> {:?}", g_rows.size()),
        ),
        (
            "part_rows_max_dim",
            Box::new(|| drop(current_max(&g_rows, 2, n_out, k))),
            "no grad, max over K (not the last dim)".into(),
        ),
        (
            "part_cols_gather",
            Box::new(|| drop(current_gather(&r, &cidx, 3))),
            format!("no grad, -> {:?}", g_cols.size()),
        ),
        (
            "part_cols_max_dim",
            Box::new(|| drop(current_max(&g_cols, 3, n_out, k))),
            "no grad, max over K (the last dim)".into(),
        ),
    ];
    for (name, f, note) in parts {
        let ms = t.median_ms(|| f());
        report(&format!("layer/{label}/{name}"), ms, &note);
    }
    let fwd_ms = t.median_ms(|| {
        let _ = fmp.forward_with(&x, &rows, &cols);
    });
    report(
        &format!("layer/{label}/part_forward_with"),
        fwd_ms,
        "fixed sequences, with autograd graph",
    );
    let fb_ms = t.median_ms(|| {
        let y = fmp.forward_with(&x, &rows, &cols);
        let _ = grad_of_sum(&y, &x);
    });
    report(
        &format!("layer/{label}/part_backward"),
        fb_ms - fwd_ms,
        "(fwd+bwd) - fwd, fixed sequences",
    );
    main_ms / torch_ms
}

// ---------------------------------------------------------------------------
// (b) One training step of the MNIST FMP net.
// ---------------------------------------------------------------------------

type Proto = fn(&Fmp, &Tensor, &Tensor, &Tensor) -> Tensor;

fn mnist_config() -> NetConfig {
    NetConfig {
        layers: 6,
        filters: 32,
        pool: Pool::Fmp,
        fmp: Fmp::new(2f64.sqrt(), Sequence::Pseudorandom, Regions::Overlapping),
        dropout: vec![0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        slope: 0.333,
        in_channels: 1,
        classes: 10,
    }
}

/// PROTOTYPE: the same net as src/fmp/model.rs (same variables, same order of
/// operations), with a pluggable pooling function and leaky ReLU, to measure
/// the effect of the prototypes on a whole step.
#[derive(Debug)]
struct ProtoNet {
    convs: Vec<nn::Conv2D>,
    sizes: Vec<(i64, i64)>,
    classifier: nn::Linear,
    cfg: NetConfig,
    pool: Proto,
    fused_leaky: bool,
}

impl ProtoNet {
    fn new(p: &nn::Path, cfg: &NetConfig, pool: Proto, fused_leaky: bool) -> ProtoNet {
        let (l, n) = (cfg.layers, cfg.filters);
        let mut convs = vec![];
        let mut input = cfg.in_channels;
        for j in 0..l + 2 {
            let w = n * (j + 1);
            let kernel = if j == l + 1 { 1 } else { 2 };
            convs.push(nn::conv2d(
                p / format!("conv{}", j + 1),
                input,
                w,
                kernel,
                Default::default(),
            ));
            input = w;
        }
        ProtoNet {
            convs,
            sizes: cfg.pool_sizes(),
            classifier: nn::linear(p / "classifier", input, cfg.classes, Default::default()),
            cfg: cfg.clone(),
            pool,
            fused_leaky,
        }
    }
}

impl ModuleT for ProtoNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        let b = x.size()[0];
        for (j, conv) in self.convs.iter().enumerate() {
            let y = x.dropout(self.cfg.dropout[j], train).apply(conv);
            x = if self.fused_leaky {
                // One op forward and backward; prelu with a constant weight.
                y.prelu(&Tensor::from_slice(&[self.cfg.slope as f32]))
            } else {
                leaky_relu(&y, self.cfg.slope)
            };
            if let Some(&(into, out)) = self.sizes.get(j) {
                let fmp = Fmp {
                    output: Some((out, out)),
                    ..self.cfg.fmp
                };
                let count = if fmp.share == Share::Batch { 1 } else { b };
                let rows = fmp.boundaries(into, out, count, CPU);
                let cols = fmp.boundaries(into, out, count, CPU);
                x = (self.pool)(&fmp, &x, &rows, &cols);
            }
        }
        x.flatten(1, -1).apply(&self.classifier)
    }
}

fn current_pool(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    fmp.forward_with(x, rows, cols)
}

fn bench_step(t: &Timer) -> f64 {
    let cfg = mnist_config();
    let size = cfg.input_size();
    let batch = 100;
    println!(
        "\n[step] MNIST FMP net: L={} n={} alpha {:.4} pools {:?}, input {}x{size}x{size}, batch {batch}, dropout {:?}, SGD lr 0.003 momentum 0.9",
        cfg.layers,
        cfg.filters,
        cfg.fmp.alpha,
        cfg.pool_sizes(),
        cfg.in_channels,
        cfg.dropout
    );
    let x = Tensor::rand([batch, cfg.in_channels, size, size], (Kind::Float, CPU));
    let y = Tensor::randint(cfg.classes, [batch], (Kind::Int64, CPU));

    let torch_pool: Proto = |_, x, rows, _| {
        let (b, c, _, _) = x.size4().unwrap();
        let n = rows.size()[1] - 1;
        x.fractional_max_pool2d([2, 2], [n, n], &Tensor::rand([b, c, 2], (Kind::Float, CPU)))
            .0
    };
    // name, pooling (None: the net of src/fmp/model.rs), prelu, note
    let setups: [(&str, Option<Proto>, bool, &str); 7] = [
        ("mnist_fmp_net", None, false, "the net of src/fmp/model.rs"),
        (
            "proto_net_current_pool",
            Some(current_pool),
            false,
            "PROTOTYPE net rebuilt here, src pooling (sanity check)",
        ),
        (
            "proto_net_torch_kernel_pool",
            Some(torch_pool),
            false,
            "PROTOTYPE: FMP -> PyTorch's kernel",
        ),
        (
            "proto_net_separable_maxpool",
            Some(proto_separable),
            false,
            "PROTOTYPE: proto_separable_maxpool pooling",
        ),
        (
            "proto_net_2d_maxpool",
            Some(proto_2d),
            false,
            "PROTOTYPE: proto_2d_maxpool pooling",
        ),
        (
            "proto_net_current_pool_prelu",
            Some(current_pool),
            true,
            "PROTOTYPE: src pooling, leaky ReLU as one prelu op",
        ),
        (
            "proto_net_separable_maxpool_prelu",
            Some(proto_separable),
            true,
            "PROTOTYPE: separable pooling + prelu",
        ),
    ];
    let mut nets: Vec<(VarStore, Box<dyn ModuleT>)> = vec![];
    for (_, pool, prelu, _) in setups {
        let vs = VarStore::new(CPU);
        let model: Box<dyn ModuleT> = match pool {
            None => Box::new(net(&vs.root(), &cfg)),
            Some(pool) => Box::new(ProtoNet::new(&vs.root(), &cfg, pool, prelu)),
        };
        nets.push((vs, model));
    }
    let mut fs: Vec<Box<dyn FnMut() + '_>> = vec![];
    for (vs, model) in &nets {
        let mut opt = Sgd::new(params_of(vs), 0.003);
        opt.momentum = 0.9;
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
    for ((name, _, _, note), &(ms, min)) in setups.iter().zip(&res) {
        report(
            &format!("step/{name}"),
            ms,
            &format!("{:5.2}x src net  (min {min:.2}; {note})", ms / res[0].0),
        );
    }
    res[0].0
}

fn main() {
    let threads = env_usize("BENCH_THREADS", tch::get_num_threads() as usize) as i32;
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let t = Timer {
        warmup: env_usize("BENCH_WARMUP", 5),
        runs: env_usize("BENCH_RUNS", 30),
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default(); // "", "layer" or "step"
    println!("INFO threads {}", tch::get_num_threads());
    println!("INFO interop_threads {}", tch::get_num_interop_threads());
    println!("INFO warmup {} runs {}", t.warmup, t.runs);
    println!("INFO device cpu");
    println!(
        "fractional max-pooling benchmark: median of {} runs after {} warm-up, {} threads",
        t.runs,
        t.warmup,
        tch::get_num_threads()
    );

    if only.is_empty() || only == "layer" {
        let cases = [
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
        for case in &cases {
            let ratio = bench_layer(&t, case);
            println!("RATIO layer/{} {ratio:.3}", case.label);
        }
    }
    if only.is_empty() || only == "step" {
        bench_step(&t);
    }
}
