//! The bindings of csrc/dist.cpp: c10d's TCPStore and a Gloo or NCCL
//! process group, owned by Rust values that free them.

use crate::native::{libc_free, take_message};
use std::ffi::{c_char, c_void, CString};
use tch::Tensor;
use torch_sys::C_tensor;

#[repr(C)]
struct RawStore(c_void);
#[repr(C)]
struct RawGroup(c_void);
#[repr(C)]
struct RawReducer(c_void);

extern "C" {
    fn paperlab_store_open(
        host: *const c_char,
        port: u16,
        server: bool,
        world: i32,
        prefix: *const c_char,
        timeout_ms: i64,
        error: *mut *mut c_char,
    ) -> *mut RawStore;
    fn paperlab_store_free(store: *mut RawStore);
    fn paperlab_store_set(
        store: *mut RawStore,
        key: *const c_char,
        value: *const u8,
        len: usize,
        error: *mut *mut c_char,
    ) -> i32;
    fn paperlab_store_get(
        store: *mut RawStore,
        key: *const c_char,
        len: *mut usize,
        error: *mut *mut c_char,
    ) -> *mut u8;
    fn paperlab_store_check(
        store: *mut RawStore,
        key: *const c_char,
        error: *mut *mut c_char,
    ) -> i32;
    fn paperlab_store_set_once(
        store: *mut RawStore,
        key: *const c_char,
        value: *const u8,
        len: usize,
        out_len: *mut usize,
        error: *mut *mut c_char,
    ) -> *mut u8;
    fn paperlab_group_open(
        store: *mut RawStore,
        rank: i32,
        world: i32,
        nccl: bool,
        timeout_ms: i64,
        error: *mut *mut c_char,
    ) -> *mut RawGroup;
    fn paperlab_group_free(group: *mut RawGroup);
    fn paperlab_group_shutdown(group: *mut RawGroup, clean: bool);
    fn paperlab_allreduce(
        group: *mut RawGroup,
        tensor: *const C_tensor,
        op: i32,
        error: *mut *mut c_char,
    ) -> i32;
    fn paperlab_reducer_new(
        group: *mut RawGroup,
        params: *const *const C_tensor,
        bucket: *const i64,
        n: usize,
        error: *mut *mut c_char,
    ) -> *mut RawReducer;
    fn paperlab_reducer_free(reducer: *mut RawReducer);
    fn paperlab_reducer_arm(reducer: *mut RawReducer, count: f64);
    fn paperlab_reducer_finish(reducer: *mut RawReducer, error: *mut *mut c_char) -> i32;
    fn paperlab_broadcast(
        group: *mut RawGroup,
        tensor: *const C_tensor,
        root: i32,
        error: *mut *mut c_char,
    ) -> i32;
}

/// Runs a shim that reports failure through `error`; Err holds c10d's message.
fn checked<T>(
    shim: impl FnOnce(*mut *mut c_char) -> T,
    failed: impl Fn(&T) -> bool,
) -> Result<T, String> {
    let mut error: *mut c_char = std::ptr::null_mut();
    let out = shim(&mut error);
    match failed(&out) {
        true => Err(take_message(error)),
        false => Ok(out),
    }
}

fn c_string(s: &str) -> CString {
    CString::new(s).expect("store keys and hosts hold no NUL")
}

/// Takes a malloc'ed buffer of `len` bytes from a shim.
///
/// SAFETY: `p` is a malloc'ed buffer of at least `len` bytes.
unsafe fn take_bytes(p: *mut u8, len: usize) -> Vec<u8> {
    let v = std::slice::from_raw_parts(p, len).to_vec();
    libc_free(p.cast());
    v
}

/// c10d's TCPStore (the rendezvous and a small key-value store shared by
/// every process), its keys under a prefix.
pub struct Store(*mut RawStore);

// SAFETY: c10d's TCPStore is used from one thread at a time here and is
// itself safe to call from any thread.
unsafe impl Send for Store {}
unsafe impl Sync for Store {}

impl Store {
    /// Connect to host:port, serving it when `server`, retrying up to
    /// `timeout_ms` (the server waits as long for all `world` processes).
    pub fn open(
        host: &str,
        port: u16,
        server: bool,
        world: usize,
        prefix: &str,
        timeout_ms: i64,
    ) -> Result<Store, String> {
        let (host, prefix) = (c_string(host), c_string(prefix));
        // SAFETY: the strings outlive the call.
        let raw = checked(
            |e| unsafe {
                paperlab_store_open(
                    host.as_ptr(),
                    port,
                    server,
                    world as i32,
                    prefix.as_ptr(),
                    timeout_ms,
                    e,
                )
            },
            |p| p.is_null(),
        )?;
        Ok(Store(raw))
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        let key = c_string(key);
        // SAFETY: key and value outlive the call.
        checked(
            |e| unsafe { paperlab_store_set(self.0, key.as_ptr(), value.as_ptr(), value.len(), e) },
            |r| *r != 0,
        )
        .map(|_| ())
    }

    /// The value of `key`, waiting for it up to the store's timeout.
    pub fn get(&self, key: &str) -> Result<Vec<u8>, String> {
        let key = c_string(key);
        let mut len = 0usize;
        // SAFETY: key outlives the call; the result is malloc'ed, len bytes.
        let p = checked(
            |e| unsafe { paperlab_store_get(self.0, key.as_ptr(), &mut len, e) },
            |p| p.is_null(),
        )?;
        Ok(unsafe { take_bytes(p, len) })
    }

