//! Distributed runs on c10d's Gloo over 127.0.0.1 with 2 processes: the
//! test starts the binary twice with torchrun's variables (once through the
//! .venv's torchrun, once with Slurm's), and checks the step against one
//! process on the same global batches, each trainer's run directory, bad
//! input, a killed peer, resuming a 2-process checkpoint in one, and
//! SIGUSR1, --checkpoint-every and --early-stop agreed by both processes.

use crate::common;
use common::*;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tch::Tensor;

/// Start the binary with the variables `vars` (a rank's), both streams piped.
fn spawn<S: AsRef<OsStr>>(cwd: &Path, args: &[S], vars: &[(&str, String)]) -> Child {
    bin(cwd)
        .args(args)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .spawn()
}

fn torchrun_vars(rank: usize, world: usize, port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("RANK", rank.to_string()),
        ("LOCAL_RANK", rank.to_string()),
        ("WORLD_SIZE", world.to_string()),
        ("MASTER_ADDR", "127.0.0.1".into()),
        ("MASTER_PORT", port.to_string()),
    ]
}

/// `paperlab ARGS` as 2 processes; both outputs, rank 0's first.
fn two_ranks<S: AsRef<OsStr>>(cwd: &Path, args: &[S]) -> Vec<Output> {
    let port = free_port();
    let children: Vec<Child> = (0..2)
        .map(|r| spawn(cwd, args, &torchrun_vars(r, 2, port)))
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn all_ok(outs: Vec<Output>) {
    for out in outs {
        ok(out);
    }
}

/// train-fmp without random layers (2x2 max-pooling, no dropout): 600
/// images in batches of 50 (the last of 600 - 550 = 50), on one thread.
pub(super) fn fmp(name: &str, extra: &[&str]) -> Vec<String> {
    let distributed = [
        "--pool",
        "max2",
        "--test-limit",
        "100",
        "--dist-timeout",
        "60",
    ];
    tiny_fmp(name, &[&distributed[..], extra].concat())
}

fn weights(dir: &Path, prefix: &str) -> HashMap<String, Tensor> {
    Tensor::read_safetensors(dir.join("checkpoints/last.safetensors"))
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect()
}

/// The largest difference between the tensors of two checkpoints, relative
/// to the tensor's largest value; fails if they hold different tensors.
fn max_relative_difference(a: &HashMap<String, Tensor>, b: &HashMap<String, Tensor>) -> f64 {
    assert!(!a.is_empty());
    let mut keys: Vec<_> = a.keys().collect();
    keys.sort();
    let mut other: Vec<_> = b.keys().collect();
    other.sort();
    assert_eq!(keys, other);
    keys.iter()
        .map(|k| {
            let (x, y) = (&a[*k], &b[*k]);
            let scale = x.abs().max().double_value(&[]).max(1e-6);
            (x - y).abs().max().double_value(&[]) / scale
        })
        .fold(0.0, f64::max)
}

/// Float32 sums in another order: what the weights of 2 processes may
/// differ by from one process's after a few steps.
const TOLERANCE: f64 = 1e-4;

/// metrics.csv rows (without timing) of a 2-process run `b` within 1e-4 of
/// the one-process run `a`'s, row by row.
pub(super) fn same_figures(a: &[Vec<String>], b: &[Vec<String>]) {
    assert_eq!(a.len(), b.len());
    for (ra, rb) in a.iter().zip(b) {
        let numbers = |r: &[String]| -> Vec<f64> { r.iter().map(|v| v.parse().unwrap()).collect() };
        let what = format!("{rb:?} against {ra:?}");
        assert_close(&numbers(rb), &numbers(ra), 1e-4, 1e-4, &what);
    }
}

/// Graham's summed loss: the reduced gradient is the global sum.
#[test]
fn two_ranks_take_the_one_process_step_for_a_summed_loss() {
    two_ranks_take_the_one_process_step("graham", "0.002", "1");
}

/// A mean loss: the reduced gradient is the example-weighted global mean.
#[test]
fn two_ranks_take_the_one_process_step_for_a_mean_loss() {
    two_ranks_take_the_one_process_step("sgd", "0.05", "1");
}

/// --accumulate 5: each rank runs its 25 examples as 5 micro-batches and
/// the gradients are summed over the ranks once, after the last (a sum
/// after each would count the first micro-batches' gradients again).
#[test]
fn two_ranks_accumulating_take_the_one_process_step() {
    two_ranks_take_the_one_process_step("graham", "0.002", "5");
    two_ranks_take_the_one_process_step("sgd", "0.05", "5");
}

/// With --background-margin 0: Graham's background marking sets many
/// pixels to exactly one value, so 2x2 max-pooling meets ties whose winner
/// turns on float rounding. With it, after 5 SGD steps the small early
/// biases differ by 2.2e-3 relative between 1 and 2 processes, and just as
/// much between one process on 1 thread and on 2; without it, by 7e-6 and
/// 7e-6 (measured 2026-12-02). The 2 ranks run each step's share as
/// `accumulate` micro-batches.
fn two_ranks_take_the_one_process_step(optimizer: &str, lr: &str, accumulate: &str) {
    let ws = workspace();
    let flags = [
        "--optimizer",
        optimizer,
        "--lr",
        lr,
        "--max-steps",
        "5",
        "--background-margin",
        "0",
    ];
    let one = format!("one-{optimizer}");
    ok(paperlab(ws.path(), &fmp(&one, &flags)));
    let two = format!("two-{optimizer}");
    let accumulating = [&flags[..], &["--accumulate", accumulate]].concat();
    all_ok(two_ranks(ws.path(), &fmp(&two, &accumulating)));
    let (a, b) = (
        weights(&run_dir(ws.path(), "train-fmp", &one), "model."),
        weights(&run_dir(ws.path(), "train-fmp", &two), "model."),
    );
    let moved = max_relative_difference(&a, &weights_at_start(&ws, optimizer));
    let d = max_relative_difference(&a, &b);
    assert!(
        moved > 100.0 * TOLERANCE,
        "{optimizer}: 5 steps moved the weights by only {moved}"
    );
    assert!(
        d < TOLERANCE,
        "{optimizer}: 2 ranks differ from 1 process by {d}"
    );
}

/// The weights before any step (a run stopped by --max-steps 0).
fn weights_at_start(ws: &common::TempDir, optimizer: &str) -> HashMap<String, Tensor> {
    let name = format!("start-{optimizer}");
    ok(paperlab(
        ws.path(),
        &fmp(&name, &["--optimizer", optimizer, "--max-steps", "0"]),
    ));
    weights(&run_dir(ws.path(), "train-fmp", &name), "model.")
}

/// A finished 2-process FMP run: the one-process file layout and figures,
/// config.json recording the world size beside the same configuration.
#[test]
fn a_two_rank_fmp_run_writes_the_one_process_files_and_figures() {
    let ws = workspace();
    ok(paperlab(ws.path(), &fmp("one", &[])));
    all_ok(two_ranks(ws.path(), &fmp("two", &[])));
    let (one, two) = (
        run_dir(ws.path(), "train-fmp", "one"),
        run_dir(ws.path(), "train-fmp", "two"),
    );
    assert_eq!(files(&one), files(&two));
    let (mut a, mut b) = (
        json(&one.join("config.json")),
        json(&two.join("config.json")),
    );
    // The same configuration but for the run's own name.
    assert_eq!(
        (&a["config"]["name"], &b["config"]["name"]),
        (&"one".into(), &"two".into())
    );
    (a["config"]["name"], b["config"]["name"]) = (serde_json::Value::Null, serde_json::Value::Null);
    assert_eq!(a["config"], b["config"]);
    assert_eq!(b["world_size"], 2);
    assert!(a.get("world_size").is_none());
    let (a, b) = (
        metrics_without_timing(&one.join("metrics.csv")),
        metrics_without_timing(&two.join("metrics.csv")),
    );
    assert_eq!(a.len(), 2);
    same_figures(&a, &b);
    let (a, b) = (
        json(&one.join("summary.json")),
        json(&two.join("summary.json")),
    );
    assert_eq!(a["test_error"], b["test_error"]);
    assert_eq!(a["steps"], b["steps"]);
}

/// --early-stop in a distributed run: every process judges the same
/// reduced test error, so both stop before the same epoch, the one where
/// the one-process run stops (a --min-delta of 1 is an improvement no
/// error makes, so the run stops early whatever its errors).
#[test]
fn two_ranks_stop_early_at_the_one_process_epoch() {
    let ws = workspace();
    let stop = ["--epochs", "4", "--early-stop", "1", "--min-delta", "1"];
    ok(paperlab(ws.path(), &fmp("one", &stop)));
    all_ok(two_ranks(ws.path(), &fmp("two", &stop)));
    let (one, two) = (
        run_dir(ws.path(), "train-fmp", "one"),
        run_dir(ws.path(), "train-fmp", "two"),
    );
    let (a, b) = (
        metrics_without_timing(&one.join("metrics.csv")),
        metrics_without_timing(&two.join("metrics.csv")),
    );
    assert!(a.len() < 4, "no early stop: {} epochs", a.len());
    same_figures(&a, &b);
    let (a, b) = (
        json(&one.join("summary.json")),
        json(&two.join("summary.json")),
    );
    assert_eq!(a["stopped"]["reason"], "early-stop");
    assert_eq!(a["stopped"], b["stopped"]);
}

/// The GAN's evaluations during training, shared among 2 processes, give
/// the one-process figures. A learning rate too small to move any weight
/// (1e-30, and no floor) keeps G at its initialisation, the same in both
/// runs, so the Parzen estimate (mlp) and the running reconstruction MSE
/// (dcgan without normalisation: no running statistics) must agree,
/// although the processes drew other z and dropout masks while training.
#[test]
fn the_gans_shared_evaluations_give_the_one_process_figures() {
    let ws = workspace();
    let common = [
        "--threads",
        "1",
        "--quiet",
        "--dist-timeout",
        "60",
        "--lr",
        "1e-30",
        "--epochs",
        "1",
    ];
    let runs: [(&str, [&str; 2], &[&str], &[&str]); 2] = [
        (
            "parzen_ll",
            ["mlp-one", "mlp-two"],
            TINY_GAN,
            &[
                "--train-limit",
                "300",
                "--valid-size",
                "100",
                "--lr-min",
                "0",
                "--parzen-every",
                "1",
                "--parzen-samples",
                "200",
                "--parzen-valid",
                "50",
            ],
        ),
        (
            "recon_mse",
            ["dcgan-one", "dcgan-two"],
            TINY_DCGAN,
            &[
                "--norm",
                "none",
                "--train-limit",
                "200",
                "--batch-size",
                "8",
                "--test-interval",
                "3",
                "--running",
                "15",
                "--final",
                "16",
            ],
        ),
    ];
    for (metric, [one, two], base, flags) in runs {
        let args = |name: &'static str| [base, flags, &common, &["--name", name]].concat();
        ok(paperlab(ws.path(), &args(one)));
        all_ok(two_ranks(ws.path(), &args(two)));
        let column = |name: &str| -> Vec<f64> {
            let rows = csv_rows(&run_dir(ws.path(), "train-gan", name).join("metrics.csv"));
            rows.iter().map(|r| r[metric]).collect()
        };
        let (a, b) = (column(one), column(two));
        assert_eq!(a.len(), 1, "{metric}");
        assert!(a[0].is_finite(), "{metric}: {a:?}");
        assert!(
            (a[0] - b[0]).abs() <= 1e-4 * a[0].abs(),
            "{metric}: one process {a:?}, two {b:?}"
        );
    }
}

/// Every file of a run directory, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(dir).unwrap().display().to_string();
                // An event file's name holds its creation time and host.
                out.push(match name.starts_with("events.out.tfevents.") {
                    true => "events.out.tfevents.<time>.<host>".into(),
                    false => name,
                });
            }
        }
    }
    out.sort();
    out
}

