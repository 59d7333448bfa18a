//! Graham's input sites (btgraham/SparseConvNet-archived): a pixel enters
//! his spatially sparse network as an active site only when some channel
//! differs from the background colour by more than 2 grey levels
//! (OpenCVPicture.cpp:386-391 at HEAD; the April 2015 tree's
//! OpenCVPicture.h:119-122 tests |scaled value| > 0.02, the same 2 levels
//! for his CIFAR input). Every other site holds the background vector: 0 at
//! the input, and after each layer whatever that layer makes of zeros,
//! which is what a dense network computes on background too. So the only
//! difference to model is the marking: pixels within the margin in every
//! channel become exactly the background, 0.

use tch::Tensor;

/// Graham's margin, in grey levels.
pub const MARGIN_LEVELS: f64 = 2.0;

/// A margin of `levels` grey levels in input units at `levels_per_unit`,
/// widened by a thousandth of a level: a pixel exactly at the margin, which
/// f32 scaling can put a rounding error beyond it, is background as in his
/// test on whole levels.
pub fn margin(levels: f64, levels_per_unit: f64) -> f64 {
    (levels + 1e-3) / levels_per_unit
}

/// [B, 1, H, W], boolean: where some channel of `x` [B, C, H, W] differs
/// from the background 0 by more than `margin` (input units). A product
/// with `x` takes it as 1 and 0 in x's type.
pub fn foreground(x: &Tensor, margin: f64) -> Tensor {
    let away = x.abs().gt(margin);
    match x.size()[1] {
        1 => away,
        _ => away.any_dim(1, true),
    }
}

/// `x` with every pixel that is within `margin` of 0 in all channels set to
/// exactly 0; a margin of 0 changes nothing.
pub fn mark_background(x: &Tensor, margin: f64) -> Tensor {
    if margin == 0.0 {
        return x.shallow_clone();
    }
    x * foreground(x, margin)
}
