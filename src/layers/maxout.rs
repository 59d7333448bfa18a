//! Maxout (Goodfellow et al. 2013): a linear map to units x pieces values and
//! the max over each unit's pieces. Pieces are consecutive, as in pylearn2's
//! Maxout layer (unit j is the max of outputs j*pieces .. (j+1)*pieces - 1), so
//! weights map one to one onto the authors' models.

use super::linear::uniform_linear;
use tch::nn::{self, Module};
use tch::Tensor;

/// Max over consecutive groups of `pieces` along the last dimension:
/// [..., units * pieces] -> [..., units].
pub fn maxout(x: &Tensor, pieces: i64) -> Tensor {
    let mut shape = x.size();
    let last = shape.pop().expect("maxout of a scalar");
    assert!(
        pieces > 0 && last % pieces == 0,
        "maxout: {last} values do not split into groups of {pieces}"
    );
    shape.extend([last / pieces, pieces]);
    x.reshape(shape.as_slice()).amax([-1], false)
}

/// A fully connected maxout layer.
#[derive(Debug)]
pub struct Maxout {
    pub linear: nn::Linear,
    pub pieces: i64,
}

impl Maxout {
    /// `inputs` -> `units` maxout units of `pieces` pieces; weights uniform in
    /// [-irange, irange] and zero biases, as pylearn2's `irange` initialises them.
    pub fn new(p: nn::Path, inputs: i64, units: i64, pieces: i64, irange: f64) -> Maxout {
        Maxout {
            linear: uniform_linear(p, inputs, units * pieces, irange),
            pieces,
        }
    }
}

impl Module for Maxout {
    fn forward(&self, x: &Tensor) -> Tensor {
        maxout(&x.apply(&self.linear), self.pieces)
    }
}
