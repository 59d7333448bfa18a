//! The paper's input: pixels scaled to (x - 127.5) / 128, then ZCA
//! whitening fitted on the training set (openai/weightnorm, lasagne/nn.py,
//! `ZCA.fit`: sigma = X^T X / N of the centred images, whitening matrix
//! U diag(1 / sqrt(S + reg)) U^T). The fit is cached under the data
//! directory, keyed by dataset, training images and regularisation, so a
//! dataset is whitened from the same matrix every run (and a resumed run
//! repeats an uninterrupted one) without paying for the fit again.

use crate::data::{Dataset, DatasetName};
use crate::error::Result;
use crate::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Images whose covariance is accumulated at once (bounds the fit's memory).
const CHUNK: i64 = 4096;

/// Pixels in [0, 1] (as batches hold them) to the authors' (x - 127.5) / 128
/// of the 0..255 values.
pub fn scale(x: &Tensor) -> Tensor {
    (x * 255.0 - 127.5) / 128.0
}

/// A fitted whitening: `(x - mean) matrix` on flattened, scaled images.
#[derive(Debug)]
pub struct Zca {
    /// [D], float.
    pub mean: Tensor,
    /// [D, D], symmetric, float.
    pub matrix: Tensor,
}

impl Zca {
    /// Fit on uint8 images [N, C, H, W] with regularisation `reg`, in double
    /// precision on the CPU (so the matrix does not depend on the device).
    pub fn fit(images: &Tensor, reg: f64) -> Zca {
        let n = images.size()[0];
        let flat = |start: i64| {
            let len = CHUNK.min(n - start);
            scale(&(images.narrow(0, start, len).to_kind(Kind::Double) / 255.0)).flatten(1, -1)
        };
        let starts: Vec<i64> = (0..n).step_by(CHUNK as usize).collect();
        let sum_over = |f: &dyn Fn(i64) -> Tensor| {
            let total = starts.iter().map(|&s| f(s)).reduce(|a, b| a + b);
            total.expect("a non-empty training set") / n as f64
        };
        let mean = sum_over(&|s| flat(s).sum_dim_intlist([0i64].as_slice(), false, Kind::Double));
        let sigma = sum_over(&|s| {
            let x = flat(s) - &mean;
            x.transpose(0, 1).matmul(&x)
        });
        let (eigenvalues, u) = sigma.linalg_eigh("L");
        let inv_sqrt = (eigenvalues + reg).rsqrt();
        let matrix = (&u * inv_sqrt.unsqueeze(0)).matmul(&u.transpose(0, 1));
        Zca {
            mean: mean.to_kind(Kind::Float),
            matrix: matrix.to_kind(Kind::Float),
        }
    }

    /// Whiten scaled images [B, C, H, W] on this fit's device.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let shape = x.size();
        (x.flatten(1, -1) - &self.mean)
            .matmul(&self.matrix)
            .view(shape.as_slice())
    }

    /// Copies on `device`, for whitening batches there.
    pub fn to(&self, device: Device) -> Zca {
        Zca {
            mean: self.mean.to(device),
            matrix: self.matrix.to(device),
        }
    }
}

/// Where the fit of `dataset`'s first `n` training images is cached.
pub fn cache_path(data_dir: &Path, dataset: &DatasetName, n: i64, reg: f64) -> PathBuf {
    let slug: String = dataset
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    data_dir
        .join("zca")
        .join(format!("{slug}-n{n}-reg{reg:e}.safetensors"))
}

/// What [`load_or_fit`] did, for the run's log.
pub enum Origin {
    Cached(PathBuf),
    Fitted {
        cached: std::result::Result<PathBuf, String>,
    },
}

/// The cached fit for `train` at `path` when it matches these images (their
/// count and byte sum), else a new fit, cached there when the directory is
/// writable.
/// Without `write`, a new fit is not cached (a distributed run's other
/// processes, which read rank 0's cache).
pub fn load_or_fit(train: &Dataset, path: &Path, reg: f64, write: bool) -> (Zca, Origin) {
    let checksum = train.images.sum(Kind::Int64);
    let dim = train.images.size()[1..].iter().product::<i64>();
    if let Some(zca) = read_cache(path, &checksum, dim) {
        return (zca, Origin::Cached(path.to_path_buf()));
    }
    let zca = Zca::fit(&train.images, reg);
    if !write {
        return (
            zca,
            Origin::Fitted {
                cached: Err("rank 0 writes the cache".into()),
            },
        );
    }
    let save = || -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tensors = vec![
            ("mean".into(), zca.mean.shallow_clone()),
            ("matrix".into(), zca.matrix.shallow_clone()),
            ("images_sum".into(), checksum.shallow_clone()),
        ];
        Checkpoint::new().tensors("", tensors).save(path)
    };
    let cached = save()
        .map(|_| path.to_path_buf())
        .map_err(|e| e.to_string());
    (zca, Origin::Fitted { cached })
}

/// The fit cached at `path`, if it is readable and was made from images
/// with this byte sum and `dim` values each.
fn read_cache(path: &Path, checksum: &Tensor, dim: i64) -> Option<Zca> {
    let file = CheckpointFile::open(path).ok()?;
    let mut t: HashMap<String, Tensor> = file.section("").into_iter().collect();
    if !t.get("images_sum")?.equal(checksum) {
        return None;
    }
    let zca = Zca {
        mean: t.remove("mean")?,
        matrix: t.remove("matrix")?,
    };
    (zca.matrix.size() == [dim, dim] && zca.mean.size() == [dim]).then_some(zca)
}
