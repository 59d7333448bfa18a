//! The images a GAN trains on, and what it holds out.
//!
//! mlp: the training split, its last --valid-size images held out as
//! validation (the authors held out MNIST's last 10,000).
//! dcgan: every image of the dataset (both splits, as pytorch/main.py joins
//! CIFAR-10's), 28x28 ones padded to 32x32; a seeded draw of --running and
//! --final images (--split: disjoint, or the authors' nested one) is held
//! out before training and recorded in the run directory as heldout.json,
//! so eval-reconstruction tests on exactly them.

use super::args::{DcganArgs, GanData, MlpGanArgs, Split, TrainGanArgs};
use crate::data::images::load_folder;
use crate::data::{self, Dataset};
use crate::error::{usage, Result};
use crate::rng::{Rng, Stream};
use crate::runner::args::flag_name;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Side of the images of a dcgan run on a named dataset.
const NAMED_SIZE: i64 = 32;

pub struct GanImages {
    pub train: Dataset,
    pub held: Held,
}

/// What a run holds out of its images.
pub enum Held {
    /// mlp: the validation images (Parzen).
    Valid(Dataset),
    /// dcgan: the held-out draw, and every image it indexes.
    Draw(Heldout, Dataset),
}

/// The held-out images of a dcgan run, by index into all of its images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heldout {
    pub running: Vec<i64>,
    #[serde(rename = "final")]
    pub final_set: Vec<i64>,
}

/// Every image of `gan`'s dataset as the dcgan trains on it: square,
/// --image-size (default: 64 for image folders, 32 otherwise), folders
/// centre-cropped to --crop-size first, decoded on `workers` threads.
pub fn all_images(gan: &DcganArgs, data_dir: &std::path::Path, workers: usize) -> Result<Dataset> {
    let dataset = gan.dataset();
    let size = gan.image_size;
    match &dataset {
        GanData::Images { images } => {
            load_folder(images, gan.crop_size, size.unwrap_or(64), workers)
        }
        GanData::Named(name) => {
            let splits = data::load(name, data_dir)?;
            let all = Dataset {
                images: Tensor::cat(&[&splits.train.images, &splits.test.images], 0),
                labels: Tensor::cat(&[&splits.train.labels, &splits.test.labels], 0),
                classes: splits.train.classes,
            };
            let [_, h, w] = all.image_shape();
            let side = size.unwrap_or(NAMED_SIZE);
            if h != w || h > side || (side - h) % 2 != 0 {
                return Err(usage(format!(
                    "--dataset {dataset}: {h}x{w} images; dcgan takes square images padded to --image-size {side} (32 for the named datasets)"
                )));
            }
            let pad = (side - h) / 2;
            Ok(Dataset {
                images: all.images.constant_pad_nd([pad, pad, pad, pad]),
                ..all
            })
        }
    }
}

/// The seeded held-out draw of `running` and `final_images` of `n` images:
/// one permutation, cut as `split` says (the authors' split_data.py lines
/// 37-42 for `Split::Authors`).
pub fn draw_heldout(
    n: i64,
    running: i64,
    final_images: i64,
    split: Split,
    seed: u64,
) -> Result<Heldout> {
    let (r, f) = (running as usize, final_images as usize);
    let (held, final_from) = match split {
        Split::Disjoint => (r + f, r),
        Split::Authors => (r.max(f), 0),
    };
    if held as i64 >= n {
        return Err(usage(format!(
            "--running {running} and --final {final_images} (--split {}) leave no training images of {n}; lower them",
            flag_name(&split)
        )));
    }
    let order = Rng::stream(seed, Stream::Heldout).permutation(n as usize);
    Ok(Heldout {
        running: order[..r].to_vec(),
        final_set: order[final_from..final_from + f].to_vec(),
    })
}

/// The examples of `ds` at `indices`.
pub fn select(ds: &Dataset, indices: &[i64]) -> Dataset {
    let idx = Tensor::from_slice(indices);
    Dataset {
        images: ds.images.index_select(0, &idx),
        labels: ds.labels.index_select(0, &idx),
        classes: ds.classes,
    }
}

/// The examples of `ds` not in `heldout`, in order.
fn rest(ds: &Dataset, heldout: &Heldout) -> Dataset {
    let out: std::collections::HashSet<i64> = heldout
        .running
        .iter()
        .chain(&heldout.final_set)
        .copied()
        .collect();
    let keep: Vec<i64> = (0..ds.len()).filter(|i| !out.contains(i)).collect();
    select(ds, &keep)
}

/// Load what `args` trains on (a dcgan run's held-out draw is a pure
/// function of the seed, so a resumed run draws the same).
pub fn load(args: &TrainGanArgs, seed: u64) -> Result<GanImages> {
    match args {
        TrainGanArgs::Mlp(a) => load_mlp(a),
        TrainGanArgs::Dcgan(a) => load_dcgan(a, seed),
    }
}

fn load_mlp(args: &MlpGanArgs) -> Result<GanImages> {
    let splits = data::load(&args.dataset(), &args.gan.common.data_dir)?;
    let (train, valid) = splits.train.split_last(args.valid_size);
    Ok(GanImages {
        train: train.limit(args.gan.train_limit),
        held: Held::Valid(valid),
    })
}

fn load_dcgan(args: &DcganArgs, seed: u64) -> Result<GanImages> {
    let workers = args.gan.common.compute.cpu_threads()?.intra;
    let all = all_images(args, &args.gan.common.data_dir, workers)?;
    let heldout = draw_heldout(all.len(), args.running, args.final_images, args.split, seed)?;
    Ok(GanImages {
        train: rest(&all, &heldout).limit(args.gan.train_limit),
        held: Held::Draw(heldout, all),
    })
}
