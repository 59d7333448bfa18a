//! The comparison table: one row per run; the config keys whose values
//! differ between the runs, then every summary figure. Printed aligned for
//! the terminal and written as Markdown and CSV.

use super::runs::{figure_names, figures, Run};
use crate::error::{run as run_error, Result};
use std::collections::BTreeSet;
use std::path::Path;

pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// What the reader should know: other subcommands, unfinished runs.
    pub notes: Vec<String>,
}

pub fn build(runs: &[Run]) -> Table {
    let mut notes = vec![];
    let commands: BTreeSet<&str> = runs.iter().map(|r| r.command.as_str()).collect();
    if commands.len() > 1 {
        notes.push(format!(
            "runs of different subcommands ({}): only the keys and figures they share line up",
            commands.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.config.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| {
            let values: BTreeSet<Option<&String>> = runs.iter().map(|r| r.config.get(*k)).collect();
            values.len() > 1
        })
        .collect();
    let mut names = figure_names(runs, figures, "its figures are blank", &mut notes);
    let mut header = vec!["run".to_string()];
    if notes.iter().any(|n| n.starts_with("runs of different")) {
        header.push("command".into());
    }
    header.extend(differing.iter().map(|k| k.to_string()));
    // A figure that repeats a differing config key (a run's norm) is shown once.
    names.retain(|n| !header.contains(n));
    header.extend(names.iter().cloned());
    let rows = runs
        .iter()
        .map(|run| {
            let mut row = vec![run.name.clone()];
            if header.get(1).is_some_and(|h| h == "command") {
                row.push(run.command.clone());
            }
            row.extend(
                differing
                    .iter()
                    .map(|k| run.config.get(*k).cloned().unwrap_or_else(|| "-".into())),
            );
            let figs = run.summary.as_ref().map(figures).unwrap_or_default();
            row.extend(names.iter().map(|n| {
                figs.iter()
                    .find(|(k, _)| k == n)
                    .map_or("-".into(), |(_, v)| v.clone())
            }));
            row
        })
        .collect();
    Table {
        header,
        rows,
        notes,
    }
}

impl Table {
    /// Columns padded to their widest cell.
    pub fn aligned(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        let mut out = line(&self.header);
        for row in &self.rows {
            out += &line(row);
        }
        for note in &self.notes {
            out += &format!("note: {note}\n");
        }
        out
    }

    pub fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let mut out = line(&self.header);
        out += &line(&vec!["---".to_string(); self.header.len()]);
        for row in &self.rows {
            out += &line(row);
        }
        if !self.notes.is_empty() {
            out += "\n";
            for note in &self.notes {
                out += &format!("- {note}\n");
            }
        }
        out
    }

    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let err =
            |e: &dyn std::fmt::Display| run_error(format!("cannot write {}: {e}", path.display()));
        let mut w = csv::Writer::from_path(path).map_err(|e| err(&e))?;
        w.write_record(&self.header).map_err(|e| err(&e))?;
        for row in &self.rows {
            w.write_record(row).map_err(|e| err(&e))?;
        }
        w.flush().map_err(|e| err(&e))
    }
}
