//! The parts the three networks share: conv-BN-ReLU, pools, branches that are
//! concatenated, the scaled residual block, the reductions and the
//! Inception-v3-like stem of the Inception-ResNets.
//!
//! A network is a tree of [`Unit`]s. Every variable is created under timm's
//! state-dict name (`<path>.conv.weight`, `<path>.bn.running_mean`, ...), so a
//! timm state dict loads without renaming.

use tch::nn;
use tch::Tensor;

/// BatchNorm epsilon of every conv-BN-ReLU (TF-slim's 0.001).
pub const BN_EPS: f64 = 0.001;

/// Padding of a convolution: `Same` pads k/2 on each side (stride-1 convs
/// keep their size), `Valid` pads nothing (the paper's "V").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    Same,
    Valid,
}

/// A kernel size, square (`3`) or not (`(1, 7)`: 1 row, 7 columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel(pub i64, pub i64);

impl From<i64> for Kernel {
    fn from(k: i64) -> Kernel {
        Kernel(k, k)
    }
}

impl From<(i64, i64)> for Kernel {
    fn from((h, w): (i64, i64)) -> Kernel {
        Kernel(h, w)
    }
}

/// Convolution (no bias), BatchNorm (eps 0.001), ReLU.
#[derive(Debug)]
pub struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    kernel: Kernel,
    stride: i64,
    pad: (i64, i64),
    out: i64,
}

impl ConvBn {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        x.apply(&self.conv).apply_t(&self.bn, train).relu_()
    }

    fn shape(&self, [_, h, w]: [i64; 3]) -> Option<[i64; 3]> {
        let size = |n: i64, k: i64, p: i64| {
            let span = n + 2 * p - k;
            (span >= 0).then_some(span / self.stride + 1)
        };
        Some([
            self.out,
            size(h, self.kernel.0, self.pad.0)?,
            size(w, self.kernel.1, self.pad.1)?,
        ])
    }
}

/// A node of a network.
#[derive(Debug)]
pub enum Unit {
    Conv(Box<ConvBn>),
    /// 3x3 max-pool, stride 2, valid.
    MaxPool,
    /// 3x3 average pool, stride 1, padded, padding not counted.
    AvgPool,
    /// One after the other.
    Seq(Vec<Unit>),
    /// Side by side on the same input, outputs concatenated along channels.
    Cat(Vec<Unit>),
    Residual(Box<Residual>),
}

/// x + scale * up(cat(branches(x))), then ReLU unless `relu` is false. `up`
/// is a 1x1 convolution with bias and no BN or activation, back to x's width.
#[derive(Debug)]
pub struct Residual {
    branches: Unit,
    up: nn::Conv2D,
    pub scale: f64,
    relu: bool,
}

impl Unit {
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Unit::Conv(c) => c.forward_t(x, train),
            Unit::MaxPool => x.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false),
            Unit::AvgPool => x.avg_pool2d([3, 3], [1, 1], [1, 1], false, false, None),
            Unit::Seq(units) => {
                let mut y = x.shallow_clone();
                for u in units {
                    y = u.forward_t(&y, train);
                }
                y
            }
            Unit::Cat(units) => {
                let ys: Vec<Tensor> = units.iter().map(|u| u.forward_t(x, train)).collect();
                Tensor::cat(&ys, 1)
            }
            Unit::Residual(r) => {
                // The up-projection's output is not needed by any backward,
                // so scaling and adding in place is safe (as timm does).
                let mut y = r.branches.forward_t(x, train).apply(&r.up);
                if r.scale != 1.0 {
                    let _ = y.g_mul_scalar_(r.scale);
                }
                let mut y = y.g_add_(x);
                if r.relu {
                    y.relu_()
                } else {
                    y
                }
            }
        }
    }

    /// Output [C, H, W] for an input of `input`, None when the input is too
    /// small for a valid convolution or pool.
    pub fn shape(&self, input: [i64; 3]) -> Option<[i64; 3]> {
        let [c, h, w] = input;
        match self {
            Unit::Conv(conv) => conv.shape(input),
            Unit::MaxPool => (h >= 3 && w >= 3).then(|| [c, (h - 3) / 2 + 1, (w - 3) / 2 + 1]),
            Unit::AvgPool => Some(input),
            Unit::Seq(units) => units.iter().try_fold(input, |s, u| u.shape(s)),
            Unit::Cat(units) => {
                let shapes: Option<Vec<[i64; 3]>> = units.iter().map(|u| u.shape(input)).collect();
                let shapes = shapes?;
                let [_, h, w] = shapes[0];
                assert!(
                    shapes.iter().all(|s| s[1] == h && s[2] == w),
                    "branches of different sizes: {shapes:?}"
                );
                Some([shapes.iter().map(|s| s[0]).sum(), h, w])
            }
            Unit::Residual(r) => r.branches.shape(input).map(|_| input),
        }
    }

    /// Output channels for `c` input channels.
    pub fn channels(&self, c: i64) -> i64 {
        match self {
            Unit::Conv(conv) => conv.out,
            Unit::MaxPool | Unit::AvgPool | Unit::Residual(_) => c,
            Unit::Seq(units) => units.iter().fold(c, |c, u| u.channels(c)),
            Unit::Cat(units) => units.iter().map(|u| u.channels(c)).sum(),
        }
    }
}

