//! How freed CPU memory is kept for the next step.
//!
//! libtorch's CPU tensors come from glibc's malloc. By default glibc gives
//! the top of its heap back to the kernel whenever more than twice its
//! (dynamic) mmap threshold lies free there, so a training step that frees a
//! few 16 MB activations at once returns them, and the next step takes a page
//! fault for every 4 KB it writes again: 20,000 faults a step for the MNIST
//! FMP net at n = 32, a tenth of its CPU time (BENCHMARKS.md, "Fractional
//! max-pooling"). Keeping up to 256 MB free, with the mmap
//! threshold fixed at glibc's own ceiling, lets the step reuse its pages.
//! It is what `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...:
//! glibc.malloc.trim_threshold=...` would set, done for every command.

/// Allocations of at least this many bytes get their own mapping, returned
/// when freed: the most glibc's dynamic threshold can rise to (32 MiB on
/// 64-bit), so no allocation gets a mapping that glibc would have put on
/// the heap.
const MMAP_THRESHOLD: i32 = 32 << 20;

/// Free memory at the top of the heap beyond this is returned to the kernel.
const TRIM_THRESHOLD: i32 = 256 << 20;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn mallopt(param: i32, value: i32) -> i32;
}

/// Keep freed memory for reuse (see the module doc). Setting either value
/// turns off glibc's dynamic thresholds, so both are set; a no-op off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // malloc.h: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3. mallopt only
        // sets two integers in malloc's state; it returns 0 if a value is
        // out of range, which these constants are not.
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt takes two ints and is safe to call at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
