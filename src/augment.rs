//! Training-time augmentation on the device, per image: a random horizontal
//! flip and a small affine distortion (Graham's CIFAR recipe: x and y stretch
//! by up to 20%, then one of slant-x, slant-y or rotation by up to 0.2 rad).

use tch::{Kind, Tensor};

/// Flip and distort a batch [B, C, H, W] (values outside the image become 0).
pub fn flip_affine(x: &Tensor) -> Tensor {
    let (b, _, _, _) = x.size4().expect("augmentation expects [B, C, H, W]");
    let opts = (Kind::Float, x.device());
    let uniform = |lo: f64, hi: f64| Tensor::rand([b], opts) * (hi - lo) + lo;
    let flip = Tensor::rand([b], opts).lt(0.5).to_kind(Kind::Float) * -2.0 + 1.0;
    let c00 = (uniform(-0.2, 0.2) + 1.0) * flip;
    let c11 = uniform(-0.2, 0.2) + 1.0;
    let a = uniform(-0.2, 0.2);
    let choice = Tensor::randint(3, [b], (Kind::Int64, x.device()));
    let zero = Tensor::zeros([b], opts);
    let one = Tensor::ones([b], opts);
    // [[c00, 0], [0, c11]] times one of [[1, 0], [a, 1]], [[1, a], [0, 1]], rotation(a).
    let pick = |slant_x: &Tensor, slant_y: &Tensor, rotate: &Tensor| {
        slant_x.where_self(&choice.eq(0), &slant_y.where_self(&choice.eq(1), rotate))
    };
    let t00 = pick(&one, &one, &a.cos());
    let t01 = pick(&zero, &a, &(-a.sin()));
    let t10 = pick(&a, &zero, &a.sin());
    let t11 = pick(&one, &one, &a.cos());
    let row0 = Tensor::stack(&[&c00 * &t00, &c00 * &t01, zero.shallow_clone()], 1);
    let row1 = Tensor::stack(&[&c11 * &t10, &c11 * &t11, zero], 1);
    let theta = Tensor::stack(&[row0, row1], 1);
    let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
    x.grid_sampler(&grid, 0, 0, false)
}
