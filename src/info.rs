//! `paperlab info`: what this build runs on and which datasets it finds.

use crate::data;
use crate::error::Result;
use crate::runner::compute::threads;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
}

pub fn run(args: InfoArgs) -> Result<()> {
    println!(
        "paperlab {} (commit {})",
        env!("CARGO_PKG_VERSION"),
        env!("PAPERLAB_GIT_COMMIT")
    );
    println!("libtorch {}", env!("PAPERLAB_LIBTORCH_VERSION"));
    let cuda = tch::Cuda::device_count();
    println!(
        "CUDA available: {} ({cuda} device(s)), cuDNN: {}",
        tch::Cuda::is_available(),
        tch::Cuda::cudnn_is_available()
    );
    println!(
        "devices: cpu{}",
        (0..cuda).map(|i| format!(", cuda:{i}")).collect::<String>()
    );
    let t = threads::of_this_process(None)?;
    println!(
        "CPU threads: {} ({}; {} CPUs for {} process(es) here; --threads overrides)",
        t.intra,
        t.source.name(),
        t.cpus,
        t.local_world
    );
    let found = data::available(&args.data_dir);
    if found.is_empty() {
        println!(
            "datasets in {}: none (see data/README.md; `make setup` links Fashion-MNIST)",
            args.data_dir.display()
        );
    }
    for (name, path) in found {
        println!("dataset {name}: {}", path.display());
    }
    Ok(())
}
