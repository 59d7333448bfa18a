//! Activations that tch does not offer with the slope the papers use.

use tch::Tensor;

/// Leaky ReLU with a given negative slope (Graham's "very leaky" ReLU is 0.333).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.clamp_min(0.0) + x.clamp_max(0.0) * slope
}
