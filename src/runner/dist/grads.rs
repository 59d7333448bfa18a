//! The gradient reduction of a distributed step, as PyTorch's DDP (c10d's
//! Reducer) does it: every process's gradients are summed in buckets of
//! [`BUCKET_BYTES`], one collective per bucket rather than per tensor, on
//! the training device (on NCCL the CUDA stream waits for the sums, not the
//! host, so the optimizer step queues behind them); each bucket's sum
//! starts during backward as soon as its last gradient is accumulated
//! (hooks in csrc/dist.cpp), the parameters bucketed in reverse, the order
//! backward reaches them. All is summed before the optimizer step, so clipping and
//! weight decay see the global gradient.

use super::group::Reducer;
use super::world;
use crate::error::Result;
use crate::optim::Param;
use std::sync::Mutex;
use tch::Tensor;

/// DDP's default bucket_cap_mb (25 MiB).
pub const BUCKET_BYTES: usize = 25 << 20;

/// What the loss whose gradients are reduced is over the examples of its
/// process.
#[derive(Debug, Clone, Copy)]
pub enum Loss {
    /// Their mean, over this many examples: the reduced gradient is the
    /// global mean's, each process weighted by its examples (an epoch's
    /// last batch may split unevenly): each sums n_r * g_r and n_r, and
    /// divides by the total.
    Mean(i64),
    /// Their sum (Graham's FMP loss): the reduced gradient is the global sum's.
    Sum,
}

/// The reducer of each parameter list trained so far (G's and D's in a
/// GAN), keyed by the parameters' storage; made at its first backward.
static REDUCERS: Mutex<Vec<(Vec<usize>, Reducer)>> = Mutex::new(vec![]);

/// Run `backward` (the trainer's, e.g. [`Amp::backward`] of its loss) so
/// that every process's gradients of `params` become those of the loss over
/// the global batch (just `backward` in a one-process run). Parameters
/// that got no gradient are skipped; every process has the same ones.
///
/// [`Amp::backward`]: crate::runner::compute::precision::Amp::backward
pub fn reduced_backward(params: &[Param], loss: Loss, backward: impl FnOnce()) -> Result<()> {
    let Some(w) = world() else {
        backward();
        return Ok(());
    };
    let tensors: Vec<&Tensor> = params
        .iter()
        .map(|p| &p.tensor)
        .filter(|t| t.requires_grad())
        .collect();
    let key: Vec<usize> = tensors.iter().map(|t| t.data_ptr() as usize).collect();
    let mut reducers = REDUCERS.lock().unwrap_or_else(|e| e.into_inner());
    let at = match reducers.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            let reducer = Reducer::new(&w.group, &tensors, &bucket_of(&tensors))
                .map_err(|e| w.lost("setting up the gradient sum", e))?;
            reducers.push((key, reducer));
            reducers.len() - 1
        }
    };
    let reducer = &mut reducers[at].1;
    reducer.arm(match loss {
        Loss::Mean(n) => n as f64,
        Loss::Sum => 0.0,
    });
    backward();
    reducer
        .finish()
        .map(|_| ())
        .map_err(|e| w.lost("a sum of the gradients over the processes", e))
}

/// Each parameter's bucket, numbered in launch order: [`buckets`] of the
/// parameters in reverse.
fn bucket_of(params: &[&Tensor]) -> Vec<i64> {
    let reversed: Vec<Tensor> = params.iter().rev().map(|t| t.shallow_clone()).collect();
    let mut out = vec![0; params.len()];
    let mut i = params.len();
    for (b, bucket) in buckets(&reversed).iter().enumerate() {
        for _ in 0..bucket.len() {
            i -= 1;
            out[i] = b as i64;
        }
    }
    out
}

/// Consecutive runs of gradients of one kind and device, each at most
/// [`BUCKET_BYTES`] (a larger tensor is a bucket of its own).
pub fn buckets(grads: &[Tensor]) -> Vec<&[Tensor]> {
    let mut out = vec![];
    let (mut start, mut bytes) = (0, 0);
    for (i, g) in grads.iter().enumerate() {
        let size = g.numel() * g.kind().elt_size_in_bytes();
        let same =
            i == start || (g.kind() == grads[start].kind() && g.device() == grads[start].device());
        if i > start && (!same || bytes + size > BUCKET_BYTES) {
            out.push(&grads[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < grads.len() {
        out.push(&grads[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn buckets_split_at_the_cap_and_at_a_change_of_kind() {
        let f = |n: i64| Tensor::zeros([n], (Kind::Float, Device::Cpu));
        let cap = (BUCKET_BYTES / 4) as i64;
        let grads = vec![
            f(cap / 2),
            f(cap / 2),
            f(1),
            f(cap + 1),
            Tensor::zeros([3], (Kind::Double, Device::Cpu)),
            f(2),
        ];
        let sizes: Vec<usize> = buckets(&grads).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![2, 1, 1, 1, 1]);
        assert!(buckets(&[]).is_empty());
    }

    /// Backward reaches the last parameters first: they fill bucket 0.
    #[test]
    fn parameters_are_bucketed_from_the_last() {
        let cap = (BUCKET_BYTES / 4) as i64;
        let p: Vec<Tensor> = (0..3)
            .map(|_| Tensor::zeros([cap / 2], (Kind::Float, Device::Cpu)))
            .collect();
        let refs: Vec<&Tensor> = p.iter().collect();
        assert_eq!(bucket_of(&refs), vec![1, 0, 0]);
    }
}
