//! A paper's comparative claims as data (experiments/claims/<paper>.toml),
//! judged from runs over seeds: `compare RUNS --claims FILE`. Each claim
//! says one side's figure is lower than the other's (or, for an estimate,
//! gives one group's figure beside the paper's number). The sides pair by
//! seed (same seed: same initialisation and data order), and the verdict
//! comes from the 95% t interval of the paired differences `higher -
//! lower`: "holds" when it lies above zero, "contradicted" below,
//! "undecided at this size" when it holds zero (or fewer than two pairs).
//!
//! ```toml
//! paper = "Weight Normalization (Salimans & Kingma 2016)"
//! sweep = "wn"                    # group "batch" = runs wn-batch-seed=N
//! [[claims]]
//! name = "batch-slower-than-weight"
//! says = "..."                    # the claim, in words
//! metric = "seconds_per_epoch"    # a summary.json figure, or
//! # metric = { column = "test_error", epoch = 1 }       (metrics.csv at an epoch)
//! # metric = { column = "recon_mse", measure = "last-minus-min" }
//! lower = "weight"                # or { group = "...", metric = ... }
//! higher = "batch"
//! paper = "..."                   # the paper's own figures
//! source = "..."                  # where they appear
//! ```

use super::groups::{Group, LEVEL};
use super::plot::{self, Frame, Series};
use super::runs::{numeric_figures, Run};
use super::stats::{paired_difference, summarize, Summary};
use super::table::Table;
use crate::error::{usage, Result};
use crate::runner::store::run_dir::write_atomic;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsFile {
    paper: String,
    /// The sweep whose runs the groups name.
    sweep: String,
    #[serde(default)]
    claims: Vec<Claim>,
    /// Summary tables (a figure per key, such as FMP's error by tests)
    /// drawn against their keys, one mean line in a band per group.
    #[serde(default)]
    figures: Vec<TableFigure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    name: String,
    says: String,
    /// The sides' metric where a side does not name its own.
    metric: Option<Metric>,
    lower: Option<Side>,
    higher: Option<Side>,
    /// An estimate: this group's figure, beside the paper's number.
    group: Option<String>,
    paper: String,
    source: String,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Side {
    Group(String),
    Full { group: String, metric: Metric },
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Metric {
    /// A summary.json figure as compare names it ("test_error",
    /// "test_error_by_tests.12", "best recon_mse").
    Figure(String),
    /// A metrics.csv column: its value at one epoch, or a measure of the
    /// whole curve.
    Curve(Curve),
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Curve {
    column: String,
    epoch: Option<u64>,
    measure: Option<Measure>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Measure {
    /// The last value less the curve's lowest: how far a run ended above
    /// its best (0 for a curve that ends at its best).
    LastMinusMin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFigure {
    /// The summary table's name: its keys are the x values.
    table: String,
    /// The x axis's label.
    x: String,
}

impl Metric {
    fn describe(&self) -> String {
        match self {
            Metric::Figure(name) => name.clone(),
            Metric::Curve(c) => match (c.epoch, c.measure) {
                (Some(e), _) => format!("{} at epoch {e}", c.column),
                (None, Some(Measure::LastMinusMin)) => format!("{} last - min", c.column),
                (None, None) => c.column.clone(),
            },
        }
    }

    /// The run's value, if it has one.
    fn of(&self, run: &Run) -> Option<f64> {
        let value = match self {
            Metric::Figure(name) => run
                .summary
                .as_ref()
                .and_then(|s| numeric_figures(s).into_iter().find(|(k, _)| k == name))
                .map(|(_, v)| v),
            Metric::Curve(c) => {
                let ys = run.metrics.column(&c.column)?;
                match (c.epoch, c.measure) {
                    (Some(epoch), _) => {
                        let epochs = run.metrics.column("epoch")?;
                        let i = epochs.iter().position(|e| *e == epoch as f64)?;
                        Some(ys[i])
                    }
                    (None, Some(Measure::LastMinusMin)) => {
                        let ys: Vec<f64> = ys.into_iter().filter(|y| y.is_finite()).collect();
                        let min = ys.iter().copied().fold(f64::INFINITY, f64::min);
                        ys.last().map(|last| last - min)
                    }
                    (None, None) => None,
                }
            }
        };
        value.filter(|v| v.is_finite())
    }
}

/// One side of a claim as measured: its group, metric, values by seed.
struct Measured {
    group: String,
    metric: String,
    by_seed: BTreeMap<u64, f64>,
}

impl Measured {
    fn summary(&self) -> Option<Summary> {
        summarize(&self.by_seed.values().copied().collect::<Vec<_>>(), LEVEL)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Holds,
    Contradicted,
    Undecided,
    /// A figure beside the paper's, not a comparison.
    Estimate,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Contradicted => "contradicted",
            Verdict::Undecided => "undecided at this size",
            Verdict::Estimate => "estimate",
        }
    }

    /// The verdict on "lower < higher" from the interval of the paired
    /// differences higher - lower (None: fewer than two pairs).
    pub fn of(interval: Option<(f64, f64)>) -> Verdict {
        match interval {
            Some((low, _)) if low > 0.0 => Verdict::Holds,
            Some((_, high)) if high < 0.0 => Verdict::Contradicted,
            _ => Verdict::Undecided,
        }
    }
}

struct Judged<'a> {
    claim: &'a Claim,
    lower: Measured,
    higher: Option<Measured>,
    difference: Option<Summary>,
    verdict: Verdict,
}

/// A claims file judged from the runs, ready to write.
pub struct Judgement<'a> {
    file: ClaimsFile,
    origin: String,
    runs: &'a [Run],
    groups: &'a [Group],
}

/// Read `path` and check every claim against the runs and their groups:
/// an unknown group or a metric no run of its group has is a usage error
/// naming the file, the claim and the key, before anything is written.
pub fn load<'a>(path: &Path, runs: &'a [Run], groups: &'a [Group]) -> Result<Judgement<'a>> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--claims {origin}: cannot read it: {e}")))?;
    let file: ClaimsFile = toml::from_str(&text)
        .map_err(|e| usage(format!("--claims {origin}: not a claims file: {e}")))?;
    let judgement = Judgement {
        file,
        origin,
        runs,
        groups,
    };
    for claim in &judgement.file.claims {
        judgement.sides(claim)?;
    }
    for figure in &judgement.file.figures {
        if judgement.table_series(figure).is_empty() {
            return Err(usage(format!(
                "{}: figures table = \"{}\": no run has that summary table",
                judgement.origin, figure.table
            )));
        }
    }
    Ok(judgement)
}

impl<'a> Judgement<'a> {
    /// The claim's sides, each resolved to its group's members and checked.
    fn sides(&self, claim: &Claim) -> Result<Vec<(&'a Group, Metric, &'static str)>> {
        let at = |key: &str| format!("{}: claim {}: {key}", self.origin, claim.name);
        let shape = (&claim.lower, &claim.higher, &claim.group);
        let named: Vec<(Side, &'static str)> = match shape {
            (Some(l), Some(h), None) => vec![(l.clone(), "lower"), (h.clone(), "higher")],
            (None, None, Some(g)) => vec![(Side::Group(g.clone()), "group")],
            _ => {
                return Err(usage(format!(
                    "{}: expected lower and higher (a comparison) or group (an estimate)",
                    at("sides")
                )))
            }
        };
        let mut out = vec![];
        for (side, key) in named {
            let (name, metric) = match side {
                Side::Group(g) => (g, claim.metric.clone()),
                Side::Full { group, metric } => (group, Some(metric)),
            };
            let metric =
                metric.ok_or_else(|| usage(format!("{}: no metric for this side", at(key))))?;
            if let Metric::Curve(c) = &metric {
                if c.epoch.is_some() == c.measure.is_some() {
                    return Err(usage(format!(
                        "{}: metric column \"{}\" needs one of epoch = N or measure = \"last-minus-min\"",
                        at(key),
                        c.column
                    )));
                }
            }
            let group = self.group(&name).ok_or_else(|| {
                let labels: Vec<&str> = self.groups.iter().map(|g| g.label.as_str()).collect();
                usage(format!(
                    "{} = \"{name}\": no runs named {}-{name} (or {name}); the runs' groups are {}",
                    at(key),
                    self.file.sweep,
                    labels.join(", ")
                ))
            })?;
            if !group
                .members
                .iter()
                .any(|&i| metric.of(&self.runs[i]).is_some())
            {
                return Err(usage(format!(
                    "{}: metric \"{}\": no run of group {} has it",
                    at(key),
                    metric.describe(),
                    group.label
                )));
            }
            out.push((group, metric, key));
        }
        Ok(out)
    }

    /// The group labelled `name`, or `<sweep>-<name>`.
    fn group(&self, name: &str) -> Option<&'a Group> {
        let long = format!("{}-{name}", self.file.sweep);
        let groups: &'a [Group] = self.groups;
        groups.iter().find(|g| g.label == name || g.label == long)
    }

    fn measure(&self, group: &Group, metric: &Metric) -> Measured {
        let by_seed = group
            .members
            .iter()
            .filter_map(|&i| {
                let run = &self.runs[i];
                let seed = run.config.get("seed")?.parse().ok()?;
                Some((seed, metric.of(run)?))
            })
            .collect();
        Measured {
            group: group.label.clone(),
            metric: metric.describe(),
            by_seed,
        }
    }

    fn judged(&self) -> Result<Vec<Judged<'_>>> {
        let mut out = vec![];
        for claim in &self.file.claims {
            let mut sides = self
                .sides(claim)?
                .into_iter()
                .map(|(g, m, _)| self.measure(g, &m));
            let lower = sides.next().expect("every claim has a side");
            let higher = sides.next();
            let (difference, verdict) = match &higher {
                Some(h) => {
                    let d = paired_difference(&h.by_seed, &lower.by_seed, LEVEL);
                    (d, Verdict::of(d.and_then(|d| d.interval)))
                }
                None => (None, Verdict::Estimate),
            };
            out.push(Judged {
                claim,
                lower,
                higher,
                difference,
                verdict,
            });
        }
        Ok(out)
    }

    /// Write claims.md, claims.csv and claims.json, and each table
    /// figure's plot, into `out`; return the verdicts' table.
    pub fn write(&self, out: &Path) -> Result<Table> {
        let judged = self.judged()?;
        let table = verdicts(&judged);
        let markdown = format!(
            "# Claims: {}\n\nFrom `{}`. Each claim says `lower` < `higher`; the sides pair by seed, and the verdict reads the {:.0}% t interval of the differences higher - lower.\n\n{}",
            self.file.paper,
            self.origin,
            LEVEL * 100.0,
            table.markdown()
        );
        write_atomic(&out.join("claims.md"), markdown.as_bytes())?;
        table.write_csv(&out.join("claims.csv"))?;
        let document = json!({
            "paper": self.file.paper,
            "sweep": self.file.sweep,
            "file": self.origin,
            "level": LEVEL,
            "claims": judged.iter().map(to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&document).expect("plain JSON");
        write_atomic(&out.join("claims.json"), text.as_bytes())?;
        for figure in &self.file.figures {
            let frame = Frame {
                x: &figure.x,
                whole_x: true,
            };
            plot::write(out, &figure.table, &frame, &self.table_series(figure))?;
        }
        Ok(table)
    }

    /// Each group's mean line of a summary table over its keys, with the
    /// interval where 2 or more runs have the point.
    fn table_series(&self, figure: &TableFigure) -> Vec<Series> {
        let prefix = format!("{}.", figure.table);
        let mut out = vec![];
        for g in self.groups {
            let mut at: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            let mut n = 0;
            for &i in &g.members {
                let Some(summary) = &self.runs[i].summary else {
                    continue;
                };
                let points: Vec<(f64, f64)> = numeric_figures(summary)
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.parse().ok()?, v)))
                    .collect();
                n += usize::from(!points.is_empty());
                for (x, y) in points {
                    // Keyed in thousandths, so the map orders the x values.
                    at.entry((x * 1000.0).round() as i64).or_default().push(y);
                }
            }
            if n == 0 {
                continue;
            }
            let (mut points, mut band) = (vec![], vec![]);
            for (x, ys) in at {
                let x = x as f64 / 1000.0;
                let s = summarize(&ys, LEVEL).expect("a point has a value");
                points.push((x, s.mean));
                if let Some((low, high)) = s.interval {
                    band.push((x, low, high));
                }
            }
            out.push(Series {
                name: format!("{} (n={n})", g.label),
                points,
                band,
            });
        }
        out
    }
}

