//! Helpers for tests that drive the `paperlab` binary.
#![allow(dead_code)]

use paperlab::fmp::model::{NetConfig, Pool};
use paperlab::layers::fmp::{Fmp, Regions, Sequence};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const FASHION: &str = "/usr/share/datasets/fashion-mnist";

/// A scratch directory, removed when dropped (tempfile's, without its
/// dependency: the features it turns on in crates paperlab shares made a
/// `cargo build` after `cargo test` compile paperlab again).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A new empty [`TempDir`] under the system's temporary directory.
pub fn tempdir() -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("paperlab-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// A scratch directory with data/fashion-mnist linked to the Debian package.
pub fn workspace() -> TempDir {
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::os::unix::fs::symlink(FASHION, dir.path().join("data/fashion-mnist")).unwrap();
    dir
}

/// An IDX file's bytes: `magic`, then one big-endian u32 per dimension,
/// then the values.
pub fn idx(magic: u32, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(values);
    bytes
}

/// Run `paperlab ARGS` in `cwd`.
pub fn paperlab(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paperlab"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert success, showing stderr otherwise.
pub fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "paperlab failed ({:?}):\n{}",
        out.status.code(),
        stderr(&out)
    );
    out
}

/// Assert exit code `code` and that stderr mentions every one of `words`.
pub fn fails(out: Output, code: i32, words: &[&str]) {
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{err}");
    for w in words {
        assert!(err.contains(w), "stderr should mention {w:?}:\n{err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic:\n{err}"
    );
}

pub fn run_dir(cwd: &Path, command: &str, name: &str) -> PathBuf {
    cwd.join("results").join(command).join(name)
}

/// metrics.csv rows without the timing columns (seconds, images_per_sec and
/// the like), which differ from run to run.
pub fn metrics_without_timing(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !["seconds", "images_per_sec"].contains(&header[i].as_str()))
        .collect();
    reader
        .records()
        .map(|r| {
            keep.iter()
                .map(|&i| r.as_ref().unwrap()[i].to_string())
                .collect()
        })
        .collect()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A tiny dcgan run on Fashion-MNIST (padded to 32x32): epochs of 20
/// iterations, 16 running and 32 final held-out images.
pub fn tiny_dcgan(name: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
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
        "--name",
        name,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A tiny train-inception configuration on Fashion-MNIST (96 images in
/// batches of 16: 6 steps an epoch, two epochs).
pub fn tiny_inception(name: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
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
        "--name",
        name,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A CSV file's rows (metrics.csv, reconstruction.csv) as column -> value;
/// a cell that is not a number reads as NaN.
pub fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, f64>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(|v| v.parse().unwrap_or(f64::NAN)))
                .collect()
        })
        .collect()
}

/// An FMP net of `layers` pools by `alpha` (pseudorandom overlapping
/// regions) on 1-channel images, 10 classes, n = 4, Graham's slope and
/// linear dropout up to 0.5, no input marking or colour shift; tests change
/// other fields by struct update.
pub fn fmp_net_config(layers: i64, alpha: f64, pool: Pool) -> NetConfig {
    NetConfig {
        layers,
        filters: 4,
        pool,
        fmp: Fmp::new(alpha, Sequence::Pseudorandom, Regions::Overlapping),
        dropout: NetConfig::linear_dropout(layers, 0.5),
        slope: 0.333,
        in_channels: 1,
        classes: 10,
        background_margin: 0.0,
        color_shift: None,
        classifier_init: 1.0,
    }
}

/// Every tensor of two checkpoints equal (NaN equal to NaN).
pub fn same_checkpoint(a: &Path, b: &Path) {
    let read = |p: &Path| {
        let mut t = tch::Tensor::read_safetensors(p).unwrap();
        t.sort_by(|x, y| x.0.cmp(&y.0));
        t
    };
    let (a_t, b_t) = (read(a), read(b));
    let names = |t: &[(String, tch::Tensor)]| t.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&a_t),
        names(&b_t),
        "{} and {}",
        a.display(),
        b.display()
    );
    for ((k, x), (_, y)) in a_t.iter().zip(&b_t) {
        let same = x.size() == y.size()
            && x.kind() == y.kind()
            && (x
                .eq_tensor(y)
                .logical_or(&x.isnan().logical_and(&y.isnan())))
            .all()
            .int64_value(&[])
                == 1;
        assert!(
            same,
            "{k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// data/imagenet/{train,val}/<class>/ of small PNG and JPEG images of
/// different sizes and orientations.
pub fn imagenet_folder(ws: &Path) {
    use tch::{Device, Kind, Tensor};
    tch::manual_seed(0);
    let root = ws.join("data/imagenet");
    for (split, per_class) in [("train", 16), ("val", 2)] {
        for (c, class) in ["n01", "n02"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let (h, w) = if i % 2 == 0 {
                    (80 + i, 100)
                } else {
                    (110, 90 + i)
                };
                let img = (Tensor::rand([3, h, w], (Kind::Float, Device::Cpu)) * 100.0
                    + 120.0 * c as f64)
                    .to_kind(Kind::Uint8);
                let ext = if i % 3 == 0 { "JPEG" } else { "png" };
                tch::vision::image::save(&img, dir.join(format!("img{i}.{ext}"))).unwrap();
            }
        }
    }
}

/// The configuration of a fake trainer (tests/engine.rs, tests/controls.rs):
/// the shared flags alone, run directories under <out>/fake/.
#[derive(clap::Parser, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FakeConfig {
    #[command(flatten)]
    #[serde(flatten)]
    pub common: paperlab::runner::args::Common,
}

impl paperlab::runner::engine::session::RunConfig for FakeConfig {
    const COMMAND: &'static str = "fake";
    fn common(&self) -> &paperlab::runner::args::Common {
        &self.common
    }
    fn global_batch(&self) -> i64 {
        1
    }
    fn common_mut(&mut self) -> &mut paperlab::runner::args::Common {
        &mut self.common
    }
    fn checked(self) -> paperlab::error::Result<Self> {
        Ok(self)
    }
}
