//! Multi-tensor updates: libtorch's `at::_foreach_*` ops (csrc/foreach.cpp)
//! on lists of tensors, and the choice between them and the per-tensor loop.
//!
//! On CUDA one foreach op is a few kernel launches for a whole list where the
//! per-tensor loop launches one or more per tensor (Inception-v4 has 449
//! parameter tensors), which is why torch.optim, clip_grad_norm_ and timm's
//! ModelEmaV3 use them there by default. On the CPU libtorch runs the same
//! per-tensor kernels in a loop. A list given to an op holds tensors of one
//! device and dtype ([`groups`]), as torch.optim groups them
//! (`_group_tensors_by_device_and_dtype`), so every list can take CUDA's
//! fused path.

use crate::native;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::ffi::c_char;
use tch::{Device, Kind, Tensor};
use torch_sys::C_tensor;

/// How optimizers, weight decay, clipping and the weight EMA apply their
/// updates (`--update-impl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateImpl {
    /// A few ops per tensor (the faster on the CPU).
    PerTensor,
    /// libtorch's multi-tensor ops on lists grouped by device and dtype.
    Foreach,
    /// Multi-tensor on CUDA, per-tensor elsewhere (as torch.optim chooses).
    #[default]
    Auto,
}

impl UpdateImpl {
    /// Whether tensors on `device` are updated by the multi-tensor form.
    pub fn multi(self, device: Device) -> bool {
        match self {
            UpdateImpl::PerTensor => false,
            UpdateImpl::Foreach => true,
            UpdateImpl::Auto => device.is_cuda(),
        }
    }
}

/// Positions in `tensors` of each (device, dtype) group, in first-seen order
/// and in order within a group.
pub fn groups<'a>(tensors: impl IntoIterator<Item = &'a Tensor>) -> Vec<Vec<usize>> {
    let mut keys: Vec<(Device, Kind)> = vec![];
    let mut out: Vec<Vec<usize>> = vec![];
    for (i, t) in tensors.into_iter().enumerate() {
        let key = (t.device(), t.kind());
        match keys.iter().position(|k| *k == key) {
            Some(g) => out[g].push(i),
            None => {
                keys.push(key);
                out.push(vec![i]);
            }
        }
    }
    out
}

/// `tensors` split into lists of one device and dtype ([`groups`]).
pub fn grouped(tensors: &[Tensor]) -> Vec<Vec<Tensor>> {
    groups(tensors)
        .into_iter()
        .map(|g| g.iter().map(|&i| tensors[i].shallow_clone()).collect())
        .collect()
}

/// `a` and `b` (of equal length) split into pairs of lists by the device
/// and dtype of `a`'s tensors.
pub fn grouped_pairs(a: &[Tensor], b: &[Tensor]) -> Vec<(Vec<Tensor>, Vec<Tensor>)> {
    assert_eq!(a.len(), b.len(), "foreach: lists of different lengths");
    let pick = |l: &[Tensor], g: &[usize]| g.iter().map(|&i| l[i].shallow_clone()).collect();
    groups(a)
        .into_iter()
        .map(|g| (pick(a, &g), pick(b, &g)))
        .collect()
}

/// The ops of csrc/foreach.cpp, numbered as its `Op`.
#[derive(Clone, Copy)]
#[repr(i32)]
enum Op {
    AddList_ = 0,
    AddList = 1,
    AddScalar_ = 2,
    MulScalar_ = 3,
    MulTensor_ = 4,
    Addcmul_ = 5,
    Addcmul = 6,
    Addcdiv_ = 7,
    AddcdivList_ = 8,
    DivList_ = 9,
    Lerp_ = 10,
    Sqrt = 11,
    Sqrt_ = 12,
    Norm = 13,
    AddScalar = 14,
}

extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn paperlab_foreach(
        op: i32,
        a: *const *const C_tensor,
        b: *const *const C_tensor,
        c: *const *const C_tensor,
        n: usize,
        s: *const f64,
        t: *const C_tensor,
        out: *mut *mut C_tensor,
        error: *mut *mut c_char,
    ) -> bool;
}

