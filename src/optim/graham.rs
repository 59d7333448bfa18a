//! Graham's update rule, the one behind the Fractional Max-Pooling paper's
//! numbers: SparseConvNet's "NAG light" momentum.

use super::base::{Hyper, Optim, Rule};
use super::foreach;
use super::slots::{grad_of, Slots};
use serde::{Deserialize, Serialize};

/// The update of btgraham/SparseConvNet-archived,
/// SparseConvNet/NetworkInNetworkLayer.cu:27-41 (`dGradientDescent`; the
/// dropout variants at :43-82 apply the same three lines to the kept rows):
/// for every weight w with momentum m and gradient d,
///
/// ```text
/// w -= mu * m;  m = mu * m - lr * (1 - mu) * d;  w += (1 + mu) * m
/// ```
///
/// The momentum starts at zero (`MW.setZero()`, :139), so it is created as
/// zeros on a parameter's first update. No weight decay: the code has none.
///
/// `d` is the gradient of the loss *summed* over the batch
/// (SoftmaxClassifier.cu:11 back-propagates p - onehot for every image,
/// never divided by the batch size), which is what the learning rates of
/// mnist.cpp and cifar10.cpp assume. This rule applies whatever gradient it
/// is given; the FMP trainer gives it the summed loss's (fmp/train.rs,
/// `Recipe::loss`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GrahamConfig {
    pub lr: f64,
    pub momentum: f64,
}

pub type Graham = Optim<GrahamConfig>;

impl Rule for GrahamConfig {
    const NAME: &'static str = "Graham's NAG-light";

    fn update(&self, slots: &mut Slots) {
        let GrahamConfig { lr, momentum: mu } = *self;
        tch::no_grad(|| {
            for (p, st) in slots.iter_mut() {
                let Some(d) = grad_of(p, 0.0) else {
                    continue;
                };
                st.n += 1;
                let mut m = st.buf_or("momentum", p, |p| p.zeros_like());
                let _ = p.g_add_(&(&m * -mu));
                let _ = m.g_mul_scalar_(mu);
                let _ = m.g_add_(&(&d * (-lr * (1.0 - mu))));
                let _ = p.g_add_(&(&m * (1.0 + mu)));
            }
        });
    }

    /// The same three lines on lists of weights.
    fn update_foreach(&self, slots: &mut Slots) {
        let GrahamConfig { lr, momentum: mu } = *self;
        tch::no_grad(|| {
            for g in slots.groups() {
                let (m, _) = slots.bufs(&g, "momentum", |_, p| p.zeros_like());
                foreach::add_(&g.params, &m, -mu);
                foreach::mul_scalar_(&m, mu);
                foreach::add_(&m, &g.grads, -lr * (1.0 - mu));
                foreach::add_(&g.params, &m, 1.0 + mu);
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
        (&["momentum"], vec!["momentum"])
    }
}
