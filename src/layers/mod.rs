//! Reusable layers shared by the papers: fractional max-pooling and
//! activations (weight norm, maxout and TPReLU join them as papers need them).

pub mod activation;
pub mod fmp;
pub mod maxout;
