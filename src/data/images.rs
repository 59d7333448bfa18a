//! An unlabelled image folder for generative models (CelebA or LSUN
//! exported as images): every .png, .jpg or .jpeg under a directory, at any
//! depth, brought to one square size as Xiang & Li's main.py does for
//! --crop_size and --image_size (torchvision's CenterCrop, then Scale and
//! CenterCrop, main.py lines 113-122).
//!
//! Also the crop geometry that the Inception evaluation shares: the
//! shorter-side resize and the centred offset.

use std::path::{Path, PathBuf};

use tch::vision::image;
use tch::{Kind, Tensor};

use super::parallel::map_parallel;
use super::Dataset;
use crate::error::{self, Result};

/// (width, height) after resizing the shorter side of w x h to `short`,
/// the longer side in proportion and truncated (torchvision's Resize(int),
/// formerly Scale).
pub fn resize_shorter(w: i64, h: i64, short: i64) -> (i64, i64) {
    if w <= h {
        (short, (short as f64 * h as f64 / w as f64) as i64)
    } else {
        ((short as f64 * w as f64 / h as f64) as i64, short)
    }
}

/// Where a centred crop of `crop` starts in a side of `full`: torchvision's
/// CenterCrop rounds (full - crop) / 2 with Python's round (ties to even).
pub fn centre_offset(full: i64, crop: i64) -> i64 {
    ((full - crop) as f64 / 2.0).round_ties_even() as i64
}

/// Every image file under `dir`, decoded on up to `workers` threads (in
/// sorted path order), cut to its centre `crop` x `crop` when given, its
/// shorter side resized to `size` (bilinear with antialiasing, as PIL's
/// bilinear resize behind torchvision's Scale) and the centre size x size
/// square kept: uint8 [N, 3, size, size], grey-scale images as RGB. Every
/// label is 0 (one class). Hidden files and folders (names starting with
/// '.') are skipped: macOS leaves undecodable `._name.jpg` files next to
/// the images.
pub fn load_folder(dir: &Path, crop: Option<i64>, size: i64, workers: usize) -> Result<Dataset> {
    if size < 1 || crop.is_some_and(|c| c < 1) {
        return Err(error::usage(format!(
            "image size {size}, crop {crop:?}: images need at least 1 pixel a side"
        )));
    }
    let mut files = vec![];
    collect_images(dir, &mut files)?;
    if files.is_empty() {
        return Err(error::data(format!(
            "{} holds no images; expected .png, .jpg or .jpeg files (in any subfolder)",
            dir.display()
        )));
    }
    files.sort();
    let indices: Vec<i64> = (0..files.len() as i64).collect();
    let images = map_parallel(&indices, workers, |_, i| {
        let path = &files[i as usize];
        let decoded = image::load(path).map_err(|e| {
            error::data(format!(
                "could not decode image {}: {e}; expected a valid PNG or JPEG file",
                path.display()
            ))
        })?;
        let cropped = match crop {
            Some(c) => centre_crop(&decoded, c).ok_or_else(|| {
                let (h, w) = (decoded.size()[1], decoded.size()[2]);
                error::data(format!(
                    "image {} is {w}x{h}, smaller than --crop-size {c}",
                    path.display()
                ))
            })?,
            None => decoded,
        };
        Ok(square(&cropped, size))
    })?;
    Ok(Dataset {
        images: Tensor::stack(&images, 0),
        labels: Tensor::zeros([files.len() as i64], (Kind::Int64, tch::Device::Cpu)),
        classes: 1,
    })
}

/// Adds the image files under `dir` (recursively) to `files`.
fn collect_images(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        error::data(format!(
            "could not read {}: {e}; expected a folder of .png, .jpg or .jpeg images \
             (see data/README.md)",
            dir.display()
        ))
    })?;
    for entry in entries {
        let entry =
            entry.map_err(|e| error::data(format!("could not list {}: {e}", dir.display())))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_images(&path, files)?;
        } else if is_image(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// Whether the name ends in .png, .jpg or .jpeg, in any case.
fn is_image(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|ext| ext.to_string_lossy().to_lowercase());
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

/// The centre `crop` x `crop` of [3, H, W] (torchvision's CenterCrop), or
/// None when the image is smaller.
fn centre_crop(image: &Tensor, crop: i64) -> Option<Tensor> {
    let (h, w) = (image.size()[1], image.size()[2]);
    (h >= crop && w >= crop).then(|| {
        image
            .narrow(1, centre_offset(h, crop), crop)
            .narrow(2, centre_offset(w, crop), crop)
    })
}

/// uint8 [3, H, W] -> the centre size x size square of it resized so that
/// its shorter side is `size`, uint8 [3, size, size].
fn square(image: &Tensor, size: i64) -> Tensor {
    let (h, w) = (image.size()[1], image.size()[2]);
    let (rw, rh) = resize_shorter(w, h, size);
    let resized = if (rw, rh) == (w, h) {
        // Scale leaves an image whose shorter side is already `size` as it is.
        image.shallow_clone()
    } else {
        image
            .to_kind(Kind::Float)
            .unsqueeze(0)
            .internal_upsample_bilinear2d_aa([rh, rw], false, None, None)
            .squeeze_dim(0)
            .round()
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8)
    };
    resized
        .narrow(1, centre_offset(rh, size), size)
        .narrow(2, centre_offset(rw, size), size)
        .contiguous()
}
