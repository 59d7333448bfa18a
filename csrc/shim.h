// What every csrc/*.cpp shim shares: libtorch's errors handed to Rust as a
// malloc'ed message (src/native.rs frees it), never as a C++ exception
// crossing the FFI boundary.
#pragma once

#include <c10/util/Exception.h>

#include <cstring>
#include <exception>

namespace paperlab {
// libtorch's own errors without the C++ backtrace they carry.
inline char *copy_message(const std::exception &e) {
  if (auto *c10_error = dynamic_cast<const c10::Error *>(&e)) {
    return strdup(c10_error->what_without_backtrace());
  }
  return strdup(e.what());
}

// Runs f; on an exception stores its message in *error and returns fallback.
template <typename F, typename R>
R guarded(char **error, R fallback, F &&f) {
  try {
    return f();
  } catch (const std::exception &e) {
    *error = copy_message(e);
    return fallback;
  }
}
}  // namespace paperlab
