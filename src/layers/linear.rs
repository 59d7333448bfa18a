//! A fully connected layer initialised as pylearn2's `irange`: weights
//! uniform in [-irange, irange], zero biases (the GAN paper's layers).

use tch::nn;

pub fn uniform_linear(p: nn::Path, inputs: i64, outputs: i64, irange: f64) -> nn::Linear {
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