    /// Whether `key` is set (without waiting).
    pub fn check(&self, key: &str) -> Result<bool, String> {
        let key = c_string(key);
        // SAFETY: key outlives the call.
        checked(
            |e| unsafe { paperlab_store_check(self.0, key.as_ptr(), e) },
            |r| *r < 0,
        )
        .map(|r| r == 1)
    }

    /// Set `key` to `value` unless some process set it first; the value in force.
    pub fn set_once(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, String> {
        let key = c_string(key);
        let mut len = 0usize;
        // SAFETY: key and value outlive the call; the result is malloc'ed, len bytes.
        let p = checked(
            |e| unsafe {
                paperlab_store_set_once(
                    self.0,
                    key.as_ptr(),
                    value.as_ptr(),
                    value.len(),
                    &mut len,
                    e,
                )
            },
            |p| p.is_null(),
        )?;
        Ok(unsafe { take_bytes(p, len) })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // SAFETY: made by paperlab_store_open, freed once.
        unsafe { paperlab_store_free(self.0) }
    }
}

/// A reduction of [`Group::allreduce`].
#[derive(Debug, Clone, Copy)]
pub enum Op {
    Sum = 0,
    Min = 1,
    Max = 2,
}

/// A c10d process group (ProcessGroupGloo or ProcessGroupNCCL).
pub struct Group(*mut RawGroup);

// SAFETY: c10d's process groups may be called from any thread; paperlab
// calls each collective from the one training thread, in the same order on
// every process.
unsafe impl Send for Group {}
unsafe impl Sync for Group {}

impl Group {
    /// The group of `world` processes meeting in `store`; NCCL when `nccl`.
    pub fn open(
        store: &Store,
        rank: usize,
        world: usize,
        nccl: bool,
        timeout_ms: i64,
    ) -> Result<Group, String> {
        // SAFETY: the store outlives the call (the group keeps its own reference).
        let raw = checked(
            |e| unsafe {
                paperlab_group_open(store.0, rank as i32, world as i32, nccl, timeout_ms, e)
            },
            |p| p.is_null(),
        )?;
        Ok(Group(raw))
    }

    /// End the group (once; later calls do nothing): `clean` after work
    /// that completed, else an abort that waits for no peer.
    pub fn shutdown(&self, clean: bool) {
        // SAFETY: a live group, ended from the training thread.
        unsafe { paperlab_group_shutdown(self.0, clean) }
    }

    /// `t` reduced in place over every process (one collective). Gloo:
    /// the host waits for it. NCCL: the current CUDA stream waits for it,
    /// the host does not.
    pub fn allreduce(&self, t: &Tensor, op: Op) -> Result<(), String> {
        // SAFETY: t outlives the call.
        checked(
            |e| unsafe { paperlab_allreduce(self.0, t.as_ptr(), op as i32, e) },
            |r| *r != 0,
        )
        .map(|_| ())
    }

    /// `t` replaced in place by `root`'s values on every process.
    pub fn broadcast(&self, t: &Tensor, root: usize) -> Result<(), String> {
        // SAFETY: t outlives the call.
        checked(
            |e| unsafe { paperlab_broadcast(self.0, t.as_ptr(), root as i32, e) },
            |r| *r != 0,
        )
        .map(|_| ())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: made by paperlab_group_open, freed once.
        unsafe { paperlab_group_free(self.0) }
    }
}

/// The gradient reducer of csrc/dist.cpp: hooks on the parameters' gradient
/// accumulation that start each bucket's sum during backward.
pub struct Reducer(*mut RawReducer);

// SAFETY: its state is behind a mutex in C++; Rust arms and finishes it
// from the training thread.
unsafe impl Send for Reducer {}

impl Reducer {
    /// Hooks on `params` (leaf tensors requiring grad) reducing over
    /// `group`, parameter i in bucket `bucket[i]` (buckets numbered in the
    /// order they are launched). The group outlives the reducer.
    pub fn new(group: &Group, params: &[&Tensor], bucket: &[i64]) -> Result<Reducer, String> {
        assert_eq!(params.len(), bucket.len());
        let ptrs: Vec<*const C_tensor> = params.iter().map(|t| t.as_ptr()).collect();
        // SAFETY: the arrays outlive the call; the reducer keeps its own
        // references to the tensors.
        let raw = checked(
            |e| unsafe {
                paperlab_reducer_new(group.0, ptrs.as_ptr(), bucket.as_ptr(), params.len(), e)
            },
            |p| p.is_null(),
        )?;
        Ok(Reducer(raw))
    }

    /// Before a backward whose gradients are reduced: `count` > 0 for a
    /// mean loss over that many of this process's examples, 0 for a sum.
    pub fn arm(&mut self, count: f64) {
        // SAFETY: a live reducer.
        unsafe { paperlab_reducer_arm(self.0, count) }
    }

    /// After that backward: every bucket's sum waited for and written
    /// back. Returns how many buckets backward had started by itself.
    pub fn finish(&mut self) -> Result<usize, String> {
        // SAFETY: a live reducer.
        checked(
            |e| unsafe { paperlab_reducer_finish(self.0, e) },
            |r| *r < 0,
        )
        .map(|n| n as usize)
    }
}

impl Drop for Reducer {
    fn drop(&mut self) {
        // SAFETY: made by paperlab_reducer_new, freed once.
        unsafe { paperlab_reducer_free(self.0) }
    }
}
