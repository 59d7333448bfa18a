//! The paper's MNIST pair (goodfeli/adversarial, mnist.yaml). G: z -> ReLU
//! 1200 -> ReLU 1200 -> sigmoid, one output per pixel. D: maxout 240x5 ->
//! maxout 240x5 -> one logit, with dropout on the input of every layer.

use super::args::TrainGanArgs;
use crate::layers::maxout::Maxout;
use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

/// Dropout that keeps each value with probability `include` and scales the
/// kept ones by 1/include (pylearn2's include_prob with its default scale),
/// so nothing changes at evaluation time.
pub fn dropout(x: &Tensor, include: f64, train: bool) -> Tensor {
    x.dropout(1.0 - include, train)
}

/// A linear layer with weights uniform in [-irange, irange] and zero biases.
fn linear(p: nn::Path, inputs: i64, outputs: i64, irange: f64) -> nn::Linear {
    let cfg = nn::LinearConfig {
        ws_init: nn::Init::Uniform {
            lo: -irange,
            up: irange,
        },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    nn::linear(p, inputs, outputs, cfg)
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
    a: &TrainGanArgs,
    shape: [i64; 3],
    marginals: Option<&Tensor>,
) -> impl ModuleT {
    let pixels = shape.iter().product();
    let g = Generator {
        h0: linear(p / "h0", a.noise_dim, a.g_hidden, a.g_init),
        h1: linear(p / "h1", a.g_hidden, a.g_hidden, a.g_init),
        y: linear(p / "y", a.g_hidden, pixels, a.g_init),
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
        h.apply(&self.y).squeeze_dim(1)
    }
}

/// D under `p` (h0, h1, y) for images of `shape`: returns one logit per image
/// (D(x) is its sigmoid; the losses use the logit for stability).
pub fn discriminator(p: &nn::Path, a: &TrainGanArgs, shape: [i64; 3]) -> impl ModuleT {
    let pixels = shape.iter().product();
    let units = a.d_units;
    Discriminator {
        h0: Maxout::new(p / "h0", pixels, units, a.d_pieces, a.d_init),
        h1: Maxout::new(p / "h1", units, units, a.d_pieces, a.d_init),
        y: linear(p / "y", units, 1, a.d_init),
        input_include: a.d_input_include,
        hidden_include: a.d_hidden_include,
    }
}
