//! Groups of runs for `compare`: by default the runs that differ only in
//! their seed (their configs equal but for the keys that name or place a
//! run), or with --group-by those that share the given keys' values. Each
//! group's summary figures become mean, sd, n and a 95% t interval
//! (`stats`), one row per group and figure.

use super::runs::{figure_names, numeric_figures, significant, Run};
use super::stats::{summarize, Summary};
use super::table::Table;
use crate::error::{usage, Result};
use std::collections::BTreeMap;

/// The interval's level.
pub const LEVEL: f64 = 0.95;

/// Config keys that name or place a run rather than say what it computes:
/// runs differing only in these (and the seed) are one group.
const PLACING: [&str; 6] = ["seed", "name", "out", "resume", "quiet", "force"];

pub struct Group {
    pub label: String,
    /// Indices into the runs.
    pub members: Vec<usize>,
}

/// The runs whose configs (and commands) are equal but for the seed and
/// the PLACING keys, and whose seeds differ, in the order of their first
/// run, labelled by their names less a sweep's `-seed=N` ending.
pub fn by_seed(runs: &[Run]) -> Vec<Group> {
    let key = |r: &Run| {
        let mut config = r.config.clone();
        config.retain(|k, _| !PLACING.contains(&k.as_str()));
        (r.command.clone(), config)
    };
    let mut groups: Vec<Group> = (gather(runs, key).into_iter())
        .flat_map(|g| seed_group_or_alone(runs, g))
        .collect();
    for g in &mut groups {
        let mut stems: Vec<&str> = g.members.iter().map(|&i| stem(&runs[i].name)).collect();
        stems.dedup();
        g.label = stems.join("+");
    }
    groups
}

/// `g` if its runs' seeds all differ; else each of its runs alone (the same
/// configuration run twice with one seed is not a sample over seeds).
fn seed_group_or_alone(runs: &[Run], g: Group) -> Vec<Group> {
    let seeds: Vec<_> = g
        .members
        .iter()
        .map(|&i| runs[i].config.get("seed"))
        .collect();
    let distinct = (0..seeds.len()).all(|i| !seeds[..i].contains(&seeds[i]));
    if distinct {
        return vec![g];
    }
    let alone = |&i: &usize| Group {
        label: String::new(),
        members: vec![i],
    };
    g.members.iter().map(alone).collect()
}

/// The runs that share the values of `keys` (config keys; a run without
/// one counts as "-"), labelled `key=value,...`. A key no run has is a
/// usage error naming it.
pub fn by_keys(runs: &[Run], keys: &[String]) -> Result<Vec<Group>> {
    let unknown: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| !runs.iter().any(|r| r.config.contains_key(*k)))
        .collect();
    if !unknown.is_empty() {
        let mut known: Vec<&str> = runs
            .iter()
            .flat_map(|r| r.config.keys().map(String::as_str))
            .collect();
        known.sort();
        known.dedup();
        return Err(usage(format!(
            "--group-by {}: no run has it; the runs' config keys are {}",
            unknown.join(","),
            known.join(", ")
        )));
    }
    let values = |r: &Run| -> Vec<String> {
        keys.iter()
            .map(|k| r.config.get(k).cloned().unwrap_or_else(|| "-".into()))
            .collect()
    };
    let mut groups = gather(runs, values);
    for g in &mut groups {
        let first = values(&runs[g.members[0]]);
        g.label = keys
            .iter()
            .zip(first)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
    }
    Ok(groups)
}

/// Runs with equal `key`s, in the order of each group's first run.
fn gather<K: Ord>(runs: &[Run], key: impl Fn(&Run) -> K) -> Vec<Group> {
    let mut index: BTreeMap<K, usize> = BTreeMap::new();
    let mut groups: Vec<Group> = vec![];
    for (i, run) in runs.iter().enumerate() {
        let next = groups.len();
        let g = *index.entry(key(run)).or_insert(next);
        if g == next {
            groups.push(Group {
                label: String::new(),
                members: vec![],
            });
        }
        groups[g].members.push(i);
    }
    groups
}

/// A run's name without a sweep's `-seed=N` ending.
fn stem(name: &str) -> &str {
    match name.rsplit_once("-seed=") {
        Some((stem, seed)) if !seed.is_empty() && seed.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => name,
    }
}

/// Which runs each group holds, and their seeds.
pub fn members(runs: &[Run], groups: &[Group]) -> Table {
    let rows = groups
        .iter()
        .map(|g| {
            let list = |f: &dyn Fn(&Run) -> String| {
                g.members
                    .iter()
                    .map(|&i| f(&runs[i]))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            vec![
                g.label.clone(),
                g.members.len().to_string(),
                list(&|r| r.config.get("seed").cloned().unwrap_or_else(|| "-".into())),
                list(&|r| r.name.clone()),
            ]
        })
        .collect();
    Table {
        header: ["group", "runs", "seeds", "run names"]
            .map(String::from)
            .to_vec(),
        rows,
        notes: vec![],
    }
}

/// One row per group and summary figure (in first-seen order): n (the
/// group's runs that have the figure), mean, sd and the interval's ends,
/// "-" where n = 1 gives none.
pub fn statistics(runs: &[Run], groups: &[Group]) -> Table {
    let mut notes = vec![];
    let names = figure_names(
        runs,
        numeric_figures,
        "left out of its group's figures",
        &mut notes,
    );
    let mut rows = vec![];
    for g in groups {
        let figures: Vec<Vec<(String, f64)>> = g
            .members
            .iter()
            .filter_map(|&i| runs[i].summary.as_ref().map(numeric_figures))
            .collect();
        for name in &names {
            let values: Vec<f64> = figures
                .iter()
                .filter_map(|f| f.iter().find(|(k, _)| k == name).map(|(_, v)| *v))
                .filter(|v| v.is_finite())
                .collect();
            let Some(s) = summarize(&values, LEVEL) else {
                continue;
            };
            rows.push(row(&g.label, name, &s));
        }
        if g.members.len() == 1 {
            notes.push(format!(
                "{}: one run, so no standard deviation or interval",
                g.label
            ));
        }
    }
    notes.push(format!(
        "ci_low, ci_high: the {:.0}% interval of the mean, mean ± t(0.975, n-1)·sd/√n (Student's t); sd divides by n-1",
        LEVEL * 100.0
    ));
    Table {
        header: ["group", "metric", "n", "mean", "sd", "ci_low", "ci_high"]
            .map(String::from)
            .to_vec(),
        rows,
        notes,
    }
}

fn row(group: &str, metric: &str, s: &Summary) -> Vec<String> {
    let (low, high) = s.interval.unwrap_or((f64::NAN, f64::NAN));
    vec![
        group.to_string(),
        metric.to_string(),
        s.n.to_string(),
        stat(s.mean),
        stat(s.sd),
        stat(low),
        stat(high),
    ]
}

/// Six significant digits, whole numbers as such ("-" for none), the same
/// in compare.md and compare.csv.
pub fn stat(v: f64) -> String {
    significant(v, 6, 15)
}
