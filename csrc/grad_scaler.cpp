// libtorch's fused check-and-unscale of torch.amp.GradScaler, which tch 0.24
// does not expose (its _amp_update_scale_ it does): every gradient of the
// list multiplied by inv_scale in place, found_inf set to 1 when any holds
// an inf or NaN. One kernel per list chunk on CUDA, no host read. Bound in
// src/optim/scaler.rs. Returns false with libtorch's message in *error.
#include <ATen/core/Tensor.h>
#include <ATen/ops/_amp_foreach_non_finite_check_and_unscale.h>

#include <cstddef>
#include <vector>

#include "shim.h"

extern "C" bool paperlab_amp_unscale(const at::Tensor *const *grads, size_t n, at::Tensor *found_inf,
                                     const at::Tensor *inv_scale, char **error) {
  return paperlab::guarded(error, false, [&] {
    std::vector<at::Tensor> list;
    list.reserve(n);
    for (size_t i = 0; i < n; i++) list.push_back(*grads[i]);
    at::_amp_foreach_non_finite_check_and_unscale_(list, *found_inf, *inv_scale);
    return true;
  });
}
