"""PyTorch-eager counterparts of paperlab's training steps for `make
bench-ops` (scripts/bench_ops.sh): each trains the same network with the
same update rule as a careful GPU user writes it (torch.optim with
foreach=True, clip_grad_norm_(foreach=True), timm's ModelEmaV3,
zero_grad(set_to_none=True), no item() in the step, the running loss kept
on the device), on batches made before the recording (paperlab loads its
batches on a thread of its own, which the profiler does not record).
torch.profiler records --steps steps after --warmup, each inside a
`paperlab::step` range, and the events are counted by the rules of
paperlab's --profile (src/runner/record/profile/figures.rs): ops are the
aten ops (nested ones too) inside the steps, host reads the
_local_scalar_dense and nonzero calls, allocations the memory events of
positive size; also the top-level ops, those inside no other aten op
(on the CPU a foreach op runs one op per tensor inside it, on CUDA one
kernel for many). Prints `OPS <case> <ops> <top-level ops> <host reads>
<allocations>` per step. With --trace, the same counts of paperlab's
profile/trace.json.

  bench_ops.py CASE [--steps N] [--warmup N] [--threads N] [--trace FILE]
"""

import argparse
import bisect
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from bench_fmp import fmp_net  # noqa: E402
from bench_gpu import Maxout, dcgan_pair, wn_net  # noqa: E402

STEP = "paperlab::step"
HOST_READS = {"aten::_local_scalar_dense", "aten::nonzero"}
HIDDEN = {"aten::is_leaf", "aten::output_nr", "aten::_version"}


def counted(events, steps):
    """Per step: ops, top-level ops (not inside another aten op: on CUDA
    the launches, since a CPU fallback's inner ops are one kernel there),
    host reads and allocations inside the step ranges. `events` are
    (name, start_ns, end_ns, thread, bytes): aten ops, the step ranges and
    the memory events."""
    ranges = sorted((a, b) for name, a, b, _, _ in events if name == STEP)
    starts = [a for a, _ in ranges]

    def inside(t):
        i = bisect.bisect_right(starts, t)
        return i > 0 and t <= ranges[i - 1][1]

    ops = top = reads = allocs = 0
    open_ops = {}
    for name, a, b, thread, size in sorted(events, key=lambda e: (e[3], e[1], -e[2])):
        if not inside(a):
            continue
        if name == "[memory]":
            allocs += size > 0
            continue
        if not name.startswith("aten::") or name in HIDDEN:
            continue
        ops += 1
        reads += name in HOST_READS
        stack = open_ops.setdefault(thread, [])
        while stack and stack[-1] <= a:
            stack.pop()
        top += not stack
        stack.append(b)
    n = len(ranges)
    assert n == steps, f"{n} step ranges, expected {steps}"
    return ops / n, top / n, reads / n, allocs / n


def kineto_events(prof):
    """torch.profiler's events as counted() takes them."""
    out = []
    for e in prof.profiler.kineto_results.events():
        name = e.name()
        if name in (STEP, "[memory]") or (e.scope() == 0 and name.startswith("aten::")):
            out.append((name, e.start_ns(), e.end_ns(), e.start_thread_id(), e.nbytes()))
    return out


def trace_events(path):
    """A Chrome trace's (paperlab's profile/trace.json) events as counted() takes them."""
    import json

    out = []
    for e in json.load(open(path))["traceEvents"]:
        name, cat = e.get("name", ""), e.get("cat", "")
        start = round(float(e.get("ts", 0)) * 1000)
        if cat in ("cpu_op", "user_annotation") and e.get("ph") == "X":
            out.append((name, start, start + round(float(e["dur"]) * 1000), e["tid"], 0))
        elif name == "[memory]":
            out.append((name, start, start, e.get("tid", 0), e.get("args", {}).get("Bytes", 0)))
    return out


def profiled(step, a):
    for _ in range(a.warmup):
        step()
    acts = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=acts, profile_memory=True) as prof:
        for _ in range(a.steps):
            with torch.profiler.record_function(STEP):
                step()
    return counted(kineto_events(prof), a.steps)


def ready(make, n):
    """n batches made now, handed out one a step."""
    made = [make() for _ in range(n)]
    return iter(made).__next__


def fmp(a):
    """The MNIST preset's FMP net at 8n (train-fmp --config experiments/fmp-mnist.toml
    --filters 8): PyTorch's FractionalMaxPool2d, the kernel paperlab's pooling
    takes on CUDA; Graham's update as SGD with Nesterov momentum on the summed loss."""
    model = fmp_net(filters=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.99, nesterov=True, foreach=True)
    batch = ready(lambda: (torch.rand(50, 1, 28, 28), torch.randint(10, (50,))), a.warmup + a.steps)
    total = torch.zeros(())

    def step():
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(F.pad(x, (4, 4, 4, 4))), y, reduction="sum")
        loss.backward()
        opt.step()
        total.add_(loss.detach())

    return step


