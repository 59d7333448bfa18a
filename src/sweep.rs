//! `paperlab sweep FILE`: a list of runs in one TOML file, run here (up to
//! --jobs at a time, skipping finished runs and resuming unfinished ones, so
//! an interrupted sweep continues) and then compared; or written as a Slurm
//! job array that runs the same list on a cluster. With --tasks-per-run N
//! each run is one distributed run of N processes started by srun (the
//! process group is runner/dist/'s, reading srun's variables).
//!
//! ```toml
//! command = "train-fmp"          # the subcommand of every run
//! [flags]                        # flags of every run (keys are flag names)
//! config = "experiments/fmp-demo.toml"
//! [[runs]]                       # one table per run: its name and flags
//! name = "pseudorandom-overlapping"
//! fmp-sequence = "pseudorandom"
//! ```
//!
//! Seeds and a grid repeat the runs: `seeds = [1, 2, 3]` (or `--seeds
//! 1,2,3`, which replaces it) sets each copy's --seed, and a `[grid]` table
//! of lists (or `--grid key=a,b`, repeatable, replacing the file's axis of
//! that name) crosses every run with the cartesian product of its axes.
//! Without `[[runs]]`, the grid and seeds alone make the list. The list is
//! ordered run by run, then cell by cell (the first axis slowest), then
//! seed by seed (the file's axes in their keys' alphabetical order, then
//! the other --grid axes in theirs), and each copy is named from them:
//! `<sweep>-<run>-<key>=<value>...-seed=<seed>` (characters other than
//! letters, digits and `._=+-` become `_`). A grid value wins over the
//! run's own flag of that name; a grid axis cannot also be a --set key, and
//! seeds and a `seed` flag exclude each other.

use crate::compare::{self, plot::Axis, CompareArgs};
use crate::error::{exit_code, requeued, run as run_error, usage, Result, EXIT_REQUEUED};
use crate::runner::compute::threads;
use crate::runner::engine::interrupt;
use crate::runner::store::preset::{self, flag, flags_of, scalar};
use crate::runner::store::run_dir::write_atomic;
use clap::Args;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    /// The sweep file (experiments/sweeps/*.toml).
    pub file: PathBuf,
    /// Runs trained at the same time, each on its share of this process's CPU threads (passed as OMP_NUM_THREADS; a run's own --threads wins).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: u32,
    /// KEY=VALUE: a flag for every run, over the file's (e.g. epochs=30).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seeds each run is repeated with, as a list (--seeds 1,2,3); replaces the file's `seeds`.
    #[arg(long, value_delimiter = ',', value_name = "SEED,...")]
    pub seeds: Vec<u64>,
    /// KEY=A,B,...: a grid axis (repeatable), replacing the file's [grid] KEY; every run is repeated for each cell of the axes' cartesian product.
    #[arg(long = "grid", value_name = "KEY=A,B,...")]
    pub grid: Vec<String>,
    /// Where the runs go: <out>/<subcommand>/<sweep>-<run>, and the comparison to <out>/sweeps/<sweep>.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Only run number N of the list (0-based; how a Slurm array task runs its run).
    #[arg(long)]
    pub only: Option<usize>,
    /// Write a Slurm job-array script running the list here, instead of running it; its --cpus-per-task is each process's threads (the runs' own, else this machine's CPUs per process) unless --sbatch sets it.
    #[arg(long, value_name = "SCRIPT")]
    pub slurm: Option<PathBuf>,
    /// A line for the script's #SBATCH header, e.g. --sbatch=--gres=gpu:1 (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    pub sbatch: Vec<String>,
    /// Processes per run: above 1, every run is one distributed run started as `srun --ntasks=N paperlab train-...` (inside a Slurm allocation; with --slurm each array task asks for N tasks). GPUs per task go in --sbatch, e.g. --sbatch=--gpus-per-task=1.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub tasks_per_run: u32,
    /// With --slurm: Slurm warns the job this many seconds before its time limit (#SBATCH --signal=B:USR1@SECONDS); its run then checkpoints and requeues the job, which continues the run. Leave time for a step and a checkpoint.
    #[arg(long, value_name = "SECONDS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=65535))]
    pub signal_lead: u32,
}

/// One run of the list: its name and full command line after `paperlab`.
pub struct Planned {
    pub name: String,
    pub dir: PathBuf,
    pub argv: Vec<OsString>,
    /// Its own `threads` (its flags', else its preset's), for the Slurm
    /// script's --cpus-per-task; None when neither sets a whole number.
    pub threads: Option<usize>,
}

