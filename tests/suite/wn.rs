//! Weight normalization: the layers against plain layers with w = g v/||v||,
//! the data-dependent initialisation, mean-only batch norm, ZCA whitening,
//! the lr and beta1 schedules, and train-wn through the binary (learning
//! with every norm, resume across the beta1 switch, bad input).

use crate::common;
use common::*;

use clap::Parser;
use paperlab::data::Dataset;
use paperlab::layers::batch_norm::BatchNorm;
use paperlab::layers::mean_only_bn::MeanOnlyBn;
use paperlab::layers::plain::FixedScale;
use paperlab::layers::weight_norm::{DataInit, Op, WeightNorm};
use paperlab::optim::schedule::{apply, At, HoldThenLinear, Schedule, Switch};
use paperlab::optim::{params_of, Hyper, OptimConfig, UpdateImpl};
use paperlab::runner::engine::classify::ClassifierOptions;
use paperlab::runner::engine::session::RunConfig;
use paperlab::wn::args::TrainWnArgs;
use paperlab::wn::model::{net, NetConfig, Norm};
use paperlab::wn::zca::{self, load_or_fit, Origin, Zca};
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

/// `a` close to `b` within `tol` of `b`'s scale (its largest magnitude, at
/// least 1): float32 sums round in proportion to their largest terms.
fn close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_close(a, b, 0.0, tol * largest(b, 1.0), what);
}

/// The three kinds with (inputs, outputs, kernel) and an input batch.
fn kinds() -> Vec<(&'static str, Op, i64, i64, i64, Tensor)> {
    vec![
        (
            "linear",
            Op::Linear,
            5,
            4,
            0,
            Tensor::randn([64, 5], (Kind::Float, Device::Cpu)),
        ),
        (
            "conv2d",
            Op::conv(1),
            3,
            4,
            3,
            Tensor::randn([8, 3, 6, 6], (Kind::Float, Device::Cpu)),
        ),
        (
            "conv_transpose2d",
            Op::ConvTranspose2d {
                stride: 2,
                padding: 1,
                output_padding: 1,
            },
            3,
            4,
            3,
            Tensor::randn([8, 3, 5, 5], (Kind::Float, Device::Cpu)),
        ),
    ]
}

/// The plain op for weight `w`, written out with tch's functions.
fn plain(name: &str, x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    match name {
        "linear" => x.linear(w, Some(b)),
        "conv2d" => x.conv2d(w, Some(b), [1, 1], [1, 1], [1, 1], 1),
        _ => x.conv_transpose2d(w, Some(b), [2, 2], [1, 1], [1, 1], 1, [1, 1]),
    }
}

#[test]
fn weight_norm_layers_equal_plain_layers_with_w_g_v_over_norm_v() {
    tch::manual_seed(1);
    for (name, op, inputs, outputs, kernel, x) in kinds() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = WeightNorm::new(&(vs.root() / name), op, inputs, outputs, kernel, true);
        tch::no_grad(|| {
            layer
                .g
                .shallow_clone()
                .copy_(&(Tensor::rand([outputs], (Kind::Float, Device::Cpu)) + 0.5));
            layer
                .b
                .as_ref()
                .unwrap()
                .shallow_clone()
                .copy_(&Tensor::randn([outputs], (Kind::Float, Device::Cpu)));
        });
        let names: Vec<String> = vs.variables().into_keys().collect();
        for var in ["v", "g", "b"] {
            assert!(
                names.contains(&format!("{name}.{var}")),
                "{name}: no {var} in {names:?}"
            );
        }
        assert_eq!(layer.g.size(), [outputs], "{name}: one g per output unit");
        // The output axis is 0, except 1 for the transposed convolution.
        let out_axis = if name == "conv_transpose2d" { 1 } else { 0 };
        assert_eq!(layer.v.size()[out_axis], outputs, "{name}: v's layout");
        let axes: Vec<i64> = (0..layer.v.dim() as i64)
            .filter(|&a| a != out_axis as i64)
            .collect();
        let mut shape = vec![1i64; layer.v.dim()];
        shape[out_axis] = -1;
        let (v, g) = (layer.v.detach(), layer.g.detach().view(shape.as_slice()));
        let norm = v
            .square()
            .sum_dim_intlist(axes.as_slice(), true, Kind::Float)
            .sqrt();
        let w = (&g * &v / &norm).set_requires_grad(true);
        let b = layer.b.as_ref().unwrap().detach().set_requires_grad(true);

        let r = Tensor::randn(plain(name, &x, &w, &b).size(), (Kind::Float, Device::Cpu));
        let (x1, x2) = (
            x.set_requires_grad(true),
            x.detach().set_requires_grad(true),
        );
        let y1 = layer.forward(&x1);
        let y2 = plain(name, &x2, &w, &b);
        close(&y1, &y2, 1e-5, &format!("{name}: output"));
        (&y1 * &r).sum(Kind::Float).backward();
        (&y2 * &r).sum(Kind::Float).backward();
        close(
            &x1.grad(),
            &x2.grad(),
            1e-5,
            &format!("{name}: input gradient"),
        );
        close(
            &layer.b.as_ref().unwrap().grad(),
            &b.grad(),
            1e-5,
            &format!("{name}: bias gradient"),
        );
        // The paper's equation (3): the gradients of g and v from the gradient of w.
        let gw = w.grad();
        let grad_g = (&gw * &v).sum_dim_intlist(axes.as_slice(), true, Kind::Float) / &norm;
        let grad_v = &g / &norm * &gw - &g * &grad_g / norm.square() * &v;
        close(
            &layer.g.grad(),
            &grad_g.view([outputs]),
            1e-4,
            &format!("{name}: g gradient"),
        );
        close(
            &layer.v.grad(),
            &grad_v,
            1e-4,
            &format!("{name}: v gradient"),
        );
    }
}

