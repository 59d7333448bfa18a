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
//! (default: libtorch's own default, the number of cores). Measurements that
//! are compared with each other run round-robin. Lines starting with
//! `RESULT name ms` are for scripts; `INFO key value` lines describe the setup.
//!
//! Other settings: BENCH_ONLY=layer|step; BENCH_CASE=<substring of a layer
//! case>; BENCH_CLOCK=cpu (process CPU time instead of wall time: with
//! BENCH_THREADS=1, barely moved by other jobs on a shared machine);
//! BENCH_PARTS=1 (break the layer's time into its parts); BENCH_PROTO=1 (also
//! time the prototypes below, in the layer and in the whole net);
//! BENCH_VARIANT=<substring> (only those prototypes); BENCH_KEYS_CHUNK_MB.
//!
//! Sections marked PROTOTYPE are alternative implementations of the layer,
//! written here only to measure them against the one in src/; each is checked
//! against `Fmp::forward_with` (same output, same input gradient) before it is
//! timed. `proto_keys_chunked` is the one proposed for src/layers/fmp.rs.

use paperlab::fmp::model::{net, NetConfig, Pool};
use paperlab::layers::activation::leaky_relu;
use paperlab::layers::fmp::{Fmp, Regions, Sequence, Share};
use paperlab::optim::{params_of, Optimizer, Sgd, SgdConfig};
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

/// PROTOTYPE 3: src's gather of N_out * K entries, with other ways to take the
/// max over K (and, for a batch-shared sequence, gather instead of index_select).
#[derive(Clone, Copy, PartialEq)]
enum Reduce {
    /// src: view [.., N_out, K, ..] and max_dim (returns indices; backward scatters).
    MaxDim,
    /// amax over K: no indices; backward is a mask (ties share the gradient).
    Amax,
    /// max_pool2d with a K x 1 (or 1 x K) window and stride K on the gathered tensor.
    MaxPool,
}

fn reduce_k(g: &Tensor, dim: i64, n_out: i64, k: i64, r: Reduce) -> Tensor {
    let mut split = g.size();
    split[dim as usize] = n_out;
    split.insert(dim as usize + 1, k);
    match r {
        Reduce::MaxDim => g.view(split.as_slice()).max_dim(dim + 1, false).0,
        Reduce::Amax => g.view(split.as_slice()).amax([dim + 1], false),
        Reduce::MaxPool => {
            let kernel = if dim == 2 { [k, 1] } else { [1, k] };
            g.max_pool2d(kernel, kernel, [0, 0], [1, 1], false)
        }
    }
}

fn gather_reduce(
    fmp: &Fmp,
    x: &Tensor,
    rows: &Tensor,
    cols: &Tensor,
    r: Reduce,
    expand_shared: bool,
) -> Tensor {
    let mut x = x.shallow_clone();
    for (bounds, dim) in [(rows, 2), (cols, 3)] {
        let idx = current_indices(fmp, bounds, x.size()[dim as usize]);
        let (s, n_out, k) = idx.size3().unwrap();
        let g = if s == 1 && expand_shared {
            let mut shape = vec![1, 1, 1, 1];
            shape[dim as usize] = n_out * k;
            let mut expanded = x.size();
            expanded[dim as usize] = n_out * k;
            x.gather(
                dim,
                &idx.view(shape.as_slice())
                    .expand(expanded.as_slice(), false),
                false,
            )
        } else {
            current_gather(&x, &idx, dim)
        };
        x = reduce_k(&g, dim, n_out, k, r);
    }
    x
}

fn proto_amax(f: &Fmp, x: &Tensor, r: &Tensor, c: &Tensor) -> Tensor {
    gather_reduce(f, x, r, c, Reduce::Amax, true)
}
fn proto_maxpool_k(f: &Fmp, x: &Tensor, r: &Tensor, c: &Tensor) -> Tensor {
    gather_reduce(f, x, r, c, Reduce::MaxPool, true)
}
fn proto_maxdim_gather_shared(f: &Fmp, x: &Tensor, r: &Tensor, c: &Tensor) -> Tensor {
    gather_reduce(f, x, r, c, Reduce::MaxDim, true)
}

