//! The per-step log of a training run: steps.csv and TensorBoard event
//! files (runner/record/events.rs), so a run can be watched while it trains.
//!
//! Every `--log-every` optimizer steps the engine takes the window of the
//! running sums since the previous log point (the trainer's losses and
//! whatever else it adds, such as Inception's gradient norm: their means
//! over those steps) with the scheduled hyperparameters. The window stays
//! on the device until the engine reads its sums anyway (progress updates,
//! epoch ends, checkpoints): no host read is added to a step. The images/s
//! is taken at that read, over the steps since the previous one. The event files also get every metrics.csv column at
//! each epoch's last step, the trainer's images, the config as text, and
//! the HParams plugin's session info (so the HParams tab lists a sweep).
//!
//! Resuming keeps each step once: steps.csv is cut back to the rows of the
//! checkpoint's steps, and the new event file starts with a SessionLog START
//! just after the checkpoint's step, so TensorBoard drops what the killed
//! process wrote after it. In a distributed run only the writer (rank 0)
//! writes, but every process takes and reads the same windows (the read is
//! a collective).

use crate::error::{run, Result};
use crate::runner::engine::sums::{read, Window};
use crate::runner::record::events::{existing, EventFile, HValue};
use crate::runner::record::metrics::Metrics;
use crate::runner::store::flat_config::leaves;
use crate::runner::store::run_dir::RunDir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;

/// A log point's host values, waiting (with its window) to be written.
struct Pending {
    step: i64,
    epoch: i64,
    /// The scheduled hyperparameters.
    host: Vec<(String, f64)>,
}

/// What only the writer has.
struct Files {
    events: EventFile,
    /// steps.csv, opened at its first row (its columns are the first log
    /// point's names) or, when resuming, at once with its own header.
    csv: Option<Metrics>,
    csv_path: PathBuf,
    /// metrics.csv's header, for the per-epoch scalars.
    metrics_header: Vec<String>,
}

pub struct StepLog {
    every: i64,
    device: Device,
    files: Option<Files>,
    pending: Vec<Pending>,
    /// The pending log points' windows, on the device.
    windows: Vec<Window>,
    /// Images the epoch's steps took so far.
    images: i64,
    /// The read the next images/s counts from (or the epoch's start): its
    /// time and `images` then.
    since: Instant,
    images_at: i64,
}

/// Where training stands when the log opens.
pub struct Start {
    /// The run continues an earlier process's (--resume).
    pub resume: bool,
    /// Steps taken before (the resumed checkpoint's; 0 without one).
    pub step: i64,
}

/// Per-step tags, and steps.csv's columns after step and epoch, are
/// `train/<name>`; per-epoch ones `epoch/<metrics.csv column>`.
const STEP_TAG: &str = "train/";
const EPOCH_TAG: &str = "epoch/";

impl StepLog {
    /// The log of the run in `dir`, every `every` steps (0: none, and no
    /// files); `writer`: this process writes the files. The config text and
    /// hyperparameters are written when the run starts at step 0.
    pub fn open(
        dir: &RunDir,
        every: i64,
        writer: bool,
        start: Start,
        metrics_header: &[&str],
        device: Device,
    ) -> Result<StepLog> {
        let files = match every > 0 && writer {
            true => Some(Files::open(dir, every, &start, metrics_header)?),
            false => None,
        };
        Ok(StepLog {
            every,
            device,
            files,
            pending: vec![],
            windows: vec![],
            images: 0,
            since: Instant::now(),
            images_at: 0,
        })
    }

    /// Steps between log points (0: no log, no windows, no files).
    pub fn every(&self) -> i64 {
        self.every
    }

    /// Whether `step` (steps taken) is a log point.
    pub fn due(&self, step: i64) -> bool {
        self.every > 0 && step % self.every == 0
    }

    /// An epoch starts: images/s counts from here (not over evaluations).
    pub fn start_epoch(&mut self) {
        (self.images, self.since, self.images_at) = (0, Instant::now(), 0);
    }

    /// A step took `images` (for images/s).
    pub fn count(&mut self, images: i64) {
        self.images += images;
    }

    /// Log point `step` of `epoch`: the sums' `window` and the scheduled
    /// `hyperparameters`.
    pub fn push(
        &mut self,
        step: i64,
        epoch: i64,
        window: Window,
        hyperparameters: Vec<(&'static str, f64)>,
    ) {
        let host = hyperparameters
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.pending.push(Pending { step, epoch, host });
        self.windows.push(window);
    }

    /// Read the pending log points (one host read) and write them, each
    /// with the images/s since the previous such read: taken after this
    /// one, when the device has run every step counted (on CUDA, earlier it
    /// would time the host queueing work). Every process calls it at the
    /// same points.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let means = read(&std::mem::take(&mut self.windows), self.device)?;
        let seconds = self.since.elapsed().as_secs_f64();
        let rate = (self.images - self.images_at) as f64 / seconds.max(f64::MIN_POSITIVE);
        (self.since, self.images_at) = (Instant::now(), self.images);
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        for (p, mut values) in pending.into_iter().zip(means) {
            values.extend(p.host);
            values.push(("images_per_sec".into(), rate));
            files.row(p.step, p.epoch, &values)?;
        }
        files.events.flush()
    }

