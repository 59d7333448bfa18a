//! The --device flag.

use crate::runner::compute::host_memory;
use crate::runner::compute::threads::{self, Threads};
use crate::error::{usage, Result};
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

/// A short name for config.json and logs.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}
