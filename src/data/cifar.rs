//! The CIFAR-10 and CIFAR-100 binary versions: fixed-size records of label
//! byte(s) followed by a 3x32x32 image stored channel-major (red, green, blue planes).

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use super::{check_labels, read_file, Dataset, TrainTest};
use crate::error::{self, Result};

const IMAGE_BYTES: usize = 3 * 32 * 32;

/// How to read one record.
struct Format {
    what: &'static str,
    label_bytes: usize,
    /// Which label byte is used.
    label_at: usize,
    classes: i64,
}

const CIFAR10: Format = Format {
    what: "a CIFAR-10 binary batch",
    label_bytes: 1,
    label_at: 0,
    classes: 10,
};
/// CIFAR-100 records hold the coarse label, then the fine one.
const CIFAR100_COARSE: Format = Format {
    what: "a CIFAR-100 binary file",
    label_bytes: 2,
    label_at: 0,
    classes: 20,
};
const CIFAR100_FINE: Format = Format {
    what: "a CIFAR-100 binary file",
    label_bytes: 2,
    label_at: 1,
    classes: 100,
};

pub fn load_cifar10(dir: &Path) -> Result<TrainTest> {
    let train: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .collect();
    Ok(TrainTest {
        train: read(&train, &CIFAR10)?,
        test: read(&[dir.join("test_batch.bin")], &CIFAR10)?,
    })
}

pub fn load_cifar100(dir: &Path, coarse: bool) -> Result<TrainTest> {
    let format = if coarse {
        &CIFAR100_COARSE
    } else {
        &CIFAR100_FINE
    };
    Ok(TrainTest {
        train: read(&[dir.join("train.bin")], format)?,
        test: read(&[dir.join("test.bin")], format)?,
    })
}

/// The records of `files`, in order, as one dataset.
fn read(files: &[PathBuf], format: &Format) -> Result<Dataset> {
    let record = format.label_bytes + IMAGE_BYTES;
    let mut bytes = Vec::new();
    let mut labels = Vec::new();
    for file in files {
        let contents = read_file(file, format.what)?;
        if contents.is_empty() || contents.len() % record != 0 {
            return Err(error::data(format!(
                "{} is {} bytes, not a whole number of {record}-byte records \
                 ({} label byte(s) and a 3x32x32 image); expected {}, it may be truncated.",
                file.display(),
                contents.len(),
                format.label_bytes,
                format.what
            )));
        }
        let file_labels: Vec<u8> = contents
            .chunks_exact(record)
            .map(|r| r[format.label_at])
            .collect();
        check_labels(&file_labels, format.classes, file)?;
        labels.extend(file_labels);
        bytes.extend(contents);
    }
    let n = labels.len() as i64;
    let records = Tensor::from_slice(&bytes).view([n, record as i64]);
    Ok(Dataset {
        images: records
            .narrow(1, format.label_bytes as i64, IMAGE_BYTES as i64)
            .reshape([n, 3, 32, 32]),
        labels: Tensor::from_slice(&labels).to_kind(Kind::Int64),
        classes: format.classes,
    })
}
