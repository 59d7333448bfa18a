//! Progress: an indicatif bar per epoch on a terminal, plain log lines on
//! stderr otherwise, nothing with --quiet.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Training steps between progress updates (each reads the sums: a host
/// sync); also --log-every's default.
pub const REPORT_EVERY: i64 = 20;

pub struct Progress {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet, bar: None }
    }

    /// Begin a phase of `total` steps (an epoch, an evaluation).
    pub fn start(&mut self, label: &str, total: u64) {
        self.finish_bar();
        if self.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        self.bar = Some(bar);
    }

    /// Move to `pos` with a message such as "1234 img/s  loss 0.43".
    pub fn update(&self, pos: u64, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
            bar.set_message(message);
        }
    }

    /// End the phase and print its summary line.
    pub fn line(&mut self, line: &str) {
        self.finish_bar();
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
