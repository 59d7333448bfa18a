// libtorch's multi-tensor (at::_foreach_*) ops, which tch 0.24 does not
// expose, for the multi-tensor forms of the optimizers, clipping and the
// weight EMA (src/optim/foreach.rs). One entry point: `op` names the call
// (the numbering is src/optim/foreach.rs's `Op`), `a`, `b`, `c` are lists
// of `n` tensors (those the op does not use may be null), `s` its scalars
// (one, or one per tensor for the list forms), `t` a tensor operand. Ops
// that make new tensors write `n` of them to `out` (owned by the caller).
// Returns false with libtorch's message in *error.
//
// On CUDA each op is one or a few fused kernel launches per list chunk
// (what torch.optim's foreach=True uses); on the CPU libtorch runs the same
// per-tensor kernels in a loop, so the results equal the per-tensor ops.
#include <ATen/core/Tensor.h>
#include <ATen/ops/_foreach_add.h>
#include <ATen/ops/_foreach_addcdiv.h>
#include <ATen/ops/_foreach_addcmul.h>
#include <ATen/ops/_foreach_div.h>
#include <ATen/ops/_foreach_lerp.h>
#include <ATen/ops/_foreach_mul.h>
#include <ATen/ops/_foreach_norm.h>
#include <ATen/ops/_foreach_sqrt.h>

#include <cstddef>
#include <vector>

#include "shim.h"

namespace {
enum Op : int {
  AddList_ = 0,    // a += s[0] * b
  AddList = 1,     // a + s[0] * b
  AddScalar_ = 2,  // a += s[0]
  MulScalar_ = 3,  // a *= s[0]
  MulTensor_ = 4,  // a *= t (a scalar tensor)
  Addcmul_ = 5,    // a += s[0] * b * c
  Addcmul = 6,     // a + s[0] * b * c
  Addcdiv_ = 7,    // a += s[0] * b / c
  AddcdivList_ = 8,  // a[i] += s[i] * b[i] / c[i]
  DivList_ = 9,    // a[i] /= s[i]
  Lerp_ = 10,      // a += s[0] * (b - a)
  Sqrt = 11,       // sqrt(a)
  Sqrt_ = 12,      // a = sqrt(a)
  Norm = 13,       // the L2 norm of each tensor
  AddScalar = 14,  // a + s[0]
};

std::vector<at::Tensor> list(const at::Tensor *const *xs, size_t n) {
  std::vector<at::Tensor> v;
  if (xs == nullptr) return v;
  v.reserve(n);
  for (size_t i = 0; i < n; i++) v.push_back(*xs[i]);
  return v;
}

std::vector<at::Scalar> scalars(const double *s, size_t n) { return {s, s + n}; }

// Runs the op; returns the new tensors of the ops that make them.
std::vector<at::Tensor> apply(int op, const std::vector<at::Tensor> &a,
                              const std::vector<at::Tensor> &b,
                              const std::vector<at::Tensor> &c, const double *s,
                              const at::Tensor *t) {
  switch (op) {
    case AddList_: at::_foreach_add_(a, b, s[0]); return {};
    case AddList: return at::_foreach_add(a, b, s[0]);
    case AddScalar_: at::_foreach_add_(a, s[0]); return {};
    case AddScalar: return at::_foreach_add(a, s[0]);
    case MulScalar_: at::_foreach_mul_(a, s[0]); return {};
    case MulTensor_: at::_foreach_mul_(a, *t); return {};
    case Addcmul_: at::_foreach_addcmul_(a, b, c, s[0]); return {};
    case Addcmul: return at::_foreach_addcmul(a, b, c, s[0]);
    case Addcdiv_: at::_foreach_addcdiv_(a, b, c, s[0]); return {};
    case AddcdivList_: at::_foreach_addcdiv_(a, b, c, scalars(s, a.size())); return {};
    case DivList_: at::_foreach_div_(a, scalars(s, a.size())); return {};
    case Lerp_: at::_foreach_lerp_(a, b, s[0]); return {};
    case Sqrt: return at::_foreach_sqrt(a);
    case Sqrt_: at::_foreach_sqrt_(a); return {};
    case Norm: return at::_foreach_norm(a, 2);
  }
  TORCH_CHECK(false, "paperlab_foreach: unknown op ", op);
}
}  // namespace

extern "C" bool paperlab_foreach(int op, const at::Tensor *const *a, const at::Tensor *const *b,
                                 const at::Tensor *const *c, size_t n, const double *s,
                                 const at::Tensor *t, at::Tensor **out, char **error) {
  return paperlab::guarded(error, false, [&] {
    auto made = apply(op, list(a, n), list(b, n), list(c, n), s, t);
    TORCH_CHECK(made.empty() || made.size() == n, "paperlab_foreach: op ", op, " made ",
                made.size(), " tensors for ", n);
    for (size_t i = 0; i < made.size(); i++) out[i] = new at::Tensor(std::move(made[i]));
    return true;
  });
}
