//! How many CPU threads a process computes on: --threads; else the share
//! its launcher gives it (OMP_NUM_THREADS, as torchrun sets it; Slurm's
//! SLURM_CPUS_PER_TASK); else the CPUs it may run on divided among the
//! run's processes on this machine. libtorch's own default (every core)
//! made each of two processes on a 2-core node take both cores: 165
//! images/s against 4,138 for one process (issue 32).
//!
//! The CPUs a process may run on are `std::thread::available_parallelism`'s:
//! on Linux the CPUs in its affinity mask (sched_getaffinity: taskset,
//! cpusets, Slurm's task binding), capped by a cgroup CPU quota. Slurm's
//! count is capped by them too: it describes the job's request, and an
//! srun step inside a job (some Slurm releases, 22.05 to 23.02, pass the
//! job's value to its steps) may bind each task to fewer CPUs.
//! OMP_NUM_THREADS is taken as set: a user or launcher chose it.

use crate::error::{usage, Result};
use crate::runner::dist::launch;
use serde::{Deserialize, Serialize};
use std::sync::Once;

/// Where a process's thread count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    #[serde(rename = "--threads")]
    Flag,
    #[serde(rename = "OMP_NUM_THREADS")]
    OmpNumThreads,
    #[serde(rename = "SLURM_CPUS_PER_TASK")]
    SlurmCpusPerTask,
    /// The CPUs it may run on, divided by the run's processes here.
    #[serde(rename = "cpus/local_world")]
    Cpus,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Flag => "--threads",
            Source::OmpNumThreads => "OMP_NUM_THREADS",
            Source::SlurmCpusPerTask => "SLURM_CPUS_PER_TASK",
            Source::Cpus => "cpus/local_world",
        }
    }
}

/// A process's CPU threads: libtorch's intra-op threads, and as many
/// inter-op threads and decoding workers; config.json's "threads".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threads {
    pub intra: usize,
    pub source: Source,
    /// The CPUs this process may run on.
    pub cpus: usize,
    /// The run's processes on this machine (1 outside a distributed run).
    pub local_world: usize,
}

/// The threads of a process given `flag` (--threads), the environment
/// `var` reads, the `cpus` it may run on and the `local_world` processes
/// of its run on this machine, in that order of precedence; OMP_NUM_THREADS
/// and SLURM_CPUS_PER_TASK must be positive whole numbers when set, even
/// under --threads.
pub fn decide(
    flag: Option<usize>,
    var: &dyn Fn(&str) -> Option<String>,
    cpus: usize,
    local_world: usize,
) -> Result<Threads> {
    let omp = count(var, "OMP_NUM_THREADS")?;
    let slurm = count(var, "SLURM_CPUS_PER_TASK")?;
    let (intra, source) = match (flag, omp, slurm) {
        (Some(n), _, _) => (n, Source::Flag),
        (None, Some(n), _) => (n, Source::OmpNumThreads),
        (None, None, Some(n)) => (n.min(cpus.max(1)), Source::SlurmCpusPerTask),
        (None, None, None) => ((cpus / local_world.max(1)).max(1), Source::Cpus),
    };
    Ok(Threads {
        intra,
        source,
        cpus,
        local_world,
    })
}

fn count(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<usize>> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(usage(format!(
            "{name}={value:?}: expected a positive whole number of CPU threads (unset it, or pass --threads)"
        ))),
    }
}

/// The run's processes on this machine: the launcher's count
/// ([`launch::Launch::local_world`]); where it gives none (a launch by hand
/// with RANK and WORLD_SIZE alone), every process of the run is taken to
/// be here; 1 outside a distributed run.
pub fn local_world(var: &dyn Fn(&str) -> Option<String>) -> Result<usize> {
    Ok(match launch::detect(var)? {
        Some(l) => l.local_world.unwrap_or(l.world),
        None => 1,
    })
}

/// The CPUs this process may run on (at least 1).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// This process's threads, from its environment and --threads.
pub fn of_this_process(flag: Option<usize>) -> Result<Threads> {
    let var = |k: &str| std::env::var(k).ok();
    decide(flag, &var, cpus(), local_world(&var)?)
}

