//! --checkpoint-every and --keep-checkpoints: checkpoints inside epochs,
//! every N optimizer steps or every so many seconds, each also kept as
//! checkpoints/step-NNNNNN.safetensors, the K latest of them.
//!
//! The engine asks [`Policy::due`] before every step; a checkpoint then is
//! the one Ctrl-C writes mid-epoch (position, sums, log window), so
//! --resume from it repeats the uninterrupted run exactly. By steps, every
//! process knows the step; by time, rank 0's clock decides and every
//! process learns the step through the store (`World::checkpoint_at`), so
//! all write at the same one.

use crate::error::{run, Result};
use crate::ranges::Interval;
use crate::runner::dist;
use crate::runner::store::run_dir::{tmp_path, RunDir};
use std::time::{Duration, Instant};

pub struct Policy {
    every: Option<Interval>,
    keep: Option<usize>,
    /// The step of the last checkpoint of any kind (the run's start
    /// counts): none is written twice at one step.
    saved_step: i64,
    /// Since the last checkpoint, on this process's clock.
    since: Instant,
    /// Time-based rounds agreed so far in a distributed run, and the
    /// agreed step of the current one once known.
    round: u64,
    pending: Option<i64>,
    /// The step [`Policy::due`] last said yes at.
    due_at: Option<i64>,
}

impl Policy {
    /// The policy of a run that starts (or resumes) at `step`.
    pub fn new(every: Option<Interval>, keep: Option<i64>, step: i64) -> Policy {
        Policy {
            every,
            keep: keep.map(|k| k as usize),
            saved_step: step,
            since: Instant::now(),
            round: 0,
            pending: None,
            due_at: None,
        }
    }

    /// Whether to checkpoint before taking step `step` (every process of a
    /// distributed run answers the same).
    pub fn due(&mut self, step: i64) -> Result<bool> {
        let due = match self.every {
            None => return Ok(false),
            Some(Interval::Steps(n)) => step % n as i64 == 0,
            Some(Interval::Seconds(s)) => self.timed(step, Duration::from_secs_f64(s))?,
        };
        let due = due && step != self.saved_step;
        if due {
            self.due_at = Some(step);
        }
        Ok(due)
    }

    /// By time: this process's clock, or in a distributed run the step
    /// rank 0's clock chose, once this process reaches it.
    fn timed(&mut self, step: i64, every: Duration) -> Result<bool> {
        let elapsed = self.since.elapsed() >= every;
        let Some(w) = dist::world() else {
            return Ok(elapsed);
        };
        if self.pending.is_none() {
            self.pending = w.checkpoint_at(self.round, step, elapsed)?;
        }
        match self.pending {
            Some(at) if step >= at => {
                (self.pending, self.round) = (None, self.round + 1);
                Ok(step == at)
            }
            _ => Ok(false),
        }
    }

    /// A checkpoint was written at `step` (on every process: the writer's
    /// files, the others' clocks).
    pub fn saved(&mut self, step: i64) {
        (self.saved_step, self.since) = (step, Instant::now());
    }

    /// Whether the checkpoint at `step` is also kept as a step checkpoint:
    /// by steps, any at a multiple of N (an epoch's end or a stop there
    /// too); by time, the policy's own.
    pub fn keeps(&self, step: i64) -> bool {
        match self.every {
            Some(Interval::Steps(n)) => step % n as i64 == 0,
            Some(Interval::Seconds(_)) => self.due_at == Some(step),
            None => false,
        }
    }

    /// Keep last.safetensors of `dir`, just written at `step`, as
    /// step-NNNNNN.safetensors (a hard link where the file system allows,
    /// else a copy), then remove all but the K latest step checkpoints.
    pub fn keep(&self, dir: &RunDir, step: i64) -> Result<()> {
        let (last, path) = (dir.last_checkpoint(), dir.step_checkpoint(step));
        let tmp = tmp_path(&path);
        let _ = std::fs::remove_file(&tmp);
        std::fs::hard_link(&last, &tmp)
            .or_else(|_| std::fs::copy(&last, &tmp).map(|_| ()))
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| run(format!("cannot write {}: {e}", path.display())))?;
        let Some(k) = self.keep else { return Ok(()) };
        let all = dir.step_checkpoints()?;
        for (_, old) in &all[..all.len().saturating_sub(k)] {
            std::fs::remove_file(old).map_err(|e| {
                run(format!(
                    "--keep-checkpoints: cannot remove {}: {e}",
                    old.display()
                ))
            })?;
        }
        Ok(())
    }
}
