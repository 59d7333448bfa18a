//! Papers 3 and 5: Generative Adversarial Nets (Goodfellow et al. 2014) and
//! batch and weight normalization in GANs (Xiang & Li 2017). `train-gan`
//! plays the adversarial game for a --model (the MLP pair of the first, the
//! DCGAN of the second with its --norm variants); `eval-parzen` reports the
//! first paper's Parzen-window log-likelihood, `eval-reconstruction` the
//! second's reconstruction measure.

pub mod args;
pub mod data;
pub mod dcgan;
pub mod eval_reconstruction;
pub mod mlp;
pub mod nets;
pub mod parzen;
pub mod reconstruct;
pub mod reports;
pub mod samples;
pub mod steps;
pub mod train;
