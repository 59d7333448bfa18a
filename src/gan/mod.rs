//! Paper 3: Generative Adversarial Nets (Goodfellow et al. 2014). `train-gan`
//! plays the adversarial game for a --model (the paper's MLP pair);
//! `eval-parzen` reloads a run's G and reports the paper's Parzen-window
//! log-likelihood of the test set.

pub mod args;
pub mod mlp;
pub mod nets;
pub mod parzen;
pub mod samples;
pub mod steps;
pub mod train;
