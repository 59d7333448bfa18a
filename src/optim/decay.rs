//! L2 weight decay added to the gradients in place, as a regularizer's
//! gradient joins the loss's (TF-slim's regularizers, which train-inception
//! follows), before clipping and the optimizer step. The optimizers' own
//! `weight_decay` is torch.optim's, applied inside their step instead.

use super::foreach;
use super::foreach::UpdateImpl;
use super::param::Param;
use tch::Tensor;

/// `grad += wd * p` for each of `params` with a gradient, per tensor or by
/// one foreach op per device and dtype as `update` chooses.
pub fn add_weight_decay<'a>(
    params: impl IntoIterator<Item = &'a Param>,
    wd: f64,
    update: UpdateImpl,
) {
    let (ps, gs): (Vec<Tensor>, Vec<Tensor>) = params
        .into_iter()
        .map(|p| (p.tensor.shallow_clone(), p.tensor.grad()))
        .filter(|(_, g)| g.defined())
        .unzip();
    let Some(first) = ps.first() else { return };
    tch::no_grad(|| {
        if update.multi(first.device()) {
            for (ps, gs) in foreach::grouped_pairs(&ps, &gs) {
                foreach::add_(&gs, &ps, wd);
            }
        } else {
            for (p, g) in ps.iter().zip(&gs) {
                let _ = g.shallow_clone().g_add_(&(p * wd));
            }
        }
    });
}