/// train-wn (weight norm with its data-dependent initialisation), train-gan
/// and train-inception finish a tiny 2-process run with the one-process
/// layout; train-wn launched with Slurm's variables.
#[test]
fn every_trainer_finishes_a_two_rank_run() {
    let ws = workspace();
    let common = ["--threads", "1", "--quiet", "--dist-timeout", "60"];
    let runs: [(&str, &[&str], &[&str]); 3] = [
        (
            "train-wn",
            TINY_WN,
            &[
                "--norm",
                "weight",
                "--train-limit",
                "400",
                "--test-limit",
                "100",
                "--init-batch",
                "100",
                "--widths",
                "4,8",
            ],
        ),
        (
            "train-gan",
            TINY_GAN,
            &["--train-limit", "400", "--epochs", "1"],
        ),
        (
            "train-inception",
            TINY_INCEPTION,
            &["--train-limit", "32", "--val-limit", "48", "--epochs", "1"],
        ),
    ];
    for (command, base, flags) in runs {
        let args = |name: &'static str| [base, flags, &common, &["--name", name]].concat();
        ok(paperlab(ws.path(), &args("one")));
        if command == "train-wn" {
            // The 2-process run fits the ZCA again: rank 0 first, caching
            // it, then rank 1 reads the cache.
            let cache = ws.path().join("data/zca");
            std::fs::remove_dir_all(&cache).unwrap();
            let port = free_port().to_string();
            let children: Vec<Child> = (0..2)
                .map(|r| {
                    let vars = [
                        ("SLURM_PROCID", r.to_string()),
                        ("SLURM_NTASKS", "2".into()),
                        ("SLURM_LOCALID", r.to_string()),
                        ("SLURM_JOB_NODELIST", "localhost".into()),
                        ("MASTER_PORT", port.clone()),
                    ];
                    spawn(ws.path(), &args("two"), &vars)
                })
                .collect();
            all_ok(
                children
                    .into_iter()
                    .map(|c| c.wait_with_output().unwrap())
                    .collect(),
            );
        } else {
            all_ok(two_ranks(ws.path(), &args("two")));
        }
        let (one, two) = (
            run_dir(ws.path(), command, "one"),
            run_dir(ws.path(), command, "two"),
        );
        assert_eq!(files(&one), files(&two), "{command}");
        assert_eq!(
            metrics_without_timing(&one.join("metrics.csv")).len(),
            metrics_without_timing(&two.join("metrics.csv")).len(),
            "{command}"
        );
        if command == "train-inception" {
            // 3 evaluation batches split 2 + 1: every image once, in order.
            let images = |dir: &Path| -> Vec<String> {
                csv::Reader::from_path(dir.join("predictions.csv"))
                    .unwrap()
                    .records()
                    .map(|r| r.unwrap()[0].to_string())
                    .collect()
            };
            assert_eq!(images(&one), images(&two));
            assert_eq!(images(&two).len(), 48);
        }
    }
}

