//! Fractional max-pooling (Graham 2014, arXiv 1412.6071).
//!
//! Rows and columns each get a sequence, and output (i, j) is the max over
//! the region P_i x P_j, so the max is separable. Two kinds of regions:
//!
//! - the paper's: boundaries 0 = a_0 < ... < a_{N_out} = N_in with
//!   increments floor(alpha) or ceil(alpha); P_i = [a_{i-1}, a_i - 1]
//!   (disjoint) or [a_{i-1}, a_i] clamped to N_in - 1 (overlapping);
//! - fixed windows ([`Fmp::window`] = w): P_i = [s_i, s_i + w - 1] at starts
//!   0 = s_0 < ... < s_{N_out-1} = N_in - w. This is what Graham's code ran
//!   (btgraham/SparseConvNet-archived, SparseConvNet/Regions.cu:31-98, with
//!   poolSize 2 in every FMP net of NetworkArchitectures.cpp) and what
//!   PyTorch's `fractional_max_pool2d` computes.
//!
//! Pooling ([`Fmp::forward_with`]) works on int64 keys: every input value
//! becomes a key that orders like the value and carries its pixel's index
//! in its low bits, so the max of the keys over a region is both the
//! region's max and where it is. Both separable passes reduce keys without
//! autograd (for each offset k, an index_select of the k-th row of every
//! region and an elementwise max); the output is one gather of the input at
//! the winning pixels, so backward is a single scatter of B*C*N_out^2
//! gradients, as in PyTorch's kernel, and 0.55-0.65x its time on one CPU
//! thread (BENCHMARKS.md). Where a variant is exactly PyTorch's kernel
//! (pseudorandom fixed windows) [`Fmp::forward`] calls the kernel where it
//! is the faster: on CUDA, one launch where this path takes about fifteen,
//! and on small CPU planes with more than one thread.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// How the sequences are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sequence {
    /// Increments are a uniformly random permutation of the right number of
    /// floor(alpha)s and ceil(alpha)s.
    Random,
    /// a_i = ceil(alpha (i + u)) - ceil(alpha u), one u ~ U(0, 1) per sequence.
    Pseudorandom,
}

/// Whether neighbouring regions share their boundary pixel (the paper's
/// regions; fixed windows always overlap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regions {
    /// P_i = [a_{i-1}, a_i - 1].
    Disjoint,
    /// P_i = [a_{i-1}, a_i] (clamped to N_in - 1).
    Overlapping,
}

/// Who shares one pair of (row, column) sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Share {
    /// One pair per image, shared by its channels (Graham's code).
    Image,
    /// One pair for the whole batch (TensorFlow's fractional_max_pool).
    Batch,
}

/// A fractional max-pooling layer. It has no parameters; every forward pass
/// draws fresh sequences from torch's generator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fmp {
    pub alpha: f64,
    pub sequence: Sequence,
    /// The paper's regions; unused with a fixed window.
    pub regions: Regions,
    pub share: Share,
    /// Explicit output size (rows, columns); `None` means round(N_in / alpha).
    pub output: Option<(i64, i64)>,
    /// Fixed windows of this many pixels placed by the sequence (Graham's
    /// code, PyTorch's kernel) instead of the paper's regions.
    pub window: Option<i64>,
}

/// Bytes of int64 keys pooled at a time on the CPU. Blocks this small stay in
/// cache and are reused by malloc; larger temporaries (540 MB for one CIFAR
/// layer) are mapped afresh and page-faulted on every call. On CUDA the
/// whole tensor is one block: the fewest kernel launches.
const CPU_BLOCK_BYTES: i64 = 4 << 20;

impl Fmp {
    pub fn new(alpha: f64, sequence: Sequence, regions: Regions) -> Fmp {
        Fmp {
            alpha,
            sequence,
            regions,
            share: Share::Image,
            output: None,
            window: None,
        }
    }

    /// Output size for an input of `n_in` along one axis when no explicit size
    /// is given: round(n_in / alpha), at least 1 and below n_in when n_in > 1.
    pub fn output_len(&self, n_in: i64) -> i64 {
        let n = (n_in as f64 / self.alpha).round() as i64;
        n.clamp(1, (n_in - 1).max(1))
    }

