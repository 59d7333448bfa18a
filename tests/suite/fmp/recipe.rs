//! The FMP paper's recipe as Graham's code ran it: the networks of the
//! MNIST and CIFAR-100 presets against his code, his channel dropout, his augmentation, his input's
//! background marking and colour shift, and the multi-pass test.

use crate::common;
use common::*;
use paperlab::data::Dataset;
use paperlab::fmp::args::TrainFmpArgs;
use paperlab::fmp::augment::Augment;
use paperlab::fmp::eval::error_by_tests;
use paperlab::fmp::model::{channel_dropout, net, Input, NetConfig};
use paperlab::layers::background::mark_background;
use paperlab::layers::color_shift::{shift_with, ColorShift};
use paperlab::rng::Stream;
use paperlab::runner::engine::classify::{error_rate, ClassifierNet};
use paperlab::runner::record::progress::Progress;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

// Torch's generator is the process's: the tests that compare draws after
// seeding it (or after the library seeds a stream) run alone!, the others
// only seed for reproducible inputs.

/// The configuration train-fmp resolves from `preset`.
fn preset_args(preset: &str) -> TrainFmpArgs {
    let config = resolved(&repo(""), ["train-fmp", "--config", preset]);
    serde_json::from_value(config).unwrap()
}

/// The number of channels Graham's code keeps of `c` at dropout `p`
/// (SparseConvNetCUDA.cu:53-60, NetworkInNetworkLayer.cu:153): rounded to a
/// multiple of 32.
fn graham_kept(c: i64, p: f64) -> i64 {
    if p == 0.0 {
        return c;
    }
    let kept = ((c as f64 * (1.0 - p)) as i64 as f64 / 32.0).round() as i64 * 32;
    let rate = (1.0 - (kept as f64 + 0.01) / c as f64).max(0.0);
    (c as f64 * (1.0 - rate)) as i64
}

/// mnist.cpp's network, layer by layer: 2x2 convolutions of 32k filters
/// (k = 1..7, the first six followed by FMP sqrt 2 on 2-pixel windows), a 1x1
/// convolution of 256, the classifier; 36x36 input; slope 0.333; dropout
/// 0,0,0,0.1,0.2,0.3,0.4,0.5 on the outputs, as his kernels round it.
#[test]
fn the_mnist_preset_is_the_papers_network() {
    let args = preset_args("experiments/fmp-mnist.toml");
    let cfg = args.net_config(1, 10);
    assert_eq!(cfg.input_size(), 36);
    assert_eq!(
        cfg.pool_sizes(),
        [(35, 25), (24, 17), (16, 11), (10, 7), (6, 4), (3, 2)]
    );
    assert_eq!(cfg.fmp.window, Some(2));
    assert!(cfg.fmp.is_pytorch_kernel());
    assert_eq!(cfg.slope, 0.333);
    let paper = [0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5];
    for (j, (&p, &ours)) in paper.iter().zip(&cfg.dropout).enumerate() {
        let c = 32 * (j as i64 + 1);
        let kept = (c as f64 * (1.0 - ours)).round() as i64;
        assert_eq!(kept, graham_kept(c, p), "conv{}: dropout {ours}", j + 1);
    }
    let vs = VarStore::new(CPU);
    let _ = net(&vs.root(), &cfg);
    let shapes: std::collections::HashMap<String, Vec<i64>> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.size()))
        .collect();
    let mut input = 1;
    for k in 1..=8i64 {
        let kernel = if k == 8 { 1 } else { 2 };
        assert_eq!(
            shapes[&format!("conv{k}.weight")],
            [32 * k, input, kernel, kernel],
            "conv{k}"
        );
        input = 32 * k;
    }
    assert_eq!(shapes["classifier.weight"], [10, 256]);
    assert_eq!(
        shapes.len(),
        18,
        "8 convolutions and the classifier, with biases"
    );
}