/// Builds units with the network-wide settings: the width multiplier and
/// the BatchNorm momentum.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Every filter count is multiplied by it (rounded, at least 1).
    pub width: f64,
    /// PyTorch convention: running = (1 - m) * running + m * batch.
    pub bn_momentum: f64,
}

impl Ctx {
    /// A filter count of the paper, times the width.
    pub fn ch(&self, n: i64) -> i64 {
        ((n as f64 * self.width).round() as i64).max(1)
    }

    /// conv-BN-ReLU under `p`: `out` filters (before the width), kernel `k`.
    pub fn conv(
        &self,
        p: nn::Path,
        c_in: i64,
        out: i64,
        k: impl Into<Kernel>,
        stride: i64,
        pad: Pad,
    ) -> Unit {
        let kernel = k.into();
        let out = self.ch(out);
        let pad = match pad {
            Pad::Same => (kernel.0 / 2, kernel.1 / 2),
            Pad::Valid => (0, 0),
        };
        let config = nn::ConvConfigND {
            stride: [stride, stride],
            padding: [pad.0, pad.1],
            bias: false,
            ..nn::ConvConfigND::<[i64; 2]>::default()
        };
        let conv = nn::conv(&p / "conv", c_in, out, [kernel.0, kernel.1], config);
        let bn = nn::batch_norm2d(
            &p / "bn",
            out,
            nn::BatchNormConfig {
                eps: BN_EPS,
                momentum: self.bn_momentum,
                ws_init: nn::Init::Const(1.0),
                ..Default::default()
            },
        );
        Unit::Conv(Box::new(ConvBn {
            conv,
            bn,
            kernel,
            stride,
            pad,
            out,
        }))
    }

    /// A stride-1 conv-BN-ReLU padded to keep the size (the common case).
    pub fn same(&self, p: nn::Path, c_in: i64, out: i64, k: impl Into<Kernel>) -> Unit {
        self.conv(p, c_in, out, k, 1, Pad::Same)
    }

    /// A sequence under `p` whose children are named 0, 1, 2...
    pub fn chain<'a>(&self, p: nn::Path<'a>, c_in: i64) -> Chain<'a> {
        Chain {
            ctx: *self,
            p,
            c: c_in,
            units: vec![],
        }
    }

    /// A residual block under `p` on `c` channels: `branches` (already built
    /// under p/branch0, p/branch1...) concatenated, the 1x1 up-projection
    /// `p.conv2d` (with bias), scaled by `scale`, added, then ReLU if `relu`.
    pub fn residual(
        &self,
        p: &nn::Path,
        c: i64,
        branches: Vec<Unit>,
        scale: f64,
        relu: bool,
    ) -> Unit {
        let branches = Unit::Cat(branches);
        let up = nn::conv2d(p / "conv2d", branches.channels(c), c, 1, Default::default());
        Unit::Residual(Box::new(Residual {
            branches,
            up,
            scale,
            relu,
        }))
    }
}

/// Builds a [`Unit::Seq`] child by child (see [`Ctx::chain`]).
pub struct Chain<'a> {
    ctx: Ctx,
    p: nn::Path<'a>,
    c: i64,
    units: Vec<Unit>,
}

impl Chain<'_> {
    pub fn conv(mut self, out: i64, k: impl Into<Kernel>, stride: i64, pad: Pad) -> Self {
        let n = self.units.len();
        let unit = self.ctx.conv(&self.p / n, self.c, out, k, stride, pad);
        self.c = unit.channels(self.c);
        self.units.push(unit);
        self
    }

    /// A stride-1 conv padded to keep the size.
    pub fn same(self, out: i64, k: impl Into<Kernel>) -> Self {
        self.conv(out, k, 1, Pad::Same)
    }

    /// A 3x3 stride-2 valid conv (the reductions' last layer).
    pub fn down(self, out: i64) -> Self {
        self.conv(out, 3, 2, Pad::Valid)
    }

    pub fn avg_pool(mut self) -> Self {
        self.units.push(Unit::AvgPool);
        self
    }

    pub fn done(self) -> Unit {
        Unit::Seq(self.units)
    }
}

