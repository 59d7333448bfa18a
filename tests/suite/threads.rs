//! A process's CPU threads follow its launch (runner/compute/threads.rs):
//! OMP_NUM_THREADS, SLURM_CPUS_PER_TASK or the CPUs shared by the run's
//! processes here, recorded in config.json; bad variables exit 2 before
//! anything is created; --threads above the CPUs warns; a sweep's
//! concurrent runs share the CPUs.

use crate::common;
use common::*;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

/// Variables that would change a child's threads, unset unless a test sets them.
const THREAD_VARS: &[&str] = &[
    "OMP_NUM_THREADS",
    "SLURM_CPUS_PER_TASK",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_STEP_NUM_TASKS",
    "SLURM_NTASKS_PER_NODE",
    "SLURM_TASKS_PER_NODE",
    "SLURM_STEP_TASKS_PER_NODE",
    "SLURM_JOB_ID",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_WORLD_SIZE",
];

/// `paperlab ARGS` in `cwd` with exactly `vars` of [`THREAD_VARS`] set.
fn with_env(cwd: &Path, args: &[impl AsRef<OsStr>], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paperlab"));
    cmd.current_dir(cwd).args(args);
    for var in THREAD_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(vars.iter().copied()).output().unwrap()
}

/// A tiny train-fmp run's flags, for a command line and a sweep file.
const TINY: &[(&str, &str)] = &[
    ("pool", "max2"),
    ("train-limit", "100"),
    ("test-limit", "50"),
    ("filters", "4"),
    ("batch-size", "50"),
    ("epochs", "1"),
];

/// `steps` steps of the [`TINY`] run named `name`.
fn tiny(name: &str, steps: &str) -> Vec<String> {
    let mut args = vec!["train-fmp".to_string()];
    for (flag, value) in TINY {
        args.extend([format!("--{flag}"), value.to_string()]);
    }
    args.extend(["--max-steps", steps, "--quiet", "--name", name].map(String::from));
    args
}

/// config.json's "threads" of run `name`.
fn recorded(ws: &Path, name: &str) -> serde_json::Value {
    let config = json(&run_dir(ws, "train-fmp", name).join("config.json"));
    assert!(
        config["config"]["threads"].is_null(),
        "no --threads, so none in the run's own config: {config}"
    );
    config["threads"].clone()
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn config_json_records_the_threads_and_their_source() {
    let ws = workspace();
    ok(with_env(
        ws.path(),
        &tiny("omp", "1"),
        &[("OMP_NUM_THREADS", "1")],
    ));
    let t = recorded(ws.path(), "omp");
    assert_eq!(
        (t["intra"].as_u64(), t["source"].as_str()),
        (Some(1), Some("OMP_NUM_THREADS"))
    );

    // One Slurm task (not a distributed run) with --cpus-per-task=1.
    let slurm = [
        ("SLURM_CPUS_PER_TASK", "1"),
        ("SLURM_JOB_ID", "7"),
        ("SLURM_PROCID", "0"),
        ("SLURM_NTASKS", "1"),
    ];
    ok(with_env(ws.path(), &tiny("slurm", "1"), &slurm));
    let t = recorded(ws.path(), "slurm");
    assert_eq!(
        (t["intra"].as_u64(), t["source"].as_str()),
        (Some(1), Some("SLURM_CPUS_PER_TASK"))
    );

    ok(with_env(ws.path(), &tiny("cpus", "1"), &[]));
    let t = recorded(ws.path(), "cpus");
    assert_eq!(t["source"], "cpus/local_world");
    assert_eq!(
        (t["intra"].as_u64(), t["local_world"].as_u64()),
        (Some(cpus() as u64), Some(1))
    );

    let out = ok(with_env(ws.path(), &["info"], &[("OMP_NUM_THREADS", "1")]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CPU threads: 1 (OMP_NUM_THREADS"), "{text}");
}

#[test]
fn bad_thread_variables_exit_2_naming_them_and_create_nothing() {
    let ws = workspace();
    for (var, value) in [("OMP_NUM_THREADS", "0"), ("SLURM_CPUS_PER_TASK", "two")] {
        let out = with_env(ws.path(), &tiny("bad", "1"), &[(var, value)]);
        fails(out, 2, &[&format!("{var}=\"{value}\"")]);
        // Under --threads too: the variable is wrong whatever wins.
        let mut args = tiny("bad", "1");
        args.extend(["--threads", "1"].map(String::from));
        fails(with_env(ws.path(), &args, &[(var, value)]), 2, &[var]);
    }
    assert!(
        !ws.path().join("results").exists(),
        "a run directory was created"
    );
}

#[test]
fn threads_above_the_cpus_warn_and_the_flag_wins() {
    let ws = workspace();
    let mut args = tiny("many", "0");
    args.extend(["--threads", "999"].map(String::from));
    let out = ok(with_env(ws.path(), &args, &[("OMP_NUM_THREADS", "1")]));
    let err = stderr(&out);
    assert!(
        err.contains("warning: --threads 999") && err.contains("CPUs"),
        "{err}"
    );
    let config = json(&run_dir(ws.path(), "train-fmp", "many").join("config.json"));
    assert_eq!(config["threads"]["intra"], 999);
    assert_eq!(config["threads"]["source"], "--threads");
}

#[test]
fn a_sweeps_concurrent_runs_share_the_cpus_and_a_runs_threads_win() {
    let ws = workspace();
    std::fs::write(
        ws.path().join("pair.toml"),
        format!(
            "command = \"train-fmp\"\n[flags]\n{}max-steps = 1\n\
             [[runs]]\nname = \"shared\"\n[[runs]]\nname = \"own\"\nthreads = 1\n",
            TINY.iter()
                .map(|(k, v)| match v.parse::<f64>() {
                    Ok(_) => format!("{k} = {v}\n"),
                    Err(_) => format!("{k} = {v:?}\n"),
                })
                .collect::<String>()
        ),
    )
    .unwrap();
    ok(with_env(
        ws.path(),
        &["sweep", "pair.toml", "--jobs", "2"],
        &[],
    ));
    let shared = json(&run_dir(ws.path(), "train-fmp", "pair-shared").join("config.json"));
    assert_eq!(shared["threads"]["source"], "OMP_NUM_THREADS");
    assert_eq!(shared["threads"]["intra"], (cpus() / 2).max(1));
    let own = json(&run_dir(ws.path(), "train-fmp", "pair-own").join("config.json"));
    assert_eq!(own["threads"]["source"], "--threads");
    assert_eq!(own["threads"]["intra"], 1);
}
