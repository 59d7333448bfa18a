//! The building blocks of Xiang & Li's GAN: the strict and affine
//! weight-normalized layers against plain-loop references, PReLU, TPReLU and
//! TReLU against their formulas, the DCGAN pair of every --norm against the
//! architecture of the authors' model.py (names, widths, batch norm, counts,
//! shapes), and the unlabelled image folder loader.

use crate::common;
use common::{assert_close, values};

use std::collections::BTreeMap;
use std::path::Path;

use paperlab::data::images::load_folder;
use paperlab::error::exit_code;
use paperlab::gan::dcgan::{default_levels, discriminator, generator, DcganConfig, GanNorm};
use paperlab::layers::activation::{PReLU, TPReLU, TReLU};
use paperlab::layers::gan_weight_norm::NormedLayer;
use paperlab::layers::weight_norm::Op;
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

/// Row-major index of `at` in a tensor of `shape`.
fn index(shape: &[i64], at: &[i64]) -> usize {
    shape
        .iter()
        .zip(at)
        .fold(0, |acc, (&n, &i)| acc * n as usize + i as usize)
}

/// Per output unit o: sqrt(factor * sum of w^2 over the other axes + 1e-6),
/// `out_axis` 0 ([out, ...]) or 1 ([in, out, ...]).
fn reference_norms(w: &[f64], shape: &[i64], out_axis: usize, factor: f64) -> Vec<f64> {
    let mut sums = vec![0.0; shape[out_axis] as usize];
    let inner: usize = shape[2..].iter().product::<i64>() as usize;
    for (k, v) in w.iter().enumerate() {
        let o = if out_axis == 0 {
            k / (shape[1] as usize * inner)
        } else {
            (k / inner) % shape[1] as usize
        };
        sums[o] += v * v;
    }
    sums.iter().map(|s| (factor * s + 1e-6).sqrt()).collect()
}

/// y[b, o, ...] / norm[o] * scale[o] + bias[o] in place, `units` per row.
fn normalise(
    y: &mut [f64],
    units: usize,
    per_unit: usize,
    norm: &[f64],
    affine: Option<(&[f64], &[f64])>,
) {
    for (k, v) in y.iter_mut().enumerate() {
        let o = (k / per_unit) % units;
        *v /= norm[o];
        if let Some((scale, bias)) = affine {
            *v = *v * scale[o] + bias[o];
        }
    }
}

/// Plain loops: x [B, I], w [O, I].
fn linear_loops(x: &[f64], xs: &[i64], w: &[f64], out: i64) -> Vec<f64> {
    let (b, i) = (xs[0], xs[1]);
    let mut y = vec![0.0; (b * out) as usize];
    for n in 0..b {
        for o in 0..out {
            for k in 0..i {
                y[index(&[b, out], &[n, o])] +=
                    x[index(xs, &[n, k])] * w[index(&[out, i], &[o, k])];
            }
        }
    }
    y
}

/// Plain loops: x [B, C, H, W], w [O, C, k, k], zero padding.
fn conv_loops(
    x: &[f64],
    xs: &[i64],
    w: &[f64],
    ws: &[i64],
    stride: i64,
    pad: i64,
) -> (Vec<f64>, Vec<i64>) {
    let (b, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o_n, k) = (ws[0], ws[2]);
    let (oh, ow) = (
        (h + 2 * pad - k) / stride + 1,
        (wd + 2 * pad - k) / stride + 1,
    );
    let ys = vec![b, o_n, oh, ow];
    let mut y = vec![0.0; ys.iter().product::<i64>() as usize];
    for n in 0..b {
        for o in 0..o_n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = 0.0;
                    for ci in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) = (oy * stride - pad + ky, ox * stride - pad + kx);
                                if (0..h).contains(&iy) && (0..wd).contains(&ix) {
                                    acc += x[index(xs, &[n, ci, iy, ix])]
                                        * w[index(ws, &[o, ci, ky, kx])];
                                }
                            }
                        }
                    }
                    y[index(&ys, &[n, o, oy, ox])] = acc;
                }
            }
        }
    }
    (y, ys)
}

