#!/usr/bin/env bash
# make bench-ddp: what a distributed run costs on this machine's CPU, over
# c10d's Gloo on 127.0.0.1, launched by the .venv's torchrun (BENCHMARKS.md).
# A benchmark, not a test: nothing fails on a slow result.
#
# 1. examples/bench_ddp.rs on 2 processes: summing Inception-v4's 42.7 M
#    gradient values bucketed (paperlab's dist::reduced_backward) against
#    one allreduce per gradient tensor, alternating, medians; then PyTorch's
#    DistributedDataParallel on the same tensors (scripts/bench_ddp.py).
# 2. train-fmp on Fashion-MNIST (the demo's FMP net) as one
#    process on 2 threads against 2 processes on 1 thread each, the same
#    global batches, alternating: summary.json's global train images/s.
#    On 2 cores this shows the overhead of the process group, not a speed-up.
#
# Environment (optional): BENCH_RUNS (10) and BENCH_WARMUP (2) for part 1,
# BENCH_ROUNDS (3) alternating rounds of part 2, BENCH_TRAIN (12000) images.
set -euo pipefail
cd "$(dirname "$0")/.."

torchrun=.venv/bin/torchrun
[ -x "$torchrun" ] || { echo "bench-ddp: $torchrun not found; run make setup first" >&2; exit 1; }
bin=target/release/paperlab
rounds=${BENCH_ROUNDS:-3}
train=${BENCH_TRAIN:-12000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One thread a process (torchrun would set it, with a warning).
launch() { OMP_NUM_THREADS=1 "$torchrun" --standalone --nproc-per-node 2 --no-python "$@"; }

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
echo "== $(uname -m), ${cpu:-unknown CPU}, $(nproc) cores, torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'), $(date -u +%F)"
echo "== Inception-v4's gradient sum over Gloo, 2 processes of 1 thread: paperlab (examples/bench_ddp.rs), then PyTorch DDP (scripts/bench_ddp.py)"
BENCH_SHAPES="$work/shapes.json" launch target/release/examples/bench_ddp | tee "$work/ours.txt" | grep -v '^RESULT'
OMP_NUM_THREADS=1 "$torchrun" --standalone --nproc-per-node 2 scripts/bench_ddp.py "$work/shapes.json" | tee "$work/theirs.txt" | grep -v '^RESULT'
ms() { awk -v f="$2" '$1 == "RESULT" && $2 == f { print $3 }' "$work/$1.txt"; }
.venv/bin/python -c 'import sys; o, ob, t, tb = map(float, sys.argv[1:]); print(f"paperlab bucketed / PyTorch DDP time: {o / t:.2f} (less the backward alone: {(o - ob) / (t - tb):.2f})")' \
  "$(ms ours bucketed)" "$(ms ours backward)" "$(ms theirs pytorch-ddp)" "$(ms theirs backward)"

echo "== train-fmp, Fashion-MNIST, $train images, 1 epoch: one process (2 threads) against 2 processes (1 thread each)"
fmp=(train-fmp --config experiments/fmp-demo.toml --dataset fashion-mnist --train-limit "$train"
  --test-limit 500 --tests 1 --epochs 1 --quiet --out "$work")
rate() { .venv/bin/python -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["train_images_per_sec"], 1))' "$work/train-fmp/$1/summary.json"; }
for r in $(seq "$rounds"); do
  $bin "${fmp[@]}" --threads 2 --name "one-$r" 2>/dev/null
  launch $bin "${fmp[@]}" --threads 1 --name "two-$r" 2>/dev/null
  echo "round $r: one process $(rate "one-$r") images/s, 2 processes $(rate "two-$r") images/s"
done