def gan_players(d, g, od, og, bs, zdim, x_of, loss_d, total):
    """k = 1 D step on real x and G's samples, then one G step with D frozen."""

    def step():
        x = x_of()
        z = torch.randn(bs, zdim)
        with torch.no_grad():
            fake = g(z)
        od.zero_grad(set_to_none=True)
        loss = loss_d(d(x), d(fake))
        loss.backward()
        od.step()
        total.add_(loss.detach())
        d.requires_grad_(False)
        og.zero_grad(set_to_none=True)
        gl = F.softplus(-d(g(torch.randn(bs, zdim)))).mean()
        gl.backward()
        d.requires_grad_(True)
        og.step()
        total.add_(gl.detach())

    return step


def bce(real, fake):
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def gan_mlp(a):
    """train-gan --model mlp --g-hidden 32 --d-units 16: SGD with momentum."""
    g = nn.Sequential(nn.Linear(100, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 784), nn.Sigmoid())
    d = nn.Sequential(nn.Dropout(0.2), Maxout(784, 16, 5), nn.Dropout(0.5), Maxout(16, 16, 5),
                      nn.Dropout(0.5), nn.Linear(16, 1))
    og = torch.optim.SGD(g.parameters(), lr=0.1, momentum=0.5, foreach=True)
    od = torch.optim.SGD(d.parameters(), lr=0.1, momentum=0.5, foreach=True)
    x = ready(lambda: torch.rand(50, 784), a.warmup + a.steps)
    half = lambda real, fake: 0.5 * bce(real, fake)  # noqa: E731 (pylearn2's d_obj: the terms' mean)
    return gan_players(d, g, od, og, 50, 100, x, half, torch.zeros(()))


def dcgan(a):
    """train-gan --model dcgan --norm batch --features 8: RMSprop."""
    d, g = dcgan_pair(features=8)
    od = torch.optim.RMSprop(d.parameters(), lr=1e-4, alpha=0.9, eps=1e-6, foreach=True)
    og = torch.optim.RMSprop(g.parameters(), lr=1e-4, alpha=0.9, eps=1e-6, foreach=True)
    x = ready(lambda: F.pad(torch.rand(32, 1, 28, 28), (2, 2, 2, 2)), a.warmup + a.steps)
    return gan_players(d, g, od, og, 32, 128, x, bce, torch.zeros(()))


def wn(a):
    """train-wn --widths 8,16: weight-normalised convolutions, Adam."""
    model = wn_net(1, 10, widths=(8, 16))
    opt = torch.optim.Adam(model.parameters(), lr=0.003, betas=(0.9, 0.999), foreach=True)
    batch = ready(lambda: (torch.rand(50, 1, 28, 28), torch.randint(10, (50,))), a.warmup + a.steps)
    total = torch.zeros(())

    def step():
        x, y = batch()
        x = (x * 255 - 127.5) / 128
        x = x + 0.15 * torch.randn_like(x)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        total.add_(loss.detach())

    return step


def inception(arch, a):
    """timm's net at full width, 75x75, batch 2: RMSprop with momentum and
    weight decay, clipping at 2, label smoothing, a weight EMA, random flips,
    Fashion-MNIST-sized grey images resized on the device as paperlab does."""
    import timm
    from timm.utils import ModelEmaV3

    model = timm.create_model(arch, num_classes=10)
    ema = ModelEmaV3(model, decay=0.9999)
    opt = torch.optim.RMSprop(model.parameters(), lr=0.045, alpha=0.9, momentum=0.9, eps=1.0,
                              weight_decay=4e-5, foreach=True)
    batch = ready(lambda: (torch.rand(2, 1, 28, 28), torch.randint(10, (2,))), a.warmup + a.steps)
    mean = torch.full((1, 3, 1, 1), 0.5)
    total = torch.zeros(())

    def step():
        x, y = batch()
        x = F.interpolate(x.expand(-1, 3, -1, -1), size=(75, 75), mode="bicubic").clamp(0, 1)
        x = torch.where(torch.rand(2, 1, 1, 1) < 0.5, x.flip(3), x)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model((x - mean) / 0.5), y, label_smoothing=0.1)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 2.0, foreach=True)
        opt.step()
        ema.update(model)
        total.add_(loss.detach())

    return step


CASES = {
    "fmp": fmp,
    "gan_mlp": gan_mlp,
    "dcgan": dcgan,
    "wn": wn,
    "inception_v4": lambda a: inception("inception_v4", a),
    "inception_resnet_v2": lambda a: inception("inception_resnet_v2", a),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=CASES)
    ap.add_argument("--trace", help="count paperlab's profile/trace.json instead (CASE names the row)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.trace:
        figures = counted(trace_events(a.trace), a.steps)
    else:
        figures = profiled(CASES[a.case](a), a)
    print("OPS", a.case, *(f"{f:.1f}" for f in figures), flush=True)


if __name__ == "__main__":
    main()