/// PROTOTYPE 4: find the argmax without autograd, then one gather with autograd.
/// Both separable passes (gather N_out * K, max_dim over K) run under no_grad
/// and keep max_dim's indices; the row and column of each output's max are
/// turned into a flat index into H * W, and the output is a single gather of
/// x.view([B, C, H * W]) at those indices. Forward values and the element that
/// receives each gradient are exactly src's (same max_dim on the same data);
/// backward is one scatter_add of B * C * N_out^2 values (what PyTorch's own
/// kernel does with its saved indices) instead of two max_dim backwards (zero
/// fill + scatter of the N_out * K gathered tensors) and two gather backwards.
fn proto_argmax_gather(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    let (b, c, h, w) = x.size4().unwrap();
    let flat = tch::no_grad(|| {
        let xd = x.detach();
        // Rows: for every (output row i, column w), the input row of the max.
        let ridx = current_indices(fmp, rows, h); // [S, Ho, K]
        let (s, ho, k) = ridx.size3().unwrap();
        let g = current_gather(&xd, &ridx, 2).view([b, c, ho, k, w]);
        let (rval, rk) = g.max_dim(3, false); // [B, C, Ho, W]
        let rstart = ridx.select(2, 0).view([s, 1, ho, 1]);
        let rend = ridx.select(2, k - 1).view([s, 1, ho, 1]);
        let rrow = (rk + rstart).minimum(&rend); // [B, C, Ho, W]
                                                 // Columns: for every (i, j), the input column of the max.
        let cidx = current_indices(fmp, cols, w); // [S, Wo, K]
        let (s, wo, k) = cidx.size3().unwrap();
        let g = current_gather(&rval, &cidx, 3).view([b, c, ho, wo, k]);
        let (_, ck) = g.max_dim(4, false); // [B, C, Ho, Wo]
        let cstart = cidx.select(2, 0).view([s, 1, 1, wo]);
        let cend = cidx.select(2, k - 1).view([s, 1, 1, wo]);
        let ccol = (ck + cstart).minimum(&cend); // [B, C, Ho, Wo]
        let row = rrow.gather(3, &ccol, false);
        (row * w + ccol).view([b, c, ho * wo])
    });
    let (ho, wo) = (rows.size()[1] - 1, cols.size()[1] - 1);
    x.view([b, c, h * w])
        .gather(2, &flat, false)
        .view([b, c, ho, wo])
}

/// PROTOTYPE 5: argmax through int64 keys, then one gather
/// with autograd. Every input value becomes an int64 key whose high 32 bits are
/// the float's bits made order-preserving (negative floats get their magnitude
/// bits flipped) and whose low 32 bits are the pixel's flat index h * W + w;
/// the max of keys over a region is then the region's max value *and* where it
/// is. Both separable passes run on keys under no_grad: an index_select of
/// whole W-long rows (per-image sequences become one index over the merged
/// (image, row) axis of a [C, B * H, W] layout), and `amax` over K (a plain
/// reduction, no indices, several times faster than max_dim). The output is
/// a single gather of x at the winning pixels, so backward is one scatter_add
/// of B * C * N_out^2 gradients, as in PyTorch's kernel. Outputs are exactly
/// src's; gradients too, except that between equal values in one region the
/// larger pixel index wins (max_dim's choice is unspecified).
fn proto_keys(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    keys_pool(fmp, x, rows, cols, i64::MAX)
}

/// PROTOTYPE 5b (the proposed fix): proto_keys one block of channels at a time, so that the int64
/// temporaries stay near 4 MB (BENCH_KEYS_CHUNK_MB; reused by malloc, cache-sized) instead of
/// several times the input (for 50 x 64 x 94 x 94 the K-fold row gather alone
/// is 540 MB, which glibc maps fresh, and page-faults, on every call).
fn proto_keys_chunked(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    // BENCH_KEYS_CHUNK_MB: the block size (MB of int64 keys), default 4.
    let mb = env_usize("BENCH_KEYS_CHUNK_MB", 4) as i64;
    keys_pool(fmp, x, rows, cols, mb << 20)
}

