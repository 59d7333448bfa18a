//! The ranges numeric flags take, each declared once, on its flag, as that
//! flag's clap value parser (`#[arg(value_parser = ranges::positive)]`): a
//! value out of range is refused while the command line or a preset is
//! parsed, with clap's message naming the flag and what it expects (exit
//! 2), before anything is checked, built or read. What depends on several
//! flags at once stays in each command's `RunConfig::checked`.
//! tests/suite/cli/flags.rs walks every subcommand and checks that no
//! numeric flag takes NaN or a negative number.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Display};
use std::str::FromStr;

/// `s` parsed as a `T` that `ok` accepts; otherwise "expected `want`".
fn number<T: FromStr + Display>(s: &str, ok: impl Fn(&T) -> bool, want: &str) -> Result<T, String> {
    match s.trim().parse::<T>() {
        Ok(v) if ok(&v) => Ok(v),
        _ => Err(format!("expected {want}")),
    }
}

/// A count of at least one (epochs, images, filters, steps).
pub fn positive_int(s: &str) -> Result<i64, String> {
    number(s, |v| *v >= 1, "a positive integer")
}

/// A count that may be zero (0 often meaning off or none).
pub fn count(s: &str) -> Result<i64, String> {
    number(s, |v| *v >= 0, "an integer, 0 or more")
}

/// A thread count, at least one.
pub fn threads(s: &str) -> Result<usize, String> {
    number(s, |v| *v >= 1, "a positive number of threads")
}

/// A finite number above zero (learning rates, epsilons, widths).
pub fn positive(s: &str) -> Result<f64, String> {
    number(s, |v: &f64| v.is_finite() && *v > 0.0, "a positive number")
}

/// A finite number of zero or more (decays, standard deviations, margins).
pub fn non_negative(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: &f64| v.is_finite() && *v >= 0.0,
        "a number, 0 or more",
    )
}

/// A fraction in [0, 1): dropout, momentum, moving-average decays.
pub fn fraction(s: &str) -> Result<f64, String> {
    number(s, |v: &f64| (0.0..1.0).contains(v), "a number in [0, 1)")
}

/// A fraction in [0, 1], both ends allowed (BatchNorm's momentum).
pub fn closed_fraction(s: &str) -> Result<f64, String> {
    number(s, |v: &f64| (0.0..=1.0).contains(v), "a number in [0, 1]")
}

/// A probability of keeping something, in (0, 1].
pub fn keep_probability(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: &f64| *v > 0.0 && *v <= 1.0,
        "a probability in (0, 1]",
    )
}

/// A finite divisor of one or more (a decay that divides every step).
pub fn at_least_one(s: &str) -> Result<f64, String> {
    number(
        s,
        |v: &f64| v.is_finite() && *v >= 1.0,
        "a number, 1 or more",
    )
}

/// How often something happens during training: every N optimizer steps,
/// or every so many seconds (--checkpoint-every). config.json holds it as
/// the command line spells it: 500, or a duration such as "10m".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "IntervalText", into = "IntervalText")]
pub enum Interval {
    Steps(u64),
    Seconds(f64),
}

/// What config.json and presets hold: a number of steps or a duration.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum IntervalText {
    Steps(u64),
    Text(String),
}

impl TryFrom<IntervalText> for Interval {
    type Error = String;
    fn try_from(t: IntervalText) -> Result<Interval, String> {
        match t {
            IntervalText::Steps(n) => interval(&n.to_string()),
            IntervalText::Text(s) => interval(&s),
        }
    }
}

impl From<Interval> for IntervalText {
    fn from(i: Interval) -> IntervalText {
        match i {
            Interval::Steps(n) => IntervalText::Steps(n),
            seconds => IntervalText::Text(seconds.to_string()),
        }
    }
}

impl Display for Interval {
    /// Steps as a number; a duration in its largest whole unit (600s: 10m).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Interval::Steps(n) => write!(f, "{n}"),
            Interval::Seconds(s) => {
                let unit = [(3600.0, "h"), (60.0, "m")]
                    .into_iter()
                    .find(|(u, _)| (s / u).fract() == 0.0);
                match unit {
                    Some((u, name)) => write!(f, "{}{name}", s / u),
                    None => write!(f, "{s}s"),
                }
            }
        }
    }
}

/// An [`Interval`]: a whole number of steps (500), or a duration, a number
/// with a unit s, m or h (90s, 10m, 1.5h); above zero either way.
pub fn interval(s: &str) -> Result<Interval, String> {
    const WANT: &str =
        "a number of optimizer steps (500) or a duration with a unit s, m or h (90s, 10m, 2h), above 0";
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return match n {
            0 => Err(format!("expected {WANT}")),
            n => Ok(Interval::Steps(n)),
        };
    }
    let unit = |suffix: char, seconds: f64| {
        let n = s.strip_suffix(suffix)?.parse::<f64>().ok()?;
        (n.is_finite() && n > 0.0).then_some(Interval::Seconds(n * seconds))
    };
    unit('s', 1.0)
        .or_else(|| unit('m', 60.0))
        .or_else(|| unit('h', 3600.0))
        .ok_or_else(|| format!("expected {WANT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_keeps_its_ends_and_refuses_what_lies_outside() {
        assert_eq!(positive_int("1"), Ok(1));
        assert!(positive_int("0").is_err() && positive_int("1.5").is_err());
        assert_eq!(count("0"), Ok(0));
        assert!(count("-1").is_err());
        assert_eq!(threads("2"), Ok(2));
        assert!(threads("0").is_err());
        assert_eq!(positive("1e-8"), Ok(1e-8));
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-0.1").is_err() && non_negative("inf").is_err());
        assert_eq!(fraction("0"), Ok(0.0));
        assert!(fraction("1").is_err() && fraction("nan").is_err());
        assert_eq!(closed_fraction("1"), Ok(1.0));
        assert!(closed_fraction("1.01").is_err());
        assert_eq!(keep_probability("1"), Ok(1.0));
        assert!(keep_probability("0").is_err());
        assert_eq!(at_least_one("1"), Ok(1.0));
        assert!(at_least_one("0.99").is_err());
        assert_eq!(positive("-2").unwrap_err(), "expected a positive number");
    }

    #[test]
    fn intervals_are_steps_or_durations_above_zero() {
        assert_eq!(interval("500"), Ok(Interval::Steps(500)));
        assert_eq!(interval("90s"), Ok(Interval::Seconds(90.0)));
        assert_eq!(interval("10m"), Ok(Interval::Seconds(600.0)));
        assert_eq!(interval("1.5h"), Ok(Interval::Seconds(5400.0)));
        for bad in [
            "0", "0s", "-5", "-1m", "10d", "m", "1.5", "nans", "infh", "",
        ] {
            assert!(interval(bad).is_err(), "{bad}");
        }
        for (text, shown) in [
            ("500", "500"),
            ("600s", "10m"),
            ("1.5h", "90m"),
            ("2.5s", "2.5s"),
        ] {
            assert_eq!(interval(text).unwrap().to_string(), shown);
        }
        // config.json: steps as a number, a duration as its text.
        for text in ["500", "\"10m\"", "\"2.5s\""] {
            let i: Interval = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&i).unwrap(), text);
        }
        assert!(serde_json::from_str::<Interval>("0").is_err());
    }
}
