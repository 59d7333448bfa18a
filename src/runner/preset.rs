//! TOML presets (--config FILE). A preset's keys are the subcommand's long
//! flag names; its values become flags placed before the user's own, so a flag
//! given on the command line overrides the preset (clap's args_override_self).

use crate::error::{usage, Result};
use clap::Command;
use std::ffi::OsString;
use std::path::Path;

/// Expand `--config FILE` in `argv` (program, subcommand, flags...) into flags.
pub fn expand(argv: Vec<OsString>, cli: &Command) -> Result<Vec<OsString>> {
    let Some(file) = config_path(&argv) else {
        return Ok(argv);
    };
    let Some(sub) = argv
        .get(1)
        .and_then(|s| s.to_str())
        .and_then(|s| cli.find_subcommand(s))
    else {
        return Ok(argv);
    };
    let flags = preset_flags(Path::new(&file), sub)?;
    let mut out = argv[..2].to_vec();
    out.extend(flags);
    out.extend(argv[2..].iter().cloned());
    Ok(out)
}

fn config_path(argv: &[OsString]) -> Option<String> {
    let args: Vec<&str> = argv.iter().filter_map(|a| a.to_str()).collect();
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.to_string());
        }
        if *a == "--config" {
            return args.get(i + 1).map(|s| s.to_string());
        }
    }
    None
}

/// Read a preset and turn it into `--key value` flags for `sub`.
fn preset_flags(path: &Path, sub: &Command) -> Result<Vec<OsString>> {
    let where_ = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--config {where_}: cannot read it: {e}")))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| usage(format!("--config {where_}: not valid TOML: {e}")))?;
    let known: Vec<&str> = sub.get_arguments().filter_map(|a| a.get_long()).collect();
    let mut flags = Vec::new();
    for (key, value) in table {
        if !known.contains(&key.as_str()) || key == "config" {
            return Err(usage(format!(
                "--config {where_}: unknown key {key:?} for `paperlab {}`; keys are its flag names: {}",
                sub.get_name(),
                known.join(", ")
            )));
        }
        let flag = OsString::from(format!("--{key}"));
        match value {
            toml::Value::Boolean(true) => flags.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                flags.push(flag);
                flags.push(
                    items
                        .iter()
                        .map(scalar)
                        .collect::<Vec<_>>()
                        .join(",")
                        .into(),
                );
            }
            other => {
                flags.push(flag);
                flags.push(scalar(&other).into());
            }
        }
    }
    Ok(flags)
}

fn scalar(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
