// libtorch's c10d, the distributed engine PyTorch's own DDP runs on, for
// src/runner/dist/: the TCPStore rendezvous, a Gloo (CPU tensors) or NCCL
// (CUDA tensors) process group, the few collectives data-parallel
// training needs, and the gradient reducer that overlaps them with
// backward. The symbols come from libtorch_cpu / libtorch_cuda; only the
// headers of Gloo (Debian's libgloo-dev) are needed, at build time.
//
// Every function reports libtorch's errors through *error (malloc'ed; the
// Rust side frees it) and never lets a C++ exception cross into Rust.
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shim.h"

using Store = c10::intrusive_ptr<c10d::Store>;

struct paperlab_group {
  Store store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
  bool nccl;
  bool closed = false;
};

// The store at host:port (this process serves it when `server`), its keys
// under `prefix` so that a restarted group never reads an earlier attempt's.
// Connecting is retried until `timeout_ms`; every process then waits as long
// for all `world` to have joined.
extern "C" Store *paperlab_store_open(const char *host, uint16_t port, bool server, int world,
                                      const char *prefix, int64_t timeout_ms, char **error) {
  return paperlab::guarded(error, static_cast<Store *>(nullptr), [&] {
    c10d::TCPStoreOptions options;
    options.port = port;
    options.isServer = server;
    options.numWorkers = world;
    // Every process registers and waits for all `world` (a client that
    // does not wait is never counted by the server).
    options.waitWorkers = true;
    options.timeout = std::chrono::milliseconds(timeout_ms);
    Store tcp = c10::make_intrusive<c10d::TCPStore>(host, options);
    return new Store(c10::make_intrusive<c10d::PrefixStore>(prefix, tcp));
  });
}

extern "C" void paperlab_store_free(Store *store) { delete store; }

extern "C" int paperlab_store_set(Store *store, const char *key, const uint8_t *value,
                                  size_t len, char **error) {
  return paperlab::guarded(error, -1, [&] {
    (*store)->set(key, std::vector<uint8_t>(value, value + len));
    return 0;
  });
}

// The value of `key`, waiting for it up to the store's timeout; malloc'ed
// (the caller frees it), its length in *len.
extern "C" uint8_t *paperlab_store_get(Store *store, const char *key, size_t *len,
                                       char **error) {
  return paperlab::guarded(error, static_cast<uint8_t *>(nullptr), [&] {
    std::vector<uint8_t> value = (*store)->get(key);
    *len = value.size();
    auto *out = static_cast<uint8_t *>(malloc(value.size() + 1));
    memcpy(out, value.data(), value.size());
    return out;
  });
}

// 1 when `key` is set, 0 when not (no waiting), -1 on error.
extern "C" int paperlab_store_check(Store *store, const char *key, char **error) {
  return paperlab::guarded(error, -1, [&] { return (*store)->check({key}) ? 1 : 0; });
}

// Sets `key` to `value` unless it is set already; the value in force after.
extern "C" uint8_t *paperlab_store_set_once(Store *store, const char *key, const uint8_t *value,
                                            size_t len, size_t *out_len, char **error) {
  return paperlab::guarded(error, static_cast<uint8_t *>(nullptr), [&] {
    std::vector<uint8_t> now =
        (*store)->compareSet(key, {}, std::vector<uint8_t>(value, value + len));
    *out_len = now.size();
    auto *out = static_cast<uint8_t *>(malloc(now.size() + 1));
    memcpy(out, now.data(), now.size());
    return out;
  });
}

// The process group of `world` processes over `store`: NCCL when `nccl`,
// else Gloo (its device from GLOO_SOCKET_IFNAME, else this host's name,
// else loopback, as torch.distributed chooses). Collectives that do not
// complete within `timeout_ms` fail.
extern "C" paperlab_group *paperlab_group_open(Store *store, int rank, int world, bool nccl,
                                               int64_t timeout_ms, char **error) {
  return paperlab::guarded(error, static_cast<paperlab_group *>(nullptr), [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10::intrusive_ptr<c10d::Backend> backend;
    if (nccl) {
#ifdef USE_C10D_NCCL
      // A failed or timed-out collective: NCCL's watchdog aborts the
      // communicators and leaves the process running (CleanUpOnly), so the
      // next collective fails on the training thread and paperlab reports
      // it (rank, what failed, the last checkpoint intact) with its own
      // exit code, instead of the default mode's teardown from the
      // watchdog's thread. A value the user set wins.
      setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "2", 0);
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(*store, rank, world, options);
#else
      TORCH_CHECK(false, "this paperlab was built without NCCL (build.rs found no nccl.h)");
#endif
    } else {
      auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
      backend = c10::make_intrusive<c10d::ProcessGroupGloo>(*store, rank, world, options);
    }
    return new paperlab_group{*store, backend, timeout, nccl};
  });
}

