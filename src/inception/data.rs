//! The data train-inception reads: an ImageNet-style folder decoded lazily,
//! or one of the in-memory datasets of the foundation (resized on the device).

use super::crops::{crop_resize_rgb, random_resized};
use crate::data::batches::{upload, Batch};
use crate::data::examples::Examples;
use crate::data::imagenet::LazyFolder;
use crate::data::parallel::map_parallel;
use crate::data::{self, DatasetName};
use crate::error::{data as data_error, Result};
use crate::rng::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tch::{Device, Kind, Tensor};

/// --dataset: `imagenet` (DATA_DIR/imagenet), `imagenet:PATH`, or any
/// in-memory dataset name of the foundation (fashion-mnist, cifar10, folder:PATH...).
#[derive(Debug, Clone, PartialEq)]
pub enum DataSpec {
    ImageNet(Option<PathBuf>),
    Memory(DatasetName),
}

impl FromStr for DataSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s == "imagenet" {
            return Ok(DataSpec::ImageNet(None));
        }
        if let Some(path) = s.strip_prefix("imagenet:").filter(|p| !p.is_empty()) {
            return Ok(DataSpec::ImageNet(Some(path.into())));
        }
        s.parse::<DatasetName>()
            .map(DataSpec::Memory)
            .map_err(|e| format!("{e}, imagenet or imagenet:PATH"))
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::ImageNet(None) => f.write_str("imagenet"),
            DataSpec::ImageNet(Some(p)) => write!(f, "imagenet:{}", p.display()),
            DataSpec::Memory(name) => name.fmt(f),
        }
    }
}

impl Serialize for DataSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DataSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Training images on a folder: decoded, random-resized-cropped and resized
/// on `workers` threads when a batch asks for them.
#[derive(Clone)]
pub struct FolderTrain {
    pub folder: LazyFolder,
    pub size: i64,
    pub workers: usize,
}

impl Examples for FolderTrain {
    fn len(&self) -> i64 {
        self.folder.len()
    }

    fn batch(&self, indices: &[i64], seed: u64, device: Device) -> Result<Batch> {
        // Interleaved bytes to the device, then NCHW and float there.
        let images = upload(&self.bytes(indices, seed)?, device);
        let images = images.permute([0, 3, 1, 2]).contiguous();
        Ok(Batch {
            images: images.to_kind(Kind::Float) / 255.0,
            labels: upload(&self.folder.labels_of(indices), device),
        })
    }

    fn share(&self) -> Box<dyn Examples + Send> {
        Box::new(self.clone())
    }
}

impl FolderTrain {
    /// The training crops of the examples at `indices`: uint8 [B, size, size,
    /// 3] (interleaved RGB) on the CPU. Example k of the batch takes its crop
    /// from the random stream (seed, k).
    pub fn bytes(&self, indices: &[i64], seed: u64) -> Result<Tensor> {
        let size = self.size;
        let images = map_parallel(indices, self.workers, |k, i| {
            let image = self.folder.decode_rgb(i)?;
            let mut rng = Rng::new(seed, k as u64);
            let crop = random_resized(image.width as i64, image.height as i64, &mut rng);
            Ok(crop_resize_rgb(&image, crop, size))
        })?;
        Ok(Tensor::from_slice(&images.concat()).view([indices.len() as i64, size, size, 3]))
    }
}

pub enum Train {
    Memory(data::Dataset),
    Folder(FolderTrain),
}

impl Train {
    pub fn examples(&self) -> &dyn Examples {
        match self {
            Train::Memory(ds) => ds,
            Train::Folder(f) => f,
        }
    }
}

/// The evaluation images.
pub enum Val {
    /// An in-memory test split; `name` prefixes the example names in predictions.csv.
    Memory {
        ds: data::Dataset,
        name: String,
    },
    Folder(LazyFolder),
}

impl Val {
    pub fn len(&self) -> i64 {
        match self {
            Val::Memory { ds, .. } => ds.len(),
            Val::Folder(f) => f.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn label(&self, i: i64) -> i64 {
        match self {
            Val::Memory { ds, .. } => ds.labels.int64_value(&[i]),
            Val::Folder(f) => f.label(i),
        }
    }

    /// How predictions.csv names example `i`.
    pub fn name(&self, i: i64) -> String {
        match self {
            Val::Memory { name, .. } => format!("{name}/test/{i}"),
            Val::Folder(f) => f.name(i),
        }
    }
}

pub struct FolderSplits {
    /// None for --eval-only.
    pub train: Option<Train>,
    pub val: Val,
    /// Classes of the dataset.
    pub classes: i64,
}

/// Where to read and how much.
pub struct Request<'a> {
    pub spec: &'a DataSpec,
    pub data_dir: &'a Path,
    pub train: bool,
    pub train_limit: Option<i64>,
    pub val_limit: Option<i64>,
    pub size: i64,
    pub workers: usize,
}

pub fn load(r: &Request) -> Result<FolderSplits> {
    match r.spec {
        DataSpec::Memory(name) => {
            let splits = data::load(name, r.data_dir)?;
            let classes = splits.train.classes;
            Ok(FolderSplits {
                train: r
                    .train
                    .then(|| Train::Memory(splits.train.limit(r.train_limit))),
                val: Val::Memory {
                    ds: splits.test.limit(r.val_limit),
                    name: name.to_string(),
                },
                classes,
            })
        }
        DataSpec::ImageNet(path) => {
            let root = path.clone().unwrap_or_else(|| r.data_dir.join("imagenet"));
            if !root.is_dir() {
                return Err(data_error(format!(
                    "dataset {}: directory {} not found; it should hold train/<class>/*.JPEG and \
                     val/<class>/*.JPEG (the validation images sorted into class folders). \
                     Nothing is downloaded.",
                    r.spec,
                    root.display()
                )));
            }
            let train_dir = root.join("train");
            let train = if r.train || train_dir.is_dir() {
                Some(LazyFolder::open(&train_dir, None)?)
            } else {
                None
            };
            let classes = train.as_ref().map(|t| t.classes.clone());
            let val = LazyFolder::open(&root.join("val"), classes.as_deref())?;
            let n = val.classes();
            Ok(FolderSplits {
                train: train.filter(|_| r.train).map(|folder| {
                    Train::Folder(FolderTrain {
                        folder: folder.subset(r.train_limit),
                        size: r.size,
                        workers: r.workers,
                    })
                }),
                val: Val::Folder(val.subset(r.val_limit)),
                classes: n,
            })
        }
    }
}
