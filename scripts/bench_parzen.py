#!/usr/bin/env python3
"""Time `paperlab eval-parzen` against NumPy on the same Parzen estimate.

`make bench-parzen` runs it with the project's .venv Python. Steps:

1. a throwaway train-gan run (one update) in a temporary directory, so there
   is a G to sample;
2. `paperlab eval-parzen --sigma S` on it: 10,000 G samples as centres and the
   10,000 Fashion-MNIST test images (784-d); its summary.json gives the time
   of the test-set pass alone (parzen_seconds) and the log-likelihood;
3. the same estimator in NumPy on the exact same centres (samples.npy) and
   test images, timed the same way, and its result compared with paperlab's.

Both sides compute ||x - mu||^2 as ||x||^2 + ||mu||^2 - 2 x.mu in float32,
after shifting by the centres' mean, in chunks of 1,000 test images, then a
log-sum-exp. Every time is the median of --repeat runs, the two alternating. --threads caps both
libtorch and NumPy's BLAS (default: all cores).
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=str(ROOT / "target/release/paperlab"))
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--test-limit", type=int, default=10_000)
    p.add_argument("--sigma", type=float, default=0.2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    return p.parse_args()


ARGS = parse_args()
# BLAS reads these when NumPy is first imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
import numpy as np  # noqa: E402


def paperlab(*args):
    cmd = [ARGS.bin, *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return done.stdout


def test_images(limit):
    """Fashion-MNIST test images as float32 rows in [0, 1]."""
    folder = Path(ARGS.data_dir) / "fashion-mnist"
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        path = folder / name
        if path.exists():
            raw = path.read_bytes()
            raw = gzip.decompress(raw) if name.endswith(".gz") else raw
            images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)
            return images[:limit].astype(np.float32) / 255.0
    sys.exit(f"no t10k-images-idx3-ubyte[.gz] in {folder} (see data/README.md)")


def parzen_numpy(x, centres, sigma, chunk=1000):
    """Per-image log-likelihood under the Parzen window (the paper's estimator)."""
    m, d = centres.shape
    shift = centres.mean(axis=0, keepdims=True)
    mu = centres - shift
    mu_sq = (mu * mu).sum(axis=1)
    const = -np.log(m) - d * np.log(sigma * np.sqrt(2 * np.pi))
    out = []
    for start in range(0, len(x), chunk):
        xc = x[start : start + chunk] - shift
        d2 = (xc * xc).sum(axis=1)[:, None] + mu_sq[None, :] - 2.0 * (xc @ mu.T)
        a = np.maximum(d2, 0.0) * (-0.5 / sigma**2)
        top = a.max(axis=1)
        lse = top + np.log(np.exp(a - top[:, None]).sum(axis=1))
        out.append(lse.astype(np.float64) + const)
    return np.concatenate(out)


def eval_parzen(run):
    """One eval-parzen run: (its stdout, wall seconds, summary.json)."""
    started = time.perf_counter()
    out = paperlab("eval-parzen", "--run", run, "--checkpoint", "last",
                   "--samples", ARGS.samples, "--sigma", ARGS.sigma,
                   "--test-limit", ARGS.test_limit, "--threads", ARGS.threads,
                   "--force", "--quiet")
    wall = time.perf_counter() - started
    return out, wall, json.loads((run / "summary.json").read_text())


def main():
    with tempfile.TemporaryDirectory() as tmp:
        paperlab("train-gan", "--dataset", "fashion-mnist", "--data-dir", ARGS.data_dir,
                 "--out", tmp, "--name", "bench", "--max-steps", "1", "--quiet")
        run = Path(tmp) / "train-gan" / "bench"
        out, _, summary = eval_parzen(run)  # also writes samples.npy (fixed seed)
        centres = np.load(run / "samples.npy")
        x = test_images(ARGS.test_limit)
        # Alternate the two, so both see the same background load.
        rust_times, rust_wall, numpy_times = [], [], []
        for _ in range(ARGS.repeat):
            out, wall, summary = eval_parzen(run)
            rust_times.append(summary["parzen_seconds"])
            rust_wall.append(wall)
            started = time.perf_counter()
            ll = parzen_numpy(x, centres, ARGS.sigma)
            numpy_times.append(time.perf_counter() - started)

    rust, numpy_t = float(np.median(rust_times)), float(np.median(numpy_times))
    mean, se = ll.mean(), ll.std() / np.sqrt(len(ll))
    print(f"INFO centres {centres.shape[0]} test_images {len(x)} dims {x.shape[1]} "
          f"sigma {ARGS.sigma} threads {ARGS.threads} repeat {ARGS.repeat}")
    print(f"INFO paperlab: {out.strip()}")
    print(f"INFO numpy:    Parzen log-likelihood: {mean:.1f} +- {se:.1f}; "
          f"difference in mean LL {abs(mean - summary['parzen_ll']):.2e}")
    print(f"RESULT paperlab_test_pass_s {rust:.3f}")
    print(f"RESULT paperlab_eval_parzen_wall_s {float(np.median(rust_wall)):.3f}")
    print(f"RESULT numpy_test_pass_s {numpy_t:.3f}")
    print(f"RESULT numpy_over_paperlab {numpy_t / rust:.2f}")


if __name__ == "__main__":
    main()
