//! Mean-only batch normalization (Salimans & Kingma 2016, section 3): the
//! batch mean is subtracted in training and a running mean at evaluation,
//! then a learned bias is added; there is no division by the std, since the
//! weight-normalized layer below already fixes each unit's scale.
//! openai/weightnorm, lasagne/nn.py, `MeanOnlyBNLayer`: running mean
//! `0.9 * avg + 0.1 * m`, bias initialised to 0.

use super::weight_norm::{per_unit_like, unit_mean};
use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

/// The running mean's update weight (the authors' 0.1).
const MOMENTUM: f64 = 0.1;

#[derive(Debug)]
pub struct MeanOnlyBn {
    /// [units], learned.
    pub b: Tensor,
    /// [units], not trained; saved with the model.
    pub running_mean: Tensor,
}

impl MeanOnlyBn {
    /// For activations [B, `units`, ...] under `p` ("b", "running_mean").
    pub fn new(p: &nn::Path, units: i64) -> MeanOnlyBn {
        MeanOnlyBn {
            b: p.var("b", &[units], Init::Const(0.0)),
            running_mean: p.zeros_no_train("running_mean", &[units]),
        }
    }

    /// `x` minus its batch mean, plus the bias, leaving the running mean
    /// alone (the data-dependent init's pass, which the authors run without
    /// the running-mean updates).
    pub fn centre(&self, x: &Tensor) -> Tensor {
        self.shift(x, &unit_mean(x))
    }

    /// `x - mean + b` in `x`'s dtype (the mean and bias are float32).
    fn shift(&self, x: &Tensor, mean: &Tensor) -> Tensor {
        x - per_unit_like(mean, x) + per_unit_like(&self.b, x)
    }
}

impl ModuleT for MeanOnlyBn {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if !train {
            return self.shift(x, &self.running_mean);
        }
        let mean = unit_mean(x);
        tch::no_grad(|| {
            let _ = self
                .running_mean
                .shallow_clone()
                .lerp_(&mean.detach(), MOMENTUM);
        });
        self.shift(x, &mean)
    }
}
