//! Cutting a dataset into shuffled batches on the training device.

use tch::{Device, Kind, Tensor};

use super::Dataset;
use crate::rng::{Rng, Stream};

/// The order of examples for one epoch: a pure function of (seed, epoch) so a resumed run repeats itself.
pub fn epoch_order(n: i64, seed: u64, epoch: u64) -> Vec<i64> {
    Rng::stream(seed, Stream::Shuffle(epoch)).permutation(n as usize)
}

/// The examples of epoch `epoch` (1-based) when an epoch is `per_epoch`
/// examples of an endless stream of shuffled passes over `n` examples
/// (pass p in the order `epoch_order(n, seed, p + 1)`); with `per_epoch ==
/// n` it is `epoch_order(n, seed, epoch)`.
pub fn stream_order(n: i64, per_epoch: i64, seed: u64, epoch: u64) -> Vec<i64> {
    let start = (epoch as i64 - 1) * per_epoch;
    let mut out = Vec::with_capacity(per_epoch as usize);
    let mut pass = None;
    for pos in start..start + per_epoch {
        let p = (pos / n) as u64;
        if pass.as_ref().is_none_or(|(q, _)| *q != p) {
            pass = Some((p, epoch_order(n, seed, p + 1)));
        }
        let (_, order) = pass.as_ref().expect("set above");
        out.push(order[(pos % n) as usize]);
    }
    out
}

/// One batch moved to the device: images as float in [0, 1], labels int64.
#[derive(Debug)]
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
}

/// The examples at `indices`. They are gathered and moved as uint8 and only
/// converted to float on the device: a quarter of the host work and transfer.
pub fn batch(ds: &Dataset, indices: &[i64], device: Device) -> Batch {
    let index = Tensor::from_slice(indices);
    let images = upload(&ds.images.index_select(0, &index), device);
    Batch {
        images: images.to_kind(Kind::Float) / 255.0,
        labels: upload(&ds.labels.index_select(0, &index), device),
    }
}

/// A host tensor copied to `device` without making the host wait for it. A
/// plain copy from pageable memory to CUDA waits until the GPU has run all
/// it was given (the previous step): a sync per step, and the CPU cannot
/// queue the next step's kernels meanwhile. From page-locked memory the copy
/// is asynchronous (PyTorch's `pin_memory` + `non_blocking=True`); libtorch's
/// pinned allocator keeps the buffer until the copy has run. Elsewhere, and
/// should pinning fail, a plain copy.
pub fn upload(t: &Tensor, device: Device) -> Tensor {
    if !device.is_cuda() {
        return t.to_device(device);
    }
    let pinned = crate::native::pin_memory(t).ok();
    pinned
        .and_then(|p| p.f_to_device_(device, p.kind(), true, false).ok())
        .unwrap_or_else(|| t.to_device(device))
}

/// Zero-pads [B, C, H, W] images to size x size, centred (an odd extra pixel
/// goes to the bottom/right), as the FMP network wants larger inputs.
pub fn pad_to(images: &Tensor, size: i64) -> Tensor {
    let shape = images.size();
    let (height, width) = (shape[2], shape[3]);
    assert!(
        size >= height && size >= width,
        "pad_to: {size} is smaller than {height}x{width}"
    );
    let (top, left) = ((size - height) / 2, (size - width) / 2);
    images.constant_pad_nd([left, size - width - left, top, size - height - top])
}