/// Plain loops: x [B, C, H, W], w [C, O, k, k]; every input pixel scatters
/// its kernel-weighted copy onto the output.
fn conv_transpose_loops(
    x: &[f64],
    xs: &[i64],
    w: &[f64],
    ws: &[i64],
    stride: i64,
    pad: i64,
) -> (Vec<f64>, Vec<i64>) {
    let (b, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (o_n, k) = (ws[1], ws[2]);
    let (oh, ow) = (
        (h - 1) * stride - 2 * pad + k,
        (wd - 1) * stride - 2 * pad + k,
    );
    let ys = vec![b, o_n, oh, ow];
    let mut y = vec![0.0; ys.iter().product::<i64>() as usize];
    for n in 0..b {
        for ci in 0..c {
            for iy in 0..h {
                for ix in 0..wd {
                    for o in 0..o_n {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (oy, ox) = (iy * stride - pad + ky, ix * stride - pad + kx);
                                if (0..oh).contains(&oy) && (0..ow).contains(&ox) {
                                    y[index(&ys, &[n, o, oy, ox])] += x
                                        [index(xs, &[n, ci, iy, ix])]
                                        * w[index(ws, &[ci, o, ky, kx])];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (y, ys)
}

/// The reference output of `layer` on `x`: the op by loops, divided by the
/// per-unit norm (factor 1/stride^2 for the transposed conv), then scaled
/// and shifted when affine.
fn reference(layer: &NormedLayer, x: &Tensor) -> (Vec<f64>, Vec<i64>) {
    let (xv, xs) = (values(x), x.size());
    let (wv, ws) = (values(&layer.weight), layer.weight.size());
    let (mut y, ys, norm) = match layer.op {
        Op::Linear => {
            let y = linear_loops(&xv, &xs, &wv, ws[0]);
            (y, vec![xs[0], ws[0]], reference_norms(&wv, &ws, 0, 1.0))
        }
        Op::Conv2d { stride, padding } => {
            let (y, ys) = conv_loops(&xv, &xs, &wv, &ws, stride, padding);
            (y, ys, reference_norms(&wv, &ws, 0, 1.0))
        }
        Op::ConvTranspose2d {
            stride, padding, ..
        } => {
            let (y, ys) = conv_transpose_loops(&xv, &xs, &wv, &ws, stride, padding);
            let factor = 1.0 / (stride * stride) as f64;
            (y, ys, reference_norms(&wv, &ws, 1, factor))
        }
    };
    let per_unit = ys[2..].iter().product::<i64>() as usize;
    let (scale, bias) = (
        layer.scale.as_ref().map(values),
        layer.bias.as_ref().map(values),
    );
    let affine = scale.as_deref().zip(bias.as_deref());
    normalise(&mut y, ys[1] as usize, per_unit, &norm, affine);
    (y, ys)
}

/// (name, op, inputs, outputs, kernel, input batch) for the three kinds.
fn kinds() -> Vec<(&'static str, Op, i64, i64, i64, Tensor)> {
    vec![
        ("linear", Op::Linear, 6, 4, 0, Tensor::randn([5, 6], CPU)),
        (
            "conv",
            Op::Conv2d {
                stride: 2,
                padding: 1,
            },
            3,
            4,
            4,
            Tensor::randn([2, 3, 6, 6], CPU),
        ),
        (
            "conv_transpose",
            Op::ConvTranspose2d {
                stride: 2,
                padding: 2,
                output_padding: 0,
            },
            3,
            4,
            4,
            Tensor::randn([2, 3, 5, 5], CPU),
        ),
    ]
}

fn var_names(vs: &nn::VarStore) -> Vec<String> {
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    names
}

#[test]
fn normed_layers_equal_loops_over_the_norm_strict_and_affine() {
    tch::manual_seed(3);
    for affine in [false, true] {
        for (name, op, inputs, outputs, kernel, x) in kinds() {
            let what = format!("{name} affine={affine}");
            let vs = nn::VarStore::new(Device::Cpu);
            let layer =
                NormedLayer::new(vs.root() / name, op, inputs, outputs, kernel, affine, 1.0);
            let expected_names: Vec<String> = if affine {
                ["bias", "scale", "weight"]
                    .iter()
                    .map(|v| format!("{name}.{v}"))
                    .collect()
            } else {
                vec![format!("{name}.weight")]
            };
            assert_eq!(var_names(&vs), expected_names, "{what}");
            if let (Some(scale), Some(bias)) = (&layer.scale, &layer.bias) {
                tch::no_grad(|| {
                    scale
                        .shallow_clone()
                        .copy_(&(Tensor::randn([outputs], CPU) * 2.0));
                    bias.shallow_clone().copy_(&Tensor::randn([outputs], CPU));
                });
            }
            let (want, shape) = reference(&layer, &x);
            let got = layer.forward(&x);
            assert_eq!(got.size(), shape, "{what}: shape");
            assert_close(&got, &want, 1e-4, 1e-4, &what);

            // y depends on w only through its direction: scaling the weight
            // changes nothing (the 1e-6 aside).
            let _ = tch::no_grad(|| layer.weight.shallow_clone().g_mul_scalar_(7.0));
            assert_close(
                &layer.forward(&x),
                &want,
                1e-4,
                1e-4,
                &format!("{what}, weight x7"),
            );
        }
    }
}

#[test]
fn the_transposed_norm_divides_the_sum_of_squares_by_the_stride_product() {
    let vs = nn::VarStore::new(Device::Cpu);
    let op = Op::ConvTranspose2d {
        stride: 2,
        padding: 1,
        output_padding: 0,
    };
    let layer = NormedLayer::new(vs.root(), op, 2, 3, 4, false, 1.0);
    let _ = tch::no_grad(|| layer.weight.shallow_clone().fill_(0.5));
    // Each output unit: 2 inputs x 16 taps of 0.25, over 4.
    assert_close(
        &layer.norm(),
        &[(2.0 * 16.0 * 0.25 / 4.0 + 1e-6f64).sqrt(); 3],
        1e-6,
        1e-6,
        "norm",
    );
    let conv = NormedLayer::new(vs.root() / "conv", Op::conv(1), 2, 3, 4, false, 1.0);
    let _ = tch::no_grad(|| conv.weight.shallow_clone().fill_(0.5));
    assert_close(
        &conv.norm(),
        &[(2.0 * 16.0 * 0.25 + 1e-6f64).sqrt(); 3],
        1e-6,
        1e-6,
        "conv norm",
    );
}

#[test]
fn normed_layers_initialise_as_the_authors_modules() {
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let max_abs = |t: &Tensor| t.abs().max().double_value(&[]);
    // Linear: weight and bias uniform in +-init_factor/sqrt(in).
    let linear = NormedLayer::new(vs.root() / "linear", Op::Linear, 100, 400, 0, true, 0.01);
    let bound = 0.01 / 10.0;
    for (what, t) in [
        ("weight", &linear.weight),
        ("bias", linear.bias.as_ref().unwrap()),
    ] {
        let m = max_abs(t);
        assert!(
            m <= bound && m > 0.9 * bound,
            "linear {what}: max |v| {m}, bound {bound}"
        );
    }
    assert_close(
        linear.scale.as_ref().unwrap(),
        &[1.0; 400],
        0.0,
        0.0,
        "linear scale",
    );
    // Conv and transposed conv: +-init_factor/sqrt(in * k^2), bias 0.
    for (name, op) in [
        (
            "conv",
            Op::Conv2d {
                stride: 2,
                padding: 1,
            },
        ),
        (
            "convt",
            Op::ConvTranspose2d {
                stride: 2,
                padding: 1,
                output_padding: 0,
            },
        ),
    ] {
        let layer = NormedLayer::new(vs.root() / name, op, 8, 32, 4, true, 2.0);
        let bound = 2.0 / (8.0f64 * 16.0).sqrt();
        let m = max_abs(&layer.weight);
        assert!(
            m <= bound && m > 0.9 * bound,
            "{name} weight: max |v| {m}, bound {bound}"
        );
        assert_close(layer.bias.as_ref().unwrap(), &[0.0; 32], 0.0, 0.0, name);
        assert_close(layer.scale.as_ref().unwrap(), &[1.0; 32], 0.0, 0.0, name);
    }
}

/// x of [B, C] and [B, C, H, W] for three channels.
fn activation_inputs() -> Vec<Tensor> {
    vec![
        Tensor::randn([7, 3], CPU) * 2.0,
        Tensor::randn([2, 3, 4, 5], CPU) * 2.0,
    ]
}

/// Applies `f(x, channel)` to every element of x [B, 3, ...].
fn per_channel(x: &Tensor, f: impl Fn(f64, usize) -> f64) -> Vec<f64> {
    let inner: usize = x.size()[2..].iter().product::<i64>() as usize;
    values(x)
        .iter()
        .enumerate()
        .map(|(k, &v)| f(v, (k / inner) % 3))
        .collect()
}

#[test]
fn prelu_tprelu_and_trelu_follow_their_formulas() {
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let prelu = PReLU::new(vs.root() / "prelu", 3);
    let tprelu = TPReLU::new(vs.root() / "tprelu", 3);
    let trelu = TReLU::new(vs.root() / "trelu", 3);
    assert_eq!(
        var_names(&vs),
        [
            "prelu.weight",
            "tprelu.bias",
            "tprelu.weight",
            "trelu.alpha"
        ]
    );

    // At initialisation: PReLU and TPReLU are leaky with slope 0.25, TReLU is a ReLU.
    for x in activation_inputs() {
        let leaky = per_channel(&x, |v, _| if v >= 0.0 { v } else { 0.25 * v });
        assert_close(&prelu.forward(&x), &leaky, 1e-6, 1e-6, "prelu init");
        assert_close(&tprelu.forward(&x), &leaky, 1e-6, 1e-6, "tprelu init");
        assert_close(
            &trelu.forward(&x),
            &per_channel(&x, |v, _| v.max(0.0)),
            1e-6,
            1e-6,
            "trelu init",
        );
    }

    // Slopes outside [0, 1] are clamped by TPReLU, not by PReLU.
    let slopes = [-0.5, 0.3, 1.7];
    let (shifts, alphas) = ([0.2, -0.4, 0.0], [0.5, -1.0, 0.0]);
    tch::no_grad(|| {
        prelu
            .weight
            .shallow_clone()
            .copy_(&Tensor::from_slice(&slopes).to_kind(Kind::Float));
        tprelu
            .weight
            .shallow_clone()
            .copy_(&Tensor::from_slice(&slopes).to_kind(Kind::Float));
        tprelu
            .bias
            .shallow_clone()
            .copy_(&Tensor::from_slice(&shifts).to_kind(Kind::Float));
        trelu
            .alpha
            .shallow_clone()
            .copy_(&Tensor::from_slice(&alphas).to_kind(Kind::Float));
    });
    for x in activation_inputs() {
        let want = per_channel(&x, |v, c| if v >= 0.0 { v } else { slopes[c] * v });
        assert_close(&prelu.forward(&x), &want, 1e-6, 1e-6, "prelu");
        let want = per_channel(&x, |v, c| {
            let (a, b) = (slopes[c].clamp(0.0, 1.0), shifts[c]);
            if v >= b {
                v
            } else {
                b + a * (v - b)
            }
        });
        assert_close(&tprelu.forward(&x), &want, 1e-6, 1e-6, "tprelu");
        let want = per_channel(&x, |v, c| (v - alphas[c]).max(0.0) + alphas[c]);
        assert_close(&trelu.forward(&x), &want, 1e-6, 1e-6, "trelu");
    }

    // A clamped slope gets no gradient; one inside [0, 1] does.
    let x = Tensor::randn([64, 3], CPU) - 1.0;
    tprelu.forward(&x).sum(Kind::Float).backward();
    let grad = values(&tprelu.weight.grad());
    assert!(
        grad[0] == 0.0 && grad[2] == 0.0 && grad[1] != 0.0,
        "slope grads {grad:?}"
    );
}

#[test]
fn levels_and_the_size_check() {
    let cfg = |image_size, features, levels| DcganConfig {
        norm: GanNorm::None,
        features,
        levels,
        image_size,
        channels: 3,
    };
    // The authors' derived count, and the most levels before D's map is 1x1.
    for (size, levels, most) in [
        (8, 1, 3),
        (10, 1, 4),
        (16, 2, 4),
        (32, 3, 5),
        (36, 3, 6),
        (48, 3, 6),
        (64, 4, 6),
        (128, 5, 7),
        (160, 5, 8),
    ] {
        assert_eq!(default_levels(size), levels, "size {size}");
        for l in [1, levels, most] {
            cfg(size, 64, l).check().unwrap();
        }
        for l in [0, most + 1] {
            let err = cfg(size, 64, l).check().unwrap_err();
            assert_eq!(exit_code(&err), 2, "size {size}, {l} levels");
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("--levels {l}")) && msg.contains(&format!("1 to {most}")),
                "{msg}"
            );
        }
    }
    for size in [-2, 0, 6, 7, 31, 33] {
        let err = cfg(size, 64, 1).check().unwrap_err();
        assert_eq!(exit_code(&err), 2, "size {size}");
        assert!(err.to_string().contains("--image-size"), "{err}");
    }
    let err = cfg(32, 0, 3).check().unwrap_err();
    assert_eq!(exit_code(&err), 2);
    assert!(err.to_string().contains("--features"), "{err}");
}

/// (size, levels, side of D's last map and of G's first) of the tested sizes;
/// 36 exercises the extra padding (18 % 4 == 2: 36 -> 18 -> 10 -> 5).
const SIZES: [(i64, i64, i64); 4] = [(32, 3, 4), (64, 4, 4), (48, 3, 6), (36, 3, 5)];
const NORMS: [GanNorm; 4] = [
    GanNorm::None,
    GanNorm::Batch,
    GanNorm::Weight,
    GanNorm::WeightAffine,
];
const CODE: i64 = 128;

/// Expected variables: name -> (shape, trainable).
type Vars = BTreeMap<String, (Vec<i64>, bool)>;

/// A conv or linear layer's variables under `name` as model.py builds it:
/// plain layers have a bias; weight-normalized ones a scale and bias when
/// affine (the final layers of `weight`, everything in weight-affine).
fn expect_layer(
    vars: &mut Vars,
    name: &str,
    norm: GanNorm,
    weight: Vec<i64>,
    out: i64,
    last: bool,
) {
    vars.insert(format!("{name}.weight"), (weight, true));
    let (plain, affine) = match norm {
        GanNorm::None | GanNorm::Batch => (true, false),
        GanNorm::Weight => (false, last),
        GanNorm::WeightAffine => (false, true),
    };
    if plain || affine {
        vars.insert(format!("{name}.bias"), (vec![out], true));
    }
    if affine {
        vars.insert(format!("{name}.scale"), (vec![out], true));
    }
}

/// Batch norm (when `bn` and the variant is batch) and the activation after
/// a hidden layer `prefix` of `f` channels.
fn expect_hidden(vars: &mut Vars, prefix: &str, norm: GanNorm, bn: bool, f: i64) {
    if norm == GanNorm::Batch && bn {
        for (v, trainable) in [
            ("weight", true),
            ("bias", true),
            ("running_mean", false),
            ("running_var", false),
        ] {
            vars.insert(format!("{prefix}.batchnorm.{v}"), (vec![f], trainable));
        }
    }
    if norm == GanNorm::Weight {
        vars.insert(format!("{prefix}.tprelu.weight"), (vec![f], true));
        vars.insert(format!("{prefix}.tprelu.bias"), (vec![f], true));
    } else {
        vars.insert(format!("{prefix}.prelu.weight"), (vec![f], true));
    }
}

/// D: features F, 2F, 4F ... per level, BN from level 1 on, final conv over
/// the last side to one value.
fn expected_d(norm: GanNorm, levels: i64, side: i64, features: i64, channels: i64) -> Vars {
    let mut vars = Vars::new();
    let width = |i: i64| features << i;
    for i in 0..levels {
        let f_in = if i == 0 { channels } else { width(i - 1) };
        let prefix = format!("d.level.{i}");
        expect_layer(
            &mut vars,
            &format!("{prefix}.conv"),
            norm,
            vec![width(i), f_in, 4, 4],
            width(i),
            false,
        );
        expect_hidden(&mut vars, &prefix, norm, i > 0, width(i));
    }
    expect_layer(
        &mut vars,
        "d.final.conv",
        norm,
        vec![1, width(levels - 1), side, side],
        1,
        true,
    );
    vars
}

/// G: the initial linear to (F * 2^(levels-1)) x side x side, BN everywhere
/// but the last level, transposed convs halving down to F, then to channels.
fn expected_g(norm: GanNorm, levels: i64, side: i64, features: i64, channels: i64) -> Vars {
    let mut vars = Vars::new();
    let width = |l: i64| features << l;
    let top = width(levels - 1);
    expect_layer(
        &mut vars,
        "g.initial.linear",
        norm,
        vec![top * side * side, CODE],
        top * side * side,
        false,
    );
    expect_hidden(&mut vars, "g.initial", norm, true, top);
    for l in (1..levels).rev() {
        let prefix = format!("g.level.{l}");
        let (f_in, f_out) = (width(l), width(l - 1));
        expect_layer(
            &mut vars,
            &format!("{prefix}.conv"),
            norm,
            vec![f_in, f_out, 4, 4],
            f_out,
            false,
        );
        expect_hidden(&mut vars, &prefix, norm, true, f_out);
    }
    expect_layer(
        &mut vars,
        "g.level.0.conv",
        norm,
        vec![features, channels, 4, 4],
        channels,
        true,
    );
    vars
}

fn count(vars: &Vars) -> i64 {
    vars.values()
        .filter(|(_, t)| *t)
        .map(|(s, _)| s.iter().product::<i64>())
        .sum()
}

#[test]
fn every_variant_builds_model_py_layers_and_shapes() {
    tch::manual_seed(6);
    for norm in NORMS {
        for (size, levels, side) in SIZES {
            for channels in [3, 1] {
                let what = format!("{norm:?} size {size} channels {channels}");
                let cfg = DcganConfig {
                    norm,
                    features: 64,
                    levels: default_levels(size),
                    image_size: size,
                    channels,
                };
                cfg.check().unwrap();
                assert_eq!(cfg.levels, levels, "{what}");
                let vs = nn::VarStore::new(Device::Cpu);
                let g = generator(&(vs.root() / "g"), &cfg, CODE);
                let d = discriminator(&(vs.root() / "d"), &cfg);

                let mut want = expected_d(norm, levels, side, 64, channels);
                want.extend(expected_g(norm, levels, side, 64, channels));
                let got: Vars = vs
                    .variables()
                    .into_iter()
                    .map(|(name, t)| (name, (t.size(), t.requires_grad())))
                    .collect();
                assert_eq!(got, want, "{what}");
                let params: i64 = vs
                    .trainable_variables()
                    .iter()
                    .map(|t| t.numel() as i64)
                    .sum();
                assert_eq!(params, count(&want), "{what}: parameters");

                for train in [true, false] {
                    let z = Tensor::randn([2, CODE], CPU);
                    let x = g.forward_t(&z, train);
                    assert_eq!(x.size(), [2, channels, size, size], "{what}: G");
                    let (lo, hi) = (x.min().double_value(&[]), x.max().double_value(&[]));
                    assert!(
                        (0.0..=1.0).contains(&lo) && hi <= 1.0,
                        "{what}: G in [{lo}, {hi}]"
                    );
                    assert_eq!(
                        d.forward_t(&x, train).size(),
                        [2],
                        "{what}: D gives one logit per image"
                    );
                }
            }
        }
    }
}

#[test]
fn the_initial_layers_use_pytorch_defaults_or_the_small_init_factor() {
    tch::manual_seed(7);
    let max_abs =
        |vs: &nn::VarStore, name: &str| vs.variables()[name].abs().max().double_value(&[]);
    let bound = 1.0 / (CODE as f64).sqrt();
    for norm in NORMS {
        let cfg = DcganConfig {
            norm,
            features: 8,
            levels: 3,
            image_size: 32,
            channels: 3,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let _g = generator(&vs.root(), &cfg, CODE);
        let m = max_abs(&vs, "initial.linear.weight");
        let scaled = if matches!(norm, GanNorm::Weight | GanNorm::WeightAffine) {
            0.01
        } else {
            1.0
        };
        assert!(
            m <= scaled * bound && m > 0.9 * scaled * bound,
            "{norm:?}: max |w| {m}"
        );
        if norm == GanNorm::Batch {
            let gamma = &vs.variables()["initial.batchnorm.weight"];
            let (lo, hi) = (gamma.min().double_value(&[]), gamma.max().double_value(&[]));
            assert!(lo >= 0.0 && hi < 1.0, "BN gamma in [{lo}, {hi}]");
        }
    }
}

#[test]
fn every_even_size_from_8_round_trips() {
    tch::manual_seed(8);
    for size in (8..=130).step_by(2) {
        let cfg = DcganConfig {
            norm: GanNorm::Weight,
            features: 2,
            levels: default_levels(size),
            image_size: size,
            channels: 1,
        };
        cfg.check().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let g = generator(&(vs.root() / "g"), &cfg, 4);
        let d = discriminator(&(vs.root() / "d"), &cfg);
        let x = g.forward_t(&Tensor::randn([1, 4], CPU), false);
        assert_eq!(x.size(), [1, 1, size, size], "size {size}");
        assert_eq!(d.forward_t(&x, false).size(), [1], "size {size}");
    }
}

fn save(t: &Tensor, path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    tch::vision::image::save(t, path).unwrap();
}

fn bytes(t: &Tensor) -> Vec<u8> {
    Vec::<u8>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn image_folder_resizes_the_shorter_side_and_crops_the_centre() {
    tch::manual_seed(9);
    let tmp = common::tempdir();
    let root = tmp.path().join("faces");
    // a/tall.png, 8 wide and 12 high: already 8 on its shorter side, so only
    // cropped, rows 2..10.
    let tall = Tensor::randint(256, [3, 12, 8], (Kind::Uint8, Device::Cpu));
    save(&tall, &root.join("a/tall.png"));
    // b/deep/wide.png, 32 x 16, a grey ramp 8 * column: halved with PIL's
    // bilinear filter (weights 1/8, 3/8, 3/8, 1/8), column j of the 16 x 8
    // image is 8 * (2j + 0.5); the crop keeps j = 4..12.
    let ramp = Tensor::arange(32, (Kind::Int64, Device::Cpu)) * 8;
    let wide = ramp
        .view([1, 1, 32])
        .expand([3, 16, 32], false)
        .to_kind(Kind::Uint8);
    save(&wide, &root.join("b/deep/wide.png"));
    // c.jpg, 12 x 10 of one colour, and d.PNG (upper case), 20 x 20 of another.
    let colour = |rgb: [f64; 3], h: i64, w: i64| {
        Tensor::from_slice(&rgb)
            .view([3, 1, 1])
            .expand([3, h, w], false)
            .to_kind(Kind::Uint8)
    };
    save(&colour([200.0, 100.0, 50.0], 10, 12), &root.join("c.jpg"));
    save(&colour([10.0, 250.0, 120.0], 20, 20), &root.join("d.png"));
    std::fs::rename(root.join("d.png"), root.join("d.PNG")).unwrap();
    // Skipped: not images, hidden.
    std::fs::write(root.join("notes.txt"), "not an image").unwrap();
    std::fs::write(root.join("._c.jpg"), "AppleDouble").unwrap();
    std::fs::create_dir_all(root.join(".cache")).unwrap();
    std::fs::write(root.join(".cache/broken.png"), "hidden").unwrap();

    let ds = load_folder(&root, None, 8, 2).unwrap();
    assert_eq!(ds.images.size(), [4, 3, 8, 8]);
    assert_eq!(ds.images.kind(), Kind::Uint8);
    assert_eq!(ds.classes, 1);
    assert_eq!(Vec::<i64>::try_from(&ds.labels).unwrap(), [0, 0, 0, 0]);

    assert_eq!(
        bytes(&ds.images.get(0)),
        bytes(&tall.narrow(1, 2, 8)),
        "tall: the centre rows"
    );
    let columns: Vec<f64> = (4..12).map(|j| 8.0 * (2.0 * j as f64 + 0.5)).collect();
    let want: Vec<f64> = (0..3 * 8).flat_map(|_| columns.clone()).collect();
    assert_close(
        &ds.images.get(1),
        &want,
        1.0 / 68.0,
        1.0 / 68.0,
        "wide: the resized ramp's centre",
    );
    for (k, rgb, tol) in [
        (2, [200.0, 100.0, 50.0], 4.0),
        (3, [10.0, 250.0, 120.0], 0.0),
    ] {
        let got = values(&ds.images.get(k).view([3, -1]).to_kind(Kind::Float));
        for (c, want) in rgb.iter().enumerate() {
            for v in &got[c * 64..(c + 1) * 64] {
                assert!(
                    (v - want).abs() <= tol,
                    "image {k} channel {c}: {v}, expected {want}"
                );
            }
        }
    }
    let one = load_folder(&root, None, 8, 1).unwrap();
    assert_eq!(bytes(&one.images), bytes(&ds.images), "one worker or two");

    // A crop larger than an image (tall.png is 8 wide) names both.
    let err = load_folder(&root, Some(10), 8, 2).unwrap_err();
    assert_eq!(exit_code(&err), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("tall.png is 8x12, smaller than --crop-size 10"),
        "{msg}"
    );
    // --crop-size 16 first (main.py's CenterCrop before Scale): the wide
    // ramp keeps columns 8..24, then is halved to 8 x 8, column j becoming
    // 8 * (2j + 8.5) where it was 8 * (2j + 0.5) without the crop (the
    // inner columns 1..7, away from the filter's edges).
    std::fs::remove_file(root.join("a/tall.png")).unwrap();
    std::fs::remove_file(root.join("c.jpg")).unwrap();
    let ds = load_folder(&root, Some(16), 8, 2).unwrap();
    assert_eq!(ds.images.size(), [2, 3, 8, 8]);
    let columns: Vec<f64> = (1..7).map(|j| 8.0 * (2.0 * j as f64 + 8.5)).collect();
    let want: Vec<f64> = (0..3 * 8).flat_map(|_| columns.clone()).collect();
    assert_close(
        &ds.images.get(0).narrow(2, 1, 6),
        &want,
        1.0 / 68.0,
        1.0 / 68.0,
        "wide: the centre 16 x 16, resized",
    );
}

fn load_err(dir: &Path, size: i64) -> (i32, String) {
    let err = load_folder(dir, None, size, 2).unwrap_err();
    (exit_code(&err), err.to_string())
}

#[test]
fn image_folder_errors_name_the_path() {
    let tmp = common::tempdir();
    let missing = tmp.path().join("nowhere");
    let (code, msg) = load_err(&missing, 8);
    assert_eq!(code, 2);
    assert!(
        msg.contains("nowhere") && msg.contains("could not read"),
        "{msg}"
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::write(empty.join("sub/readme.txt"), "no images").unwrap();
    let (code, msg) = load_err(&empty, 8);
    assert_eq!(code, 2);
    assert!(
        msg.contains("empty") && msg.contains("holds no images"),
        "{msg}"
    );

    let bad = tmp.path().join("bad");
    save(
        &Tensor::zeros([3, 8, 8], (Kind::Uint8, Device::Cpu)),
        &bad.join("ok.png"),
    );
    std::fs::create_dir_all(bad.join("x/y")).unwrap();
    std::fs::write(bad.join("x/y/broken.jpg"), "not a jpeg").unwrap();
    let (code, msg) = load_err(&bad, 8);
    assert_eq!(code, 2);
    assert!(
        msg.contains("x/y/broken.jpg") && msg.contains("could not decode"),
        "{msg}"
    );

    let (code, msg) = load_err(&bad, 0);
    assert_eq!(code, 2);
    assert!(msg.contains("image size 0"), "{msg}");
}
