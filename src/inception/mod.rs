//! Paper 2: Inception-v4 and Inception-ResNet (Szegedy et al. 2016).
//! `train-inception` trains or evaluates Inception-v4, Inception-ResNet-v1
//! or Inception-ResNet-v2, built exactly as the reference models (timm's
//! parameter counts and state-dict names), with the paper's recipe
//! (TF-style RMSProp, stepped learning-rate decay, clipping, label
//! smoothing, weight EMA) and 1, 10 or 144-crop evaluation.

pub mod args;
pub mod blocks;
pub mod crops;
pub mod data;
pub mod eval;
pub mod net;
pub mod resnet_v1;
pub mod resnet_v2;
pub mod summary;
pub mod train;
pub mod v4;
pub mod weights;
