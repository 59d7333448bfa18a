//! The gradient reduction of a distributed step: after backward, before
//! the optimizer step (so clipping and weight decay see the global
//! gradient), every process's gradients are summed in flat buckets of
//! [`BUCKET_BYTES`], one collective per bucket rather than per tensor, on
//! the training device, with no host read. PyTorch's DDP (c10d's Reducer)
//! also overlaps the buckets with backward; here they follow it.

use super::world;
use crate::error::Result;
use crate::optim::Param;
use tch::Tensor;

/// DDP's default bucket_cap_mb (25 MiB).
pub const BUCKET_BYTES: usize = 25 << 20;

/// What the loss whose gradients are reduced is over the examples of its
/// process.
#[derive(Debug, Clone, Copy)]
pub enum Loss {
    /// Their mean, over this many examples: the reduced gradient is the
    /// global mean's, each process weighted by its examples (an epoch's
    /// last batch may split unevenly).
    Mean(i64),
    /// Their sum (Graham's FMP loss): the reduced gradient is the global sum's.
    Sum,
}

/// Make every process's gradients of `params` those of the loss over the
/// global batch (a no-op in a one-process run). Parameters without a
/// gradient are skipped; every process has the same ones.
pub fn reduce_gradients(params: &[Param], loss: Loss) -> Result<()> {
    let Some(w) = world() else { return Ok(()) };
    let grads: Vec<Tensor> = params
        .iter()
        .map(|p| p.tensor.grad())
        .filter(|g| g.defined())
        .collect();
    for bucket in buckets(&grads) {
        reduce_bucket(bucket, loss, |flat| w.sum(flat))?;
    }
    Ok(())
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

/// One bucket: flattened, reduced by `sum` (the collective), written back.
/// For a mean loss each process contributes n_r * g_r and its n_r, in one
/// extra element, and the sum is divided by the total: the global mean,
/// however the batch was split.
fn reduce_bucket(bucket: &[Tensor], loss: Loss, sum: impl Fn(&Tensor) -> Result<()>) -> Result<()> {
    tch::no_grad(|| {
        let mut parts: Vec<Tensor> = bucket.iter().map(|g| g.reshape(-1)).collect();
        let numel: i64 = parts.iter().map(|p| p.numel() as i64).sum();
        let flat = match loss {
            Loss::Sum => Tensor::cat(&parts, 0),
            Loss::Mean(n) => {
                let first = &bucket[0];
                parts.push(Tensor::ones([1], (first.kind(), first.device())));
                Tensor::cat(&parts, 0) * n as f64
            }
        };
        sum(&flat)?;
        let values = match loss {
            Loss::Sum => flat,
            Loss::Mean(_) => flat.narrow(0, 0, numel) / flat.narrow(0, numel, 1),
        };
        let mut offset = 0;
        for g in bucket {
            let n = g.numel() as i64;
            let mut g = g.shallow_clone();
            g.copy_(&values.narrow(0, offset, n).view_as(&g));
            offset += n;
        }
        Ok(())
    })
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

    /// Two "processes" whose sum is played by adding the other's flat
    /// bucket: the mean of an uneven split is the global mean, the sum the sum.
    #[test]
    fn a_bucket_reduces_to_the_global_mean_or_sum() {
        let g = |v: &[f32]| Tensor::from_slice(v);
        // Process A: 3 examples, mean gradient [1, 2 | 3]; process B: 1 example, [5, 6 | 7].
        let other = Tensor::cat(&[g(&[5., 6., 7.]), g(&[1.])], 0) * 1.0;
        let (a, b) = (g(&[1., 2.]), g(&[3.]));
        reduce_bucket(
            &[a.shallow_clone(), b.shallow_clone()],
            Loss::Mean(3),
            |flat| {
                let mut flat = flat.shallow_clone();
                let _ = flat.g_add_(&other);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(Vec::<f32>::try_from(&a).unwrap(), vec![2.0, 3.0]);
        assert_eq!(Vec::<f32>::try_from(&b).unwrap(), vec![4.0]);
        let c = g(&[1., 2.]);
        reduce_bucket(&[c.shallow_clone()], Loss::Sum, |flat| {
            let mut flat = flat.shallow_clone();
            let _ = flat.g_add_(&g(&[10., 20.]));
            Ok(())
        })
        .unwrap();
        assert_eq!(Vec::<f32>::try_from(&c).unwrap(), vec![11.0, 22.0]);
    }
}
