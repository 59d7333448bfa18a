//! The tiny configuration of each trainer, which several tests run: a few
//! steps on Fashion-MNIST (or data/imagenet) on one thread, quietly. A test
//! appends what it needs; a later flag wins over an earlier one (the
//! trainers take a flag again), so it can also change these.

/// train-fmp: 600 images in batches of 50 (12 steps an epoch), two epochs
/// of a 4-filter net, 200 test images.
pub const TINY_FMP: &[&str] = &[
    "train-fmp",
    "--train-limit",
    "600",
    "--test-limit",
    "200",
    "--filters",
    "4",
    "--batch-size",
    "50",
    "--epochs",
    "2",
    "--threads",
    "1",
    "--quiet",
];

/// train-gan --model mlp: 600 images in batches of 50, two epochs, G of 32
/// hidden units, D of 16 maxout units.
pub const TINY_GAN: &[&str] = &[
    "train-gan",
    "--model",
    "mlp",
    "--dataset",
    "fashion-mnist",
    "--train-limit",
    "600",
    "--g-hidden",
    "32",
    "--d-units",
    "16",
    "--batch-size",
    "50",
    "--epochs",
    "2",
    "--threads",
    "1",
    "--quiet",
];

/// train-gan --model dcgan on Fashion-MNIST (padded to 32x32): epochs of 20
/// iterations, 16 running and 32 final held-out images.
pub const TINY_DCGAN: &[&str] = &[
    "train-gan",
    "--model",
    "dcgan",
    "--dataset",
    "fashion-mnist",
    "--features",
    "8",
    "--train-limit",
    "640",
    "--test-interval",
    "20",
    "--epochs",
    "2",
    "--running",
    "16",
    "--final",
    "32",
    "--test-steps",
    "5",
    "--threads",
    "1",
    "--quiet",
];

/// train-wn: 14 steps of 50 images, one epoch (add --widths for a smaller
/// net).
pub const TINY_WN: &[&str] = &[
    "train-wn",
    "--train-limit",
    "700",
    "--test-limit",
    "500",
    "--batch-size",
    "50",
    "--init-batch",
    "200",
    "--epochs",
    "1",
    "--threads",
    "1",
    "--quiet",
];

/// train-inception on Fashion-MNIST: 96 images in batches of 16 (6 steps an
/// epoch), two epochs, 40 validation images, Inception-ResNet-v1 at 1/16
/// width and 75x75.
pub const TINY_INCEPTION: &[&str] = &[
    "train-inception",
    "--model",
    "inception-resnet-v1",
    "--dataset",
    "fashion-mnist",
    "--width",
    "0.0625",
    "--image-size",
    "75",
    "--train-limit",
    "96",
    "--val-limit",
    "40",
    "--batch-size",
    "16",
    "--epochs",
    "2",
    "--threads",
    "1",
    "--quiet",
];

/// train-inception on data/imagenet (`imagenet_folder`: 32 training images,
/// 8 steps of 4 an epoch), two epochs, two decoding workers, Inception-v4
/// at 1/16 width and 75x75.
pub const TINY_FOLDER_INCEPTION: &[&str] = &[
    "train-inception",
    "--model",
    "inception-v4",
    "--dataset",
    "imagenet",
    "--width",
    "0.0625",
    "--image-size",
    "75",
    "--batch-size",
    "4",
    "--epochs",
    "2",
    "--workers",
    "2",
    "--threads",
    "1",
    "--quiet",
];

/// `base` then `extra`, as owned strings.
pub fn argv(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// `base`, `--name name`, then `extra`.
pub fn named(base: &[&str], name: &str, extra: &[&str]) -> Vec<String> {
    argv(&[base, &["--name", name]].concat(), extra)
}

pub fn tiny_fmp(name: &str, extra: &[&str]) -> Vec<String> {
    named(TINY_FMP, name, extra)
}

pub fn tiny_gan(name: &str, extra: &[&str]) -> Vec<String> {
    named(TINY_GAN, name, extra)
}

pub fn tiny_dcgan(name: &str, extra: &[&str]) -> Vec<String> {
    named(TINY_DCGAN, name, extra)
}

pub fn tiny_inception(name: &str, extra: &[&str]) -> Vec<String> {
    named(TINY_INCEPTION, name, extra)
}

pub fn tiny_folder_inception(name: &str, extra: &[&str]) -> Vec<String> {
    named(TINY_FOLDER_INCEPTION, name, extra)
}