/// The top-level stages of a network, built in order under their timm
/// names ("features.3", "conv2d_1a", "repeat_1.7"), tracking the channels.
pub struct Stages<'a> {
    root: nn::Path<'a>,
    /// Channels coming out of the last stage.
    pub c: i64,
    pub list: Vec<(String, Unit)>,
}

impl<'a> Stages<'a> {
    pub fn new(root: nn::Path<'a>, c_in: i64) -> Stages<'a> {
        Stages {
            root,
            c: c_in,
            list: vec![],
        }
    }

    /// Add the stage `name` (dots separate path components) built by `unit`
    /// from its path and input channels.
    pub fn add(&mut self, name: &str, unit: impl FnOnce(nn::Path<'a>, i64) -> Unit) {
        let path = name.split('.').fold(self.root.clone(), |p, part| p / part);
        let unit = unit(path, self.c);
        self.c = unit.channels(self.c);
        self.list.push((name.to_string(), unit));
    }
}

/// The Inception-ResNet stem (Inception-v3-like, TF-slim's names) up to
/// conv2d_4a: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71, 192 channels.
pub fn v3_stem(ctx: &Ctx, s: &mut Stages) {
    s.add("conv2d_1a", |p, c| ctx.conv(p, c, 32, 3, 2, Pad::Valid));
    s.add("conv2d_2a", |p, c| ctx.conv(p, c, 32, 3, 1, Pad::Valid));
    s.add("conv2d_2b", |p, c| ctx.same(p, c, 64, 3));
    s.add("maxpool_3a", |_, _| Unit::MaxPool);
    s.add("conv2d_3b", |p, c| ctx.same(p, c, 80, 1));
    s.add("conv2d_4a", |p, c| ctx.conv(p, c, 192, 3, 1, Pad::Valid));
}

/// Reduction-A (35 -> 17) with the paper's k, l, m, n: a 3x3/2 conv of n;
/// 1x1 k, 3x3 l, 3x3/2 m; a 3x3/2 max-pool.
pub fn reduction_a(ctx: &Ctx, p: &nn::Path, c: i64, [k, l, m, n]: [i64; 4]) -> Unit {
    Unit::Cat(vec![
        ctx.conv(p / "branch0", c, n, 3, 2, Pad::Valid),
        ctx.chain(p / "branch1", c)
            .same(k, 1)
            .same(l, 3)
            .down(m)
            .done(),
        Unit::MaxPool,
    ])
}

/// The Inception-ResNets' Reduction-B (17 -> 8): 1x1 a0, 3x3/2 a1; 1x1 b0,
/// 3x3/2 b1; 1x1 c0, 3x3 c1, 3x3/2 c2; a 3x3/2 max-pool.
pub fn resnet_reduction_b(ctx: &Ctx, p: &nn::Path, c: i64, f: [i64; 7]) -> Unit {
    Unit::Cat(vec![
        ctx.chain(p / "branch0", c).same(f[0], 1).down(f[1]).done(),
        ctx.chain(p / "branch1", c).same(f[2], 1).down(f[3]).done(),
        ctx.chain(p / "branch2", c)
            .same(f[4], 1)
            .same(f[5], 3)
            .down(f[6])
            .done(),
        Unit::MaxPool,
    ])
}

/// Inception-ResNet-A (35x35): 1x1 f0; 1x1 f1, 3x3 f2; 1x1 f3, 3x3 f4, 3x3 f5.
pub fn resnet_a(ctx: &Ctx, p: &nn::Path, c: i64, f: [i64; 6], scale: f64) -> Unit {
    let branches = vec![
        ctx.same(p / "branch0", c, f[0], 1),
        ctx.chain(p / "branch1", c)
            .same(f[1], 1)
            .same(f[2], 3)
            .done(),
        ctx.chain(p / "branch2", c)
            .same(f[3], 1)
            .same(f[4], 3)
            .same(f[5], 3)
            .done(),
    ];
    ctx.residual(p, c, branches, scale, true)
}

/// Inception-ResNet-B (17x17, `n` = 7) and -C (8x8, `n` = 3): 1x1 f0;
/// 1x1 f1, 1xn f2, nx1 f3.
pub fn resnet_bc(
    ctx: &Ctx,
    p: &nn::Path,
    c: i64,
    n: i64,
    f: [i64; 4],
    scale: f64,
    relu: bool,
) -> Unit {
    let branches = vec![
        ctx.same(p / "branch0", c, f[0], 1),
        ctx.chain(p / "branch1", c)
            .same(f[1], 1)
            .same(f[2], (1, n))
            .same(f[3], (n, 1))
            .done(),
    ];
    ctx.residual(p, c, branches, scale, relu)
}
