//! The bindings of csrc/profiler.cpp: libtorch's profiler started and
//! stopped on this thread (the Chrome trace written at the stop), the events
//! it recorded, and named ranges of the trace.

use crate::native::{status, take_message};
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;

/// csrc/profiler.cpp's PaperlabEvent.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawEvent {
    name: *const c_char,
    start_ns: i64,
    end_ns: i64,
    bytes: i64,
    thread: u64,
    correlation: u64,
    linked_correlation: u64,
    scope: u8,
    activity: u8,
    device_type: i8,
}

/// csrc/profiler.cpp's PaperlabProfile (opaque).
#[repr(C)]
struct RawProfile {
    _private: [u8; 0],
}

extern "C" {
    fn paperlab_profiler_start(cuda: bool, error: *mut *mut c_char) -> bool;
    fn paperlab_profiler_stop(trace: *const c_char, error: *mut *mut c_char) -> *mut RawProfile;
    fn paperlab_profile_len(p: *const RawProfile) -> usize;
    fn paperlab_profile_event(p: *const RawProfile, i: usize) -> RawEvent;
    fn paperlab_profile_free(p: *mut RawProfile);
    fn paperlab_range_start(name: *const c_char) -> *mut c_void;
    fn paperlab_range_end(range: *mut c_void);
}

/// What recorded an event (libkineto's activity types that --profile reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A host-side record: an op, an autograd node, a user range, a memory
    /// event.
    Cpu,
    /// A copy on the device (host to device, device to host, ...).
    DeviceCopy,
    /// A kernel on the device.
    Kernel,
    /// A CUDA runtime or driver call on the host (a launch, a sync).
    Runtime,
    /// Anything else (memsets, annotations, overhead).
    Other,
}

/// One recorded event.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// A memory event's bytes: positive for an allocation, negative for a free.
    pub bytes: i64,
    pub thread: u64,
    pub correlation: u64,
    /// A device event's host op (that op's `correlation`); 0 for host events.
    pub linked: u64,
    /// at::RecordScope: 0 an op or autograd node, 1 a backward node, 7 a user range.
    pub scope: u8,
    pub activity: Activity,
    /// Whether the event ran on a device (CUDA), not the host.
    pub on_device: bool,
}

impl Event {
    fn from_raw(e: &RawEvent) -> Event {
        let activity = match e.activity {
            0 | 1 | 9 => Activity::Cpu,
            3 => Activity::DeviceCopy,
            5 => Activity::Kernel,
            7 | 8 => Activity::Runtime,
            _ => Activity::Other,
        };
        Event {
            // SAFETY: the name is a NUL-terminated string the profile owns.
            name: unsafe { CStr::from_ptr(e.name) }
                .to_string_lossy()
                .into_owned(),
            start_ns: e.start_ns,
            end_ns: e.end_ns,
            bytes: e.bytes,
            thread: e.thread,
            correlation: e.correlation,
            linked: e.linked_correlation,
            scope: e.scope,
            activity,
            on_device: e.device_type != 0,
        }
    }
}

/// Start recording this thread's ops (with their memory events; with
/// `cuda`, the device's kernels and copies too).
pub fn start(cuda: bool) -> Result<(), String> {
    // SAFETY: no pointers kept.
    status(|error| unsafe { paperlab_profiler_start(cuda, error) })
}

/// Stop recording, write the Chrome trace to `trace`, and return the events.
pub fn stop(trace: &Path) -> Result<Vec<Event>, String> {
    let path = CString::new(trace.to_string_lossy().as_bytes())
        .map_err(|_| format!("{}: a path with a NUL byte", trace.display()))?;
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: path outlives the call; the profile is freed below.
    let profile = unsafe { paperlab_profiler_stop(path.as_ptr(), &mut error) };
    if profile.is_null() {
        return Err(take_message(error));
    }
    // SAFETY: i < len; each event's name lives until the free.
    let events = unsafe {
        (0..paperlab_profile_len(profile))
            .map(|i| Event::from_raw(&paperlab_profile_event(profile, i)))
            .collect()
    };
    // SAFETY: the profile came from paperlab_profiler_stop, freed once.
    unsafe { paperlab_profile_free(profile) };
    Ok(events)
}

/// A named range of the trace, open until dropped (recorded only while
/// the profiler runs).
pub struct Range(*mut c_void);

impl Range {
    /// Opens the range `name` on this thread.
    pub fn open(name: &'static CStr) -> Range {
        // SAFETY: the name is static, so it outlives the range.
        Range(unsafe { paperlab_range_start(name.as_ptr()) })
    }
}

impl Drop for Range {
    fn drop(&mut self) {
        // SAFETY: the pointer came from paperlab_range_start, ended once.
        unsafe { paperlab_range_end(self.0) }
    }
}
