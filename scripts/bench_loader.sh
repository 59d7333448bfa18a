#!/usr/bin/env bash
# make bench-loader: images/s of the lazy JPEG folder loader (decode, Inception
# random-resized crop, bicubic resize to 299, uint8 batch of 32) at 1, 2 and
# $(nproc) workers, for paperlab's loader and candidate decoder+resizer
# pipelines (examples/bench_loader.rs), against torchvision's ImageFolder +
# DataLoader with the same transform and workers (scripts/bench_loader.py).
#
# A synthetic folder of BENCH_IMAGES (320) 500x375 JPEGs is made first. The
# two sides alternate: BENCH_ROUNDS (3) rounds of (Rust pipelines, torchvision)
# per worker count, one timed pass each; the report gives the median over
# rounds and each pipeline's ratio to torchvision (above 1 is faster).
# Then the engine's feed (runner/engine/feed.rs, `--prefetch K`) against the
# DataLoader with prefetch_factor K (at least 1, its least with workers),
# each batch followed by a step of BENCH_STEP_MS during which the process
# waits, as for a GPU step: what loading ahead overlaps.
# torchvision 0.26.0 (the release that matches the .venv's torch) is installed
# into .venv for this benchmark only, with torch pinned.
# Environment: BENCH_IMAGES, BENCH_ROUNDS, BENCH_WORKERS ("1 2 $(nproc)"),
# BENCH_PIPES (comma list, default all), BENCH_THREADS (libtorch intra-op
# threads of the Rust side, default 1: on a shared machine more threads stall),
# BENCH_PREFETCH ("0 1 2 4"), BENCH_STEP_MS (100).
set -euo pipefail
cd "$(dirname "$0")/.."

images=${BENCH_IMAGES:-320}
rounds=${BENCH_ROUNDS:-3}
workers=${BENCH_WORKERS:-$(printf '%s\n' 1 2 "$(nproc)" | sort -nu | xargs)}
prefetch=${BENCH_PREFETCH:-0 1 2 4}
step_ms=${BENCH_STEP_MS:-100}
# The DataLoader's prefetch_factor for each K: K, and 1 for 0.
factors=$(for k in $prefetch; do echo $((k > 0 ? k : 1)); done | sort -nu | xargs)
py=.venv/bin/python
torch_version=$($py -c "import torch; print(torch.__version__.split('+')[0])")
if ! $py -c "import torchvision, PIL" 2>/dev/null; then
  echo "bench-loader: installing torchvision 0.26.0 into .venv (benchmark only; torch stays $torch_version)"
  .venv/bin/pip install --quiet --disable-pip-version-check torchvision==0.26.0 "torch==$torch_version"
fi

cargo build --release --example bench_loader
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$py scripts/bench_loader.py make "$work/images" "$images"
echo "== $images JPEGs (500x375, $(du -sh "$work/images" | cut -f1)), workers: $workers, $rounds rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

export BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_DIR="$work/images" BENCH_WORKERS=1 BENCH_PARTS=1 BENCH_PIPES=zune+fir \
  target/release/examples/bench_loader | grep PART | tee "$work/parts.txt"
for round in $(seq "$rounds"); do
  for w in $workers; do
    echo "-- round $round, $w workers"
    BENCH_DIR="$work/images" BENCH_WORKERS=$w BENCH_PREFETCH="${prefetch// /,}" BENCH_STEP_MS=$step_ms \
      target/release/examples/bench_loader | tee -a "$work/samples.txt"
    $py scripts/bench_loader.py time "$work/images" --workers "$w" | tee -a "$work/samples.txt"
    # shellcheck disable=SC2086 # the factors are words
    $py scripts/bench_loader.py prefetch "$work/images" --workers "$w" --prefetch $factors \
      --step-ms "$step_ms" | tee -a "$work/samples.txt"
    sleep 2 # let the DataLoader's worker processes exit before the next side
  done
done

echo "== images/s (median of $rounds rounds); ratio = pipeline / torchvision, above 1 is faster"
$py - "$work/samples.txt" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    p = line.split()
    if p[:1] == ["SAMPLE"]:
        samples.setdefault((p[1], int(p[2])), []).append(float(p[3]))
workers = sorted({w for _, w in samples})
med = {k: statistics.median(v) for k, v in samples.items()}
names = list(dict.fromkeys(k for k, _ in samples))


def reference(p):
    """What pipeline p is compared with: the plain DataLoader, or for the
    feed with --prefetch K the DataLoader with prefetch_factor max(K, 1)."""
    if p.startswith("feed-p"):
        return f"torchvision-p{max(int(p[6:]), 1)}"
    return p if p.startswith("torchvision-p") else "torchvision"


def table(title, pipes):
    print(f"{title:<18}" + "".join(f"{f'{w} workers':>22}" for w in workers))
    for p in pipes:
        cells = []
        for w in workers:
            ours, theirs = med.get((p, w)), med.get((reference(p), w))
            cells.append(f"{ours:8.1f} ({ours / theirs:5.2f}x)" if ours and theirs else "-")
        print(f"{p:<18}" + "".join(f"{c:>22}" for c in cells))


plain = [p for p in names if not p.startswith(("feed-", "torchvision"))]
table("pipeline", plain + ["torchvision"])
fed = [p for p in names if p.startswith("feed-")]
if fed:
    print("with a waited-for step after each batch; ratio to the DataLoader with prefetch_factor max(K, 1):")
    table("--prefetch K", fed + [p for p in names if p.startswith("torchvision-")])
for (p, w), v in sorted(med.items()):
    if (reference(p), w) in med:
        print(f"RATIO {p} {w} {v / med[(reference(p), w)]:.3f}")
PY
