//! --channels-last (runner/compute/layout.rs): each conv net (FMP, the WN paper's
//! CIFAR net in every normalisation, the three Inception nets, the DCGAN's G
//! and D in every normalisation) gives the same outputs with its 4-D
//! weights and input in channels-last order as in libtorch's default
//! order, to float rounding; and the conversion did happen (the weights'
//! strides are NHWC's, and stay so under the optimizer's views), down to
//! the weight a weight-normalized conv computes from its `v`.

use crate::common::{alone, assert_close, largest, repo, resolved};
use paperlab::fmp::model::{net as fmp_net, NetConfig as FmpConfig};
use paperlab::gan::dcgan::{default_levels, discriminator, generator, DcganConfig, GanNorm};
use paperlab::inception::net::{build as inception, Arch, Config as InceptionConfig};
use paperlab::layers::plain::FixedScale;
use paperlab::layers::weight_norm::{Op, WeightNorm};
use paperlab::optim::params_of;
use paperlab::runner::compute::layout::Layout;
use paperlab::wn::model::{net as wn_net, NetConfig as WnConfig, Norm};
use tch::nn::{Module, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// float32 rounding of a different summation order, relative to the
/// outputs' scale.
const TOLERANCE: f64 = 1e-5;

/// Whether a 4-D tensor has channels-last strides (C varies fastest, then
/// W, H, N), ignoring the strides of dimensions of size 1, as libtorch does
/// (a 1x1 kernel is both layouts at once).
fn is_channels_last(t: &Tensor) -> bool {
    let (size, stride) = (t.size(), t.stride());
    let [n, c, h, w] = size[..] else {
        return false;
    };
    let want = [c * h * w, 1, w * c, c];
    (0..4).all(|i| [n, c, h, w][i] == 1 || stride[i] == want[i])
}

/// `model`'s outputs on `x` (evaluation mode, torch seeded alike for FMP's
/// random regions) before and after `vs` goes channels-last, equal within
/// [`TOLERANCE`].
fn same_in_both_layouts(what: &str, vs: &VarStore, model: &dyn ModuleT, x: &Tensor) {
    let forward = |x: &Tensor| {
        tch::manual_seed(3);
        tch::no_grad(|| model.forward_t(x, false))
    };
    let contiguous = forward(x);
    Layout::ChannelsLast.convert(vs);
    let weights: Vec<Tensor> = params_of(vs)
        .into_iter()
        .map(|p| p.tensor)
        .filter(|t| t.dim() == 4 && t.size()[1] > 1)
        .collect();
    assert!(!weights.is_empty(), "{what}: no 4-D weights");
    for w in &weights {
        assert!(
            is_channels_last(w),
            "{what}: a {:?} weight kept NCHW strides {:?}",
            w.size(),
            w.stride()
        );
    }
    let x = Layout::ChannelsLast.input(x);
    assert!(
        x.dim() != 4 || is_channels_last(&x),
        "{what}: the input kept NCHW strides"
    );
    let nhwc = forward(&x);
    let scale = largest(&contiguous, 1e-3);
    assert_close(&nhwc, &contiguous, 0.0, TOLERANCE * scale, what);
}

/// A VarStore on the CPU, libtorch on one thread (the suite's tests run
/// side by side; see tests/suite/common).
fn cpu() -> VarStore {
    tch::set_num_threads(1);
    VarStore::new(Device::Cpu)
}

/// Alone in its own process: the FMP net draws its regions from torch's
/// generator, seeded alike before each layout's forward pass.
#[test]
fn the_fmp_net() {
    alone!(the_fmp_net);
    let args: paperlab::fmp::args::TrainFmpArgs =
        serde_json::from_value(resolved(&repo(""), ["train-fmp", "--filters", "4"])).unwrap();
    let cfg: FmpConfig = args.net_config(1, 10);
    let vs = cpu();
    let model = fmp_net(&vs.root(), &cfg);
    let s = cfg.input_size();
    same_in_both_layouts(
        "FMP",
        &vs,
        &model,
        &Tensor::rand([2, 1, s, s], (Kind::Float, Device::Cpu)),
    );
}

#[test]
fn the_wn_net_in_every_normalisation() {
    for norm in [Norm::None, Norm::Batch, Norm::Weight, Norm::WeightMeanbn] {
        let cfg = WnConfig {
            norm,
            in_channels: 3,
            classes: 10,
            widths: [6, 8],
            noise: 0.0,
            dropout: 0.0,
            slope: 0.1,
        };
        let vs = cpu();
        let model = wn_net(&vs.root(), &cfg);
        let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        same_in_both_layouts(&format!("WN {norm:?}"), &vs, &model, &x);
    }
}

#[test]
fn the_inception_nets() {
    for arch in [
        Arch::InceptionV4,
        Arch::InceptionResnetV1,
        Arch::InceptionResnetV2,
    ] {
        let vs = cpu();
        let cfg = InceptionConfig {
            width: 0.0625,
            ..InceptionConfig::new(arch, 10)
        };
        let model = inception(&vs.root(), &cfg);
        let x = Tensor::randn([2, 3, 75, 75], (Kind::Float, Device::Cpu));
        same_in_both_layouts(&format!("{arch:?}"), &vs, &model, &x);
    }
}

#[test]
fn the_dcgan_in_every_normalisation() {
    for norm in [
        GanNorm::None,
        GanNorm::Batch,
        GanNorm::Weight,
        GanNorm::WeightAffine,
    ] {
        let cfg = DcganConfig {
            norm,
            features: 8,
            levels: default_levels(32),
            image_size: 32,
            channels: 3,
        };
        let vs = cpu();
        let d = discriminator(&vs.root(), &cfg);
        let x = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        same_in_both_layouts(&format!("D {norm:?}"), &vs, &d, &x);
        let vs = cpu();
        let g = generator(&vs.root(), &cfg, 16);
        let z = Tensor::randn([2, 16], (Kind::Float, Device::Cpu));
        same_in_both_layouts(&format!("G {norm:?}"), &vs, &g, &z);
    }
}

/// The weight a weight-normalized (or fixed-scale) conv computes with keeps
/// `v`'s channels-last layout, forward and backward: no NCHW copy of `v`
/// every step (libtorch's `_weight_norm` makes its input contiguous) and
/// none of the weight back to channels-last for the convolution.
#[test]
fn weight_norm_keeps_v_channels_last() {
    let vs = cpu();
    let conv = Op::conv(1);
    let up = Op::ConvTranspose2d {
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    let normed = [("conv", conv), ("up", up)]
        .map(|(name, op)| WeightNorm::new(&(vs.root() / name), op, 3, 5, 3, true));
    let fixed = FixedScale::new(&(vs.root() / "fixed"), conv, 3, 5, 3);
    Layout::ChannelsLast.convert(&vs);
    let x = Layout::ChannelsLast.input(&Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu)));
    for (what, layer, w) in [
        ("conv", &normed[0] as &dyn Module, normed[0].weight()),
        ("transposed conv", &normed[1], normed[1].weight()),
        ("fixed-scale conv", &fixed, fixed.weight()),
    ] {
        assert!(
            is_channels_last(&w),
            "{what}: the computed weight has strides {:?}",
            w.stride()
        );
        layer.forward(&x).sum(Kind::Float).backward();
    }
    for l in &normed {
        assert!(is_channels_last(&l.v), "v went back to NCHW");
        assert!(
            is_channels_last(&l.v.grad()),
            "v's gradient has strides {:?}",
            l.v.grad().stride()
        );
    }
}
