#!/usr/bin/env python3
"""PyTorch-eager twin of examples/bench_fmp.rs's training step (make bench-fmp).

The MNIST preset's FMP net (experiments/fmp-mnist.toml) as src/fmp/model.rs
builds it: 8 convolutions of 32k filters (k = 1..8), 2x2 valid except the
last (1x1), each followed by a leaky ReLU of slope 0.333; the first six by
nn.FractionalMaxPool2d(2, output_size=...) with 35->25, 24->17, 16->11,
10->7, 6->4, 3->2 (PyTorch's kernel: pseudorandom 2-pixel windows, the
preset's regions); then Graham's channel dropout of each layer's output
(0, 0, 0, 0, 0.2, 1/3, 3/7, 0.5: whole channels, one subset per batch);
then a linear layer to 10 classes. One step = forward, cross-entropy,
backward, SGD (lr 0.003, momentum 0.9) at batch 100 on random 1x36x36
inputs. Prints the median step time of --runs after --warmup, as
`RESULT step/pytorch_eager ms` (wall time, or with --clock cpu the process's
CPU time, as BENCH_CLOCK=cpu does in the Rust example).

Run it with the project's .venv/bin/python (torch 2.11.0, the same libtorch
the Rust side links).
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# (into, out) of the six FMP layers, as NetConfig::pool_sizes gives them.
POOLS = [(35, 25), (24, 17), (16, 11), (10, 7), (6, 4), (3, 2)]
DROPOUT = [0.0, 0.0, 0.0, 0.0, 0.2, 0.333333, 0.428571, 0.5]


class ChannelDropout(nn.Module):
    """Graham's dropout as src/fmp/model.rs has it: keep round(C (1 - p))
    channels chosen for the whole batch, zero the rest."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        c = x.shape[1]
        kept = round(c * (1 - self.p))
        ranks = torch.rand(c, device=x.device).argsort().argsort()
        return x * (ranks < kept).to(x.dtype).view(1, c, 1, 1)


def fmp_net(filters=32, slope=0.333, classes=10):
    layers = []
    channels = 1
    for j, p in enumerate(DROPOUT):
        width = filters * (j + 1)
        kernel = 1 if j == len(DROPOUT) - 1 else 2
        layers.append(nn.Conv2d(channels, width, kernel))
        layers.append(nn.LeakyReLU(slope))
        if j < len(POOLS):
            layers.append(nn.FractionalMaxPool2d(2, output_size=POOLS[j][1]))
        if p > 0:
            layers.append(ChannelDropout(p))
        channels = width
    layers += [nn.Flatten(), nn.Linear(channels, classes)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--filters", type=int, default=32, help="n: layer k has n*k filters")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time (use with --threads 1 on a busy machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = fmp_net(filters=args.filters)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.9)
    x = torch.rand(args.batch, 1, 36, 36)
    y = torch.randint(10, (args.batch,))
    assert model(x).shape == (args.batch, 10)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.runs):
        t0 = clock()
        step()
        times.append((clock() - t0) * 1e3)
    ms = statistics.median(times)
    print(f"INFO torch {torch.__version__} threads {torch.get_num_threads()}")
    print(f"INFO warmup {args.warmup} runs {args.runs} batch {args.batch} clock {args.clock}")
    print(f"  step/pytorch_eager {ms:9.3f} ms  (min {min(times):.3f})")
    print(f"RESULT step/pytorch_eager {ms:.4f}")


if __name__ == "__main__":
    main()