/// Per-unit (axis 1) mean and std of activations.
fn stats(t: &Tensor) -> (Tensor, Tensor) {
    let axes: Vec<i64> = (0..t.dim() as i64).filter(|&a| a != 1).collect();
    let mean = t.mean_dim(axes.as_slice(), false, Kind::Float);
    let std = t.std_dim(axes.as_slice(), false, false);
    (mean, std)
}

fn standardised(t: &Tensor, what: &str) {
    let (m, s) = stats(t);
    let (m, s) = (
        m.abs().max().double_value(&[]),
        (s - 1.0).abs().max().double_value(&[]),
    );
    assert!(
        m < 1e-4 && s < 1e-3,
        "{what}: per-unit |mean| up to {m}, |std - 1| up to {s}"
    );
}

#[test]
fn data_dependent_init_standardises_every_unit_on_the_init_batch() {
    tch::manual_seed(2);
    for (name, op, inputs, outputs, kernel, x) in kinds() {
        let x = &x * 3.0 + 1.0;
        let vs = nn::VarStore::new(Device::Cpu);
        let wn = WeightNorm::new(&(vs.root() / "wn"), op, inputs, outputs, kernel, true);
        let fixed = FixedScale::new(&(vs.root() / "fixed"), op, inputs, outputs, kernel);
        let w = fixed.layer.w.detach().copy();
        let _ = wn.init(&x);
        let _ = fixed.init(&x);
        standardised(&wn.forward(&x), &format!("{name}: weight norm"));
        standardised(&fixed.forward(&x), &format!("{name}: fixed scale"));
        assert!(wn.g.max().double_value(&[]) != 1.0, "{name}: g was not set");
        assert!(
            fixed.g.max().double_value(&[]) != 1.0,
            "{name}: fixed g was not set"
        );
        assert!(fixed.layer.w.equal(&w), "{name}: the init changed w itself");
        // Layer by layer: a second layer initialised on the first's new output.
        let second = WeightNorm::new(&(vs.root() / "second"), op, outputs, outputs, kernel, true);
        let h = wn.forward(&x).leaky_relu();
        let _ = second.init(&h);
        standardised(
            &second.forward(&wn.forward(&x).leaky_relu()),
            &format!("{name}: second layer"),
        );
        // Without a bias (mean-only batch norm follows), only the scale is set.
        let scale_only = WeightNorm::new(&(vs.root() / "nob"), op, inputs, outputs, kernel, false);
        let _ = scale_only.init(&x);
        let (_, s) = stats(&scale_only.forward(&x));
        close(
            &s,
            &Tensor::ones([outputs], (Kind::Float, Device::Cpu)),
            1e-3,
            &format!("{name}: std without bias"),
        );
    }
}

