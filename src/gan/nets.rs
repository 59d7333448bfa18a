//! The generator/discriminator pair of each --model, and what every model
//! shares: the noise, sampling G in chunks, reloading a trained G.
//! Adding a model is adding a module with `generator` and `discriminator`
//! builders taking its own config, a variant of [`ModelConfig`] and an arm
//! to the two matches here, and its flag set in args.rs (a variant of
//! `Model` and of `TrainGanArgs`).
//!
//! A generator maps z [B, noise_dim] to images [B, C, H, W] in [0, 1]; a
//! discriminator maps such images to one logit each, [B].

use super::dcgan::{self, DcganConfig};
use super::mlp::{self, MlpConfig};
use crate::data::Dataset;
use crate::error::Result;
use crate::runner::store::checkpoint::CheckpointFile;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// The distribution of G's input z. The authors' mnist.yaml sets none, so
/// their Generator's default, a standard normal, is what the paper ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Noise {
    /// Uniform on [-sqrt 3, sqrt 3]: zero mean, unit variance.
    Uniform,
    /// Standard normal.
    Normal,
}

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
    Dcgan(DcganConfig),
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
        ModelConfig::Dcgan(c) => Box::new(dcgan::generator(p, c, cfg.latent.dim)),
    }
}

/// D under `p`.
pub fn discriminator(p: &nn::Path, cfg: &GanConfig, shape: [i64; 3]) -> Box<dyn ModuleT> {
    match &cfg.model {
        ModelConfig::Mlp(c) => Box::new(mlp::discriminator(p, c, shape)),
        ModelConfig::Dcgan(c) => Box::new(dcgan::discriminator(p, c)),
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

/// The G of `cfg` for images of `shape`, with the weights of `checkpoint`,
/// frozen: evaluations never train it, and need no gradients for it.
pub fn trained_generator(
    cfg: &GanConfig,
    checkpoint: &CheckpointFile,
    device: Device,
    shape: [i64; 3],
) -> Result<Box<dyn ModuleT>> {
    let mut vs = VarStore::new(device);
    let g = generator(&vs.root(), cfg, shape, None);
    checkpoint.load_vars("g.", &vs)?;
    vs.freeze();
    Ok(g)
}