/// A training subcommand as it parses the given words after its name (the
/// flags of train-gan's --model depend on it): `cli::subcommand`.
pub type Parser = dyn Fn(&str, &[OsString]) -> Option<clap::Command>;

/// The sweep's name (the file's stem) and its runs.
pub fn plan(args: &SweepArgs, parser: &Parser) -> Result<(String, Vec<Planned>)> {
    let file = &args.file;
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| usage(format!("{origin}: cannot read it: {e}")))?;
    let mut table: toml::Table = text
        .parse()
        .map_err(|e| usage(format!("{origin}: not valid TOML: {e}")))?;
    let sweep = file
        .file_stem()
        .map_or("sweep".into(), |s| s.to_string_lossy().into_owned());
    let command = match table.remove("command") {
        Some(toml::Value::String(c)) => c,
        _ => return Err(usage(format!("{origin}: expected command = \"train-...\""))),
    };
    let training = |sub: Option<clap::Command>| {
        sub.filter(|s| s.get_arguments().any(|a| a.get_long() == Some("resume")))
            .ok_or_else(|| {
                usage(format!(
                    "{origin}: {command:?} is not a training subcommand"
                ))
            })
    };
    training(parser(&command, &[]))?;
    let common = match table.remove("flags") {
        Some(toml::Value::Table(t)) => t,
        None => toml::Table::new(),
        _ => return Err(usage(format!("{origin}: [flags] must be a table"))),
    };
    let seeds = seeds_of(table.remove("seeds"), &args.seeds, &origin)?;
    let axes = grid_of(table.remove("grid"), &args.grid, &origin)?;
    let list: Vec<(Option<String>, toml::Table)> = match table.remove("runs") {
        Some(toml::Value::Array(list)) => list
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let toml::Value::Table(mut own) = item else {
                    return Err(usage(format!("{origin}: run {i} is not a table")));
                };
                match own.remove("name") {
                    Some(toml::Value::String(n)) => Ok((Some(n), own)),
                    _ => Err(usage(format!("{origin}: run {i} has no name = \"...\""))),
                }
            })
            .collect::<Result<_>>()?,
        None if !axes.is_empty() || !seeds.is_empty() => vec![(None, toml::Table::new())],
        _ => {
            return Err(usage(format!(
                "{origin}: expected [[runs]] tables, a [grid] or seeds"
            )))
        }
    };
    if let Some(key) = table.keys().next() {
        return Err(usage(format!(
            "{origin}: unknown key {key:?}; a sweep has command, [flags], [[runs]], [grid] and seeds"
        )));
    }
    let mut overrides = toml::Table::new();
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| usage(format!("--set {kv}: expected KEY=VALUE")))?;
        if let Some(axis) = axes.iter().find(|a| a.key == k) {
            return Err(usage(format!(
                "--set {kv}: {k} is also a grid axis ({}); give it one way",
                axis.origin
            )));
        }
        overrides.insert(k.into(), toml::Value::String(v.into()));
    }
    let seeds: Vec<Option<u64>> = match seeds.is_empty() {
        true => vec![None],
        false => seeds.into_iter().map(Some).collect(),
    };
    let mut runs = vec![];
    let mut names = BTreeSet::new();
    for (run, own) in list {
        for cell in cells(&axes) {
            for seed in &seeds {
                let mut parts: Vec<String> = vec![sweep.clone()];
                parts.extend(run.clone());
                parts.extend(cell.iter().map(|(k, v)| format!("{k}={}", scalar(v))));
                parts.extend(seed.map(|s| format!("seed={s}")));
                let name = safe_name(&parts.join("-"));
                if !names.insert(name.clone()) {
                    return Err(usage(format!(
                        "{origin}: two runs would both be named {name}; give the runs (or grid values) names that differ"
                    )));
                }
                let mut own = own.clone();
                own.extend(cell.iter().map(|(k, v)| (k.to_string(), (*v).clone())));
                if let Some(seed) = seed {
                    if common.contains_key("seed")
                        || own.contains_key("seed")
                        || overrides.contains_key("seed")
                    {
                        return Err(usage(format!(
                            "{origin}, run {name}: both a seed flag and seeds are given; seeds sets each run's seed"
                        )));
                    }
                    own.insert("seed".into(), toml::Value::Integer(*seed as i64));
                }
                runs.push((name, own));
            }
        }
    }
    let mut planned = vec![];
    for (name, own) in runs {
        let mut flags = common.clone();
        flags.extend(own);
        flags.extend(overrides.clone());
        let mut argv: Vec<OsString> = vec![command.clone().into()];
        let mut threads = flags.get("threads").cloned();
        // A preset under the run's flags: layered by the run itself.
        match flags.remove("config") {
            Some(toml::Value::String(preset)) => {
                threads = threads.or_else(|| preset::value(Path::new(&preset), "threads"));
                argv.push(format!("--config={preset}").into())
            }
            Some(_) => {
                return Err(usage(format!(
                    "{origin}, run {name}: config must be a path"
                )))
            }
            None => {}
        }
        // The run's choice of flags (train-gan's --model), with its preset.
        let mut chosen = argv[1..].to_vec();
        let model = flags.get("model").and_then(|m| m.as_str());
        chosen.extend(model.map(|m| format!("--model={m}").into()));
        let sub = training(parser(&command, &chosen))?;
        for axis in axes.iter().filter(|a| a.key != "config") {
            let key = toml::Table::from_iter([(axis.key.clone(), axis.values[0].clone())]);
            flags_of(key, &sub, &axis.origin)?;
        }
        for (arg, value) in flags_of(flags, &sub, &format!("{origin}, run {name}"))? {
            argv.extend(flag(arg, &value));
        }
        argv.extend([
            "--name".into(),
            name.clone().into(),
            "--out".into(),
            args.out.clone().into(),
        ]);
        let dir = args.out.join(&command).join(&name);
        let threads = threads.and_then(|v| scalar(&v).parse().ok());
        planned.push(Planned {
            name,
            dir,
            argv,
            threads,
        });
    }
    Ok((sweep, planned))
}