fn tiny_net(norm: Norm) -> NetConfig {
    NetConfig {
        norm,
        in_channels: 1,
        classes: 10,
        widths: [6, 8],
        noise: 0.0,
        dropout: 0.0,
        slope: 0.1,
    }
}

/// Copies of every variable of `vs`, by name.
fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().copy()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

#[test]
fn the_network_init_standardises_every_unit_on_the_init_batch() {
    tch::manual_seed(3);
    let x = Tensor::randn([40, 1, 14, 14], (Kind::Float, Device::Cpu));
    for norm in [Norm::None, Norm::Weight, Norm::WeightMeanbn] {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = net(&vs.root(), &tiny_net(norm));
        let before = snapshot(&vs);
        model.init(&x);
        let after = snapshot(&vs);
        // Every unit's scale g was set (ten of them); weights and
        // directions stay as drawn.
        let mut scales = 0;
        for ((name, old), (_, new)) in before.iter().zip(&after) {
            if name.ends_with(".g") {
                scales += 1;
                assert!(
                    !old.allclose(new, 1e-6, 1e-6, false),
                    "{norm:?}: {name} was not initialised"
                );
            }
            if name.ends_with(".weight") || name.ends_with(".v") {
                assert!(old.equal(new), "{norm:?}: the init changed {name}");
            }
        }
        assert_eq!(scales, 10, "{norm:?}: one g per unit");
        // A second pass changes nothing: every unit was already zero-mean,
        // unit-std on what the units below it give.
        model.init(&x);
        for ((name, first), (_, second)) in after.iter().zip(&snapshot(&vs)) {
            close(
                second,
                first,
                1e-3,
                &format!("{norm:?}: {name} after a second init"),
            );
        }
        // Mean-only batch norm subtracts the batch mean in training mode only.
        let train = norm == Norm::WeightMeanbn;
        let logits = tch::no_grad(|| model.forward_t(&x, train));
        let (m, s) = stats(&logits);
        let (m, s) = (
            m.abs().max().double_value(&[]),
            (s - 1.0).abs().max().double_value(&[]),
        );
        assert!(
            m < 1e-3 && s < 1e-2,
            "{norm:?}: logits mean up to {m}, |std - 1| up to {s}"
        );
    }
}

#[test]
fn the_fixed_scale_layer_is_the_authors_init_layer() {
    tch::manual_seed(8);
    for (name, op, inputs, outputs, kernel, x) in kinds() {
        let vs = nn::VarStore::new(Device::Cpu);
        let layer = FixedScale::new(&(vs.root() / name), op, inputs, outputs, kernel);
        // Lasagne's GlorotUniform: uniform in +-sqrt(6 / ((n1 + n2) * field)).
        let w = layer.layer.w.detach();
        let shape = w.size();
        let field: i64 = shape[2..].iter().product();
        let bound = (6.0 / ((inputs + outputs) * field) as f64).sqrt();
        let max = w.abs().max().double_value(&[]);
        assert!(
            max <= bound && max > 0.7 * bound,
            "{name}: |w| up to {max}, bound {bound}"
        );
        // g * w (g per output unit) and a bias; g is saved but not trained.
        let g = Tensor::rand([outputs], (Kind::Float, Device::Cpu)) + 0.5;
        tch::no_grad(|| layer.g.shallow_clone().copy_(&g));
        let names: Vec<String> = params_of(&vs).into_iter().map(|p| p.name).collect();
        assert_eq!(names, [format!("{name}.bias"), format!("{name}.weight")]);
        assert!(vs.variables().contains_key(&format!("{name}.g")));
        let out_axis = if name == "conv_transpose2d" { 1 } else { 0 };
        let mut per_unit = vec![1i64; w.dim()];
        per_unit[out_axis] = -1;
        let scaled = (&w * g.view(per_unit.as_slice())).set_requires_grad(true);
        let b = layer.layer.b.as_ref().unwrap().detach();
        let y = layer.forward(&x);
        let want = plain(name, &x, &scaled, &b);
        close(&y, &want, 1e-5, &format!("{name}: output"));
        // w's gradient is g times the computed weight's: Adam's steps on w
        // are steps on g w scaled by g.
        let r = Tensor::randn(y.size(), (Kind::Float, Device::Cpu));
        (&y * &r).sum(Kind::Float).backward();
        (&want * &r).sum(Kind::Float).backward();
        close(
            &layer.layer.w.grad(),
            &(scaled.grad() * g.view(per_unit.as_slice())),
            1e-5,
            &format!("{name}: weight gradient"),
        );
    }
}

