//! Fractional max-pooling (Graham 2014, arXiv 1412.6071).
//!
//! Rows and columns each get a boundary sequence 0 = a_0 < ... < a_{N_out} = N_in
//! with increments floor(alpha) or ceil(alpha). Output (i, j) is the max over the
//! region P_i x P_j, so the max is separable: one pass over rows, one over
//! columns. Each pass gathers the (at most K) rows of every region and takes
//! `max` over them, all on the device; regions shorter than K repeat their last
//! index, which leaves the max unchanged.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// How the boundary sequence is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sequence {
    /// Increments are a uniformly random permutation of the right number of
    /// floor(alpha)s and ceil(alpha)s.
    Random,
    /// a_i = ceil(alpha (i + u)) - ceil(alpha u), one u ~ U(0, 1) per sequence.
    Pseudorandom,
}

/// Whether neighbouring regions share their boundary pixel.
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
    pub regions: Regions,
    pub share: Share,
    /// Explicit output size (rows, columns); `None` means round(N_in / alpha).
    pub output: Option<(i64, i64)>,
}

impl Fmp {
    pub fn new(alpha: f64, sequence: Sequence, regions: Regions) -> Fmp {
        Fmp {
            alpha,
            sequence,
            regions,
            share: Share::Image,
            output: None,
        }
    }

    /// Output size for an input of `n_in` along one axis when no explicit size
    /// is given: round(n_in / alpha), at least 1 and below n_in when n_in > 1.
    pub fn output_len(&self, n_in: i64) -> i64 {
        let n = (n_in as f64 / self.alpha).round() as i64;
        n.clamp(1, (n_in - 1).max(1))
    }

    fn output_size(&self, h: i64, w: i64) -> (i64, i64) {
        self.output
            .unwrap_or_else(|| (self.output_len(h), self.output_len(w)))
    }

    /// Boundary sequences a_0..a_{n_out}, shape [count, n_out + 1], int64.
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

    /// Pool `x` [B, C, H, W] with fresh sequences.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, _, h, w) = x.size4().expect("FMP expects a [B, C, H, W] input");
        let (h_out, w_out) = self.output_size(h, w);
        let count = match self.share {
            Share::Image => b,
            Share::Batch => 1,
        };
        let rows = self.boundaries(h, h_out, count, x.device());
        let cols = self.boundaries(w, w_out, count, x.device());
        self.forward_with(x, &rows, &cols)
    }

    /// Pool `x` [B, C, H, W] with given boundary sequences, [B or 1, H_out + 1]
    /// for rows and [B or 1, W_out + 1] for columns.
    pub fn forward_with(&self, x: &Tensor, rows: &Tensor, cols: &Tensor) -> Tensor {
        let x = pool_axis(x, &self.region_indices(rows, x.size()[2]), 2);
        pool_axis(&x, &self.region_indices(cols, x.size()[3]), 3)
    }

    /// Indices of every region's pixels, [S, N_out, K], where K is the longest
    /// region; shorter regions repeat their last pixel.
    fn region_indices(&self, bounds: &Tensor, n_in: i64) -> Tensor {
        let n_out = bounds.size()[1] - 1;
        let start = bounds.narrow(1, 0, n_out);
        let next = bounds.narrow(1, 1, n_out);
        let ceil_alpha = (n_in + n_out - 1) / n_out;
        let (end, k) = match self.regions {
            Regions::Disjoint => (next - 1, ceil_alpha),
            Regions::Overlapping => (next.clamp_max(n_in - 1), ceil_alpha + 1),
        };
        let offsets = Tensor::arange(k, (Kind::Int64, bounds.device()));
        (start.unsqueeze(2) + offsets).minimum(&end.unsqueeze(2))
    }
}

/// Max over regions along `dim` (2 = rows, 3 = columns) of `x` [B, C, H, W],
/// given region indices [S, N_out, K] with S = B (one sequence per image) or 1.
fn pool_axis(x: &Tensor, idx: &Tensor, dim: i64) -> Tensor {
    let size = x.size();
    let (s, n_out, k) = idx.size3().unwrap();
    // One sequence for the batch (s = 1) broadcasts over it; gather beats
    // index_select here, whose backward is slow on the CPU.
    let mut shape = vec![s, 1, 1, 1];
    shape[dim as usize] = n_out * k;
    let mut expanded = size.clone();
    expanded[dim as usize] = n_out * k;
    let gathered = x.gather(
        dim,
        &idx.view(shape.as_slice())
            .expand(expanded.as_slice(), false),
        false,
    );
    let mut split = size.clone();
    split[dim as usize] = n_out;
    split.insert(dim as usize + 1, k);
    gathered.view(split.as_slice()).max_dim(dim + 1, false).0
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
