//! results/<subcommand>/<name>/: the run directory. An existing one is never
//! replaced silently: --resume continues it, --force replaces it.

use crate::error::{data, run, usage, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Open `<out>/<command>/<name>` for a new run (`resume` false) or an
    /// existing one (`resume` true).
    pub fn open(
        out: &Path,
        command: &str,
        name: &str,
        resume: bool,
        force: bool,
    ) -> Result<RunDir> {
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(usage(format!(
                "--name {name:?}: expected a plain directory name"
            )));
        }
        let path = out.join(command).join(name);
        let dir = RunDir { path: path.clone() };
        if resume {
            if !dir.file("config.json").is_file() {
                return Err(usage(format!(
                    "--resume: {} holds no run to continue (expected {}); start it without --resume, or with --force to replace the directory",
                    path.display(),
                    dir.file("config.json").display()
                )));
            }
            return Ok(dir);
        }
        if path.exists() && !dir.is_unstarted() {
            if !force {
                return Err(usage(format!(
                    "{} already holds a run; pass --resume to continue it, --force to replace it, or choose another --name",
                    path.display()
                )));
            }
            std::fs::remove_dir_all(&path)
                .map_err(|e| usage(format!("--force: cannot remove {}: {e}", path.display())))?;
        }
        std::fs::create_dir_all(path.join("checkpoints")).map_err(|e| {
            usage(format!(
                "--out {}: cannot create the run directory {}: {e}",
                out.display(),
                path.display()
            ))
        })?;
        Ok(dir)
    }

    /// An existing run directory, for evaluations that reload a run.
    pub fn existing(path: &Path) -> Result<RunDir> {
        if !path.join("config.json").is_file() {
            return Err(usage(format!(
                "--run {}: not a paperlab run directory (expected {}/config.json)",
                path.display(),
                path.display()
            )));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// A directory this command made and was killed in before writing
    /// config.json: nothing but an empty checkpoints/ (safe to start over in).
    fn is_unstarted(&self) -> bool {
        let entries = |p: &Path| {
            std::fs::read_dir(p).map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name())
                    .collect::<Vec<_>>()
            })
        };
        match entries(&self.path) {
            Ok(names) => {
                names.iter().all(|n| n == "checkpoints")
                    && entries(&self.path.join("checkpoints")).is_ok_and(|c| c.is_empty())
            }
            Err(_) => false,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn last_checkpoint(&self) -> PathBuf {
        self.path.join("checkpoints/last.safetensors")
    }

    pub fn best_checkpoint(&self) -> PathBuf {
        self.path.join("checkpoints/best.safetensors")
    }

    /// --checkpoint-every's copy of the checkpoint at `step`:
    /// checkpoints/step-NNNNNN.safetensors (six digits or more, so the
    /// names sort as the steps do).
    pub fn step_checkpoint(&self, step: i64) -> PathBuf {
        self.path
            .join(format!("checkpoints/step-{step:06}.safetensors"))
    }

    /// The step checkpoints present, by step.
    pub fn step_checkpoints(&self) -> Result<Vec<(i64, PathBuf)>> {
        let dir = self.path.join("checkpoints");
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| run(format!("cannot read {}: {e}", dir.display())))?;
        let mut found: Vec<(i64, PathBuf)> = entries
            .filter_map(|e| {
                let path = e.ok()?.path();
                let name = path.file_name()?.to_str()?;
                let step = name.strip_prefix("step-")?.strip_suffix(".safetensors")?;
                Some((step.parse().ok()?, path))
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// Write pretty JSON atomically (temporary file, then rename).
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value)? + "\n";
        write_atomic(&self.file(name), text.as_bytes())
    }

    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| data(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            data(format!(
                "{} is not what paperlab wrote: {e}",
                path.display()
            ))
        })
    }
}

/// Write to `<path>.tmp` and rename, so a crash never leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| run(format!("cannot write {}: {e}", path.display())))
}

pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