fn keys_pool(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor, budget: i64) -> Tensor {
    let (b, c, h, w) = x.size4().unwrap();
    let (ho, wo) = (rows.size()[1] - 1, cols.size()[1] - 1);
    let chunk = (budget / (b * h * w * 8)).clamp(1, c);
    let flat = tch::no_grad(|| {
        let ridx = current_indices(fmp, rows, h);
        let cidx = current_indices(fmp, cols, w);
        let image = Tensor::arange(b, (Kind::Int64, x.device())).view([b, 1, 1]);
        let (kr, kc) = (ridx.size()[2], cidx.size()[2]);
        let rsel = (ridx.expand([b, ho, kr], false) + &image * h).view([-1]);
        let csel = (cidx.expand([b, wo, kc], false) + &image * w).view([-1]);
        let pix = Tensor::arange(h * w, (Kind::Int64, x.device())).view([1, 1, h, w]);
        let xd = x.detach();
        let parts: Vec<Tensor> = (0..c)
            .step_by(chunk as usize)
            .map(|c0| {
                let cc = chunk.min(c - c0);
                // [cc, B, H, W] keys.
                let mut bits = xd
                    .narrow(1, c0, cc)
                    .permute([1, 0, 2, 3])
                    .contiguous()
                    .view_dtype(Kind::Int);
                let mut flip = bits.bitwise_right_shift_tensor_scalar(31);
                let _ = flip.bitwise_and_(0x7fff_ffff_i64);
                let _ = bits.bitwise_xor_tensor_(&flip);
                let mut keys = bits.to_kind(Kind::Int64);
                let _ = keys.bitwise_left_shift_tensor_scalar_(32);
                let _ = keys.bitwise_or_tensor_(&pix);
                // Rows: [cc, B * H, W] -> [cc, B * Ho * K, W] -> max over K -> [cc, B, Ho, W].
                let m = keys
                    .view([cc, b * h, w])
                    .index_select(1, &rsel)
                    .view([cc, b, ho, kr, w])
                    .amax([3], false);
                // Columns: [cc, B * W, Ho] -> [cc, B * Wo * K, Ho] -> max over K -> [cc, B, Wo, Ho].
                let mt = m.transpose(2, 3).contiguous().view([cc, b * w, ho]);
                let mut mm = mt
                    .index_select(1, &csel)
                    .view([cc, b, wo, kc, ho])
                    .amax([3], false);
                let _ = mm.bitwise_and_(0xffff_ffff_i64);
                mm.permute([1, 0, 3, 2]) // [B, cc, Ho, Wo]
            })
            .collect();
        Tensor::cat(&parts, 1).view([b, c, ho * wo])
    });
    x.reshape([b, c, h * w])
        .gather(2, &flat, false)
        .view([b, c, ho, wo])
}

