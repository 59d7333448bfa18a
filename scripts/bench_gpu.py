"""PyTorch-eager (and timm) counterparts of paperlab's trainers for
`make bench-gpu` (scripts/bench_gpu.sh). Each trains the same network with
the same recipe and batch on the same kind of data, and prints
`SAMPLE <case> pytorch <images/s>` over --steps steps after --warmup (timed
to a device synchronisation); `parzen` and `recon` do a whole evaluation
and are timed by the shell script as whole processes, as paperlab's are.

  bench_gpu.py CASE [--device cuda] [--steps N] [--warmup N] [--data DIR] [--workers N]
                    [--precision fp32|bf16|fp16] [--channels-last] [--ddp gloo|nccl]

--precision and --channels-last are paperlab's flags with timm's train.py
meaning (--amp --amp-dtype, --channels-last; class Mixed): autocast of the
forward and the loss, a GradScaler for float16, model and batches in
channels-last order. The case's tag says the setting (inception_v4_bf16_cl).
--ddp (the inception cases, launched by torchrun) trains through
DistributedDataParallel as a user's DDP script does, the global batch
shared among the processes; rank 0 prints the global images/s, tagged
with the backend and world size (inception_v4_gloo2).

Data: Fashion-MNIST from --data (the idx files paperlab reads), or the
synthetic JPEG folder of bench_loader.py for `inception_v4_folder`.
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))


def idx(path):
    """An idx file (raw or .gz) as a numpy array."""
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            dims = raw[3]
            shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(path)


def fashion(a, split="train"):
    """uint8 [N, 1, 28, 28] and int64 labels."""
    d = os.path.join(a.data, "fashion-mnist")
    x = torch.from_numpy(idx(os.path.join(d, f"{split}-images-idx3-ubyte")).copy()).unsqueeze(1)
    y = torch.from_numpy(idx(os.path.join(d, f"{split}-labels-idx1-ubyte")).astype(np.int64))
    return x, y


def batches(a, x, y, bs):
    """Endless shuffled batches moved to the device as uint8, float there, each
    gathered batch pinned and copied without blocking on CUDA (as paperlab's
    data::batches::upload; indexing a pinned tensor would give an unpinned copy)."""
    def up(t):
        if a.device.startswith("cuda"):
            t = t.pin_memory()
        return t.to(a.device, non_blocking=True)

    while True:
        for idx_ in torch.randperm(len(x)).split(bs):
            if len(idx_) == bs:
                yield up(x[idx_]).float() / 255, up(y[idx_])


class Mixed:
    """timm train.py's mixed precision and layout: the forward and loss under
    torch.autocast in the chosen dtype (weights fp32), float16's dynamic loss
    scale by torch.amp.GradScaler (unscaled before clipping), and
    channels-last weights and batches. Without either flag it is plain fp32."""

    def __init__(self, a):
        self.dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[a.precision]
        self.device = a.device.split(":")[0]
        self.channels_last = a.channels_last
        self.scaler = torch.amp.GradScaler(self.device) if a.precision == "fp16" else None

    def model(self, m):
        return m.to(memory_format=torch.channels_last) if self.channels_last else m

    def input(self, x):
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def autocast(self):
        return torch.autocast(self.device, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self, loss, opt, clip=None):
        """Backward of loss (scaled for fp16), clip(params) on unscaled gradients, the step."""
        if self.scaler is None:
            loss.backward()
            if clip:
                clip()
            opt.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        if clip:
            clip()
        self.scaler.step(opt)
        self.scaler.update()


def timed(a, step, images_per_step):
    for _ in range(a.warmup):
        step()
    sync(a)
    t = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync(a)
    return images_per_step * a.steps / (time.perf_counter() - t)


def sync(a):
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()


def fmp(a):
    from bench_fmp import fmp_net  # the MNIST FMP net, as examples/bench_fmp.rs

    amp = Mixed(a)
    model = amp.model(fmp_net().to(a.device))
    opt = torch.optim.SGD(model.parameters(), lr=0.003, momentum=0.99, nesterov=True)
    data = batches(a, *fashion(a), 100)

    def step():
        x, y = next(data)
        x = amp.input(F.pad(x, (4, 4, 4, 4)))  # 28 -> 36, as the MNIST preset pads
        opt.zero_grad(set_to_none=False)
        with amp.autocast():
            loss = F.cross_entropy(model(x).float(), y)
        amp.step(loss, opt)

    return timed(a, step, 100)


class Maxout(nn.Module):
    def __init__(self, inputs, units, pieces):
        super().__init__()
        self.lin, self.units, self.pieces = nn.Linear(inputs, units * pieces), units, pieces

    def forward(self, x):
        return self.lin(x).view(-1, self.units, self.pieces).amax(2)


def mlp_generator():
    """Goodfellow et al.'s MNIST G (train-gan --model mlp)."""
    return nn.Sequential(nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                         nn.Linear(1200, 784), nn.Sigmoid())


