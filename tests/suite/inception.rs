//! train-inception: the three networks against the reference (timm's
//! parameter counts, names and stage shapes), forward passes at 75 and 299,
//! the 75 minimum, --init-from, crop geometry, and short real runs of the
//! binary (learning, exact resume, a lazily decoded folder, multi-crop),
//! and a folder's 1-crop evaluation, now cropped on the device.

use crate::common;
use common::*;

use paperlab::data::imagenet::LazyFolder;
use paperlab::inception::crops::{self, Crop};
use paperlab::inception::data::Val;
use paperlab::inception::eval::{predict, Settings};
use paperlab::inception::net::{build, Arch, Config, Net};
use paperlab::inception::weights;
use paperlab::rng::Rng;
use paperlab::runner::record::progress::Progress;
use std::path::Path;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

const ARCHS: [Arch; 3] = [
    Arch::InceptionV4,
    Arch::InceptionResnetV1,
    Arch::InceptionResnetV2,
];

/// A network on the CPU, libtorch on one thread (the suite's tests run side
/// by side; see tests/suite/common).
fn net(arch: Arch, width: f64, classes: i64) -> (VarStore, Net) {
    tch::set_num_threads(1);
    let vs = VarStore::new(Device::Cpu);
    let cfg = Config {
        width,
        ..Config::new(arch, classes)
    };
    let net = build(&vs.root(), &cfg);
    (vs, net)
}

