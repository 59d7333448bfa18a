//! After SIGUSR1 stopped a run with its checkpoint: requeue its Slurm job,
//! as Lightning's SLURMEnvironment does, so the job runs again and the run
//! continues (`sweep --slurm`'s scripts pass `--resume auto`).

use crate::error::{requeued, run};
use std::process::Command;

/// The job `scontrol requeue` takes: an array task as
/// `<SLURM_ARRAY_JOB_ID>_<SLURM_ARRAY_TASK_ID>` (requeueing only that task),
/// else SLURM_JOB_ID; None outside Slurm.
pub fn slurm_job(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(array), Some(task)) => Some(format!("{array}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// The error that ends a run stopped by SIGUSR1 (`stopped` says at which
/// step, and where its checkpoint is): with `requeue` (the writer) and
/// inside a Slurm job, `scontrol requeue JOB` first. Exit
/// [`crate::error::EXIT_REQUEUED`], or 1 when scontrol failed.
pub fn requeue_job(stopped: &str, requeue: bool) -> anyhow::Error {
    if !requeue {
        return requeued(format!("{stopped}; rank 0 requeues the job"));
    }
    let Some(job) = slurm_job(&|k| std::env::var(k).ok()) else {
        return requeued(format!(
            "{stopped}; not in a Slurm job (no SLURM_JOB_ID), so nothing to requeue: continue with --resume"
        ));
    };
    match call_scontrol(&job) {
        Ok(()) => requeued(format!(
            "{stopped}; requeued Slurm job {job} (scontrol requeue {job}); it continues the run when it starts again with --resume auto"
        )),
        Err(why) => run(format!(
            "{stopped}; but `scontrol requeue {job}` failed: {why}; resubmit the job (with --resume auto it continues the run)"
        )),
    }
}

fn call_scontrol(job: &str) -> std::result::Result<(), String> {
    let status = Command::new("scontrol")
        .args(["requeue", job])
        .status()
        .map_err(|e| format!("cannot run scontrol: {e}"))?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("it exited with {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_task_is_requeued_by_its_array_and_task_ids() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let array = vars(&[
            ("SLURM_JOB_ID", "107"),
            ("SLURM_ARRAY_JOB_ID", "100"),
            ("SLURM_ARRAY_TASK_ID", "7"),
        ]);
        assert_eq!(slurm_job(&array).as_deref(), Some("100_7"));
        let job = vars(&[("SLURM_JOB_ID", "107")]);
        assert_eq!(slurm_job(&job).as_deref(), Some("107"));
        assert_eq!(slurm_job(&vars(&[])), None);
    }
}