    pub fn output_size(&self, h: i64, w: i64) -> (i64, i64) {
        self.output
            .unwrap_or_else(|| (self.output_len(h), self.output_len(w)))
    }

    /// Whether this variant is what PyTorch's own kernel computes:
    /// pseudorandom fixed windows, whose starts the kernel draws from one u
    /// per (image, channel) and axis, given here as one u per image (or
    /// batch) for every channel ([`Fmp::kernel_with`], [`Fmp::draw_u`]).
    pub fn is_pytorch_kernel(&self) -> bool {
        self.window.is_some() && self.sequence == Sequence::Pseudorandom
    }

    /// The paper's boundary sequences a_0..a_{n_out}, shape [count, n_out + 1], int64.
    pub fn boundaries(&self, n_in: i64, n_out: i64, count: i64, device: Device) -> Tensor {
        assert!(
            0 < n_out && n_out <= n_in,
            "FMP needs 0 < N_out <= N_in, got {n_out} and {n_in}"
        );
        match self.sequence {
            Sequence::Random => random_boundaries(n_in, n_out, count, device),
            Sequence::Pseudorandom => pseudorandom_boundaries(n_in, n_out, count, device),
        }
    }

    /// What [`Fmp::forward_with`] takes along one axis: the paper's boundaries
    /// [count, n_out + 1], or with a fixed window its starts [count, n_out].
    pub fn sequences(&self, n_in: i64, n_out: i64, count: i64, device: Device) -> Tensor {
        let Some(w) = self.window else {
            return self.boundaries(n_in, n_out, count, device);
        };
        if let Some(lone) = lone_window(n_in, n_out, w, count, device) {
            return lone;
        }
        match self.sequence {
            // Regions.cu:75-98 shuffles floor(alpha)s and floor(alpha)+1s
            // summing to N_in - poolSize: the increments of a random boundary
            // sequence from 0 to N_in - w in N_out - 1 steps.
            Sequence::Random => random_boundaries(n_in - w, n_out - 1, count, device),
            Sequence::Pseudorandom => pseudorandom_window_starts(
                &Tensor::rand([count, 1], (Kind::Float, device)),
                n_in,
                n_out,
                w,
            ),
        }
    }