/// The seeds: `--seeds` where given, else the file's `seeds` list (checked
/// either way); empty when neither lists any.
fn seeds_of(file: Option<toml::Value>, flag: &[u64], origin: &str) -> Result<Vec<u64>> {
    let listed = match file {
        None => vec![],
        Some(toml::Value::Array(items)) if items.is_empty() => {
            return Err(usage(format!("{origin}: seeds is an empty list")))
        }
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
                other => Err(usage(format!(
                    "{origin}: seeds: {other} is not a whole number from 0"
                ))),
            })
            .collect::<Result<_>>()?,
        Some(_) => {
            return Err(usage(format!(
                "{origin}: seeds must be a list of whole numbers, e.g. seeds = [1, 2, 3]"
            )))
        }
    };
    Ok(match flag.is_empty() {
        true => listed,
        false => flag.to_vec(),
    })
}

/// One axis of the grid: a flag's name, its values, and where it was given
/// (for messages: the file's [grid] or --grid).
struct GridAxis {
    key: String,
    values: Vec<toml::Value>,
    origin: String,
}

/// The grid's axes: the file's [grid] in key order (a TOML table's), each replaced by a
/// --grid of the same key, then the other --grid axes in their order.
fn grid_of(file: Option<toml::Value>, flags: &[String], origin: &str) -> Result<Vec<GridAxis>> {
    let mut axes = vec![];
    let table = match file {
        None => toml::Table::new(),
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err(usage(format!("{origin}: [grid] must be a table of lists"))),
    };
    let file_origin = format!("{origin} [grid]");
    for (key, value) in table {
        let values = match value {
            toml::Value::Array(v) if v.iter().all(|x| !x.is_array() && !x.is_table()) => v,
            _ => {
                return Err(usage(format!(
                    "{file_origin}: {key} must be a list of values, e.g. {key} = [\"a\", \"b\"]"
                )))
            }
        };
        axes.push(GridAxis {
            key,
            values,
            origin: file_origin.clone(),
        });
    }
    for kv in flags {
        let (key, list) = kv
            .split_once('=')
            .ok_or_else(|| usage(format!("--grid {kv}: expected KEY=A,B,...")))?;
        let values = match list.is_empty() {
            true => vec![],
            false => list
                .split(',')
                .map(|v| toml::Value::String(v.into()))
                .collect(),
        };
        let axis = GridAxis {
            key: key.into(),
            values,
            origin: "--grid".into(),
        };
        match axes.iter_mut().find(|a| a.key == key) {
            Some(old) => *old = axis,
            None => axes.push(axis),
        }
    }
    for axis in &axes {
        if axis.values.is_empty() || axis.values.iter().any(|v| v.as_str() == Some("")) {
            return Err(usage(format!(
                "{}: {} has an empty list (or an empty value)",
                axis.origin, axis.key
            )));
        }
        if axis.key == "seed" {
            return Err(usage(format!(
                "{}: seed is not a grid axis; list the seeds in seeds (or --seeds)",
                axis.origin
            )));
        }
    }
    Ok(axes)
}

