//! The helpers of the integration tests, one of each: scratch directories,
//! running the binary (and tables of command lines it must refuse), the
//! closeness assertion, the tiny configuration of each trainer, files the
//! runs write, and running a test alone in its own process.
//!
//! # Process-wide state
//!
//! The suite is one process whose tests run on parallel threads. What one
//! test leaves in the process, another sees:
//!
//! - torch's default random generator (`tch::manual_seed`, and the library's
//!   `rng::seed_torch`, which the engine calls every step and FMP's
//!   evaluation every pass). Every in-process test that uses libtorch draws
//!   from it (an initialised VarStore, `Tensor::randn`), so a test whose
//!   assertions need the generator's stream to itself (seed, draw, seed
//!   again and compare; the library seeding a stream and the test comparing
//!   its draws) runs alone in its own process: [`alone!`]. A test that
//!   seeds only so that its inputs are reproducible stays here: its
//!   assertions compare with an oracle on the same inputs and hold for any
//!   draw.
//! - libtorch's intra-op thread count (`tch::set_num_threads`, also set by a
//!   trainer given --threads). A test that asserts it, or compares results
//!   at two counts, runs [`alone!`]. Others set it to 1 for speed (the
//!   harness already runs tests side by side), so it is 1 once any of them
//!   has run; nothing here depends on its value.
//! - what `paperlab::cli::run` sets up when a test runs a trainer in this
//!   process (compute/variants.rs): the seeds and thread count above, and
//!   malloc's options (performance only; tests/host_memory.rs measures them
//!   in its own binary).
//! - the Ctrl-C handler, which a paperlab session installs (once per
//!   process) when it opens: a test that opens one here (a trainer through
//!   `cli::run`, the engine's fake trainer) first calls [`ctrl_c_exits`], so
//!   that the suite's process still ends at the first Ctrl-C, and paperlab's
//!   handler, which would only ask a run to stop, is never installed. No
//!   test signals this process (tests that send signals send them to a
//!   child's pid).
//! - environment variables and the current directory: no test sets them
//!   here; a test gives a child its environment and directory ([`Bin`]),
//!   and names paths absolutely ([`repo`], [`tempdir`]).
//!
//! Tests that run the binary run it as a child process, isolated already.

mod bin;
mod close;
mod fake;
mod own_process;
mod tiny;

pub use bin::*;
pub use close::*;
pub use fake::*;
pub(crate) use own_process::{alone, run_alone};
pub use tiny::*;

use paperlab::fmp::model::{NetConfig, Pool};
use paperlab::layers::fmp::{Fmp, Regions, Sequence};
use paperlab::rng::Rng;
use paperlab::runner::store::checkpoint::{CheckpointFile, Position};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const FASHION: &str = "/usr/share/datasets/fashion-mnist";

/// `path` in the repository (experiments/, scripts/, .venv/).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

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

/// A stand-in for Slurm's `scontrol` in `<ws>/bin`, which appends its
/// arguments as one line to `<ws>/scontrol.log` (the returned path); put
/// it first on PATH with [`path_with_bin`].
pub fn recording_scontrol(ws: &Path) -> PathBuf {
    let bin = ws.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = ws.join("scontrol.log");
    let script = bin.join("scontrol");
    std::fs::write(
        &script,
        format!("#!/bin/bash\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    log
}

/// PATH with `<ws>/bin` first.
pub fn path_with_bin(ws: &Path) -> String {
    format!(
        "{}:{}",
        ws.join("bin").display(),
        std::env::var("PATH").unwrap()
    )
}

/// Send `signal` (USR1, INT, ...) to process `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Wait until `path` exists; false if `child` exited first.
pub fn wait_for_file(child: &mut std::process::Child, path: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !path.exists() {
        if child.try_wait().unwrap().is_some() {
            return path.exists();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} did not appear",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    true
}

/// The step checkpoints of the run in `dir`
/// (checkpoints/step-NNNNNN.safetensors), in step order.
pub fn step_checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("step-")
        })
        .collect();
    found.sort();
    found
}

/// The training position a checkpoint file holds.
pub fn position_of(checkpoint: &Path) -> Position {
    CheckpointFile::open(checkpoint)
        .unwrap()
        .position()
        .unwrap()
}

/// Rewind the run in `dir` to its first step checkpoint inside an epoch:
/// copied over last.safetensors, it is what --resume continues from.
/// Returns that checkpoint's position.
pub fn rewind_to_mid_epoch(dir: &Path) -> Position {
    let first = step_checkpoints(dir)
        .into_iter()
        .find(|p| position_of(p).batch > 0)
        .unwrap_or_else(|| panic!("{}: no step checkpoint inside an epoch", dir.display()));
    std::fs::copy(&first, dir.join("checkpoints/last.safetensors")).unwrap();
    position_of(&first)
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

/// `.venv/bin/python SCRIPT ARGS` (scripts/SCRIPT), which must succeed; its
/// output.
pub fn python<I, S>(script: &str, args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let python = repo(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup.sh --test (make test does)",
        python.display()
    );
    let out = std::process::Command::new(python)
        .arg(repo("scripts").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/{script} failed (scripts/setup.sh --test installs what the scripts use):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Ctrl-C (and SIGTERM) end the suite's process at once, as they would
/// without a handler. Called before a test opens a paperlab session in this
/// process: the session would install paperlab's handler (once per process;
/// its first Ctrl-C only asks a run to stop), and an interrupted `cargo test`
/// would leave the suite running until a second Ctrl-C.
pub fn ctrl_c_exits() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ctrlc::set_handler(|| std::process::exit(130))
            .expect("a Ctrl-C handler was installed before ctrl_c_exits")
    });
}

/// A port on 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
/// different sizes and orientations: 16 training and 2 validation images
/// of each of two classes.
pub fn imagenet_folder(ws: &Path) {
    imagenet_folder_of(ws, 16, true);
}

/// data/imagenet/ as [`imagenet_folder`], with `train` training images a
/// class; every third a JPEG when `jpeg`, else all PNGs. The pixels come
/// from a seeded stream of their own (not torch's generator, which other
/// tests share): noise around a level of each class.
pub fn imagenet_folder_of(ws: &Path, train: i64, jpeg: bool) {
    use tch::{Kind, Tensor};
    let root = ws.join("data/imagenet");
    for (split, per_class) in [("train", train), ("val", 2)] {
        for (c, class) in ["n01", "n02"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let (h, w) = if i % 2 == 0 {
                    (80 + i, 100)
                } else {
                    (110, 90 + i)
                };
                let mut rng = Rng::new(c as u64, (i as u64) << 1 | (split == "val") as u64);
                let pixels: Vec<u8> = (0..3 * h * w)
                    .map(|_| (rng.below(100) + 120 * c as u64) as u8)
                    .collect();
                let img = Tensor::from_slice(&pixels)
                    .view([3, h, w])
                    .to_kind(Kind::Uint8);
                let ext = if jpeg && i % 3 == 0 { "JPEG" } else { "png" };
                tch::vision::image::save(&img, dir.join(format!("img{i}.{ext}"))).unwrap();
            }
        }
    }
}
