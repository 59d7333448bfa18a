//! IDX files, the format of MNIST and Fashion-MNIST: a big-endian header (a
//! magic number, then one u32 per dimension) followed by the u8 values.
//! Each file may be stored raw or gzipped as `NAME.gz`.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use tch::{Kind, Tensor};

use super::{check_labels, read_file, Dataset, TrainTest};
use crate::error::{self, Result};

/// Magic numbers: u8 values (0x08) in 3 dimensions (images) or 1 (labels).
const IMAGES_MAGIC: u32 = 0x0803;
const LABELS_MAGIC: u32 = 0x0801;
const CLASSES: i64 = 10;

/// `train-*` files are the training split, `t10k-*` the test split.
pub fn load(dir: &Path) -> Result<TrainTest> {
    Ok(TrainTest {
        train: split(dir, "train")?,
        test: split(dir, "t10k")?,
    })
}

fn split(dir: &Path, prefix: &str) -> Result<Dataset> {
    let images = read(dir, &format!("{prefix}-images-idx3-ubyte"), IMAGES_MAGIC)?;
    let labels = read(dir, &format!("{prefix}-labels-idx1-ubyte"), LABELS_MAGIC)?;
    let (n, rows, cols) = (images.dims[0], images.dims[1], images.dims[2]);
    if labels.dims[0] != n {
        return Err(error::data(format!(
            "{} holds {n} images but {} holds {} labels; expected one label per image.",
            images.file.display(),
            labels.file.display(),
            labels.dims[0]
        )));
    }
    check_labels(&labels.values, CLASSES, &labels.file)?;
    Ok(Dataset {
        images: Tensor::from_slice(&images.values).view([n, 1, rows, cols]),
        labels: Tensor::from_slice(&labels.values).to_kind(Kind::Int64),
        classes: CLASSES,
    })
}

/// One checked IDX file.
struct Idx {
    /// The file actually read (raw or .gz), for messages.
    file: PathBuf,
    dims: Vec<i64>,
    /// The values after the header, exactly as many as the dimensions say.
    values: Vec<u8>,
}

fn read(dir: &Path, name: &str, magic: u32) -> Result<Idx> {
    let (file, bytes) = read_raw_or_gz(dir, name)?;
    parse(file, bytes, magic)
}

/// Reads `dir/name`, or else `dir/name.gz` decompressed.
fn read_raw_or_gz(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>)> {
    let raw = dir.join(name);
    if raw.exists() {
        let bytes = read_file(&raw, "an IDX file")?;
        return Ok((raw, bytes));
    }
    let gz = dir.join(format!("{name}.gz"));
    if !gz.exists() {
        return Err(error::data(format!(
            "{} not found (nor {name}.gz); expected the IDX file {name} there, raw or gzipped. \
             See data/README.md.",
            raw.display()
        )));
    }
    let mut bytes = Vec::new();
    GzDecoder::new(read_file(&gz, "a gzipped IDX file")?.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|e| {
            error::data(format!(
                "{}: could not decompress ({e}); expected a complete gzip file, it may be truncated.",
                gz.display()
            ))
        })?;
    Ok((gz, bytes))
}

/// Checks the header against `magic` and the size against the dimensions it gives.
fn parse(file: PathBuf, mut bytes: Vec<u8>, magic: u32) -> Result<Idx> {
    let what = if magic == IMAGES_MAGIC {
        "images"
    } else {
        "labels"
    };
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    let word = |i: usize| {
        u32::from_be_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    if bytes.len() < header {
        return Err(error::data(format!(
            "{} is truncated: expected at least a {header}-byte IDX {what} header but found {} bytes.",
            file.display(),
            bytes.len()
        )));
    }
    if word(0) != magic {
        return Err(error::data(format!(
            "{}: wrong IDX magic number {}; expected {magic} for an IDX {what} file.",
            file.display(),
            word(0)
        )));
    }
    let dims: Vec<i64> = (1..=ndims).map(|i| i64::from(word(i))).collect();
    let expected = header as u128 + dims.iter().map(|&d| d as u128).product::<u128>();
    let found = bytes.len() as u128;
    if found != expected {
        let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
        return Err(error::data(format!(
            "{} is {}: expected {expected} bytes (a {header}-byte header and {} values) but found {found}.",
            file.display(),
            if found < expected { "truncated" } else { "too long" },
            dims.join("x")
        )));
    }
    bytes.drain(..header);
    Ok(Idx {
        file,
        dims,
        values: bytes,
    })
}
