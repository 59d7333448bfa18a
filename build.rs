//! Link flags so the binary finds libtorch without LD_LIBRARY_PATH (rpath) and
//! keeps libtorch_cuda linked even though no symbol of it is used directly
//! (`--no-as-needed`; tch-rs issues #907 and #984), so CUDA is detected.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else { return };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
