//! --profile STEPS: libtorch's profiler (csrc/profiler.cpp) records that
//! many training steps after a short warm-up, each inside a
//! `paperlab::step` range that the engine opens, and writes into the run
//! directory `profile/trace.json` (a Chrome trace: Perfetto or
//! chrome://tracing), `profile/ops.csv` (each op's calls and self times per
//! step) and `profile/figures.json`, the per-step figures that a finished
//! run's summary.json also holds under "profile":
//! ops dispatched, host reads, allocations, host time, and on CUDA kernel
//! launches, copies to the host and the device's idle time. What a GPU step
//! costs beyond its kernels is these counts, which the CPU measures too.

pub mod events;
pub mod figures;

use crate::error::{run, Result};
use crate::runner::store::run_dir::RunDir;
use events::Range;
use figures::{Recording, STEP_RANGE};
use std::collections::BTreeMap;
use std::path::Path;
use tch::Device;

/// Steps run before the recording starts: the first steps allocate what
/// later ones reuse (and on CUDA choose their kernels).
pub const WARMUP: u64 = 2;

/// The profiler's part of a run: when to record and, once recorded, the
/// figures.
pub struct Profile {
    /// Steps to record; None: no profiling (or not this process's to do).
    steps: Option<u64>,
    cuda: bool,
    /// Steps this process has taken so far.
    taken: u64,
    recording: bool,
    figures: Option<BTreeMap<String, f64>>,
}

impl Profile {
    /// `steps` from --profile; only the process that writes the run's files
    /// records.
    pub fn new(steps: Option<u64>, device: Device, writer: bool) -> Profile {
        Profile {
            steps: steps.filter(|_| writer),
            cuda: device.is_cuda(),
            taken: 0,
            recording: false,
            figures: None,
        }
    }

    /// Before a step: the recording starts once the warm-up is over. The
    /// returned range marks the step in the trace until dropped.
    pub fn before_step(&mut self) -> Result<Option<Range>> {
        if self.steps.is_none() {
            return Ok(None);
        }
        if self.taken == WARMUP && !self.recording {
            events::start(self.cuda).map_err(|e| run(format!("--profile: {e}")))?;
            self.recording = true;
        }
        Ok(self.recording.then(|| Range::open(STEP_RANGE)))
    }

    /// After a step: the recording ends once it holds its steps.
    pub fn after_step(&mut self, dir: &RunDir) -> Result<()> {
        self.taken += 1;
        if self.recording && Some(self.taken) == self.steps.map(|s| WARMUP + s) {
            self.finish(dir)?;
        }
        Ok(())
    }

    /// End a recording that is still running (the run stopped or ended
    /// first) and write what it holds.
    pub fn finish(&mut self, dir: &RunDir) -> Result<()> {
        if !self.recording {
            return Ok(());
        }
        self.recording = false;
        let folder = dir.file("profile");
        std::fs::create_dir_all(&folder).map_err(|e| run(format!("{}: {e}", folder.display())))?;
        let events =
            events::stop(&folder.join("trace.json")).map_err(|e| run(format!("--profile: {e}")))?;
        let recording = Recording::new(events);
        write_ops(&folder.join("ops.csv"), &recording, self.cuda)?;
        let figures = recording.figures(self.cuda);
        dir.write_json("profile/figures.json", &figures)?;
        self.figures = Some(figures);
        Ok(())
    }

    /// summary.json's "profile" figures, once recorded.
    pub fn figures(&self) -> Option<&BTreeMap<String, f64>> {
        self.figures.as_ref()
    }
}

/// ops.csv: op, calls per step, self host time per step (µs) and, on
/// CUDA, the self device time per step (µs).
fn write_ops(path: &Path, recording: &Recording, cuda: bool) -> Result<()> {
    let err = |e: csv::Error| run(format!("{}: {e}", path.display()));
    let mut out = csv::Writer::from_path(path).map_err(err)?;
    let mut header = vec!["op", "calls_per_step", "self_cpu_us_per_step"];
    if cuda {
        header.push("self_cuda_us_per_step");
    }
    out.write_record(&header).map_err(err)?;
    let n = recording.steps().max(1) as f64;
    for row in recording.op_table() {
        let mut record = vec![
            row.name,
            format!("{}", row.calls as f64 / n),
            format!("{:.3}", row.self_cpu_ns as f64 / 1e3 / n),
        ];
        if cuda {
            record.push(format!("{:.3}", row.self_device_ns as f64 / 1e3 / n));
        }
        out.write_record(&record).map_err(err)?;
    }
    out.flush()
        .map_err(|e| run(format!("{}: {e}", path.display())))
}
