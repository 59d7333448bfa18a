//! The generator/discriminator pair of each --model, and what every model
//! shares: the noise, sampling G in chunks, reloading a trained G.
//! Adding a model is adding a module with `generator` and `discriminator`
//! builders and an arm to the two matches here.
//!
//! A generator maps z [B, noise_dim] to images [B, C, H, W] in [0, 1]; a
//! discriminator maps such images to one logit each, [B].

use super::args::{Model, Noise, TrainGanArgs};
use super::mlp;
use crate::data::Dataset;
use crate::error::Result;
use crate::runner::reopen::Reopened;
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// G for `args.model` under `p`; `marginals` (per-pixel training means)
/// initialise its output where the model does so.
pub fn generator(
    p: &nn::Path,
    args: &TrainGanArgs,
    shape: [i64; 3],
    marginals: Option<&Tensor>,
) -> Box<dyn ModuleT> {
    match args.model {
        Model::Mlp => Box::new(mlp::generator(p, args, shape, marginals)),
    }
}

/// D for `args.model` under `p`.
pub fn discriminator(p: &nn::Path, args: &TrainGanArgs, shape: [i64; 3]) -> Box<dyn ModuleT> {
    match args.model {
        Model::Mlp => Box::new(mlp::discriminator(p, args, shape)),
    }
}

/// `n` draws of z from torch's generator.
pub fn noise(kind: Noise, n: i64, dim: i64, device: Device) -> Tensor {
    match kind {
        Noise::Uniform => {
            let r = 3f64.sqrt();
            Tensor::rand([n, dim], (Kind::Float, device)) * (2.0 * r) - r
        }
        Noise::Normal => Tensor::randn([n, dim], (Kind::Float, device)),
    }
}

/// Rows of G evaluated at a time when sampling, bounding activation memory.
const SAMPLE_CHUNK: i64 = 1000;

/// `n` samples of G (evaluation mode, no gradients), [n, C, H, W].
pub fn sample(g: &dyn ModuleT, args: &TrainGanArgs, n: i64, device: Device) -> Tensor {
    tch::no_grad(|| {
        let parts: Vec<Tensor> = (0..n)
            .step_by(SAMPLE_CHUNK as usize)
            .map(|start| {
                let z = noise(
                    args.noise,
                    SAMPLE_CHUNK.min(n - start),
                    args.noise_dim,
                    device,
                );
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
    let g = generator(&vs.root(), &run.config, shape, None);
    run.checkpoint.load_vars("g.", &vs)?;
    Ok(g)
}
