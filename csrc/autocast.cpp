// at::autocast's thread-local state for one device type, which tch 0.24
// cannot set: its `autocast` enables CUDA autocast only, in CUDA's default
// dtype (fp16), so neither bf16 nor CPU autocast can be asked for. Bound in
// src/runner/precision.rs, whose guard calls enter and exit in pairs as
// torch.autocast's __enter__ and __exit__ do (torch/amp/autocast_mode.py,
// `__enter__` and `__exit__`).
//
// Device types and dtypes are c10's numbering (c10::DeviceType,
// c10::ScalarType). Each returns false with libtorch's message in *error.
#include <ATen/autocast_mode.h>

#include "shim.h"

namespace {
at::ScalarType lower_precision(int dtype) {
  auto t = static_cast<at::ScalarType>(dtype);
  TORCH_CHECK(t == at::kHalf || t == at::kBFloat16, "autocast: dtype ", t,
              " is not float16 or bfloat16");
  return t;
}
}  // namespace

// Enables autocast to `dtype` on `device_type`, writing the state it
// replaces to *was_enabled and *was_dtype for paperlab_autocast_exit.
extern "C" bool paperlab_autocast_enter(int device_type, int dtype, bool *was_enabled,
                                        int *was_dtype, char **error) {
  return paperlab::guarded(error, false, [&] {
    auto device = static_cast<at::DeviceType>(device_type);
    auto fast = lower_precision(dtype);
    *was_enabled = at::autocast::is_autocast_enabled(device);
    *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(device));
    at::autocast::set_autocast_enabled(device, true);
    at::autocast::set_autocast_dtype(device, fast);
    at::autocast::increment_nesting();
    return true;
  });
}

// Restores what paperlab_autocast_enter replaced; leaving the outermost
// autocast drops the cache of casted weights, as torch.autocast does.
extern "C" bool paperlab_autocast_exit(int device_type, bool was_enabled, int was_dtype,
                                       char **error) {
  return paperlab::guarded(error, false, [&] {
    auto device = static_cast<at::DeviceType>(device_type);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device, was_enabled);
    at::autocast::set_autocast_dtype(device, static_cast<at::ScalarType>(was_dtype));
    return true;
  });
}