    /// Pool `x` [B, C, H, W] with fresh sequences.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, _, h, w) = x.size4().expect("FMP expects a [B, C, H, W] input");
        let (h_out, w_out) = self.output_size(h, w);
        let count = match self.share {
            Share::Image => b,
            Share::Batch => 1,
        };
        let device = x.device();
        let Some(window) = self.window.filter(|_| self.is_pytorch_kernel()) else {
            let rows = self.sequences(h, h_out, count, device);
            let cols = self.sequences(w, w_out, count, device);
            return self.forward_with(x, &rows, &cols);
        };
        // One draw for both axes, whichever path pools: the same windows
        // from the same stream. The kernel draws its windows in the input's
        // type, the general path in f32: they agree for f32 input (the
        // training type).
        let u = Fmp::draw_u(count, device);
        if let Some(x32) = self.kernel_input(x, h_out, w_out) {
            return as_kind(&self.kernel_with(&x32, (h_out, w_out), &u), x.kind());
        }
        let starts = |axis: i64, n_in: i64, n_out: i64| {
            lone_window(n_in, n_out, window, count, device).unwrap_or_else(|| {
                pseudorandom_window_starts(&u.select(2, axis), n_in, n_out, window)
            })
        };
        self.forward_with(x, &starts(1, h, h_out), &starts(0, w, w_out))
    }

    /// The u of pseudorandom windows for `count` images (or 1, the batch),
    /// drawn in one op in the layout PyTorch's kernel reads: [count, 1, 2],
    /// the columns' u at 0 and the rows' at 1 (ATen's
    /// FractionalMaxPool2d.cpp).
    pub fn draw_u(count: i64, device: Device) -> Tensor {
        Tensor::rand([count, 1, 2], (Kind::Float, device))
    }

    /// Whether [`Fmp::forward`] pools `x` into h_out x w_out with PyTorch's
    /// kernel (see [`kernel_is_faster`]) rather than the general path.
    pub fn takes_kernel(&self, x: &Tensor, h_out: i64, w_out: i64) -> bool {
        let (_, _, h, w) = x.size4().expect("FMP expects a [B, C, H, W] input");
        self.is_pytorch_kernel()
            && h_out > 1
            && w_out > 1
            && matches!(x.kind(), Kind::Float | Kind::BFloat16 | Kind::Half)
            && kernel_is_faster(x.device(), h, w)
    }

    /// `x` as the kernel pools it, where it does ([`Fmp::takes_kernel`]):
    /// f32 as it is; bf16 and fp16 (under --precision) cast to f32, the
    /// output cast back, since a u drawn in half precision would choose
    /// other windows than f32's (and may round up to 1). Max-pooling
    /// commutes with the rounding, so that is the half-precision pooling of
    /// f32's windows, at an f32 copy of the input (the general path makes
    /// an f64 one).
    fn kernel_input(&self, x: &Tensor, h_out: i64, w_out: i64) -> Option<Tensor> {
        self.takes_kernel(x, h_out, w_out)
            .then(|| as_kind(x, Kind::Float))
    }

    /// PyTorch's kernel for pseudorandom fixed windows, with u [B or 1, 1,
    /// 2] ([`Fmp::draw_u`]) shared by each image's channels (a view, not a
    /// copy); equal to [`Fmp::forward_with`] on [`pseudorandom_window_starts`]
    /// of the same u.
    pub fn kernel_with(&self, x: &Tensor, (h_out, w_out): (i64, i64), u: &Tensor) -> Tensor {
        let w = self.window.expect("PyTorch's kernel pools fixed windows");
        let (b, c, _, _) = x.size4().expect("FMP expects a [B, C, H, W] input");
        let samples = as_kind(u, x.kind()).expand([b, c, 2], false);
        x.fractional_max_pool2d([w, w], [h_out, w_out], &samples).0
    }

    /// Pool `x` [B, C, H, W] with given sequences ([`Fmp::sequences`]), one
    /// per image or one (first dimension 1) for the batch.
    pub fn forward_with(&self, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
        let (_, _, h, w) = x.size4().expect("FMP expects a [B, C, H, W] input");
        pool_keys(
            x,
            &self.region_indices(rows, h),
            &self.region_indices(cols, w),
        )
    }

    /// Indices of every region's pixels, [S, N_out, K], where K is the longest
    /// region; shorter regions repeat their last pixel.
    fn region_indices(&self, seq: &Tensor, n_in: i64) -> Tensor {
        let device = seq.device();
        if let Some(w) = self.window {
            let offsets = Tensor::arange(w, (Kind::Int64, device));
            return seq.unsqueeze(2) + offsets;
        }
        let n_out = seq.size()[1] - 1;
        let start = seq.narrow(1, 0, n_out);
        let next = seq.narrow(1, 1, n_out);
        let ceil_alpha = (n_in + n_out - 1) / n_out;
        let (end, k) = match self.regions {
            Regions::Disjoint => (next - 1, ceil_alpha),
            Regions::Overlapping => (next.clamp_max(n_in - 1), ceil_alpha + 1),
        };
        let offsets = Tensor::arange(k, (Kind::Int64, device));
        (start.unsqueeze(2) + offsets).minimum(&end.unsqueeze(2))
    }
}