/// Population variance of activations [B, C, H, W] per channel.
fn channel_var(x: &Tensor) -> Tensor {
    x.var_correction([0i64, 2, 3].as_slice(), 0, false)
}

#[test]
fn batch_norm_corrects_the_running_variance_by_the_batch_size_as_the_authors() {
    tch::manual_seed(9);
    let vs = nn::VarStore::new(Device::Cpu);
    let bn = BatchNorm::new(&(vs.root() / "bn"), 3, 1e-6, 0.1);
    let offsets = Tensor::from_slice(&[1.0f32, -2.0, 3.0]).view([1, 3, 1, 1]);
    let x = Tensor::randn([5, 3, 4, 4], (Kind::Float, Device::Cpu)) * 2.0 + &offsets;
    let (m, v) = (stats(&x).0, channel_var(&x));
    // The init pass normalises by the batch and leaves the averages alone.
    standardised(&tch::no_grad(|| bn.normalise_batch(&x)), "init pass");
    assert!(bn
        .running_mean
        .equal(&Tensor::zeros([3], (Kind::Float, Device::Cpu))));
    // Training: normalised by the batch; running mean 0.9*0 + 0.1 m, running
    // variance 0.9*1 + 0.1 * B/(B-1) v with B = 5 images (lasagne/nn.py:131),
    // not libtorch's 80/79.
    let y = tch::no_grad(|| bn.forward_t(&x, true));
    standardised(&y, "training output");
    close(&bn.running_mean, &(&m * 0.1), 1e-6, "running mean");
    let want = &v * (0.1 * 5.0 / 4.0) + 0.9;
    close(&bn.running_var, &want, 1e-5, "running variance");
    let libtorch = &v * (0.1 * 80.0 / 79.0) + 0.9;
    let apart = (&want - libtorch).abs().min().double_value(&[]);
    assert!(apart > 1e-3, "the two corrections agree to {apart}");
    // Evaluation: the running averages, the learned scale and bias.
    let (g, b) = (
        Tensor::from_slice(&[2.0f32, 0.5, 1.0]),
        Tensor::from_slice(&[0.1f32, 0.2, -0.3]),
    );
    tch::no_grad(|| {
        bn.weight.shallow_clone().copy_(&g);
        bn.bias.shallow_clone().copy_(&b);
    });
    let unit = |t: &Tensor| t.view([1, 3, 1, 1]);
    let eval = tch::no_grad(|| bn.forward_t(&x, false));
    let want_eval = (&x - unit(&bn.running_mean)) / unit(&(&bn.running_var + 1e-6).sqrt())
        * unit(&g)
        + unit(&b);
    close(&eval, &want_eval, 1e-5, "evaluation output");
    // One image (a last, partial batch) leaves the averages alone.
    let before = bn.running_var.copy();
    let _ = tch::no_grad(|| bn.forward_t(&x.narrow(0, 0, 1), true));
    assert!(
        bn.running_var.equal(&before),
        "a batch of one moved the variance"
    );
    // Dense activations [B, units]: B/(B-1) with B the rows.
    let dense = BatchNorm::new(&(vs.root() / "dense"), 3, 1e-6, 0.1);
    let flat = Tensor::randn([4, 3], (Kind::Float, Device::Cpu)) * 3.0;
    let _ = tch::no_grad(|| dense.forward_t(&flat, true));
    let want = flat.var_correction([0i64].as_slice(), 0, false) * (0.1 * 4.0 / 3.0) + 0.9;
    close(&dense.running_var, &want, 1e-5, "dense running variance");
}

