// libtorch's profiler (Kineto, as torch.profiler drives it) for --profile,
// called from src/runner/record/profile/. Between start and stop every op
// the dispatcher runs on this thread (and on the autograd threads its
// backward hands work to) is recorded, with its memory events and, on
// CUDA, the kernels and copies it queued; stop writes the Chrome trace and
// hands the events to Rust, which counts them.
#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <set>
#include <string>
#include <vector>

#include "shim.h"

namespace profiler = torch::autograd::profiler;
namespace impl = torch::profiler::impl;

// One recorded event as Rust reads it (src/runner/record/profile/events.rs
// mirrors this layout). `name` lives as long as the PaperlabProfile.
struct PaperlabEvent {
  const char *name;
  int64_t start_ns;
  int64_t end_ns;
  // A memory event's bytes: positive for an allocation, negative for a free.
  int64_t bytes;
  uint64_t thread;
  uint64_t correlation;
  // A device event's CPU op (its correlation id), 0 for a CPU op.
  uint64_t linked_correlation;
  // at::RecordScope: 0 an op or autograd node, 1 a backward node, 7 a user range.
  uint8_t scope;
  // libkineto::ActivityType: 0 CPU op, 1 user range, 3 copy, 4 memset, 5 kernel,
  // 7 CUDA runtime, 8 CUDA driver, 9 instant (memory) event.
  uint8_t activity;
  // c10::DeviceType: 0 CPU, 1 CUDA.
  int8_t device_type;
};

struct PaperlabProfile {
  std::vector<std::string> names;
  std::vector<PaperlabEvent> events;
};

// Starts recording on this thread: ops with their memory events, and with
// `cuda` the device's kernels, copies and runtime calls (CUPTI).
extern "C" bool paperlab_profiler_start(bool cuda, char **error) {
  return paperlab::guarded(error, false, [&] {
    impl::ProfilerConfig config(impl::ProfilerState::KINETO, /*report_input_shapes=*/false,
                                /*profile_memory=*/true);
    std::set<impl::ActivityType> activities{impl::ActivityType::CPU};
    if (cuda) {
      activities.insert(impl::ActivityType::CUDA);
    }
    profiler::prepareProfiler(config, activities);
    profiler::enableProfiler(config, activities);
    return true;
  });
}

// Stops recording, writes the Chrome trace to `trace` and returns the
// events (owned by the caller: paperlab_profile_free), or null with the
// error message.
extern "C" PaperlabProfile *paperlab_profiler_stop(const char *trace, char **error) {
  return paperlab::guarded(error, static_cast<PaperlabProfile *>(nullptr), [&] {
    auto result = profiler::disableProfiler();
    result->save(trace);
    auto *profile = new PaperlabProfile;
    const auto &events = result->events();
    profile->names.reserve(events.size());
    for (const auto &e : events) {
      profile->names.push_back(e.name());
    }
    profile->events.reserve(events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      const auto &e = events[i];
      profile->events.push_back(PaperlabEvent{
          profile->names[i].c_str(), static_cast<int64_t>(e.startNs()),
          static_cast<int64_t>(e.endNs()), e.nBytes(), e.startThreadId(), e.correlationId(),
          e.linkedCorrelationId(), e.scope(), e.activityType(),
          static_cast<int8_t>(e.deviceType())});
    }
    return profile;
  });
}

extern "C" size_t paperlab_profile_len(const PaperlabProfile *p) { return p->events.size(); }

extern "C" PaperlabEvent paperlab_profile_event(const PaperlabProfile *p, size_t i) {
  return p->events[i];
}

extern "C" void paperlab_profile_free(PaperlabProfile *p) { delete p; }

// A named range of the trace (a user scope, as torch.profiler.record_function
// makes), open until paperlab_range_end; `name` must outlive it. Inactive
// (nothing recorded) while no profiler runs.
extern "C" void *paperlab_range_start(const char *name) {
  auto *range = new at::RecordFunction(at::RecordScope::USER_SCOPE);
  if (range->isActive()) {
    range->before(std::string_view(name), c10::ArrayRef<const c10::IValue>{});
  }
  return range;
}

extern "C" void paperlab_range_end(void *range) { delete static_cast<at::RecordFunction *>(range); }
