"""PyTorch's side of `make bench-ddp` (scripts/bench_ddp.sh): the gradient
sum of examples/bench_ddp.rs done by DistributedDataParallel over Gloo (its
defaults: 25 MiB buckets after a 1 MiB first one, started by hooks during
backward), on the same tensors in the same order (the shapes the Rust side
wrote) with the same cheap backward (each gradient a fixed random tensor),
timed as that example times: the median of BENCH_RUNS after BENCH_WARMUP,
the backward alone beside it, one thread a process.

  torchrun --standalone --nproc-per-node 2 scripts/bench_ddp.py SHAPES.json

Rank 0 prints the medians and `RESULT form ms` lines.
"""

import json
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn


class Grads(nn.Module):
    """Parameters of the given shapes; forward(r) = sum(p * r)."""

    def __init__(self, shapes):
        super().__init__()
        self.p = nn.ParameterList(nn.Parameter(torch.zeros(s)) for s in shapes)

    def forward(self, r):
        return sum((p * q).sum() for p, q in zip(self.p, r))


def main():
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    shapes = json.load(open(sys.argv[1]))
    torch.manual_seed(rank)
    model = Grads(shapes)
    r = [torch.rand(s) for s in shapes]
    ddp = nn.parallel.DistributedDataParallel(model)

    def ddp_step():
        ddp.zero_grad(set_to_none=False)
        ddp(r).backward()

    def backward():
        model.zero_grad(set_to_none=False)
        model(r).backward()

    ddp_step()
    # DDP averages over the processes (each bucket divided, then summed);
    # the Rust side's Loss::Sum only sums: one scaling of a flat bucket apart.
    mean = [q.clone() for q in r]
    for q in mean:
        dist.all_reduce(q)
        q /= dist.get_world_size()
    diff = max((p.grad - q).abs().max().item() for p, q in zip(model.p, mean))
    assert diff < 1e-5, f"DDP's gradients differ from the allreduce's mean by {diff}"

    forms = [("pytorch-ddp", ddp_step), ("backward", backward)]
    runs, warmup = int(os.environ.get("BENCH_RUNS", 10)), int(os.environ.get("BENCH_WARMUP", 2))
    times = [[] for _ in forms]
    for round_ in range(warmup + runs):
        for i, (_, f) in enumerate(forms):
            start = time.perf_counter()
            f()
            if round_ >= warmup:
                times[i].append((time.perf_counter() - start) * 1e3)
    if rank == 0:
        for (name, _), t in zip(forms, times):
            ms = sorted(t)[len(t) // 2]
            print(f"{name:>11}: {ms:8.1f} ms median of {runs}")
            print(f"RESULT {name} {ms:.1f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
