#!/usr/bin/env bash
# make bench-slurm: issue 32's table under a real single-node Slurm on this
# machine (scripts/slurm_node.sh, stopped and removed at the end) beside the
# .venv's torchrun (BENCHMARKS.md). A benchmark, not a test: nothing fails
# on a slow result. summary.json's global train images/s, the launches
# alternating within each of BENCH_ROUNDS (2) rounds, no --threads unless
# a row says so:
#
# 1. train-fmp, pseudorandom FMP, 600 Fashion-MNIST images, 4 filters, 3
#    epochs: one process; torchrun --nproc-per-node 2; srun --ntasks 2 with
#    the default threads, with --threads 1, and with --threads 2 (each
#    process on every core, as before issue 32).
# 2. The MLP GAN and WN, one process against 2 under srun and torchrun.
set -euo pipefail
cd "$(dirname "$0")/.."

torchrun=.venv/bin/torchrun
bin=${BENCH_BIN:-$PWD/target/release/paperlab}
[ -x "$torchrun" ] && [ -x "$bin" ] || { echo "bench-slurm: run make build first" >&2; exit 1; }
rounds=${BENCH_ROUNDS:-2}
work=$(mktemp -d)
node=$(scripts/slurm_node.sh start)
trap 'scripts/slurm_node.sh stop "$node"; rm -rf "$work"' EXIT
export SLURM_CONF=$node/slurm.conf
unset OMP_NUM_THREADS

one() { "$bin" "$@"; }
torchrun2() { "$torchrun" --standalone --nproc-per-node 2 --no-python "$bin" "$@"; }
srun2() { srun --ntasks 2 "$bin" "$@"; }

fmp=(train-fmp --fmp-sequence pseudorandom --train-limit 600 --test-limit 100
  --filters 4 --epochs 3)
gan=(train-gan --model mlp --dataset fashion-mnist --train-limit 3000 --epochs 1)
wn=(train-wn --train-limit 3000 --test-limit 500 --epochs 1)

# name launcher trainer-flags...: one run into $work, quietly; its images/s.
measure() {
  local name=$1 launcher=$2 command=$3
  shift 2
  "$launcher" "$@" --quiet --out "$work" --name "$name" >/dev/null 2>"$work/$name.err" ||
    { cat "$work/$name.err" >&2; exit 1; }
  .venv/bin/python -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["train_images_per_sec"], 1))' \
    "$work/$command/$name/summary.json"
}

cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
echo "== $(uname -m), ${cpu:-unknown CPU}, $(nproc) cores, Slurm $(sinfo -V | cut -d' ' -f2), $(date -u '+%F %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
rows=("fmp one" "fmp torchrun2" "fmp srun2" "fmp srun2 --threads 1" "fmp srun2 --threads 2"
  "gan one" "gan srun2" "gan torchrun2" "wn one" "wn srun2" "wn torchrun2")
for r in $(seq "$rounds"); do
  i=0
  for row in "${rows[@]}"; do
    read -r trainer launcher extra <<<"$row"
    declare -n flags=$trainer
    rate=$(measure "$trainer-$i-$r" "$launcher" "${flags[@]}" $extra)
    echo "round $r | $trainer | $launcher ${extra:-(default threads)} | $rate images/s | load $(cut -d' ' -f1 /proc/loadavg)"
    echo "$i $trainer $rate" >>"$work/rates"
    i=$((i + 1))
  done
done
echo "== mean images/s over the rounds, and against one process of the same trainer"
awk -v rows="$(printf '%s;' "${rows[@]}")" '
  { sum[$1] += $3; n[$1]++; if (!($2 in first)) first[$2] = $1; trainer[$1] = $2 }
  END { split(rows, name, ";")
    for (i = 0; i in n; i++) printf "%-32s %9.1f  x%.2f\n", name[i + 1], sum[i] / n[i], sum[i] / sum[first[trainer[i]]] }' "$work/rates"
