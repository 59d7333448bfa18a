//! metrics.csv (one row per epoch, or eval interval) and steps.csv (one row
//! per log point, runner/record/step_log.rs): a header and rows of numbers, flushed
//! row by row so a killed run leaves a valid file.

use crate::error::{run, Result};
use crate::runner::store::run_dir::write_atomic;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

pub struct Metrics {
    path: PathBuf,
    /// None on the processes of a distributed run that do not write.
    writer: Option<csv::Writer<File>>,
    header: Vec<String>,
    rows: usize,
}

impl Metrics {
    /// Start a new file with `header`. When `keep_rows` is given (a resumed
    /// run), the existing file is cut back to that many rows first, so rows
    /// written after the checkpoint being resumed are not duplicated.
    pub fn open(path: &Path, header: &[&str], keep_rows: Option<usize>) -> Result<Metrics> {
        let err = |e: &dyn std::fmt::Display| run(format!("cannot write {}: {e}", path.display()));
        let kept: Vec<csv::StringRecord> = match keep_rows {
            Some(n) if path.exists() => {
                let mut reader = csv::Reader::from_path(path).map_err(|e| err(&e))?;
                reader
                    .records()
                    .take(n)
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| err(&e))?
            }
            _ => vec![],
        };
        // The kept rows are rewritten to a temporary file renamed over the
        // old one, so a kill meanwhile cannot lose rows a checkpoint counts.
        let mut fresh = csv::Writer::from_writer(Vec::new());
        fresh.write_record(header).map_err(|e| err(&e))?;
        for record in &kept {
            fresh.write_record(record).map_err(|e| err(&e))?;
        }
        let bytes = fresh.into_inner().map_err(|e| err(&e))?;
        write_atomic(path, &bytes)?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| err(&e))?;
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        Ok(Metrics {
            path: path.to_path_buf(),
            writer: Some(writer),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: kept.len(),
        })
    }

    /// The rows of a process that does not write metrics.csv (rank > 0 of a
    /// distributed run): counted, not written.
    pub fn discard(path: &Path, header: &[&str], rows: usize) -> Metrics {
        Metrics {
            path: path.to_path_buf(),
            writer: None,
            header: header.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }

    /// Append one row (same order as the header) and flush it to disk.
    pub fn write(&mut self, values: &[f64]) -> Result<()> {
        assert_eq!(
            values.len(),
            self.header.len(),
            "metrics row does not match the header"
        );
        let err =
            |e: &dyn std::fmt::Display| run(format!("cannot write {}: {e}", self.path.display()));
        if let Some(writer) = &mut self.writer {
            let cells: Vec<String> = values.iter().map(|v| format_value(*v)).collect();
            writer.write_record(&cells).map_err(|e| err(&e))?;
            writer.flush().map_err(|e| err(&e))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// The columns.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Rows written so far (kept rows included); checkpoints record it.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Integers without a decimal point, everything else with full precision.
fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
