//! The paper's MNIST pair (goodfeli/adversarial, mnist.yaml). G: z -> ReLU
//! 1200 -> ReLU 1200 -> sigmoid, one output per pixel. D: maxout 240x5 ->
//! maxout 240x5 -> one logit, with dropout on the input of every layer.

use crate::layers::linear::uniform_linear as linear;
use crate::layers::maxout::Maxout;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

/// The sizes, initialisation and dropout of the MLP pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Width of each of G's two ReLU layers.
    pub g_hidden: i64,
    /// Maxout units in each of D's two hidden layers, and pieces per unit.
    pub d_units: i64,
    pub d_pieces: i64,
    /// G's and D's weights are uniform in [-init, init].
    pub g_init: f64,
    pub d_init: f64,
    /// Probabilities of keeping D's input pixels and its later layers' inputs.
    pub d_input_include: f64,
    pub d_hidden_include: f64,
}

/// Dropout that keeps each value with probability `include` and scales the
/// kept ones by 1/include (pylearn2's include_prob with its default scale),
/// so nothing changes at evaluation time.
pub fn dropout(x: &Tensor, include: f64, train: bool) -> Tensor {
    x.dropout(1.0 - include, train)
}

#[derive(Debug)]
struct Generator {
    h0: nn::Linear,
    h1: nn::Linear,
    y: nn::Linear,
    shape: [i64; 3],
}

impl ModuleT for Generator {
    fn forward_t(&self, z: &Tensor, _train: bool) -> Tensor {
        let [c, h, w] = self.shape;
        z.apply(&self.h0)
            .relu()
            .apply(&self.h1)
            .relu()
            .apply(&self.y)
            .sigmoid()
            .view([-1, c, h, w])
    }
}

/// G under `p` (h0, h1, y) for images of `shape`. `marginals` (per-pixel
/// training means in [0, 1]) set the output bias to their logit, clipped to
/// [1e-7, 1 - 1e-7] as pylearn2's init_sigmoid_bias_from_marginals does; None
/// leaves it zero (a G about to be loaded from a checkpoint).
pub fn generator(
    p: &nn::Path,
    c: &MlpConfig,
    noise_dim: i64,
    shape: [i64; 3],
    marginals: Option<&Tensor>,
) -> impl ModuleT {
    let pixels = shape.iter().product();
    let g = Generator {
        h0: linear(p / "h0", noise_dim, c.g_hidden, c.g_init),
        h1: linear(p / "h1", c.g_hidden, c.g_hidden, c.g_init),
        y: linear(p / "y", c.g_hidden, pixels, c.g_init),
        shape,
    };
    if let (Some(m), Some(bias)) = (marginals, &g.y.bs) {
        let logit = m.to_kind(Kind::Float).clamp(1e-7, 1.0 - 1e-7).logit(None);
        tch::no_grad(|| bias.shallow_clone().copy_(&logit.to_device(bias.device())));
    }
    g
}

#[derive(Debug)]
struct Discriminator {
    h0: Maxout,
    h1: Maxout,
    y: nn::Linear,
    input_include: f64,
    hidden_include: f64,
}

impl ModuleT for Discriminator {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = dropout(&x.flatten(1, -1), self.input_include, train);
        let h = dropout(&self.h0.forward(&x), self.hidden_include, train);
        let h = dropout(&self.h1.forward(&h), self.hidden_include, train);
        h.apply(&self.y)
    }
}

/// D under `p` (h0, h1, y) for images of `shape`: returns one logit per image,
/// [B, 1] (D(x) is its sigmoid; the losses use the logit for stability, and
/// take means, which need no squeeze).
pub fn discriminator(p: &nn::Path, c: &MlpConfig, shape: [i64; 3]) -> impl ModuleT {
    let pixels = shape.iter().product();
    let units = c.d_units;
    Discriminator {
        h0: Maxout::new(p / "h0", pixels, units, c.d_pieces, c.d_init),
        h1: Maxout::new(p / "h1", units, units, c.d_pieces, c.d_init),
        y: linear(p / "y", units, 1, c.d_init),
        input_include: c.d_input_include,
        hidden_include: c.d_hidden_include,
    }
}