fn params(vs: &VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

#[test]
fn parameter_counts_and_names_are_timms() {
    // timm, parameters only, 1000 classes (shared/REFERENCE.md section 2).
    let expected = [
        (Arch::InceptionV4, 42_679_816),
        (Arch::InceptionResnetV2, 55_843_464),
        // The paper's v1 (no reference code): this implementation's count.
        (Arch::InceptionResnetV1, 22_756_328),
    ];
    for (arch, count) in expected {
        let (vs, _) = net(arch, 1.0, 1000);
        assert_eq!(params(&vs), count, "{arch:?}");
        let vars = vs.variables();
        let shape = |k: &str| {
            vars.get(k)
                .unwrap_or_else(|| panic!("{arch:?} has no {k}"))
                .size()
        };
        // A handful of timm's state-dict keys and shapes.
        let keys: &[(&str, &[i64])] = match arch {
            Arch::InceptionV4 => &[
                ("features.0.conv.weight", &[32, 3, 3, 3]),
                ("features.0.bn.running_var", &[32]),
                ("features.3.conv.conv.weight", &[96, 64, 3, 3]),
                ("features.4.branch1.1.conv.weight", &[64, 64, 1, 7]),
                ("features.6.branch3.1.bn.running_mean", &[96]),
                ("features.18.branch1.3.conv.weight", &[320, 320, 3, 3]),
                ("features.21.branch2_3b.conv.weight", &[256, 512, 3, 1]),
                ("last_linear.weight", &[1000, 1536]),
                ("last_linear.bias", &[1000]),
            ],
            Arch::InceptionResnetV2 => &[
                ("conv2d_1a.conv.weight", &[32, 3, 3, 3]),
                ("mixed_5b.branch1.1.conv.weight", &[64, 48, 5, 5]),
                ("repeat.9.conv2d.bias", &[320]),
                ("repeat_1.19.branch1.2.conv.weight", &[192, 160, 7, 1]),
                ("mixed_7a.branch2.2.bn.weight", &[320]),
                ("repeat_2.8.conv2d.weight", &[2080, 448, 1, 1]),
                ("block8.conv2d.weight", &[2080, 448, 1, 1]),
                ("conv2d_7b.bn.running_var", &[1536]),
                ("classif.weight", &[1000, 1536]),
            ],
            Arch::InceptionResnetV1 => &[
                ("conv2d_4b.conv.weight", &[256, 192, 3, 3]),
                ("repeat.4.conv2d.weight", &[256, 96, 1, 1]),
                ("repeat_1.9.conv2d.weight", &[896, 256, 1, 1]),
                ("repeat_2.4.conv2d.weight", &[1792, 384, 1, 1]),
                ("classif.weight", &[1000, 1792]),
            ],
        };
        for (k, s) in keys {
            assert_eq!(shape(k), s.to_vec(), "{arch:?} {k}");
        }
        // BatchNorm weights start at 1, as timm's.
        let bn = match arch {
            Arch::InceptionV4 => "features.0.bn.weight",
            _ => "conv2d_1a.bn.weight",
        };
        assert!(vars[bn].eq(1.0).all().int64_value(&[]) == 1);
    }
}

/// [C, H, W] after the named stages at 299.
fn boundaries(arch: Arch) -> Vec<(&'static str, [i64; 3])> {
    match arch {
        Arch::InceptionV4 => vec![
            ("features.0", [32, 149, 149]),
            ("features.1", [32, 147, 147]),
            ("features.2", [64, 147, 147]),
            ("features.3", [160, 73, 73]),
            ("features.4", [192, 71, 71]),
            ("features.5", [384, 35, 35]),
            ("features.9", [384, 35, 35]),
            ("features.10", [1024, 17, 17]),
            ("features.17", [1024, 17, 17]),
            ("features.18", [1536, 8, 8]),
            ("features.21", [1536, 8, 8]),
        ],
        Arch::InceptionResnetV1 => vec![
            ("conv2d_4a", [192, 71, 71]),
            ("conv2d_4b", [256, 35, 35]),
            ("repeat.4", [256, 35, 35]),
            ("mixed_6a", [896, 17, 17]),
            ("repeat_1.9", [896, 17, 17]),
            ("mixed_7a", [1792, 8, 8]),
            ("repeat_2.4", [1792, 8, 8]),
        ],
        Arch::InceptionResnetV2 => vec![
            ("conv2d_4a", [192, 71, 71]),
            ("maxpool_5a", [192, 35, 35]),
            ("mixed_5b", [320, 35, 35]),
            ("repeat.9", [320, 35, 35]),
            ("mixed_6a", [1088, 17, 17]),
            ("repeat_1.19", [1088, 17, 17]),
            ("mixed_7a", [2080, 8, 8]),
            ("repeat_2.8", [2080, 8, 8]),
            ("block8", [2080, 8, 8]),
            ("conv2d_7b", [1536, 8, 8]),
        ],
    }
}

#[test]
fn forward_passes_at_299_and_75_give_the_papers_grids() {
    for arch in ARCHS {
        let (_, net) = net(arch, 1.0, 1000);
        // One real pass at 299 (batch 1): every stage's actual shape equals
        // the geometry, and the boundaries are the paper's 35/17/8 grids.
        let x = Tensor::rand([1, 3, 299, 299], (Kind::Float, Device::Cpu));
        let actual = net.forward_shapes(&x);
        let geometry = net.stage_shapes(299);
        assert_eq!(actual.len(), geometry.len());
        for ((name, real), (_, computed)) in actual.iter().zip(&geometry) {
            let [c, h, w] = computed.expect("fits at 299");
            assert_eq!(real, &vec![1, c, h, w], "{arch:?} {name}");
        }
        for (name, shape) in boundaries(arch) {
            let (_, s) = geometry.iter().find(|(n, _)| n == name).unwrap();
            assert_eq!(s.unwrap(), shape, "{arch:?} {name}");
        }
        // 75x75 is the smallest input: 1x1 after the last reduction.
        let logits = tch::no_grad(|| {
            net.forward_t(
                &Tensor::rand([1, 3, 75, 75], (Kind::Float, Device::Cpu)),
                false,
            )
        });
        assert_eq!(logits.size(), [1, 1000]);
        assert!(logits.isfinite().all().int64_value(&[]) == 1);
        let last = net.stage_shapes(75).last().unwrap().1.unwrap();
        assert_eq!(last[1..], [1, 1], "{arch:?}");
        assert!(net.stage_shapes(74).last().unwrap().1.is_none(), "{arch:?}");
    }
}

#[test]
fn image_sizes_below_75_are_refused_naming_75() {
    refused_by_parser(
        &["train-inception"],
        &[
            (
                &["--summary", "--image-size", "74"],
                &["--image-size", "75"],
            ),
            (
                &["--dataset", "fashion-mnist", "--image-size", "32"],
                &["--image-size", "75"],
            ),
            (&["--summary", "--crops", "12"], &["--crops", "144"]),
        ],
    );
    let ws = workspace();
    refused_by_binary(
        ws.path(),
        &["train-inception"],
        &[(
            &["--dataset", "fashion-mnist", "--eval-only"],
            &["--eval-only", "--init-from"],
        )],
    );
    assert!(!ws.path().join("results").exists(), "nothing is created");
}

#[test]
fn summary_prints_the_layer_table_and_ends_with_the_parameter_count() {
    let ws = workspace();
    let out = ok(paperlab(
        ws.path(),
        &["train-inception", "--model", "inception-v4", "--summary"],
    ));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(*lines.last().unwrap(), "parameters: 42679816");
    for want in [
        "features.5",
        "384x35x35",
        "1024x17x17",
        "1536x8x8",
        "last_linear",
    ] {
        assert!(text.contains(want), "no {want} in\n{text}");
    }
    let out = ok(paperlab(
        ws.path(),
        &[
            "train-inception",
            "--model",
            "inception-resnet-v2",
            "--summary",
            "--image-size",
            "75",
            "--width",
            "0.5",
            "--classes",
            "10",
        ],
    ));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("1x1"), "{text}");
    assert!(text.lines().last().unwrap().starts_with("parameters: "));
}

