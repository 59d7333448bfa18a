//! The Slurm paths on a real single-node Slurm: `make test` starts one
//! (scripts/slurm_node.sh: this machine, its CPUs, everything in a temporary
//! directory) and names its directory in PAPERLAB_TEST_SLURM. A sweep's job
//! array of 2-process runs submitted with sbatch, an srun run cancelled
//! mid-epoch and resumed, and the threads each task took. Without a node
//! each test says on the terminal that it is skipped; by hand:
//! `export PAPERLAB_TEST_SLURM=$(scripts/slurm_node.sh start)`, then
//! `scripts/slurm_node.sh stop $PAPERLAB_TEST_SLURM`.

use super::runs::{fmp, same_figures};
use crate::common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Variables of the test's own environment that would change how a run is
/// launched or threaded (srun and sbatch pass the environment on).
const LAUNCH_VARS: &[&str] = &[
    "OMP_NUM_THREADS",
    "MASTER_ADDR",
    "MASTER_PORT",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
];

/// How long a test waits for its jobs (the node runs one 2-task job at a
/// time, the suite's other tests beside them).
const JOBS_LIMIT: Duration = Duration::from_secs(900);

/// The running node's slurm.conf.
struct Node {
    conf: PathBuf,
}

/// The node PAPERLAB_TEST_SLURM names; None, saying so on the terminal
/// (past the harness's capture), when there is none.
fn node(test: &str) -> Option<Node> {
    match std::env::var_os("PAPERLAB_TEST_SLURM").filter(|d| !d.is_empty()) {
        Some(dir) => {
            let conf = Path::new(&dir).join("slurm.conf");
            assert!(
                conf.exists(),
                "PAPERLAB_TEST_SLURM={}: no slurm.conf there (was the node stopped?)",
                conf.display()
            );
            Some(Node { conf })
        }
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED dist::slurm::{test}: no single-node Slurm (PAPERLAB_TEST_SLURM is unset; `make test` starts one with scripts/slurm_node.sh)"
            );
            None
        }
    }
}

