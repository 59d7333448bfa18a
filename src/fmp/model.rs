//! The FMP network: (nkC2 - FMP alpha)^L - C2 - C1 - classifier, leaky ReLU
//! after every convolution, dropout on each convolution's input growing with
//! depth, and the input size computed backwards from a 1x1 output.

use crate::layers::activation::leaky_relu;
use crate::layers::fmp::Fmp;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::Tensor;

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
    /// Dropout on the input of each of the L + 2 convolutions.
    pub dropout: Vec<f64>,
    /// Negative slope of the leaky ReLU (Graham: 0.333).
    pub slope: f64,
    pub in_channels: i64,
    pub classes: i64,
}

impl NetConfig {
    /// Graham's dropout schedule: convolution j (0-based, of L + 2) drops p*j/(L+1).
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
    /// out -> int(out * alpha + 0.5), a 2x2 max-pool doubles it.
    pub fn pool_sizes(&self) -> Vec<(i64, i64)> {
        let mut size = 2; // entering the final C2
        let mut sizes = vec![];
        for k in (1..=self.layers).rev() {
            let into = match self.pool {
                Pool::Fmp => (size as f64 * self.fmp.alpha + 0.5) as i64,
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
}

#[derive(Debug, Clone, Copy)]
enum PoolLayer {
    Fractional(Fmp),
    Max2,
}

impl ModuleT for FmpNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for (j, conv) in self.convs.iter().enumerate() {
            x = leaky_relu(&x.dropout(self.dropout[j], train).apply(conv), self.slope);
            x = match self.pools.get(j).copied().flatten() {
                Some(PoolLayer::Fractional(fmp)) => fmp.forward(&x),
                Some(PoolLayer::Max2) => x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
                None => x,
            };
        }
        x.flatten(1, -1).apply(&self.classifier)
    }
}

/// Build the network under `p`: conv1..conv{L+2}, then "classifier".
pub fn net(p: &nn::Path, cfg: &NetConfig) -> impl ModuleT {
    let (l, n) = (cfg.layers, cfg.filters);
    let widths: Vec<i64> = (1..=l + 2).map(|k| n * k).collect();
    let mut convs = vec![];
    let mut input = cfg.in_channels;
    for (j, &w) in widths.iter().enumerate() {
        let kernel = if j as i64 == l + 1 { 1 } else { 2 };
        convs.push(nn::conv2d(
            p / format!("conv{}", j + 1),
            input,
            w,
            kernel,
            Default::default(),
        ));
        input = w;
    }
    let pools = cfg
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
    let classifier = nn::linear(p / "classifier", input, cfg.classes, Default::default());
    FmpNet {
        convs,
        pools,
        classifier,
        dropout: cfg.dropout.clone(),
        slope: cfg.slope,
    }
}
