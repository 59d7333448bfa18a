#!/usr/bin/env python3
"""timm's side of `make bench-inception` (scripts/bench_inception.sh).

  export DIR  For inception_v4 and inception_resnet_v2: a timm model with
              random weights and non-trivial BatchNorm statistics, saved as
              DIR/<model>.safetensors (its state dict, exactly as timm names
              it), and DIR/<model>.io.safetensors holding an input batch
              [2, 3, 299, 299] and timm's logits for it in eval mode.
              examples/bench_inception.rs loads the first with paperlab's
              --init-from loader and must reproduce the second.
  time        Median forward+backward time at 299x299, batch 2, in training
              mode (dropout 0.2 as paperlab's keep 0.8, cross-entropy on
              random labels), PyTorch eager: `SAMPLE timm/<model> ms` per
              timed run, `RESULT timm/<model> ms` for the median.

timm is installed into .venv for this benchmark only (never a runtime
dependency of paperlab): .venv/bin/pip install timm.
"""
import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

MODELS = ["inception_v4", "inception_resnet_v2"]


def create(name):
    import timm

    return timm.create_model(name, pretrained=False, num_classes=1000, drop_rate=0.2)


def export(out):
    from safetensors.torch import save_file

    os.makedirs(out, exist_ok=True)
    for name in MODELS:
        torch.manual_seed(0)
        model = create(name)
        # A few training-mode passes so the running statistics are not 0/1.
        model.train()
        with torch.no_grad():
            for _ in range(2):
                model(torch.rand(2, 3, 299, 299) * 2 - 1)
        model.eval()
        x = torch.rand(2, 3, 299, 299) * 2 - 1
        with torch.no_grad():
            logits = model(x)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(out, f"{name}.safetensors"))
        save_file({"input": x, "logits": logits}, os.path.join(out, f"{name}.io.safetensors"))
        params = sum(p.numel() for p in model.parameters())
        print(f"INFO exported {name}: {len(state)} tensors, {params} parameters")


def bench(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"INFO torch {torch.__version__} threads {torch.get_num_threads()}")
    print(f"INFO warmup {args.warmup} runs {args.runs} batch {args.batch}")
    for name in MODELS:
        torch.manual_seed(0)
        model = create(name)
        model.train()
        x = torch.rand(args.batch, 3, 299, 299) * 2 - 1
        y = torch.randint(1000, (args.batch,))

        def step():
            model.zero_grad(set_to_none=False)
            loss = F.cross_entropy(model(x), y)
            loss.backward()

        for _ in range(args.warmup):
            step()
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
            print(f"SAMPLE timm/{name} {times[-1]:.3f}")
        ms = statistics.median(times)
        print(f"  timm/{name:<24} {ms:9.1f} ms per batch of {args.batch}  (min {min(times):.1f})")
        print(f"RESULT timm/{name} {ms:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("out")
    t = sub.add_parser("time")
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--warmup", type=int, default=1)
    t.add_argument("--batch", type=int, default=2)
    args = ap.parse_args()
    if args.cmd == "export":
        export(args.out)
    else:
        bench(args)


if __name__ == "__main__":
    main()
