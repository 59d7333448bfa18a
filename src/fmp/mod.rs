//! Paper 1: Fractional Max-Pooling (Graham 2014). `train-fmp` trains the
//! (nkC2 - FMP alpha)^L - C2 - C1 - output network; `eval-fmp` reloads a run
//! and averages the softmax over repeated passes with fresh pooling regions.

pub mod args;
pub mod augment;
pub mod eval;
pub mod model;
pub mod train;
