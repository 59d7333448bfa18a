//! Checkpoints inside epochs (--checkpoint-every, --keep-checkpoints) and
//! Slurm's SIGUSR1 (issue 31): a run stopped by SIGUSR1 mid-epoch writes
//! its checkpoint, calls a stand-in `scontrol requeue` (recording its
//! arguments) and exits 75; resumed, it ends as the uninterrupted run
//! (metrics.csv, steps.csv, last and best checkpoints), as it does from a
//! step checkpoint. `sweep` passes SIGUSR1 on to its run and --resume=auto.

use crate::common;
use common::*;

use std::path::Path;
use std::process::{Child, ExitStatus};

/// train-fmp, 3000 images in batches of 50: 60 steps an epoch, two epochs.
fn long_fmp(name: &str, extra: &[&str]) -> Vec<String> {
    tiny_fmp(name, &[&["--train-limit", "3000"], extra].concat())
}

/// The run `b` ended exactly as `a`: metrics.csv and steps.csv (timing
/// aside), last and best checkpoints.
fn same_run(a: &Path, b: &Path) {
    assert_eq!(
        metrics_without_timing(&a.join("metrics.csv")),
        metrics_without_timing(&b.join("metrics.csv")),
        "metrics.csv of {}",
        b.display()
    );
    // Each log point once, with the uninterrupted values (none in a run
    // shorter than --log-every).
    let steps = |dir: &Path| {
        let path = dir.join("steps.csv");
        path.exists().then(|| metrics_without_timing(&path))
    };
    assert_eq!(steps(a), steps(b), "steps.csv of {}", b.display());
    for file in ["last", "best"] {
        let file = format!("checkpoints/{file}.safetensors");
        same_checkpoint(&a.join(&file), &b.join(&file));
    }
}

/// Wait for `child`, returning its status and stderr.
fn ended(child: Child) -> (ExitStatus, String) {
    let out = child.wait_with_output().unwrap();
    (out.status, stderr(&out))
}

/// SIGUSR1 once the step checkpoint at step 5 exists: the run stops at
/// the next step boundary, mid-epoch, with its checkpoint; requeues the
/// array task as `<array job>_<task>` (as Lightning does); exits 75. The
/// requeued job's `--resume auto` continues it to the uninterrupted end.
#[test]
fn sigusr1_checkpoints_requeues_the_array_task_and_the_job_resumes_as_uninterrupted() {
    let ws = workspace();
    let log = recording_scontrol(ws.path());
    ok(paperlab(ws.path(), &long_fmp("whole", &[])));
    let job = |args: Vec<String>| {
        bin(ws.path())
            .args(args)
            .env("PATH", path_with_bin(ws.path()))
            .envs([
                ("SLURM_JOB_ID", "107"),
                ("SLURM_ARRAY_JOB_ID", "100"),
                ("SLURM_ARRAY_TASK_ID", "7"),
            ])
    };
    let flags = ["--checkpoint-every", "5", "--resume", "auto"];
    let dir = run_dir(ws.path(), "train-fmp", "job");
    let mut child = job(long_fmp("job", &flags)).spawn();
    assert!(
        wait_for_file(&mut child, &dir.join("checkpoints/step-000005.safetensors")),
        "the run ended before its first step checkpoint"
    );
    signal(child.id(), "USR1");
    let (status, err) = ended(child);
    assert_eq!(status.code(), Some(75), "{err}");
    assert_mentions(
        &err,
        &["SIGUSR1: stopped at step", "requeued Slurm job 100_7"],
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "requeue 100_7\n");
    let stop = position_of(&dir.join("checkpoints/last.safetensors"));
    assert!(
        stop.epoch == 0 && stop.batch > 0 && stop.step >= 5,
        "not stopped mid-epoch after step 5: {stop:?}"
    );
    assert!(!dir.join("summary.json").exists());

    // The requeued job: the same command line.
    let out = ok(job(long_fmp("job", &flags)).output());
    assert_mentions(&stderr(&out), &["continuing it (--resume=auto)"]);
    same_run(&run_dir(ws.path(), "train-fmp", "whole"), &dir);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "requeue 100_7\n",
        "a run that ends normally requeues nothing"
    );
}

