//! Batch normalization as the weight-normalisation authors wrote it
//! (openai/weightnorm, lasagne/nn.py:99-141, `BatchNormLayer`): what
//! libtorch's does, except the running variance's correction. Theirs
//! multiplies the batch's (population) variance by B/(B-1), B the batch
//! size, for convolutions too (nn.py:131, `input.shape[0]`); libtorch
//! divides by the element count per channel, B*H*W, minus 1. Training
//! computes the same either way; the running variance, which evaluation
//! uses, differs.

use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

#[derive(Debug)]
pub struct BatchNorm {
    /// [units], learned scale (starts at 1) and bias (0).
    pub weight: Tensor,
    pub bias: Tensor,
    /// [units], not trained; saved with the model (start 0 and 1).
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// Added to the variance inside the square root.
    pub eps: f64,
    /// The running averages' update weight.
    pub momentum: f64,
}

impl BatchNorm {
    /// For activations [B, `units`, ...] under `p` ("weight", "bias",
    /// "running_mean", "running_var", tch's names).
    pub fn new(p: &nn::Path, units: i64, eps: f64, momentum: f64) -> BatchNorm {
        BatchNorm {
            weight: p.var("weight", &[units], Init::Const(1.0)),
            bias: p.var("bias", &[units], Init::Const(0.0)),
            running_mean: p.zeros_no_train("running_mean", &[units]),
            running_var: p.ones_no_train("running_var", &[units]),
            eps,
            momentum,
        }
    }

    /// Normalised by the batch's own statistics, scaled and shifted, with the
    /// running averages left alone (the data-dependent init's pass, which
    /// the authors run without the BN updates), and those statistics: the
    /// per-unit mean and 1/sqrt(var + eps).
    fn batch(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        x.native_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            None::<&Tensor>,
            None::<&Tensor>,
            true,
            0.0,
            self.eps,
        )
    }

    /// See [`BatchNorm::batch`]: the output alone.
    pub fn normalise_batch(&self, x: &Tensor) -> Tensor {
        self.batch(x).0
    }
}

impl ModuleT for BatchNorm {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if !train {
            return x.batch_norm(
                Some(&self.weight),
                Some(&self.bias),
                Some(&self.running_mean),
                Some(&self.running_var),
                false,
                0.0,
                self.eps,
                true,
            );
        }
        let (y, mean, invstd) = self.batch(x);
        let n = x.size()[0] as f64;
        if n < 2.0 {
            // One image (a last, partial batch) has no B/(B-1): it leaves
            // the running averages alone.
            return y;
        }
        tch::no_grad(|| {
            let var = invstd.pow_tensor_scalar(-2) - self.eps;
            let _ = self
                .running_mean
                .shallow_clone()
                .lerp_(&mean, self.momentum);
            let _ = self
                .running_var
                .shallow_clone()
                .lerp_(&(var * (n / (n - 1.0))), self.momentum);
        });
        y
    }
}
