#!/usr/bin/env python3
"""Write REPRODUCTION.md from the runs `make reproduce` trained under OUT.

For each paper: its claim (an ordering or a number, from the paper), what
these runs measured (read from each run's summary.json), whether the claim
holds at this size, and the commands that run the paper's full size. A
paper whose runs are missing is reported as not run. Usage:

    scripts/reproduction.py OUT > REPRODUCTION.md
"""
import json
import sys
from pathlib import Path


def summary(out, command, name):
    path = Path(out) / command / name / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else None


def pct(x):
    return f"{100 * x:.2f}%"


def verdict(holds):
    return {True: "holds", False: "does not hold at this size", None: "not measured"}[holds]


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def sweep(out, command, name, runs):
    """The summaries of a sweep's runs by run name; None if any is missing."""
    found = {n: summary(out, command, f"{name}-{n}") for n in runs}
    return found if all(found.values()) else None


def section(title, intro, header, rows, claims, closing):
    return (f"## {title}\n\n{intro}\n\n" + table(header, rows) + "\n\n"
            + table(["claim", "here"], [[c, verdict(h)] for c, h in claims])
            + f"\n\n{closing}\n")


def fmp(out):
    names = ["pseudorandom-window2", "pseudorandom-disjoint", "random-window2", "random-disjoint", "max2"]
    runs = sweep(out, "train-fmp", "fmp", names)
    if not runs:
        return None
    err = {n: {int(k): v for k, v in s["test_error_by_tests"].items()} for n, s in runs.items()}
    rows = [[n, pct(err[n][1]), pct(err[n][12])] for n in names]
    fmp_runs = names[:4]
    tests_help = all(err[n][12] < err[n][1] for n in fmp_runs if n.startswith("random"))
    overlap = all(err[f"{k}-window2"][12] < err[f"{k}-disjoint"][12] for k in ("pseudorandom", "random"))
    beats_max = min(err[n][12] for n in fmp_runs) < err["max2"][12]
    claims = [
        ("Averaging tests helps random FMP (12 tests < 1 test)", tests_help),
        ("Overlapping (his 2-pixel windows) beats disjoint, 12 tests", overlap),
        ("FMP beats 2x2 max-pooling, 12 tests", beats_max),
    ]
    return section(
        "Fractional Max-Pooling (Graham 2014)",
        "Paper (MNIST, 32n, no augmentation): pseudorandom overlapping 0.44% (1 test) / "
        "0.34% (12 tests), random overlapping 0.50% / 0.32%. Measured (`make sweep-fmp`: "
        "Fashion-MNIST, 16n, 20,000 images, 4 epochs; test error):",
        ["run", "1 test", "12 tests"], rows, claims,
        "At 4 epochs max-pooling may still lead: Graham's nets trained for hundreds of "
        "epochs. Full size: `make sweep-fmp SET=\"dataset=mnist epochs=100 filters=32 "
        "train-limit=60000 test-limit=10000\"` on a GPU (`--device cuda`).")


def wn(out):
    names = ["none", "batch", "weight", "weight-meanbn"]
    runs = sweep(out, "train-wn", "wn", names)
    if not runs:
        return None
    err = {n: s["test_error"] for n, s in runs.items()}
    secs = {n: s["seconds_per_epoch"] for n, s in runs.items()}
    paper = {"none": "8.43%", "batch": "8.05%", "weight": "8.46%", "weight-meanbn": "7.31%"}
    rows = [[n, paper[n], pct(err[n]), f"{secs[n]:.1f}"] for n in names]
    claims = [
        ("Weight norm + mean-only BN is the best", err["weight-meanbn"] == min(err.values())),
        ("Batch norm is slower per epoch than weight norm", secs["batch"] > secs["weight"]),
    ]
    return section(
        "Weight Normalization (Salimans & Kingma 2016)",
        "Paper: CIFAR-10 test error after 200 epochs. Measured (`make sweep-wn`'s file: "
        "Fashion-MNIST, a third of the width, 10,000 images, 3 epochs; seconds per epoch "
        "count only on a quiet machine):",
        ["norm", "paper (CIFAR-10)", "test error here", "s/epoch here"], rows, claims,
        "Full size: `make sweep-wn DATASET=cifar10 EPOCHS=200 SET=\"widths=96,192 "
        "train-limit=50000 test-limit=10000\"` on a GPU.")


