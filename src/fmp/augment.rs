//! Training-time augmentation on the device, per image, as Graham's CIFAR
//! runs did it (btgraham/SparseConvNet-archived, SparseConvNet/cifar10.cpp:8-32
//! and OpenCVPicture.cpp): an affine distortion with a random horizontal
//! flip, a random shift of the image inside the input field ("jiggle"), and
//! a colour distortion. It works on the padded input field, whose zeros are
//! the background, so nothing of the image is cut off.

use crate::layers::background::{foreground, margin, MARGIN_LEVELS};
use tch::{Kind, Tensor};

/// What [`Augment::apply`] does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// The affine distortion and flip of cifar10.cpp:13-27.
    pub affine: bool,
    /// Shift the image by a whole number of pixels in [-jiggle, jiggle] along
    /// each axis (OpenCVPicture::jiggle, cifar10.cpp:28).
    pub jiggle: i64,
    /// Standard deviations, in pixel levels (0-255), of OpenCVPicture's
    /// colorDistortion (OpenCVPicture.cpp:87-118): brightness, contrast,
    /// and the x and y gradients; None: no colour distortion.
    pub color: Option<[f64; 4]>,
    /// Pixel levels per unit of input value (fmp::model::Input), to put
    /// the colour distortion's levels and its 2-level background test in
    /// input units.
    pub levels_per_unit: f64,
}

impl Augment {
    /// Whether it changes anything.
    pub fn is_active(&self) -> bool {
        self.affine || self.jiggle > 0 || self.color.is_some()
    }

    /// Distort a batch of input fields [B, C, S, S] (0 outside the image).
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let (b, _, h, w) = x.size4().expect("augmentation expects [B, C, H, W]");
        let opts = (Kind::Float, x.device());
        let linear = if self.affine {
            graham_affine(b, x.device())
        } else {
            Tensor::eye(2, opts).expand([b, 2, 2], false)
        };
        // The shift in pixels (x, y), then in grid_sample's [-1, 1] units.
        let shift = Tensor::randint_low(-self.jiggle, self.jiggle + 1, [b, 2], opts);
        let shift_units = Tensor::stack(
            &[
                shift.select(1, 0) * (2.0 / w as f64),
                shift.select(1, 1) * (2.0 / h as f64),
            ],
            1,
        );
        // grid_sample maps each output point to an input point: the inverse
        // of "distort about the centre, then move by the shift". The field
        // is square, so a pixel matrix is the same in [-1, 1] units.
        let inverse = inverse_2x2(&linear);
        let back = -inverse.matmul(&shift_units.unsqueeze(2));
        let theta = Tensor::cat(&[inverse, back], 2);
        let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
        let y = x.grid_sampler(&grid, 0, 0, false);
        match self.color {
            Some(sigma) => self.color_distortion(&y, &shift, sigma),
            None => y,
        }
    }

    /// OpenCVPicture::colorDistortion (OpenCVPicture.cpp:87-118) after the
    /// shift: per image and channel, brightness d1, contrast d2 and
    /// gradients d3, d4 in x and y from the image's centre, added to the
    /// pixels that differ from the background by more than 2 levels in some
    /// channel (the others are background and stay it).
    fn color_distortion(&self, y: &Tensor, shift: &Tensor, sigma: [f64; 4]) -> Tensor {
        let (b, c, h, w) = y.size4().unwrap();
        let opts = (Kind::Float, y.device());
        let unit = self.levels_per_unit;
        let d = |s: f64| Tensor::randn([b, c, 1, 1], opts) * s;
        let (d1, d2, d3, d4) = (d(sigma[0]), d(sigma[1]), d(sigma[2]), d(sigma[3]));
        // Pixel coordinates from the image's centre: the field's centre moved
        // by the shift (shift [B, 2] holds x, then y).
        let centre = |n: i64, axis: i64| {
            let coord = Tensor::arange(n, opts) - (n / 2) as f64;
            coord.view([1, -1]) - shift.select(1, axis).view([b, 1])
        };
        let xs = centre(w, 0).view([b, 1, 1, w]);
        let ys = centre(h, 1).view([b, 1, h, 1]);
        let delta = (d1 + d3 * xs + d4 * ys) / unit + d2 * y;
        y + delta * foreground(y, margin(MARGIN_LEVELS, unit))
    }
}

/// cifar10.cpp:13-26: stretch x and y by 1 + U(-0.2, 0.2), flip x with
/// probability 1/2, then one of slant, slant the other way, or rotate by
/// U(-0.2, 0.2). As a matrix acting on (x, y) pixel coordinates the way
/// readImageToMat.cpp:42-44 applies it: dst = [[c00, c10], [c01, c11]] src.
fn graham_affine(b: i64, device: tch::Device) -> Tensor {
    let opts = (Kind::Float, device);
    let uniform = || Tensor::rand([b], opts) * 0.4 - 0.2;
    let flip = Tensor::rand([b], opts).lt(0.5).to_kind(Kind::Float) * -2.0 + 1.0;
    let c00 = (uniform() + 1.0) * flip;
    let c11 = uniform() + 1.0;
    let a = uniform();
    let choice = Tensor::randint(3, [b], (Kind::Int64, device));
    let (zero, one) = (Tensor::zeros([b], opts), Tensor::ones([b], opts));
    let pick = |slant: &Tensor, other: &Tensor, rotate: &Tensor| {
        slant.where_self(&choice.eq(0), &other.where_self(&choice.eq(1), rotate))
    };
    // c <- c * a (OpenCVPicture.cpp:404-414) with a = [[1, 0], [a, 1]],
    // [[1, a], [0, 1]] or [[cos, -sin], [sin, cos]], from c = diag(c00, c11).
    let (cos, sin) = (a.cos(), a.sin());
    let m00 = &c00 * pick(&one, &one, &cos);
    let m01 = &c00 * pick(&zero, &a, &(-&sin));
    let m10 = &c11 * pick(&a, &zero, &sin);
    let m11 = &c11 * pick(&one, &one, &cos);
    // dst_x = m00 x + m10 y, dst_y = m01 x + m11 y.
    let row_x = Tensor::stack(&[m00, m10], 1);
    let row_y = Tensor::stack(&[m01, m11], 1);
    Tensor::stack(&[row_x, row_y], 1)
}

/// The inverses of a batch of 2x2 matrices [B, 2, 2], in closed form (no
/// solver, so no host synchronisation on CUDA).
fn inverse_2x2(m: &Tensor) -> Tensor {
    let at = |i: i64, j: i64| m.select(1, i).select(1, j);
    let (a, b, c, d) = (at(0, 0), at(0, 1), at(1, 0), at(1, 1));
    let det = (&a * &d - &b * &c).view([-1, 1, 1]);
    let row0 = Tensor::stack(&[d, -b], 1);
    let row1 = Tensor::stack(&[-c, a], 1);
    Tensor::stack(&[row0, row1], 1) / det
}
