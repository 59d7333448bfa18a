//! `--accumulate N`, gradient accumulation: each optimizer step's batch
//! (this process's share of it) runs as N micro-batches, forward and
//! backward one after another, their gradients adding up in the
//! parameters' `.grad`, then one optimizer step. Activations are held for
//! one micro-batch at a time, so a step's memory falls by about N.
//!
//! The accumulated gradient is the unsplit batch's: a mean loss is scaled
//! by each micro-batch's share of the batch before backward, a summed loss
//! (Graham's) adds up as it is. In a distributed run the gradients are
//! reduced once, during the last micro-batch's backward: the reducer is
//! armed only for it (as DDP's `no_sync` leaves the others local), and its
//! hooks read the accumulated gradients. Under fp16 each micro-batch's loss
//! is scaled by the same loss scale, and the scaler unscales and checks for
//! overflow once, before the step. The classifier steps and the GAN's D
//! and G updates split their batches here.
//!
//! What sees a batch as a whole differs, as in PyTorch: batch norm
//! normalises each micro-batch by its own statistics (and updates its
//! running averages once per micro-batch).

use crate::error::{usage, Result};
use crate::optim::Param;
use crate::runner::dist::{reduced_backward, Loss};
use tch::Tensor;

/// One micro-batch of an optimizer step's batch.
#[derive(Debug, Clone, Copy)]
pub struct Micro {
    /// Its first row in the step's batch, and its rows.
    pub start: i64,
    pub len: i64,
    /// Its rows over the step's batch's.
    pub share: f64,
    /// The step's loss over this process's whole batch.
    loss: Loss,
    /// The step's last micro-batch: its backward reduces across processes.
    last: bool,
}

/// The micro-batches of a step's batch of `n` rows, `parts` of them with
/// sizes differing by at most one (an epoch's last, smaller batch may not
/// divide evenly; fewer parts when it has fewer rows), for a loss that
/// is a sum over the rows (`summed`) or their mean.
pub fn micro_batches(n: i64, parts: i64, summed: bool) -> Vec<Micro> {
    let parts = parts.clamp(1, n.max(1));
    let loss = match summed {
        true => Loss::Sum,
        false => Loss::Mean(n),
    };
    (0..parts)
        .map(|i| {
            let (start, end) = (i * n / parts, (i + 1) * n / parts);
            Micro {
                start,
                len: end - start,
                share: (end - start) as f64 / n.max(1) as f64,
                loss,
                last: i + 1 == parts,
            }
        })
        .collect()
}

impl Micro {
    /// This micro-batch's rows of `t`, a tensor of the step's batch (`t`
    /// itself when it is the whole batch: no op dispatched).
    pub fn rows(&self, t: &Tensor) -> Tensor {
        match self.share == 1.0 {
            true => t.shallow_clone(),
            false => t.narrow(0, self.start, self.len),
        }
    }

    /// `t`, a mean over this micro-batch, weighted by its share of the
    /// batch (no op for the whole batch).
    pub fn weigh(&self, t: &Tensor) -> Tensor {
        match self.share == 1.0 {
            true => t.shallow_clone(),
            false => t * self.share,
        }
    }

    /// Backward of this micro-batch's `loss` (its mean or sum), scaled by
    /// its share of the batch for a mean, through `backward` (the trainer's,
    /// e.g. `Amp::backward`), the gradients of `params` reduced across
    /// processes after the last micro-batch.
    pub fn backward(
        &self,
        params: &[Param],
        loss: &Tensor,
        backward: impl FnOnce(&Tensor),
    ) -> Result<()> {
        let scaled = match self.loss {
            Loss::Mean(_) => self.weigh(loss),
            Loss::Sum => loss.shallow_clone(),
        };
        let run = || backward(&scaled);
        if self.last {
            return reduced_backward(params, self.loss, run);
        }
        run();
        Ok(())
    }
}

/// --accumulate `n` divides this process's share of each step's batch
/// (`share` of the global `batch`, among `world` processes): checked with
/// the other flags, before anything is written.
pub fn check(n: i64, batch: i64, share: i64, world: usize) -> Result<()> {
    if share % n == 0 {
        return Ok(());
    }
    let whose = match world {
        1 => format!("each optimizer step's batch of {batch} (--batch-size)"),
        _ => format!(
            "each process's share of an optimizer step's batch, {share} (--batch-size {batch} over {world} processes),"
        ),
    };
    Err(usage(format!(
        "--accumulate {n}: {whose} is split into {n} equal micro-batches; expected a divisor of {share}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    fn sizes(n: i64, parts: i64) -> Vec<i64> {
        micro_batches(n, parts, false)
            .iter()
            .map(|m| m.len)
            .collect()
    }

    #[test]
    fn micro_batches_cover_the_batch_in_order_with_shares_summing_to_one() {
        assert_eq!(sizes(12, 4), [3, 3, 3, 3]);
        assert_eq!(sizes(10, 4), [2, 3, 2, 3]);
        assert_eq!(sizes(3, 4), [1, 1, 1]);
        assert_eq!(sizes(5, 1), [5]);
        for (n, parts) in [(12, 4), (10, 4), (3, 4), (7, 2)] {
            let micro = micro_batches(n, parts, false);
            let mut next = 0;
            for m in &micro {
                assert_eq!(m.start, next);
                next += m.len;
            }
            assert_eq!(next, n);
            let total: f64 = micro.iter().map(|m| m.share).sum();
            assert!((total - 1.0).abs() < 1e-12, "{n} in {parts}: {total}");
            let last: Vec<bool> = micro.iter().map(|m| m.last).collect();
            assert_eq!(last.iter().filter(|l| **l).count(), 1);
            assert!(last[last.len() - 1]);
        }
    }

    #[test]
    fn an_accumulation_that_does_not_divide_the_share_is_refused_naming_the_flag() {
        assert!(check(4, 64, 32, 2).is_ok());
        assert!(check(1, 50, 50, 1).is_ok());
        let err = check(3, 50, 50, 1).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("--accumulate 3"), "{err}");
        let err = check(4, 36, 18, 2).unwrap_err();
        assert!(err.to_string().contains("share"), "{err}");
    }
}
