//! TOML presets (--config FILE), layered between the defaults and the command
//! line. A preset's keys are the subcommand's long flag names; a key becomes a
//! flag only when the command line did not set that flag itself, so a list on
//! the command line replaces the preset's list (rather than appending to it)
//! and `--augment=false` turns a preset's `augment = true` off.

use crate::error::{usage, Result};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use std::ffi::OsString;
use std::path::Path;

/// `argv` (program, subcommand, flags...) with the flags of the preset `file`
/// that the command line left unset added. `given` is what clap made of
/// `argv` alone, for `sub`.
pub fn layer(
    argv: &[OsString],
    file: &Path,
    sub: &Command,
    given: &ArgMatches,
) -> Result<Vec<OsString>> {
    let mut out = argv[..2].to_vec();
    for (arg, value) in read(file, sub)? {
        if given.value_source(arg.get_id().as_str()) != Some(ValueSource::CommandLine) {
            out.extend(flag(arg, &value));
        }
    }
    out.extend_from_slice(&argv[2..]);
    Ok(out)
}

/// The string value of `key` in the preset `file`, if it reads as TOML and
/// has one (for a choice that decides a subcommand's other flags, such as
/// train-gan's `model`; what does not read is said when the preset is layered).
pub fn string(file: &Path, key: &str) -> Option<String> {
    value(file, key)?.as_str().map(String::from)
}

/// The value of `key` in the preset `file`, as [`string`] reads it.
pub fn value(file: &Path, key: &str) -> Option<toml::Value> {
    let mut table: toml::Table = std::fs::read_to_string(file).ok()?.parse().ok()?;
    table.remove(key)
}

/// The preset's keys, each with the flag of `sub` it names.
fn read<'a>(path: &Path, sub: &'a Command) -> Result<Vec<(&'a Arg, toml::Value)>> {
    let where_ = format!("--config {}", path.display());
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("{where_}: cannot read it: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| usage(format!("{where_}: not valid TOML: {e}")))?;
    flags_of(table, sub, &where_)
}

/// The keys of `table` (flag names of `sub`), each with the flag it names;
/// an unknown key is an error starting with `origin`.
pub fn flags_of<'a>(
    table: toml::Table,
    sub: &'a Command,
    origin: &str,
) -> Result<Vec<(&'a Arg, toml::Value)>> {
    let known = || {
        sub.get_arguments()
            .filter(|a| a.get_long() != Some("config"))
    };
    table
        .into_iter()
        .map(
            |(key, value)| match known().find(|a| a.get_long() == Some(&key)) {
                Some(arg) => Ok((arg, value)),
                None => {
                    Err(usage(format!(
                "{origin}: unknown key {key:?} for `paperlab {}`; keys are its flag names: {}",
                sub.get_display_name().unwrap_or(sub.get_name()),
                known().filter_map(Arg::get_long).collect::<Vec<_>>().join(", ")
            )))
                }
            },
        )
        .collect()
}

/// The command-line form of `key = value`: `--key=value` (lists joined by
/// commas), or for a plain switch such as --quiet, or a flag whose value
/// may be left out such as --resume, `--key` when true.
pub fn flag(arg: &Arg, value: &toml::Value) -> Option<OsString> {
    let long = arg.get_long()?;
    let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    let text = match value {
        toml::Value::Boolean(on) if matches!(arg.get_action(), ArgAction::SetTrue) || optional => {
            return on.then(|| format!("--{long}").into())
        }
        toml::Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(","),
        other => scalar(other),
    };
    Some(format!("--{long}={text}").into())
}

pub fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
