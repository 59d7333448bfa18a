#!/usr/bin/env bash
# make bench-fmp: time the FMP layer against PyTorch's fractional_max_pool2d
# kernel, and one training step of the MNIST FMP net against PyTorch eager,
# on the CPU, and print the ratios. A benchmark, not a test: nothing fails on
# a slow result. Results go to BENCHMARKS.md by hand.
#
# Environment (all optional):
#   BENCH_THREADS  intra-op threads for both sides (default: nproc)
#   BENCH_RUNS     timed runs per measurement, median reported (default 30)
#   BENCH_WARMUP   warm-up runs (default 5)
#   BENCH_FILTERS  n of the step's net, layer k having n*k filters (default 32,
#                  the MNIST preset's; the demo's is 16)
#   BENCH_ROUNDS   alternating Rust/PyTorch rounds of the step timing; the
#                  median over rounds is reported (default 3)
#   BENCH_CLOCK=cpu  time process CPU time instead of wall time (both sides);
#                  with BENCH_THREADS=1 it is barely moved by other load
#   BENCH_MALLOC=glibc  the Rust side with glibc's default heap trimming
#                  instead of paperlab's (src/runner/compute/host_memory.rs)
#   BENCH_LOG      keep the raw output here (default: a temporary file)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
[ -x "$PY" ] || { echo "bench-fmp: $PY not found; run make setup first" >&2; exit 1; }
export BENCH_THREADS="${BENCH_THREADS:-$(nproc)}"
export BENCH_RUNS="${BENCH_RUNS:-30}"
export BENCH_WARMUP="${BENCH_WARMUP:-5}"
export BENCH_FILTERS="${BENCH_FILTERS:-32}"
ROUNDS="${BENCH_ROUNDS:-3}"
LOG="${BENCH_LOG:-$(mktemp -t bench_fmp.XXXXXX)}"
: >"$LOG"

echo "bench-fmp: building examples/bench_fmp.rs (release)" >&2
cargo build --release --example bench_fmp >&2
BIN=target/release/examples/bench_fmp

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
{
  echo "INFO machine $(uname -m), ${cpu:-unknown CPU}, $(nproc) cores"
  echo "INFO torch $torch_version (.venv; the Rust side links the same libtorch)"
  echo "INFO load_before $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$LOG"

echo "== layer: ours vs PyTorch's kernel (forward + backward)" >&2
BENCH_ONLY=layer "$BIN" | tee -a "$LOG"

for r in $(seq 1 "$ROUNDS"); do
  echo "== step, round $r/$ROUNDS: Rust (tch) then PyTorch eager" >&2
  BENCH_ONLY=step "$BIN" | sed 's/^RESULT step\//RESULT round step\//' | tee -a "$LOG"
  "$PY" scripts/bench_fmp.py --threads "$BENCH_THREADS" --runs "$BENCH_RUNS" --warmup "$BENCH_WARMUP" \
    --filters "$BENCH_FILTERS" --clock "${BENCH_CLOCK:-wall}" \
    | sed 's/^RESULT step\//RESULT round step\//' | tee -a "$LOG"
done
echo "INFO load_after $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"

echo
awk -v threads="$BENCH_THREADS" -v filters="$BENCH_FILTERS" -v runs="$BENCH_RUNS" -v rounds="$ROUNDS" -v clock="${BENCH_CLOCK:-wall}" '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  /^INFO machine/ { sub(/^INFO machine /, ""); machine = $0 }
  /^INFO torch/ { torch = $3 }
  /^INFO load_before/ { lb = $3 " " $4 " " $5 }
  /^INFO load_after/ { la = $3 " " $4 " " $5 }
  /^RESULT layer\// {
    split($2, p, "/"); key = p[2] SUBSEP p[3]; ms[key] = $3
    if (!(p[2] in seen)) { seen[p[2]] = 1; order[++nl] = p[2] }
  }
  /^RESULT round step\/mnist_fmp_net / { rust = rust " " $4 }
  /^RESULT round step\/pytorch_eager / { py = py " " $4 }
  END {
    printf "FMP benchmark: %s; torch %s; n = %s; %s threads; %s clock; median of %s runs (step: median over %s rounds)\n", machine, torch, filters, threads, clock, runs, rounds
    printf "load average before %s, after %s\n\n", lb, la
    printf "%-26s %11s | %-24s | %-24s | %-24s | %-24s | %-24s | %-24s\n", "layer (fwd+bwd)", "torch ms", "ours ms (x torch)", "random", "share=batch", "disjoint", "2-pixel windows", "2-pixel windows"
    printf "%-26s %11s | %-24s | %-24s | %-24s | %-24s | %-24s | %-24s\n", "", "", "pseudo/overlap/image", "overlap/image", "pseudo/overlap", "pseudo/image", "random/image", "pseudo/image (keys)"
    for (i = 1; i <= nl; i++) {
      l = order[i]; t = ms[l, "torch_kernel"]
      printf "%-26s %11.2f", l, t
      n = split("ours_pseudo_overlap_image ours_random_overlap_image ours_pseudo_overlap_batch ours_pseudo_disjoint_image ours_random_window_image ours_pseudo_window_image_keys", v, " ")
      for (j = 1; j <= n; j++) printf " | %10.2f (%5.2fx)      ", ms[l, v[j]], ms[l, v[j]] / t
      printf "\n"
    }
    if (rust != "" && py != "") {
      r = median(rust); q = median(py)
      printf "\n%-44s %10.2f ms   (rounds:%s)\n", "step, MNIST FMP net, Rust (tch)", r, rust
      printf "%-44s %10.2f ms   (rounds:%s)\n", "step, same net, PyTorch eager", q, py
      printf "%-44s %10.2fx\n", "ratio Rust step / PyTorch step", r / q
      printf "RESULT ratio/step %.4f\n", r / q
    }
    for (i = 1; i <= nl; i++) {
      l = order[i]
      printf "RESULT ratio/layer/%s %.4f\n", l, ms[l, "ours_pseudo_overlap_image"] / ms[l, "torch_kernel"]
    }
  }' "$LOG"
echo
echo "raw output: $LOG"
