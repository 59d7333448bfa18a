//! Link flags so the binary finds libtorch without LD_LIBRARY_PATH (rpath) and
//! keeps libtorch_cuda linked even though no symbol of it is used directly
//! (`--no-as-needed`; tch-rs issues #907 and #984), so CUDA is detected. Also
//! records the git commit and libtorch version that `paperlab info` and every
//! run's config.json report.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PAPERLAB_GIT_COMMIT={commit}");

    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    // PyPI's torch keeps its version next to lib/, in version.py.
    let version = std::fs::read_to_string(Path::new(&lib).join("../version.py"))
        .ok()
        .and_then(|v| {
            v.lines().find_map(|l| {
                l.strip_prefix("__version__ = ")
                    .map(|s| s.trim_matches(['\'', '"']).to_string())
            })
        })
        .unwrap_or_else(|| "(version unknown)".into());
    println!("cargo:rustc-env=PAPERLAB_LIBTORCH_VERSION={version}");
    if lib.is_empty() {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
