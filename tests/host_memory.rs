//! runner::compute::host_memory: after `keep_freed_memory`, training steps of the
//! MNIST FMP net, which free many activations of up to 16 MB at once and
//! allocate them again, reuse their pages instead of faulting them in anew.
//! Counted by the kernel's minor page faults of this process, not timed.
//! (Its own test binary without the harness's threads: the setting is
//! process-wide and the trainers run on the main thread.)

// The suite's helpers; this binary uses one of them.
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "suite/common/mod.rs"]
mod common;
use common::fmp_net_config;
use paperlab::fmp::model::{net, NetConfig, Pool};
use paperlab::layers::fmp::Fmp;
use paperlab::optim::{params_of, Optimizer, Sgd, SgdConfig};
use paperlab::runner::compute::host_memory::keep_freed_memory;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// This process's minor page faults so far (/proc/self/stat, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    rest.split(' ')
        .nth(7)
        .expect("field 10")
        .parse()
        .expect("a count")
}

fn main() {
    keep_freed_memory();
    tch::manual_seed(0);
    // The MNIST preset's net: n = 32, his 2-pixel windows.
    let base = fmp_net_config(6, 2f64.sqrt(), Pool::Fmp);
    let cfg = NetConfig {
        filters: 32,
        fmp: Fmp {
            window: Some(2),
            ..base.fmp
        },
        ..base
    };
    let vs = VarStore::new(Device::Cpu);
    let model = net(&vs.root(), &cfg);
    let mut opt = Sgd::new(params_of(&vs), SgdConfig::new(0.003));
    let x = Tensor::rand([100, 1, 36, 36], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [100], (Kind::Int64, Device::Cpu));
    let mut step = || {
        opt.zero_grad();
        let loss = model.forward_t(&x, true).cross_entropy_for_logits(&y);
        loss.backward();
        opt.step();
    };
    for _ in 0..3 {
        step();
    }
    let before = minor_faults();
    for _ in 0..5 {
        step();
    }
    let faults = (minor_faults() - before) / 5;
    println!("host_memory: {faults} minor page faults a step");
    // One 16 MB activation faulted in anew is 4096 faults of 4 KB pages.
    assert!(
        faults < 1000,
        "{faults} minor page faults a step: freed memory was returned to the kernel"
    );
}
