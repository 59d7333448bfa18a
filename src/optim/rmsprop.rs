//! RMSprop as `torch.optim.RMSprop`, or TensorFlow's RMSPropOptimizer.

use super::slots::{grad_of, Slots};
use super::{no_such, Hyper, Optimizer, Param};
use crate::error::Result;
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

pub struct RmsProp {
    cfg: RmsPropConfig,
    slots: Slots,
}

impl RmsProp {
    /// PyTorch's defaults: alpha 0.99, eps 1e-8, no momentum, not centered.
    pub fn new(params: Vec<Param>, lr: f64) -> RmsProp {
        RmsProp::from_config(params, RmsPropConfig::new(lr))
    }

    pub fn from_config(params: Vec<Param>, cfg: RmsPropConfig) -> RmsProp {
        RmsProp {
            cfg,
            slots: Slots::new(params),
        }
    }

    pub fn with_alpha(mut self, alpha: f64) -> RmsProp {
        self.cfg.alpha = alpha;
        self
    }

    pub fn with_eps(mut self, eps: f64) -> RmsProp {
        self.cfg.eps = eps;
        self
    }

    pub fn with_momentum(mut self, momentum: f64) -> RmsProp {
        self.cfg.momentum = momentum;
        self
    }

    pub fn with_centered(mut self, centered: bool) -> RmsProp {
        self.cfg.centered = centered;
        self
    }

    pub fn with_weight_decay(mut self, weight_decay: f64) -> RmsProp {
        self.cfg.weight_decay = weight_decay;
        self
    }

    pub fn with_tf_style(mut self, tf_style: bool) -> RmsProp {
        self.cfg.tf_style = tf_style;
        self
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self) {
        let RmsPropConfig {
            lr,
            alpha,
            eps,
            momentum,
            centered,
            weight_decay: wd,
            tf_style: tf,
        } = self.cfg;
        tch::no_grad(|| {
            for (p, st) in self.slots.iter_mut() {
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
        self.slots.steps += 1;
    }

    fn get(&self, h: Hyper) -> Option<f64> {
        match h {
            Hyper::Lr => Some(self.cfg.lr),
            Hyper::Momentum => Some(self.cfg.momentum),
            _ => None,
        }
    }

    fn set(&mut self, h: Hyper, value: f64) -> Result<()> {
        match h {
            Hyper::Lr => self.cfg.lr = value,
            Hyper::Momentum => self.cfg.momentum = value,
            _ => return Err(no_such("RMSprop", h)),
        }
        Ok(())
    }

    fn slots(&self) -> &Slots {
        &self.slots
    }

    fn slots_mut(&mut self) -> &mut Slots {
        &mut self.slots
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let mut required = vec!["square_avg"];
        if self.cfg.momentum > 0.0 {
            required.push("momentum");
        }
        if self.cfg.centered {
            required.push("grad_avg");
        }
        self.slots
            .load_state(state, &["square_avg", "momentum", "grad_avg"], &required)
    }
}
