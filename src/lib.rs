//! paperlab: reproduce five deep-learning papers end to end on libtorch.
//!
//! Shared runner parts live in [`runner`] and [`data`]; reusable layers in
//! [`layers`]; one module per paper holds its models, training and evaluation.

pub mod cli;
pub mod compare;
pub mod data;
pub mod error;
pub mod fmp;
pub mod gan;
pub mod inception;
pub mod info;
pub mod layers;
pub mod native;
pub mod optim;
pub mod ranges;
pub mod rng;
pub mod runner;
pub mod sweep;
pub mod wn;
