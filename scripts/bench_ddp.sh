#!/usr/bin/env bash
# make bench-ddp: what a distributed run costs on this machine's CPU, over
# c10d's Gloo on 127.0.0.1, launched by the .venv's torchrun (BENCHMARKS.md).
# A benchmark, not a test: nothing fails on a slow result.
#
# 1. examples/bench_ddp.rs on 2 processes: summing Inception-v4's 42.7 M
#    gradient values bucketed (paperlab's dist::reduced_backward) against
#    one allreduce per gradient tensor, alternating, medians.
# 2. train-fmp on Fashion-MNIST (the demo's FMP net) as one
#    process on 2 threads against 2 processes on 1 thread each, the same
#    global batches, alternating: summary.json's global train images/s.
#    On 2 cores this shows the overhead of the process group, not a speed-up.
#
# Environment (optional): BENCH_RUNS (10) and BENCH_WARMUP (2) for part 1,
# BENCH_ROUNDS (2) alternating rounds of part 2, BENCH_TRAIN (4000) images.
set -euo pipefail
cd "$(dirname "$0")/.."

torchrun=.venv/bin/torchrun
[ -x "$torchrun" ] || { echo "bench-ddp: $torchrun not found; run make setup first" >&2; exit 1; }
bin=target/release/paperlab
rounds=${BENCH_ROUNDS:-2}
train=${BENCH_TRAIN:-4000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
launch() { "$torchrun" --standalone --nproc-per-node 2 --no-python "$@"; }

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
echo "== $(uname -m), ${cpu:-unknown CPU}, $(nproc) cores, torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'), $(date -u +%F)"
echo "== Inception-v4's gradient sum over Gloo, 2 processes of 1 thread (examples/bench_ddp.rs)"
launch target/release/examples/bench_ddp | grep -v '^RESULT'

echo "== train-fmp, Fashion-MNIST, $train images, 1 epoch: one process (2 threads) against 2 processes (1 thread each)"
fmp=(train-fmp --config experiments/fmp-demo.toml --dataset fashion-mnist --train-limit "$train"
  --test-limit 500 --tests 1 --epochs 1 --quiet --out "$work")
rate() { .venv/bin/python -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["train_images_per_sec"], 1))' "$work/train-fmp/$1/summary.json"; }
for r in $(seq "$rounds"); do
  $bin "${fmp[@]}" --threads 2 --name "one-$r" >/dev/null
  launch $bin "${fmp[@]}" --threads 1 --name "two-$r" >/dev/null
  echo "round $r: one process $(rate "one-$r") images/s, 2 processes $(rate "two-$r") images/s"
done
