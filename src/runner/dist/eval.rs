//! Evaluation across the processes of a run: each process computes the
//! rows (softmax outputs, or the GAN's per-image values) of a contiguous
//! run of the evaluation's batches (or images), the one-process batches,
//! so a net without random layers gives the one-process rows, and every
//! process then holds all rows in order. The
//! gather is one sum of a zero-padded [N, ...] tensor (c10d's Gloo group
//! has no all-gather of uneven parts), plus one of the row counts.

use super::world;
use crate::error::Result;
use crate::rng::{seed_torch, Stream};
use std::ops::Range;
use tch::{Device, Kind, Tensor};

/// This process's evaluation batches of `count`: contiguous, differing in
/// number by at most one. Every process takes all of them when there are
/// fewer batches than processes (so none has nothing to gather).
pub fn eval_batches(count: usize) -> Range<usize> {
    match world() {
        Some(w) if count >= w.size => w.rank * count / w.size..(w.rank + 1) * count / w.size,
        _ => 0..count,
    }
}

/// Every process's `part` (the rows of its [`eval_batches`]), in rank
/// order, on `part`'s device. Where every process took every batch, its own.
pub fn gather_rows(part: &Tensor, count: usize) -> Result<Tensor> {
    let Some(w) = world().filter(|w| count >= w.size) else {
        return Ok(part.shallow_clone());
    };
    let rows = part.size()[0];
    let counts = Tensor::zeros([w.size as i64], (Kind::Int64, part.device()));
    let _ = counts.get(w.rank as i64).fill_(rows);
    w.sum(&counts)?;
    let counts = Vec::<i64>::try_from(counts.to_device(Device::Cpu))?;
    let start: i64 = counts[..w.rank].iter().sum();
    let mut shape = part.size();
    shape[0] = counts.iter().sum();
    let all = Tensor::zeros(shape, (part.kind(), part.device()));
    all.narrow(0, start, rows).copy_(part);
    w.sum(&all)?;
    Ok(all)
}

/// Seed torch for one evaluation pass of `stream`: the run's own draws on
/// rank 0 and in one process, others per rank, as training's steps are
/// ([`super::step_stream`]): an evaluation with random layers (FMP's
/// regions) is then a different sample of the same test, not the
/// one-process numbers.
pub fn seed_pass(seed: u64, stream: Stream) {
    match world() {
        Some(w) if w.rank > 0 => seed_torch(
            seed ^ (w.rank as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            stream,
        ),
        _ => seed_torch(seed, stream),
    }
}
