"""torchvision's side of `make bench-loader` (scripts/bench_loader.sh).

  bench_loader.py make DIR N      N synthetic 500x375 JPEGs in DIR/<class>/
  bench_loader.py time DIR ...    images/s of ImageFolder + DataLoader
  bench_loader.py prefetch DIR ...  the same with prefetch_factor K and a
                                  step of --step-ms after each batch

The transform is paperlab's folder training transform: Inception's
random-resized crop (8-100% of the area, aspect 3/4-4/3) resized to SIZE
bicubic with antialiasing (PIL), as uint8 [B, 3, SIZE, SIZE]; no flip
(paperlab flips on the device).
"""

import argparse
import os
import sys
import time


def make(dir, n, classes=4):
    from multiprocessing import Pool

    for c in range(min(n, classes)):
        os.makedirs(os.path.join(dir, f"c{c}"), exist_ok=True)
    with Pool() as pool:
        pool.starmap(make_one, [(dir, i, classes) for i in range(n)])


def make_one(dir, i, classes):
    """Image i: smooth colour fields, shapes (edges) and sensor-like noise,
    a file of about the size of an ImageNet photo of this size."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(i)
    base = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((500, 375), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.integers(0, 500), rng.integers(0, 375)
        w, h = rng.integers(10, 150, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([x, y, x + w, y + h], fill=colour)
    px = np.asarray(img).astype(np.int16) + rng.normal(0, 6, (375, 500, 3)).astype(np.int16)
    Image.fromarray(px.clip(0, 255).astype(np.uint8)).save(
        os.path.join(dir, f"c{i % classes}", f"img{i:05d}.jpg"), quality=90
    )


def loader(dir, workers, batch, size, **options):
    """ImageFolder + DataLoader with paperlab's folder training transform."""
    import torch
    from torchvision import datasets, transforms

    tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(size, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.PILToTensor(),
        ]
    )
    ds = datasets.ImageFolder(dir, transform=tf)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch, num_workers=workers, persistent_workers=True, **options
    )


def passes(loader, name, workers, size, count, step=lambda images: None):
    """`count` timed passes (after one that starts the workers), each batch
    handed to `step`; prints a SAMPLE line per pass."""
    import torch

    for p in range(count + 1):
        started = time.perf_counter()
        n = 0
        for images, labels in loader:
            assert images.dtype == torch.uint8 and images.shape[1:] == (3, size, size)
            step(images)
            n += images.shape[0]
        rate = n / (time.perf_counter() - started)
        if p > 0:
            print(f"SAMPLE {name} {workers} {rate:.2f}", flush=True)


def time_loader(dir, workers, batch, size, count):
    passes(loader(dir, workers, batch, size), "torchvision", workers, size, count)


def time_prefetch(dir, workers, batch, size, count, prefetch, step_ms):
    """Per prefetch_factor K: each batch made float in [0, 1] (as a trainer
    does before its step; paperlab's loader thread does it for its batches),
    then a step of `step_ms` during which the process waits, as it would
    for a GPU step."""
    import torch

    torch.set_num_threads(1)  # as the Rust side's BENCH_THREADS=1

    def step(images):
        images.float().div_(255)
        time.sleep(step_ms / 1000)

    for k in prefetch:
        batches = loader(dir, workers, batch, size, prefetch_factor=k)
        passes(batches, f"torchvision-p{k}", workers, size, count, step)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("n", type=int)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("dir")
    common.add_argument("--workers", type=int, required=True)
    common.add_argument("--batch", type=int, default=32)
    common.add_argument("--size", type=int, default=299)
    common.add_argument("--passes", type=int, default=1)
    sub.add_parser("time", parents=[common])
    f = sub.add_parser("prefetch", parents=[common])
    f.add_argument("--prefetch", type=int, nargs="+", required=True)
    f.add_argument("--step-ms", type=float, default=100)
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.dir, a.n)
    elif a.cmd == "time":
        time_loader(a.dir, a.workers, a.batch, a.size, a.passes)
    else:
        time_prefetch(a.dir, a.workers, a.batch, a.size, a.passes, a.prefetch, a.step_ms)


if __name__ == "__main__":
    sys.exit(main())