#[test]
fn mean_only_batch_norm_in_training_and_evaluation() {
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let bn = MeanOnlyBn::new(&vs.root(), 3);
    let b = Tensor::from_slice(&[0.5f32, -1.0, 2.0]);
    tch::no_grad(|| bn.b.shallow_clone().copy_(&b));
    let offsets = Tensor::from_slice(&[1.0f32, -2.0, 3.0]).view([1, 3, 1, 1]);
    let x = (Tensor::randn([6, 3, 4, 4], (Kind::Float, Device::Cpu)) * 2.0 + &offsets)
        .set_requires_grad(true);
    let m = x
        .mean_dim([0, 2, 3].as_slice(), false, Kind::Float)
        .detach();
    // Training: the batch mean goes, the bias comes; the std is untouched.
    let y = bn.forward_t(&x, true);
    let (ym, ys) = stats(&y);
    close(&ym, &b, 1e-5, "training mean");
    close(&ys, &stats(&x).1, 1e-5, "training std");
    close(
        &bn.running_mean,
        &(&m * 0.1),
        1e-6,
        "running mean after one batch",
    );
    // The gradient flows through the batch mean: r minus its per-unit mean.
    let r = Tensor::randn([6, 3, 4, 4], (Kind::Float, Device::Cpu));
    (&y * &r).sum(Kind::Float).backward();
    let r_mean = r.mean_dim([0, 2, 3].as_slice(), true, Kind::Float);
    close(&x.grad(), &(&r - r_mean), 1e-5, "input gradient");
    close(
        &bn.b.grad(),
        &r.sum_dim_intlist([0, 2, 3].as_slice(), false, Kind::Float),
        1e-4,
        "bias gradient",
    );
    let x2 = Tensor::randn([6, 3, 4, 4], (Kind::Float, Device::Cpu)) - &offsets;
    let m2 = x2.mean_dim([0, 2, 3].as_slice(), false, Kind::Float);
    let _ = bn.forward_t(&x2, true);
    let running = &m * 0.09 + &m2 * 0.1;
    close(
        &bn.running_mean,
        &running,
        1e-6,
        "running mean after two batches",
    );
    // Evaluation: the running mean, which it leaves alone.
    let y = tch::no_grad(|| bn.forward_t(&x2, false));
    let want = &x2 - running.view([1, 3, 1, 1]) + b.view([1, 3, 1, 1]);
    close(&y, &want, 1e-5, "evaluation output");
    close(
        &bn.running_mean,
        &running,
        1e-6,
        "running mean after evaluation",
    );
    // Dense activations [B, units].
    let flat = Tensor::randn([10, 3], (Kind::Float, Device::Cpu)) + 4.0;
    close(
        &stats(&bn.forward_t(&flat, true)).0,
        &b,
        1e-5,
        "dense training mean",
    );
}

/// 3x4x4 uint8 images with strongly correlated pixels.
fn correlated_images(n: i64, seed: i64) -> Dataset {
    tch::manual_seed(seed);
    let mix = Tensor::randn([48, 48], (Kind::Float, Device::Cpu)) / 7.0
        + Tensor::eye(48, (Kind::Float, Device::Cpu));
    let z = Tensor::randn([n, 48], (Kind::Float, Device::Cpu)).matmul(&mix);
    let images = (z * 20.0 + 128.0)
        .clamp(0.0, 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .view([n, 3, 4, 4]);
    Dataset {
        images,
        labels: Tensor::zeros([n], (Kind::Int64, Device::Cpu)),
        classes: 1,
    }
}

fn whitened(zca: &Zca, ds: &Dataset) -> Tensor {
    zca.apply(&zca::scale(&(ds.images.to_kind(Kind::Float) / 255.0)))
        .flatten(1, -1)
}

#[test]
fn zca_whitening_gives_an_identity_covariance_on_the_training_data() {
    let ds = correlated_images(4000, 5);
    let zca = Zca::fit(&ds.images, 1e-5);
    close(
        &zca.matrix,
        &zca.matrix.transpose(0, 1),
        1e-4,
        "symmetric matrix",
    );
    let x = whitened(&zca, &ds).to_kind(Kind::Double);
    let mean = x.mean_dim([0i64].as_slice(), false, Kind::Double);
    assert!(
        mean.abs().max().double_value(&[]) < 1e-3,
        "whitened mean is not 0"
    );
    let centred = &x - mean;
    let cov = centred.transpose(0, 1).matmul(&centred) / 4000.0;
    let eye = Tensor::eye(48, (Kind::Double, Device::Cpu));
    let off = (&cov - eye).abs().max().double_value(&[]);
    assert!(off < 0.01, "covariance differs from the identity by {off}");
    // The raw data was far from white, so the test can tell.
    let raw = zca::scale(&(ds.images.to_kind(Kind::Double) / 255.0)).flatten(1, -1);
    let raw = &raw - raw.mean_dim([0i64].as_slice(), true, Kind::Double);
    let raw_cov = raw.transpose(0, 1).matmul(&raw) / 4000.0;
    assert!(
        (raw_cov - Tensor::eye(48, (Kind::Double, Device::Cpu)))
            .abs()
            .max()
            .double_value(&[])
            > 0.5
    );
}

#[test]
fn the_zca_fit_is_cached_and_refitted_for_other_images() {
    let dir = common::tempdir();
    let ds = correlated_images(500, 6);
    let path = dir.path().join("zca/set.safetensors");
    // A distributed run's other processes fit without writing.
    let (_, origin) = load_or_fit(&ds, &path, 1e-5, false);
    assert!(matches!(origin, Origin::Fitted { cached: Err(_) }));
    assert!(!path.exists());
    let (first, origin) = load_or_fit(&ds, &path, 1e-5, true);
    assert!(matches!(origin, Origin::Fitted { cached: Ok(_) }));
    assert!(path.is_file());
    let (again, origin) = load_or_fit(&ds, &path, 1e-5, true);
    assert!(matches!(origin, Origin::Cached(_)));
    assert!(first.matrix.equal(&again.matrix) && first.mean.equal(&again.mean));
    let other = correlated_images(500, 7);
    let (refit, origin) = load_or_fit(&other, &path, 1e-5, true);
    assert!(matches!(origin, Origin::Fitted { .. }));
    assert!(!refit.matrix.equal(&first.matrix));
}

#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    args: TrainWnArgs,
}

