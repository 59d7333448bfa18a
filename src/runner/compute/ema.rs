//! The exponential moving average of a model's weights, used for evaluation
//! (TensorFlow's ExponentialMovingAverage with num_updates, as TF-slim's
//! training script sets it): after step n, shadow = d * shadow + (1 - d) *
//! live with d = min(decay, (1 + n) / (10 + n)), over every variable,
//! BatchNorm running statistics included. The ramp keeps the early shadow
//! close to the live weights instead of to the random initialisation.
//!
//! The shadow is a second copy of the model on the live one's device, so
//! evaluating or saving it needs no swapping of weights; it is saved with
//! every checkpoint ("ema.") so a resumed run continues it exactly. Its
//! update is one lerp per variable or, as timm's ModelEmaV3 on CUDA, one
//! foreach lerp per device and dtype (`--update-impl`).

use crate::error::{run, Result};
use crate::optim::{foreach, UpdateImpl};
use crate::runner::store::checkpoint::CheckpointFile;
use tch::nn::{self, VarStore};
use tch::Tensor;

pub struct Ema<M> {
    decay: f64,
    vs: VarStore,
    model: M,
    /// Live and shadow variables, sorted by name.
    live: Vec<Tensor>,
    shadow: Vec<Tensor>,
    /// The multi-tensor update, else one lerp per variable.
    multi: bool,
}

impl<M> Ema<M> {
    /// A shadow of the model whose variables are `live`'s: `build` makes the
    /// same model on the shadow's VarStore, which starts as a copy of `live`.
    /// Fails, naming the variable, if the two models' variables differ.
    pub fn new(live: &VarStore, decay: f64, build: impl FnOnce(&nn::Path) -> M) -> Result<Ema<M>> {
        let mut vs = VarStore::new(live.device());
        let model = build(&vs.root());
        vs.freeze();
        let mut shadow = vs.variables();
        let mut vars: Vec<(String, Tensor)> = live.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let (mut lives, mut shadows) = (vec![], vec![]);
        for (name, l) in vars {
            let s = shadow.remove(&name).ok_or_else(|| {
                run(format!(
                    "weight EMA: the shadow model has no variable {name}"
                ))
            })?;
            if s.size() != l.size() || s.kind() != l.kind() {
                return Err(run(format!(
                    "weight EMA: variable {name} is {:?} {:?} in the model, {:?} {:?} in its shadow",
                    l.kind(),
                    l.size(),
                    s.kind(),
                    s.size()
                )));
            }
            tch::no_grad(|| s.shallow_clone().copy_(&l));
            lives.push(l);
            shadows.push(s);
        }
        if let Some(name) = shadow.keys().min() {
            return Err(run(format!(
                "weight EMA: the shadow model has a variable {name} that the model lacks"
            )));
        }
        Ok(Ema {
            decay,
            multi: UpdateImpl::Auto.multi(vs.device()),
            vs,
            model,
            live: lives,
            shadow: shadows,
        })
    }

    /// This EMA updating in the form `update` chooses for its device.
    pub fn with_update(mut self, update: UpdateImpl) -> Ema<M> {
        self.multi = update.multi(self.vs.device());
        self
    }

    /// The averaged model, for evaluation.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The averaged variables, for saving.
    pub fn vs(&self) -> &VarStore {
        &self.vs
    }

    /// The decay after `step` updates.
    pub fn decay_at(&self, step: i64) -> f64 {
        self.decay.min((1.0 + step as f64) / (10.0 + step as f64))
    }

    /// Move the shadow towards the live weights after optimizer step `step`.
    pub fn update(&self, step: i64) {
        let w = 1.0 - self.decay_at(step);
        tch::no_grad(|| {
            if self.multi {
                for (shadow, live) in foreach::grouped_pairs(&self.shadow, &self.live) {
                    foreach::lerp_(&shadow, &live, w);
                }
            } else {
                for (live, shadow) in self.live.iter().zip(&self.shadow) {
                    let _ = shadow.shallow_clone().lerp_(live, w);
                }
            }
        });
    }

    /// The shadow's variables themselves, in name order.
    pub fn variables(&self) -> Vec<Tensor> {
        self.shadow.iter().map(Tensor::shallow_clone).collect()
    }

    /// The shadow's tensors under "ema.", for checkpoints.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("ema.{k}"), v))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Restore the shadow from a checkpoint's "ema." section.
    pub fn load(&self, checkpoint: &CheckpointFile) -> Result<()> {
        checkpoint.load_vars("ema.", &self.vs)
    }
}