/// runCifar100.cu of the April 2015 tree: a colour shift (0.2, 0.3, 0.6,
/// 0.6), 12 pseudorandom FMP 2^(1/3) layers on 2-pixel windows of 32k
/// filters, 94x94 input, no dropout, the classifier initialised with alpha
/// 10000; batch 50, lr 0.003 exp(-0.02 epoch), affine + flip + jiggle 16,
/// background 128 marked to 2 levels, 12 tests.
#[test]
fn the_cifar100_preset_is_runcifar100s_network() {
    let args = preset_args("experiments/fmp-cifar100.toml");
    let cfg = args.net_config(3, 100);
    assert_eq!(cfg.input_size(), 94);
    assert_eq!((cfg.layers, cfg.filters), (12, 32));
    assert_eq!(cfg.fmp.window, Some(2));
    assert!(cfg.fmp.is_pytorch_kernel(), "pseudorandom windows");
    assert!(cfg.dropout.iter().all(|p| *p == 0.0), "{:?}", cfg.dropout);
    assert_eq!(
        cfg.color_shift,
        Some(ColorShift {
            sigma: [0.2, 0.3, 0.6, 0.6]
        })
    );
    assert_eq!(cfg.classifier_init, 10000.0);
    assert_eq!((args.batch_size, args.lr, args.lr_decay), (50, 0.003, 0.02));
    assert_eq!(
        (args.augment, args.jiggle, args.background),
        (true, 16, 128)
    );
    assert_eq!(args.color_distortion, None);
    assert_eq!(args.tests, [1, 12]);
    assert!((cfg.background_margin - 2.001 / 128.0).abs() < 1e-12);
    let vs = VarStore::new(CPU);
    let _ = net(&vs.root(), &NetConfig { filters: 2, ..cfg });
    // 2 * 14 = 28 inputs: sqrt(6 / (28 + 100 * 10000)).
    let w = vs.variables()["classifier.weight"]
        .abs()
        .max()
        .double_value(&[]);
    let bound = (6.0f64 / (28.0 + 1e6)).sqrt();
    assert!(w <= bound && w > 0.9 * bound, "{w} against {bound}");
}

/// Graham's input: pixels within 2 grey levels of the background in every
/// channel are background, exactly 0; one channel further off keeps the
/// whole pixel. Checked on the f32 values Input::prepare makes, at the
/// CIFAR background 128 and MNIST's 0.
#[test]
fn pixels_within_two_levels_of_the_background_become_background() {
    let cases: [(u8, [u8; 4], [f64; 4]); 2] = [
        (
            128,
            [130, 131, 126, 200],
            [0.0, 3.0 / 128.0, 0.0, 72.0 / 128.0],
        ),
        (0, [1, 2, 3, 255], [0.0, 0.0, 3.0 / 255.0, 1.0]),
    ];
    for (background, levels, want) in cases {
        let args = TrainFmpArgs {
            background,
            ..preset_args("experiments/fmp-mnist.toml")
        };
        let margin = args.net_config(1, 10).background_margin;
        let images = Tensor::from_slice(&levels.map(|v| v as f32 / 255.0)).view([4, 1, 1, 1]);
        let input = Input {
            size: 1,
            background,
        };
        let marked = mark_background(&input.prepare(&images), margin);
        let got = Vec::<f64>::try_from(marked.to_kind(Kind::Double).view([-1])).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-6,
                "background {background}: {got:?} != {want:?}"
            );
        }
    }
    // Three channels at 128: one channel 3 levels off keeps all three.
    let pixel =
        |v: [f32; 3]| Tensor::from_slice(&v.map(|l| (l - 128.0) / 128.0)).view([1, 3, 1, 1]);
    let margin = 2.001 / 128.0;
    let kept = pixel([128.0, 129.0, 131.0]);
    assert!(mark_background(&kept, margin).equal(&kept));
    let gone = mark_background(&pixel([129.0, 127.0, 130.0]), margin);
    assert_eq!(gone.abs().sum(Kind::Float).double_value(&[]), 0.0);
}