/// The cartesian product of the axes, the first axis slowest: one cell,
/// empty, for no axes.
fn cells(axes: &[GridAxis]) -> Vec<Vec<(&str, &toml::Value)>> {
    let mut cells = vec![vec![]];
    for axis in axes {
        cells = cells
            .into_iter()
            .flat_map(|cell| {
                axis.values.iter().map(move |v| {
                    let mut next = cell.clone();
                    next.push((axis.key.as_str(), v));
                    next
                })
            })
            .collect();
    }
    cells
}

/// A run name safe as one path component: other characters than letters,
/// digits and `._=+-` become `_`.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._=+-".contains(c) {
            true => c,
            false => '_',
        })
        .collect()
}

pub fn run(args: SweepArgs, parser: &Parser) -> Result<()> {
    interrupt::install_requeue();
    let (sweep, runs) = plan(&args, parser)?;
    if let Some(script) = &args.slurm {
        return write_slurm(&args, &sweep, &runs, script);
    }
    let chosen: Vec<&Planned> = match args.only {
        Some(i) => vec![runs.get(i).ok_or_else(|| {
            usage(format!(
                "--only {i}: the sweep has {} runs (0 to {})",
                runs.len(),
                runs.len().saturating_sub(1)
            ))
        })?],
        None => runs.iter().collect(),
    };
    let threads = run_threads(args.jobs, args.tasks_per_run)?;
    let logs = args.out.join("sweeps").join(&sweep);
    std::fs::create_dir_all(&logs)
        .map_err(|e| usage(format!("--out: cannot create {}: {e}", logs.display())))?;
    let next = AtomicUsize::new(0);
    let (failed, stopped) = (Mutex::new(vec![]), Mutex::new(vec![]));
    std::thread::scope(|scope| {
        for _ in 0..args.jobs {
            scope.spawn(|| loop {
                // After SIGUSR1 no run starts: the job is about to end.
                if interrupt::requeue_requested() {
                    return;
                }
                let Some(run) = chosen.get(next.fetch_add(1, Ordering::SeqCst)) else {
                    return;
                };
                let Err(e) = train(run, &logs, args.jobs > 1, args.tasks_per_run, threads) else {
                    continue;
                };
                let list = match exit_code(&e) == EXIT_REQUEUED {
                    true => &stopped,
                    false => &failed,
                };
                eprintln!("sweep: {}: {e:#}", run.name);
                list.lock()
                    .expect("no panics while held")
                    .push(run.name.clone());
            });
        }
    });
    let failed = failed.into_inner().expect("no panics while held");
    if !failed.is_empty() {
        return Err(run_error(format!(
            "{} of {} runs failed ({}); their logs are in {}; rerun the sweep to retry them",
            failed.len(),
            chosen.len(),
            failed.join(", "),
            logs.display()
        )));
    }
    let stopped = stopped.into_inner().expect("no panics while held");
    if interrupt::requeue_requested() || !stopped.is_empty() {
        return Err(requeued(format!(
            "SIGUSR1: runs stopped with a checkpoint ({}); the sweep continues them when it runs again",
            stopped.join(", ")
        )));
    }
    if args.only.is_some() {
        return Ok(());
    }
    compare::run(CompareArgs {
        runs: runs.iter().map(|r| r.dir.clone()).collect(),
        metric: vec![],
        x: Axis::Epoch,
        out: logs,
        force: true,
        quiet: false,
        group_by: vec![],
        claims: None,
    })
}

/// The CPU threads of each of `jobs` runs at a time: this process's share
/// ([`threads::of_this_process`]) divided among them, at least 1; None for
/// one at a time (a run takes the share itself) and for srun's runs
/// (`tasks` > 1: each task takes Slurm's share).
fn run_threads(jobs: u32, tasks: u32) -> Result<Option<usize>> {
    let share = threads::of_this_process(None)?.intra;
    Ok((jobs > 1 && tasks == 1).then(|| (share / jobs as usize).max(1)))
}