/// Max over the regions `ridx` [S, H_out, Kr] (rows) x `cidx` [S, W_out, Kc]
/// (columns) of `x` [B, C, H, W], S = B or 1.
///
/// Key of a value: its float64 bits (every f32 converts exactly), negative
/// ones with the magnitude bits flipped so that keys order like values, the
/// lowest `bits` cleared and replaced by the pixel index h*W + w. An f32
/// leaves the 29 lowest bits of its double zero, so for f32 input (up to
/// 2^29 pixels) nothing is lost and the keys' max is exactly the max, ties
/// going to the larger pixel index; f64 input keeps 52 - bits mantissa
/// bits (values closer than that count as ties).
fn pool_keys(x: &Tensor, ridx: &Tensor, cidx: &Tensor) -> Tensor {
    let (b, c, h, w) = x.size4().unwrap();
    let (ho, wo) = (ridx.size()[1], cidx.size()[1]);
    let device = x.device();
    let budget = if device.is_cuda() {
        i64::MAX
    } else {
        CPU_BLOCK_BYTES
    };
    let chunk = (budget / (b * h * w * 8)).clamp(1, c);
    let bits = 64 - ((h * w - 1).max(1) as u64).leading_zeros() as i64;
    let low = (1i64 << bits) - 1;
    // Values of these kinds leave the low 29 bits of their double zero.
    let exact = bits <= 29 && matches!(x.kind(), Kind::Float | Kind::Half | Kind::BFloat16);
    let flat = tch::no_grad(|| {
        // Per-image sequences become indices into the merged (image, row)
        // and (image, column) axes, one index per offset k in the regions.
        let rsel = merged_offsets(ridx, b, h);
        let csel = merged_offsets(cidx, b, w);
        let pixel = Tensor::arange(h * w, (Kind::Int64, device)).view([1, 1, h, w]);
        let parts: Vec<Tensor> = (0..c)
            .step_by(chunk as usize)
            .map(|c0| {
                let cc = chunk.min(c - c0);
                // [cc, B, H, W], channels first so that rows are contiguous.
                let mut keys = Tensor::empty([cc, b, h, w], (Kind::Double, device));
                keys.copy_(&x.narrow(1, c0, cc).permute([1, 0, 2, 3]));
                let mut keys = keys.view_dtype(Kind::Int64);
                let mut flip = keys.bitwise_right_shift_tensor_scalar(63);
                // Only the bits above the pixel index, which stay zero for f32.
                let _ = flip.bitwise_and_(i64::MAX & !low);
                let _ = keys.bitwise_xor_tensor_(&flip);
                if !exact {
                    let _ = keys.bitwise_and_(!low);
                }
                let _ = keys.bitwise_or_tensor_(&pixel);
                // Rows: [cc, B*H, W] -> [cc, B*Ho, W] -> [cc, B, W, Ho].
                let m = max_rows(&keys.view([cc, b * h, w]), &rsel)
                    .view([cc, b, ho, w])
                    .transpose(2, 3)
                    .contiguous();
                // Columns: [cc, B*W, Ho] -> [cc, B*Wo, Ho].
                let mut m = max_rows(&m.view([cc, b * w, ho]), &csel);
                let _ = m.bitwise_and_(low);
                m.view([cc, b, wo, ho]).permute([1, 0, 3, 2]) // [B, cc, Ho, Wo]
            })
            .collect();
        Tensor::cat(&parts, 1).view([b, c, ho * wo])
    });
    x.reshape([b, c, h * w])
        .gather(2, &flat, false)
        .view([b, c, ho, wo])
}

/// For region indices [S, N_out, K] along an axis of length n, K index
/// vectors [B*N_out] into the merged (image, axis) dimension: the k-th pixel
/// of every region of every image.
fn merged_offsets(idx: &Tensor, b: i64, n: i64) -> Vec<Tensor> {
    let (_, n_out, k) = idx.size3().unwrap();
    let image = Tensor::arange(b, (Kind::Int64, idx.device())).view([b, 1]) * n;
    (0..k)
        .map(|j| (idx.select(2, j).expand([b, n_out], false) + &image).view([-1]))
        .collect()
}

/// Elementwise max over k of `t`'s rows `sel[k]` along dimension 1: one
/// index_select per offset and an in-place maximum, several times faster on
/// the CPU than selecting all K and reducing over them.
fn max_rows(t: &Tensor, sel: &[Tensor]) -> Tensor {
    let m = t.index_select(1, &sel[0]);
    for s in &sel[1..] {
        let _ = m.maximum_out(&m, &t.index_select(1, s));
    }
    m
}

/// `x` as `kind`: x itself when it already is, without dispatching an op
/// (`to` would return x too, but each dispatch costs a step host time, on
/// a GPU as much as a launch).
fn as_kind(x: &Tensor, kind: Kind) -> Tensor {
    match x.kind() == kind {
        true => x.shallow_clone(),
        false => x.to_kind(kind),
    }
}