#[test]
fn a_run_launched_by_torchrun_finishes() {
    let torchrun = repo(".venv/bin/torchrun");
    let ws = workspace();
    let out = Command::new(&torchrun)
        .current_dir(ws.path())
        .args([
            "--nproc-per-node",
            "2",
            "--master-port",
            &free_port().to_string(),
            "--no-python",
        ])
        .arg(PAPERLAB)
        .args(fmp("torchrun", &["--epochs", "1"]))
        .output()
        .unwrap();
    ok(out);
    let dir = run_dir(ws.path(), "train-fmp", "torchrun");
    assert_eq!(json(&dir.join("config.json"))["world_size"], 2);
    assert_eq!(metrics_without_timing(&dir.join("metrics.csv")).len(), 1);
}

#[test]
fn bad_launches_exit_2_naming_the_variable_or_flag() {
    let ws = workspace();
    let args = fmp("bad", &[]);
    let run = |vars: &[(&str, String)], extra: &[&str]| {
        let a: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .chain(extra.iter().copied())
            .collect();
        spawn(ws.path(), &a, vars).wait_with_output().unwrap()
    };
    let port = free_port();
    let mut vars = torchrun_vars(0, 2, port);
    vars.retain(|(k, _)| *k != "MASTER_ADDR");
    fails(run(&vars, &[]), 2, &["MASTER_ADDR"]);
    fails(
        run(&torchrun_vars(2, 2, port), &[]),
        2,
        &["RANK=2", "0 to 1"],
    );
    fails(
        run(&torchrun_vars(0, 2, port), &["--batch-size", "51"]),
        2,
        &["--batch-size 51", "multiple of 2"],
    );
    // 50 divides by 2, but each rank's 25 does not.
    fails(
        run(&torchrun_vars(0, 2, port), &["--accumulate", "2"]),
        2,
        &[
            "--accumulate 2",
            "share",
            "over 2 processes",
            "divisor of 25",
        ],
    );
    fails(
        run(
            &torchrun_vars(0, 2, port),
            &["--device", "cpu", "--dist-backend", "nccl"],
        ),
        2,
        &["--dist-backend nccl"],
    );
    // Rank 1 with no rank 0 serving the store: a bounded wait, then host:port.
    let started = Instant::now();
    fails(
        run(&torchrun_vars(1, 2, port), &["--dist-timeout", "3"]),
        2,
        &[&format!("127.0.0.1:{port}"), "--dist-timeout 3"],
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(!run_dir(ws.path(), "train-fmp", "bad").exists());
}

/// kill -9 of rank 1 mid-epoch: rank 0 exits 1 within its timeout, naming
/// it; --resume on 2 processes then finishes, and its metrics.csv is the
/// uninterrupted 2-process run's.
#[test]
fn a_killed_rank_stops_the_other_and_the_run_resumes() {
    let ws = workspace();
    let long = ["--train-limit", "6000", "--epochs", "3"];
    let args = fmp("killed", &[&long[..], &["--dist-timeout", "20"]].concat());
    let port = free_port();
    let mut rank0 = spawn(ws.path(), &args, &torchrun_vars(0, 2, port));
    let mut rank1 = spawn(ws.path(), &args, &torchrun_vars(1, 2, port));
    let dir = run_dir(ws.path(), "train-fmp", "killed");
    // Into the second epoch: the first checkpoint is written.
    let waited = Instant::now();
    while !dir.join("checkpoints/last.safetensors").exists() {
        assert!(waited.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(200));
    rank1.kill().unwrap();
    rank1.wait().unwrap();
    let killed = Instant::now();
    let status = rank0.wait().unwrap();
    assert!(
        killed.elapsed() < Duration::from_secs(40),
        "rank 0 took {:?}",
        killed.elapsed()
    );
    let mut err = String::new();
    std::io::Read::read_to_string(rank0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("rank 0 of 2") && err.contains("--dist-timeout"),
        "{err}"
    );
    let resume = [
        "train-fmp",
        "--name",
        "killed",
        "--resume",
        "--quiet",
        "--dist-timeout",
        "60",
    ];
    all_ok(two_ranks(ws.path(), &resume));
    all_ok(two_ranks(ws.path(), &fmp("whole", &long)));
    assert_eq!(
        metrics_without_timing(&dir.join("metrics.csv")),
        metrics_without_timing(&run_dir(ws.path(), "train-fmp", "whole").join("metrics.csv"))
    );
}

/// A checkpoint of 2 processes resumed by one continues the one-process
/// trajectory (same global batches, world-size independent sums).
#[test]
fn a_two_rank_checkpoint_resumes_on_one_process() {
    let ws = workspace();
    ok(paperlab(ws.path(), &fmp("whole", &[])));
    all_ok(two_ranks(ws.path(), &fmp("parts", &["--max-steps", "17"])));
    ok(paperlab(
        ws.path(),
        &["train-fmp", "--name", "parts", "--resume", "--quiet"],
    ));
    let (a, b) = (
        metrics_without_timing(&run_dir(ws.path(), "train-fmp", "whole").join("metrics.csv")),
        metrics_without_timing(&run_dir(ws.path(), "train-fmp", "parts").join("metrics.csv")),
    );
    assert_eq!(a.len(), 2);
    assert_eq!(a.len(), b.len());
    same_figures(&a, &b);
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|stat| {
                // pid (comm) state ppid ...
                let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
                after.split_whitespace().nth(1) == Some(&pid.to_string())
            })
        })
        .collect()
}

