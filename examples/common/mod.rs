//! What the benchmarks in examples/ share (a folder, so cargo does not
//! take it for an example of its own): settings read from the environment,
//! and medians.
#![allow(dead_code)] // each benchmark uses part of it

/// The environment variable `key` parsed as a T, else `default`.
pub fn env<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `v` (of an even count, the upper middle), sorting `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
