// libtorch's c10d, the distributed engine PyTorch's own DDP runs on, for
// src/runner/dist.rs: the TCPStore rendezvous, a Gloo (CPU tensors) or NCCL
// (CUDA tensors) process group, and the few collectives data-parallel
// training needs. The symbols come from libtorch_cpu / libtorch_cuda; only
// the headers of Gloo (Debian's libgloo-dev) are needed, at build time.
//
// Every function reports libtorch's errors through *error (malloc'ed; the
// Rust side frees it) and never lets a C++ exception cross into Rust.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shim.h"

using Store = c10::intrusive_ptr<c10d::Store>;

struct paperlab_group {
  Store store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
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
    return new paperlab_group{*store, backend, timeout};
  });
}

extern "C" void paperlab_group_free(paperlab_group *group) { delete group; }

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

// Waits for `work`: on the host for Gloo; for NCCL the current CUDA stream
// waits for it, the host does not.
static int finish(const paperlab_group *group, const c10::intrusive_ptr<c10d::Work> &work) {
  work->wait(group->timeout);
  return 0;
}

// In place, over every process: op 0 sum, 1 min, 2 max. One collective.
extern "C" int paperlab_allreduce(paperlab_group *group, const at::Tensor *tensor, int op,
                                  char **error) {
  return paperlab::guarded(error, -1, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = reduce_op(op);
    options.timeout = group->timeout;
    return finish(group, group->backend->allreduce(tensors, options));
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
    return finish(group, group->backend->broadcast(tensors, options));
  });
}