/// (lr, beta1) that Adam gets in each of the epochs of `flags`, and its config.
fn scheduled(flags: &[&str]) -> (Vec<(f64, f64)>, OptimConfig) {
    let args = Flags::parse_from(["train-wn"].iter().chain(flags)).args;
    let args = args.checked().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let _ = vs.root().var("w", &[2], nn::Init::Const(0.0));
    let mut opt = args.optim_config().build(params_of(&vs), UpdateImpl::Auto);
    let values = (1..=args.epochs)
        .map(|epoch| {
            apply(&args.schedules(), opt.as_mut(), At { epoch, step: 0 }).unwrap();
            (opt.get(Hyper::Lr).unwrap(), opt.get(Hyper::Beta1).unwrap())
        })
        .collect();
    (values, args.optim_config())
}

#[test]
fn adam_gets_the_lr_and_beta1_of_the_flags_epoch_by_epoch() {
    let flags = [
        "--epochs",
        "5",
        "--decay-after",
        "2",
        "--decay-epochs",
        "3",
        "--lr",
        "0.03",
        "--beta1",
        "0.8",
        "--beta1-late",
        "0.4",
    ];
    // Two epochs as they are, then three of decay: lr, 2/3 lr, 1/3 lr.
    let (values, _) = scheduled(&flags);
    let want = [
        (0.03, 0.8),
        (0.03, 0.8),
        (0.03, 0.4),
        (0.02, 0.4),
        (0.01, 0.4),
    ];
    for (epoch, ((lr, beta1), (want_lr, want_beta1))) in values.iter().zip(want).enumerate() {
        assert!((lr - want_lr).abs() < 1e-15, "epoch {}: lr {lr}", epoch + 1);
        assert_eq!(*beta1, want_beta1, "epoch {}", epoch + 1);
    }
}

#[test]
fn a_short_run_is_the_start_of_the_authors_schedule_with_their_adam() {
    // The defaults: 100 epochs before the decay, so 3 epochs train at the
    // constant lr and beta1 0.9, whatever --epochs says.
    let (values, optim) = scheduled(&["--epochs", "3"]);
    assert_eq!(values, [(0.003, 0.9); 3]);
    let OptimConfig::Adam(adam) = optim else {
        panic!("train-wn's optimizer is {optim:?}")
    };
    assert!(adam.eps_in_sqrt, "eps outside the square root");
    assert_eq!((adam.eps, adam.beta2), (1e-8, 0.999));
    // The whole run: 0.9 then 0.5 from epoch 101; lr/100 in epoch 200.
    let (values, _) = scheduled(&[]);
    assert_eq!(values.len(), 200);
    assert_eq!(values[99], (0.003, 0.9));
    assert_eq!(values[100], (0.003, 0.5));
    assert!((values[199].0 - 0.00003).abs() < 1e-15);
}

