//! paperlab: reproduce five deep-learning papers end to end on libtorch.
//!
//! Shared runner parts live in their own modules; reusable layers in
//! [`layers`]; one module per paper holds its models, training and evaluation.

pub mod error;
pub mod rng;
