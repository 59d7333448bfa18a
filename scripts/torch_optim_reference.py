"""torch.optim's multi-tensor (foreach=True) optimizers on given tensors: the
reference tests/suite/optim/foreach.rs checks paperlab's update rules against.

usage: torch_optim_reference.py IN.npz OUT.npz CONFIG_JSON

IN.npz holds init.<i> (the parameters' starting values) and grad.<step>.<i>
(parameter i's gradient at step <step>; absent: no gradient at that step,
so torch.optim skips the parameter). CONFIG_JSON: {"rule": "sgd" | "rmsprop"
| "adam", "steps": N, "clip": max_norm or null, and the optimizer's keyword
arguments}. Before every step the gradients are clipped with
torch.nn.utils.clip_grad_norm_(foreach=True) when "clip" is set. OUT.npz gets
param.<i> and the optimizer's state as <key>.<i> (momentum_buffer,
square_avg, grad_avg, exp_avg, exp_avg_sq, step).
"""
import json
import sys

import numpy as np
import torch


def main():
    src, dst, config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    data = np.load(src)
    count = len([k for k in data.files if k.startswith("init.")])
    params = [torch.tensor(data[f"init.{i}"], requires_grad=True) for i in range(count)]
    rule, steps, clip = config.pop("rule"), config.pop("steps"), config.pop("clip")
    make = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}
    opt = make[rule](params, foreach=True, **config)
    for step in range(steps):
        for i, p in enumerate(params):
            key = f"grad.{step}.{i}"
            p.grad = torch.tensor(data[key]) if key in data.files else None
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
        opt.step()
    out = {f"param.{i}": p.detach().numpy() for i, p in enumerate(params)}
    for i, p in enumerate(params):
        for key, value in opt.state.get(p, {}).items():
            if torch.is_tensor(value):
                out[f"{key}.{i}"] = value.detach().numpy()
            elif value is not None:
                out[f"{key}.{i}"] = np.array(value, dtype=np.float32)
    np.savez(dst, **out)


if __name__ == "__main__":
    main()