/// Train one run as a child process: skipped when it has a summary.json,
/// else run with --resume=auto (continued when its directory exists). With
/// `quiet`, its output goes to `<logs>/<name>.log` (parallel runs would
/// interleave on the terminal). With `tasks` > 1 the child is srun,
/// starting that many processes of one distributed run (each decides on
/// --resume=auto before they meet, so all decide alike). `threads`: the
/// child's OMP_NUM_THREADS ([`run_threads`]). A run stopped by SIGUSR1
/// returns the requeued error (exit 75).
fn train(
    run: &Planned,
    logs: &Path,
    quiet: bool,
    tasks: u32,
    threads: Option<usize>,
) -> Result<()> {
    if run.dir.join("summary.json").exists() {
        eprintln!("sweep: {} is done (summary.json exists); skipped", run.name);
        return Ok(());
    }
    let mut argv = run.argv.clone();
    // Continued if it exists, started otherwise, saying which: decided by
    // the run itself, so a requeued job whose run had not yet started
    // starts it.
    argv.push("--resume=auto".into());
    let mut cmd = if tasks > 1 {
        // srun may start tasks on other nodes: they need the binary's
        // path, not this process's /proc/self/exe.
        let exe = std::env::current_exe()
            .map_err(|e| run_error(format!("cannot find paperlab itself: {e}")))?;
        let mut srun = Command::new("srun");
        srun.arg(format!("--ntasks={tasks}"));
        // srun 22.05 to 23.02 does not read the job's SLURM_CPUS_PER_TASK
        // (but passes it on to the tasks): ask for it.
        if let Ok(cpus) = std::env::var("SLURM_CPUS_PER_TASK") {
            srun.arg(format!("--cpus-per-task={cpus}"));
        }
        srun.arg(exe);
        srun
    } else {
        Command::new(this_binary()?)
    };
    cmd.args(&argv);
    if let Some(n) = threads {
        cmd.env("OMP_NUM_THREADS", n.to_string());
    }
    if quiet {
        let log = logs.join(format!("{}.log", run.name));
        let file = std::fs::File::create(&log)
            .map_err(|e| run_error(format!("cannot write {}: {e}", log.display())))?;
        cmd.arg("--quiet")
            .stdout(Stdio::from(
                file.try_clone().map_err(|e| run_error(e.to_string()))?,
            ))
            .stderr(Stdio::from(file));
    }
    eprintln!("sweep: {}: paperlab {}", run.name, shown(&argv));
    let launcher = if tasks > 1 {
        "srun (--tasks-per-run)"
    } else {
        "paperlab"
    };
    let child = cmd
        .spawn()
        .map_err(|e| run_error(format!("cannot start {launcher}: {e}")))?;
    match wait_passing_usr1(child)?.code() {
        Some(0) => Ok(()),
        Some(EXIT_REQUEUED) => Err(requeued(format!(
            "stopped on SIGUSR1 with a checkpoint (exit {EXIT_REQUEUED})"
        ))),
        code => Err(run_error(format!("exited with {code:?}"))),
    }
}

