//! The exponential moving average of the weights used for evaluation
//! (TensorFlow's ExponentialMovingAverage with num_updates, as TF-slim's
//! training script sets it): after step n, shadow = d * shadow + (1 - d) *
//! weights with d = min(decay, (1 + n) / (10 + n)), over every variable,
//! BatchNorm running statistics included. The shadow is a second network
//! on the same device, so evaluating with it needs no swapping; it is saved
//! with every checkpoint ("ema.") so a resumed run continues it exactly.

use super::net::{build, Config, Net};
use crate::error::Result;
use crate::runner::checkpoint::Loaded;
use tch::nn::VarStore;
use tch::{Device, Tensor};

pub struct Ema {
    pub decay: f64,
    pub vs: VarStore,
    pub net: Net,
    /// (live, shadow) pairs.
    pairs: Vec<(Tensor, Tensor)>,
}

impl Ema {
    /// A shadow of the network of `cfg` whose variables are `live`'s,
    /// starting as a copy of them.
    pub fn new(live: &VarStore, cfg: &Config, decay: f64, device: Device) -> Ema {
        let mut vs = VarStore::new(device);
        let net = build(&vs.root(), cfg);
        vs.freeze();
        let shadow = vs.variables();
        let mut names: Vec<(String, Tensor)> = live.variables().into_iter().collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let pairs: Vec<(Tensor, Tensor)> = names
            .into_iter()
            .map(|(name, t)| (t, shadow[&name].shallow_clone()))
            .collect();
        let ema = Ema {
            decay,
            vs,
            net,
            pairs,
        };
        ema.copy_live();
        ema
    }

    /// Reset the shadow to the live weights.
    pub fn copy_live(&self) {
        tch::no_grad(|| {
            for (live, shadow) in &self.pairs {
                shadow.shallow_clone().copy_(live);
            }
        });
    }

    /// The decay after `step` updates.
    pub fn decay_at(&self, step: i64) -> f64 {
        self.decay.min((1.0 + step as f64) / (10.0 + step as f64))
    }

    /// Move the shadow towards the live weights after optimizer step `step`.
    pub fn update(&self, step: i64) {
        let w = 1.0 - self.decay_at(step);
        tch::no_grad(|| {
            for (live, shadow) in &self.pairs {
                let _ = shadow.shallow_clone().lerp_(live, w);
            }
        });
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

    pub fn load(&self, checkpoint: &Loaded) -> Result<()> {
        checkpoint.load_vars("ema.", &self.vs)
    }
}
