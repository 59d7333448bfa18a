//! `--channels-last`: the conv nets' 4-D weights and input batches in NHWC
//! memory order (the shape stays NCHW), as timm's `--channels-last` does
//! with `model.to(memory_format=torch.channels_last)` and each batch. On a
//! GPU's tensor cores cuDNN's convolutions run fastest so; a convolution
//! given a channels-last weight returns a channels-last output, so the
//! layout carries through the net. The values are the same either way, up
//! to the rounding of another summation order.

use crate::native;
use tch::nn::VarStore;
use tch::Tensor;

/// The memory order of a model's weights and inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// libtorch's default (NCHW strides).
    #[default]
    Contiguous,
    ChannelsLast,
}

impl Layout {
    pub fn new(channels_last: bool) -> Layout {
        match channels_last {
            true => Layout::ChannelsLast,
            false => Layout::Contiguous,
        }
    }

    /// Every 4-D variable of `vs` rewritten in this layout in place (as
    /// `param.data = param.contiguous(memory_format)`, what torch's
    /// `Module.to(memory_format=...)` does), so the optimizer's and the
    /// EMA's views of them, and their gradients, follow. Call it before
    /// the optimizer makes its buffers.
    pub fn convert(self, vs: &VarStore) {
        if self == Layout::Contiguous {
            return;
        }
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                if v.dim() == 4 {
                    let nhwc = channels_last(&v);
                    v.set_data(&nhwc);
                }
            }
        });
    }

    /// A batch (4-D; other shapes pass through) in this layout.
    pub fn input(self, x: &Tensor) -> Tensor {
        match self {
            Layout::ChannelsLast if x.dim() == 4 => channels_last(x),
            _ => x.shallow_clone(),
        }
    }
}

/// `x` in channels-last order; a libtorch error here is a bug (x is 4-D),
/// so it panics with the message, as tch's ops do.
fn channels_last(x: &Tensor) -> Tensor {
    native::channels_last(x).unwrap_or_else(|e| panic!("channels-last: {e}"))
}
