#!/usr/bin/env python3
"""Write REPRODUCTION.md from the claims `make reproduce` judged under OUT.

`paperlab compare --claims` (scripts/reproduce.sh) judged each paper's
claims (experiments/claims/<paper>.toml) from its runs over seeds into
OUT/claims/<paper>/claims.json, with its figures (mean curves in seed
bands) beside it. This script only lays them out: per claim the paper's
figures, ours as mean +- sd (n), the paired difference with its 95%
interval, and the verdict; per paper what was run, its figures (copied to
docs/reproduction/ so the markdown shows them) and the command for the
paper's size. A paper without verdicts is reported as not run. Usage:

    scripts/reproduction.py OUT > REPRODUCTION.md
"""
import json
import shutil
import sys
from pathlib import Path

FIGURES = Path("docs/reproduction")

PAPERS = {
    "fmp": {
        "title": "Fractional Max-Pooling (Graham 2014)",
        "runs": "train-fmp",
        "setting": (
            "`make reproduce-fmp` (experiments/sweeps/fmp.toml): Graham's MNIST recipe (L = 6, "
            "alpha = sqrt 2, 36x36 input, his optimizer and schedule) at n = 16 without dropout, "
            "on real MNIST digits: `--dataset mnist-10k`, the first 10,000 of MNIST's training "
            "digits split 9,000 / 1,000 (class-balanced), so 9,000 training images instead of "
            "60,000 and a 1,000-digit test set (one digit is 0.1% of test error) instead of 10,000; "
            "{epochs} epochs instead of his 100 or more. The max2 net is a 2x2 max-pooling net of "
            "the same shape, not one of the paper's."
        ),
        "figures": [("test_error_by_tests", "Test error against the number of test passes averaged"),
                    ("test_error", "Test error (one pass) by epoch")],
        "full": 'make sweep-fmp SET="dataset=mnist epochs=100 filters=32 test-limit=10000" '
                '(all 60,000 MNIST digits in data/mnist; a GPU: add device=cuda)',
    },
    "wn": {
        "title": "Weight Normalization (Salimans & Kingma 2016)",
        "runs": "train-wn",
        "setting": (
            "`make reproduce-wn` (experiments/sweeps/wn.toml): the authors' CIFAR-10 net and "
            "recipe at a third of its width on Fashion-MNIST (the paper has no MNIST result), "
            "10,000 training images, {epochs} epochs of the authors' 200; seconds per epoch are "
            "wall-clock on a shared CPU, so they carry the machine's load."
        ),
        "figures": [("test_error", "Test error by epoch for the four normalisations")],
        "full": 'make sweep-wn DATASET=cifar10 EPOCHS=200 SET="widths=96,192 train-limit=50000 '
                'test-limit=10000 device=cuda"',
    },
    "gan-norm": {
        "title": "Batch and weight normalization in GANs (Xiang & Li 2017)",
        "runs": "train-gan",
        "setting": (
            "`make reproduce-gan-norm` (experiments/sweeps/gan-norm.toml): the paper's DCGAN "
            "recipe (RMSProp, lr 1e-4, batch 32, z of 128) at 16 features on Fashion-MNIST "
            "padded to 32x32 instead of CelebA, {epochs} test intervals of 100 iterations, the "
            "running reconstruction test on 64 held-out images, then `eval-reconstruction`'s "
            "final test of the best checkpoint."
        ),
        "figures": [("recon_mse", "Running reconstruction MSE by iteration")],
        "full": 'make sweep-gan SET="config=experiments/gan-dcgan-weight.toml epochs=100 device=cuda" '
                '(CelebA in data/celeba; each run keeps its own --norm)',
    },
    "gan-mlp": {
        "title": "Generative Adversarial Nets (Goodfellow et al. 2014)",
        "runs": "train-gan",
        "setting": (
            "`make reproduce-gan-mlp` (experiments/sweeps/gan-mlp.toml): the authors' MNIST "
            "model and recipe (experiments/gan-mlp.toml) on `--dataset mnist-10k`: 8,000 "
            "training digits and 1,000 held out for sigma instead of 50,000 and 10,000, "
            "{epochs} epochs instead of up to 250, the Parzen estimate (`eval-parzen`, "
            "10,000 samples) on the 1,000 test digits instead of MNIST's 10,000. A GAN "
            "trained on fewer digits for fewer epochs, scored against fewer test digits, "
            "is not expected to reach the paper's number; the estimate is reported as it is."
        ),
        "figures": [],
        "full": "target/release/paperlab train-gan --config experiments/gan-mlp.toml --dataset mnist "
                "(all of MNIST in data/mnist), then eval-parzen --run results/train-gan/gan-mlp",
    },
}


