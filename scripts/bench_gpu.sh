#!/usr/bin/env bash
# make bench-gpu: every trainer on the GPU, paperlab against its PyTorch-eager
# (or timm) counterpart (scripts/bench_gpu.py), in one run, as ratios
# (paperlab speed / PyTorch speed: above 1 is faster). Needs CUDA; exits
# with a message otherwise. Data: Fashion-MNIST (make setup; random images
# in its files where it is missing) and a synthetic folder of 500x375 JPEGs
# made here. The two sides alternate case by case.
#
# paperlab's side is the real command on a few epochs; its images/s is the
# last epoch's metrics.csv `images_per_sec` (the engine reads the running
# sums, a device sync, before it stops an epoch's clock). PyTorch's is
# timed over --steps steps after --warmup, synchronised. eval-parzen and
# eval-reconstruction (and their counterparts) are timed as whole processes.
# The JPEG folder case also runs with other --prefetch values, against the
# DataLoader's matching prefetch_factor.
# Then Inception-v4 distributed, under torchrun on both sides: world size
# 1 over NCCL against no process group, and 2 processes sharing the GPU
# over Gloo, against PyTorch's DistributedDataParallel.
# Then the precision and layout cases (SETTINGS): each conv trainer, and
# the MLP GAN in bf16, with paperlab's --precision / --channels-last and
# the same flags to bench_gpu.py (timm train.py's --amp --amp-dtype and
# --channels-last: autocast, GradScaler for fp16, channels-last model and
# batches), compared setting for setting.
# After the fp32 trainers, Inception-v4 with --deterministic and with
# --cudnn-benchmark against its default run. Before the settings (after the NCCL check), --profile of 10 Inception-v4
# steps at fp32 (kept in results/bench-gpu/profile-inception-v4: trace.json,
# ops.csv, figures.json). Last, examples/bench_update.rs times the Inception-v4 weight update per
# tensor (paperlab now) and on flat buffers, on the device.
#
# Offline machines: BENCH_WHEELS=DIR installs timm and torchvision from
# wheels in DIR. PY picks the Python with torch (default .venv/bin/python,
# else python3); its torch/lib goes on LD_LIBRARY_PATH for the binary.
# BENCH_SETTINGS replaces the settings measured after fp32 (default
# "fp32_cl bf16 bf16_cl fp16_cl"; fp16 on the Inception nets only).
# BENCH_PREFETCH: the --prefetch values of the JPEG folder case besides
# the default 2 (default "0 1 4").
# BENCH_GPU_DRY=1 runs the same plumbing on the CPU at toy sizes (no ratios
# worth reading), to check the script on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

py=${PY:-.venv/bin/python}
[ -x "$py" ] || py=python3
export LD_LIBRARY_PATH="$($py -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))'):${LD_LIBRARY_PATH:-}"
dry=${BENCH_GPU_DRY:-0}
if [ "$dry" = 1 ]; then
  dev=cpu n=1 workers=2 size=75 small=(--image-size 75 --width 0.125)
else
  dev=cuda n=10 workers=${BENCH_WORKERS:-16} size=299 small=()
  if ! $py -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "bench-gpu: CUDA is not available here (torch.cuda.is_available() is false); nothing measured." >&2
    echo "Run it on a machine with an NVIDIA GPU; BENCHMARKS.md keeps the last GPU table." >&2
    exit 1
  fi
fi
if ! $py -c 'import timm, torchvision' 2>/dev/null; then
  torch_version=$($py -c "import torch; print(torch.__version__.split('+')[0])")
  $py -m pip install --quiet --disable-pip-version-check ${BENCH_WHEELS:+--no-index --find-links "$BENCH_WHEELS"} \
    timm torchvision==0.26.0 "torch==$torch_version"
