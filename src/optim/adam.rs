//! Adam as `torch.optim.Adam`.

use super::base::{Hyper, Optim, Rule};
use super::foreach;
use super::slots::{grad_of, Slots};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Adam with the semantics of `torch.optim.Adam` (amsgrad off): L2 weight
/// decay added to the gradient, `m = beta1*m + (1-beta1)*g`,
/// `v = beta2*v + (1-beta2)*g²`,
/// `p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)`, where t counts
/// this parameter's updates. The betas are read at each step (so beta1 can be
/// changed mid-run with [`Optimizer::set`], as the weight-normalisation
/// paper does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Where eps goes: added to `sqrt(v)/sqrt(1-beta2^t)` (PyTorch's), or,
    /// when true, inside the root, `sqrt(v/(1-beta2^t) + eps)`: the
    /// weight-normalisation authors' Adam (openai/weightnorm,
    /// lasagne/nn.py:84, `v_hat / T.sqrt(mg_hat + 1e-8)`).
    #[serde(default)]
    pub eps_in_sqrt: bool,
}

impl AdamConfig {
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no weight decay.
    pub fn new(lr: f64) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            eps_in_sqrt: false,
        }
    }
}

pub type Adam = Optim<AdamConfig>;

impl Rule for AdamConfig {
    const NAME: &'static str = "Adam";

    fn update(&self, slots: &mut Slots) {
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: wd,
            eps_in_sqrt,
        } = *self;
        tch::no_grad(|| {
            for (p, st) in slots.iter_mut() {
                let Some(g) = grad_of(p, wd) else { continue };
                st.n += 1;
                let mut m = st.buf_or("exp_avg", p, Tensor::zeros_like);
                let mut v = st.buf_or("exp_avg_sq", p, Tensor::zeros_like);
                let _ = m.lerp_(&g, 1.0 - beta1);
                let _ = v.g_mul_scalar_(beta2);
                let _ = v.addcmul_(&(&g * (1.0 - beta2)), &g);
                let t = st.n as f64;
                let bias_correction1 = 1.0 - beta1.powf(t);
                let bias_correction2 = 1.0 - beta2.powf(t);
                let step_size = lr / bias_correction1;
                let denom = if eps_in_sqrt {
                    (&v / bias_correction2 + eps).sqrt_()
                } else {
                    (v.sqrt() / bias_correction2.sqrt()).g_add_scalar_(eps)
                };
                let _ = p.addcdiv_(&(&m * -step_size), &denom);
            }
        });
    }

    /// torch/optim/adam.py, `_multi_tensor_adam` (not capturable): the bias
    /// corrections per parameter, from its own update count.
    fn update_foreach(&self, slots: &mut Slots) {
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: wd,
            eps_in_sqrt,
        } = *self;
        let zeros = |_: usize, p: &Tensor| p.zeros_like();
        tch::no_grad(|| {
            for g in slots.groups() {
                let grads = g.decayed(wd);
                let (m, _) = slots.bufs(&g, "exp_avg", zeros);
                let (v, _) = slots.bufs(&g, "exp_avg_sq", zeros);
                foreach::lerp_(&m, &grads, 1.0 - beta1);
                foreach::mul_scalar_(&v, beta2);
                foreach::addcmul_(&v, &grads, &grads, 1.0 - beta2);
                let counts = slots.counts(&g);
                let step_size: Vec<f64> = counts
                    .iter()
                    .map(|&t| -lr / (1.0 - beta1.powf(t as f64)))
                    .collect();
                let bias_correction2: Vec<f64> =
                    counts.iter().map(|&t| 1.0 - beta2.powf(t as f64)).collect();
                let denom = if eps_in_sqrt {
                    // As the per-tensor form: sqrt(v / bias_correction2 + eps).
                    let d = foreach::add_scalar(&v, 0.0);
                    foreach::div_each_(&d, &bias_correction2);
                    foreach::add_scalar_(&d, eps);
                    foreach::sqrt_(&d);
                    d
                } else {
                    let d = foreach::sqrt(&v);
                    let sqrt2: Vec<f64> = bias_correction2.iter().map(|b| b.sqrt()).collect();
                    foreach::div_each_(&d, &sqrt2);
                    foreach::add_scalar_(&d, eps);
                    d
                };
                foreach::addcdiv_each_(&g.params, &m, &denom, &step_size);
            }
        });
    }

    fn hyper(&mut self, h: Hyper) -> Option<&mut f64> {
        match h {
            Hyper::Lr => Some(&mut self.lr),
            Hyper::Beta1 => Some(&mut self.beta1),
            Hyper::Beta2 => Some(&mut self.beta2),
            Hyper::Momentum => None,
        }
    }

    fn buffers(&self) -> (&'static [&'static str], Vec<&'static str>) {
        (&["exp_avg", "exp_avg_sq"], vec!["exp_avg", "exp_avg_sq"])
    }
}
