//! Gradient-norm clipping over all parameters, as torch.nn.utils.clip_grad_norm_.

use super::foreach;
use super::foreach::UpdateImpl;
use super::param::Param;
use tch::{Device, Kind, Tensor};

/// Scales all gradients so that their total L2 norm (over all parameters, as
/// if concatenated) is at most `max_norm`, like
/// `torch.nn.utils.clip_grad_norm_`: the gradients are multiplied by
/// `min(1, max_norm / (norm + 1e-6))`, computed on the device (no host sync).
/// Parameters with an undefined gradient are ignored. `update` chooses
/// per-tensor norms and scaling or, as torch's foreach=True, one foreach norm
/// and one foreach scale per device and dtype.
pub fn clip_grad_norm(params: &[Param], max_norm: f64, update: UpdateImpl) {
    let _ = clip_grad_norm_total(params, max_norm, update);
}

/// [`clip_grad_norm`], returning the total norm before clipping (a scalar
/// tensor on the gradients' device; reading it is the caller's host sync), as
/// `torch.nn.utils.clip_grad_norm_` does. Zero (on the CPU) without gradients.
pub fn clip_grad_norm_total(params: &[Param], max_norm: f64, update: UpdateImpl) -> Tensor {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params
            .iter()
            .map(|p| p.tensor.grad())
            .filter(|g| g.defined())
            .collect();
        let Some(first) = grads.first() else {
            return Tensor::scalar_tensor(0.0, (Kind::Float, Device::Cpu));
        };
        let device = first.device();
        let multi = update.multi(device);
        let lists = match multi {
            true => foreach::grouped(&grads),
            false => vec![],
        };
        let norms: Vec<Tensor> = match multi {
            true => lists.iter().flat_map(|l| foreach::norm(l)).collect(),
            false => grads.iter().map(|g| g.norm()).collect(),
        };
        let norms: Vec<Tensor> = norms.iter().map(|n| n.to_device(device)).collect();
        let total = Tensor::stack(&norms, 0).norm();
        // As PyTorch: max_norm / (total + 1e-6) is reciprocal(total + 1e-6) * max_norm.
        let coef = ((&total + 1e-6).reciprocal() * max_norm).clamp_max(1.0);
        if multi {
            for l in &lists {
                foreach::mul_tensor_(l, &coef.to_device(l[0].device()));
            }
        } else {
            for g in &grads {
                let mut g = g.shallow_clone();
                let _ = g.g_mul_(&coef.to_device(g.device()));
            }
        }
        total
    })
}
