//! Data-parallel training on libtorch's c10d, the engine PyTorch's DDP runs
//! on: one run across processes launched by torchrun or srun
//! ([`launch`]), meeting in a TCPStore and reducing over a Gloo (CPU) or
//! NCCL (CUDA) process group ([`group`], csrc/dist.cpp).
//!
//! A process belongs to at most one run, so the group is process-wide, as
//! torch.distributed's default group is: [`world`] is None in a plain
//! one-process run, and every helper here is then a no-op, so such a run
//! computes exactly what it did before this module existed. The engine
//! (runner/engine/epochs.rs, sums.rs, session.rs) shards each global batch, agrees
//! on stopping and reduces its sums; the trainers run backward through one
//! hook, [`reduced_backward`], which sums the gradients as it goes; the
//! evaluations split their batches ([`eval_batches`], [`gather_rows`]).

mod eval;
mod grads;
pub mod group;
pub mod launch;

pub use eval::{eval_batches, gather_rows, seed_pass};
pub use grads::{reduced_backward, Loss};

use crate::error::{run, usage, Result};
use crate::ranges;
use crate::rng::Stream;
use crate::runner::engine::interrupt::Stop;
use clap::{Args, ValueEnum};
use group::{Group, Op, Store};
use launch::Launch;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// The process group of a distributed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// NCCL for a CUDA device, Gloo for the CPU.
    Auto,
    Gloo,
    Nccl,
}

/// The flags of a distributed run (runtime options: config.json does not
/// record them, so a run's configuration is the same at any world size).
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct DistArgs {
    /// Process group of a distributed launch (torchrun, srun): auto (NCCL on CUDA, Gloo on the CPU), gloo or nccl.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub dist_backend: Backend,
    /// Seconds a distributed run waits for its rendezvous and for each collective before failing (a lost process).
    #[arg(long, default_value_t = DEFAULT_TIMEOUT, value_parser = ranges::positive)]
    pub dist_timeout: f64,
}

/// --dist-timeout's default: PyTorch's for NCCL (10 minutes), long enough
/// for a slow evaluation on rank 0 or a first CUDA step.
pub const DEFAULT_TIMEOUT: f64 = 600.0;