/// torchrun --max-restarts 1 with one worker killed: the restarted group
/// continues from the last checkpoint by itself and finishes the run.
#[test]
fn torchrun_restarts_a_group_that_lost_a_worker_and_it_resumes() {
    let torchrun = repo(".venv/bin/torchrun");
    let ws = workspace();
    let agent = Command::new(&torchrun)
        .current_dir(ws.path())
        .args(["--nproc-per-node", "2", "--max-restarts", "1"])
        .args(["--master-port", &free_port().to_string(), "--no-python"])
        .arg(PAPERLAB)
        .args(fmp(
            "elastic",
            &[
                "--train-limit",
                "6000",
                "--epochs",
                "3",
                "--dist-timeout",
                "20",
            ],
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let dir = run_dir(ws.path(), "train-fmp", "elastic");
    let waited = Instant::now();
    while !dir.join("checkpoints/last.safetensors").exists() {
        assert!(waited.elapsed() < Duration::from_secs(300), "no checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    let workers = children_of(agent.id());
    assert_eq!(workers.len(), 2, "torchrun's workers: {workers:?}");
    Command::new("kill")
        .args(["-9", &workers[1].to_string()])
        .status()
        .unwrap();
    let out = agent.wait_with_output().unwrap();
    ok(out);
    assert_eq!(metrics_without_timing(&dir.join("metrics.csv")).len(), 3);
    assert_eq!(json(&dir.join("summary.json"))["epochs"], 3);
}

/// `sweep --tasks-per-run 2`: the array script asks Slurm for 2 tasks and
/// passes the flag on; a task (`--only`) starts its run under srun, here a
/// stand-in on PATH that starts its command twice with srun's variables,
/// so the run is one 2-process run with the one-process layout.
#[test]
fn a_sweep_task_runs_one_distributed_run_under_srun() {
    let ws = workspace();
    std::fs::write(
        ws.path().join("pair.toml"),
        r#"
command = "train-fmp"
[flags]
pool = "max2"
train-limit = 200
test-limit = 50
filters = 4
batch-size = 50
epochs = 1
threads = 1
dist-timeout = 60
[[runs]]
name = "a"
"#,
    )
    .unwrap();
    let bin_dir = ws.path().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    let srun = bin_dir.join("srun");
    std::fs::write(
        &srun,
        format!(
            r#"#!/bin/bash
# srun --ntasks=N CMD...: N copies of CMD with srun's variables.
n=${{1#--ntasks=}}; shift
for ((r = 0; r < n; r++)); do
  SLURM_PROCID=$r SLURM_LOCALID=$r SLURM_NTASKS=$n SLURM_STEP_NUM_TASKS=$n \
  SLURM_JOB_NODELIST=localhost MASTER_PORT={port} "$@" &
done
status=0
for ((r = 0; r < n; r++)); do wait -n || status=1; done
exit $status
"#,
            port = free_port()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&srun, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());

    ok(paperlab(
        ws.path(),
        &[
            "sweep",
            "pair.toml",
            "--tasks-per-run",
            "2",
            "--slurm",
            "pair.sbatch",
        ],
    ));
    let script = std::fs::read_to_string(ws.path().join("pair.sbatch")).unwrap();
    for line in [
        "#SBATCH --ntasks=2",
        "'--tasks-per-run' '2' '--only' \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(script.contains(line), "script lacks {line:?}:\n{script}");
    }

    let out = bin(ws.path())
        .args(["sweep", "pair.toml", "--tasks-per-run", "2", "--only", "0"])
        .env("PATH", path)
        .output();
    ok(out);
    let dir = run_dir(ws.path(), "train-fmp", "pair-a");
    assert_eq!(json(&dir.join("config.json"))["world_size"], 2);
    assert!(dir.join("summary.json").exists());

    let out = bin(ws.path())
        .args(["sweep", "pair.toml", "--tasks-per-run", "2", "--only", "0"])
        .env("PATH", "/nonexistent")
        .output();
    assert!(
        stderr(&out).contains("is done"),
        "a finished run is skipped before srun: {}",
        stderr(&out)
    );
}

/// "SIGUSR1: stopped at step N" from a process's stderr: N.
fn stopped_at(err: &str) -> i64 {
    let rest = err
        .split("SIGUSR1: stopped at step ")
        .nth(1)
        .unwrap_or_else(|| panic!("no SIGUSR1 stop in:\n{err}"));
    rest.split(';').next().unwrap().parse().unwrap()
}

/// SIGUSR1 to both processes of a 2-process run, as Slurm signals every
/// task: they stop after one agreed step, rank 0 alone calls `scontrol
/// requeue` (a stand-in that records it), both exit 75; the requeued job
/// (--resume auto on 2 processes) ends as the uninterrupted 2-process run.
#[test]
fn sigusr1_to_both_ranks_stops_them_at_one_step_and_requeues_the_job_once() {
    let ws = workspace();
    let log = recording_scontrol(ws.path());
    let long = ["--train-limit", "3000", "--checkpoint-every", "5"];
    all_ok(two_ranks(ws.path(), &fmp("whole", &long)));
    let args = fmp("job", &[&long[..], &["--resume", "auto"]].concat());
    let port = free_port();
    let mut ranks: Vec<Child> = (0..2)
        .map(|r| {
            let mut vars = torchrun_vars(r, 2, port);
            vars.extend([
                ("PATH", path_with_bin(ws.path())),
                ("SLURM_JOB_ID", "107".into()),
            ]);
            spawn(ws.path(), &args, &vars)
        })
        .collect();
    let dir = run_dir(ws.path(), "train-fmp", "job");
    assert!(wait_for_file(
        &mut ranks[0],
        &dir.join("checkpoints/step-000005.safetensors")
    ));
    for r in &ranks {
        signal(r.id(), "USR1");
    }
    let errs: Vec<String> = ranks
        .into_iter()
        .map(|r| {
            let out = r.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(75), "{}", stderr(&out));
            stderr(&out)
        })
        .collect();
    assert_eq!(stopped_at(&errs[0]), stopped_at(&errs[1]), "{errs:?}");
    assert_mentions(&errs[0], &["requeued Slurm job 107"]);
    assert_mentions(&errs[1], &["rank 0 requeues the job"]);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "requeue 107\n");
    let stop = position_of(&dir.join("checkpoints/last.safetensors"));
    assert_eq!(stop.step, stopped_at(&errs[0]));
    assert!(stop.batch > 0, "not mid-epoch: {stop:?}");

    all_ok(two_ranks(ws.path(), &args));
    let whole = run_dir(ws.path(), "train-fmp", "whole");
    same_figures(
        &metrics_without_timing(&whole.join("metrics.csv")),
        &metrics_without_timing(&dir.join("metrics.csv")),
    );
    let d = max_relative_difference(&weights(&whole, "model."), &weights(&dir, "model."));
    assert_eq!(d, 0.0, "the resumed run's weights differ by {d}");
}

/// --checkpoint-every as a duration in a 2-process run: rank 0's clock
/// chooses the steps and both processes checkpoint at each (the
/// checkpoint's sums are a collective, which would otherwise wait for the
/// other process until --dist-timeout); a mid-epoch step checkpoint resumed
/// on 2 processes ends as the uninterrupted 2-process run.
#[test]
fn a_duration_checkpoints_both_ranks_at_the_steps_rank_0_chooses() {
    let ws = workspace();
    all_ok(two_ranks(ws.path(), &fmp("whole", &[])));
    let timed = ["--checkpoint-every", "0.001s", "--max-steps", "17"];
    all_ok(two_ranks(ws.path(), &fmp("timed", &timed)));
    rewind_to_mid_epoch(&run_dir(ws.path(), "train-fmp", "timed"));
    let resume = ["train-fmp", "--name", "timed", "--resume", "--quiet"];
    all_ok(two_ranks(ws.path(), &resume));
    let (whole, timed) = (
        run_dir(ws.path(), "train-fmp", "whole"),
        run_dir(ws.path(), "train-fmp", "timed"),
    );
    same_figures(
        &metrics_without_timing(&whole.join("metrics.csv")),
        &metrics_without_timing(&timed.join("metrics.csv")),
    );
    let d = max_relative_difference(&weights(&whole, "model."), &weights(&timed, "model."));
    assert_eq!(d, 0.0, "the resumed run's weights differ by {d}");
}
