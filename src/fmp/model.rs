//! The FMP network: (nkC2 - FMP alpha)^L - C2 - C1 - classifier, leaky ReLU
//! after every convolution, Graham's channel dropout on each convolution's
//! output growing with depth, and the input size computed backwards from a
//! 1x1 output; and its input: images scaled as Graham's code scales them and
//! zero-padded to that size, his background marking and, when training, his
//! colour shift.

use crate::data::batches::pad_to;
use crate::layers::activation::leaky_relu;
use crate::layers::background::mark_background;
use crate::layers::color_shift::ColorShift;
use crate::layers::fmp::Fmp;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// Which pooling follows each 2x2 convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// Fractional max-pooling after every one of the L convolutions.
    Fmp,
    /// The 2x2 max-pooling baseline at the same depth: a 2x2 stride-2 max-pool
    /// after convolution k whenever floor(k log2 alpha) steps up, so L layers
    /// shrink by about alpha^L as the FMP net does.
    Max2,
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    /// L, the number of C2-pool layers.
    pub layers: i64,
    /// n: layer k has n*k filters.
    pub filters: i64,
    pub pool: Pool,
    /// The FMP layer (alpha, sequence, regions, share); its output size is set per layer.
    pub fmp: Fmp,
    /// Graham's dropout on the output of each of the L + 2 convolutions
    /// ([`channel_dropout`]).
    pub dropout: Vec<f64>,
    /// Negative slope of the leaky ReLU (Graham: 0.333).
    pub slope: f64,
    pub in_channels: i64,
    pub classes: i64,
    /// Input values within this of the background, 0, in every channel
    /// become 0 (Graham's input sites, layers::background); 0: none.
    pub background_margin: f64,
    /// His ColorShiftLayer on training inputs, after the marking.
    pub color_shift: Option<ColorShift>,
    /// The a of the classifier's initialisation ([`graham_init`]): 1 at
    /// HEAD (SparseConvNetCUDA.cu:198-199), 10000 in the April 2015 tree
    /// (SpatiallySparseCNN.cpp:84, addSoftmaxLayer).
    pub classifier_init: f64,
}

impl NetConfig {
    /// Graham's dropout schedule: convolution j (0-based, of L + 2) drops
    /// p*j/(L+1) of its output (NetworkArchitectures.cpp:85-96).
    pub fn linear_dropout(layers: i64, p: f64) -> Vec<f64> {
        (0..layers + 2)
            .map(|j| p * j as f64 / (layers + 1) as f64)
            .collect()
    }

    /// Whether a 2x2 max-pool follows convolution k (1-based) in the Max2 baseline.
    fn max2_after(&self, k: i64) -> bool {
        let steps = |k: i64| (k as f64 * self.fmp.alpha.log2() + 1e-9).floor() as i64;
        steps(k) > steps(k - 1)
    }

    /// Spatial size entering each of the L pools and leaving it, computed
    /// backwards from a 1x1 output: C1 keeps the size, C2 adds 1, FMP maps
    /// out -> int(out * alpha + 0.5), at least out + 1
    /// (MaxPoolingLayer.cu:211-219), a 2x2 max-pool doubles it.
    pub fn pool_sizes(&self) -> Vec<(i64, i64)> {
        let mut size = 2; // entering the final C2
        let mut sizes = vec![];
        for k in (1..=self.layers).rev() {
            let into = match self.pool {
                Pool::Fmp => ((size as f64 * self.fmp.alpha + 0.5) as i64).max(size + 1),
                Pool::Max2 if self.max2_after(k) => 2 * size,
                Pool::Max2 => size,
            };
            sizes.push((into, size));
            size = into + 1;
        }
        sizes.reverse();
        sizes
    }

    /// The input size: images are zero-padded (centred) to it.
    pub fn input_size(&self) -> i64 {
        self.pool_sizes().first().map_or(2, |(into, _)| into + 1)
    }
}

#[derive(Debug)]
struct FmpNet {
    convs: Vec<nn::Conv2D>,
    pools: Vec<Option<PoolLayer>>,
    classifier: nn::Linear,
    dropout: Vec<f64>,
    slope: f64,
    background_margin: f64,
    color_shift: Option<ColorShift>,
}

#[derive(Debug, Clone, Copy)]
enum PoolLayer {
    Fractional(Fmp),
    Max2,
}

impl ModuleT for FmpNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        // His input layer: background marking on every batch (codifyInputData
        // runs for training and test pictures), then the colour shift on
        // training batches.
        let mut x = mark_background(x, self.background_margin);
        if let (Some(shift), true) = (self.color_shift, train) {
            x = shift.apply(&x);
        }
        for (j, conv) in self.convs.iter().enumerate() {
            x = leaky_relu(&x.apply(conv), self.slope);
            x = match self.pools.get(j).copied().flatten() {
                Some(PoolLayer::Fractional(fmp)) => fmp.forward(&x),
                Some(PoolLayer::Max2) => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                None => x,
            };
            // After the pool: dropping or scaling whole channels commutes
            // with max-pooling, and the pooled tensor is smaller.
            x = channel_dropout(&x, self.dropout[j], train);
        }
        x.flatten(1, -1).apply(&self.classifier)
    }
}

