//! The libtorch calls of csrc/ops.cpp (compiled by build.rs against the
//! same headers): ops that tch 0.24 lacks with the arguments paperlab needs
//! (a slope, no device, a memory format), a gradient set to none
//! ([`clear_grad`]), one thread's libtorch ops
//! kept on that thread ([`serial_thread`]), and libtorch's determinism
//! settings ([`set_determinism`], [`determinism`]);
//! and the error handling every csrc/ binding shares ([`call`], [`status`],
//! [`take_message`]; csrc/dist.cpp's bindings are in runner/dist/).

use std::ffi::{c_char, c_void, CStr};
use tch::Tensor;
use torch_sys::C_tensor;

extern "C" {
    fn paperlab_leaky_relu(
        x: *const C_tensor,
        slope: f64,
        error: *mut *mut c_char,
    ) -> *mut C_tensor;
    fn paperlab_pin_memory(x: *const C_tensor, error: *mut *mut c_char) -> *mut C_tensor;
    fn paperlab_channels_last(x: *const C_tensor, error: *mut *mut c_char) -> *mut C_tensor;
    fn paperlab_serial_thread();
    fn paperlab_clear_grad(x: *const C_tensor);
    fn paperlab_set_determinism(deterministic: bool, benchmark: bool);
    fn paperlab_determinism(
        deterministic_cudnn: *mut bool,
        benchmark_cudnn: *mut bool,
        deterministic_algorithms: *mut bool,
    );
    /// libc's free, for what the shims malloc.
    #[link_name = "free"]
    pub(crate) fn libc_free(p: *mut c_void);
}

/// A shim's result: its new tensor, or libtorch's message. Every binding of
/// a csrc/ shim that returns a tensor goes through it.
pub(crate) fn call(shim: impl FnOnce(*mut *mut c_char) -> *mut C_tensor) -> Result<Tensor, String> {
    let mut error: *mut c_char = std::ptr::null_mut();
    let y = shim(&mut error);
    if y.is_null() {
        return Err(take_message(error));
    }
    // SAFETY: the shims return a new tensor that the caller owns.
    Ok(unsafe { Tensor::from_ptr(y) })
}

/// A shim's outcome when it returns a success flag (its tensors, if any,
/// through an out parameter), or libtorch's message.
pub(crate) fn status(shim: impl FnOnce(*mut *mut c_char) -> bool) -> Result<(), String> {
    let mut error: *mut c_char = std::ptr::null_mut();
    match shim(&mut error) {
        true => Ok(()),
        false => Err(take_message(error)),
    }
}

/// The message a failed shim left (from strdup), freed here.
pub(crate) fn take_message(error: *mut c_char) -> String {
    // SAFETY: a failed shim sets error to a NUL-terminated malloc'ed string.
    unsafe {
        let message = CStr::from_ptr(error).to_string_lossy().into_owned();
        libc_free(error.cast());
        message
    }
}

/// libtorch's `leaky_relu(x, slope)`, recorded by autograd as tch's ops are.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor, String> {
    // SAFETY: x outlives the call.
    call(|error| unsafe { paperlab_leaky_relu(x.as_ptr(), slope, error) })
}

/// `x.pin_memory()`: a copy in page-locked memory of the default
/// accelerator, without the device argument libtorch warns about.
pub fn pin_memory(x: &Tensor) -> Result<Tensor, String> {
    // SAFETY: x outlives the call.
    call(|error| unsafe { paperlab_pin_memory(x.as_ptr(), error) })
}

/// `x.contiguous(MemoryFormat::ChannelsLast)`: the same values in NHWC
/// order (a 4-D tensor; x itself when it already is).
pub fn channels_last(x: &Tensor) -> Result<Tensor, String> {
    // SAFETY: x outlives the call.
    call(|error| unsafe { paperlab_channels_last(x.as_ptr(), error) })
}

/// `x`'s gradient made undefined (PyTorch's `zero_grad(set_to_none=True)`):
/// the next backward hands its gradient over rather than adding it into a
/// zeroed buffer. No op is dispatched.
pub fn clear_grad(x: &Tensor) {
    // SAFETY: x outlives the call; only its autograd metadata changes.
    unsafe { paperlab_clear_grad(x.as_ptr()) }
}

/// From here on, libtorch's ops on this thread run on it alone (a loader
/// thread's, whose own OpenMP team would take cores from the training step).
pub fn serial_thread() {
    // SAFETY: no arguments; it changes only this thread's OpenMP setting.
    unsafe { paperlab_serial_thread() }
}

/// libtorch's global determinism settings ([`set_determinism`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Determinism {
    /// `torch.backends.cudnn.deterministic`.
    pub deterministic_cudnn: bool,
    /// `torch.backends.cudnn.benchmark`.
    pub benchmark_cudnn: bool,
    /// `torch.are_deterministic_algorithms_enabled()`.
    pub deterministic_algorithms: bool,
}

/// Set cuDNN's deterministic flag and libtorch's deterministic algorithms
/// (erroring, not warning, on an op without one) to `deterministic`, and
/// cuDNN's benchmark to `benchmark`.
pub fn set_determinism(deterministic: bool, benchmark: bool) {
    // SAFETY: plain flags of libtorch's global context.
    unsafe { paperlab_set_determinism(deterministic, benchmark) }
}

/// The settings [`set_determinism`] sets, read back from libtorch.
pub fn determinism() -> Determinism {
    let (mut a, mut b, mut c) = (false, false, false);
    // SAFETY: the shim writes the three flags and keeps no pointer.
    unsafe { paperlab_determinism(&mut a, &mut b, &mut c) };
    Determinism {
        deterministic_cudnn: a,
        benchmark_cudnn: b,
        deterministic_algorithms: c,
    }
}
