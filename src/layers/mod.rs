//! Reusable layers shared by the papers: fractional max-pooling, maxout,
//! pylearn2's uniform-init linear layer and activations (weight norm and
//! TPReLU join them as papers need them).

pub mod activation;
pub mod fmp;
pub mod linear;
pub mod maxout;
