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
# torchvision 0.26.0 (the release that matches the .venv's torch) is installed
# into .venv for this benchmark only, with torch pinned.
# Environment: BENCH_IMAGES, BENCH_ROUNDS, BENCH_WORKERS ("1 2 $(nproc)"),
# BENCH_PIPES (comma list, default all), BENCH_THREADS (libtorch intra-op
# threads of the Rust side, default 1: on a shared machine more threads stall).
set -euo pipefail
cd "$(dirname "$0")/.."

images=${BENCH_IMAGES:-320}
rounds=${BENCH_ROUNDS:-3}
workers=${BENCH_WORKERS:-$(printf '%s\n' 1 2 "$(nproc)" | sort -nu | xargs)}
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
    BENCH_DIR="$work/images" BENCH_WORKERS=$w target/release/examples/bench_loader \
      | tee -a "$work/samples.txt"
    $py scripts/bench_loader.py time "$work/images" --workers "$w" | tee -a "$work/samples.txt"
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
pipes = [p for p in dict.fromkeys(k for k, _ in samples) if p != "torchvision"] + ["torchvision"]
med = {k: statistics.median(v) for k, v in samples.items()}
print(f"{'pipeline':<16}" + "".join(f"{f'{w} workers':>22}" for w in workers))
for p in pipes:
    cells = []
    for w in workers:
        ours, theirs = med.get((p, w)), med.get(("torchvision", w))
        cells.append(f"{ours:8.1f} ({ours / theirs:5.2f}x)" if ours and theirs else "-")
    print(f"{p:<16}" + "".join(f"{c:>22}" for c in cells))
for (p, w), v in sorted(med.items()):
    print(f"RATIO {p} {w} {v / med[('torchvision', w)]:.3f}")
PY