/// The network marks its input: background pixels disturbed by up to 2
/// levels give exactly the clean input's output, while without the margin
/// they change it.
#[test]
fn the_network_marks_the_background_of_its_input() {
    alone!(the_network_marks_the_background_of_its_input);
    let cfg = NetConfig {
        filters: 4,
        ..preset_args("experiments/fmp-mnist.toml").net_config(1, 10)
    };
    assert!((cfg.background_margin - 2.001 / 255.0).abs() < 1e-12);
    let unmarked = NetConfig {
        background_margin: 0.0,
        ..cfg.clone()
    };
    let vs = VarStore::new(CPU);
    let marking = net(&vs.root(), &cfg);
    let mut same = VarStore::new(CPU);
    let plain = net(&same.root(), &unmarked);
    same.copy(&vs).unwrap();
    tch::manual_seed(2);
    let clean = Tensor::rand([3, 1, 36, 36], (Kind::Float, CPU))
        .gt(0.7)
        .to_kind(Kind::Float);
    let noise = Tensor::randint(3, [3, 1, 36, 36], (Kind::Float, CPU)) / 255.0;
    let noisy = &clean + noise * (1.0 - &clean);
    let run = |model: &dyn ModuleT, x: &Tensor| {
        tch::manual_seed(9);
        model.forward_t(x, false)
    };
    assert!(run(&marking, &noisy).equal(&run(&marking, &clean)));
    assert!(!run(&plain, &noisy).equal(&run(&plain, &clean)));
}

/// ColorShiftLayer.h:38-49 as a plain loop: every pixel that is not
/// background gets d1 + d2 cos(v pi/2) + d3 (row/S - 0.5) + d4 (col/S - 0.5)
/// of its image and channel; background pixels stay 0.
#[test]
fn the_colour_shift_matches_his_loop() {
    tch::manual_seed(11);
    let (b, c, s) = (2usize, 3usize, 5usize);
    let shape = [b as i64, c as i64, s as i64, s as i64];
    let opts = (Kind::Double, CPU);
    let keep = Tensor::rand([b as i64, 1, s as i64, s as i64], opts).gt(0.4);
    let x = (Tensor::rand(shape, opts) * 2.0 - 1.0) * keep.to_kind(Kind::Double);
    let d: [Tensor; 4] = std::array::from_fn(|_| Tensor::randn([b as i64, c as i64, 1, 1], opts));
    let got = Vec::<f64>::try_from(shift_with(&x, &d).view([-1])).unwrap();
    let xv = Vec::<f64>::try_from(x.view([-1])).unwrap();
    let dv: Vec<Vec<f64>> = d
        .iter()
        .map(|t| Vec::<f64>::try_from(t.view([-1])).unwrap())
        .collect();
    let at = |i: usize, j: usize, r: usize, q: usize| ((i * c + j) * s + r) * s + q;
    for i in 0..b {
        for r in 0..s {
            for q in 0..s {
                let active = (0..c).any(|j| xv[at(i, j, r, q)] != 0.0);
                for j in 0..c {
                    let v = xv[at(i, j, r, q)];
                    let k = i * c + j;
                    let want = if active {
                        v + dv[0][k]
                            + dv[1][k] * (v * std::f64::consts::PI / 2.0).cos()
                            + dv[2][k] * (r as f64 / s as f64 - 0.5)
                            + dv[3][k] * (q as f64 / s as f64 - 0.5)
                    } else {
                        v
                    };
                    let g = got[at(i, j, r, q)];
                    assert!((g - want).abs() < 1e-12, "({i},{j},{r},{q}): {g} != {want}");
                }
            }
        }
    }
}

/// The colour shift is a training-time layer: evaluation gives the output
/// of the same net without it, training does not.
#[test]
fn the_colour_shift_acts_on_training_passes_only() {
    alone!(the_colour_shift_acts_on_training_passes_only);
    let plain = NetConfig {
        filters: 4,
        ..preset_args("experiments/fmp-mnist.toml").net_config(1, 10)
    };
    let shifting = NetConfig {
        color_shift: Some(ColorShift {
            sigma: [0.2, 0.3, 0.6, 0.6],
        }),
        dropout: vec![0.0; 8],
        ..plain.clone()
    };
    let plain = NetConfig {
        dropout: vec![0.0; 8],
        ..plain
    };
    let vs = VarStore::new(CPU);
    let with = net(&vs.root(), &shifting);
    let mut same = VarStore::new(CPU);
    let without = net(&same.root(), &plain);
    same.copy(&vs).unwrap();
    let x = Tensor::rand([2, 1, 36, 36], (Kind::Float, CPU));
    let run = |model: &dyn ModuleT, train: bool| {
        tch::manual_seed(4);
        model.forward_t(&x, train)
    };
    assert!(run(&with, false).equal(&run(&without, false)));
    // With zero draws the shift is the identity.
    let shifted = shift_with(
        &x,
        &std::array::from_fn(|_| Tensor::zeros([2, 1, 1, 1], (Kind::Float, CPU))),
    );
    assert!(shifted.equal(&x), "a zero shift changes nothing");
    assert!(!run(&with, true).allclose(&run(&without, true), 1e-4, 1e-4, false));
}