fi
if command -v cargo >/dev/null; then cargo build --release --quiet --bin paperlab --example bench_update; fi
bin=target/release/paperlab
# grep without -q: it must read to the end, or pipefail fails on paperlab's broken pipe.
[ "$dry" = 1 ] || $bin info | grep "CUDA available: true" >/dev/null || { echo "bench-gpu: paperlab sees no CUDA ($bin info)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$py scripts/bench_loader.py make "$work/jpeg/train" $((192 * n))
$py scripts/bench_loader.py make "$work/jpeg/val" 64
data=data # Fashion-MNIST from make setup, or random images in its files
if ! ls data/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
  data="$work/data"
  $py scripts/bench_gpu.py fake_fashion --data "$data"
fi
out="$work/runs"
samples="$work/samples.txt"

# Both sides run under ${launch[@]} (torchrun, for the distributed cases)
# where it is set.
launch=()
# ours CASE COMMAND FLAGS...: a fresh run; prints its last epoch's images/s.
ours() {
  local case=$1 cmd=$2; shift 2
  ${launch[@]+"${launch[@]}" --no-python} $bin "$cmd" --device "$dev" --data-dir "$data" --out "$out" --name "$case" --quiet --force "$@" >"$work/$case.log" 2>&1 \
    || { cat "$work/$case.log"; exit 1; }
  echo "SAMPLE $case paperlab $(tail -1 "$out/$cmd/$case/metrics.csv" | awk -F, '{print $NF}')" | tee -a "$samples"
}
# theirs CASE ARGS...: the PyTorch counterpart.
theirs() {
  ${launch[@]+"${launch[@]}"} $([ ${#launch[@]} = 0 ] && echo "$py") scripts/bench_gpu.py "$@" --device "$dev" --data "$data" --steps $((5 * n)) --warmup $((1 + n / 2)) | tee -a "$samples"
}
# whole CASE SIDE COMMAND...: a whole process, as seconds.
whole() {
  local case=$1 side=$2; shift 2
  local t0=$EPOCHREALTIME
  "$@" >/dev/null
  echo "SECONDS $case $side $(echo "$EPOCHREALTIME - $t0" | sed 's/,/./g' | $py -c 'print(round(eval(input()), 3))')" | tee -a "$samples"
}
fashion=(--dataset fashion-mnist --epochs 2)
settings=(${BENCH_SETTINGS:-fp32_cl bf16 bf16_cl fp16_cl})
# flags SETTING: its flags, the same for paperlab and bench_gpu.py
# (fp32, fp32_cl, bf16, bf16_cl, fp16, fp16_cl).
flags() {
  local precision=${1%_cl}
  [ "$precision" = fp32 ] || printf -- '--precision %s ' "$precision"
  [ "$1" = "$precision" ] || printf -- '--channels-last'
}
# both CASE SETTING COMMAND FLAGS...: paperlab's COMMAND FLAGS and CASE of
# bench_gpu.py in SETTING; the case is tagged as bench_gpu.py tags it.
both() {
  local case=$1 setting=$2 cmd=$3; shift 3
  local tag=_$setting
  [ "$setting" = fp32 ] && tag=
  # shellcheck disable=SC2046 # the flags are words
  ours "$case$tag" "$cmd" "$@" $(flags "$setting")
  # shellcheck disable=SC2046
  theirs "$case" --size "$size" $(flags "$setting")
}
# trainer CASE SETTING: the trainer of CASE in SETTING, both sides.
trainer() {
  local case=$1 setting=$2
  case $case in
    fmp) both fmp "$setting" train-fmp --config experiments/fmp-mnist.toml "${fashion[@]}" \
      --train-limit $((2000 * n)) --test-limit 500 --tests 1 ;;
    gan_mlp) both gan_mlp "$setting" train-gan --config experiments/gan-mlp.toml "${fashion[@]}" \
      --train-limit $((3000 * n)) --valid-size 1000 --parzen-every 0 ;;
    inception_*) both "$case" "$setting" train-inception --model "${case//_/-}" "${fashion[@]}" "${small[@]}" \
      --train-limit $((32 * 6 * n)) --val-limit 64 ;;
    wn) both wn "$setting" train-wn --norm weight "${fashion[@]}" --train-limit $((2000 * n)) --test-limit 500 --zca false ;;
    dcgan) both dcgan "$setting" train-gan --model dcgan --norm batch --features 64 --image-size 32 "${fashion[@]}" \
      --test-interval $((30 * n)) --running 64 --final 256 --test-steps 5 ;;
  esac
}