def number(metric, v):
    if v is None:
        return "-"
    if "error" in metric:
        return f"{100 * v:.2f}%"
    return f"{v:.4g}"


def spread(metric, s):
    """mean +- sd (n)"""
    if not s:
        return "-"
    sd = "" if s["sd"] is None else f" +- {number(metric, s['sd'])}"
    return f"{number(metric, s['mean'])}{sd} ({s['n']})"


def side(s):
    return f"{s['group']}: {spread(s['metric'], s['summary'])}"


def difference(c):
    d = c["difference"]
    metric = c["lower"]["metric"]
    if c["higher"] is None:
        s = c["lower"]["summary"]
        if not s or s["ci_low"] is None:
            return "-"
        return f"95% interval of the mean [{number(metric, s['ci_low'])}, {number(metric, s['ci_high'])}]"
    if not d:
        return "no seed in common"
    if d["ci_low"] is None:
        return f"{number(metric, d['mean'])} (n = {d['n']}: no interval)"
    return (f"{number(metric, d['mean'])} [{number(metric, d['ci_low'])}, "
            f"{number(metric, d['ci_high'])}] (n = {d['n']})")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def epochs_of(out, runs, paper):
    """The epochs the paper's runs trained (from their summaries)."""
    found = {json.loads(p.read_text()).get("epochs")
             for p in Path(out, runs).glob(f"{paper}-*seed=*/summary.json")}
    return "/".join(str(e) for e in sorted(e for e in found if e is not None)) or "?"


def section(out, paper, spec):
    path = Path(out, "claims", paper, "claims.json")
    if not path.is_file():
        return None, []
    judged = json.loads(path.read_text())
    rows = [[f"**{c['name']}**: {c['says']}", f"{c['paper']} ({c['source']})",
             side(c["lower"]), side(c["higher"]) if c["higher"] else "-",
             difference(c), f"**{c['verdict']}**"] for c in judged["claims"]]
    counts = {}
    for c in judged["claims"]:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    text = [f"## {judged['paper']}\n",
            spec["setting"].format(epochs=epochs_of(out, spec["runs"], paper)) + "\n",
            "Each claim says the `lower` side's figure is below the `higher` side's; the sides "
            "pair by seed, and the difference is higher - lower with its 95% t interval "
            "(holds: above 0; contradicted: below 0; undecided at this size: it holds 0). "
            f"Verdicts: {', '.join(f'{n} {v}' for v, n in counts.items())}.\n",
            table(["claim", "paper (where)", "lower: ours, mean +- sd (n)",
                   "higher: ours, mean +- sd (n)", "higher - lower [95% interval]", "verdict"], rows)
            + "\n"]
    copied = []
    for name, caption in spec["figures"]:
        png = Path(out, "claims", paper, f"{name}.png")
        if png.is_file():
            target = FIGURES / f"{paper}-{name}.png"
            copied.append((png, target))
            text.append(f"![{caption}]({target.as_posix()})\n\n*{caption}: each group's mean over "
                        "its seeds, the band its 95% interval.*\n")
    text.append(f"Paper's size: `{spec['full']}`. An undecided or contradicted claim here is "
                "judged at this CPU size; the paper's needs that run.\n")
    return "\n".join(text), copied


def provenance(out):
    """Which commit trained which runs (config.json's git_commit): a folder
    that `make reproduce` continued may hold runs of several commits."""
    by_commit = {}
    for config in sorted(Path(out).glob("*/*/config.json")):
        commit = json.loads(config.read_text()).get("git_commit", "unknown")
        by_commit.setdefault(commit, []).append(config.parent.name)
    return "; ".join(f"{c}: {len(runs)} runs" for c, runs in by_commit.items())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    print(f"# Reproduction\n\nWritten by `make reproduce` (scripts/reproduce.sh, "
          f"scripts/reproduction.py) from the runs in `{out}` and the claims in "
          f"experiments/claims/: CPU sizes, every claim judged over seeds; each section says "
          f"how its runs differ from the paper's and how to run the paper's size. Runs by the "
          f"git commit that trained them: {provenance(out)}.\n")
    FIGURES.mkdir(parents=True, exist_ok=True)
    for paper, spec in PAPERS.items():
        text, copied = section(out, paper, spec)
        for source, target in copied:
            shutil.copyfile(source, target)
        print(text if text else f"## {spec['title']}\n\nNot run: no verdicts in `{out}/claims/{paper}` "
              f"(`make reproduce-{paper}`).\n")
    print("## Inception-v4 and Inception-ResNet (Szegedy et al. 2016)\n\n"
          "Not reproduced on a CPU: ImageNet training needs GPUs "
          "(`train-inception --config experiments/inception-v4.toml`; docs/inception.md).\n")


if __name__ == "__main__":
    main()