#[test]
fn init_from_round_trips_and_names_what_does_not_match() {
    let dir = common::tempdir();
    let file = dir.path().join("w.safetensors");
    let (vs, a) = net(Arch::InceptionResnetV2, 0.125, 10);
    // Non-trivial running statistics, so they are checked too.
    let _ = tch::no_grad(|| {
        a.forward_t(
            &Tensor::rand([4, 3, 75, 75], (Kind::Float, Device::Cpu)),
            true,
        )
    });
    weights::save(&vs, &file).unwrap();
    tch::manual_seed(1);
    let (vs2, b) = net(Arch::InceptionResnetV2, 0.125, 10);
    let x = Tensor::rand([2, 3, 75, 75], (Kind::Float, Device::Cpu));
    let before = tch::no_grad(|| b.forward_t(&x, false));
    let loaded = weights::load(&vs2, &file, "irv2", "classif", false).unwrap();
    assert_eq!(loaded.tensors, vs.variables().len());
    let (ya, yb) = tch::no_grad(|| (a.forward_t(&x, false), b.forward_t(&x, false)));
    assert!(ya.equal(&yb), "identical logits after loading");
    assert!(!before.equal(&yb));

    let saved: Vec<(String, Tensor)> = Tensor::read_safetensors(&file).unwrap();
    let copy = || -> Vec<(String, Tensor)> {
        saved
            .iter()
            .map(|(k, v)| (k.clone(), v.shallow_clone()))
            .collect()
    };
    let write = |name: &str, tensors: &[(String, Tensor)]| {
        let path = dir.path().join(name);
        Tensor::write_safetensors(tensors, &path).unwrap();
        path
    };
    let err = |path: &Path, replace: bool| {
        weights::load(&vs2, path, "irv2", "classif", replace)
            .unwrap_err()
            .to_string()
    };
    // timm's num_batches_tracked buffers are ignored.
    let mut with_counter = copy();
    with_counter.push((
        "conv2d_1a.bn.num_batches_tracked".into(),
        Tensor::from(3i64),
    ));
    weights::load(
        &vs2,
        &write("timm.safetensors", &with_counter),
        "irv2",
        "classif",
        false,
    )
    .unwrap();
    // Missing, extra, wrongly shaped.
    let missing: Vec<_> = saved
        .iter()
        .filter(|(k, _)| k != "repeat_1.3.branch1.1.conv.weight")
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    let e = err(&write("missing.safetensors", &missing), false);
    assert!(
        e.contains("no tensor repeat_1.3.branch1.1.conv.weight"),
        "{e}"
    );
    let mut extra = copy();
    extra.push((
        "aux_logits.weight".into(),
        Tensor::zeros([3], (Kind::Float, Device::Cpu)),
    ));
    let e = err(&write("extra.safetensors", &extra), false);
    assert!(
        e.contains("aux_logits.weight") && e.contains("does not have"),
        "{e}"
    );
    let (wide, _) = net(Arch::InceptionResnetV2, 0.25, 10);
    let wide_file = dir.path().join("wide.safetensors");
    weights::save(&wide, &wide_file).unwrap();
    let e = err(&wide_file, false);
    assert!(e.contains("has shape") && e.contains("expects"), "{e}");
    // Another classifier: an error naming it, unless it is to be replaced.
    let (other, _) = net(Arch::InceptionResnetV2, 0.125, 7);
    let other_file = dir.path().join("seven.safetensors");
    weights::save(&other, &other_file).unwrap();
    let e = err(&other_file, false);
    assert!(e.contains("classif.") && e.contains("--classes"), "{e}");
    let loaded = weights::load(&vs2, &other_file, "irv2", "classif", true).unwrap();
    assert!(loaded.classifier_replaced);

    // Through the binary: exit 2 naming the tensor.
    let ws = workspace();
    fails(
        paperlab(
            ws.path(),
            &[
                "train-inception",
                "--model",
                "inception-resnet-v2",
                "--width",
                "0.125",
                "--image-size",
                "75",
                "--dataset",
                "fashion-mnist",
                "--eval-only",
                "--init-from",
                wide_file.to_str().unwrap(),
                "--quiet",
            ],
        ),
        2,
        &["--init-from", "has shape", "expects"],
    );
    assert!(
        !ws.path().join("results").exists(),
        "a wrong --init-from creates no run directory"
    );
}

