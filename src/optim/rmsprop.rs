//! RMSprop as `torch.optim.RMSprop`, or TensorFlow's RMSPropOptimizer.

use super::base::{Hyper, Optim, Rule};
use super::foreach;
use super::slots::{grad_of, Slots};
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// RMSprop.
///
/// With `tf_style == false`, the semantics of `torch.optim.RMSprop`:
/// `g += wd*p; v = alpha*v + (1-alpha)*g²` (v starts at zero); centered:
/// `m = alpha*m + (1-alpha)*g`, `avg = sqrt(v - m²) + eps`, else
/// `avg = sqrt(v) + eps`; with momentum `buf = momentum*buf + g/avg`,
/// `p -= lr*buf`, else `p -= lr*g/avg`.
///
/// With `tf_style == true`, TensorFlow's RMSPropOptimizer (timm's RMSpropTF):
/// v starts at ONE and eps goes inside the square root:
/// `avg = sqrt(v + eps)` (centered: `sqrt(v - m² + eps)`);
/// `buf = momentum*buf + lr*g/avg; p -= buf` (the learning rate is inside the
/// momentum buffer). Inception's recipe: alpha (decay) 0.9, momentum 0.9, eps 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RmsPropConfig {
    pub lr: f64,
    pub alpha: f64,
    pub eps: f64,
    pub momentum: f64,
    pub centered: bool,
    pub weight_decay: f64,
    pub tf_style: bool,
}

impl RmsPropConfig {
    /// PyTorch's defaults: alpha 0.99, eps 1e-8, no momentum, not centered.
    pub fn new(lr: f64) -> RmsPropConfig {
        RmsPropConfig {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.0,
            centered: false,
            weight_decay: 0.0,
            tf_style: false,
        }
    }
}

pub type RmsProp = Optim<RmsPropConfig>;

impl Rule for RmsPropConfig {
    const NAME: &'static str = "RMSprop";

    fn update(&self, slots: &mut Slots) {
        let RmsPropConfig {
            lr,
            alpha,
            eps,
            momentum,
            centered,
            weight_decay: wd,
            tf_style: tf,
        } = *self;
        tch::no_grad(|| {
            for (p, st) in slots.iter_mut() {
                let Some(g) = grad_of(p, wd) else { continue };
                st.n += 1;
                let mut v = st.buf_or("square_avg", p, |p| {
                    if tf {
                        p.ones_like()
                    } else {
                        p.zeros_like()
                    }
                });
                let _ = v.g_mul_scalar_(alpha);
                let _ = v.addcmul_(&(&g * (1.0 - alpha)), &g);
                let var = if centered {
                    let mut m = st.buf_or("grad_avg", p, Tensor::zeros_like);
                    let _ = m.g_mul_scalar_(alpha);
                    let _ = m.g_add_(&(&g * (1.0 - alpha)));
                    v.addcmul(&m, &m.neg())
                } else {
                    v
                };
                let avg = if tf {
                    (var + eps).sqrt()
                } else {
                    let mut avg = var.sqrt();
                    let _ = avg.g_add_scalar_(eps);
                    avg
                };
                if momentum > 0.0 {
                    let mut buf = st.buf_or("momentum", p, Tensor::zeros_like);
                    let _ = buf.g_mul_scalar_(momentum);
                    if tf {
                        // The learning rate lives inside TF's momentum buffer.
                        let _ = buf.addcdiv_(&(&g * lr), &avg);
                        let _ = p.g_sub_(&buf);
                    } else {
                        let _ = buf.addcdiv_(&g, &avg);
                        let _ = p.g_add_(&(&buf * -lr));
                    }
                } else {
                    // TF with momentum 0 keeps a buffer equal to lr*g/avg: the same update.
                    let _ = p.addcdiv_(&(&g * -lr), &avg);
                }
            }
        });
    }

    /// torch/optim/rmsprop.py, `_multi_tensor_rmsprop`, with the TF-style
    /// variant's start at one, eps inside the root and lr in the buffer.
    fn update_foreach(&self, slots: &mut Slots) {
        let RmsPropConfig {
            lr,
            alpha,
            eps,
            momentum,
            centered,
            weight_decay: wd,
            tf_style: tf,
        } = *self;
        let start = |_: usize, p: &Tensor| if tf { p.ones_like() } else { p.zeros_like() };
        let zeros = |_: usize, p: &Tensor| p.zeros_like();
        tch::no_grad(|| {
            for g in slots.groups() {
                let grads = g.decayed(wd);
                let (v, _) = slots.bufs(&g, "square_avg", start);
                foreach::mul_scalar_(&v, alpha);
                foreach::addcmul_(&v, &grads, &grads, 1.0 - alpha);
                let var = if centered {
                    let (m, _) = slots.bufs(&g, "grad_avg", zeros);
                    foreach::lerp_(&m, &grads, 1.0 - alpha);
                    Some(foreach::addcmul(&v, &m, &m, -1.0))
                } else {
                    None
                };
                let avg = match (var, tf) {
                    (Some(var), true) => {
                        foreach::add_scalar_(&var, eps);
                        foreach::sqrt_(&var);
                        var
                    }
                    (None, true) => foreach::sqrt(&foreach::add_scalar(&v, eps)),
                    (var, false) => {
                        let avg = match var {
                            Some(var) => {
                                foreach::sqrt_(&var);
                                var
                            }
                            None => foreach::sqrt(&v),
                        };
                        foreach::add_scalar_(&avg, eps);
                        avg
                    }
                };
                if momentum > 0.0 {
                    let (buf, _) = slots.bufs(&g, "momentum", zeros);
                    foreach::mul_scalar_(&buf, momentum);
                    if tf {
                        foreach::addcdiv_(&buf, &grads, &avg, lr);
                        foreach::add_(&g.params, &buf, -1.0);
                    } else {
                        foreach::addcdiv_(&buf, &grads, &avg, 1.0);
                        foreach::add_(&g.params, &buf, -lr);
                    }
                } else {
                    foreach::addcdiv_(&g.params, &grads, &avg, -lr);
                }
            }
        });
    }

    fn hyper(&mut self, h: Hyper) -> Option<&mut f64> {
        match h {
            Hyper::Lr => Some(&mut self.lr),
            Hyper::Momentum => Some(&mut self.momentum),
            _ => None,
        }
    }

    fn buffers(&self) -> (&'static [&'static str], Vec<&'static str>) {
        let mut required = vec!["square_avg"];
        if self.momentum > 0.0 {
            required.push("momentum");
        }
        if self.centered {
            required.push("grad_avg");
        }
        (&["square_avg", "momentum", "grad_avg"], required)
    }
}
