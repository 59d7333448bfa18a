//! The DCGAN pair's trainable parameters against the authors' model.py:
//! scripts/dcgan_params.py (a transcription of build_discriminator and
//! build_generator, run with the .venv's torch) names and sizes every
//! parameter of G and D, for every --norm, at the sizes below, with 3 and 1
//! channels; paperlab's VarStores must hold the same names with the same
//! element counts.

use crate::common::python;
use paperlab::gan::dcgan::{default_levels, discriminator, generator, DcganConfig, GanNorm};
use std::collections::BTreeMap;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// name -> number of elements, for one network.
type Counts = BTreeMap<String, i64>;

const NORMS: [(GanNorm, &str); 4] = [
    (GanNorm::None, "none"),
    (GanNorm::Batch, "batch"),
    (GanNorm::Weight, "weight"),
    (GanNorm::WeightAffine, "weight-affine"),
];

/// (image size, levels, features, code size): 32 and 36 (whose 18x18 map
/// takes the extra padding) with the levels the authors derive; 64 with 6,
/// more than derived (D's last map 1x1); the CelebA presets' 160 with 5
/// levels and 64 features (64 ... 1024), at the README example's code 256.
const SIZES: [(i64, i64, i64, i64); 4] = [
    (32, 3, 64, 128),
    (36, 3, 16, 128),
    (64, 6, 8, 128),
    (160, 5, 64, 256),
];

fn counts(vs: &VarStore) -> Counts {
    vs.variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .map(|(name, t)| (name, t.numel() as i64))
        .collect()
}

/// The authors' counts for `configs`, one (G, D) pair each.
fn authors(configs: &[(GanNorm, &str, i64, i64, i64, i64, i64)]) -> Vec<(Counts, Counts)> {
    let mut args = vec![];
    for (_, norm, size, levels, features, channels, code) in configs {
        args.push(norm.to_string());
        args.extend([size, levels, features, channels, code].map(|v| v.to_string()));
    }
    let out = python("dcgan_params.py", args);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let net = |key: &str| -> Counts {
                v[key]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, n)| (k.clone(), n.as_i64().unwrap()))
                    .collect()
            };
            (net("g"), net("d"))
        })
        .collect()
}

#[test]
fn g_and_d_hold_the_parameters_of_the_authors_model_py() {
    let mut configs = vec![];
    for (norm, name) in NORMS {
        for (size, levels, features, code) in SIZES {
            for channels in [3, 1] {
                configs.push((norm, name, size, levels, features, channels, code));
            }
        }
    }
    let want = authors(&configs);
    assert_eq!(want.len(), configs.len(), "one answer per configuration");
    // The script derives the levels itself when given -1: the same count.
    let derived = authors(&[(GanNorm::None, "none", 36, -1, 4, 1, 8)]);
    let explicit = authors(&[(GanNorm::None, "none", 36, default_levels(36), 4, 1, 8)]);
    assert_eq!(derived, explicit);

    tch::manual_seed(0);
    for ((norm, name, size, levels, features, channels, code), (g_want, d_want)) in
        configs.into_iter().zip(want)
    {
        let what = format!("{name}, {size}x{size}x{channels}, {levels} levels of {features}");
        let cfg = DcganConfig {
            norm,
            features,
            levels,
            image_size: size,
            channels,
        };
        cfg.check().unwrap();
        let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
        let g = generator(&g_vs.root(), &cfg, code);
        let d = discriminator(&d_vs.root(), &cfg);
        let (g_got, d_got) = (counts(&g_vs), counts(&d_vs));
        assert_eq!(g_got, g_want, "{what}: G");
        assert_eq!(d_got, d_want, "{what}: D");
        let total = |c: &Counts| c.values().sum::<i64>();
        assert!(total(&g_got) > 0 && total(&d_got) > 0, "{what}");
        if size <= 64 {
            let x = g.forward_t(&Tensor::randn([2, code], (Kind::Float, Device::Cpu)), false);
            assert_eq!(x.size(), [2, channels, size, size], "{what}: G's images");
            assert_eq!(d.forward_t(&x, false).size(), [2], "{what}: D's logits");
        }
    }
}
