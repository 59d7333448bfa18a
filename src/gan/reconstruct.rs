//! Xiang & Li's reconstruction measure: how well a trained G can reproduce
//! held-out images. For each image x, z starts at zeros and is optimised
//! with RMSProp (lr 0.01, alpha 0.9, eps 1e-6) on the pixel MSE between G(z)
//! and x, G frozen in evaluation mode (stormraiser/GAN-weight-norm,
//! pytorch/main.py, `test()`). The authors optimise batches of --batch-size
//! images, each batch's loss the MSE averaged over its pixels; here every
//! image is optimised at once, in one batched optimisation on the device
//! with no host read per step, and the loss is the sum of per-image MSEs
//! divided by that same batch size, so each z receives exactly the gradient
//! it gets in the authors' batches.

use crate::optim::{Optimizer, Param, RmsProp, RmsPropConfig};
use serde::{Deserialize, Serialize};
use tch::nn::ModuleT;
use tch::{Kind, Tensor};

/// How the codes are searched for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReconConfig {
    pub steps: i64,
    pub lr: f64,
    /// The batch size the authors' per-batch mean divides by.
    pub batch_size: i64,
}

/// The codes found for `x` [N, C, H, W] in [0, 1] and each image's final
/// MSE [N] (float, on `x`'s device). `g` must be frozen (no gradients for its
/// weights) and is run in evaluation mode.
pub fn reconstruct(
    g: &dyn ModuleT,
    code_size: i64,
    x: &Tensor,
    cfg: &ReconConfig,
) -> (Tensor, Tensor) {
    let n = x.size()[0];
    let z = Tensor::zeros([n, code_size], (Kind::Float, x.device())).set_requires_grad(true);
    let mut opt = RmsProp::new(
        vec![Param::new("z", z.shallow_clone())],
        RmsPropConfig {
            alpha: 0.9,
            eps: 1e-6,
            ..RmsPropConfig::new(cfg.lr)
        },
    );
    for _ in 0..cfg.steps {
        let loss =
            per_image_mse(&g.forward_t(&z, false), x).sum(Kind::Float) / cfg.batch_size as f64;
        opt.zero_grad();
        loss.backward();
        opt.step();
    }
    let mse = tch::no_grad(|| per_image_mse(&g.forward_t(&z, false), x));
    (z.detach(), mse)
}

/// The mean squared pixel error of each image: [N].
pub fn per_image_mse(y: &Tensor, x: &Tensor) -> Tensor {
    (y - x)
        .square()
        .flatten(1, -1)
        .mean_dim(1, false, Kind::Float)
}
