//! SGD as `torch.optim.SGD`.

use super::base::{Hyper, Optim, Rule};
use super::foreach;
use super::slots::{grad_of, pick, Slots};
use serde::{Deserialize, Serialize};

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

pub type Sgd = Optim<SgdConfig>;

impl Rule for SgdConfig {
    const NAME: &'static str = "SGD";

    fn update(&self, slots: &mut Slots) {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay: wd,
        } = *self;
        tch::no_grad(|| {
            for (p, st) in slots.iter_mut() {
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
    }

    /// torch/optim/sgd.py, `_multi_tensor_sgd`: buffers that exist are
    /// updated by foreach ops, new ones start as the decayed gradient.
    fn update_foreach(&self, slots: &mut Slots) {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            nesterov,
            weight_decay: wd,
        } = *self;
        tch::no_grad(|| {
            for g in slots.groups() {
                let mut d = g.decayed(wd);
                if momentum != 0.0 {
                    let (bufs, fresh) = slots.bufs(&g, "momentum", |j, _| d[j].detach().copy());
                    let old: Vec<bool> = fresh.iter().map(|f| !f).collect();
                    let old_bufs = pick(&bufs, &old);
                    foreach::mul_scalar_(&old_bufs, momentum);
                    foreach::add_(&old_bufs, &pick(&d, &old), 1.0 - dampening);
                    d = if nesterov {
                        foreach::add(&d, &bufs, momentum)
                    } else {
                        bufs
                    };
                }
                foreach::add_(&g.params, &d, -lr);
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
        let required = if self.momentum != 0.0 {
            vec!["momentum"]
        } else {
            vec![]
        };
        (&["momentum"], required)
    }
}
