//! Reading run directories for `compare`: only what every subcommand writes
//! (config.json, metrics.csv, summary.json, and steps.csv where the run has
//! one), so no per-command knowledge.

use crate::error::{usage, Result};
use crate::runner::engine::session::SavedConfig;
use crate::runner::record::summary::{Figure, Summary};
use crate::runner::store::flat_config::leaves;
use crate::runner::store::run_dir::RunDir;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Run {
    pub name: String,
    pub command: String,
    /// The run's configuration, flattened to "key" or "key.sub" and printed.
    pub config: BTreeMap<String, String>,
    /// None for a run that has not finished (no summary.json).
    pub summary: Option<Summary>,
    pub metrics: Metrics,
    /// steps.csv (empty for runs from before it, or with --log-every 0).
    pub steps: Metrics,
}

/// metrics.csv: its columns, and the rows as numbers (empty cells are NaN).
#[derive(Default)]
pub struct Metrics {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Metrics {
    /// The column `name`, if the run has it.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| r[i]).collect())
    }
}

/// Expand the RUN_DIR arguments: globs the shell did not expand (quoted, or
/// matching nothing) are expanded here; each result must be a run directory.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![];
    for arg in args {
        let text = arg.to_string_lossy();
        if arg.exists() || !text.contains(['*', '?', '[']) {
            dirs.push(arg.clone());
            continue;
        }
        let matches: Vec<PathBuf> = glob::glob(&text)
            .map_err(|e| usage(format!("{text}: not a valid pattern: {e}")))?
            .filter_map(|p| p.ok())
            .collect();
        if matches.is_empty() {
            return Err(usage(format!("{text}: matches no run directory")));
        }
        dirs.extend(matches);
    }
    if dirs.is_empty() {
        return Err(usage("expected at least one run directory"));
    }
    Ok(dirs)
}

/// Read the run in `dir`.
pub fn load(dir: &Path) -> Result<Run> {
    let run = RunDir::existing(dir)?;
    let saved: SavedConfig<Value> = run.read_json("config.json")?;
    let mut config: BTreeMap<String, String> = leaves(&saved.config)
        .into_iter()
        .map(|(k, v)| (k, printed_value(&v)))
        .collect();
    config.insert("seed".into(), saved.seed.to_string());
    let summary = match run.file("summary.json").exists() {
        true => Some(run.read_json::<Summary>("summary.json")?),
        false => None,
    };
    let metrics = read_metrics(&run.file("metrics.csv"))?;
    let steps = read_metrics(&run.file("steps.csv"))?;
    Ok(Run {
        name: dir
            .file_name()
            .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into()),
        command: saved.command,
        config,
        summary,
        metrics,
        steps,
    })
}

/// A config value as the table prints it: strings bare, null as "-".
fn printed_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn read_metrics(path: &Path) -> Result<Metrics> {
    if !path.exists() {
        return Ok(Metrics::default());
    }
    let bad =
        |e: &dyn std::fmt::Display| usage(format!("{}: not a metrics file: {e}", path.display()));
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(&e))?;
    let columns = reader
        .headers()
        .map_err(|e| bad(&e))?
        .iter()
        .map(String::from)
        .collect();
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| bad(&e))?;
        rows.push(
            record
                .iter()
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect(),
        );
    }
    Ok(Metrics { columns, rows })
}

/// A summary's figures as (name, printed value), tables flattened to
/// "name.key"; the fixed fields first.
pub fn figures(summary: &Summary) -> Vec<(String, String)> {
    each_figure(summary)
        .into_iter()
        .map(|(name, _, shown)| (name, shown))
        .collect()
}

/// The figures that are numbers, in the same order: what `compare`'s groups
/// summarize.
pub fn numeric_figures(summary: &Summary) -> Vec<(String, f64)> {
    each_figure(summary)
        .into_iter()
        .filter_map(|(name, value, _)| Some((name, value?)))
        .collect()
}

/// Each figure's name, its number (where it is one) and its printed value.
fn each_figure(summary: &Summary) -> Vec<(String, Option<f64>, String)> {
    let mut out = vec![];
    let shown = |v: Option<f64>| (v, number_or_dash(v));
    if let (Some(sel), Some(best)) = (&summary.selection, summary.best) {
        out.push((format!("best {}", sel.metric), Some(best), number(best)));
        let (v, p) = shown(summary.best_epoch.map(|e| e as f64));
        out.push(("best_epoch".into(), v, p));
    }
    out.push((
        "epochs".into(),
        Some(summary.epochs as f64),
        summary.epochs.to_string(),
    ));
    let (v, p) = shown(summary.train_images_per_sec);
    out.push(("train_images_per_sec".into(), v, p));
    for (name, figure) in &summary.figures {
        match figure {
            Figure::Table(t) => out.extend(
                t.iter()
                    .map(|(k, v)| (format!("{name}.{k}"), Some(*v), number(*v))),
            ),
            Figure::Integer(i) => out.push((name.clone(), Some(*i as f64), printed(figure))),
            Figure::Number(v) => out.push((name.clone(), Some(*v), printed(figure))),
            other => out.push((name.clone(), None, printed(other))),
        }
    }
    out
}

fn printed(f: &Figure) -> String {
    match f {
        Figure::Missing => "-".into(),
        Figure::Integer(i) => i.to_string(),
        Figure::Number(v) => number(*v),
        Figure::Flag(b) => b.to_string(),
        Figure::Text(t) => t.clone(),
        Figure::Table(t) => t
            .iter()
            .map(|(k, v)| format!("{k}={}", number(*v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Four significant digits, enough to tell runs apart in a table.
pub fn number(v: f64) -> String {
    significant(v, 4, 8)
}

/// `v` to `digits` significant digits and at most `decimals` decimals,
/// whole numbers below 1e9 as such; "-" for NaN and infinities.
pub fn significant(v: f64, digits: i32, decimals: i32) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v == v.trunc() && v.abs() < 1e9 {
        return format!("{}", v as i64);
    }
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).clamp(0, decimals) as usize;
    format!("{v:.decimals$}")
}

/// The names `each` gives the runs' summaries, in first-seen order; a note
/// for each run without a summary ("...; `missing`").
pub fn figure_names<T>(
    runs: &[Run],
    each: fn(&Summary) -> Vec<(String, T)>,
    missing: &str,
    notes: &mut Vec<String>,
) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for run in runs {
        match &run.summary {
            Some(s) => {
                for (name, _) in each(s) {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            None => notes.push(format!(
                "{}: no summary.json (not finished, or stopped early); {missing}",
                run.name
            )),
        }
    }
    names
}

fn number_or_dash(v: Option<f64>) -> String {
    v.map_or("-".into(), number)
}