#[test]
fn lr_holds_then_falls_linearly_and_beta1_switches_as_the_authors_code() {
    // lasagne/train.py: lr * min(2 - e/100, 1) and mom1 0.9 while e < 100, e 0-based.
    let lr = HoldThenLinear {
        base: 0.003,
        hold: 100,
        end: 200,
    };
    let beta1 = Switch {
        before: 0.9,
        after: 0.5,
        from: 101,
    };
    for e in 0..200 {
        let at = At {
            epoch: e + 1,
            step: 0,
        };
        let want = 0.003 * (2.0 - e as f64 / 100.0).min(1.0);
        assert!(
            (lr.value(at) - want).abs() < 1e-15,
            "epoch {}: lr {}",
            e + 1,
            lr.value(at)
        );
        assert_eq!(
            beta1.value(at),
            if e < 100 { 0.9 } else { 0.5 },
            "epoch {}",
            e + 1
        );
    }
    // One epoch: nothing to decay over.
    assert_eq!(
        HoldThenLinear {
            base: 1.0,
            hold: 1,
            end: 1
        }
        .value(At { epoch: 1, step: 0 }),
        1.0
    );
}

/// A small, fast train-wn (common's): 14 steps of 50 images an epoch (add
/// --widths).
fn tiny(extra: &[&str]) -> Vec<String> {
    argv(TINY_WN, extra)
}

