//! One plot per metric, one line per run (or per group of runs: its mean
//! curve in a shaded band, the 95% interval at each point), as PNG and SVG. The font is
//! compiled in (DejaVu Sans), so plots need no system fonts or fontconfig.

use super::groups::{Group, LEVEL};
use super::runs::Run;
use super::stats::summarize;
use crate::error::{run as run_error, Result};
use clap::ValueEnum;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// What the x axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Axis {
    Epoch,
    /// Optimizer steps: steps.csv's rows where a run has the metric there,
    /// else its epochs times its steps per epoch.
    Step,
    /// Training seconds, summed over the epochs.
    Seconds,
}

impl Axis {
    /// How a plot labels this axis.
    pub fn frame(self) -> Frame<'static> {
        let x = match self {
            Axis::Epoch => "epoch",
            Axis::Step => "step",
            Axis::Seconds => "seconds",
        };
        Frame {
            x,
            whole_x: self == Axis::Epoch,
        }
    }
}

/// A plot's x axis: its label, and whether its values are whole numbers
/// (epochs, counts), labelled as such.
pub struct Frame<'a> {
    pub x: &'a str,
    pub whole_x: bool,
}

/// One run's line: its name and (x, y) points where y is a number; for a
/// group, its mean line and the band (x, low, high) where it has one.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

/// The series of `metric` over `axis`, one per run that has it; a note for
/// each run that does not. Over steps, a run's steps.csv gives the metric
/// where it has the column (every log point), else metrics.csv does (at
/// each epoch's end).
pub fn series(runs: &[Run], metric: &str, axis: Axis) -> (Vec<Series>, Vec<String>) {
    let mut out = vec![];
    let mut notes = vec![];
    for run in runs {
        let logged = match (axis, run.steps.column(metric), run.steps.column("step")) {
            (Axis::Step, Some(ys), Some(xs)) => Some((xs, ys)),
            _ => None,
        };
        let (xs, ys) = match logged {
            Some(points) => points,
            None => match per_epoch(run, metric, axis) {
                Ok(points) => points,
                Err(note) => {
                    notes.push(note);
                    continue;
                }
            },
        };
        let points = xs
            .into_iter()
            .zip(ys)
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        out.push(Series {
            name: run.name.clone(),
            points,
            band: vec![],
        });
    }
    (out, notes)
}

/// Each group's mean curve of `metric`: the i-th point is the mean of its
/// runs' i-th points (x too: equal over epochs and steps, the mean time
/// over seconds), with the interval of the mean where 2 or more runs have
/// that point. Named `<group> (n=K)`, K the group's runs with the metric.
pub fn grouped(
    runs: &[Run],
    groups: &[Group],
    metric: &str,
    axis: Axis,
) -> (Vec<Series>, Vec<String>) {
    let mut out = vec![];
    let mut notes = vec![];
    for g in groups {
        let members: Vec<Series> = g
            .members
            .iter()
            .flat_map(|&i| {
                let (lines, missing) = series(std::slice::from_ref(&runs[i]), metric, axis);
                notes.extend(missing);
                lines
            })
            .collect();
        if members.is_empty() {
            continue;
        }
        let longest = members.iter().map(|s| s.points.len()).max().unwrap_or(0);
        let (mut points, mut band) = (vec![], vec![]);
        for i in 0..longest {
            let at: Vec<(f64, f64)> = members
                .iter()
                .filter_map(|s| s.points.get(i).copied())
                .collect();
            let xs: Vec<f64> = at.iter().map(|p| p.0).collect();
            let ys: Vec<f64> = at.iter().map(|p| p.1).collect();
            let (Some(x), Some(y)) = (summarize(&xs, LEVEL), summarize(&ys, LEVEL)) else {
                continue;
            };
            points.push((x.mean, y.mean));
            if let Some((low, high)) = y.interval {
                band.push((x.mean, low, high));
            }
        }
        out.push(Series {
            name: format!("{} (n={})", g.label, members.len()),
            points,
            band,
        });
    }
    (out, notes)
}

/// `metric`'s metrics.csv column over `axis`, or why the run has no line.
fn per_epoch(
    run: &Run,
    metric: &str,
    axis: Axis,
) -> std::result::Result<(Vec<f64>, Vec<f64>), String> {
    let (Some(ys), Some(epochs)) = (run.metrics.column(metric), run.metrics.column("epoch")) else {
        return Err(format!("{}: no metric {metric}", run.name));
    };
    let xs: Vec<f64> = match axis {
        Axis::Epoch => epochs,
        Axis::Seconds => run
            .metrics
            .column("seconds")
            .unwrap_or_default()
            .iter()
            .scan(0.0, |t, s| {
                *t += s;
                Some(*t)
            })
            .collect(),
        Axis::Step => match &run.summary {
            Some(s) if s.epochs > 0 => {
                let per_epoch = s.steps as f64 / s.epochs as f64;
                epochs.iter().map(|e| e * per_epoch).collect()
            }
            _ => {
                return Err(format!(
                    "{}: steps per epoch unknown before the run finishes; left out of the {metric} plot",
                    run.name
                ))
            }
        },
    };
    Ok((xs, ys))
}

/// Write `<dir>/<metric>.png` and `.svg`.
pub fn write(dir: &Path, metric: &str, frame: &Frame, series: &[Series]) -> Result<()> {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // Registering a valid, compiled-in font cannot fail.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
    // A metric's name as a file name (a user's --metric need not be an identifier).
    let stem: String = metric
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                true => c,
                false => '_',
            },
        )
        .collect();
    let png = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    let size = (900, 560);
    draw(
        BitMapBackend::new(&png, size).into_drawing_area(),
        metric,
        frame,
        series,
    )
    .map_err(|e| run_error(format!("cannot draw {}: {e}", png.display())))?;
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        metric,
        frame,
        series,
    )
    .map_err(|e| run_error(format!("cannot draw {}: {e}", svg.display())))
}

fn draw<B: DrawingBackend>(
    root: DrawingArea<B, Shift>,
    metric: &str,
    frame: &Frame,
    series: &[Series],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    B::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let all = || series.iter().flat_map(|s| s.points.iter());
    let bands = || series.iter().flat_map(|s| s.band.iter());
    let (x0, x1) = range(all().map(|p| p.0), false);
    let (y0, y1) = range(
        all().map(|p| p.1).chain(bands().flat_map(|b| [b.1, b.2])),
        true,
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(metric, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let mut mesh = chart.configure_mesh();
    if frame.whole_x {
        // Whole numbers only: one label per unit up to 10 of them.
        mesh.x_labels(((x1 - x0).round() as usize + 1).clamp(2, 10))
            .x_label_formatter(&|x| format!("{x:.0}"));
    }
    mesh.x_desc(frame.x)
        .y_desc(metric)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        if !s.band.is_empty() {
            // The band's upper edge left to right, then its lower edge back.
            let outline = s
                .band
                .iter()
                .map(|b| (b.0, b.2))
                .chain(s.band.iter().rev().map(|b| (b.0, b.1)));
            chart.draw_series(std::iter::once(Polygon::new(
                outline.collect::<Vec<_>>(),
                color.mix(0.2).filled(),
            )))?;
        }
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(s.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(s.points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The span of `values`, padded by 5% (a flat or empty one gets a unit span).
fn range(values: impl Iterator<Item = f64>, pad: bool) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let p = if pad { 0.05 * (hi - lo) } else { 0.0 };
    (lo - p, hi + p)
}