echo "== device: $($py -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (dry run)")'), torch $($py -c 'import torch; print(torch.__version__)'), $(date -u +%F)"

# NCCL first and briefly, so that even a short device session learns whether
# it runs: Inception-v4 (with its weight EMA) at world size 1 under
# torchrun, stopped by --max-steps after 2 steps, then resumed to its end:
# the step-0 broadcast of the model's and the EMA's variables, the gradient
# buckets summed during backward, the sums' reads, a checkpoint and the
# group's shutdown, all through NCCL. (The dry run goes through Gloo.)
echo "== NCCL at world size 1: step-0 broadcast, bucketed gradient sums, stop and resume"
nccl_run() {
  "$py" -m torch.distributed.run --standalone --nproc-per-node 1 --no-python \
    $bin train-inception --device "$dev" --data-dir "$data" --out "$out" --name nccl_check --quiet "$@" \
    >"$work/nccl_check.log" 2>&1 || { cat "$work/nccl_check.log"; echo "bench-gpu: the NCCL check failed" >&2; exit 1; }
}
nccl_run --force --model inception-v4 "${fashion[@]}" "${small[@]}" --train-limit 192 --val-limit 64 \
  --batch-size 32 --dist-backend "$([ "$dry" = 1 ] && echo gloo || echo nccl)" --max-steps 2
nccl_run --resume
echo "NCCL check: passed (stopped after 2 steps, resumed to epoch $(tail -1 "$out/train-inception/nccl_check/metrics.csv" | cut -d, -f1))"

for case in fmp gan_mlp inception_v4 inception_resnet_v2; do trainer $case fp32; done
# --deterministic and --cudnn-benchmark (what each costs): Inception-v4 at
# fp32 with each, against paperlab's default run of the same case above.
for flag in deterministic cudnn-benchmark; do
  ours "inception_v4_${flag//-/_}" train-inception --model inception-v4 "${fashion[@]}" "${small[@]}" \
    --train-limit $((32 * 6 * n)) --val-limit 64 "--$flag"
done
ours inception_v4_folder train-inception --model inception-v4 --dataset "imagenet:$work/jpeg" --epochs 2 "${small[@]}" \
  --batch-size 64 --workers "$workers" --val-limit 64
theirs inception_v4_folder --folder "$work/jpeg" --workers "$workers" --size "$size"
# The loader thread (issue 34): --prefetch K against the DataLoader's
# prefetch_factor K (1 for 0, its least with workers); K = 2, both
# defaults, is the case above.
for k in ${BENCH_PREFETCH:-0 1 4}; do
  ours "inception_v4_folder_p$k" train-inception --model inception-v4 --dataset "imagenet:$work/jpeg" --epochs 2 "${small[@]}" \
    --batch-size 64 --workers "$workers" --val-limit 64 --prefetch "$k"
  theirs inception_v4_folder --folder "$work/jpeg" --workers "$workers" --size "$size" --prefetch "$k"
done
for case in wn dcgan; do trainer $case fp32; done
whole recon paperlab $bin eval-reconstruction --run "$out/train-gan/dcgan" --device "$dev" --data-dir "$data" --images $((200 * n)) --steps 50 --quiet
whole recon pytorch $py scripts/bench_gpu.py recon --device "$dev" --data "$data" --images $((200 * n))
whole parzen paperlab $bin eval-parzen --run "$out/train-gan/gan_mlp" --device "$dev" --data-dir "$data" --samples $((1000 * n)) --valid-limit 1000 --quiet
whole parzen pytorch $py scripts/bench_gpu.py parzen --device "$dev" --data "$data" --samples $((1000 * n))