/// Whether PyTorch's kernel outruns the general path on an [H, W] plane:
/// on CUDA always (one launch against about fifteen); on the CPU with more
/// than one thread below 64x64. At one thread ours takes 0.53-0.64x its
/// time. At two, ours (some thirty whole-tensor ops, each a parallel
/// region) took 0.63-0.67x the kernel's time while the 2-core host was
/// quiet, but about 1.45x in its busy spells, where the kernel, one
/// parallel region, held steady: so the kernel is the safer choice
/// (BENCHMARKS.md, make bench-fmp).
fn kernel_is_faster(device: Device, h: i64, w: i64) -> bool {
    device.is_cuda() || (tch::get_num_threads() > 1 && h * w < 64 * 64)
}

/// A lone window ([count, 1] starts, put last as PyTorch's kernel puts it)
/// where `n_out` is 1; after checking that `n_out` windows of `w` pixels
/// fit in `n_in`.
fn lone_window(n_in: i64, n_out: i64, w: i64, count: i64, device: Device) -> Option<Tensor> {
    assert!(
        0 < n_out && n_out - 1 + w <= n_in,
        "FMP with {w}-pixel windows needs 0 < N_out <= N_in - {w} + 1, got {n_out} and {n_in}"
    );
    (n_out == 1).then(|| Tensor::full([count, 1], n_in - w, (Kind::Int64, device)))
}

/// Starts of pseudorandom fixed windows from one u [count, 1] (f32) per
/// sequence: s_j = int((j + u) a) - int(u a) with a = (N_in - w)/(N_out - 1),
/// the last pinned to N_in - w (Regions.cu:36-41). Computed in f32 exactly
/// as PyTorch's kernel computes it for f32 input, so that both choose the
/// same windows from the same u. Shape [count, n_out], int64.
pub fn pseudorandom_window_starts(u: &Tensor, n_in: i64, n_out: i64, window: i64) -> Tensor {
    let count = u.size()[0];
    let device = u.device();
    // An f32 quotient, as the kernel's scalar_t (exact in the f64 scalar).
    let alpha = ((n_in - window) as f32 / (n_out - 1) as f32) as f64;
    let i = Tensor::arange(n_out - 1, (Kind::Float, device));
    let u = u.to_kind(Kind::Float);
    let s = ((i + &u) * alpha).floor() - (u * alpha).floor();
    Tensor::cat(
        &[
            s.to_kind(Kind::Int64),
            Tensor::full([count, 1], n_in - window, (Kind::Int64, device)),
        ],
        1,
    )
}

/// Increments: a random permutation of n_ceil ceil(alpha)s and the rest floor(alpha)s.
fn random_boundaries(n_in: i64, n_out: i64, count: i64, device: Device) -> Tensor {
    let floor = n_in / n_out;
    let n_ceil = n_in - floor * n_out;
    let ranks = Tensor::rand([count, n_out], (Kind::Float, device))
        .argsort(1, false)
        .argsort(1, false);
    let steps = ranks.lt(n_ceil).to_kind(Kind::Int64) + floor;
    Tensor::cat(
        &[
            Tensor::zeros([count, 1], (Kind::Int64, device)),
            steps.cumsum(1, Kind::Int64),
        ],
        1,
    )
}

/// a_i = ceil(alpha (i + u)) - ceil(alpha u), computed in f64; the last entry is
/// pinned to n_in so rounding can never move it.
fn pseudorandom_boundaries(n_in: i64, n_out: i64, count: i64, device: Device) -> Tensor {
    let alpha = n_in as f64 / n_out as f64;
    let u = Tensor::rand([count, 1], (Kind::Double, device));
    let i = Tensor::arange(n_out, (Kind::Double, device));
    let a = ((i + &u) * alpha).ceil() - (u * alpha).ceil();
    Tensor::cat(
        &[
            a.to_kind(Kind::Int64),
            Tensor::full([count, 1], n_in, (Kind::Int64, device)),
        ],
        1,
    )
}