def gan_step(d, g, od, og, x, noise, amp_d, amp_g):
    """One D step on real x and a fake batch (BCE on logits, summed), then one G
    step; each player with its own loss scaler, as paperlab's."""
    bce = F.binary_cross_entropy_with_logits
    od.zero_grad()
    with amp_d.autocast():
        real, fake = d(amp_d.input(x)).float(), d(g(noise()).detach()).float()
        loss = bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake))
    amp_d.step(loss, od)
    og.zero_grad()
    with amp_g.autocast():
        fake = d(g(noise())).float()
        loss = bce(fake, torch.ones_like(fake))
    amp_g.step(loss, og)


def gan_mlp(a):
    g = mlp_generator().to(a.device)
    d = nn.Sequential(nn.Dropout(0.2), Maxout(784, 240, 5), nn.Dropout(0.5), Maxout(240, 240, 5),
                      nn.Dropout(0.5), nn.Linear(240, 1)).to(a.device)
    og = torch.optim.SGD(g.parameters(), lr=0.1, momentum=0.5)
    od = torch.optim.SGD(d.parameters(), lr=0.1, momentum=0.5)
    amp_d, amp_g = Mixed(a), Mixed(a)
    data = batches(a, *fashion(a), 100)

    def step():
        x, _ = next(data)
        gan_step(d, g, od, og, x.flatten(1), lambda: torch.randn(100, 100, device=a.device), amp_d, amp_g)

    return timed(a, step, 100)


def world(a):
    """With --ddp BACKEND (under torchrun): join the process group as a
    user's DDP script does, and return the world size; else 1."""
    if not a.ddp:
        return 1
    import torch.distributed as dist

    dist.init_process_group(a.ddp)
    torch.manual_seed(dist.get_rank())
    return dist.get_world_size()


def ddp(a, model):
    """`model` in DistributedDataParallel (its default 25 MiB buckets,
    overlapping backward) with --ddp, else itself; and the bare module."""
    if not a.ddp:
        return model, model
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.cuda.current_device()] if a.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids), model


def inception(a, arch, folder=False):
    """The paper's recipe on both sides: TF RMSProp, clipping, label smoothing,
    a weight EMA (timm's ModelEmaV3), batch 32 (64 from the folder), the
    global batch shared among the processes with --ddp."""
    import timm
    from timm.optim import RMSpropTF
    from timm.utils import ModelEmaV3

    amp = Mixed(a)
    global_bs = 64 if folder else 32
    bs = global_bs // world(a)
    model, bare = ddp(a, amp.model(timm.create_model(arch, num_classes=4 if folder else 10).to(a.device)))
    ema = ModelEmaV3(bare, decay=0.9999)
    opt = RMSpropTF(model.parameters(), lr=0.045, alpha=0.9, momentum=0.9, eps=1.0, weight_decay=4e-5)
    if folder:
        from torchvision import datasets, transforms

        tf = transforms.Compose([transforms.RandomResizedCrop(
            a.size, interpolation=transforms.InterpolationMode.BICUBIC), transforms.PILToTensor()])
        loader = torch.utils.data.DataLoader(
            datasets.ImageFolder(os.path.join(a.folder, "train"), tf), batch_size=bs, shuffle=True,
            num_workers=a.workers, pin_memory=a.device.startswith("cuda"), persistent_workers=True, drop_last=True,
            prefetch_factor=2 if a.prefetch is None else max(a.prefetch, 1))

        def endless():
            while True:
                for x, y in loader:
                    yield (x.to(a.device, non_blocking=True).float() / 255,
                           y.to(a.device, non_blocking=True))
        data = endless()
    else:
        data = batches(a, *fashion(a), bs)
    mean = torch.tensor([0.5, 0.5, 0.5], device=a.device).view(1, 3, 1, 1)

    def step():
        x, y = next(data)
        if x.shape[1] == 1:  # Fashion-MNIST: grey to RGB, resized on the device as paperlab does
            x = F.interpolate(x.expand(-1, 3, -1, -1), size=(a.size, a.size), mode="bicubic").clamp(0, 1)
        x = torch.where(torch.rand(bs, 1, 1, 1, device=a.device) < 0.5, x.flip(3), x)
        x = amp.input((x - mean) / 0.5)
        opt.zero_grad(set_to_none=False)
        with amp.autocast():
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.1)
        amp.step(loss, opt, clip=lambda: torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0))
        ema.update(bare)

    return timed(a, step, global_bs)