/// A short training: 2 epochs of 4,000 Fashion-MNIST images (chance is 90%
/// error). ZCA is off: fitted on so few images of a dataset whose border
/// pixels hardly vary, it amplifies them on the test set; and dropout is
/// off and lr is the authors' code's 0.001, for a tiny net that must learn
/// within 400 steps.
fn learns(norm: &str) {
    let ws = workspace();
    let args = tiny(&[
        "--norm",
        norm,
        "--widths",
        "8,16",
        "--train-limit",
        "4000",
        "--batch-size",
        "20",
        "--epochs",
        "2",
        "--lr",
        "0.001",
        "--dropout",
        "0",
        "--zca",
        "off",
        "--name",
        "learn",
    ]);
    ok(paperlab(ws.path(), &args));
    let dir = run_dir(ws.path(), "train-wn", "learn");
    let summary = json(&dir.join("summary.json"));
    let err = summary["test_error"].as_f64().unwrap();
    assert!(err < 0.5, "{norm}: test error {err}");
    assert_eq!(summary["norm"], norm);
    assert!(summary["seconds_per_epoch"].as_f64().unwrap() > 0.0);
    let header = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert!(header
        .starts_with("epoch,lr,train_loss,train_error,test_error,beta1,seconds,images_per_sec\n"));
    let ckpt: Vec<String> = Tensor::read_safetensors(dir.join("checkpoints/last.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let want: &[&str] = match norm {
        "none" => &["model.conv1.weight", "model.conv1.bias"],
        "batch" => &[
            "model.conv1.weight",
            "model.conv1.bn.running_var",
            "model.dense.bn.bias",
        ],
        "weight" => &["model.conv1.v", "model.conv1.g", "model.dense.b"],
        _ => &[
            "model.conv1.v",
            "model.conv1.g",
            "model.conv1.meanbn.running_mean",
            "model.dense.meanbn.b",
        ],
    };
    for key in want {
        assert!(
            ckpt.contains(&key.to_string()),
            "{norm}: checkpoint lacks {key}"
        );
    }
}

#[test]
fn train_wn_learns_fashion_mnist_without_normalisation() {
    learns("none");
}

#[test]
fn train_wn_learns_fashion_mnist_with_batch_norm() {
    learns("batch");
}

#[test]
fn train_wn_learns_fashion_mnist_with_weight_norm() {
    learns("weight");
}

#[test]
fn train_wn_learns_fashion_mnist_with_weight_norm_and_mean_only_batch_norm() {
    learns("weight-meanbn");
}

#[test]
fn resuming_after_max_steps_repeats_the_run_across_the_beta1_switch() {
    let ws = workspace();
    // 3 epochs of 6 steps: beta1 switches at epoch 2, lr halves in epoch 3.
    let args = |name: &str, extra: &[&str]| {
        let mut a = tiny(&[
            "--train-limit",
            "300",
            "--epochs",
            "3",
            "--decay-after",
            "1",
            "--decay-epochs",
            "2",
            "--widths",
            "4,8",
            "--norm",
            "weight-meanbn",
            "--name",
            name,
        ]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    ok(paperlab(ws.path(), &args("whole", &[])));
    assert!(ws
        .path()
        .join("data/zca/fashion-mnist-n300-reg1e-5.safetensors")
        .is_file());
    // Stop in epoch 2, after the switch, then resume.
    ok(paperlab(ws.path(), &args("parts", &["--max-steps", "9"])));
    let parts = run_dir(ws.path(), "train-wn", "parts");
    assert_eq!(metrics_without_timing(&parts.join("metrics.csv")).len(), 1);
    ok(paperlab(
        ws.path(),
        &["train-wn", "--name", "parts", "--resume", "--quiet"],
    ));
    let whole = run_dir(ws.path(), "train-wn", "whole");
    let rows = metrics_without_timing(&whole.join("metrics.csv"));
    assert_eq!(rows, metrics_without_timing(&parts.join("metrics.csv")));
    let column = |i: usize| {
        rows.iter()
            .map(|r| r[i].parse::<f64>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(column(5), [0.9, 0.5, 0.5], "beta1");
    assert_eq!(column(1), [0.003, 0.003, 0.0015], "lr");
    assert_eq!(
        json(&whole.join("summary.json"))["test_error"],
        json(&parts.join("summary.json"))["test_error"]
    );
}

#[test]
fn presets_and_flags_resolve_without_training() {
    let ws = workspace();
    for norm in ["none", "batch", "weight", "weight-meanbn"] {
        let preset = repo(&format!("experiments/wn-{norm}.toml"));
        let config = resolved(
            ws.path(),
            ["train-wn", "--config", preset.to_str().unwrap()],
        );
        assert_eq!(config["norm"], norm);
        assert_eq!(config["dataset"], "cifar10");
        assert_eq!(config["epochs"], 200);
    }
    let config = resolved(ws.path(), ["train-wn", "--zca", "off"]);
    assert_eq!(config["zca"], false);
    assert_eq!(config["lr"], 0.003);
    assert!(!ws.path().join("results").exists());
}

#[test]
fn bad_input_exits_2_naming_the_flag() {
    refused_by_parser(
        TINY_WN,
        &[
            (&["--norm", "layer"], &["--norm", "layer"]),
            (&["--widths", "8,0"], &["'0' for '--widths"]),
            (&["--init-batch", "0"], &["'0' for '--init-batch"]),
            (&["--init", "lsuv"], &["--init", "lsuv"]),
            (&["--zca", "maybe"], &["--zca", "maybe"]),
            (&["--zca-reg", "0"], &["'0' for '--zca-reg"]),
            (&["--beta1", "1.5"], &["'1.5' for '--beta1", "[0, 1)"]),
            (&["--dropout", "1"], &["'1' for '--dropout"]),
            (&["--lr", "-0.1"], &["'-0.1' for '--lr", "positive"]),
            (&["--noise", "-1"], &["'-1' for '--noise"]),
            (&["--train-limit", "0"], &["'0' for '--train-limit"]),
            (&["--epochs", "0"], &["'0' for '--epochs"]),
            (&["--decay-epochs", "0"], &["'0' for '--decay-epochs"]),
            (&["--decay-after", "-1"], &["'-1' for '--decay-after"]),
        ],
    );
    let ws = workspace();
    let p = ws.path();
    // Images smaller than the network's 12x12 minimum.
    for split in ["train", "test"] {
        for class in ["a", "b"] {
            let dir = p.join("small").join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            let image = Tensor::zeros([3, 8, 8], (Kind::Uint8, Device::Cpu));
            tch::vision::image::save(&image, dir.join("0.png")).unwrap();
        }
    }
    refused_by_binary(
        p,
        TINY_WN,
        &[
            (&["--widths", "8"], &["--widths", "two widths"]),
            (
                &["--epochs", "201"],
                &["--epochs 201", "--decay-after 100", "--decay-epochs 100"],
            ),
            (
                &["--dataset", "folder:small"],
                &["--dataset folder:small", "8x8", "12x12"],
            ),
        ],
    );
    assert!(
        !p.join("results").exists(),
        "a refused run created its directory"
    );
}
