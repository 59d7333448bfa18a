//! Graham's ColorShiftLayer (btgraham/SparseConvNet-archived, the April 2015
//! tree, commit 83bc38f: ColorShiftLayer.h:25-52), the first layer of his FMP
//! CIFAR networks (runCifar100.cu:19, runCifar10.cu:40, with sigmas 0.2,
//! 0.3, 0.6, 0.6). On training batches only, each image and channel draws
//! d1..d4 from N(0, sigma_1..4), and every active (non-background) site of
//! the S x S input field, value v at row r and column c, becomes
//!
//!   v + d1 + d2 cos(v pi / 2) + d3 (r / S - 0.5) + d4 (c / S - 0.5),
//!
//! in input units (his scaled features). His loop index k = y S + x
//! (ColorShiftLayer.h:41) against the grid's n = X S + Y with X the column
//! (OpenCVPicture.h:124) makes his x the row and his y the column.

use super::background::foreground;
use std::f64::consts::FRAC_PI_2;
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorShift {
    /// Standard deviations of the shift, the cos-weighted shift, and the row
    /// and column gradients.
    pub sigma: [f64; 4],
}

impl ColorShift {
    /// Shift a training batch [B, C, H, W] with fresh draws from torch's
    /// generator.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let (b, c, _, _) = x.size4().expect("ColorShift expects [B, C, H, W]");
        let draws = self
            .sigma
            .map(|s| Tensor::randn([b, c, 1, 1], (x.kind(), x.device())) * s);
        shift_with(x, &draws)
    }
}

/// The shift with given d1..d4, each [B, C, 1, 1]; pixels that are 0 in
/// every channel (background) stay 0.
pub fn shift_with(x: &Tensor, [d1, d2, d3, d4]: &[Tensor; 4]) -> Tensor {
    let (_, _, h, w) = x.size4().expect("ColorShift expects [B, C, H, W]");
    let opts = (x.kind(), x.device());
    let rows = (Tensor::arange(h, opts) / h as f64 - 0.5).view([1, 1, h, 1]);
    let cols = (Tensor::arange(w, opts) / w as f64 - 0.5).view([1, 1, 1, w]);
    let delta = d1 + d2 * (x * FRAC_PI_2).cos() + d3 * rows + d4 * cols;
    x + delta * foreground(x, 0.0)
}
