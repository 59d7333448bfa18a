#!/usr/bin/env bash
# make bench-train: whole training runs on the CPU against PyTorch eager,
# images/s. paperlab trains the FMP MNIST net (experiments/fmp-mnist.toml)
# and the MLP GAN (experiments/gan-mlp.toml) on Fashion-MNIST for 2 epochs
# and reports its last epoch's images/s (metrics.csv: the data loaded,
# the steps, the sums; no start-up or evaluation); scripts/bench_gpu.py
# trains the same network on the same data with --device cpu for 30 steps
# after 5 of warm-up. The two alternate for BENCH_ROUNDS rounds (default
# 3); the table gives each side's median and their ratio (above 1:
# paperlab is faster). BENCH_THREADS (default: nproc) threads on both
# sides. A benchmark, not a test: record the table in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

py=.venv/bin/python
bin=${PAPERLAB:-target/release/paperlab}
rounds=${BENCH_ROUNDS:-3}
threads=${BENCH_THREADS:-$(nproc)}
work=$(mktemp -d -t bench_train.XXXXXX)
trap 'rm -rf "$work"' EXIT

# ours CASE ROUND: paperlab's images/s in its last epoch.
ours() {
  local name=$1-$2
  case $1 in
    fmp) "$bin" train-fmp --config experiments/fmp-mnist.toml --dataset fashion-mnist --epochs 2 \
      --train-limit 3000 --test-limit 500 --tests 1 --threads "$threads" --name "$name" --out "$work" --quiet ;;
    gan_mlp) "$bin" train-gan --config experiments/gan-mlp.toml --dataset fashion-mnist --epochs 2 \
      --train-limit 3000 --valid-size 1000 --parzen-every 0 --threads "$threads" --name "$name" --out "$work" --quiet ;;
  esac >/dev/null 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  local dir
  dir=$(ls -d "$work"/*/"$name")
  "$py" -c 'import csv, sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]["images_per_sec"])' "$dir/metrics.csv"
}

# theirs CASE: PyTorch eager's images/s.
theirs() {
  OMP_NUM_THREADS=$threads "$py" scripts/bench_gpu.py "$1" --device cpu --steps 30 --warmup 5 \
    | awk '/^SAMPLE/ { print $4 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| run ($threads threads, $rounds rounds) | paperlab images/s (median, range) | PyTorch eager images/s | paperlab / PyTorch |"
echo "|---|---:|---:|---:|"
for case in fmp gan_mlp; do
  : >"$work/$case.ours"
  : >"$work/$case.theirs"
  for round in $(seq "$rounds"); do
    ours "$case" "$round" >>"$work/$case.ours"
    theirs "$case" >>"$work/$case.theirs"
  done
  a=$(median <"$work/$case.ours")
  b=$(median <"$work/$case.theirs")
  range() { sort -g "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }'; }
  printf '| %s | %.0f (%s) | %.0f (%s) | %.2f |\n' "$case" "$a" "$(range "$work/$case.ours")" \
    "$b" "$(range "$work/$case.theirs")" "$(awk -v a="$a" -v b="$b" 'BEGIN { print a / b }')"
done
