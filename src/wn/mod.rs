//! Paper: Weight Normalization (Salimans & Kingma 2016). `train-wn` trains
//! the paper's CIFAR-10 network with no normalisation, batch norm, weight
//! norm, or weight norm with mean-only batch norm, on ZCA-whitened input,
//! with Adam and the authors' lr and beta1 schedules. The layers themselves
//! are in `layers::weight_norm` and `layers::mean_only_bn`.

pub mod args;
pub mod model;
pub mod train;
pub mod zca;