def dcgan(out):
    names = ["none", "batch", "weight", "weight-affine"]
    runs = sweep(out, "train-gan", "gan-norm", names)
    if not runs:
        return None
    running = {n: s["best"] for n, s in runs.items()}
    final = {n: s.get("recon_mse") for n, s in runs.items()}
    paper = {"none": ("0.014509", "0.006171"), "batch": ("0.017199", "0.006355"),
             "weight": ("0.013010", "0.005524"), "weight-affine": ("-", "-")}
    fmt = lambda v: "-" if v is None else f"{v:.6f}"
    rows = [[n, *paper[n], fmt(running[n]), fmt(final[n])] for n in names]
    have_final = all(v is not None for v in final.values())
    claims = [
        ("Weight norm reconstructs better than vanilla (running)", running["weight"] < running["none"]),
        ("Batch norm reconstructs worse than vanilla (running)", running["batch"] > running["none"]),
        ("Weight norm is the best of the paper's three (final)",
         final["weight"] < min(final["none"], final["batch"]) if have_final else None),
    ]
    return section(
        "Batch and weight normalization in GANs (Xiang & Li 2017)",
        "Paper: CelebA reconstruction MSE (running test / final test). Measured "
        "(`make sweep-gan`: the Fashion-MNIST demo; running = best running MSE, final = "
        "`eval-reconstruction`):",
        ["norm", "paper running", "paper final", "running here", "final here"], rows, claims,
        "Full size: `make sweep-gan SET=\"config=experiments/gan-dcgan-weight.toml\"` "
        "with CelebA in data/celeba, on a GPU.")


def mlp(out):
    s = summary(out, "train-gan", "reproduce-mlp")
    if not s or "parzen_ll" not in s:
        return None
    return (
        "## Generative Adversarial Nets (Goodfellow et al. 2014)\n\n"
        "Paper: Parzen log-likelihood 225 +- 2 on MNIST (no figure for Fashion-MNIST). "
        f"Measured (`train-gan --model mlp` on Fashion-MNIST, then `eval-parzen`): "
        f"{s['parzen_ll']:.1f} +- {s['parzen_se']:.1f} (sigma {s['sigma']:.4f}). "
        "The number is not comparable across datasets; the paper's is reproduced with "
        "`train-gan --config experiments/gan-mlp.toml --dataset mnist` and `eval-parzen`.\n"
    )


def provenance(out):
    """Which commit trained which runs (config.json's git_commit): a folder
    that `make reproduce` continued may hold runs of several commits."""
    by_commit = {}
    for config in sorted(Path(out).glob("*/*/config.json")):
        commit = json.loads(config.read_text()).get("git_commit", "unknown")
        by_commit.setdefault(commit, []).append(config.parent.name)
    return "; ".join(f"{c}: {', '.join(runs)}" for c, runs in by_commit.items())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    print(f"# Reproduction\n\nWritten by `make reproduce` (scripts/reproduction.py) from the "
          f"runs in `{out}`: CPU sizes; each section says how to run the paper's. "
          f"Runs by the git commit that trained them: {provenance(out)}.\n")
    sections = [("Fractional Max-Pooling (Graham 2014)", fmp),
                ("Weight Normalization (Salimans & Kingma 2016)", wn),
                ("Batch and weight normalization in GANs (Xiang & Li 2017)", dcgan),
                ("Generative Adversarial Nets (Goodfellow et al. 2014)", mlp)]
    for title, section in sections:
        text = section(out)
        print(text if text else f"## {title}\n\nNot run: its runs are missing from `{out}`.\n")
    print("## Inception-v4 and Inception-ResNet (Szegedy et al. 2016)\n\n"
          "Not reproduced on a CPU: ImageNet training needs GPUs "
          "(`train-inception --config experiments/inception-v4.toml`; README).\n")


if __name__ == "__main__":
    main()