impl Node {
    /// A Slurm client command (sbatch, srun, squeue, ...) on this node, in `cwd`.
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null());
        for var in LAUNCH_VARS {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Run `program ARGS` to its end; it must succeed. Its stdout.
    fn run(&self, program: &str, cwd: &Path, args: &[&str]) -> String {
        let out = self.command(program, cwd).args(args).output().unwrap();
        String::from_utf8(ok(out).stdout).unwrap()
    }

    /// Wait until job `id` (every task of an array) has left the queue,
    /// then each of its jobs' state and exit code, as scontrol shows them.
    fn wait(&self, id: &str, cwd: &Path) -> Vec<(String, String)> {
        let started = Instant::now();
        while !self
            .run("squeue", cwd, &["-h", "-j", id, "-o", "%i %T"])
            .trim()
            .is_empty()
        {
            if started.elapsed() > JOBS_LIMIT {
                let queue = self.run("squeue", cwd, &[]);
                self.run("scancel", cwd, &[id]);
                panic!("job {id} still queued after {JOBS_LIMIT:?}:\n{queue}");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let shown = self.run("scontrol", cwd, &["-o", "show", "job", id]);
        shown
            .lines()
            .map(|job| (field(job, "JobState"), field(job, "ExitCode")))
            .collect()
    }
}

/// `KEY=value` of one line of `scontrol -o show job`.
fn field(job: &str, key: &str) -> String {
    job.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {job}"))
        .to_string()
}

/// A sweep file's [flags] table from a run's command line (flags after the
/// subcommand; a flag without a value is `true`; a later flag wins, as on
/// the command line), leaving out `skip`.
fn sweep_flags(argv: &[String], skip: &[&str]) -> String {
    let mut table = toml::Table::new();
    let mut words = argv[1..].iter().peekable();
    while let Some(word) = words.next() {
        let key = word.strip_prefix("--").expect("a flag");
        let value = match words.next_if(|v| !v.starts_with("--")) {
            Some(v) => toml::Value::String(v.clone()),
            None => toml::Value::Boolean(true),
        };
        if !skip.contains(&key) {
            table.insert(key.into(), value);
        }
    }
    table.to_string()
}

/// A command line without its `--threads N`.
fn without_threads(mut argv: Vec<String>) -> Vec<String> {
    if let Some(i) = argv.iter().position(|a| a == "--threads") {
        argv.drain(i..i + 2);
    }
    argv
}

/// `paperlab sweep --slurm` with --tasks-per-run 2, submitted with sbatch:
/// both array tasks run a 2-process run (world_size 2) whose metrics are
/// the one-process run's (2x2 max-pooling, no dropout: no random layer
/// differs), each process on the threads of the script's --cpus-per-task,
/// their logs in the folder paperlab made; then the sweep compares them.
#[test]
fn a_sweeps_job_array_runs_two_process_runs_with_the_one_process_figures() {
    let Some(node) = node("a_sweeps_job_array_runs_two_process_runs_with_the_one_process_figures")
    else {
        return;
    };
    let ws = workspace();
    let flags = sweep_flags(&fmp("-", &[]), &["name", "threads"]);
    std::fs::write(
        ws.path().join("pair.toml"),
        format!(
            "command = \"train-fmp\"\n[flags]\n{flags}\n\
             [[runs]]\nname = \"summed\"\noptimizer = \"graham\"\nlr = 0.002\n\
             [[runs]]\nname = \"mean\"\noptimizer = \"sgd\"\nlr = 0.05\n"
        ),
    )
    .unwrap();
    let sweep = ["sweep", "pair.toml", "--tasks-per-run", "2"];
    ok(paperlab(
        ws.path(),
        &[&sweep[..], &["--slurm", "pair.sbatch"]].concat(),
    ));
    let logs = ws.path().join("results/sweeps/pair");
    assert!(logs.is_dir(), "sweep --slurm makes the log folder");
    let script = std::fs::read_to_string(ws.path().join("pair.sbatch")).unwrap();
    let cpus: u64 = script
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --cpus-per-task="))
        .unwrap_or_else(|| panic!("no --cpus-per-task:\n{script}"))
        .parse()
        .unwrap();
    let share = (std::thread::available_parallelism().unwrap().get() / 2).max(1);
    assert_eq!(
        cpus, share as u64,
        "this machine's CPUs per process:\n{script}"
    );

    let id = node.run("sbatch", ws.path(), &["--parsable", "pair.sbatch"]);
    let id = id.trim().split(';').next().unwrap();
    let jobs = node.wait(id, ws.path());
    let mut log_text = String::new();
    for task in 0..2 {
        let log = logs.join(format!("slurm-{id}_{task}.log"));
        log_text +=
            &std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    }
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for (state, code) in &jobs {
        assert_eq!(
            (state.as_str(), code.as_str()),
            ("COMPLETED", "0:0"),
            "{log_text}"
        );
    }

    // The one-process runs, on one thread, into another folder.
    ok(paperlab(
        ws.path(),
        &[
            "sweep",
            "pair.toml",
            "--out",
            "reference",
            "--set",
            "threads=1",
        ],
    ));
    for run in ["pair-summed", "pair-mean"] {
        assert!(log_text.contains(&format!("sweep: {run}: paperlab train-fmp")));
        let two = run_dir(ws.path(), "train-fmp", run);
        let config = json(&two.join("config.json"));
        assert_eq!(config["world_size"], 2, "{run}");
        let threads = &config["threads"];
        assert_eq!(threads["source"], "SLURM_CPUS_PER_TASK", "{run}: {threads}");
        assert_eq!(threads["intra"], cpus, "{run}: {threads}");
        assert_eq!(threads["local_world"], 2, "{run}: {threads}");
        let one = ws.path().join("reference/train-fmp").join(run);
        let (a, b) = (
            metrics_without_timing(&one.join("metrics.csv")),
            metrics_without_timing(&two.join("metrics.csv")),
        );
        assert_eq!(a.len(), 2, "{run}");
        same_figures(&a, &b);
    }

    // Every run is done: the sweep only compares them.
    let out = ok(paperlab(ws.path(), &sweep));
    assert!(
        stderr(&out).contains("pair-mean is done"),
        "{}",
        stderr(&out)
    );
    let md = std::fs::read_to_string(logs.join("compare.md")).unwrap();
    assert!(
        md.contains("| pair-summed |") && md.contains("| pair-mean |"),
        "{md}"
    );
}

/// `srun --ntasks 2 paperlab ...` cancelled with scancel in its second
/// epoch (SIGTERM: both processes stop at the same step and checkpoint),
/// then resumed with --resume by another srun: its metrics.csv is an
/// uninterrupted 2-process run's.
#[test]
fn an_srun_run_cancelled_mid_epoch_resumes_to_the_uninterrupted_run() {
    let Some(node) = node("an_srun_run_cancelled_mid_epoch_resumes_to_the_uninterrupted_run")
    else {
        return;
    };
    let ws = workspace();
    let long = ["--train-limit", "6000", "--epochs", "3"];
    let job_name = format!("paperlab-cancelled-{}", std::process::id());
    let mut srun = node
        .command("srun", ws.path())
        .args(["--ntasks=2", &format!("--job-name={job_name}"), PAPERLAB])
        .args(fmp("cancelled", &long))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = run_dir(ws.path(), "train-fmp", "cancelled");
    // The first epoch's checkpoint: the run is in its second.
    let waited = Instant::now();
    while !dir.join("checkpoints/last.safetensors").exists() {
        assert!(waited.elapsed() < JOBS_LIMIT, "no checkpoint");
        if let Some(status) = srun.try_wait().unwrap() {
            panic!("srun ended with {status} before its first checkpoint");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    node.run("scancel", ws.path(), &["--name", &job_name]);
    let out = srun.wait_with_output().unwrap();
    assert!(!out.status.success(), "srun was cancelled: {out:?}");
    assert!(
        !dir.join("summary.json").exists(),
        "the run was not finished"
    );
    assert!(metrics_without_timing(&dir.join("metrics.csv")).len() < 3);

    let srun2 = |args: &[String]| -> Output {
        node.command("srun", ws.path())
            .arg("--ntasks=2")
            .arg(PAPERLAB)
            .args(args)
            .output()
            .unwrap()
    };
    let resume = ["train-fmp", "--name", "cancelled", "--resume", "--quiet"];
    ok(srun2(&resume.map(String::from)));
    ok(srun2(&fmp("whole", &long)));
    let whole = run_dir(ws.path(), "train-fmp", "whole");
    assert_eq!(json(&dir.join("config.json"))["world_size"], 2);
    assert_eq!(
        metrics_without_timing(&dir.join("metrics.csv")),
        metrics_without_timing(&whole.join("metrics.csv"))
    );
}

/// Under `srun --ntasks 2` without --threads or --cpus-per-task, each
/// process takes the CPUs Slurm bound it to (nproc in a task of the same
/// launch counts them) shared by the 2 tasks on this node.
#[test]
fn each_srun_task_takes_its_share_of_the_cpus_slurm_gave_it() {
    let Some(node) = node("each_srun_task_takes_its_share_of_the_cpus_slurm_gave_it") else {
        return;
    };
    let ws = workspace();
    let nproc = node.run("srun", ws.path(), &["--ntasks=2", "nproc"]);
    let counts: Vec<u64> = nproc.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), 2, "{nproc}");
    assert!(counts.iter().all(|&n| n == counts[0]), "{nproc}");
    let mut args = vec!["--ntasks=2".to_string(), PAPERLAB.to_string()];
    args.extend(without_threads(fmp("shared", &["--max-steps", "1"])));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    node.run("srun", ws.path(), &argv);
    let config = json(&run_dir(ws.path(), "train-fmp", "shared").join("config.json"));
    assert_eq!(config["world_size"], 2);
    let threads = &config["threads"];
    assert_eq!(threads["source"], "cpus/local_world", "{threads}");
    assert_eq!(threads["local_world"], 2, "{threads}");
    assert_eq!(threads["cpus"], counts[0], "{threads}");
    assert_eq!(threads["intra"], (counts[0] / 2).max(1), "{threads}");
}
