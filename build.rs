//! Link flags so the binary finds libtorch without LD_LIBRARY_PATH (rpath) and
//! keeps libtorch_cuda linked even though no symbol of it is used directly
//! (`--no-as-needed`; tch-rs issues #907 and #984), so CUDA is detected. Also
//! records the git commit and libtorch version that `paperlab info` and every
//! run's config.json report, and compiles csrc/*.cpp (libtorch ops that tch
//! does not expose; bound in src/native.rs, and c10d's process groups,
//! bound in src/runner/dist/) against the same libtorch headers.
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    watch_git();
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
    compile_ops(Path::new(&lib));
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}

/// Rerun when the commit changes: HEAD, the branch it names and
/// packed-refs. In a git worktree `.git` is a file, so the paths come from
/// git itself (a watched path that does not exist would rerun the script,
/// and rebuild the crate, at every cargo call); other branches' refs are
/// not watched, so their commits rebuild nothing here.
fn watch_git() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let path = |arg: &str| git(&["rev-parse", "--path-format=absolute", arg]).map(PathBuf::from);
    let (Some(dir), Some(common)) = (path("--git-dir"), path("--git-common-dir")) else {
        return;
    };
    let mut watched = vec![dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Every csrc/*.cpp with torch-sys's flags, into one static library; the
/// headers sit beside the lib folder in both a libtorch download and PyPI's
/// torch. A new shim is a new file there (bound in src/native.rs or beside
/// the Rust code that uses it).
fn compile_ops(lib: &Path) {
    println!("cargo:rerun-if-changed=csrc");
    let mut sources: Vec<_> = std::fs::read_dir("csrc")
        .expect("csrc/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    sources.sort();
    for f in &sources {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let include = lib.join("../include");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .include("csrc");
    let nccl = c10d_flags(&mut build, lib);
    // The script reruns at every commit (it records the commit): compile
    // only when the sources or the settings changed since the last build.
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let stamp = out.join("paperlab_ops.stamp");
    let key = sources_key(&sources, &format!("{} {abi} {nccl}", lib.display()));
    if out.join("libpaperlab_ops.a").exists()
        && std::fs::read_to_string(&stamp).is_ok_and(|k| k == key)
    {
        println!("cargo:rustc-link-search=native={}", out.display());
        println!("cargo:rustc-link-lib=static=paperlab_ops");
        println!("cargo:rustc-link-lib=stdc++");
        return;
    }
    build
        .files(
            sources
                .iter()
                .filter(|f| f.extension().is_some_and(|e| e == "cpp")),
        )
        .compile("paperlab_ops");
    std::fs::write(stamp, key).expect("OUT_DIR is writable");
}

/// A digest of every file in csrc/ and of the compiler settings.
fn sources_key(sources: &[PathBuf], settings: &str) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    settings.hash(&mut h);
    for f in sources {
        f.hash(&mut h);
        std::fs::read(f)
            .expect("csrc/ files are readable")
            .hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// What csrc/dist.cpp needs besides libtorch's headers: Gloo's headers
/// (Debian's libgloo-dev, build time only: the symbols are libtorch's) and,
/// when the torch wheel's CUDA packages hold them, NCCL's and CUDA's, for
/// ProcessGroupNCCL (symbols in libtorch_cuda, which the binary links
/// anyway). Without them the binary has Gloo only and says so when NCCL is
/// asked for. Returns whether NCCL is built in.
fn c10d_flags(build: &mut cc::Build, lib: &Path) -> bool {
    // Both are on the compiler's default search path.
    assert!(
        ["/usr/include", "/usr/local/include"]
            .iter()
            .any(|d| Path::new(d).join("gloo/context.h").exists()),
        "Gloo's headers (gloo/context.h) are missing: run scripts/setup.sh, or apt-get install libgloo-dev"
    );
    build.define("USE_C10D_GLOO", None);
    // PyPI's torch: site-packages/torch/lib, its CUDA beside it in nvidia/.
    let nvidia = lib.join("../../nvidia");
    // nvidia-nccl's, nvidia-cuda-runtime's, -crt's and -cccl's headers.
    let headers = [
        "nccl/include/nccl.h",
        "cu13/include/cuda_runtime.h",
        "cu13/include/crt/host_config.h",
        "cu13/include/cccl/nv/target",
    ];
    if lib.join("libtorch_cuda.so").exists() && headers.iter().all(|h| nvidia.join(h).exists()) {
        for dir in ["nccl/include", "cu13/include", "cu13/include/cccl"] {
            build.include(nvidia.join(dir));
        }
        build.define("USE_C10D_NCCL", None);
        return true;
    }
    false
}
