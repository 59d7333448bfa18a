//! Reusable layers shared by the papers: fractional max-pooling, Graham's
//! input sites (`background`) and colour shift, maxout,
//! pylearn2's uniform-init linear layer, activations (learned PReLU, TPReLU
//! and TReLU among them), weight-normalized layers with data-dependent
//! initialisation, the plain and fixed-scale layers and the batch norm of
//! that paper's baselines, mean-only batch norm, and Xiang & Li's strict or
//! affine weight-normalized layers for GANs (`gan_weight_norm`).

pub mod activation;
pub mod background;
pub mod batch_norm;
pub mod color_shift;
pub mod fmp;
pub mod gan_weight_norm;
pub mod linear;
pub mod maxout;
pub mod mean_only_bn;
pub mod plain;
pub mod weight_norm;