extern "C" void paperlab_group_free(paperlab_group *group) { delete group; }

// Ends the group once: `clean` shuts it down after completed work (NCCL
// destroys its communicators, stops its watchdog); otherwise it aborts,
// which waits for no peer. Errors are ignored: the process is exiting.
extern "C" void paperlab_group_shutdown(paperlab_group *group, bool clean) {
  if (group->closed) return;
  group->closed = true;
  try {
    if (clean) {
      group->backend->shutdown();
    } else {
      group->backend->abort();
    }
  } catch (const std::exception &) {
  }
}

static c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case 0:
      return c10d::ReduceOp::SUM;
    case 1:
      return c10d::ReduceOp::MIN;
    default:
      return c10d::ReduceOp::MAX;
  }
}

// Waits for `work`. Gloo's work runs on its own threads: the host waits,
// up to the timeout. NCCL's is queued on its stream: the current stream
// waits for it and the host goes on (a wait with a timeout would block the
// host until it completes); a lost peer is NCCL's watchdog's to catch,
// after the group's timeout (see paperlab_group_open).
static void finish(const paperlab_group *group, const c10::intrusive_ptr<c10d::Work> &work) {
  if (group->nccl) {
    work->wait();
  } else {
    work->wait(group->timeout);
  }
}

// In place, over every process: op 0 sum, 1 min, 2 max. One collective.
extern "C" int paperlab_allreduce(paperlab_group *group, const at::Tensor *tensor, int op,
                                  char **error) {
  return paperlab::guarded(error, -1, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = reduce_op(op);
    options.timeout = group->timeout;
    finish(group, group->backend->allreduce(tensors, options));
    return 0;
  });
}

// In place: every process receives `root`'s values.
extern "C" int paperlab_broadcast(paperlab_group *group, const at::Tensor *tensor, int root,
                                  char **error) {
  return paperlab::guarded(error, -1, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = group->timeout;
    finish(group, group->backend->broadcast(tensors, options));
    return 0;
  });
}

// Gradient reduction overlapping with backward, as c10d's Reducer (DDP)
// does: a hook after each parameter's gradient accumulation marks it
// ready, and a bucket's flat sum is launched as soon as all of its
// parameters are, strictly in bucket order, so every process issues its
// collectives in the same sequence whatever order its backward ran in.
// paperlab_reducer_finish, after backward, launches what backward left
// (parameters that got no gradient are left out, alike on every process),
// waits (on NCCL the stream waits, not the host), and writes the results
// back. Unlike c10d::Reducer it knows
// Graham's summed loss and a mean over an uneven split (see grads.rs),
// never throws inside backward, and reports a lost peer at finish.
struct paperlab_reducer {
  struct Launched {
    at::Tensor flat;
    std::vector<size_t> members;
    c10::intrusive_ptr<c10d::Work> work;
  };
  paperlab_group *group;
  std::vector<at::Tensor> params;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<uintptr_t> hook_keys;
  std::vector<std::vector<size_t>> buckets;
  std::vector<size_t> bucket_of;
  // Each bucket's flat buffer, allocated at its first launch and reused
  // (as DDP's buckets are): a fresh 25 MiB tensor per bucket and step
  // costs the page faults of its allocation.
  std::vector<at::Tensor> storage;
  std::vector<int64_t> capacity;
  // One step's state, set by arm.
  std::mutex mutex;
  bool armed = false;
  double count = 0;  // examples of this process for a mean loss; 0 for a sum
  std::vector<char> ready;
  std::vector<size_t> pending;
  size_t next = 0;
  std::vector<Launched> launched;
  std::string error;

  // Copies bucket b's ready gradients into its flat buffer (a mean loss's
  // scaled by count, with count appended) and starts their sum. Holds the
  // mutex.
  void launch(size_t b) {
    Launched l;
    int64_t total = 0;
    for (size_t i : buckets[b]) {
      if (ready[i]) {
        l.members.push_back(i);
        total += params[i].grad().numel();
      }
    }
    if (l.members.empty() || !error.empty()) return;
    try {
      at::NoGradGuard no_grad;
      auto like = params[l.members[0]].grad().options();
      at::Tensor &buffer = storage[b];
      if (!buffer.defined() || buffer.dtype() != like.dtype() || buffer.device() != like.device()) {
        buffer = at::empty({capacity[b] + 1}, like);
      }
      l.flat = buffer.narrow(0, 0, total + (count > 0 ? 1 : 0));
      int64_t offset = 0;
      for (size_t i : l.members) {
        const at::Tensor &g = params[i].grad();
        l.flat.narrow(0, offset, g.numel()).view(g.sizes()).copy_(g);
        offset += g.numel();
      }
      if (count > 0) {
        l.flat.narrow(0, total, 1).fill_(1);
        l.flat.mul_(count);
      }
      std::vector<at::Tensor> tensors{l.flat};
      c10d::AllreduceOptions options;
      options.timeout = group->timeout;
      l.work = group->backend->allreduce(tensors, options);
      launched.push_back(std::move(l));
    } catch (const std::exception &e) {
      error = paperlab::copy_message(e);
    }
  }

