//! The weight EMA (runner::compute::ema) on a tiny linear + BatchNorm model: the decay
//! schedule, the size and direction of each update against a plain-loop
//! oracle, BatchNorm statistics averaged too, evaluation with the averaged
//! weights, the checkpoint round trip, and clear errors for a shadow model
//! that does not match.

use crate::common;
use common::assert_close;

use paperlab::optim::UpdateImpl;
use paperlab::runner::compute::ema::Ema;
use paperlab::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use std::collections::BTreeMap;
use tch::nn::{self, Module, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

#[derive(Debug)]
struct Tiny {
    lin: nn::Linear,
    bn: nn::BatchNorm,
}

fn tiny(p: &nn::Path) -> Tiny {
    Tiny {
        lin: nn::linear(p / "lin", 3, 2, Default::default()),
        bn: nn::batch_norm1d(p / "bn", 2, Default::default()),
    }
}

impl Tiny {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.lin.forward(x), train)
    }
}

/// A live model and its EMA.
fn setup(decay: f64) -> (VarStore, Tiny, Ema<Tiny>) {
    setup_with(decay, UpdateImpl::Auto)
}

/// A live model and its EMA, updated in the form `update` chooses.
fn setup_with(decay: f64, update: UpdateImpl) -> (VarStore, Tiny, Ema<Tiny>) {
    let vs = VarStore::new(Device::Cpu);
    let net = tiny(&vs.root());
    let ema = Ema::new(&vs, decay, tiny).unwrap().with_update(update);
    (vs, net, ema)
}

/// Every variable's values, by name.
type Vars = BTreeMap<String, Vec<f64>>;

fn values(vs: &VarStore) -> Vars {
    vs.variables()
        .into_iter()
        .map(|(name, t)| {
            let flat = t.to_kind(Kind::Double).flatten(0, -1);
            (name, Vec::<f64>::try_from(&flat).unwrap())
        })
        .collect()
}

fn set(vs: &VarStore, vars: &Vars) {
    let live = vs.variables();
    tch::no_grad(|| {
        for (name, v) in vars {
            let t = &live[name];
            let new = Tensor::from_slice(v)
                .to_kind(t.kind())
                .view(t.size().as_slice());
            t.shallow_clone().copy_(&new);
        }
    });
}

/// Known values, different from any initialisation, and positive (so they
/// also serve as BatchNorm variances).
fn pattern(vs: &VarStore, offset: f64) -> Vars {
    values(vs)
        .into_iter()
        .enumerate()
        .map(|(j, (name, v))| {
            let v = (0..v.len())
                .map(|i| offset + 0.25 * j as f64 + 0.1 * i as f64)
                .collect();
            (name, v)
        })
        .collect()
}

/// The oracle: d * old + (1 - d) * live, element by element.
fn averaged(old: &Vars, live: &Vars, d: f64) -> Vars {
    let mut out = Vars::new();
    for (name, o) in old {
        let l = &live[name];
        let mut v = Vec::new();
        for i in 0..o.len() {
            v.push(d * o[i] + (1.0 - d) * l[i]);
        }
        out.insert(name.clone(), v);
    }
    out
}

/// The same variables, each within 1e-5 (1 + |want|) of `want`'s.
fn vars_close(got: &Vars, want: &Vars, what: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: variable names"
    );
    for (name, w) in want {
        assert_close(&got[name], w, 1e-5, 1e-5, &format!("{what}: {name}"));
    }
}

fn input() -> Tensor {
    let x: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 * 0.3 - 1.0).collect();
    Tensor::from_slice(&x).view([8, 3])
}

#[test]
fn decay_follows_the_num_updates_ramp_then_the_cap() {
    let (_, _, ema) = setup(0.9);
    // d = min(0.9, (1 + n) / (10 + n)): the ramp below n = 80, the cap above.
    for (n, want) in [
        (0, 0.1),
        (8, 0.5),
        (50, 51.0 / 60.0),
        (80, 0.9),
        (1000, 0.9),
    ] {
        let got = ema.decay_at(n);
        assert!(
            (got - want).abs() < 1e-12,
            "decay_at({n}) = {got}, expected {want}"
        );
    }
    let (_, _, ema) = setup(0.9999);
    assert!((ema.decay_at(10) - 11.0 / 20.0).abs() < 1e-12);
    assert_eq!(ema.decay_at(1_000_000), 0.9999);
}

#[test]
fn shadow_starts_as_a_copy_and_moves_towards_the_live_weights() {
    shadow_moves_towards_the_live_weights(UpdateImpl::PerTensor);
}

