//! Interrupting every trainer with real signals: train-fmp, train-gan,
//! train-inception on Fashion-MNIST and on a lazily decoded ImageNet-style
//! folder (two decoding workers). Each run is stopped again and again, by
//! SIGINT (Ctrl-C) and SIGKILL (kill -9) alternately, at seeded
//! pseudo-random moments: before its first checkpoint exists, in the middle
//! of an epoch, after an epoch's checkpoint; then resumed with --resume
//! until it finishes. It must end exactly where an uninterrupted run with
//! the same seed ends: metrics.csv (timing columns aside), summary.json
//! (throughput aside), every tensor of last.safetensors, and the trainer's
//! other outputs (predictions.csv, weights.safetensors, the last sample
//! grid), and best.safetensors, which a kill between an epoch's two
//! checkpoint writes must not lose (a test of its own at the end).

use crate::common;
use common::*;

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant, SystemTime};

/// What a run gets before it is declared hung.
const PATIENCE: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(3);
/// The line a run resumed before its first checkpoint prints.
const NO_CHECKPOINT: &str = "has no checkpoint yet: starting it from the beginning";

/// splitmix64: the seeded generator for the moments of the signals.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Signal {
    Int,
    Kill,
}

/// When an attempt sends its signal.
#[derive(Clone, Copy, Debug)]
enum When {
    /// As soon as config.json is there (a fresh run) or the process has
    /// opened its session (a resumed one).
    AtOnce,
    /// A fraction, drawn from [lo, hi), of about one epoch of the reference
    /// run ([`Timing::epoch`]), counted from this process opening its
    /// session (metrics.csv written, the Ctrl-C handler installed).
    Epochs(f64, f64),
}

/// One interruption, for the log and the coverage checks.
#[derive(Debug)]
#[allow(dead_code)]
struct Attempt {
    signal: Signal,
    resumed: bool,
    /// Seconds after this process opened its session (None: not yet open).
    after_open: Option<f64>,
    /// checkpoints/last.safetensors existed when the signal was sent.
    had_checkpoint: bool,
    /// How the process ended: "130", "0", "SIGKILL", "SIGINT" (before the
    /// handler was installed), or "finished" (before the signal was sent).
    ended: String,
    /// (epoch, step, batch) of last.safetensors after the process ended.
    position: Option<(i64, i64, i64)>,
}

/// A trainer's tiny configuration: `args` without --name.
struct Trainer {
    command: &'static str,
    args: Vec<String>,
}

impl Trainer {
    fn new(args: Vec<String>) -> Trainer {
        Trainer {
            command: args[0].clone().leak(),
            args,
        }
    }

    fn dir(&self, ws: &Path, name: &str) -> PathBuf {
        run_dir(ws, self.command, name)
    }
}

/// Times of the uninterrupted reference run, from its start.
#[derive(Debug)]
#[allow(dead_code)] // `total` is for the log
struct Timing {
    /// metrics.csv created (the session is open, the Ctrl-C handler set).
    open: Duration,
    /// checkpoints/last.safetensors first there.
    first_checkpoint: Duration,
    total: Duration,
    /// The shortest epoch's training time, from metrics.csv.
    fastest_epoch: Duration,
}

impl Timing {
    /// About one epoch: the shorter of session open to first checkpoint
    /// (an epoch, its evaluation, building the model) and the fastest
    /// epoch's training, so that a busy moment during the reference does
    /// not stretch the delays past the end of the run.
    fn epoch(&self) -> Duration {
        self.first_checkpoint
            .saturating_sub(self.open)
            .min(self.fastest_epoch)
    }
}

/// A workspace (common's) with its own copy of the binary: other
/// builds in the same target directory may replace target/release/paperlab
/// while a test runs, and every run of one test must be the same program.
fn workspace_with_binary() -> common::TempDir {
    let ws = workspace();
    std::fs::create_dir(ws.path().join("bin")).unwrap();
    std::fs::copy(PAPERLAB, binary(ws.path())).unwrap();
    ws
}

fn binary(ws: &Path) -> PathBuf {
    ws.join("bin/paperlab")
}

/// Start this workspace's binary (stdout discarded, stderr piped).
fn spawn(ws: &Path, args: &[String]) -> Child {
    Bin::at(&binary(ws), ws).args(args).spawn()
}