  void mark_ready(size_t i) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!armed || ready[i]) return;
    ready[i] = 1;
    pending[bucket_of[i]]--;
    while (next < buckets.size() && pending[next] == 0) launch(next++);
  }
};

namespace {
struct ReadyHook : torch::autograd::FunctionPostHook {
  paperlab_reducer *reducer;
  size_t index;
  ReadyHook(paperlab_reducer *r, size_t i) : reducer(r), index(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list &outputs,
                                            const torch::autograd::variable_list &) override {
    reducer->mark_ready(index);
    return outputs;
  }
};
}  // namespace

// A reducer of the `n` leaf tensors `params` over `group`; `bucket` gives
// each parameter's bucket (0, 1, ... in launch order).
extern "C" paperlab_reducer *paperlab_reducer_new(paperlab_group *group, const at::Tensor **params,
                                                  const int64_t *bucket, size_t n, char **error) {
  return paperlab::guarded(error, static_cast<paperlab_reducer *>(nullptr), [&] {
    auto r = std::make_unique<paperlab_reducer>();
    r->group = group;
    size_t buckets = 0;
    for (size_t i = 0; i < n; i++) buckets = std::max(buckets, static_cast<size_t>(bucket[i]) + 1);
    r->buckets.resize(buckets);
    r->storage.resize(buckets);
    r->capacity.assign(buckets, 0);
    for (size_t i = 0; i < n; i++) {
      r->params.push_back(*params[i]);
      r->bucket_of.push_back(bucket[i]);
      r->buckets[bucket[i]].push_back(i);
      r->capacity[bucket[i]] += params[i]->numel();
      auto acc = torch::autograd::impl::grad_accumulator(*params[i]);
      TORCH_CHECK(acc, "a reduced parameter must be a leaf tensor that requires grad");
      r->hook_keys.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(r.get(), i)));
      r->accumulators.push_back(std::move(acc));
    }
    return r.release();
  });
}

extern "C" void paperlab_reducer_free(paperlab_reducer *r) {
  for (size_t i = 0; i < r->accumulators.size(); i++) {
    r->accumulators[i]->del_post_hook(r->hook_keys[i]);
  }
  delete r;
}

// Before backward: `count` > 0 for a mean loss over that many examples of
// this process, 0 for a summed loss.
extern "C" void paperlab_reducer_arm(paperlab_reducer *r, double count) {
  std::lock_guard<std::mutex> lock(r->mutex);
  r->armed = true;
  r->count = count;
  r->ready.assign(r->params.size(), 0);
  r->pending.assign(r->buckets.size(), 0);
  for (size_t b = 0; b < r->buckets.size(); b++) r->pending[b] = r->buckets[b].size();
  r->next = 0;
  r->launched.clear();
  r->error.clear();
}

// After backward: every bucket summed and written back into the gradients.
// Returns how many buckets backward had started (the overlap), -1 on error.
extern "C" int paperlab_reducer_finish(paperlab_reducer *r, char **error) {
  return paperlab::guarded(error, -1, [&] {
    std::vector<paperlab_reducer::Launched> launched;
    int overlapped;
    {
      std::lock_guard<std::mutex> lock(r->mutex);
      overlapped = static_cast<int>(r->launched.size());
      while (r->next < r->buckets.size()) r->launch(r->next++);
      r->armed = false;
      launched = std::move(r->launched);
      r->launched.clear();
      TORCH_CHECK(r->error.empty(), r->error);
    }
    at::NoGradGuard no_grad;
    for (auto &l : launched) {
      finish(r->group, l.work);
      at::Tensor values = l.flat;
      if (r->count > 0) {
        int64_t numel = l.flat.numel() - 1;
        values = l.flat.narrow(0, 0, numel);
        values.div_(l.flat.narrow(0, numel, 1));
      }
      int64_t offset = 0;
      for (size_t i : l.members) {
        at::Tensor g = r->params[i].grad();
        int64_t n = g.numel();
        g.copy_(values.narrow(0, offset, n).view_as(g));
        offset += n;
      }
    }
    return overlapped;
  });
}
