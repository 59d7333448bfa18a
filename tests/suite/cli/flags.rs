//! Every numeric flag of every subcommand refuses NaN, infinities and
//! negative numbers while it is parsed, naming itself (its range, declared
//! once on the flag: src/ranges.rs). The test walks clap's own description
//! of the command line, so a numeric flag added without a range fails here.

use clap::{ArgMatches, Command};

/// Whether `id` was parsed into one of the numeric types flags use.
fn is_number(m: &ArgMatches, id: &str) -> bool {
    m.try_get_one::<i64>(id).is_ok_and(|v| v.is_some())
        || m.try_get_one::<f64>(id).is_ok_and(|v| v.is_some())
        || m.try_get_one::<u64>(id).is_ok_and(|v| v.is_some())
        || m.try_get_one::<u32>(id).is_ok_and(|v| v.is_some())
        || m.try_get_one::<i32>(id).is_ok_and(|v| v.is_some())
        || m.try_get_one::<u8>(id).is_ok_and(|v| v.is_some())
        || m.try_get_one::<usize>(id).is_ok_and(|v| v.is_some())
}

#[test]
fn no_numeric_flag_takes_nan_or_a_negative_number() {
    let mut numeric = vec![];
    // train-gan once per --model: each model's flags are its own.
    for sub in &paperlab::cli::subcommands() {
        for arg in sub.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !arg.get_action().takes_values() {
                continue;
            }
            // The flag alone, so each value reaches its parser.
            let alone = Command::new("flag")
                .no_binary_name(true)
                .allow_negative_numbers(true)
                .arg(arg.clone().required(false));
            let parse = |v: &str| {
                alone
                    .clone()
                    .try_get_matches_from([format!("--{long}"), v.into()])
            };
            let Ok(m) = parse("1") else { continue };
            if !is_number(&m, arg.get_id().as_str()) {
                continue;
            }
            numeric.push(format!("{} --{long}", sub.get_name()));
            for bad in ["nan", "inf", "-1", "-1e6"] {
                let err = parse(bad)
                    .expect_err(&format!("{} --{long} {bad} was accepted", sub.get_name()));
                let msg = err.to_string();
                assert!(msg.contains(&format!("--{long}")), "{msg}");
            }
        }
    }
    // Both of train-gan's flag sets were walked.
    for flag in ["train-gan --g-hidden", "train-gan --features"] {
        assert!(numeric.iter().any(|n| n == flag), "{flag}: {numeric:?}");
    }
    // The walk found the flags (about a hundred across the subcommands).
    assert!(
        numeric.len() > 90,
        "only {} numeric flags: {numeric:?}",
        numeric.len()
    );
}