/// Set libtorch's intra-op threads; the first time, its inter-op threads
/// too (libtorch takes them once, before any inter-op work), and warn when
/// --threads asks for more threads than the CPUs this process may use.
pub fn apply(t: &Threads) {
    tch::set_num_threads(t.intra as i32);
    static INTEROP: Once = Once::new();
    INTEROP.call_once(|| {
        tch::set_num_interop_threads(t.intra as i32);
        if t.source == Source::Flag && t.intra > t.cpus {
            eprintln!(
                "warning: --threads {} is more than the {} CPUs this process may use: its threads will take turns on them",
                t.intra, t.cpus
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code;
    use crate::runner::dist::launch::tests::env;

    fn threads(
        flag: Option<usize>,
        pairs: &[(&str, &str)],
        cpus: usize,
        local: usize,
    ) -> (usize, Source) {
        let t = decide(flag, &env(pairs), cpus, local).unwrap();
        (t.intra, t.source)
    }

    #[test]
    fn the_cpus_are_shared_by_the_processes_here() {
        assert_eq!(threads(None, &[], 8, 1), (8, Source::Cpus));
        assert_eq!(threads(None, &[], 8, 2), (4, Source::Cpus));
        assert_eq!(threads(None, &[], 8, 3), (2, Source::Cpus));
        assert_eq!(threads(None, &[], 2, 4), (1, Source::Cpus));
        assert_eq!(threads(None, &[], 2, 0), (2, Source::Cpus));
    }

    #[test]
    fn the_launcher_share_and_the_flag_take_precedence() {
        let omp = ("OMP_NUM_THREADS", "3");
        let slurm = ("SLURM_CPUS_PER_TASK", "5");
        assert_eq!(threads(None, &[slurm], 8, 2), (5, Source::SlurmCpusPerTask));
        assert_eq!(threads(None, &[omp], 8, 2), (3, Source::OmpNumThreads));
        assert_eq!(
            threads(None, &[omp, slurm], 8, 2),
            (3, Source::OmpNumThreads)
        );
        assert_eq!(threads(Some(6), &[omp, slurm], 8, 2), (6, Source::Flag));
        // Slurm's count, never above the CPUs the task is bound to.
        assert_eq!(threads(None, &[slurm], 2, 1), (2, Source::SlurmCpusPerTask));
        assert_eq!(threads(None, &[omp], 2, 1), (3, Source::OmpNumThreads));
        // Above the CPUs too: apply() warns, the count stands.
        assert_eq!(threads(Some(99), &[], 8, 1), (99, Source::Flag));
    }

    #[test]
    fn bad_counts_name_their_variable() {
        for name in ["OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK"] {
            for value in ["0", "-1", "two", "4,2", ""] {
                let err = decide(Some(1), &env(&[(name, value)]), 8, 1).unwrap_err();
                assert_eq!(exit_code(&err), 2, "{err}");
                assert!(err.to_string().contains(name), "{err}");
            }
        }
    }

    #[test]
    fn the_local_world_is_the_launchers_else_the_whole_world() {
        assert_eq!(local_world(&env(&[])).unwrap(), 1);
        let torchrun = [
            ("WORLD_SIZE", "4"),
            ("RANK", "0"),
            ("MASTER_ADDR", "h"),
            ("MASTER_PORT", "1"),
        ];
        assert_eq!(local_world(&env(&torchrun)).unwrap(), 4);
        let two = [&torchrun[..], &[("LOCAL_WORLD_SIZE", "2")]].concat();
        assert_eq!(local_world(&env(&two)).unwrap(), 2);
        let srun = [
            ("SLURM_PROCID", "1"),
            ("SLURM_NTASKS", "6"),
            ("SLURM_JOB_NODELIST", "n[1-3]"),
            ("SLURM_JOB_ID", "9"),
            ("SLURM_TASKS_PER_NODE", "2(x3)"),
            ("SLURM_NODEID", "1"),
        ];
        assert_eq!(local_world(&env(&srun)).unwrap(), 2);
    }
}
