//! The libtorch calls of csrc/ops.cpp (compiled by build.rs against the
//! same headers): ops that tch 0.24 lacks with the arguments paperlab needs;
//! and what every csrc/ binding shares (csrc/dist.cpp's are in runner/dist/).

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
    /// libc's free, for what the shims malloc.
    #[link_name = "free"]
    pub(crate) fn libc_free(p: *mut c_void);
}

/// A shim's result: its new tensor, or libtorch's message. Every binding of
/// a csrc/ shim that returns a tensor goes through it.
pub(crate) fn call(shim: impl FnOnce(*mut *mut c_char) -> *mut C_tensor) -> Result<Tensor, String> {
    let mut error: *mut c_char = std::ptr::null_mut();
    let y = shim(&mut error);
    // SAFETY: the shims return a new tensor that the caller owns, or null and
    // a message from strdup.
    unsafe {
        if y.is_null() {
            return Err(message(error));
        }
        Ok(Tensor::from_ptr(y))
    }
}

/// The message a failing shim left in its `error` argument, freed.
///
/// # Safety
/// `error` is a NUL-terminated string from strdup (paperlab::guarded's).
pub(crate) unsafe fn message(error: *mut c_char) -> String {
    let text = CStr::from_ptr(error).to_string_lossy().into_owned();
    libc_free(error.cast());
    text
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