    /// Epoch end at `step`: metrics.csv's `row` as scalars.
    pub fn epoch_end(&mut self, step: i64, row: &[f64]) -> Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        let values: Vec<(String, f64)> = files
            .metrics_header
            .iter()
            .zip(row)
            .map(|(k, v)| (format!("{EPOCH_TAG}{k}"), *v))
            .collect();
        files.events.scalars(step, &values)?;
        files.events.flush()
    }

    /// The PNG file at `png` as image `tag` at `step`.
    pub fn image(&mut self, step: i64, tag: &str, png: &Path) -> Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        files.events.image(step, tag, &read_file(png)?)?;
        files.events.flush()
    }

    /// All epochs ran: the HParams plugin's session end.
    pub fn finish(&mut self, step: i64) -> Result<()> {
        let Some(files) = &mut self.files else {
            return Ok(());
        };
        files.events.hparams_end(step)?;
        files.events.flush()
    }
}

impl Files {
    fn open(dir: &RunDir, every: i64, start: &Start, metrics_header: &[&str]) -> Result<Files> {
        let mut events = EventFile::create(dir, None)?;
        let csv_path = dir.file("steps.csv");
        let mut csv = None;
        if start.resume {
            // TensorBoard keeps the steps before the START: the checkpoint's.
            let first = match start.step {
                0 => 0,
                s => s + 1,
            };
            events.session_start(first)?;
            if csv_path.exists() {
                let header = csv_header(&csv_path)?;
                let header: Vec<&str> = header.iter().map(String::as_str).collect();
                let keep = (start.step / every) as usize;
                csv = Some(Metrics::open(&csv_path, &header, Some(keep))?);
            }
        }
        if start.step == 0 {
            let text = read_file(&dir.file("config.json"))?;
            let text = String::from_utf8_lossy(&text);
            let config: Value = serde_json::from_str(&text)?;
            // Indented four spaces: a code block in the text plugin's Markdown.
            let block: String = text.lines().map(|l| format!("    {l}\n")).collect();
            events.text(0, "config", &block)?;
            events.hparams(&hparams(&config))?;
        }
        events.flush()?;
        Ok(Files {
            events,
            csv,
            csv_path,
            metrics_header: metrics_header.iter().map(|h| h.to_string()).collect(),
        })
    }

    /// One log point: a steps.csv row and an Event of scalars.
    fn row(&mut self, step: i64, epoch: i64, values: &[(String, f64)]) -> Result<()> {
        let csv = match &mut self.csv {
            Some(csv) => csv,
            None => {
                let mut header = vec!["step", "epoch"];
                header.extend(values.iter().map(|(k, _)| k.as_str()));
                self.csv
                    .insert(Metrics::open(&self.csv_path, &header, None)?)
            }
        };
        let cells: Vec<f64> = csv
            .header()
            .iter()
            .map(|h| match h.as_str() {
                "step" => step as f64,
                "epoch" => epoch as f64,
                name => values
                    .iter()
                    .find(|(k, _)| k == name)
                    .map_or(f64::NAN, |(_, v)| *v),
            })
            .collect();
        csv.write(&cells)?;
        let tagged: Vec<(String, f64)> = values
            .iter()
            .map(|(k, v)| (format!("{STEP_TAG}{k}"), *v))
            .collect();
        self.events.scalars(step, &tagged)
    }
}

/// The HParams tab's hyperparameters: config.json's command and flattened
/// config (lists and nulls as their JSON text).
fn hparams(saved: &Value) -> Vec<(String, HValue)> {
    let mut out = vec![(
        "command".to_string(),
        HValue::Text(saved["command"].as_str().unwrap_or_default().into()),
    )];
    out.extend(leaves(&saved["config"]).into_iter().map(|(k, v)| {
        let v = match v {
            Value::Number(n) => HValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(b) => HValue::Flag(b),
            Value::String(s) => HValue::Text(s),
            other => HValue::Text(other.to_string()),
        };
        (k, v)
    }));
    out.push((
        "seed".into(),
        HValue::Number(saved["seed"].as_f64().unwrap_or(0.0)),
    ));
    out
}

fn csv_header(path: &Path) -> Result<Vec<String>> {
    let bad = |e: &dyn std::fmt::Display| run(format!("cannot read {}: {e}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(&e))?;
    let header = reader.headers().map_err(|e| bad(&e))?;
    Ok(header.iter().map(String::from).collect())
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| run(format!("cannot read {}: {e}", path.display())))
}

/// An evaluation's figure (e.g. eval-reconstruction's PNG at `png`) as the
/// image `name` at `step`, in an event file of its own (its name ends in
/// `.<name>`) that replaces the one an earlier evaluation of that name
/// wrote; nothing for a run that logs nothing (`every` 0).
pub fn evaluation_image(dir: &RunDir, every: u64, name: &str, step: i64, png: &Path) -> Result<()> {
    if every == 0 {
        return Ok(());
    }
    let suffix = format!(".{name}");
    for old in existing(&dir.path) {
        if old.to_string_lossy().ends_with(&suffix) {
            std::fs::remove_file(&old)
                .map_err(|e| run(format!("cannot replace {}: {e}", old.display())))?;
        }
    }
    let mut events = EventFile::create(dir, Some(name))?;
    events.image(step, name, &read_file(png)?)?;
    events.flush()
}
