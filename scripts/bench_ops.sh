#!/usr/bin/env bash
# make bench-ops: ops dispatched, host reads and allocations per training
# step of every trainer (paperlab's --profile) beside its PyTorch eager
# counterpart (scripts/bench_ops.py, torch.profiler on the same libtorch),
# on the CPU at tiny sizes: counts, not times, so the machine's load does
# not change them. Top-level ops are those inside no other aten op (a
# foreach op's per-tensor fallback on the CPU is one kernel on CUDA). paperlab runs with --update-impl foreach (what auto
# picks on CUDA) and 2 threads (the FMP net then pools with PyTorch's
# kernel, as on CUDA). Inception needs timm (scripts/bench_inception.sh
# installs it into .venv). Prints a Markdown table for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

py=.venv/bin/python
[ -x "$py" ] || { echo "bench-ops: $py not found; run make setup first" >&2; exit 1; }
"$py" -c 'import timm' 2>/dev/null || "$py" -m pip install -q timm
bin=${PAPERLAB:-target/release/paperlab}
work=$(mktemp -d -t bench_ops.XXXXXX)
trap 'rm -rf "$work"' EXIT
common=(--out "$work" --threads 2 --quiet --update-impl foreach --profile 3 --epochs 1)

declare -A flags=(
  [fmp]="train-fmp --config experiments/fmp-mnist.toml --dataset fashion-mnist --filters 8 --train-limit 300 --test-limit 50 --batch-size 50 --tests 1"
  [gan_mlp]="train-gan --model mlp --dataset fashion-mnist --train-limit 300 --g-hidden 32 --d-units 16 --batch-size 50"
  [dcgan]="train-gan --model dcgan --norm batch --features 8 --dataset fashion-mnist --train-limit 320 --test-interval 6 --running 16 --final 32 --test-steps 2"
  [wn]="train-wn --widths 8,16 --train-limit 300 --test-limit 50 --batch-size 50 --init-batch 100"
  [inception_v4]="train-inception --model inception-v4 --dataset fashion-mnist --image-size 75 --batch-size 2 --train-limit 10 --val-limit 2"
  [inception_resnet_v2]="train-inception --model inception-resnet-v2 --dataset fashion-mnist --image-size 75 --batch-size 2 --train-limit 10 --val-limit 2"
)
cases=(${BENCH_CASES:-inception_v4 inception_resnet_v2 fmp gan_mlp dcgan wn})

echo "| case | ops/step: paperlab | PyTorch | ratio | top-level ops/step: paperlab | PyTorch | ratio | host reads/step: paperlab | PyTorch | allocations/step: paperlab | PyTorch |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
  # shellcheck disable=SC2086
  "$bin" ${flags[$c]} --name "$c" "${common[@]}" >"$work/$c.log" 2>&1 \
    || { echo "bench-ops: paperlab $c failed:" >&2; tail -5 "$work/$c.log" >&2; exit 1; }
  cmd=${flags[$c]%% *}
  # paperlab's trace counted by the same code as PyTorch's events (its
  # figures.json holds the same ops, reads and allocations).
  read -r _ _ o t r a < <("$py" scripts/bench_ops.py "$c" --trace "$work/$cmd/$c/profile/trace.json")
  read -r _ _ po pt pr pa < <("$py" scripts/bench_ops.py "$c" --threads 2 2>/dev/null | grep '^OPS')
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  echo "| $c | $o | $po | $(ratio "$o" "$po") | $t | $pt | $(ratio "$t" "$pt") | $r | $pr | $a | $pa |"
done
