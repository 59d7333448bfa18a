//! Errors that reach the user: a one-paragraph message and an exit code.
//!
//! Usage and data errors (a bad flag, a missing or corrupt file) exit with 2;
//! failures while running exit with 1; an interrupted run exits with 130.

use std::fmt;

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
}

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
        Some(Kind::Run) | None => 1,
    }
}
