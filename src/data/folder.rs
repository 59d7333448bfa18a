//! An image folder: PATH/train/<class>/*.{png,jpg,jpeg} and PATH/test/<class>/...
//! Classes are the sorted subfolder names of train; test must use the same names.
//! Every image is resized to the size of the first training image if it differs.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tch::vision::image;
use tch::Tensor;

use super::{Dataset, TrainTest};
use crate::error::{self, Result};

pub fn load(root: &Path) -> Result<TrainTest> {
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    let classes = class_names(&train_dir)?;
    let test_classes = class_names(&test_dir)?;
    if test_classes != classes {
        return Err(error::data(format!(
            "{} has class folders {:?} but {} has {:?}; expected the same class names in both.",
            test_dir.display(),
            test_classes,
            train_dir.display(),
            classes
        )));
    }
    let (train_images, train_labels) = read_split(&train_dir, &classes)?;
    let (test_images, test_labels) = read_split(&test_dir, &classes)?;
    let size = train_images[0].size();
    let (height, width) = (size[1], size[2]);
    let classes = classes.len() as i64;
    Ok(TrainTest {
        train: stack(&train_images, &train_labels, height, width, classes)?,
        test: stack(&test_images, &test_labels, height, width, classes)?,
    })
}

/// Sorted names of the (non-hidden) subfolders of `dir`; at least one.
fn class_names(dir: &Path) -> Result<Vec<OsString>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        error::data(format!(
            "could not read {}: {e}; an image folder needs train/<class>/ and test/<class>/ \
             subfolders of .png, .jpg or .jpeg images (see data/README.md).",
            dir.display()
        ))
    })?;
    let mut names: Vec<OsString> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry.path().is_dir() && !entry.file_name().to_string_lossy().starts_with('.')
        })
        .map(|entry| entry.file_name())
        .collect();
    if names.is_empty() {
        return Err(error::data(format!(
            "{} has no class subfolders; expected one subfolder per class holding .png, .jpg or .jpeg images.",
            dir.display()
        )));
    }
    names.sort();
    Ok(names)
}

/// Every image of every class under `dir`, as uint8 [3, H, W], with its label.
fn read_split(dir: &Path, classes: &[OsString]) -> Result<(Vec<Tensor>, Vec<i64>)> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        for file in image_files(&dir.join(class))? {
            let image = image::load(&file).map_err(|e| {
                error::data(format!(
                    "could not read image {}: {e}; expected a valid PNG or JPEG file.",
                    file.display()
                ))
            })?;
            images.push(image);
            labels.push(label as i64);
        }
    }
    Ok((images, labels))
}

/// The sorted image files of one class folder; at least one.
fn image_files(class_dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(class_dir).map_err(|e| {
        error::data(format!(
            "could not read class folder {}: {e}.",
            class_dir.display()
        ))
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            let ext = path
                .extension()
                .map(|ext| ext.to_string_lossy().to_lowercase());
            matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
        })
        .collect();
    if files.is_empty() {
        return Err(error::data(format!(
            "class folder {} is empty; expected .png, .jpg or .jpeg images in it.",
            class_dir.display()
        )));
    }
    files.sort();
    Ok(files)
}

/// One dataset of `height` x `width` images, resizing those of another size.
fn stack(
    images: &[Tensor],
    labels: &[i64],
    height: i64,
    width: i64,
    classes: i64,
) -> Result<Dataset> {
    let images = images
        .iter()
        .map(|im| {
            if im.size()[1..] == [height, width] {
                Ok(im.shallow_clone())
            } else {
                image::resize(im, width, height)
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Dataset {
        images: Tensor::stack(&images, 0),
        labels: Tensor::from_slice(labels),
        classes,
    })
}