/// Runs `op` on `a` (and `b`, `c` where it takes them, each as long as `a`)
/// with scalars `s`; returns the tensors it makes (none for in-place ops).
/// A libtorch error is a bug in the caller, so it panics with the message,
/// as tch's own ops do.
fn run(
    op: Op,
    a: &[Tensor],
    b: &[Tensor],
    c: &[Tensor],
    s: &[f64],
    t: Option<&Tensor>,
) -> Vec<Tensor> {
    let n = a.len();
    if n == 0 {
        return vec![];
    }
    assert!(
        [b.len(), c.len()].iter().all(|&l| l == 0 || l == n),
        "foreach: lists of different lengths"
    );
    let ptrs = |l: &[Tensor]| -> Vec<*const C_tensor> { l.iter().map(|x| x.as_ptr()).collect() };
    let (pa, pb, pc) = (ptrs(a), ptrs(b), ptrs(c));
    let or_null = |p: &Vec<*const C_tensor>| {
        if p.is_empty() {
            std::ptr::null()
        } else {
            p.as_ptr()
        }
    };
    let mut out: Vec<*mut C_tensor> = vec![std::ptr::null_mut(); n];
    let t = t.map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: every pointer is to a live tensor (or null where the op takes
    // none); `s` holds what the op reads (one scalar, or n for list forms);
    // `out` has room for n tensors.
    let done = native::status(|error| unsafe {
        paperlab_foreach(
            op as i32,
            pa.as_ptr(),
            or_null(&pb),
            or_null(&pc),
            n,
            s.as_ptr(),
            t,
            out.as_mut_ptr(),
            error,
        )
    });
    if let Err(message) = done {
        panic!("foreach op: {message}");
    }
    out.into_iter()
        .take_while(|p| !p.is_null())
        // SAFETY: the shim made these tensors for the caller to own.
        .map(|p| unsafe { Tensor::from_ptr(p) })
        .collect()
}

/// `a[i] += alpha * b[i]`.
pub fn add_(a: &[Tensor], b: &[Tensor], alpha: f64) {
    run(Op::AddList_, a, b, &[], &[alpha], None);
}

/// `a[i] + alpha * b[i]`, new tensors.
pub fn add(a: &[Tensor], b: &[Tensor], alpha: f64) -> Vec<Tensor> {
    run(Op::AddList, a, b, &[], &[alpha], None)
}

/// `a[i] += s`.
pub fn add_scalar_(a: &[Tensor], s: f64) {
    run(Op::AddScalar_, a, &[], &[], &[s], None);
}

/// `a[i] + s`, new tensors.
pub fn add_scalar(a: &[Tensor], s: f64) -> Vec<Tensor> {
    run(Op::AddScalar, a, &[], &[], &[s], None)
}

/// `a[i] *= s`.
pub fn mul_scalar_(a: &[Tensor], s: f64) {
    run(Op::MulScalar_, a, &[], &[], &[s], None);
}

/// `a[i] *= t` for a scalar tensor `t` on the lists' device (no host read).
pub fn mul_tensor_(a: &[Tensor], t: &Tensor) {
    run(Op::MulTensor_, a, &[], &[], &[], Some(t));
}

/// `a[i] += value * b[i] * c[i]`.
pub fn addcmul_(a: &[Tensor], b: &[Tensor], c: &[Tensor], value: f64) {
    run(Op::Addcmul_, a, b, c, &[value], None);
}

/// `a[i] + value * b[i] * c[i]`, new tensors.
pub fn addcmul(a: &[Tensor], b: &[Tensor], c: &[Tensor], value: f64) -> Vec<Tensor> {
    run(Op::Addcmul, a, b, c, &[value], None)
}

/// `a[i] += value * b[i] / c[i]`.
pub fn addcdiv_(a: &[Tensor], b: &[Tensor], c: &[Tensor], value: f64) {
    run(Op::Addcdiv_, a, b, c, &[value], None);
}

/// `a[i] += values[i] * b[i] / c[i]`.
pub fn addcdiv_each_(a: &[Tensor], b: &[Tensor], c: &[Tensor], values: &[f64]) {
    assert_eq!(
        values.len(),
        a.len(),
        "foreach addcdiv: one value per tensor"
    );
    run(Op::AddcdivList_, a, b, c, values, None);
}

/// `a[i] /= values[i]`.
pub fn div_each_(a: &[Tensor], values: &[f64]) {
    assert_eq!(values.len(), a.len(), "foreach div: one value per tensor");
    run(Op::DivList_, a, &[], &[], values, None);
}

/// `a[i] += w * (b[i] - a[i])`.
pub fn lerp_(a: &[Tensor], b: &[Tensor], w: f64) {
    run(Op::Lerp_, a, b, &[], &[w], None);
}

/// `sqrt(a[i])`, new tensors.
pub fn sqrt(a: &[Tensor]) -> Vec<Tensor> {
    run(Op::Sqrt, a, &[], &[], &[], None)
}

/// `a[i] = sqrt(a[i])`.
pub fn sqrt_(a: &[Tensor]) {
    run(Op::Sqrt_, a, &[], &[], &[], None);
}

/// The L2 norm of each `a[i]`, scalar tensors on its device.
pub fn norm(a: &[Tensor]) -> Vec<Tensor> {
    run(Op::Norm, a, &[], &[], &[], None)
}