/// The last dropout rate applies to the classifier's input: at test time
/// the logits minus the bias are the undropped ones scaled by kept/C.
#[test]
fn the_last_dropout_scales_the_classifiers_input_at_test_time() {
    alone!(the_last_dropout_scales_the_classifiers_input_at_test_time);
    let args = preset_args("experiments/fmp-mnist.toml");
    let cfg = NetConfig {
        filters: 4,
        dropout: vec![0.0; 7].into_iter().chain([0.25]).collect(),
        ..args.net_config(1, 10)
    };
    let plain = NetConfig {
        dropout: vec![0.0; 8],
        ..cfg.clone()
    };
    let vs = VarStore::new(CPU);
    let dropped = net(&vs.root(), &cfg);
    let mut same = VarStore::new(CPU);
    let undropped = net(&same.root(), &plain);
    same.copy(&vs).unwrap();
    let x = Tensor::rand([3, 1, 36, 36], (Kind::Float, CPU));
    let bias = vs.variables()["classifier.bias"].shallow_clone();
    tch::manual_seed(5);
    let a = dropped.forward_t(&x, false) - &bias;
    tch::manual_seed(5);
    let b = undropped.forward_t(&x, false) - &bias;
    // 32 channels, 24 kept.
    assert!(a.allclose(&(b * 0.75), 1e-5, 1e-6, false));
}

/// Training drops whole channels, the same ones for every image, exactly
/// round(C (1 - p)) kept and the rest untouched; testing scales by the
/// fraction kept, which is the mean over many draws.
#[test]
fn graham_dropout_drops_whole_channels_and_keeps_the_expectation() {
    tch::manual_seed(4);
    let x = Tensor::rand([4, 10, 3, 3], (Kind::Float, CPU)) + 0.5;
    let y = channel_dropout(&x, 0.3, true);
    let zero = y
        .eq(0.0)
        .to_kind(Kind::Float)
        .mean_dim(&[0, 2, 3][..], false, Kind::Float);
    let zero = Vec::<f32>::try_from(&zero).unwrap();
    assert!(zero.iter().all(|z| *z == 0.0 || *z == 1.0), "{zero:?}");
    assert_eq!(zero.iter().filter(|z| **z == 0.0).count(), 7);
    let kept = y.ne(0.0);
    assert!(y.masked_select(&kept).equal(&x.masked_select(&kept)));
    assert!(channel_dropout(&x, 0.3, false).equal(&(&x * 0.7)));
    let draws = 4000;
    let mean = (0..draws)
        .map(|_| channel_dropout(&x, 0.3, true))
        .fold(Tensor::zeros_like(&x), |a, b| a + b)
        / draws as f64;
    // Each channel is kept with probability 0.7: sd 0.007 over 4000 draws.
    let off = (&mean / &x - 0.7).abs().max().double_value(&[]);
    assert!(off < 0.04, "mean kept fraction off by {off}");
    assert!(channel_dropout(&x, 0.0, true).equal(&x));
}

/// A shift without distortion moves the image by whole pixels; the colour
/// distortion leaves the background alone and changes the image.
#[test]
fn augmentation_shifts_by_whole_pixels_and_colours_only_the_image() {
    tch::manual_seed(7);
    let field = Tensor::zeros([8, 3, 20, 20], (Kind::Float, CPU));
    let image = Tensor::rand([8, 3, 6, 6], (Kind::Float, CPU)) + 0.1;
    let _ = field.narrow(2, 7, 6).narrow(3, 7, 6).copy_(&image);
    let jiggle = Augment {
        affine: false,
        jiggle: 3,
        color: None,
        levels_per_unit: 128.0,
    };
    let moved = jiggle.apply(&field);
    for i in 0..8 {
        let found = (-3..=3i64).any(|dy| {
            (-3..=3i64).any(|dx| {
                let want = field.get(i).roll([dy, dx], [1, 2]);
                (moved.get(i) - want).abs().max().double_value(&[]) < 1e-4
            })
        });
        assert!(found, "image {i} is not a whole-pixel shift");
    }
    let color = Augment {
        jiggle: 0,
        color: Some([25.0, 0.0, 2.0, 2.0]),
        ..jiggle
    };
    let coloured = color.apply(&field);
    let background = field
        .abs()
        .sum_dim_intlist(&[1][..], true, Kind::Float)
        .eq(0.0);
    let changed = (&coloured - &field).abs().gt(1e-4).any_dim(1, true);
    assert_eq!(changed.logical_and(&background).any().int64_value(&[]), 0);
    assert_eq!(
        changed
            .masked_select(&background.logical_not())
            .all()
            .int64_value(&[]),
        1,
        "every image pixel is coloured"
    );
}