# Distributed Inception-v4 through c10d, each side launched by torchrun:
# world size 1 over NCCL (the process group's cost against the plain
# inception_v4 case above), and 2 processes sharing the GPU (cuda:0) over
# Gloo (NCCL refuses two ranks on one GPU), against PyTorch's
# DistributedDataParallel doing the same (bench_gpu.py --ddp).
one_backend=nccl
[ "$dry" = 1 ] && one_backend=gloo # the dry run's CPU tensors
plain_dev=$dev
[ "$dry" = 1 ] || dev=cuda:0 # every process on the first GPU
for pair in "$one_backend 1" "gloo 2"; do
  read -r backend procs <<<"$pair"
  launch=("$py" -m torch.distributed.run --standalone --nproc-per-node "$procs")
  ours "inception_v4_$backend$procs" train-inception --model inception-v4 "${fashion[@]}" "${small[@]}" \
    --train-limit $((32 * 6 * n)) --val-limit 64 --dist-backend "$backend"
  theirs inception_v4 --size "$size" --ddp "$backend"
done
launch=() dev=$plain_dev
echo "== --profile: 10 Inception-v4 steps on $dev (per step: ops, host reads, kernel launches, GPU idle time)"
$bin train-inception --device "$dev" --data-dir "$data" --out "$out" --name profile_v4 --quiet --force \
  --model inception-v4 "${fashion[@]}" "${small[@]}" --train-limit $((32 * 12)) --val-limit 64 --epochs 1 --profile 10 \
  >"$work/profile_v4.log" 2>&1 || { cat "$work/profile_v4.log"; exit 1; }
kept=results/bench-gpu/profile-inception-v4
mkdir -p "$kept" && cp "$out/train-inception/profile_v4/profile/"* "$kept/"
cat "$kept/figures.json"
echo "(the 15 ops with the most host time a step; trace and table kept in $kept)"
head -16 "$kept/ops.csv"


echo "== precision and layout: ${settings[*]}"
for setting in "${settings[@]}"; do
  for case in inception_v4 inception_resnet_v2 fmp wn dcgan gan_mlp; do
    # fp16 (slow on the CPU; the loss scaler's cost) on the Inception nets
    # only; the MLP has no convolutions to lay out.
    [[ $setting == fp16* && $case != inception_* ]] && continue
    [[ $setting == *_cl && $case == gan_mlp ]] && continue
    trainer $case "$setting"
  done
done

echo "== the optimizer, clipping and EMA update of Inception-v4: per tensor or flat (examples/bench_update.rs)"
BENCH_DEVICE=$dev BENCH_RUNS=$((2 * n)) target/release/examples/bench_update | grep -v '^RESULT'

echo "== paperlab / PyTorch (images/s ratio; for whole evaluations, PyTorch's seconds / paperlab's): above 1 is faster"
$py - "$samples" <<'PY'
import sys
rate, secs = {}, {}
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] == "SAMPLE":
        rate[(p[1], p[2])] = float(p[3])
    elif p[0] == "SECONDS":
        secs[(p[1], p[2])] = float(p[3])
for case in dict.fromkeys(c for c, _ in rate):
    if (case, "paperlab") not in rate or (case, "pytorch") not in rate:
        continue
    ours, theirs = rate[(case, "paperlab")], rate[(case, "pytorch")]
    print(f"  {case:<30} paperlab {ours:9.1f} img/s   PyTorch {theirs:9.1f} img/s   ratio {ours / theirs:5.2f}")
for case in (c for c in dict.fromkeys(c for c, _ in rate) if c in ("inception_v4_nccl1", "inception_v4_gloo1")):
    ours, theirs = (rate[(case, side)] / rate[("inception_v4", side)] for side in ("paperlab", "pytorch"))
    print(f"  {case:<30} against no process group: paperlab {ours:5.3f}, PyTorch DDP {theirs:5.3f} of the images/s")
for case in ("inception_v4_deterministic", "inception_v4_cudnn_benchmark"):
    if (case, "paperlab") in rate:
        ratio = rate[(case, "paperlab")] / rate[("inception_v4", "paperlab")]
        print(f"  {case:<30} against paperlab's default: {ratio:5.3f} of the images/s")
for case in dict.fromkeys(c for c, _ in secs):
    ours, theirs = secs[(case, "paperlab")], secs[(case, "pytorch")]
    print(f"  {case:<30} paperlab {ours:9.2f} s       PyTorch {theirs:9.2f} s       ratio {theirs / ours:5.2f}")
PY