/// PROTOTYPE 5c: proto_keys_chunked with the merged (image, row) and (image,
/// column) axes first, so that both index_selects are along dim 0 of a 2-D
/// tensor (whole contiguous rows: ATen's fastest index_select path).
fn proto_keys_chunked_dim0(fmp: &Fmp, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
    let mb = env_usize("BENCH_KEYS_CHUNK_MB", 4) as i64;
    let (b, c, h, w) = x.size4().unwrap();
    let (ho, wo) = (rows.size()[1] - 1, cols.size()[1] - 1);
    let chunk = ((mb << 20) / (b * h * w * 8)).clamp(1, c);
    let flat = tch::no_grad(|| {
        let ridx = current_indices(fmp, rows, h);
        let cidx = current_indices(fmp, cols, w);
        let image = Tensor::arange(b, (Kind::Int64, x.device())).view([b, 1, 1]);
        let (kr, kc) = (ridx.size()[2], cidx.size()[2]);
        let rsel = (ridx.expand([b, ho, kr], false) + &image * h).view([-1]);
        let csel = (cidx.expand([b, wo, kc], false) + &image * w).view([-1]);
        // pix[h, w] = h * W + w, laid out as [1, H, 1, W].
        let pix = Tensor::arange(h * w, (Kind::Int64, x.device())).view([1, h, 1, w]);
        let xd = x.detach();
        let parts: Vec<Tensor> = (0..c)
            .step_by(chunk as usize)
            .map(|c0| {
                let cc = chunk.min(c - c0);
                // [B, H, cc, W] keys.
                let mut bits = xd
                    .narrow(1, c0, cc)
                    .permute([0, 2, 1, 3])
                    .contiguous()
                    .view_dtype(Kind::Int);
                let mut flip = bits.bitwise_right_shift_tensor_scalar(31);
                let _ = flip.bitwise_and_(0x7fff_ffff_i64);
                let _ = bits.bitwise_xor_tensor_(&flip);
                let mut keys = bits.to_kind(Kind::Int64);
                let _ = keys.bitwise_left_shift_tensor_scalar_(32);
                let _ = keys.bitwise_or_tensor_(&pix);
                // Rows: [B * H, cc * W] -> [B * Ho * K, cc * W] -> max over K -> [B, Ho, cc, W].
                let m = keys
                    .view([b * h, cc * w])
                    .index_select(0, &rsel)
                    .view([b, ho, kr, cc, w])
                    .amax([2], false);
                // Columns: [B * W, Ho * cc] -> [B * Wo * K, Ho * cc] -> max over K -> [B, Wo, Ho, cc].
                let mt = m.permute([0, 3, 1, 2]).contiguous().view([b * w, ho * cc]);
                let mut mm = mt
                    .index_select(0, &csel)
                    .view([b, wo, kc, ho, cc])
                    .amax([2], false);
                let _ = mm.bitwise_and_(0xffff_ffff_i64);
                mm.permute([0, 3, 2, 1]) // [B, cc, Ho, Wo]
            })
            .collect();
        Tensor::cat(&parts, 1).view([b, c, ho * wo])
    });
    x.reshape([b, c, h * w])
        .gather(2, &flat, false)
        .view([b, c, ho, wo])
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
    // PROTOTYPES (BENCH_PROTO=1), first checked against forward_with on the
    // same sequences and an input without ties (distinct integers; with ties,
    // amax and maximum share the gradient where max_dim picks one element):
    // the outputs must be identical, the input gradients equal up to rounding
    // (amax splits a repeated index's gradient into thirds and adds them back).
    let xc = Tensor::randperm(4 * c * n_in * n_in, (Kind::Int64, CPU))
        .to_kind(Kind::Float)
        .view([4, c, n_in, n_in])
        .set_requires_grad(true);
    let batch = Fmp {
        share: Share::Batch,
        ..base
    };
    let disjoint = Fmp {
        regions: Regions::Disjoint,
        ..base
    };
    let random = Fmp {
        sequence: Sequence::Random,
        ..base
    };
    let protos: Vec<(&str, Proto, Vec<Fmp>)> = if env_usize("BENCH_PROTO", 0) == 0 {
        vec![]
    } else {
        vec![
            (
                "proto_keys",
                proto_keys,
                vec![base, batch, disjoint, random],
            ),
            (
                "proto_keys_chunked",
                proto_keys_chunked,
                vec![base, batch, disjoint, random],
            ),
            (
                "proto_keys_dim0_chunked",
                proto_keys_chunked_dim0,
                vec![base, batch, disjoint, random],
            ),
            ("proto_argmax_gather", proto_argmax_gather, vec![base]),
            ("proto_amax", proto_amax, vec![base]),
            ("proto_maxpool_k", proto_maxpool_k, vec![base]),
            (
                "proto_maxdim_gather_shared",
                proto_maxdim_gather_shared,
                vec![batch],
            ),
            ("proto_separable_maxpool", proto_separable, vec![base]),
        ]
    };
    // BENCH_VARIANT: time only the prototypes whose name contains it.
    let only_variant = std::env::var("BENCH_VARIANT").unwrap_or_default();
    for (pname, f, configs) in protos {
        for fmp in configs {
            if !format!("{pname}_{}", tag_of(&fmp)).contains(only_variant.as_str()) {
                continue;
            }
            let count = count_of(&fmp);
            let check = count.min(4);
            let rows = fmp.boundaries(n_in, n_out, check, CPU);
            let cols = fmp.boundaries(n_in, n_out, check, CPU);
            let want = fmp.forward_with(&xc, &rows, &cols);
            let want_g = grad_of_sum(&want, &xc);
            let got = f(&fmp, &xc, &rows, &cols);
            let got_g = grad_of_sum(&got, &xc);
            let dy = (&got - &want).abs().max().double_value(&[]);
            let dg = (&got_g - &want_g).abs().max().double_value(&[]);
            assert!(
                got.size() == want.size() && dy == 0.0 && dg <= 1e-6,
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
                "{:5.2}x kernel  (min {min:.2}; PROTOTYPE, same output and grad as src)",
                ms / torch_ms
            )
        } else {
            format!("{:5.2}x kernel  (min {min:.2})", ms / torch_ms)
        };
        report(&format!("layer/{label}/{name}"), ms, &note);
    }
    let main_ms = res[1].0;

    if env_usize("BENCH_PARTS", 0) == 0 {
        return main_ms / torch_ms;
    }
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
    type Part<'a> = (&'a str, Box<dyn Fn() + 'a>, String);
    let parts: [Part; 4] = [
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
        let ms = t.median_ms(&f);
        report(&format!("layer/{label}/{name}"), ms, &note);
    }
    let fwd_ms = t.median_ms(|| {
        let _ = fmp.forward_with(x, &rows, &cols);
    });
    report(
        &format!("layer/{label}/part_forward_with"),
        fwd_ms,
        "fixed sequences, with autograd graph",
    );
    let fb_ms = t.median_ms(|| {
        let y = fmp.forward_with(x, &rows, &cols);
        let _ = grad_of_sum(&y, x);
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
    let mut setups: Vec<(&str, Option<Proto>, bool, &str)> =
        vec![("mnist_fmp_net", None, false, "the net of src/fmp/model.rs")];
    if env_usize("BENCH_PROTO", 0) != 0 {
        setups.extend([
            (
                "proto_net_current_pool",
                Some(current_pool as Proto),
                false,
                "PROTOTYPE: net rebuilt here, src pooling (sanity check)",
            ),
            (
                "proto_net_torch_kernel_pool",
                Some(torch_pool),
                false,
                "PROTOTYPE: FMP -> PyTorch's kernel",
            ),
            (
                "proto_net_keys",
                Some(proto_keys),
                false,
                "PROTOTYPE: proto_keys pooling (unchunked)",
            ),
            (
                "proto_net_current_pool_prelu",
                Some(current_pool),
                true,
                "PROTOTYPE: src pooling, leaky ReLU as one prelu op",
            ),
            (
                "proto_net_keys_prelu",
                Some(proto_keys),
                true,
                "PROTOTYPE: proto_keys pooling + prelu",
            ),
            (
                "proto_net_keys_chunked",
                Some(proto_keys_chunked),
                false,
                "PROTOTYPE: proto_keys_chunked pooling (the proposed fix)",
            ),
            (
                "proto_net_keys_dim0_chunked",
                Some(proto_keys_chunked_dim0),
                false,
                "PROTOTYPE: proto_keys_dim0_chunked pooling",
            ),
            (
                "proto_net_keys_chunked_prelu",
                Some(proto_keys_chunked),
                true,
                "PROTOTYPE: proto_keys_chunked pooling + prelu",
            ),
            (
                "proto_net_torch_kernel_pool_prelu",
                Some(torch_pool),
                true,
                "PROTOTYPE: PyTorch's kernel + prelu (PyTorch eager's ops)",
            ),
        ]);
    }
    let mut nets: Vec<(VarStore, Box<dyn ModuleT>)> = vec![];
    for &(_, pool, prelu, _) in &setups {
        let vs = VarStore::new(CPU);
        let model: Box<dyn ModuleT> = match pool {
            None => Box::new(net(&vs.root(), &cfg)),
            Some(pool) => Box::new(ProtoNet::new(&vs.root(), &cfg, pool, prelu)),
        };
        nets.push((vs, model));
    }
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
        cpu_clock: std::env::var("BENCH_CLOCK").is_ok_and(|c| c == "cpu"),
    };
    let only = std::env::var("BENCH_ONLY").unwrap_or_default(); // "", "layer" or "step"
    println!("INFO threads {}", tch::get_num_threads());
    println!("INFO interop_threads {}", tch::get_num_interop_threads());
    println!("INFO warmup {} runs {}", t.warmup, t.runs);
    println!("INFO device cpu");
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
            let ratio = bench_layer(&t, case);
            println!("RATIO layer/{} {ratio:.3}", case.label);
        }
    }
    if only.is_empty() || only == "step" {
        bench_step(&t);
    }
}