def wn_net(channels, classes, widths=(96, 192)):
    """Salimans & Kingma's CIFAR net with weight norm (train-wn --norm weight)."""
    wn = nn.utils.parametrizations.weight_norm
    w1, w2 = widths
    conv = lambda i, o, k, p: [wn(nn.Conv2d(i, o, k, padding=p)), nn.LeakyReLU(0.1)]
    layers = conv(channels, w1, 3, 1) + conv(w1, w1, 3, 1) + conv(w1, w1, 3, 1)
    layers += [nn.MaxPool2d(2), nn.Dropout(0.5)]
    layers += conv(w1, w2, 3, 1) + conv(w2, w2, 3, 1) + conv(w2, w2, 3, 1)
    layers += [nn.MaxPool2d(2), nn.Dropout(0.5)]
    layers += conv(w2, w2, 3, 0) + conv(w2, w2, 1, 0) + conv(w2, w2, 1, 0)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), wn(nn.Linear(w2, classes))]
    return nn.Sequential(*layers)


def wn(a):
    amp = Mixed(a)
    model = amp.model(wn_net(1, 10).to(a.device))
    opt = torch.optim.Adam(model.parameters(), lr=0.003, betas=(0.9, 0.999))
    data = batches(a, *fashion(a), 100)

    def step():
        x, y = next(data)
        x = (x * 255 - 127.5) / 128
        x = amp.input(x + 0.15 * torch.randn_like(x))
        opt.zero_grad()
        with amp.autocast():
            loss = F.cross_entropy(model(x).float(), y)
        amp.step(loss, opt)

    return timed(a, step, 100)


def dcgan_pair(features=64, z=128, channels=1):
    """Xiang & Li's DCGAN at 32x32 with batch norm (train-gan --model dcgan --norm batch)."""
    f = features
    d = nn.Sequential(nn.Conv2d(channels, f, 4, 2, 1), nn.PReLU(f),
                      nn.Conv2d(f, 2 * f, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * f), nn.PReLU(2 * f),
                      nn.Conv2d(2 * f, 4 * f, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * f), nn.PReLU(4 * f),
                      nn.Conv2d(4 * f, 1, 4), nn.Flatten())
    g = nn.Sequential(nn.Linear(z, 4 * f * 16, bias=False), nn.Unflatten(1, (4 * f, 4, 4)),
                      nn.BatchNorm2d(4 * f), nn.PReLU(4 * f),
                      nn.ConvTranspose2d(4 * f, 2 * f, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * f), nn.PReLU(2 * f),
                      nn.ConvTranspose2d(2 * f, f, 4, 2, 1, bias=False), nn.BatchNorm2d(f), nn.PReLU(f),
                      nn.ConvTranspose2d(f, channels, 4, 2, 1), nn.Sigmoid())
    return d, g


def dcgan(a):
    amp_d, amp_g = Mixed(a), Mixed(a)
    d, g = dcgan_pair()
    d, g = amp_d.model(d.to(a.device)), amp_g.model(g.to(a.device))
    od = torch.optim.RMSprop(d.parameters(), lr=1e-4, alpha=0.9, eps=1e-6)
    og = torch.optim.RMSprop(g.parameters(), lr=1e-4, alpha=0.9, eps=1e-6)
    data = batches(a, *fashion(a), 32)

    def step():
        x, _ = next(data)
        gan_step(d, g, od, og, F.pad(x, (2, 2, 2, 2)), lambda: torch.randn(32, 128, device=a.device), amp_d, amp_g)

    return timed(a, step, 32)


