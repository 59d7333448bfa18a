#!/usr/bin/env bash
# make reproduce[-PAPER]: each paper's CPU-sized comparison over seeds into
# one results folder, its claims judged (experiments/claims/PAPER.toml, by
# `paperlab compare --claims`), then REPRODUCTION.md from every paper's
# verdicts found there. Arguments: the papers to run (fmp wn gan-norm
# gan-mlp; default all). Finished runs and evaluations are skipped, so an
# interrupted run continues. OUT (default results/reproduce) and JOBS as
# for the sweeps; SEEDS=N runs seeds 1 to N instead of the sweep files'
# [1, 2, 3]. About 45 minutes on 2 cores (the Makefile's reproduce target
# has the pieces).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=target/release/paperlab
OUT=${OUT:-results/reproduce}
JOBS=${JOBS:-1}
seeds=()
if [ -n "${SEEDS:-}" ]; then seeds=(--seeds "$(seq -s, 1 "$SEEDS")"); fi
papers=("$@")
if [ ${#papers[@]} -eq 0 ]; then papers=(fmp wn gan-norm gan-mlp); fi

sweep() { "$BIN" sweep "experiments/sweeps/$1.toml" --jobs "$JOBS" --out "$OUT" "${seeds[@]}"; }
# The sweep's runs over seeds (a run without a seed is another sweep's).
runs() { echo "$OUT/$1/$2-*seed=*"; }
# Judge paper $1's claims from command $2's runs; the rest: compare's flags.
judge() {
  local paper=$1 command=$2
  shift 2
  "$BIN" compare "$(runs "$command" "$paper")" --claims "experiments/claims/$paper.toml" \
    --out "$OUT/claims/$paper" --force --quiet "$@"
}
# A figure an evaluation merged into summary.json: done already.
has() { grep -q "\"$2\":" "$1/summary.json"; }

for paper in "${papers[@]}"; do
  case $paper in
    fmp)
      sweep fmp
      judge fmp train-fmp --metric test_error ;;
    wn)
      sweep wn
      judge wn train-wn --metric test_error ;;
    gan-norm)
      sweep gan-norm
      for run in $(runs train-gan gan-norm); do
        has "$run" recon_mse || "$BIN" eval-reconstruction --run "$run"
      done
      judge gan-norm train-gan --metric recon_mse --x step ;;
    gan-mlp)
      sweep gan-mlp
      for run in $(runs train-gan gan-mlp); do
        has "$run" parzen_ll || "$BIN" eval-parzen --run "$run" --samples 10000 --valid-limit 1000
      done
      judge gan-mlp train-gan --metric d_loss ;;
    *) echo "reproduce: unknown paper $paper (fmp, wn, gan-norm, gan-mlp)" >&2; exit 2 ;;
  esac
done
.venv/bin/python scripts/reproduction.py "$OUT" > REPRODUCTION.md.new
mv REPRODUCTION.md.new REPRODUCTION.md
echo "reproduce: wrote REPRODUCTION.md from $OUT"
