//! Errors that reach the user: a one-paragraph message and an exit code.
//!
//! Usage and data errors (a bad flag, a missing or corrupt file) exit with 2;
//! failures while running exit with 1; an interrupted run exits with 130;
//! a run stopped by SIGUSR1 to be requeued exits with [`EXIT_REQUEUED`].
//! A panic is a bug; the binary reports it in one line
//! ([`internal_error`]) and exits with 1.

use std::any::Any;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// What kind of failure, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad flags, presets or run directories: exit 2.
    Usage,
    /// Missing, truncated or malformed data and checkpoints: exit 2.
    Data,
    /// Something failed while running (NaN loss, I/O during training): exit 1.
    Run,
    /// Ctrl-C: the run saved a checkpoint and stopped, exit 130.
    Interrupted,
    /// SIGUSR1: the run saved a checkpoint, requeued its Slurm job and
    /// stopped: exit [`EXIT_REQUEUED`].
    Requeued,
}

/// The exit code of a run stopped by SIGUSR1 with its checkpoint saved (and
/// its Slurm job requeued): sysexits.h's EX_TEMPFAIL, "try again later".
pub const EXIT_REQUEUED: i32 = 75;

/// An error with a message meant for the user.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, anyhow::Error>;

/// A usage error (exit 2): bad flag, preset or run directory.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Error {
        kind: Kind::Usage,
        message: message.into(),
    }
    .into()
}

/// A data error (exit 2): a dataset or checkpoint file is missing or malformed.
pub fn data(message: impl Into<String>) -> anyhow::Error {
    Error {
        kind: Kind::Data,
        message: message.into(),
    }
    .into()
}

/// A failure while running (exit 1).
pub fn run(message: impl Into<String>) -> anyhow::Error {
    Error {
        kind: Kind::Run,
        message: message.into(),
    }
    .into()
}

/// The run was interrupted by Ctrl-C after saving a checkpoint (exit 130).
pub fn interrupted(message: impl Into<String>) -> anyhow::Error {
    Error {
        kind: Kind::Interrupted,
        message: message.into(),
    }
    .into()
}

/// The run stopped on SIGUSR1 after saving a checkpoint (exit
/// [`EXIT_REQUEUED`]).
pub fn requeued(message: impl Into<String>) -> anyhow::Error {
    Error {
        kind: Kind::Requeued,
        message: message.into(),
    }
    .into()
}

/// The process exit code for an error chain: the first paperlab [`Error`] in it
/// decides; anything else (libtorch, I/O) is a run failure.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    match err
        .chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .map(|e| e.kind)
    {
        Some(Kind::Usage) | Some(Kind::Data) => 2,
        Some(Kind::Interrupted) => 130,
        Some(Kind::Requeued) => EXIT_REQUEUED,
        Some(Kind::Run) | None => 1,
    }
}

/// The run directory a panic names: the run in progress ([`set_run`]).
static RUN: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Name `dir` in any internal error from now on (`Session::open` calls it).
pub fn set_run(dir: &Path) {
    *RUN.lock().unwrap_or_else(PoisonError::into_inner) = Some(dir.to_path_buf());
}

/// The run directory [`set_run`] registered, if any.
pub fn current_run() -> Option<PathBuf> {
    RUN.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A panic payload's text: panics carry a String or a &'static str.
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

/// What a libtorch error's text has before its C++ frames.
const FRAMES: &str = "Exception raised from";

/// What the user sees of a panic, which is a bug (a libtorch exception
/// reaching an `unwrap`, a broken invariant): one line naming `run` and
/// the first line of what failed (a tch error's message unescaped, without
/// libtorch's "Exception raised from ..." frames); with `details` (the
/// binary passes RUST_BACKTRACE) the whole message, frames included, on
/// the lines after it.
pub fn internal_error(payload: &str, run: Option<&Path>, details: bool) -> String {
    let text = error_text(payload);
    let what = text.split(FRAMES).next().unwrap_or_default();
    let first = what
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no message)");
    let run = run.map_or(String::new(), |r| format!(" in run {}", r.display()));
    let mut message = format!("paperlab: internal error{run}: {first}");
    if details {
        message.push('\n');
        message.push_str(text.trim_end());
    } else {
        message.push_str(" (a bug; RUST_BACKTRACE=1 shows libtorch's and paperlab's frames)");
    }
    message
}

