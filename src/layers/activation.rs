//! Activations that tch does not offer with the slope the papers use.

use tch::Tensor;

/// Leaky ReLU with a given negative slope (Graham's "very leaky" ReLU is 0.333),
/// as one PReLU op with a fixed slope made on the device (no host copy).
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.prelu(&Tensor::full([1], slope, (x.kind(), x.device())))
}
