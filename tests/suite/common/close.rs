//! The suite's one closeness assertion.

use tch::{Kind, Tensor};

/// Values to compare: a tensor (any kind, any shape) or a slice of f64.
pub trait Values {
    /// The shape: a tensor's size, a slice's length.
    fn shape(&self) -> Vec<i64>;
    /// The values, row-major, as f64.
    fn values(&self) -> Vec<f64>;
}

impl Values for Tensor {
    fn shape(&self) -> Vec<i64> {
        self.size()
    }
    fn values(&self) -> Vec<f64> {
        Vec::<f64>::try_from(self.to_kind(Kind::Double).flatten(0, -1)).unwrap()
    }
}

impl Values for [f64] {
    fn shape(&self) -> Vec<i64> {
        vec![self.len() as i64]
    }
    fn values(&self) -> Vec<f64> {
        self.to_vec()
    }
}

impl Values for Vec<f64> {
    fn shape(&self) -> Vec<i64> {
        self.as_slice().shape()
    }
    fn values(&self) -> Vec<f64> {
        self.clone()
    }
}

impl<const N: usize> Values for [f64; N] {
    fn shape(&self) -> Vec<i64> {
        self.as_slice().shape()
    }
    fn values(&self) -> Vec<f64> {
        self.to_vec()
    }
}

/// Asserts that `actual` is close to `expected`, element by element:
///
/// |actual - expected| <= atol + rtol * |expected|
///
/// (numpy's `allclose`; a NaN is close to nothing). Two tensors must have
/// the same shape; a slice or a flat tensor and anything, as many
/// elements. A
/// tolerance relative to a whole tensor's scale (float sums round in
/// proportion to their largest terms, not to each result) is an `atol` of
/// `tol * largest(expected)`, with `rtol` 0. On failure the message names
/// `what`, the worst element and how many are off.
pub fn assert_close<A, E>(actual: &A, expected: &E, rtol: f64, atol: f64, what: &str)
where
    A: Values + ?Sized,
    E: Values + ?Sized,
{
    let (a_shape, e_shape) = (actual.shape(), expected.shape());
    let (a, e) = (actual.values(), expected.values());
    // A slice (or a flat tensor) against anything: the counts.
    let same_shape = if a_shape.len() == 1 || e_shape.len() == 1 {
        a.len() == e.len()
    } else {
        a_shape == e_shape
    };
    assert!(
        same_shape,
        "{what}: shape {a_shape:?}, expected {e_shape:?}"
    );
    let mut off = 0;
    let mut worst: Option<(usize, f64)> = None;
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let excess = (x - y).abs() - (atol + rtol * y.abs());
        if excess.is_nan() || excess > 0.0 {
            off += 1;
            if worst.is_none_or(|(_, w)| excess.is_nan() || excess > w) {
                worst = Some((i, excess));
            }
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: {off} of {} elements differ by more than {atol:e} + {rtol:e} |expected|; \
             the worst, element {i}, is {}, expected {}",
            a.len(),
            a[i],
            e[i]
        );
    }
}

/// The values of `t` (a tensor's row-major, as f64).
pub fn values(t: &(impl Values + ?Sized)) -> Vec<f64> {
    t.values()
}

/// The largest magnitude among `t`'s values, at least `floor`: the scale of
/// a tolerance relative to a whole tensor (see [`assert_close`]).
pub fn largest(t: &(impl Values + ?Sized), floor: f64) -> f64 {
    t.values().iter().fold(floor, |m, v| m.max(v.abs()))
}