/// Wait for `child`, passing SIGUSR1 on to it (once) when this process
/// gets it: under `sweep --slurm`'s script Slurm signals this process alone
/// (`--signal=B:USR1`), and the run (or srun, which signals its tasks) is
/// what must checkpoint.
fn wait_passing_usr1(mut child: Child) -> Result<ExitStatus> {
    let mut passed = false;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| run_error(e.to_string()))? {
            return Ok(status);
        }
        if !passed && interrupt::requeue_requested() {
            // SAFETY: kill(2) with the pid of a child not yet waited for.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
            passed = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The binary every run of the sweep starts: Linux's /proc/self/exe, which
/// is this very binary even after a rebuild replaced or deleted its file
/// mid-sweep (so every run of a sweep runs the same code); elsewhere its path.
fn this_binary() -> Result<PathBuf> {
    let proc_exe = Path::new("/proc/self/exe");
    if std::fs::symlink_metadata(proc_exe).is_ok() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe().map_err(|e| run_error(format!("cannot find paperlab itself: {e}")))
}

fn shown(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A job array of `runs.len()` tasks, task N running `paperlab sweep FILE
/// --only N` from this directory with this binary, into the same results layout.
fn write_slurm(args: &SweepArgs, sweep: &str, runs: &[Planned], script: &Path) -> Result<()> {
    let count = runs.len();
    let here = std::env::current_dir().map_err(|e| run_error(e.to_string()))?;
    let exe = std::env::current_exe().map_err(|e| run_error(e.to_string()))?;
    let logs = args.out.join("sweeps").join(sweep);
    // Slurm opens each task's --output file before the task runs.
    std::fs::create_dir_all(&logs)
        .map_err(|e| usage(format!("--out: cannot create {}: {e}", logs.display())))?;
    let mut text = format!(
        "#!/bin/bash\n# paperlab sweep {file}: {count} runs, one array task each.\n# Submit with: sbatch {script}\n# When all tasks are done, `paperlab sweep {file}` (every run skipped) writes the comparison.\n#SBATCH --job-name=paperlab-{sweep}\n#SBATCH --array=0-{last}\n#SBATCH --output={logs}/slurm-%A_%a.log\n",
        file = args.file.display(),
        script = script.display(),
        last = count.saturating_sub(1),
        logs = logs.display(),
    );
    text += &requeue_lines(args.signal_lead);
    if args.tasks_per_run > 1 {
        text += &format!("#SBATCH --ntasks={}\n", args.tasks_per_run);
    }
    if let Some((cpus, from)) = cpus_per_task(args, runs)? {
        text += &format!("# --cpus-per-task: each process's CPU threads ({from})\n#SBATCH --cpus-per-task={cpus}\n");
    }
    for line in &args.sbatch {
        text += &format!("#SBATCH {line}\n");
    }
    let mut call = vec![
        exe.display().to_string(),
        "sweep".into(),
        args.file.display().to_string(),
        "--out".into(),
        args.out.display().to_string(),
    ];
    for kv in &args.set {
        call.extend(["--set".into(), kv.clone()]);
    }
    if !args.seeds.is_empty() {
        let seeds: Vec<String> = args.seeds.iter().map(u64::to_string).collect();
        call.extend(["--seeds".into(), seeds.join(",")]);
    }
    for kv in &args.grid {
        call.extend(["--grid".into(), kv.clone()]);
    }
    if args.tasks_per_run > 1 {
        call.extend(["--tasks-per-run".into(), args.tasks_per_run.to_string()]);
    }
    call.extend(["--only".into(), "\"$SLURM_ARRAY_TASK_ID\"".into()]);
    text += &format!(
        "set -euo pipefail\ncd {here}\n# exec: the sweep is the batch shell, which --signal=B: signals.\nexec {}\n",
        call.iter()
            .map(|a| if a.starts_with('"') {
                a.clone()
            } else {
                quote(a)
            })
            .collect::<Vec<_>>()
            .join(" "),
        here = quote(&here.display().to_string()),
    );
    write_atomic(script, text.as_bytes())?;
    eprintln!(
        "wrote {} ({count} array tasks); submit it with sbatch",
        script.display()
    );
    Ok(())
}

/// The header lines that let a task outlive its time limit or a preemption:
/// SIGUSR1 `lead` seconds ahead to the batch shell (the sweep, which passes
/// it on to its run; a step of the job would get it without B:, and the
/// sweep is none), the job requeueable, its log appended to when it runs
/// again. The run checkpoints, runs `scontrol requeue`, and the requeued
/// task continues it (--resume=auto).
fn requeue_lines(lead: u32) -> String {
    format!("#SBATCH --signal=B:USR1@{lead}\n#SBATCH --requeue\n#SBATCH --open-mode=append\n")
}

/// The script's --cpus-per-task and where it came from: the largest of the
/// runs' own `threads` (the array's tasks share one header), else the share
/// of this machine's CPUs a process of the run would take here
/// ([`threads::decide`] with --tasks-per-run processes); None when an
/// --sbatch line sets it (or --cpus-per-gpu, which excludes it).
fn cpus_per_task(args: &SweepArgs, runs: &[Planned]) -> Result<Option<(usize, String)>> {
    let given = |line: &String| {
        let option = line.split(['=', ' ']).next().unwrap_or("");
        ["--cpus-per-task", "--cpus-per-gpu"].contains(&option) || option.starts_with("-c")
    };
    if args.sbatch.iter().any(given) {
        return Ok(None);
    }
    if let Some(n) = runs.iter().filter_map(|r| r.threads).max() {
        return Ok(Some((n, "the runs' threads".into())));
    }
    let var = |k: &str| std::env::var(k).ok();
    let tasks = args.tasks_per_run as usize;
    let share = threads::decide(None, &var, threads::cpus(), tasks)?;
    let from = match share.source {
        threads::Source::Cpus => {
            format!("this machine's {} CPUs / {tasks} tasks per run", share.cpus)
        }
        source => format!("{} here", source.name()),
    };
    Ok(Some((share.intra, from)))
}

/// Single-quote `s` for bash.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