/// SIGUSR1 outside Slurm: the same stop and exit code, nothing requeued.
#[test]
fn sigusr1_without_a_slurm_job_stops_with_a_checkpoint_and_requeues_nothing() {
    let ws = workspace();
    let log = recording_scontrol(ws.path());
    let dir = run_dir(ws.path(), "train-fmp", "local");
    let mut child = bin(ws.path())
        .args(long_fmp("local", &["--checkpoint-every", "5"]))
        .env("PATH", path_with_bin(ws.path()))
        .spawn();
    assert!(wait_for_file(
        &mut child,
        &dir.join("checkpoints/step-000005.safetensors")
    ));
    signal(child.id(), "USR1");
    let (status, err) = ended(child);
    assert_eq!(status.code(), Some(75), "{err}");
    assert_mentions(&err, &["no SLURM_JOB_ID", "--resume"]);
    assert!(!log.exists(), "scontrol was called outside Slurm");
    assert!(position_of(&dir.join("checkpoints/last.safetensors")).batch > 0);
}

/// --checkpoint-every 5 over 24 steps (12 an epoch) writes step checkpoints
/// at steps 5, 10, 15, 20 (mid-epoch, with the sums and the log window),
/// without changing the run; --keep-checkpoints 2 keeps 15 and 20. A run
/// rewound to either a first-epoch or a second-epoch step checkpoint (one
/// copied over last.safetensors) and resumed ends as the uninterrupted run.
#[test]
fn step_checkpoints_resume_exactly_and_keep_checkpoints_prunes_them() {
    let ws = workspace();
    ok(paperlab(
        ws.path(),
        &tiny_fmp("plain", &["--log-every", "3"]),
    ));
    let every = ["--log-every", "3", "--checkpoint-every", "5"];
    ok(paperlab(ws.path(), &tiny_fmp("all", &every)));
    let kept = [&every[..], &["--keep-checkpoints", "2"]].concat();
    ok(paperlab(ws.path(), &tiny_fmp("kept", &kept)));
    let plain = run_dir(ws.path(), "train-fmp", "plain");
    let steps_of = |name: &str| -> Vec<String> {
        let dir = run_dir(ws.path(), "train-fmp", name);
        step_checkpoints(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let file = |s: i64| format!("step-{s:06}.safetensors");
    assert_eq!(steps_of("all"), [5, 10, 15, 20].map(file));
    assert_eq!(steps_of("kept"), [15, 20].map(file));
    for name in ["all", "kept"] {
        same_run(&plain, &run_dir(ws.path(), "train-fmp", name));
    }
    let all = run_dir(ws.path(), "train-fmp", "all").join("checkpoints");
    let at = |s: i64| position_of(&all.join(file(s)));
    assert_eq!(
        (at(5).epoch, at(5).batch, at(15).epoch, at(15).batch),
        (0, 5, 1, 3)
    );

    for s in [5, 15] {
        let name = format!("from-{s}");
        ok(paperlab(
            ws.path(),
            &tiny_fmp(&name, &[&every[..], &["--max-steps", "17"]].concat()),
        ));
        let dir = run_dir(ws.path(), "train-fmp", &name);
        let last = dir.join("checkpoints/last.safetensors");
        std::fs::copy(dir.join("checkpoints").join(file(s)), &last).unwrap();
        ok(paperlab(
            ws.path(),
            &["train-fmp", "--name", &name, "--resume", "--quiet"],
        ));
        same_run(&plain, &dir);
    }
}

/// A duration: rank 0's clock decides. With a millisecond nearly every
/// step is due; the step checkpoints hold different steps but every one is
/// a true mid-epoch checkpoint, so one resumed from ends as the
/// uninterrupted run, and the run itself is unchanged.
#[test]
fn a_duration_writes_step_checkpoints_that_resume_exactly() {
    let ws = workspace();
    ok(paperlab(ws.path(), &tiny_fmp("plain", &[])));
    let flags = ["--checkpoint-every", "0.001s", "--max-steps", "17"];
    ok(paperlab(ws.path(), &tiny_fmp("timed", &flags)));
    let dir = run_dir(ws.path(), "train-fmp", "timed");
    let config = json(&dir.join("config.json"));
    assert_eq!(config["config"]["checkpoint_every"], "0.001s");
    rewind_to_mid_epoch(&dir);
    ok(paperlab(
        ws.path(),
        &["train-fmp", "--name", "timed", "--resume", "--quiet"],
    ));
    same_run(&run_dir(ws.path(), "train-fmp", "plain"), &dir);
}

/// `sweep --only` (an array task) passes SIGUSR1 on to its run, which
/// requeues the task and exits 75, as the sweep then does; the task run
/// again continues the run (--resume=auto) to the end.
#[test]
fn a_sweep_task_passes_sigusr1_to_its_run_and_continues_it_when_run_again() {
    let ws = workspace();
    let log = recording_scontrol(ws.path());
    std::fs::write(
        ws.path().join("one.toml"),
        "command = \"train-fmp\"\n[flags]\ntrain-limit = 3000\ntest-limit = 100\nfilters = 4\nbatch-size = 50\nepochs = 2\nthreads = 1\ncheckpoint-every = 5\n[[runs]]\nname = \"a\"\n",
    )
    .unwrap();
    let task = || {
        bin(ws.path())
            .args(["sweep", "one.toml", "--only", "0"])
            .env("PATH", path_with_bin(ws.path()))
            .env("SLURM_JOB_ID", "31")
    };
    let dir = run_dir(ws.path(), "train-fmp", "one-a");
    let mut sweep = task().spawn();
    assert!(wait_for_file(
        &mut sweep,
        &dir.join("checkpoints/step-000005.safetensors")
    ));
    signal(sweep.id(), "USR1");
    let (status, err) = ended(sweep);
    assert_eq!(status.code(), Some(75), "{err}");
    assert_mentions(
        &err,
        &["no run there yet: starting it", "requeued Slurm job 31"],
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "requeue 31\n");
    assert!(!dir.join("summary.json").exists());

    let out = ok(task().output());
    assert_mentions(&stderr(&out), &["continuing it (--resume=auto)"]);
    assert_eq!(json(&dir.join("summary.json"))["steps"], 120);

    // The array script: SIGUSR1 to the batch shell, which is the sweep.
    ok(paperlab(
        ws.path(),
        &[
            "sweep",
            "one.toml",
            "--slurm",
            "one.sbatch",
            "--signal-lead",
            "300",
        ],
    ));
    let script = std::fs::read_to_string(ws.path().join("one.sbatch")).unwrap();
    for line in [
        "#SBATCH --signal=B:USR1@300\n",
        "#SBATCH --requeue\n",
        "#SBATCH --open-mode=append\n",
        "\nexec '",
    ] {
        assert!(script.contains(line), "script lacks {line:?}:\n{script}");
    }
}

#[test]
fn bad_checkpoint_flags_exit_2_naming_the_flag_and_write_nothing() {
    let ws = workspace();
    let cases: [(&[&str], &str); 8] = [
        (&["--checkpoint-every", "0"], "--checkpoint-every"),
        (&["--checkpoint-every", "0s"], "--checkpoint-every"),
        (&["--checkpoint-every=-5"], "--checkpoint-every"),
        (&["--checkpoint-every=-1m"], "--checkpoint-every"),
        (&["--checkpoint-every", "10d"], "--checkpoint-every"),
        (&["--checkpoint-every", "1.5"], "--checkpoint-every"),
        (
            &["--checkpoint-every", "5", "--keep-checkpoints", "0"],
            "--keep-checkpoints",
        ),
        (&["--keep-checkpoints", "2"], "--checkpoint-every"),
    ];
    for (extra, flag) in cases {
        fails(paperlab(ws.path(), &tiny_fmp("bad", extra)), 2, &[flag]);
        assert!(
            !ws.path().join("results").exists(),
            "{extra:?} wrote results/"
        );
    }
    fails(
        paperlab(ws.path(), &["sweep", "x.toml", "--signal-lead", "0"]),
        2,
        &["--signal-lead"],
    );
}