impl Default for DistArgs {
    fn default() -> DistArgs {
        DistArgs {
            dist_backend: Backend::Auto,
            dist_timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// This process's part in a distributed run.
pub struct World {
    pub rank: usize,
    pub size: usize,
    pub launch: Launch,
    /// The training device (cuda:LOCAL_RANK under --device auto|cuda).
    pub device: Device,
    pub timeout_secs: f64,
    store: Store,
    group: Group,
}

static WORLD: OnceLock<World> = OnceLock::new();

/// The distributed run this process is part of; None in a one-process run.
pub fn world() -> Option<&'static World> {
    WORLD.get()
}

/// Whether this process writes the run's files and shows progress: rank 0,
/// or the only process.
pub fn is_writer() -> bool {
    world().is_none_or(|w| w.rank == 0)
}

/// Join the distributed run the environment describes, if any (once per
/// process; later calls return the same world): picks the device of
/// LOCAL_RANK for `--device auto|cuda` (`device` is what --device `spec`
/// chose), connects to the store within --dist-timeout and opens the
/// process group. Returns the device to train on.
pub fn init(args: &DistArgs, spec: &str, device: Device) -> Result<Device> {
    if let Some(w) = world() {
        return Ok(w.device);
    }
    let Some(launch) = launch::detect(&|k| std::env::var(k).ok())? else {
        return Ok(device);
    };
    let device = rank_device(spec, device, &launch, tch::Cuda::device_count() as usize)?;
    let nccl = match (args.dist_backend, device) {
        (Backend::Nccl, Device::Cpu) => {
            return Err(usage(
                "--dist-backend nccl: NCCL reduces CUDA tensors and this run computes on the CPU; use --dist-backend gloo (or auto), or a CUDA --device",
            ))
        }
        (Backend::Auto, d) => d.is_cuda(),
        (b, _) => b == Backend::Nccl,
    };
    let timeout_ms = (args.dist_timeout * 1000.0).ceil() as i64;
    let server = launch.rank == 0 && !launch.agent_store;
    let prefix = format!("paperlab/attempt_{}/", launch.restart);
    let store = Store::open(&launch.host, launch.port, server, launch.world, &prefix, timeout_ms)
        .map_err(|e| {
            usage(format!(
                "rank {} of {} ({}): cannot meet the others at MASTER_ADDR:MASTER_PORT {}:{} within --dist-timeout {} s: {e}",
                launch.rank, launch.world, launch.source, launch.host, launch.port, args.dist_timeout
            ))
        })?;
    let group = Group::open(&store, launch.rank, launch.world, nccl, timeout_ms).map_err(|e| {
        run(format!(
            "rank {} of {}: cannot open the {} process group: {e}",
            launch.rank,
            launch.world,
            if nccl { "NCCL" } else { "Gloo" }
        ))
    })?;
    let world = World {
        rank: launch.rank,
        size: launch.world,
        launch,
        device,
        timeout_secs: args.dist_timeout,
        store,
        group,
    };
    let _ = WORLD.set(world);
    Ok(device)
}

/// The device a process of `launch` trains on: cuda:LOCAL_RANK under
/// `--device auto|cuda` (`device` is what --device `spec` chose), so each
/// process of a machine has its own GPU. A named GPU (`cuda:N`) is taken
/// only where this is its machine's one process (LOCAL_WORLD_SIZE=1):
/// otherwise every rank would land on GPU N, which NCCL refuses.
pub fn rank_device(spec: &str, device: Device, launch: &Launch, gpus: usize) -> Result<Device> {
    let Device::Cuda(_) = device else {
        return Ok(device);
    };
    if spec == "auto" || spec == "cuda" {
        if launch.local_rank >= gpus {
            return Err(usage(format!(
                "LOCAL_RANK={} but this machine has {gpus} CUDA device(s): launch at most {gpus} processes per machine, or pass --device cpu",
                launch.local_rank
            )));
        }
        return Ok(Device::Cuda(launch.local_rank));
    }
    if launch.local_world != Some(1) {
        return Err(usage(format!(
            "--device {spec} names one GPU, but each process of a distributed run ({}) needs its own: pass --device cuda (process LOCAL_RANK takes cuda:LOCAL_RANK) and choose the machine's GPUs with CUDA_VISIBLE_DEVICES",
            launch.source
        )));
    }
    Ok(device)
}

impl World {
    /// A collective or store operation failed: a peer died, or it did not
    /// answer within --dist-timeout.
    fn lost(&self, what: &str, e: String) -> anyhow::Error {
        run(format!(
            "rank {} of {}: {what} failed: another process of the run died or did not answer within --dist-timeout {} s ({e}); the last checkpoint stays; relaunch with --resume",
            self.rank, self.size, self.timeout_secs
        ))
    }

    /// `t` summed in place over every process.
    pub fn sum(&self, t: &Tensor) -> Result<()> {
        self.on_device(t, "a sum")?;
        self.group
            .allreduce(t, Op::Sum)
            .map_err(|e| self.lost("a sum over the processes", e))
    }

    pub fn min(&self, t: &Tensor) -> Result<()> {
        self.on_device(t, "a minimum")?;
        self.group
            .allreduce(t, Op::Min)
            .map_err(|e| self.lost("a minimum over the processes", e))
    }

    /// `t` replaced by rank 0's values on every process.
    pub fn broadcast(&self, t: &Tensor) -> Result<()> {
        self.on_device(t, "a broadcast")?;
        self.group
            .broadcast(t, 0)
            .map_err(|e| self.lost("a broadcast from rank 0", e))
    }

    /// Every tensor a collective takes is on the run's device, as NCCL
    /// demands of CUDA runs; Gloo would take a CPU tensor in a CUDA run, so
    /// without this check the CPU tests could not see such a mistake.
    fn on_device(&self, t: &Tensor, what: &str) -> Result<()> {
        if t.device() == self.device {
            return Ok(());
        }
        Err(run(format!(
            "internal error: {what} over the processes got a tensor on {} but the run computes on {}",
            crate::runner::compute::device::name(t.device()),
            crate::runner::compute::device::name(self.device)
        )))
    }

    /// Rank 0 publishes `value` under `key`.
    pub fn publish(&self, key: &str, value: &str) -> Result<()> {
        self.store
            .set(key, value.as_bytes())
            .map_err(|e| self.lost("the store", e))
    }

    /// What rank 0 published under `key`, waiting up to --dist-timeout.
    pub fn receive(&self, key: &str) -> Result<String> {
        let v = self
            .store
            .get(key)
            .map_err(|e| self.lost(&format!("waiting for rank 0's {key}"), e))?;
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    /// Whether every process stops before taking step `step` (0-based),
    /// and why: the first process asked to stop (`requested`: Ctrl-C,
    /// SIGTERM, SIGUSR1) publishes the step after the one it is about to
    /// take with its reason, so every process stops after the same step for
    /// the same reason ([`World::agreed_step`]).
    pub fn stop_before(&self, step: i64, requested: Option<Stop>) -> Result<Option<Stop>> {
        let agreed = self.agreed_step("stop_at", step, requested.map(Stop::word))?;
        Ok(agreed
            .filter(|(at, _)| step >= *at)
            .map(|(_, word)| Stop::from_word(&word)))
    }

    /// Round `round` of --checkpoint-every's duration: rank 0 proposes
    /// (`due`: its clock says so) the step after the one it is about to
    /// take; every process learns that step here, at the latest before it
    /// takes it ([`World::agreed_step`]). None while nothing is proposed.
    pub fn checkpoint_at(&self, round: u64, step: i64, due: bool) -> Result<Option<i64>> {
        let propose = (due && self.rank == 0).then_some("time");
        let agreed = self.agreed_step(&format!("checkpoint_{round}"), step, propose)?;
        Ok(agreed.map(|(at, _)| at))
    }

    /// The step (and word) published under `key`, if any: with `propose`,
    /// this process publishes `step + 1` and its word unless another did
    /// first. No process can have passed that step (each step's gradient
    /// sum waits for all), and each asks before every step, so all learn
    /// it before they take it.
    fn agreed_step(
        &self,
        key: &str,
        step: i64,
        propose: Option<&str>,
    ) -> Result<Option<(i64, String)>> {
        let lost = |e| self.lost("the stop agreement", e);
        let value = match propose {
            Some(word) => Some(
                self.store
                    .set_once(key, format!("{} {word}", step + 1).as_bytes())
                    .map_err(lost)?,
            ),
            None if self.store.check(key).map_err(lost)? => {
                Some(self.store.get(key).map_err(lost)?)
            }
            None => None,
        };
        Ok(value.and_then(|v| {
            let v = String::from_utf8_lossy(&v);
            let (at, word) = v.split_once(' ')?;
            Some((at.parse().ok()?, word.to_string()))
        }))
    }
}

/// `f` on rank 0 first, then, once rank 0 has finished it, on the others:
/// for work whose result rank 0 leaves on disk for them (train-wn's ZCA
/// cache). `key` names the step in the store. In one process, just `f`.
pub fn rank_zero_first<T>(key: &str, f: impl FnOnce() -> T) -> Result<T> {
    let Some(w) = world() else { return Ok(f()) };
    if w.rank == 0 {
        let out = f();
        w.publish(key, "done")?;
        Ok(out)
    } else {
        w.receive(key)?;
        Ok(f())
    }
}

/// Every process takes rank 0's values of `vars` (the model's and the
/// EMA's variables, after data-dependent initialisation), as DDP does at
/// its start: broadcast in place, so `vars` must share storage with what
/// they are to update (not copies) and be on the run's device. Every
/// process passes them in the same order. In one process, nothing.
pub fn replicate(vars: &[Tensor]) -> Result<()> {
    let Some(w) = world() else { return Ok(()) };
    tch::no_grad(|| vars.iter().try_for_each(|t| w.broadcast(t)))
}

/// The variables of `vs` in name order (the same on every process), as
/// [`replicate`] takes them.
pub fn variables(vs: &VarStore) -> Vec<Tensor> {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter().map(|(_, t)| t).collect()
}

/// Close the process group at the end of the command: `clean` after a
/// command that succeeded (every collective has completed), otherwise an
/// abort that does not wait for peers that may be gone. Nothing in one
/// process; later calls do nothing.
pub fn shutdown(clean: bool) {
    if let Some(w) = world() {
        w.group.shutdown(clean);
    }
}

/// This process's part of a global batch: contiguous, sizes differing by at
/// most one (equal when the world size divides the batch).
pub fn shard(indices: &[i64]) -> &[i64] {
    match world() {
        None => indices,
        Some(w) => {
            let n = indices.len();
            &indices[w.rank * n / w.size..(w.rank + 1) * n / w.size]
        }
    }
}

/// This process's share of `n` examples drawn per step (the GAN's z).
pub fn share(n: i64) -> i64 {
    world().map_or(n, |w| n / w.size as i64)
}

/// Torch's stream for training step `step` on this process: the run's own
/// on rank 0 (and in one process), its own per rank on the others, so no
/// two processes draw the same dropout, FMP regions or noise.
pub fn step_stream(step: u64) -> Stream {
    match world() {
        Some(w) if w.rank > 0 => Stream::RankStep(step, w.rank as u64),
        _ => Stream::Step(step),
    }
}

/// A distributed run of `world` processes divides each global batch among
/// them: `batch_size` must be a multiple of it.
pub fn check_batch_size(world: usize, batch_size: i64) -> Result<()> {
    let size = world as i64;
    if batch_size % size != 0 {
        return Err(usage(format!(
            "--batch-size {batch_size}: a distributed run of {size} processes divides each global batch among them; expected a multiple of {size}"
        )));
    }
    Ok(())
}

/// The engine's checks of a trainer's batches before its first step: the
/// global batch divides among the processes, and no process is left
/// without examples by an epoch's last, partial batch.
pub fn check_batches(batch_size: i64, epoch_examples: i64) -> Result<()> {
    let Some(w) = world() else { return Ok(()) };
    check_batch_size(w.size, batch_size)?;
    let last = epoch_examples % batch_size;
    if last != 0 && last < w.size as i64 {
        return Err(usage(format!(
            "an epoch of {epoch_examples} examples in batches of {batch_size} ends with a batch of {last}, fewer than the {} processes; change --batch-size or the training set's size (e.g. --train-limit)",
            w.size
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;

    fn launch(local_rank: usize, local_world: Option<usize>) -> Launch {
        Launch {
            rank: local_rank,
            world: 4,
            local_rank,
            local_world,
            host: "h".into(),
            port: 1,
            agent_store: false,
            restart: 0,
            source: "RANK/WORLD_SIZE",
        }
    }

    #[test]
    fn each_process_of_a_machine_takes_its_own_gpu() {
        for spec in ["auto", "cuda"] {
            let d = rank_device(spec, Device::Cuda(0), &launch(3, Some(4)), 4).unwrap();
            assert_eq!(d, Device::Cuda(3), "--device {spec}");
        }
        // No CUDA (auto fell back) or --device cpu: the CPU for every rank.
        let d = rank_device("auto", Device::Cpu, &launch(3, Some(4)), 0).unwrap();
        assert_eq!(d, Device::Cpu);
        // A machine's only process may name its GPU.
        let d = rank_device("cuda:1", Device::Cuda(1), &launch(0, Some(1)), 2).unwrap();
        assert_eq!(d, Device::Cuda(1));
    }

    #[test]
    fn a_named_gpu_shared_by_processes_or_too_few_gpus_are_refused() {
        for local_world in [Some(2), None] {
            let err =
                rank_device("cuda:1", Device::Cuda(1), &launch(0, local_world), 2).unwrap_err();
            assert_eq!(exit_code(&err), 2);
            let msg = err.to_string();
            assert!(
                msg.contains("--device cuda:1") && msg.contains("CUDA_VISIBLE_DEVICES"),
                "{msg}"
            );
        }
        let err = rank_device("cuda", Device::Cuda(0), &launch(2, Some(4)), 2).unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert!(err.to_string().contains("LOCAL_RANK=2"), "{err}");
    }
}