#[test]
fn a_short_run_on_fashion_mnist_learns_and_writes_its_results() {
    let ws = workspace();
    let args = tiny_inception(
        "learn",
        &[
            "--model",
            "inception-resnet-v2",
            "--width",
            "0.125",
            "--train-limit",
            "320",
            "--batch-size",
            "32",
            "--epochs",
            "3",
        ],
    );
    ok(paperlab(ws.path(), &args));
    let dir = run_dir(ws.path(), "train-inception", "learn");
    let mut reader = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "epoch",
            "lr",
            "train_loss",
            "train_error",
            "val_top1_error",
            "val_top5_error",
            "zero_fraction",
            "seconds",
            "images_per_sec"
        ]
    );
    let rows: Vec<Vec<f64>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    let loss: Vec<f64> = rows.iter().map(|r| r[2]).collect();
    assert!(loss[2] < loss[0] - 0.2, "the training loss falls: {loss:?}");
    // lr 0.045 at batch 32, decayed by 0.94 from epoch 3.
    assert!((rows[0][1] - 0.045).abs() < 1e-12 && (rows[2][1] - 0.045 * 0.94).abs() < 1e-12);
    for r in &rows {
        assert!((0.0..1.0).contains(&r[6]), "zero fraction {}", r[6]);
        assert!(r[5] <= r[4], "top-5 error <= top-1 error");
    }
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["model"], "inception-resnet-v2");
    assert_eq!(summary["crops"], 1);
    for key in ["params", "top1_error", "top5_error"] {
        assert!(summary[key].is_number(), "summary.json lacks {key}");
    }
    let mut predictions = csv::Reader::from_path(dir.join("predictions.csv")).unwrap();
    assert_eq!(
        predictions.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "image", "label", "top1", "top2", "top3", "top4", "top5", "prob1", "prob2", "prob3",
            "prob4", "prob5"
        ]
    );
    let first = predictions.records().next().unwrap().unwrap();
    assert_eq!(&first[0], "fashion-mnist/test/0");
    assert_eq!(predictions.records().count(), 39);
    // The evaluated (EMA) weights load back under timm's names.
    let e = paperlab(
        ws.path(),
        &tiny_inception(
            "again",
            &[
                "--model",
                "inception-resnet-v2",
                "--width",
                "0.125",
                "--eval-only",
                "--init-from",
                dir.join("weights.safetensors").to_str().unwrap(),
            ],
        ),
    );
    ok(e);
    let again = json(&run_dir(ws.path(), "train-inception", "again").join("summary.json"));
    assert_eq!(again["top1_error"], summary["top1_error"]);
}