def recon(a):
    """eval-reconstruction: z from zeros, RMSProp on the pixel MSE, all images at once."""
    _, g = dcgan_pair()
    g = g.to(a.device).eval().requires_grad_(False)
    x, _ = fashion(a, "t10k")
    x = F.pad(x[: a.images].to(a.device).float() / 255, (2, 2, 2, 2))
    z = torch.zeros(len(x), 128, device=a.device, requires_grad=True)
    opt = torch.optim.RMSprop([z], lr=0.01, alpha=0.9, eps=1e-6)
    for _ in range(a.recon_steps):
        opt.zero_grad()
        ((g(z) - x) ** 2).mean(dim=(1, 2, 3)).sum().backward()
        opt.step()
    print(f"INFO recon mse {((g(z) - x) ** 2).mean().item():.4f}")


def parzen(a):
    """eval-parzen: 10,000 G samples, sigma by 1,000 validation images, then the test set."""
    g = mlp_generator().to(a.device).eval()
    with torch.no_grad():
        mu = g(torch.randn(a.samples, 100, device=a.device))
        train, _ = fashion(a)
        test, _ = fashion(a, "t10k")
        valid = train[-1000:].to(a.device).flatten(1).float() / 255
        test = test.to(a.device).flatten(1).float() / 255

        def ll(x, sigmas):
            """Mean log-likelihood of x under each sigma; distances once per chunk (as paperlab)."""
            out = []
            for c in x.split(1000):
                d2 = (c * c).sum(1, keepdim=True) + (mu * mu).sum(1) - 2 * c @ mu.T
                out.append(torch.stack([
                    torch.logsumexp(-d2 / (2 * s ** 2), 1) - np.log(len(mu))
                    - 784 * np.log(s * np.sqrt(2 * np.pi)) for s in sigmas]))
            return torch.cat(out, 1).mean(1).tolist()

        sigmas = list(np.logspace(-1, 0, 10))
        sigma = max(zip(ll(valid, sigmas), sigmas))[1]
        print(f"INFO parzen sigma {sigma:.4f} test ll {ll(test, [sigma])[0]:.2f}")


def fake_fashion(a):
    """Random images in Fashion-MNIST's idx files, for a machine without the data set."""
    d = os.path.join(a.data, "fashion-mnist")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in [("train", 60000), ("t10k", 10000)]:
        for kind, magic, shape in [("images-idx3", 2051, [n, 28, 28]), ("labels-idx1", 2049, [n])]:
            values = rng.integers(0, 10 if kind.startswith("labels") else 256, shape, dtype=np.uint8)
            head = magic.to_bytes(4, "big") + b"".join(s.to_bytes(4, "big") for s in shape)
            with open(os.path.join(d, f"{split}-{kind}-ubyte"), "wb") as f:
                f.write(head + values.tobytes())


CASES = {
    "fake_fashion": fake_fashion,
    "fmp": fmp,
    "gan_mlp": gan_mlp,
    "inception_v4": lambda a: inception(a, "inception_v4"),
    "inception_resnet_v2": lambda a: inception(a, "inception_resnet_v2"),
    "inception_v4_folder": lambda a: inception(a, "inception_v4", folder=True),
    "wn": wn,
    "dcgan": dcgan,
    "recon": recon,
    "parzen": parzen,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=CASES)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data", default="data")
    ap.add_argument("--folder", help="a folder with train/<class>/*.jpg")
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--prefetch", type=int,
                    help="paperlab's --prefetch K to match: the DataLoader's prefetch_factor K (1 for 0, "
                         "its least with workers; default 2, both sides' default); tags the case _pK")
    ap.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--size", type=int, default=299, help="Inception's input size")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--recon-steps", type=int, default=50)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--ddp", choices=["gloo", "nccl"],
                    help="inception cases under torchrun: DistributedDataParallel over this backend")
    a = ap.parse_args()
    torch.manual_seed(0)
    rate = CASES[a.case](a)
    rank = int(os.environ.get("RANK", "0")) if a.ddp else 0
    if rate is not None and rank == 0:
        setting = a.precision + ("_cl" if a.channels_last else "")
        tag = "" if setting == "fp32" else "_" + setting
        if a.ddp:
            tag += f"_{a.ddp}{os.environ['WORLD_SIZE']}"
        if a.prefetch is not None:
            tag += f"_p{a.prefetch}"
        print(f"SAMPLE {a.case}{tag} pytorch {rate:.1f}", flush=True)


if __name__ == "__main__":
    main()