/// Graham's dropout of a layer's output x [B, C, ...] with rate p
/// (SparseConvNet/NetworkInNetworkLayer.cu:145-156 and :187-195). Training
/// keeps exactly M = round(C (1 - p)) channels, one random subset for the
/// whole batch (`rng.NchooseM`), and zeroes the others (his dropped features
/// are absent, which the next layer sees as zeros); evaluation keeps every
/// channel scaled by M / C, the expected fraction kept. (His kernels also
/// round M to a multiple of 32; the presets give the rates that rounding
/// produced.)
pub fn channel_dropout(x: &Tensor, p: f64, train: bool) -> Tensor {
    if p == 0.0 {
        return x.shallow_clone();
    }
    let c = x.size()[1];
    let kept = ((c as f64 * (1.0 - p)).round() as i64).clamp(0, c);
    if !train {
        return x * (kept as f64 / c as f64);
    }
    let mut shape = vec![1; x.dim()];
    shape[1] = c;
    // The channels a random permutation ranks below M; the product takes
    // the boolean mask as 0 and 1 in x's type.
    let ranks = Tensor::randperm(c, (Kind::Int64, x.device()));
    x * ranks.lt(kept).view(shape.as_slice())
}

/// How images enter the network (OpenCVPicture.cpp:4-7 and :368-400).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Input {
    /// The side of the square input field.
    pub size: i64,
    /// The pixel level (0-255) that becomes 0, and the padding's level.
    pub background: u8,
}

/// Pixel levels per unit of input: (v - background) / levels_per_unit is
/// Graham's scaleUCharColor, in [-1, 1]; [0, 1] for background 0.
pub fn levels_per_unit(background: u8) -> f64 {
    let b = background as f64;
    b.max(255.0 - b)
}

impl Input {
    pub fn levels_per_unit(&self) -> f64 {
        levels_per_unit(self.background)
    }

    /// Images [B, C, H, W] in [0, 1] (data::batches) scaled and padded,
    /// centred, to the input field.
    pub fn prepare(&self, x: &Tensor) -> Tensor {
        let scaled = if self.background == 0 {
            x.shallow_clone()
        } else {
            (x * 255.0 - self.background as f64) / self.levels_per_unit()
        };
        pad_to(&scaled, self.size)
    }
}

/// Graham's initialisation (NetworkInNetworkLayer.cu:135-141): weights
/// uniform in +-sqrt(6 / (fan_in + fan_out * a)), biases zero. For a
/// convolution fan_in counts the filter's inputs and a is (filter size /
/// pooling that follows)^2 (SparseConvNetCUDA.cu:95-96: the FMP ratio
/// alpha, 2 for a 2x2 max-pool, 1 for none); the classifier's a is
/// [`NetConfig::classifier_init`].
fn graham_init(fan_in: i64, fan_out: i64, a: f64) -> nn::Init {
    let bound = (6.0 / (fan_in as f64 + fan_out as f64 * a)).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// Build the network under `p`: conv1..conv{L+2}, then "classifier".
pub fn net(p: &nn::Path, cfg: &NetConfig) -> impl ModuleT {
    let (l, n) = (cfg.layers, cfg.filters);
    let pools: Vec<Option<PoolLayer>> = cfg
        .pool_sizes()
        .iter()
        .map(|&(into, out)| match cfg.pool {
            Pool::Fmp => Some(PoolLayer::Fractional(Fmp {
                output: Some((out, out)),
                ..cfg.fmp
            })),
            Pool::Max2 if into != out => Some(PoolLayer::Max2),
            Pool::Max2 => None,
        })
        .collect();
    let mut convs = vec![];
    let mut input = cfg.in_channels;
    for j in 0..l + 2 {
        let width = n * (j + 1);
        let kernel = if j == l + 1 { 1 } else { 2 };
        let pooling = match pools.get(j as usize).copied().flatten() {
            Some(PoolLayer::Fractional(fmp)) => fmp.alpha,
            Some(PoolLayer::Max2) => 2.0,
            None => 1.0,
        };
        let config = nn::ConvConfig {
            ws_init: graham_init(
                input * kernel * kernel,
                width,
                (kernel as f64 / pooling).powi(2),
            ),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        convs.push(nn::conv2d(
            p / format!("conv{}", j + 1),
            input,
            width,
            kernel,
            config,
        ));
        input = width;
    }
    let classifier = nn::linear(
        p / "classifier",
        input,
        cfg.classes,
        nn::LinearConfig {
            ws_init: graham_init(input, cfg.classes, cfg.classifier_init),
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        },
    );
    FmpNet {
        convs,
        pools,
        classifier,
        dropout: cfg.dropout.clone(),
        slope: cfg.slope,
        background_margin: cfg.background_margin,
        color_shift: cfg.color_shift,
    }
}
