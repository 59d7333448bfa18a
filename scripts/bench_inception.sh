#!/usr/bin/env bash
# make bench-inception: forward + backward time per image at 299x299 (batch 2)
# of paperlab's Inception-v4 and Inception-ResNet-v2 (channels-last, its
# default, and plain NCHW) against timm's in PyTorch eager (NCHW), on this
# machine with the same number of threads, printed as a ratio (paperlab /
# timm: below 1 is faster). First checks that timm's weights,
# loaded through --init-from's loader, give timm's logits.
#
# The two sides run in separate processes, so they take turns: BENCH_ROUNDS
# rounds of paperlab then timm, BENCH_RUNS timed steps each after
# BENCH_WARMUP; the report pools the samples of all rounds (median and
# minimum), which keeps a burst of load elsewhere from favouring one side.
#
# timm is installed into .venv for this benchmark only, with torch pinned to
# the version paperlab links (pip would otherwise upgrade it).
# Environment: BENCH_THREADS (default 1: on a shared machine a multi-threaded
# libtorch stalls whenever another process takes a core, which swamps the
# comparison; set it to $(nproc) on an idle one), BENCH_ROUNDS (3),
# BENCH_RUNS (3), BENCH_WARMUP (1).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=${BENCH_THREADS:-1}
rounds=${BENCH_ROUNDS:-3}
runs=${BENCH_RUNS:-3}
warmup=${BENCH_WARMUP:-1}
py=.venv/bin/python
torch_version=$($py -c "import torch; print(torch.__version__.split('+')[0])")
if ! $py -c "import timm, safetensors" 2>/dev/null; then
  echo "bench-inception: installing timm into .venv (benchmark only; torch stays $torch_version)"
  .venv/bin/pip install --quiet --disable-pip-version-check timm safetensors "torch==$torch_version"
fi

cargo build --release --example bench_inception
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== exactness: timm's models (random weights) through paperlab's --init-from loader"
$py scripts/bench_inception.py export "$work/export"
BENCH_EXPORT="$work/export" BENCH_SKIP_TIMING=1 target/release/examples/bench_inception
rm -rf "$work/export"

echo "== timing: $rounds rounds x $runs runs, $threads threads, timm $($py -c 'import timm; print(timm.__version__)')"
for round in $(seq "$rounds"); do
  echo "-- round $round: paperlab (libtorch through tch)"
  BENCH_THREADS=$threads BENCH_RUNS=$runs BENCH_WARMUP=$warmup \
    target/release/examples/bench_inception | tee -a "$work/samples.txt"
  echo "-- round $round: timm (PyTorch eager)"
  $py scripts/bench_inception.py time --threads "$threads" --runs "$runs" --warmup "$warmup" \
    | tee -a "$work/samples.txt"
done

echo "== forward+backward per image at 299x299, batch 2, $threads threads ($(nproc) cores)"
$py - "$work/samples.txt" <<'PY'
import statistics, sys
samples = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if parts[:1] == ["SAMPLE"]:
        samples.setdefault(parts[1], []).append(float(parts[2]) / 2)  # per image
for model in ["inception_v4", "inception_resnet_v2"]:
    theirs = samples[f"timm/{model}"]
    print(f"  {model:<20} timm          {statistics.median(theirs):7.1f} ms/image (min {min(theirs):7.1f}, n={len(theirs)})")
    for tag in ["paperlab", "paperlab_nchw"]:
        ours = samples[f"{tag}/{model}"]
        med = statistics.median(ours) / statistics.median(theirs)
        best = min(ours) / min(theirs)
        print(f"  {model:<20} {tag:<13} {statistics.median(ours):7.1f} ms/image (min {min(ours):7.1f}, n={len(ours)})"
              f"   ratio to timm: median {med:.3f}, min {best:.3f}")
        print(f"RATIO {tag}/{model} median {med:.4f} min {best:.4f}")
PY
