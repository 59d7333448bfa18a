//! The ranges numeric flags take, each declared once, on its flag, as that
//! flag's clap value parser (`#[arg(value_parser = ranges::positive)]`): a
//! value out of range is refused while the command line or a preset is
//! parsed, with clap's message naming the flag and what it expects (exit
//! 2), before anything is checked, built or read. What depends on several
//! flags at once stays in each command's `RunConfig::checked`.
//! tests/suite/cli/flags.rs walks every subcommand and checks that no
//! numeric flag takes NaN or a negative number.

use std::fmt::Display;
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
}