#[test]
fn resuming_after_max_steps_repeats_an_uninterrupted_run() {
    let ws = workspace();
    ok(paperlab(ws.path(), &tiny_inception("whole", &[])));
    // Stop mid-epoch 2 (step 9 of 12), then resume to the end.
    ok(paperlab(
        ws.path(),
        &tiny_inception("parts", &["--max-steps", "9"]),
    ));
    ok(paperlab(
        ws.path(),
        &["train-inception", "--name", "parts", "--resume", "--quiet"],
    ));
    let whole = run_dir(ws.path(), "train-inception", "whole");
    let parts = run_dir(ws.path(), "train-inception", "parts");
    assert_eq!(
        metrics_without_timing(&whole.join("metrics.csv")),
        metrics_without_timing(&parts.join("metrics.csv"))
    );
    assert_eq!(
        json(&whole.join("summary.json"))["top1_error"],
        json(&parts.join("summary.json"))["top1_error"]
    );
    let read = |d: &Path| -> std::collections::BTreeMap<String, Tensor> {
        Tensor::read_safetensors(d.join("weights.safetensors"))
            .unwrap()
            .into_iter()
            .collect()
    };
    let (a, b) = (read(&whole), read(&parts));
    assert_eq!(a.len(), b.len());
    for (k, t) in &a {
        assert!(t.equal(&b[k]), "EMA weight {k} differs after resuming");
    }
}

#[test]
fn crop_geometry_follows_the_protocols() {
    // 144 crops of a 500x375 landscape image at 299: 4 scales x 3 squares x
    // 6 crops x 2 flips.
    let (w, h, size) = (500, 375, 299);
    let plan = crops::protocol_144(w, h, size);
    assert_eq!(plan.len(), 144);
    let shorts: Vec<i64> = plan.chunks(36).map(|s| s[0].resize.1).collect();
    assert_eq!(shorts, [342, 384, 427, 470]);
    for (scale, crops36) in plan.chunks(36).enumerate() {
        let (rw, rh) = crops36[0].resize;
        assert_eq!(rw, (shorts[scale] as f64 * 500.0 / 375.0) as i64);
        let short = rh;
        for (sq, crops12) in crops36.chunks(12).enumerate() {
            let sx = [0, (rw - short) / 2, rw - short][sq];
            let pairs: Vec<&[Crop]> = crops12.chunks(2).collect();
            for p in &pairs {
                assert!(!p[0].flip && p[1].flip);
                assert_eq!((p[0].x, p[0].y, p[0].w), (p[1].x, p[1].y, p[1].w));
            }
            let d = short - size;
            let boxes: Vec<(i64, i64, i64, i64)> = pairs
                .iter()
                .map(|p| (p[0].x, p[0].y, p[0].w, p[0].h))
                .collect();
            assert_eq!(
                boxes,
                [
                    (sx, 0, size, size),
                    (sx + d, 0, size, size),
                    (sx, d, size, size),
                    (sx + d, d, size, size),
                    (sx + d / 2, d / 2, size, size),
                    (sx, 0, short, short),
                ],
                "scale {scale} square {sq}"
            );
            for c in crops12 {
                assert!(c.x >= 0 && c.y >= 0 && c.x + c.w <= rw && c.y + c.h <= rh);
            }
        }
    }
    // At 224 the scales are GoogLeNet's; a portrait image takes its squares
    // top, centre and bottom.
    let plan = crops::protocol_144(375, 500, 224);
    let shorts: Vec<i64> = plan.chunks(36).map(|s| s[0].resize.0).collect();
    assert_eq!(shorts, [256, 288, 320, 352]);
    let squares: Vec<(i64, i64)> = plan[..36].chunks(12).map(|s| (s[10].x, s[10].y)).collect();
    assert_eq!(squares, [(0, 0), (0, (341 - 256) / 2), (0, 341 - 256)]);

    // 1 crop: timm's centre crop (resize to floor(299 / 0.875) = 341).
    let c = crops::centre(500, 375, 299, 0.875);
    assert_eq!(c.resize, (454, 341));
    assert_eq!((c.x, c.y, c.w, c.h, c.flip), (78, 21, 299, 299, false));
    assert_eq!(crops::centre(28, 28, 75, 1.0).resize, (75, 75));
    // 10 crops: 4 corners and the centre, plain and mirrored.
    let ten = crops::ten(500, 375, 299, 0.875);
    assert_eq!(ten.len(), 10);
    assert_eq!(ten.iter().filter(|c| c.flip).count(), 5);
    assert_eq!((ten[3].x, ten[3].y), (454 - 299, 341 - 299));
    assert_eq!((ten[4].x, ten[4].y), (78, 21));

    // Random-resized crops stay inside the image and repeat for a seed.
    for s in 0..200 {
        let (x, y, cw, ch) = crops::random_resized(500, 375, &mut Rng::new(7, s));
        assert!(x >= 0 && y >= 0 && cw > 0 && ch > 0 && x + cw <= 500 && y + ch <= 375);
        let area = (cw * ch) as f64 / (500.0 * 375.0);
        assert!((0.07..=1.0).contains(&area), "area {area}");
        assert_eq!(
            (x, y, cw, ch),
            crops::random_resized(500, 375, &mut Rng::new(7, s))
        );
    }

    // Applying a crop: the whole-square crop of a constant image is constant.
    let img = Tensor::full([1, 3, 40, 60], 0.25, (Kind::Float, Device::Cpu));
    let mut cropper = crops::Cropper::new(&img, 32);
    for c in crops::protocol_144(60, 40, 32).iter().step_by(7) {
        let out = cropper.crop(c);
        assert_eq!(out.size(), [1, 3, 32, 32]);
        assert!((out - 0.25).abs().max().double_value(&[]) < 1e-5);
    }
}