/// Run to the end, like common's `paperlab`, with this workspace's binary.
fn output<S: AsRef<OsStr>>(ws: &Path, args: &[S]) -> Output {
    Bin::at(&binary(ws), ws).args(args).output()
}

/// Wait for `child` to exit (killing it and failing after PATIENCE) and
/// return its status and stderr.
fn finish(mut child: Child, what: &str) -> (ExitStatus, String) {
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {PATIENCE:?}: a hang");
        }
        std::thread::sleep(POLL);
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

/// Poll until `ready` holds (true) or the child exits (false).
fn wait_for(child: &mut Child, what: &str, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: nothing after {PATIENCE:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Sleep `d` unless the child exits first (then false).
fn sleep_while_running(child: &mut Child, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
    child.try_wait().unwrap().is_none()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn send(child: &mut Child, signal: Signal) {
    match signal {
        Signal::Int => {
            let status = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "kill -INT failed");
        }
        Signal::Kill => child.kill().unwrap(),
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => code.to_string(),
        (None, Some(9)) => "SIGKILL".into(),
        (None, Some(2)) => "SIGINT".into(),
        (None, s) => format!("signal {s:?}"),
    }
}

/// (epoch, step, batch) recorded in a checkpoint.
fn position(path: &Path) -> (i64, i64, i64) {
    let tensors = tch::Tensor::read_safetensors(path).unwrap();
    let get = |key: &str| {
        tensors
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{} has no {key}", path.display()))
            .1
            .int64_value(&[])
    };
    (get("train.epoch"), get("train.step"), get("train.batch"))
}

/// The uninterrupted run, with its timing.
fn reference(ws: &Path, trainer: &Trainer) -> Timing {
    let mut args = trainer.args.clone();
    args.extend(["--name".into(), "reference".into(), "--quiet".into()]);
    let dir = trainer.dir(ws, "reference");
    let start = Instant::now();
    let mut child = spawn(ws, &args);
    let what = format!("{} reference", trainer.command);
    let opened = wait_for(&mut child, &what, || dir.join("metrics.csv").exists());
    let open = start.elapsed();
    let saved = wait_for(&mut child, &what, || {
        dir.join("checkpoints/last.safetensors").exists()
    });
    let first_checkpoint = start.elapsed();
    let (status, err) = finish(child, &what);
    assert!(status.success(), "{what} failed ({status}):\n{err}");
    assert!(opened && saved, "{what} ran too fast to time");
    let total = start.elapsed();
    let mut metrics = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
    let column = metrics
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "seconds");
    let fastest_epoch = metrics
        .records()
        .map(|r| r.unwrap()[column.unwrap()].parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    Timing {
        open,
        first_checkpoint,
        total,
        fastest_epoch: Duration::from_secs_f64(fastest_epoch),
    }
}

/// Run `trainer` under `name`, sending the signals of `plan` one per
/// process (resuming after each), then let it finish. Returns what each
/// interruption did.
fn interrupt_until_done(
    ws: &Path,
    trainer: &Trainer,
    name: &str,
    timing: &Timing,
    seed: u64,
    plan: &[(Signal, When)],
    scale: f64,
) -> Vec<Attempt> {
    let mut moments = Moments(seed);
    let dir = trainer.dir(ws, name);
    let (config, metrics, last) = (
        dir.join("config.json"),
        dir.join("metrics.csv"),
        dir.join("checkpoints/last.safetensors"),
    );
    let mut attempts = vec![];
    for i in 0..=plan.len() {
        let resumed = config.is_file();
        let args: Vec<String> = if resumed {
            // Only the name: the configuration comes from config.json. Not
            // --quiet, so that the line about a missing checkpoint shows.
            [
                trainer.command,
                "--name",
                name,
                "--resume",
                "--threads",
                "1",
            ]
            .map(String::from)
            .to_vec()
        } else {
            assert!(
                !dir.exists(),
                "{} exists without config.json: neither a new run nor --resume can use it",
                dir.display()
            );
            let mut args = trainer.args.clone();
            args.extend(["--name".into(), name.into()]);
            args
        };
        let checkpoint_at_start = last.exists();
        let metrics_before = modified(&metrics);
        let what = format!(
            "{} {name}, process {}: {}",
            trainer.command,
            i + 1,
            args.join(" ")
        );
        let mut child = spawn(ws, &args);

        let Some(&(signal, when)) = plan.get(i) else {
            let (status, err) = finish(child, &what);
            assert!(status.success(), "{what} failed ({status}):\n{err}");
            check_resume_line(&what, &err, resumed && !checkpoint_at_start);
            break;
        };

        // The session is open once metrics.csv is (re)written.
        let open = || modified(&metrics).is_some_and(|m| Some(m) != metrics_before);
        let mut opened_at = None;
        let running = match when {
            When::AtOnce if !resumed => wait_for(&mut child, &what, || config.is_file()),
            When::AtOnce => {
                let running = wait_for(&mut child, &what, open);
                opened_at = Some(Instant::now());
                running
            }
            When::Epochs(lo, hi) => {
                wait_for(&mut child, &what, open) && {
                    opened_at = Some(Instant::now());
                    let d = timing.epoch().mul_f64(scale * moments.uniform(lo, hi));
                    sleep_while_running(&mut child, d.max(Duration::from_millis(5)))
                }
            }
        };
        let had_checkpoint = last.exists();
        if running {
            send(&mut child, signal);
        }
        let after_open = opened_at.map(|t| t.elapsed().as_secs_f64());
        let (status, err) = finish(child, &what);
        let ended = if running {
            describe(status)
        } else {
            "finished".into()
        };
        match (signal, ended.as_str()) {
            (_, "finished") | (_, "0") => {
                assert!(status.success(), "{what} failed ({status}):\n{err}")
            }
            (Signal::Int, "130") => {
                assert!(
                    err.contains("interrupted at step") && err.contains("--resume"),
                    "{what}: exit 130 without the message:\n{err}"
                );
                assert!(last.is_file(), "{what}: exit 130 but no checkpoint");
            }
            // Before the session is open there is no handler, and nothing
            // to save: the default action.
            (Signal::Int, "SIGINT") => assert!(
                after_open.is_none(),
                "{what}: died of SIGINT after its session was open:\n{err}"
            ),
            (Signal::Kill, "SIGKILL") => {}
            _ => panic!("{what}: after {signal:?}, ended with {ended}:\n{err}"),
        }
        if ended == "130" || ended == "0" || ended == "finished" {
            check_resume_line(&what, &err, resumed && !checkpoint_at_start);
        }
        attempts.push(Attempt {
            signal,
            resumed,
            after_open,
            had_checkpoint,
            position: last.exists().then(|| position(&last)),
            ended: ended.clone(),
        });
        if status.success() {
            break;
        }
    }
    assert!(
        dir.join("summary.json").is_file(),
        "{} {name} did not finish",
        trainer.command
    );
    attempts
}

/// A run resumed without a checkpoint says so in one line, and only then.
fn check_resume_line(what: &str, err: &str, expected: bool) {
    let lines = err.lines().filter(|l| l.contains(NO_CHECKPOINT)).count();
    assert_eq!(
        lines, expected as usize,
        "{what}: expected {} line(s) saying {NO_CHECKPOINT:?}:\n{err}",
        expected as usize
    );
}

/// summary.json without the throughput.
fn summary(dir: &Path) -> serde_json::Value {
    let mut s = json(&dir.join("summary.json"));
    s.as_object_mut().unwrap().remove("train_images_per_sec");
    s
}

/// The interrupted run `name` ended exactly where the reference did.
fn same_as_reference(ws: &Path, trainer: &Trainer, name: &str, files: &[&str]) {
    let (whole, parts) = (trainer.dir(ws, "reference"), trainer.dir(ws, name));
    assert_eq!(
        metrics_without_timing(&whole.join("metrics.csv")),
        metrics_without_timing(&parts.join("metrics.csv")),
        "{}: metrics.csv of {name} differs from the uninterrupted run",
        trainer.command
    );
    // Each log point once, with the uninterrupted run's values (the log
    // window is checkpointed with the sums); a run shorter than one
    // --log-every has none.
    let steps = |dir: &Path| {
        let path = dir.join("steps.csv");
        path.exists().then(|| metrics_without_timing(&path))
    };
    assert_eq!(
        steps(&whole),
        steps(&parts),
        "{}: steps.csv of {name} differs from the uninterrupted run",
        trainer.command
    );
    assert_eq!(
        summary(&whole),
        summary(&parts),
        "{}: summary.json of {name}",
        trainer.command
    );
    for checkpoint in [
        "checkpoints/last.safetensors",
        "checkpoints/best.safetensors",
    ] {
        same_checkpoint(&whole.join(checkpoint), &parts.join(checkpoint));
    }
    for file in files {
        assert_eq!(
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(parts.join(file)).unwrap(),
            "{}: {file} of {name} differs",
            trainer.command
        );
    }
}

/// The tests of this file one at a time: the moments of the signals are
/// fractions of the reference run's epoch, measured on an otherwise idle
/// machine.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the interruptions of one run did not cover, if anything.
fn missed(attempts: &[Attempt]) -> Option<String> {
    let before = attempts.iter().filter(|a| !a.had_checkpoint).count();
    let after = attempts.iter().filter(|a| a.had_checkpoint).count();
    let mid_epoch_ctrl_c = attempts
        .iter()
        .any(|a| a.ended == "130" && a.position.is_some_and(|(_, _, batch)| batch > 0));
    if before < 2 {
        Some(format!(
            "{before} interruption(s) before the first checkpoint"
        ))
    } else if after < 2 {
        Some(format!("{after} interruption(s) after a checkpoint"))
    } else if !mid_epoch_ctrl_c {
        Some("no Ctrl-C in the middle of an epoch".into())
    } else {
        None
    }
}

/// Kill -9 twice before any checkpoint exists (once as soon as config.json
/// is there, once early in the first epoch of the restarted run), Ctrl-C
/// early in the first epoch (its first checkpoint, mid-epoch), then
/// SIGKILL and SIGINT alternately at seeded moments up to an epoch and a
/// half into each process; finally let it finish, and compare with the
/// reference. The moments are fractions of the reference's epoch; should
/// the machine be faster now than then, so that the run ends before the
/// interruptions covered what they should (two before the first
/// checkpoint, two after, a Ctrl-C mid-epoch), the run is repeated under
/// another name with the fractions halved, up to three runs in all.
fn interrupted_equals_uninterrupted(
    trainer: Trainer,
    seed: u64,
    files: &[&str],
    prepare: fn(&Path),
) {
    let _serial = serial();
    let ws = workspace_with_binary();
    prepare(ws.path());
    let timing = reference(ws.path(), &trainer);
    eprintln!("{} reference {timing:?}", trainer.command);
    let plan = [
        (Signal::Kill, When::AtOnce),
        (Signal::Kill, When::Epochs(0.0, 0.3)),
        (Signal::Int, When::Epochs(0.1, 0.6)),
        (Signal::Kill, When::Epochs(0.2, 1.2)),
        (Signal::Int, When::Epochs(0.0, 0.8)),
        (Signal::Kill, When::Epochs(0.0, 1.5)),
        (Signal::Int, When::Epochs(0.0, 0.8)),
    ];
    let mut log = vec![];
    for round in 0..3 {
        let name = format!("interrupted-{round}");
        let scale = 0.5f64.powi(round);
        let attempts = interrupt_until_done(
            ws.path(),
            &trainer,
            &name,
            &timing,
            seed + 100 * round as u64,
            &plan,
            scale,
        );
        eprintln!("{} {name}:", trainer.command);
        for a in &attempts {
            eprintln!("  {a:?}");
        }
        same_as_reference(ws.path(), &trainer, &name, files);
        match missed(&attempts) {
            None => return,
            Some(why) => log.push(format!("{name}: {why}: {attempts:#?}")),
        }
    }
    panic!(
        "{}: the interruptions kept missing their moments (reference {timing:?}):\n{}",
        trainer.command,
        log.join("\n")
    );
}

fn fmp() -> Trainer {
    Trainer::new(argv(
        TINY_FMP,
        &["--train-limit", "1000", "--lr", "0.01", "--seed", "11"],
    ))
}

#[test]
fn fmp_interrupted_at_random_moments_ends_as_an_uninterrupted_run() {
    interrupted_equals_uninterrupted(fmp(), 1, &[], |_| ());
}

#[test]
fn gan_interrupted_at_random_moments_ends_as_an_uninterrupted_run() {
    let trainer = Trainer::new(argv(
        TINY_GAN,
        &[
            "--train-limit",
            "3000",
            "--d-pieces",
            "2",
            "--d-init",
            "0.05",
            "--parzen-every",
            "1",
            "--parzen-samples",
            "200",
            "--parzen-valid",
            "100",
            "--seed",
            "12",
        ],
    ));
    interrupted_equals_uninterrupted(trainer, 2, &["samples/epoch_002.png"], |_| ());
}

#[test]
fn inception_interrupted_at_random_moments_ends_as_an_uninterrupted_run() {
    let trainer = Trainer::new(argv(
        TINY_INCEPTION,
        &["--train-limit", "128", "--ema-decay", "0.9", "--seed", "13"],
    ));
    let files = ["predictions.csv", "weights.safetensors"];
    interrupted_equals_uninterrupted(trainer, 3, &files, |_| ());
}

#[test]
fn folder_inception_with_workers_interrupted_at_random_moments_ends_as_an_uninterrupted_run() {
    let trainer = Trainer::new(argv(
        TINY_FOLDER_INCEPTION,
        &["--ema-decay", "0.9", "--seed", "14"],
    ));
    let files = ["predictions.csv", "weights.safetensors"];
    interrupted_equals_uninterrupted(trainer, 4, &files, imagenet_folder);
}

/// kill -9 as soon as config.json exists, so before the first checkpoint:
/// --resume says in one line that it starts from the beginning with the
/// saved configuration, and ends as the uninterrupted run.
#[test]
fn a_run_killed_before_its_first_checkpoint_resumes_from_the_beginning() {
    let _serial = serial();
    let ws = workspace_with_binary();
    let trainer = fmp();
    reference(ws.path(), &trainer);
    let dir = trainer.dir(ws.path(), "early");
    let mut args = trainer.args.clone();
    args.extend(["--name".into(), "early".into(), "--quiet".into()]);
    let mut child = spawn(ws.path(), &args);
    assert!(
        wait_for(&mut child, "early", || dir.join("config.json").is_file()),
        "the run ended before config.json appeared"
    );
    send(&mut child, Signal::Kill);
    let (status, _) = finish(child, "early");
    assert_eq!(status.signal(), Some(9));
    assert!(!dir.join("checkpoints/last.safetensors").exists());

    // A new run under that name is refused; --resume starts it over.
    let mut again = args.clone();
    again.retain(|a| a != "--quiet");
    fails(output(ws.path(), &again), 2, &["--resume"]);
    let out = ok(output(
        ws.path(),
        &["train-fmp", "--name", "early", "--resume", "--threads", "1"],
    ));
    let err = stderr(&out);
    check_resume_line("early", &err, true);
    let line = err.lines().find(|l| l.contains(NO_CHECKPOINT)).unwrap();
    assert!(
        line.contains("config.json") && line.contains("early"),
        "{line}"
    );
    same_as_reference(ws.path(), &trainer, "early", &[]);
}

/// A kill between the two writes of an epoch's end (best.safetensors when
/// the epoch is the best so far, then last.safetensors) must not lose the
/// best checkpoint: had last.safetensors been written first, --resume would
/// continue from it, already counting the epoch as best, and nothing would
/// write best.safetensors again. The random kills above land there now and
/// then; this makes it certain: a directory in the way of best.safetensors'
/// temporary file makes the process fail at that write, as if killed there.
#[test]
fn best_checkpoint_survives_a_crash_between_the_two_checkpoint_writes() {
    let _serial = serial();
    let ws = workspace_with_binary();
    let trainer = fmp();
    reference(ws.path(), &trainer);
    let whole = trainer.dir(ws.path(), "reference");
    let best_epoch = json(&whole.join("summary.json"))["best_epoch"]
        .as_i64()
        .unwrap();
    // 1000 images in batches of 50: one step before the best epoch's end.
    let stop = (best_epoch * 20 - 1).to_string();
    let mut args = trainer.args.clone();
    args.extend(["--name", "crashed", "--quiet", "--max-steps", &stop].map(String::from));
    ok(output(ws.path(), &args));
    let dir = trainer.dir(ws.path(), "crashed");
    let blocker = dir.join("checkpoints/best.safetensors.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let resume = ["train-fmp", "--name", "crashed", "--resume", "--quiet"];
    fails(output(ws.path(), &resume), 1, &["best.safetensors"]);
    std::fs::remove_dir(&blocker).unwrap();
    ok(output(ws.path(), &resume));
    same_as_reference(ws.path(), &trainer, "crashed", &[]);
    let best = dir.join("checkpoints/best.safetensors");
    assert!(
        best.is_file(),
        "{} is missing, though summary.json says best_epoch {}",
        best.display(),
        json(&dir.join("summary.json"))["best_epoch"]
    );
    same_checkpoint(&whole.join("checkpoints/best.safetensors"), &best);
}
