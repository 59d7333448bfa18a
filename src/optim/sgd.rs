//! SGD as `torch.optim.SGD`.

use super::slots::{grad_of, Slots};
use super::{no_such, Hyper, Optimizer, Param};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Stochastic gradient descent with the semantics of `torch.optim.SGD`:
/// `d = g + wd*p`; with momentum, `buf = d` on a parameter's first update and
/// `buf = momentum*buf + (1-dampening)*d` after; `d = d + momentum*buf`
/// (Nesterov) or `d = buf`; `p -= lr*d`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

impl SgdConfig {
    /// Plain SGD (no momentum, dampening or weight decay).
    pub fn new(lr: f64) -> SgdConfig {
        SgdConfig {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

pub struct Sgd {
    cfg: SgdConfig,
    slots: Slots,
}

impl Sgd {
    /// Plain SGD (no momentum, dampening or weight decay).
    pub fn new(params: Vec<Param>, lr: f64) -> Sgd {
        Sgd::from_config(params, SgdConfig::new(lr))
    }

    pub fn from_config(params: Vec<Param>, cfg: SgdConfig) -> Sgd {
        Sgd {
            cfg,
            slots: Slots::new(params),
        }
    }

    pub fn with_momentum(mut self, momentum: f64) -> Sgd {
        self.cfg.momentum = momentum;
        self
    }

    pub fn with_dampening(mut self, dampening: f64) -> Sgd {
        self.cfg.dampening = dampening;
        self
    }

    pub fn with_nesterov(mut self, nesterov: bool) -> Sgd {
        self.cfg.nesterov = nesterov;
        self
    }

    pub fn with_weight_decay(mut self, weight_decay: f64) -> Sgd {
        self.cfg.weight_decay = weight_decay;
        self
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay: wd,
        } = self.cfg;
        tch::no_grad(|| {
            for (p, st) in self.slots.iter_mut() {
                let Some(mut d) = grad_of(p, wd) else {
                    continue;
                };
                st.n += 1;
                if momentum != 0.0 {
                    let buf = match st.buf("momentum") {
                        Some(mut buf) => {
                            let _ = buf.g_mul_scalar_(momentum);
                            if dampening == 0.0 {
                                let _ = buf.g_add_(&d);
                            } else {
                                let _ = buf.g_add_(&(&d * (1.0 - dampening)));
                            }
                            buf
                        }
                        // PyTorch: the buffer starts as a copy of the (decayed) gradient.
                        None => st.buf_or("momentum", p, |_| d.detach().copy()),
                    };
                    d = if nesterov { &d + &buf * momentum } else { buf };
                }
                let _ = p.g_add_(&(&d * -lr));
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
            _ => return Err(no_such("SGD", h)),
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
        let required: &[&str] = if self.cfg.momentum != 0.0 {
            &["momentum"]
        } else {
            &[]
        };
        self.slots.load_state(state, &["momentum"], required)
    }
}
