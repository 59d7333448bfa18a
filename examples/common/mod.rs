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

/// Set malloc up as every paperlab command does (runner::compute::host_memory),
/// unless BENCH_MALLOC=glibc asks for glibc's defaults, to measure what
/// that setting buys; prints which as an `INFO malloc` line.
pub fn malloc_as_paperlab() {
    let glibc = std::env::var("BENCH_MALLOC").is_ok_and(|m| m == "glibc");
    if !glibc {
        paperlab::runner::compute::host_memory::keep_freed_memory();
    }
    let malloc = if glibc { "glibc-default" } else { "paperlab" };
    println!("INFO malloc {malloc}");
}
