#!/usr/bin/env python3
"""Trainable parameters of Xiang & Li's DCGAN pair, built as the authors build it.

A transcription of build_discriminator and build_generator in
stormraiser/GAN-weight-norm, pytorch/model.py (line numbers below), with the
weight-normalized layers of pytorch/modules/ reduced to the parameters they
register: the authors' modules use PyTorch APIs of 2017 that no longer exist,
and only which parameters exist, and their sizes, matter here. One change:
the authors hard-code 3 image channels (model.py lines 12 and 129); here it
is an argument, so one-channel data (Fashion-MNIST) is covered too.

tests/suite/gan/dcgan_params.rs runs it with the project's .venv Python and
compares paperlab's VarStores with it. Usage:

    dcgan_params.py NORM SIZE LEVELS FEATURES CHANNELS CODE [NORM SIZE ...]

LEVELS -1 derives the count from SIZE as main.py lines 134-139 do. Prints one
JSON object per configuration: {"g": {name: numel}, "d": {name: numel}}, each
parameter under the name the authors' state_dict gives it ("level.1.conv.weight";
today's PyTorch refuses dots in module names, so the layers are kept in a list
of (name, module) pairs instead of the authors' nn.Sequential), on one line each.
Padding and strides are left out where they do not change a parameter's size.
"""

import json
import sys

import torch
import torch.nn as nn


class WeightNormalized(nn.Module):
    """The parameters of WeightNormalizedConv2d / ConvTranspose2d (modules/
    WeightNormalizedConv.py): the conv's weight without its bias (_ConvNd is
    built with bias False), and a per-output scale and bias of shape
    (1, out, 1, 1) when asked for; WeightNormalizedLinear likewise with
    (1, out). Their constructors default to scale and bias both on."""

    def __init__(self, weight_shape, out, scale=True, bias=True, trailing=2):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(*weight_shape))
        per_out = (1, out) + (1,) * trailing
        self.scale = nn.Parameter(torch.ones(per_out)) if scale else None
        self.bias = nn.Parameter(torch.zeros(per_out)) if bias else None


def wn_conv(f_in, f_out, kernel, **affine):
    return WeightNormalized((f_out, f_in) + kernel, f_out, **affine)


def wn_conv_transpose(f_in, f_out, kernel, **affine):
    return WeightNormalized((f_in, f_out) + kernel, f_out, **affine)


def wn_linear(f_in, f_out, **affine):
    return WeightNormalized((f_out, f_in), f_out, trailing=0, **affine)


class TPReLU(nn.Module):
    """modules/TPReLU.py: a slope and a shift per channel."""

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(torch.full((n,), 0.25))
        self.bias = nn.Parameter(torch.zeros(n))


def default_levels(width, height):
    """main.py lines 134-139."""
    levels, s = 0, max(width, height)
    while s >= 8:
        s = (s + 1) // 2
        levels += 1
    return levels


def build_discriminator(w_in, h_in, f_first, num_down_layers, norm, channels):
    """model.py lines 8-57."""
    net = []
    normed = norm in ("weight", "weight-affine")
    affine = norm == "weight-affine"
    f_prev, f, w, h = channels, f_first, w_in, h_in
    for i in range(num_down_layers):
        last = i == num_down_layers - 1
        pad_w = 0 if last else int(w % 4 == 2)
        pad_h = 0 if last else int(h % 4 == 2)
        if normed:
            conv = wn_conv(f_prev, f, (4, 4), scale=affine, bias=affine)
        else:
            conv = nn.Conv2d(f_prev, f, 4)
        net.append((f"level.{i}.conv", conv))
        if norm == "batch" and i > 0:
            net.append((f"level.{i}.batchnorm", nn.BatchNorm2d(f)))
        if norm == "weight":
            net.append((f"level.{i}.tprelu", TPReLU(f)))
        else:
            net.append((f"level.{i}.prelu", nn.PReLU(f)))
        f_prev, f = f, f * 2
        w, h = (w + pad_w * 2) // 2, (h + pad_h * 2) // 2
    # The final conv takes the WN modules' defaults: scale and bias (line 51).
    final = wn_conv(f_prev, 1, (h, w)) if normed else nn.Conv2d(f_prev, 1, (h, w))
    net.append(("final.conv", final))
    return net


def build_generator(w_out, h_out, f_last, num_up_layers, code_size, norm, channels):
    """model.py lines 59-134."""
    net = []
    normed = norm in ("weight", "weight-affine")
    affine = norm == "weight-affine"
    w, h, f = w_out, h_out, f_last
    for _ in range(num_up_layers - 1):
        w = (w + 2) // 2 if w % 4 == 2 else w // 2
        h = (h + 2) // 2 if h % 4 == 2 else h // 2
        f *= 2
    w, h = w // 2, h // 2
    if normed:
        initial = wn_linear(code_size, f * h * w, scale=affine, bias=affine)
    else:
        initial = nn.Linear(code_size, f * h * w)
    net.append(("initial.linear", initial))
    if norm == "batch":
        net.append(("initial.batchnorm", nn.BatchNorm2d(f)))
    if norm == "weight":
        net.append(("initial.tprelu", TPReLU(f)))
    else:
        net.append(("initial.prelu", nn.PReLU(f)))
    for i in range(num_up_layers - 1):
        level = num_up_layers - 1 - i
        if normed:
            conv = wn_conv_transpose(f, f // 2, (4, 4), scale=affine, bias=affine)
        else:
            conv = nn.ConvTranspose2d(f, f // 2, 4)
        net.append((f"level.{level}.conv", conv))
        if norm == "batch":
            net.append((f"level.{level}.batchnorm", nn.BatchNorm2d(f // 2)))
        if norm == "weight":
            net.append((f"level.{level}.tprelu", TPReLU(f // 2)))
        else:
            net.append((f"level.{level}.prelu", nn.PReLU(f // 2)))
        f //= 2
    # The last transposed conv takes the WN defaults too (line 129).
    if normed:
        last = wn_conv_transpose(f, channels, (4, 4))
    else:
        last = nn.ConvTranspose2d(f, channels, 4)
    net.append(("level.0.conv", last))
    return net


def counts(net):
    return {
        f"{layer}.{name}": p.numel()
        for layer, module in net
        for name, p in module.named_parameters()
    }


def main(argv):
    if not argv or len(argv) % 6:
        sys.exit(__doc__)
    # Only sizes matter: build on the meta device, allocating nothing.
    torch.set_default_device("meta")
    for k in range(0, len(argv), 6):
        norm = argv[k]
        size, levels, features, channels, code = map(int, argv[k + 1 : k + 6])
        if levels < 0:
            levels = default_levels(size, size)
        d = build_discriminator(size, size, features, levels, norm, channels)
        g = build_generator(size, size, features, levels, code, norm, channels)
        print(json.dumps({"g": counts(g), "d": counts(d)}))


if __name__ == "__main__":
    main(sys.argv[1:])