/// The verdicts' table: one row per claim.
fn verdicts(judged: &[Judged]) -> Table {
    let header = [
        "claim",
        "verdict",
        "lower",
        "lower_metric",
        "lower_n",
        "lower_mean",
        "lower_sd",
        "higher",
        "higher_metric",
        "higher_n",
        "higher_mean",
        "higher_sd",
        "pairs",
        "difference",
        "ci_low",
        "ci_high",
        "paper",
        "source",
    ];
    let rows = judged.iter().map(row).collect();
    Table {
        header: header.map(String::from).to_vec(),
        rows,
        notes: vec![
            format!("difference: the mean of higher - lower over the seeds both sides have (pairs); ci_low, ci_high: its {:.0}% Student-t interval", LEVEL * 100.0),
            "holds: the interval lies above 0; contradicted: below 0; undecided at this size: it holds 0, or fewer than 2 pairs".into(),
            "an estimate has no other side: ci_low, ci_high are the interval of its mean".into(),
        ],
    }
}

fn row(j: &Judged) -> Vec<String> {
    let stat = super::groups::stat;
    let side = |m: Option<&Measured>| match m {
        None => vec!["-".to_string(); 5],
        Some(m) => {
            let s = m.summary();
            vec![
                m.group.clone(),
                m.metric.clone(),
                s.map_or(0, |s| s.n).to_string(),
                stat(s.map_or(f64::NAN, |s| s.mean)),
                stat(s.map_or(f64::NAN, |s| s.sd)),
            ]
        }
    };
    // An estimate's interval is that of its own mean.
    let spread = match j.higher {
        Some(_) => j.difference,
        None => j.lower.summary(),
    };
    let (low, high) = spread
        .and_then(|s| s.interval)
        .unwrap_or((f64::NAN, f64::NAN));
    let mut row = vec![j.claim.name.clone(), j.verdict.text().to_string()];
    row.extend(side(Some(&j.lower)));
    row.extend(side(j.higher.as_ref()));
    row.extend([
        j.difference.map_or("-".into(), |d| d.n.to_string()),
        stat(j.difference.map_or(f64::NAN, |d| d.mean)),
        stat(low),
        stat(high),
        j.claim.paper.clone(),
        j.claim.source.clone(),
    ]);
    row
}

fn summary_json(s: Option<Summary>) -> Value {
    let finite = |v: f64| v.is_finite().then_some(v);
    match s {
        None => Value::Null,
        Some(s) => json!({
            "n": s.n,
            "mean": s.mean,
            "sd": finite(s.sd),
            "ci_low": s.interval.map(|i| i.0),
            "ci_high": s.interval.map(|i| i.1),
        }),
    }
}

fn side_json(m: &Measured) -> Value {
    json!({
        "group": m.group,
        "metric": m.metric,
        "summary": summary_json(m.summary()),
        "by_seed": m.by_seed.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    })
}

fn to_json(j: &Judged) -> Value {
    json!({
        "name": j.claim.name,
        "says": j.claim.says,
        "paper": j.claim.paper,
        "source": j.claim.source,
        "lower": side_json(&j.lower),
        "higher": j.higher.as_ref().map(side_json),
        "difference": summary_json(j.difference),
        "verdict": j.verdict.text(),
    })
}
