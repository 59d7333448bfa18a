// libtorch ops that tch 0.24 does not expose with the arguments paperlab
// needs, called from src/native.rs. Each returns a new tensor (owned
// by the caller, as tch's own C wrappers do) or null with the libtorch error
// message in *error (malloc'ed; the caller frees it).
//
// The calls go through ATen's dispatcher, so autograd records them exactly
// as it records tch's ops.
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/leaky_relu.h>
#include <ATen/ops/pin_memory.h>
#include <dlfcn.h>

#include "shim.h"

// at::leaky_relu with a given negative slope: tch 0.24's leaky_relu has the
// fixed default 0.01. One kernel forward and one (leaky_relu_backward)
// backward, where a PReLU with a constant slope also reduces a gradient for
// the slope.
extern "C" at::Tensor *paperlab_leaky_relu(const at::Tensor *x, double slope, char **error) {
  return paperlab::guarded(error, static_cast<at::Tensor *>(nullptr),
                           [&] { return new at::Tensor(at::leaky_relu(*x, slope)); });
}

// x copied into page-locked memory of the default accelerator. tch 0.24's
// pin_memory always passes a device, which libtorch 2.11 deprecates with a
// warning on every call (once per batch); here it passes none.
extern "C" at::Tensor *paperlab_pin_memory(const at::Tensor *x, char **error) {
  return paperlab::guarded(error, static_cast<at::Tensor *>(nullptr),
                           [&] { return new at::Tensor(x->pin_memory()); });
}

// x in channels-last memory order (NHWC strides, NCHW shape), or x itself
// when it already is: tch 0.24's contiguous() takes no memory format.
extern "C" at::Tensor *paperlab_channels_last(const at::Tensor *x, char **error) {
  return paperlab::guarded(error, static_cast<at::Tensor *>(nullptr), [&] {
    return new at::Tensor(x->contiguous(at::MemoryFormat::ChannelsLast));
  });
}

// libtorch's ops on the calling thread run on it alone, not on an OpenMP
// team of their own, whose threads would spin on the cores the training
// step's team uses. OpenMP's thread count is per thread, so no other
// thread's changes (at::set_num_threads would also change the count of
// threads yet to start and the process's pthreadpool). ATen sets a
// thread's count at its first parallel op, so that comes first. A libtorch
// without OpenMP (its own thread pool) has no omp_set_num_threads: then
// nothing changes.
extern "C" void paperlab_serial_thread() {
  at::get_num_threads();
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"))) {
    set(1);
  }
}

// --deterministic and --cudnn-benchmark: cuDNN's deterministic algorithms,
// cuDNN's benchmark (timing algorithms per input shape), and libtorch's
// deterministic algorithms (an op without one throws, warn_only false), as
// torch.backends.cudnn.deterministic / .benchmark and
// torch.use_deterministic_algorithms set them. All three are set each call.
extern "C" void paperlab_set_determinism(bool deterministic, bool benchmark) {
  auto &context = at::globalContext();
  context.setDeterministicCuDNN(deterministic);
  context.setBenchmarkCuDNN(benchmark);
  context.setDeterministicAlgorithms(deterministic, false);
}

// The three settings above as libtorch holds them.
extern "C" void paperlab_determinism(bool *deterministic_cudnn, bool *benchmark_cudnn,
                                     bool *deterministic_algorithms) {
  auto &context = at::globalContext();
  *deterministic_cudnn = context.deterministicCuDNN();
  *benchmark_cudnn = context.benchmarkCuDNN();
  *deterministic_algorithms = context.deterministicAlgorithms();
}

// x's gradient made undefined, as zero_grad(set_to_none=True) does: the next
// backward then hands its buffer over instead of adding it into a zeroed one
// (no fill, no add), and an optimizer skips x if it gets none.
extern "C" void paperlab_clear_grad(const at::Tensor *x) { x->mutable_grad().reset(); }
