//! The --device flag.

use crate::error::{usage, Result};
use crate::native;
use crate::runner::compute::host_memory;
use crate::runner::compute::threads::{self, Threads};
use tch::Device;

/// auto = CUDA when available; cpu; cuda (device 0); cuda:N.
pub fn parse(spec: &str) -> Result<Device> {
    let cuda = |n: usize| {
        if n < tch::Cuda::device_count() as usize {
            Ok(Device::Cuda(n))
        } else {
            Err(usage(format!(
                "--device {spec}: this machine has {} CUDA device(s) visible to libtorch; use --device cpu or auto",
                tch::Cuda::device_count()
            )))
        }
    };
    match spec {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        _ => match spec.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => cuda(n),
            None => Err(usage(format!(
                "--device {spec}: expected auto, cpu, cuda or cuda:N"
            ))),
        },
    }
}

/// Everything a command sets up before building a network: the device of
/// --device, libtorch's CPU threads ([`threads::apply`]), torch's
/// generators seeded from --seed (for the initial weights), and malloc
/// keeping freed memory for the next step ([`host_memory`]).
pub fn setup(spec: &str, threads: &Threads, seed: u64) -> Result<Device> {
    let device = parse(spec)?;
    host_memory::keep_freed_memory();
    threads::apply(threads);
    tch::manual_seed(seed as i64);
    Ok(device)
}

/// --deterministic and --cudnn-benchmark (at most one: clap refuses both),
/// set in libtorch before any CUDA work: deterministic cuDNN and
/// algorithms, benchmark off, and cuBLAS's fixed workspace
/// (CUBLAS_WORKSPACE_CONFIG=:4096:8, unless the environment sets it), which
/// its deterministic matrix products need; or benchmark on; or neither
/// (libtorch's defaults).
pub fn determinism(deterministic: bool, benchmark: bool) {
    if deterministic && std::env::var_os(CUBLAS_WORKSPACE).is_none() {
        std::env::set_var(CUBLAS_WORKSPACE, ":4096:8");
    }
    native::set_determinism(deterministic, benchmark && !deterministic);
}

const CUBLAS_WORKSPACE: &str = "CUBLAS_WORKSPACE_CONFIG";

/// A short name for config.json and logs.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
