//! The generator/discriminator pair of each --model, and what every model
//! shares: the noise, sampling G in chunks, reloading a trained G.
//! Adding a model is adding a module with `generator` and `discriminator`
//! builders taking its own config, a variant of [`ModelConfig`] and an arm
//! to the two matches here.
//!
//! A generator maps z [B, noise_dim] to images [B, C, H, W] in [0, 1]; a
//! discriminator maps such images to one logit each, [B].

use super::args::{Noise, TrainGanArgs};
use super::mlp::{self, MlpConfig};
use crate::data::Dataset;
use crate::error::Result;
use crate::runner::reopen::Reopened;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// G's input: the distribution of z and its dimension.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latent {
    pub noise: Noise,
    pub dim: i64,
}

impl Latent {
    /// `n` draws of z from torch's generator.
    pub fn sample(&self, n: i64, device: Device) -> Tensor {
        let dim = self.dim;
        match self.noise {
            Noise::Uniform => {
                let r = 3f64.sqrt();
                Tensor::rand([n, dim], (Kind::Float, device)) * (2.0 * r) - r
            }
            Noise::Normal => Tensor::randn([n, dim], (Kind::Float, device)),
        }
    }
}

/// Which pair of networks, with its own settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "kebab-case")]
pub enum ModelConfig {
    Mlp(MlpConfig),
}

/// Everything that defines a GAN's networks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    pub latent: Latent,
    pub model: ModelConfig,
}

/// G under `p`; `marginals` (per-pixel training means) initialise its output
/// where the model does so.
pub fn generator(
    p: &nn::Path,
    cfg: &GanConfig,
    shape: [i64; 3],
    marginals: Option<&Tensor>,
) -> Box<dyn ModuleT> {
    match &cfg.model {
        ModelConfig::Mlp(c) => Box::new(mlp::generator(p, c, cfg.latent.dim, shape, marginals)),
    }
}

/// D under `p`.
pub fn discriminator(p: &nn::Path, cfg: &GanConfig, shape: [i64; 3]) -> Box<dyn ModuleT> {
    match &cfg.model {
        ModelConfig::Mlp(c) => Box::new(mlp::discriminator(p, c, shape)),
    }
}

/// Rows of G evaluated at a time when sampling, bounding activation memory.
const SAMPLE_CHUNK: i64 = 1000;

/// `n` samples of G (evaluation mode, no gradients), [n, C, H, W].
pub fn sample(g: &dyn ModuleT, latent: &Latent, n: i64, device: Device) -> Tensor {
    tch::no_grad(|| {
        let parts: Vec<Tensor> = (0..n)
            .step_by(SAMPLE_CHUNK as usize)
            .map(|start| {
                let z = latent.sample(SAMPLE_CHUNK.min(n - start), device);
                g.forward_t(&z, false)
            })
            .collect();
        Tensor::cat(&parts, 0)
    })
}

/// Per-pixel means of `ds` in [0, 1], [C*H*W] float.
pub fn marginals(ds: &Dataset) -> Tensor {
    let sum = ds
        .images
        .flatten(1, -1)
        .sum_dim_intlist(0, false, Kind::Double);
    (sum / (255.0 * ds.len().max(1) as f64)).to_kind(Kind::Float)
}

/// The G of a reopened train-gan run, for images of `shape`.
pub fn trained_generator(
    run: &Reopened<TrainGanArgs>,
    shape: [i64; 3],
) -> Result<Box<dyn ModuleT>> {
    let vs = VarStore::new(run.device);
    let g = generator(&vs.root(), &run.config.gan_config(), shape, None);
    run.checkpoint.load_vars("g.", &vs)?;
    Ok(g)
}