#[test]
fn a_folders_1_crop_evaluation_is_the_host_resized_one() {
    let ws = common::tempdir();
    imagenet_folder(ws.path());
    let val = LazyFolder::open(&ws.path().join("data/imagenet/val"), None).unwrap();
    let (_vs, net) = net(Arch::InceptionV4, 0.0625, 2);
    // As before: each image made float and cropped on the host, then one
    // batch uploaded (the device is the CPU here, where the two are the same
    // ops; on a GPU the resize now runs there, equal to float rounding).
    let inputs: Vec<Tensor> = (0..val.len())
        .map(|i| {
            let image = crops::to_rgb_float(&val.decode(i).unwrap().unsqueeze(0));
            let (_, _, h, w) = image.size4().unwrap();
            crops::Cropper::new(&image, 75).crop(&crops::centre(w, h, 75, 0.875))
        })
        .collect();
    let x = Tensor::cat(&inputs, 0) * 2.0 - 1.0;
    let want = net.forward_t(&x, false).softmax(1, Kind::Float);
    let e = Settings {
        crops: 1,
        crop_pct: 0.875,
        size: 75,
        batch_size: 8,
        workers: 2,
        device: Device::Cpu,
    };
    let got = predict(&net, &Val::Folder(val), &e, &mut Progress::new(true)).unwrap();
    assert_eq!(got.size(), [4, 2]);
    assert_eq!(
        Vec::<f32>::try_from(got.view(-1)).unwrap(),
        Vec::<f32>::try_from(want.view(-1)).unwrap()
    );
}

#[test]
fn an_imagenet_style_folder_trains_lazily_and_evaluates_144_crops() {
    let ws = workspace();
    // 6 training and 2 validation PNGs of each of two classes.
    imagenet_folder_of(ws.path(), 6, false);
    let root = ws.path().join("data/imagenet");
    let flags = ["--batch-size", "6", "--epochs", "1", "--crops", "144"];
    let args = tiny_folder_inception("folder", &flags);
    ok(paperlab(ws.path(), &args));
    let dir = run_dir(ws.path(), "train-inception", "folder");
    let summary = json(&dir.join("summary.json"));
    assert_eq!(summary["crops"], 144);
    assert_eq!(summary["classes"], 2);
    assert_eq!(summary["crop_pct"], 0.875);
    let mut predictions = csv::Reader::from_path(dir.join("predictions.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = predictions.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[0][0], "val/n01/img0.png");
    assert_eq!(&rows[3][1], "1");
    // Two classes: two predictions per row, probabilities summing to 1.
    let p: f64 = rows[0][4].parse::<f64>().unwrap() + rows[0][5].parse::<f64>().unwrap();
    assert!((p - 1.0).abs() < 1e-4, "{p}");

    // A corrupt image is a data error naming it.
    std::fs::write(root.join("train/n02/bad.jpg"), b"not a jpeg").unwrap();
    fails(
        paperlab(ws.path(), tiny_folder_inception("bad", &flags)),
        2,
        &["bad.jpg"],
    );
}