/// A panic payload's message: `unwrap` and `expect` on a tch error give
/// `...: Torch("<message with Rust's escapes>")`, whose newlines are `\n`
/// and quotes `\"`; that becomes the message itself, with any context
/// other than unwrap's boilerplate kept in front of it.
fn error_text(payload: &str) -> String {
    let payload = payload
        .strip_prefix("called `Result::unwrap()` on an `Err` value: ")
        .unwrap_or(payload);
    let Some((head, escaped)) = payload
        .strip_suffix("\")")
        .and_then(|p| p.split_once("(\""))
    else {
        return payload.to_string();
    };
    // Drop the error's variant name (Torch, Shape, ...) before the quote.
    let context = head.trim_end_matches(|c: char| c.is_ascii_alphanumeric());
    format!("{context}{}", unescape(escaped))
}

/// The text a Debug-formatted string literal's inside stands for.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                // \u{XXXX}
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind, TchError, Tensor};

    /// A libtorch exception as it reaches an unwrap (a product of
    /// mismatched shapes): the panic's payload, and libtorch's message as
    /// tch's fallible op returns it.
    fn mm_failure() -> (String, String) {
        let a = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));
        let Err(TchError::Torch(message)) = a.f_mm(&a) else {
            panic!("a 2x3 by 2x3 product succeeded");
        };
        let panic = std::panic::catch_unwind(|| a.mm(&a)).unwrap_err();
        (*panic.downcast::<String>().unwrap(), message)
    }

    #[test]
    fn an_internal_error_is_one_line_naming_the_run_and_what_failed() {
        let (payload, message) = mm_failure();
        assert!(
            payload.contains("frame #") && payload.lines().count() == 1,
            "a payload whose newlines are escaped: {payload}"
        );
        let run = Path::new("results/train-wn/meanbn");
        let shown = internal_error(&payload, Some(run), false);
        let first = message.lines().next().unwrap();
        assert!(!first.is_empty() && !first.contains(FRAMES));
        assert!(
            shown.starts_with(&format!(
                "paperlab: internal error in run results/train-wn/meanbn: {first} ("
            )),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 1, "{shown}");
        assert!(
            !shown.contains("frame #") && !shown.contains("\\n"),
            "{shown}"
        );
    }

    #[test]
    fn rust_backtrace_adds_libtorchs_frames_on_their_own_lines() {
        let (payload, message) = mm_failure();
        let shown = internal_error(&payload, None, true);
        let mut lines = shown.lines();
        let first = message.lines().next().unwrap();
        assert_eq!(
            lines.next(),
            Some(format!("paperlab: internal error: {first}").as_str())
        );
        // libtorch's message again, where it was raised, then its frames
        // (whose addresses differ between the two calls).
        let rest: Vec<&str> = lines.collect();
        assert_eq!(rest[..2], message.lines().take(2).collect::<Vec<_>>());
        assert!(rest[1].starts_with(FRAMES), "{shown}");
        assert!(
            rest.len() > 3 && rest[2..].iter().all(|l| l.starts_with("frame #")),
            "{shown}"
        );
    }

    #[test]
    fn context_and_plain_panics_keep_their_text() {
        let with_context =
            "reading best.safetensors: Torch(\"no \\\"v\\\" here\\nException raised from x\")";
        assert_eq!(
            internal_error(with_context, None, false),
            "paperlab: internal error: reading best.safetensors: no \"v\" here \
             (a bug; RUST_BACKTRACE=1 shows libtorch's and paperlab's frames)"
        );
        let plain = internal_error(
            "index out of bounds: the len is 3 but the index is 5",
            None,
            false,
        );
        assert!(
            plain.starts_with("paperlab: internal error: index out of bounds: the len is 3 but")
        );
    }
}