/// timm's ModelEmaV3 form (one foreach lerp) against the same oracle.
#[test]
fn foreach_shadow_moves_towards_the_live_weights() {
    shadow_moves_towards_the_live_weights(UpdateImpl::Foreach);
}

fn shadow_moves_towards_the_live_weights(update: UpdateImpl) {
    let (vs, _, ema) = setup_with(0.9, update);
    vars_close(&values(ema.vs()), &values(&vs), "initial shadow");
    let names: Vec<String> = values(&vs).into_keys().collect();
    assert_eq!(
        names,
        [
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.weight",
            "lin.bias",
            "lin.weight"
        ]
    );

    // Two steps with different d: 4/13 on the ramp, then the cap 0.9.
    for (step, offset) in [(3, 0.5), (200, -0.7)] {
        let old = values(ema.vs());
        let live = pattern(&vs, offset);
        set(&vs, &live);
        ema.update(step);
        let d = ema.decay_at(step);
        vars_close(
            &values(ema.vs()),
            &averaged(&old, &live, d),
            &format!("step {step}"),
        );
    }
}

#[test]
fn batchnorm_running_statistics_are_averaged() {
    let (vs, net, ema) = setup(0.9);
    let before = values(&vs);
    let _ = net.forward_t(&input(), true);
    let live = values(&vs);
    assert_ne!(live["bn.running_mean"], before["bn.running_mean"]);
    assert_ne!(live["bn.running_var"], before["bn.running_var"]);

    ema.update(20);
    let want = averaged(&before, &live, 0.7);
    let got = values(ema.vs());
    for name in ["bn.running_mean", "bn.running_var"] {
        let one = |v: &Vars| Vars::from([(name.to_string(), v[name].clone())]);
        vars_close(&one(&got), &one(&want), name);
    }
}

#[test]
fn the_shadow_model_evaluates_with_the_averaged_weights() {
    let (vs, net, ema) = setup(0.9);
    let old = values(ema.vs());
    let live = pattern(&vs, 0.5);
    set(&vs, &live);
    ema.update(5);

    // A plain model given the averaged values by hand.
    let by_hand = VarStore::new(Device::Cpu);
    let plain = tiny(&by_hand.root());
    set(&by_hand, &averaged(&old, &live, ema.decay_at(5)));

    let x = input();
    let shadow_out = ema.model().forward_t(&x, false);
    let plain_out = plain.forward_t(&x, false);
    let live_out = net.forward_t(&x, false);
    assert!(
        shadow_out.allclose(&plain_out, 1e-5, 1e-5, false),
        "shadow {shadow_out} vs averaged by hand {plain_out}"
    );
    let gap = (&shadow_out - &live_out).abs().max().double_value(&[]);
    assert!(
        gap > 1e-2,
        "the shadow evaluates like the live model (gap {gap})"
    );
}

#[test]
fn state_and_load_restore_the_shadow_exactly() {
    let (vs, _, ema) = setup(0.99);
    for step in 0..3 {
        set(&vs, &pattern(&vs, step as f64));
        ema.update(step);
    }
    let state = ema.state();
    assert!(state.iter().all(|(k, _)| k.starts_with("ema.")));
    assert_eq!(state.len(), 6);

    let dir = common::tempdir();
    let path = dir.path().join("last.safetensors");
    Checkpoint::new().tensors("", state).save(&path).unwrap();

    let (_, _, fresh) = setup(0.99);
    assert_ne!(values(fresh.vs()), values(ema.vs()));
    fresh.load(&CheckpointFile::open(&path).unwrap()).unwrap();
    assert_eq!(values(fresh.vs()), values(ema.vs()));
}

#[test]
fn a_shadow_that_differs_from_the_model_is_an_error() {
    let vs = VarStore::new(Device::Cpu);
    let _ = tiny(&vs.root());

    let extra = Ema::new(&vs, 0.9, |p| (tiny(p), p.zeros("step", &[1])));
    let msg = extra.err().unwrap().to_string();
    assert!(msg.contains("variable step that the model lacks"), "{msg}");

    let missing = Ema::new(&vs, 0.9, |p| {
        nn::linear(p / "lin", 3, 2, Default::default())
    });
    let msg = missing.err().unwrap().to_string();
    assert!(msg.contains("no variable bn.bias"), "{msg}");

    let misshaped = Ema::new(&vs, 0.9, |p| {
        (
            nn::linear(p / "lin", 3, 4, Default::default()),
            nn::batch_norm1d(p / "bn", 2, Default::default()),
        )
    });
    let msg = misshaped.err().unwrap().to_string();
    assert!(msg.contains("lin.bias"), "{msg}");
}
