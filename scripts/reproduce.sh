#!/usr/bin/env bash
# make reproduce: every paper's CPU-sized comparison into one results folder
# (the three sweeps, the DCGANs' final reconstruction test, the MLP GAN and
# its Parzen estimate), then REPRODUCTION.md from what they measured.
# Finished runs and evaluations are skipped, so an interrupted run continues.
# About an hour on 2 quiet cores. OUT (default results/reproduce) and JOBS
# as for the sweeps.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/paperlab
OUT=${OUT:-results/reproduce}
JOBS=${JOBS:-1}

for sweep in fmp wn gan-norm; do
  "$BIN" sweep "experiments/sweeps/$sweep.toml" --jobs "$JOBS" --out "$OUT"
done
# A figure an evaluation merged into summary.json (as a key, not as the
# selection metric's name): done already.
has() { grep -q "\"$2\":" "$1/summary.json"; }
for norm in none batch weight weight-affine; do
  run="$OUT/train-gan/gan-norm-$norm"
  has "$run" recon_mse || "$BIN" eval-reconstruction --run "$run"
done
mlp="$OUT/train-gan/reproduce-mlp"
if [ ! -f "$mlp/summary.json" ]; then
  resume=(); [ -f "$mlp/config.json" ] && resume=(--resume)
  "$BIN" train-gan --model mlp --dataset fashion-mnist --train-limit 20000 --epochs 10 \
    --out "$OUT" --name reproduce-mlp "${resume[@]}"
fi
has "$mlp" parzen_ll || "$BIN" eval-parzen --run "$mlp" --samples 10000 --valid-limit 1000
.venv/bin/python scripts/reproduction.py "$OUT" > REPRODUCTION.md
echo "reproduce: wrote REPRODUCTION.md from $OUT"