/// eval-fmp's R-pass error is the error of the mean of R single-pass
/// softmaxes (computed here pass by pass), and the passes differ.
#[test]
fn r_passes_average_r_single_pass_softmaxes() {
    alone!(r_passes_average_r_single_pass_softmaxes);
    tch::manual_seed(8);
    let cfg = NetConfig {
        filters: 4,
        ..preset_args("experiments/fmp-mnist.toml").net_config(1, 10)
    };
    let vs = VarStore::new(CPU);
    let model = net(&vs.root(), &cfg);
    let ds = Dataset {
        images: Tensor::randint(256, [60, 1, 28, 28], (Kind::Uint8, CPU)),
        labels: Tensor::randint(10, [60], (Kind::Int64, CPU)),
        classes: 10,
    };
    let input = Input {
        size: cfg.input_size(),
        background: 0,
    };
    let prepare = move |x: &Tensor, _train: bool| input.prepare(x);
    let trained = ClassifierNet {
        model: &model,
        vs: &vs,
        prepare: &prepare,
        batch_size: 25,
    };
    let seed = 3;
    let errors = error_by_tests(&trained, &ds, &[1, 4], seed, &mut Progress::new(true)).unwrap();
    let passes: Vec<Tensor> = (1..=4)
        .map(|r| trained.softmax(&ds, Stream::Tests(r), seed).unwrap())
        .collect();
    assert!(!passes[0].equal(&passes[1]), "passes 1 and 2 are the same");
    let mean = passes
        .iter()
        .fold(Tensor::zeros_like(&passes[0]), |a, b| a + b)
        / 4.0;
    assert_eq!(errors[0], (1, error_rate(&passes[0], &ds.labels)));
    assert_eq!(errors[1], (4, error_rate(&mean, &ds.labels)));
}

#[test]
fn leaky_relu_has_the_slope_and_its_gradient_for_every_kind() {
    use paperlab::layers::activation::leaky_relu;
    for kind in [Kind::Float, Kind::Double] {
        let x = Tensor::from_slice(&[-3.0, -0.5, 0.0, 0.25, 2.0])
            .to_kind(kind)
            .set_requires_grad(true);
        let y = leaky_relu(&x, 0.333);
        assert_eq!(y.kind(), kind);
        let want = [-0.999, -0.1665, 0.0, 0.25, 2.0];
        let got = Vec::<f64>::try_from(&y.to_kind(Kind::Double)).unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{kind:?}: {got:?} != {want:?}");
        }
        // d/dx of sum(c * y) is c where x > 0 and 0.333 c elsewhere (the
        // closed form; libtorch's convention takes the slope at 0).
        let c = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0]).to_kind(kind);
        (&y * &c).sum(kind).backward();
        let grad = Vec::<f64>::try_from(&x.grad().to_kind(Kind::Double)).unwrap();
        let want = [0.333, 0.666, 0.999, 4.0, 5.0];
        for (g, w) in grad.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{kind:?} grad: {grad:?} != {want:?}");
        }
    }
    // Without grad tracking it records nothing; a bad kind panics with libtorch's
    // message (a panic, as tch's own ops give), not an abort.
    let y = tch::no_grad(|| {
        leaky_relu(
            &Tensor::ones([2], (Kind::Float, CPU)).set_requires_grad(true),
            0.1,
        )
    });
    assert!(!y.requires_grad());
    let err = std::panic::catch_unwind(|| leaky_relu(&Tensor::from_slice(&[1i64, -1]), 0.1));
    assert!(err.is_err());
}
