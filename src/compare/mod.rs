//! `paperlab compare`: runs side by side, the way the papers put them. It
//! reads only what every subcommand writes (config.json, metrics.csv,
//! summary.json, and steps.csv for `--x step` where a run has it), so it
//! works for any command, present or future. Runs that differ only in
//! their seed (or, with --group-by, share the given keys' values) are
//! grouped: each group's figures as mean, sd, n and a 95% interval
//! (`stats`), and its curves as a mean line in a band; runs that all stand
//! alone compare one per row, as before. With --claims FILE, a paper's
//! claims are judged from the groups (`claims`): claims.md, claims.csv and
//! claims.json beside compare.md.

pub mod claims;
pub mod groups;
pub mod plot;
pub mod runs;
pub mod stats;
pub mod table;

use crate::error::{usage, Result};
use crate::runner::store::run_dir::write_atomic;
use clap::Args;
use plot::Axis;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Run directories (results/<subcommand>/<name>), or globs such as 'results/train-fmp/*'.
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// metrics.csv columns to plot, and with --x step steps.csv's (default: every column but epoch, step and timing).
    #[arg(long, value_delimiter = ',')]
    pub metric: Vec<String>,
    /// The x axis of the plots.
    #[arg(long, value_enum, default_value_t = Axis::Epoch)]
    pub x: Axis,
    /// Where compare.md, compare.csv and the plots go.
    #[arg(long, default_value = "results/compare")]
    pub out: PathBuf,
    /// Replace an earlier comparison in --out.
    #[arg(long)]
    pub force: bool,
    #[arg(long)]
    pub quiet: bool,
    /// Group by these config keys' values (e.g. --group-by norm,lr) instead of by everything but the seed.
    #[arg(long, value_delimiter = ',', value_name = "KEY,...")]
    pub group_by: Vec<String>,
    /// A paper's claims (experiments/claims/*.toml) to judge from the runs' groups: claims.md, claims.csv and claims.json.
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
}

/// Columns that are not worth a plot of their own.
const NOT_PLOTTED: [&str; 4] = ["epoch", "step", "seconds", "images_per_sec"];

pub fn run(args: CompareArgs) -> Result<()> {
    let dirs = runs::expand(&args.runs)?;
    let runs = dirs
        .iter()
        .map(|d| runs::load(d))
        .collect::<Result<Vec<_>>>()?;
    // Every metrics.csv column of the runs, in first-seen order, then over
    // steps their steps.csv columns.
    let mut seen = BTreeSet::new();
    let columns: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.metrics.columns.iter().map(String::as_str))
        .chain(
            runs.iter()
                .filter(|_| args.x == Axis::Step)
                .flat_map(|r| r.steps.columns.iter().map(String::as_str)),
        )
        .filter(|c| seen.insert(*c))
        .collect();
    let metrics: Vec<String> = if args.metric.is_empty() {
        columns
            .iter()
            .filter(|c| !NOT_PLOTTED.contains(c))
            .map(|c| c.to_string())
            .collect()
    } else {
        let unknown: Vec<&str> = args
            .metric
            .iter()
            .map(String::as_str)
            .filter(|m| !columns.contains(m))
            .collect();
        if !unknown.is_empty() {
            return Err(usage(format!(
                "--metric {}: no run has it; the runs' columns are {}",
                unknown.join(","),
                columns.join(", ")
            )));
        }
        args.metric.clone()
    };
    let groups = match args.group_by.is_empty() {
        true => groups::by_seed(&runs),
        false => groups::by_keys(&runs, &args.group_by)?,
    };
    let grouped = !args.group_by.is_empty() || groups.iter().any(|g| g.members.len() > 1);
    // Checked before anything is written.
    let judgement = match &args.claims {
        Some(path) => Some(claims::load(path, &runs, &groups)?),
        None => None,
    };
    if args.out.join("compare.md").exists() && !args.force {
        return Err(usage(format!(
            "{} already holds a comparison; pass --force to replace it, or choose another --out",
            args.out.display()
        )));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| {
        usage(format!(
            "--out {}: cannot create it: {e}",
            args.out.display()
        ))
    })?;
    let mut table = match grouped {
        true => groups::statistics(&runs, &groups),
        false => table::build(&runs),
    };
    let mut plotted = vec![];
    for metric in &metrics {
        let (series, notes) = match grouped {
            true => plot::grouped(&runs, &groups, metric, args.x),
            false => plot::series(&runs, metric, args.x),
        };
        table.notes.extend(notes);
        if series.is_empty() {
            table
                .notes
                .push(format!("{metric}: no run has it; not plotted"));
            continue;
        }
        plot::write(&args.out, metric, &args.x.frame(), &series)?;
        plotted.push(metric.clone());
    }
    let mut markdown = table.markdown();
    if grouped {
        markdown = groups::members(&runs, &groups).markdown() + "\n" + &markdown;
    }
    write_atomic(&args.out.join("compare.md"), markdown.as_bytes())?;
    table.write_csv(&args.out.join("compare.csv"))?;
    if !args.quiet {
        print!("{}", table.aligned());
    }
    if let Some(judgement) = judgement {
        let verdicts = judgement.write(&args.out)?;
        if !args.quiet {
            for row in &verdicts.rows {
                println!("claim {}: {}", row[0], row[1]);
            }
        }
        eprintln!(
            "wrote {}: claims.md, claims.csv, claims.json",
            args.out.display()
        );
    }
    eprintln!(
        "wrote {}: compare.md, compare.csv and {} plot(s) ({})",
        args.out.display(),
        plotted.len(),
        plotted.join(", ")
    );
    Ok(())
}
