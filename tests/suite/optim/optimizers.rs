//! Our optimizers against tch's (libtorch's C++ ones) on identical gradients,
//! plus hand-written oracles, state round trips and gradient clipping.

use crate::common;
use common::{assert_close, largest};

use paperlab::optim::{
    clip_grad_norm, clip_grad_norm_total, params_of, Adam, AdamConfig, Graham, GrahamConfig, Hyper,
    Optimizer, Param, RmsProp, RmsPropConfig, Sgd, SgdConfig, UpdateImpl,
};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// A small regression problem: inputs, targets (fixed by the seed).
struct Data {
    x: Tensor,
    y: Tensor,
}

fn data(seed: i64) -> Data {
    tch::manual_seed(seed);
    let x = Tensor::randn([64, 5], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([64, 3], (Kind::Float, Device::Cpu));
    Data { x, y }
}

/// Two linear layers (a two-layer net keeps the loss non-quadratic).
struct Net {
    l1: nn::Linear,
    l2: nn::Linear,
}

fn net(vs: &nn::VarStore) -> Net {
    let root = vs.root();
    Net {
        l1: nn::linear(&root / "l1", 5, 8, Default::default()),
        l2: nn::linear(&root / "l2", 8, 3, Default::default()),
    }
}

impl Net {
    fn loss(&self, d: &Data) -> Tensor {
        let h = self.l1.forward(&d.x).tanh();
        (self.l2.forward(&h) - &d.y).square().mean(Kind::Float)
    }
}

/// A VarStore with a fresh net, and a second one with the same values.
fn twin_stores(seed: i64) -> (nn::VarStore, Net, nn::VarStore, Net) {
    tch::manual_seed(seed);
    let vs_a = nn::VarStore::new(Device::Cpu);
    let net_a = net(&vs_a);
    let mut vs_b = nn::VarStore::new(Device::Cpu);
    let net_b = net(&vs_b);
    vs_b.copy(&vs_a).unwrap();
    (vs_a, net_a, vs_b, net_b)
}

fn copy_store(src: &nn::VarStore) -> (nn::VarStore, Net) {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let n = net(&vs);
    vs.copy(src).unwrap();
    (vs, n)
}

/// Every variable of `a` close to `b`'s, within `rel` of the largest value
/// of `b`'s (at least 1e-3).
fn stores_close(a: &nn::VarStore, b: &nn::VarStore, rel: f64, what: &str) {
    let va = a.variables();
    let vb = b.variables();
    assert_eq!(va.len(), vb.len());
    for (name, ta) in &va {
        let tb = &vb[name];
        let atol = rel * largest(tb, 1e-3);
        assert_close(ta, tb, 0.0, atol, &format!("{what}: {name}"));
    }
}

fn assert_equal(a: &nn::VarStore, b: &nn::VarStore, what: &str) {
    let va = a.variables();
    let vb = b.variables();
    for (name, ta) in &va {
        assert!(ta.equal(&vb[name]), "{what}: {name} is not bit-identical");
    }
}

fn assert_differ(a: &nn::VarStore, b: &nn::VarStore, what: &str) {
    let va = a.variables();
    let vb = b.variables();
    assert!(
        va.iter().any(|(name, ta)| !ta.equal(&vb[name])),
        "{what}: expected a difference"
    );
}

/// Runs `steps` steps of ours on (vs_a, net_a) and tch's on (vs_b, net_b).
/// `lr_at(step)` changes both learning rates mid-run (via set_lr).
fn race(
    ours: &mut dyn Optimizer,
    net_a: &Net,
    theirs: &mut nn::Optimizer,
    net_b: &Net,
    d: &Data,
    steps: usize,
    lr_at: impl Fn(usize) -> f64,
) {
    for i in 0..steps {
        ours.set(Hyper::Lr, lr_at(i)).unwrap();
        theirs.set_lr(lr_at(i));
        ours.zero_grad();
        net_a.loss(d).backward();
        ours.step();
        theirs.zero_grad();
        net_b.loss(d).backward();
        theirs.step();
    }
}

const STEPS: usize = 20;
const REL: f64 = 1e-5;

fn check_against_tch(
    what: &str,
    make_ours: impl FnOnce(Vec<Param>) -> Box<dyn Optimizer>,
    make_theirs: impl FnOnce(&nn::VarStore) -> nn::Optimizer,
    base_lr: f64,
) {
    let d = data(1);
    let (vs_a, net_a, vs_b, net_b) = twin_stores(2);
    let mut ours = make_ours(params_of(&vs_a));
    let mut theirs = make_theirs(&vs_b);
    let before = copy_store(&vs_a).0;
    // Halve the learning rate half way, to check set_lr.
    race(&mut *ours, &net_a, &mut theirs, &net_b, &d, STEPS, |i| {
        if i < STEPS / 2 {
            base_lr
        } else {
            base_lr / 2.0
        }
    });
    stores_close(&vs_a, &vs_b, REL, what);
    assert_differ(&vs_a, &before, what);
    assert_eq!(ours.lr(), base_lr / 2.0);
}

#[test]
fn params_of_lists_trainable_variables_sorted() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _n = net(&vs);
    let _frozen = vs.root().zeros_no_train("running_mean", &[3]);
    let params = params_of(&vs);
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]);
    // The tensors are the VarStore's (shared storage).
    let w = vs.variables()["l1.weight"].shallow_clone();
    assert_eq!(params[1].tensor.data_ptr(), w.data_ptr());
    assert!(params.iter().all(|p| p.tensor.requires_grad()));
}

#[test]
fn sgd_plain_matches_tch() {
    check_against_tch(
        "sgd plain",
        |p| Box::new(Sgd::new(p, SgdConfig::new(0.1))),
        |vs| nn::Sgd::default().build(vs, 0.1).unwrap(),
        0.1,
    );
}

#[test]
fn sgd_momentum_matches_tch() {
    check_against_tch(
        "sgd momentum",
        |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    momentum: 0.9,
                    ..SgdConfig::new(0.05)
                },
            ))
        },
        |vs| {
            nn::Sgd {
                momentum: 0.9,
                ..Default::default()
            }
            .build(vs, 0.05)
            .unwrap()
        },
        0.05,
    );
}

#[test]
fn sgd_momentum_dampening_matches_tch() {
    check_against_tch(
        "sgd momentum+dampening",
        |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    momentum: 0.9,
                    dampening: 0.3,
                    ..SgdConfig::new(0.05)
                },
            ))
        },
        |vs| {
            nn::Sgd {
                momentum: 0.9,
                dampening: 0.3,
                ..Default::default()
            }
            .build(vs, 0.05)
            .unwrap()
        },
        0.05,
    );
}

#[test]
fn sgd_nesterov_matches_tch() {
    check_against_tch(
        "sgd nesterov",
        |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    momentum: 0.9,
                    nesterov: true,
                    ..SgdConfig::new(0.05)
                },
            ))
        },
        |vs| {
            nn::Sgd {
                momentum: 0.9,
                nesterov: true,
                ..Default::default()
            }
            .build(vs, 0.05)
            .unwrap()
        },
        0.05,
    );
}

#[test]
fn sgd_weight_decay_matches_tch() {
    check_against_tch(
        "sgd weight decay",
        |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    weight_decay: 0.01,
                    ..SgdConfig::new(0.05)
                },
            ))
        },
        |vs| {
            nn::Sgd {
                wd: 0.01,
                ..Default::default()
            }
            .build(vs, 0.05)
            .unwrap()
        },
        0.05,
    );
    check_against_tch(
        "sgd nesterov + weight decay",
        |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    momentum: 0.9,
                    nesterov: true,
                    weight_decay: 5e-4,
                    ..SgdConfig::new(0.05)
                },
            ))
        },
        |vs| {
            nn::Sgd {
                momentum: 0.9,
                nesterov: true,
                wd: 5e-4,
                ..Default::default()
            }
            .build(vs, 0.05)
            .unwrap()
        },
        0.05,
    );
}

#[test]
fn rmsprop_plain_matches_tch() {
    check_against_tch(
        "rmsprop plain",
        |p| Box::new(RmsProp::new(p, RmsPropConfig::new(0.01))),
        |vs| nn::RmsProp::default().build(vs, 0.01).unwrap(),
        0.01,
    );
}

#[test]
fn rmsprop_momentum_matches_tch() {
    check_against_tch(
        "rmsprop momentum",
        |p| {
            Box::new(RmsProp::new(
                p,
                RmsPropConfig {
                    alpha: 0.9,
                    eps: 1e-6,
                    momentum: 0.9,
                    ..RmsPropConfig::new(0.01)
                },
            ))
        },
        |vs| {
            nn::RmsProp {
                alpha: 0.9,
                eps: 1e-6,
                momentum: 0.9,
                ..Default::default()
            }
            .build(vs, 0.01)
            .unwrap()
        },
        0.01,
    );
}

#[test]
fn rmsprop_centered_matches_tch() {
    check_against_tch(
        "rmsprop centered",
        |p| {
            Box::new(RmsProp::new(
                p,
                RmsPropConfig {
                    centered: true,
                    ..RmsPropConfig::new(0.01)
                },
            ))
        },
        |vs| {
            nn::RmsProp {
                centered: true,
                ..Default::default()
            }
            .build(vs, 0.01)
            .unwrap()
        },
        0.01,
    );
    check_against_tch(
        "rmsprop centered + momentum + weight decay",
        |p| {
            Box::new(RmsProp::new(
                p,
                RmsPropConfig {
                    centered: true,
                    momentum: 0.5,
                    weight_decay: 1e-3,
                    ..RmsPropConfig::new(0.01)
                },
            ))
        },
        |vs| {
            nn::RmsProp {
                centered: true,
                momentum: 0.5,
                wd: 1e-3,
                ..Default::default()
            }
            .build(vs, 0.01)
            .unwrap()
        },
        0.01,
    );
}

#[test]
fn adam_matches_tch() {
    check_against_tch(
        "adam",
        |p| Box::new(Adam::new(p, AdamConfig::new(1e-2))),
        |vs| nn::Adam::default().build(vs, 1e-2).unwrap(),
        1e-2,
    );
    check_against_tch(
        "adam betas/eps",
        |p| {
            Box::new(Adam::new(
                p,
                AdamConfig {
                    beta1: 0.5,
                    beta2: 0.99,
                    eps: 1e-6,
                    ..AdamConfig::new(1e-2)
                },
            ))
        },
        |vs| {
            nn::Adam {
                beta1: 0.5,
                beta2: 0.99,
                eps: 1e-6,
                ..Default::default()
            }
            .build(vs, 1e-2)
            .unwrap()
        },
        1e-2,
    );
}

#[test]
fn adam_weight_decay_matches_tch() {
    check_against_tch(
        "adam weight decay",
        |p| {
            Box::new(Adam::new(
                p,
                AdamConfig {
                    weight_decay: 0.1,
                    ..AdamConfig::new(1e-2)
                },
            ))
        },
        |vs| {
            nn::Adam {
                wd: 0.1,
                ..Default::default()
            }
            .build(vs, 1e-2)
            .unwrap()
        },
        1e-2,
    );
}

// ---------- f64 scalar oracles ----------

/// A parameter vector in f64 with loss sum(c/2 p² + b p + sin p), so that
/// grad = c p + b + cos p, computed here on host f64 as well.
struct Quad {
    p: Tensor,
    c: Vec<f64>,
    b: Vec<f64>,
}

fn quad() -> Quad {
    let init = vec![0.5, -1.5, 2.0, 0.1];
    let p = Tensor::from_slice(&init).set_requires_grad(true);
    Quad {
        p,
        c: vec![1.0, 3.0, 0.2, 10.0],
        b: vec![-0.3, 0.7, 0.0, 1.2],
    }
}

impl Quad {
    fn backward(&self) {
        let c = Tensor::from_slice(&self.c);
        let b = Tensor::from_slice(&self.b);
        let loss = (&c * self.p.square() * 0.5 + &b * &self.p + self.p.sin()).sum(Kind::Double);
        loss.backward();
    }

    fn grad(&self, p: &[f64]) -> Vec<f64> {
        p.iter()
            .zip(&self.c)
            .zip(&self.b)
            .map(|((p, c), b)| c * p + b + p.cos())
            .collect()
    }

    fn param(&self) -> Vec<Param> {
        vec![Param::new("p", self.p.shallow_clone())]
    }

    fn values(&self) -> Vec<f64> {
        Vec::<f64>::try_from(&self.p.detach()).unwrap()
    }
}

/// TensorFlow's RMSProp (square average starts at one, eps inside the root,
/// lr inside the momentum buffer), as plain f64 loops.
fn tf_rmsprop_oracle(
    q: &Quad,
    steps: usize,
    lr: f64,
    decay: f64,
    momentum: f64,
    eps: f64,
    centered: bool,
) -> Vec<f64> {
    let mut p: Vec<f64> = vec![0.5, -1.5, 2.0, 0.1];
    let mut v = vec![1.0; p.len()];
    let mut mg = vec![0.0; p.len()];
    let mut mom = vec![0.0; p.len()];
    for _ in 0..steps {
        let g = q.grad(&p);
        for i in 0..p.len() {
            v[i] = decay * v[i] + (1.0 - decay) * g[i] * g[i];
            let denom = if centered {
                mg[i] = decay * mg[i] + (1.0 - decay) * g[i];
                (v[i] - mg[i] * mg[i] + eps).sqrt()
            } else {
                (v[i] + eps).sqrt()
            };
            mom[i] = momentum * mom[i] + lr * g[i] / denom;
            p[i] -= mom[i];
        }
    }
    p
}

#[test]
fn rmsprop_tf_style_matches_oracle() {
    for &(momentum, eps, centered) in &[(0.9, 1.0, false), (0.0, 1.0, false), (0.9, 1e-3, true)] {
        let q = quad();
        let mut opt = RmsProp::new(
            q.param(),
            RmsPropConfig {
                alpha: 0.9,
                momentum,
                eps,
                centered,
                tf_style: true,
                ..RmsPropConfig::new(0.05)
            },
        );
        let steps = 8;
        for _ in 0..steps {
            opt.zero_grad();
            q.backward();
            opt.step();
        }
        let oracle = tf_rmsprop_oracle(&q, steps, 0.05, 0.9, momentum, eps, centered);
        let what = format!("tf rmsprop momentum {momentum} eps {eps} centered {centered}");
        assert_close(&q.values(), &oracle, 1e-12, 1e-12, &what);
        // And it is not PyTorch's RMSprop: the two differ.
        let q2 = quad();
        let mut torch_style = RmsProp::new(
            q2.param(),
            RmsPropConfig {
                alpha: 0.9,
                momentum,
                eps,
                centered,
                ..RmsPropConfig::new(0.05)
            },
        );
        for _ in 0..steps {
            torch_style.zero_grad();
            q2.backward();
            torch_style.step();
        }
        assert!(!q.p.equal(&q2.p), "{what}: same as torch style");
    }
}

/// Adam as plain f64 loops with `cfg`'s lr, beta2, eps (where it says) and
/// weight decay, beta1 0.9 changed to 0.5 from step `switch` on.
fn adam_oracle(q: &Quad, steps: usize, switch: usize, cfg: AdamConfig) -> Vec<f64> {
    let (lr, beta2, eps, wd) = (cfg.lr, cfg.beta2, cfg.eps, cfg.weight_decay);
    let mut p: Vec<f64> = vec![0.5, -1.5, 2.0, 0.1];
    let mut m = vec![0.0; p.len()];
    let mut v = vec![0.0; p.len()];
    for t in 1..=steps {
        let beta1 = if t > switch { 0.5 } else { 0.9 };
        let g = q.grad(&p);
        for i in 0..p.len() {
            let g = g[i] + wd * p[i];
            m[i] = beta1 * m[i] + (1.0 - beta1) * g;
            v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
            let bc1 = 1.0 - f64::powf(beta1, t as f64);
            let bc2 = 1.0 - f64::powf(beta2, t as f64);
            let denom = if cfg.eps_in_sqrt {
                (v[i] / bc2 + eps).sqrt()
            } else {
                v[i].sqrt() / bc2.sqrt() + eps
            };
            p[i] -= lr / bc1 * m[i] / denom;
        }
    }
    p
}

/// Ten steps of `cfg` on the quadratic, beta1 0.5 from step 6.
fn adam_on_quad(cfg: AdamConfig) -> Quad {
    let q = quad();
    let mut opt = Adam::new(q.param(), cfg);
    for t in 1..=10 {
        if t > 5 {
            opt.set(Hyper::Beta1, 0.5).unwrap();
        }
        opt.zero_grad();
        q.backward();
        opt.step();
    }
    q
}

#[test]
fn adam_beta1_change_matches_oracle() {
    let cfg = AdamConfig {
        weight_decay: 0.01,
        ..AdamConfig::new(0.05)
    };
    let oracle = adam_oracle(&quad(), 10, 5, cfg);
    assert_close(
        &adam_on_quad(cfg).values(),
        &oracle,
        1e-12,
        1e-12,
        "adam beta1 0.9 -> 0.5",
    );
}

#[test]
fn adam_with_eps_inside_the_root_matches_the_closed_form_and_oracle() {
    // The first step from m = v = 0 is lr g / sqrt(g^2 + eps) (the
    // weight-normalisation authors' form), where PyTorch's is
    // lr g / (|g| + eps): with g^2 = eps the first is lr/sqrt(2) per unit of
    // sign, the second nearly lr.
    let inside = AdamConfig {
        eps_in_sqrt: true,
        ..AdamConfig::new(0.1)
    };
    let w = Tensor::zeros([3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
    let g = [1e-4f64, -3e-4, 2.0];
    let mut opt = Adam::new(vec![Param::new("w", w.shallow_clone())], inside);
    (&w * Tensor::from_slice(&g)).sum(Kind::Double).backward();
    opt.step();
    let want: Vec<f64> = g.iter().map(|g| -0.1 * g / (g * g + 1e-8).sqrt()).collect();
    assert_close(
        &Vec::<f64>::try_from(&w.detach()).unwrap(),
        &want,
        1e-12,
        1e-12,
        "first step",
    );
    assert!((want[0] + 0.1 / 2f64.sqrt()).abs() < 1e-12);
    // Ten steps with a large eps, so the two forms part clearly.
    let cfg = AdamConfig { eps: 0.1, ..inside };
    let ours = adam_on_quad(cfg).values();
    assert_close(
        &ours,
        &adam_oracle(&quad(), 10, 5, cfg),
        1e-12,
        1e-12,
        "eps in sqrt",
    );
    let outside = adam_on_quad(AdamConfig {
        eps_in_sqrt: false,
        ..cfg
    })
    .values();
    let apart = ours
        .iter()
        .zip(&outside)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(apart > 1e-3, "the two eps forms agree to {apart}");
}

/// Graham's NAG light (NetworkInNetworkLayer.cu dGradientDescent) by hand,
/// lr 0.1, mu 0.5, from w = (1, -2) and m = 0, with gradients (2, -1) then
/// (-4, 3):
/// step 1: w -= 0.5*0; m = -0.05*(2, -1) = (-0.1, 0.05); w += 1.5 m = (0.85, -1.925);
/// step 2: w -= 0.5 m = (0.9, -1.95); m = 0.5 m - 0.05*(-4, 3) = (0.15, -0.125);
///         w += 1.5 m = (1.125, -2.1375).
#[test]
fn graham_two_steps_match_the_hand_computation() {
    let w = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
    let mut opt = Graham::new(
        vec![Param::new("w", w.shallow_clone())],
        GrahamConfig {
            lr: 0.1,
            momentum: 0.5,
        },
    );
    let mut after = vec![];
    for grad in [[2.0f64, -1.0], [-4.0, 3.0]] {
        opt.zero_grad();
        (&w * Tensor::from_slice(&grad))
            .sum(Kind::Double)
            .backward();
        opt.step();
        after.push(Vec::<f64>::try_from(&w.detach()).unwrap());
    }
    assert_close(&after[0], &[0.85, -1.925], 1e-14, 1e-14, "graham step 1");
    assert_close(&after[1], &[1.125, -2.1375], 1e-14, 1e-14, "graham step 2");
    let state = opt.state();
    let m = &state.iter().find(|(k, _)| k == "momentum.w").unwrap().1;
    assert_close(
        &Vec::<f64>::try_from(m).unwrap(),
        &[0.15, -0.125],
        1e-14,
        1e-14,
        "graham momentum",
    );
}

#[test]
fn params_without_grad_are_skipped() {
    let q = quad();
    let idle = Tensor::from_slice(&[1.0f64, 2.0]).set_requires_grad(true);
    let params = vec![
        Param::new("p", q.p.shallow_clone()),
        Param::new("idle", idle.shallow_clone()),
    ];
    let mut opt = Sgd::new(
        params,
        SgdConfig {
            momentum: 0.9,
            weight_decay: 0.1,
            ..SgdConfig::new(0.1)
        },
    );
    for _ in 0..3 {
        opt.zero_grad();
        q.backward();
        opt.step();
    }
    assert_eq!(
        Vec::<f64>::try_from(&idle.detach()).unwrap(),
        vec![1.0, 2.0]
    );
    let state = opt.state();
    let keys: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["step", "step.p", "momentum.p", "step.idle"]);
    assert_eq!(state[0].1.int64_value(&[]), 3);
    assert_eq!(state[3].1.int64_value(&[]), 0);
}

// ---------- state round trips ----------

type Make = fn(Vec<Param>) -> Box<dyn Optimizer>;

fn configs() -> Vec<(&'static str, Make)> {
    vec![
        ("sgd momentum", |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    momentum: 0.9,
                    dampening: 0.1,
                    ..SgdConfig::new(0.05)
                },
            ))
        }),
        ("sgd nesterov wd", |p| {
            Box::new(Sgd::new(
                p,
                SgdConfig {
                    momentum: 0.9,
                    nesterov: true,
                    weight_decay: 1e-3,
                    ..SgdConfig::new(0.05)
                },
            ))
        }),
        ("rmsprop centered momentum", |p| {
            Box::new(RmsProp::new(
                p,
                RmsPropConfig {
                    centered: true,
                    momentum: 0.9,
                    ..RmsPropConfig::new(0.01)
                },
            ))
        }),
        ("rmsprop tf", |p| {
            Box::new(RmsProp::new(
                p,
                RmsPropConfig {
                    alpha: 0.9,
                    momentum: 0.9,
                    eps: 1.0,
                    tf_style: true,
                    ..RmsPropConfig::new(0.01)
                },
            ))
        }),
        ("graham", |p| {
            Box::new(Graham::new(
                p,
                GrahamConfig {
                    lr: 0.05,
                    momentum: 0.9,
                },
            ))
        }),
        ("adam wd", |p| {
            Box::new(Adam::new(
                p,
                AdamConfig {
                    weight_decay: 1e-2,
                    ..AdamConfig::new(1e-2)
                },
            ))
        }),
    ]
}

fn run(opt: &mut dyn Optimizer, n: &Net, d: &Data, steps: usize) {
    for _ in 0..steps {
        opt.zero_grad();
        n.loss(d).backward();
        opt.step();
    }
}

#[test]
fn state_round_trip_resumes_bit_exactly() {
    let d = data(3);
    for (what, make) in configs() {
        let (vs_a, net_a, _, _) = twin_stores(4);
        let mut a = make(params_of(&vs_a));
        run(&mut *a, &net_a, &d, 5);

        // Through a safetensors file, as runner::store::checkpoint does.
        let state = a.state();
        let dir = common::tempdir();
        let path = dir.path().join("optim.safetensors");
        Tensor::write_safetensors(&state, &path).unwrap();
        let loaded = Tensor::read_safetensors(&path).unwrap();

        let (vs_b, net_b) = copy_store(&vs_a);
        let mut b = make(params_of(&vs_b));
        b.load_state(&loaded).unwrap();
        // A fresh optimizer without the state, for contrast.
        let (vs_c, net_c) = copy_store(&vs_a);
        let mut c = make(params_of(&vs_c));

        run(&mut *a, &net_a, &d, 5);
        run(&mut *b, &net_b, &d, 5);
        run(&mut *c, &net_c, &d, 5);
        assert_equal(&vs_a, &vs_b, what);
        assert_differ(&vs_a, &vs_c, what);
        // The states agree too, and state() returned copies (unchanged by later steps).
        let (sa, sb) = (a.state(), b.state());
        assert_eq!(sa.len(), sb.len(), "{what}");
        for ((ka, ta), (kb, tb)) in sa.iter().zip(&sb) {
            assert_eq!(ka, kb, "{what}");
            assert!(ta.equal(tb), "{what}: state {ka} differs");
        }
        assert_eq!(state[0].0, "step");
        assert_eq!(state[0].1.int64_value(&[]), 5, "{what}");
        assert_eq!(sa[0].1.int64_value(&[]), 10, "{what}");
        let moved = state
            .iter()
            .zip(&sa)
            .any(|((_, t0), (_, t1))| t0.size() == t1.size() && !t0.equal(t1));
        assert!(
            moved,
            "{what}: saved state changed along with the optimizer"
        );
    }
}

#[test]
fn adam_state_has_step() {
    let d = data(5);
    let (vs, n, _, _) = twin_stores(6);
    let mut opt = Adam::new(params_of(&vs), AdamConfig::new(1e-3));
    run(&mut opt, &n, &d, 3);
    let state = opt.state();
    let keys: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "step",
            "step.l1.bias",
            "exp_avg.l1.bias",
            "exp_avg_sq.l1.bias",
            "step.l1.weight",
            "exp_avg.l1.weight",
            "exp_avg_sq.l1.weight",
            "step.l2.bias",
            "exp_avg.l2.bias",
            "exp_avg_sq.l2.bias",
            "step.l2.weight",
            "exp_avg.l2.weight",
            "exp_avg_sq.l2.weight",
        ]
    );
    for (k, t) in &state {
        if k.starts_with("step") {
            assert_eq!(t.size(), Vec::<i64>::new(), "{k}");
            assert_eq!(t.int64_value(&[]), 3, "{k}");
        }
    }
}

#[test]
fn fresh_state_loads_into_fresh_optimizer() {
    // A checkpoint taken before the first step has no buffers.
    for (what, make) in configs() {
        let (vs, n, vs2, n2) = twin_stores(7);
        let a = make(params_of(&vs));
        let state = a.state();
        let mut b = make(params_of(&vs2));
        b.load_state(&state)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut a = a;
        let d = data(8);
        run(&mut *a, &n, &d, 3);
        run(&mut *b, &n2, &d, 3);
        assert_equal(&vs, &vs2, what);
    }
}

fn load_error(make: Make, edit: impl Fn(&mut Vec<(String, Tensor)>)) -> anyhow::Error {
    let d = data(9);
    let (vs, n, vs2, _) = twin_stores(10);
    let mut a = make(params_of(&vs));
    run(&mut *a, &n, &d, 2);
    let mut state = a.state();
    edit(&mut state);
    let mut b = make(params_of(&vs2));
    let before = b.state();
    let err = b.load_state(&state).unwrap_err();
    assert_eq!(paperlab::error::exit_code(&err), 2, "{err}");
    // A failed load changes nothing.
    let after = b.state();
    assert_eq!(before.len(), after.len());
    err
}

fn remove(key: &'static str) -> impl Fn(&mut Vec<(String, Tensor)>) {
    move |s| {
        let before = s.len();
        s.retain(|(k, _)| k != key);
        assert_eq!(s.len(), before - 1, "no {key} to remove");
    }
}

fn replace(key: &'static str, t: impl Fn() -> Tensor) -> impl Fn(&mut Vec<(String, Tensor)>) {
    move |s| {
        let e = s
            .iter_mut()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("no {key}"));
        e.1 = t();
    }
}

#[test]
fn load_state_names_missing_or_misshaped_entries() {
    let sgd: Make = |p| {
        Box::new(Sgd::new(
            p,
            SgdConfig {
                momentum: 0.9,
                ..SgdConfig::new(0.1)
            },
        ))
    };
    let rms: Make = |p| {
        Box::new(RmsProp::new(
            p,
            RmsPropConfig {
                centered: true,
                ..RmsPropConfig::new(0.1)
            },
        ))
    };
    let adam: Make = |p| Box::new(Adam::new(p, AdamConfig::new(0.1)));

    let err = load_error(sgd, remove("momentum.l1.weight")).to_string();
    assert!(
        err.contains("\"momentum.l1.weight\"") && err.contains("missing"),
        "{err}"
    );
    let err = load_error(rms, remove("grad_avg.l2.bias")).to_string();
    assert!(err.contains("\"grad_avg.l2.bias\""), "{err}");
    let err = load_error(adam, remove("exp_avg_sq.l2.weight")).to_string();
    assert!(err.contains("\"exp_avg_sq.l2.weight\""), "{err}");
    let err = load_error(adam, remove("step")).to_string();
    assert!(err.contains("\"step\""), "{err}");
    let err = load_error(adam, remove("step.l1.bias")).to_string();
    assert!(err.contains("\"step.l1.bias\""), "{err}");

    let err = load_error(
        sgd,
        replace("momentum.l2.weight", || {
            Tensor::zeros([8, 3], (Kind::Float, Device::Cpu))
        }),
    )
    .to_string();
    assert!(
        err.contains("\"momentum.l2.weight\"") && err.contains("[8, 3]") && err.contains("[3, 8]"),
        "{err}"
    );
    let err = load_error(
        adam,
        replace("exp_avg.l1.bias", || {
            Tensor::zeros([9], (Kind::Float, Device::Cpu))
        }),
    )
    .to_string();
    assert!(err.contains("\"exp_avg.l1.bias\""), "{err}");
    let err = load_error(
        adam,
        replace("step", || Tensor::zeros([2], (Kind::Int64, Device::Cpu))),
    )
    .to_string();
    assert!(err.contains("\"step\""), "{err}");
    let err = load_error(adam, replace("step.l2.bias", || Tensor::from(-1i64))).to_string();
    assert!(err.contains("\"step.l2.bias\""), "{err}");
}

// ---------- gradient clipping ----------

fn grads_of(params: &[Param]) -> Vec<Vec<f64>> {
    params
        .iter()
        .map(|p| {
            Vec::<f64>::try_from(&p.tensor.grad().to_kind(Kind::Double).flatten(0, -1)).unwrap()
        })
        .collect()
}

#[test]
fn clip_grad_norm_matches_direct_computation() {
    clip_matches_direct_computation(UpdateImpl::PerTensor);
}

#[test]
fn clip_grad_norm_foreach_matches_direct_computation() {
    clip_matches_direct_computation(UpdateImpl::Foreach);
}

fn clip_matches_direct_computation(update: UpdateImpl) {
    let d = data(11);
    let (vs, n, _, _) = twin_stores(12);
    let params = params_of(&vs);
    n.loss(&d).backward();
    let g0 = grads_of(&params);
    let norm: f64 = g0.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    assert!(norm > 0.1, "norm {norm}");

    // Above max_norm: scaled to max_norm.
    let max_norm = norm / 4.0;
    let total = clip_grad_norm_total(&params, max_norm, update);
    assert!((total.double_value(&[]) - norm).abs() <= 1e-5 * norm);
    let coef = max_norm / (norm + 1e-6);
    let g1 = grads_of(&params);
    for (a, b) in g1.iter().flatten().zip(g0.iter().flatten()) {
        assert!(
            (a - b * coef).abs() <= 1e-6 * (1.0 + b.abs()),
            "{a} vs {}",
            b * coef
        );
    }
    let clipped: f64 = g1.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    assert!((clipped - max_norm).abs() <= 1e-5 * max_norm);

    // Below max_norm: untouched (bit for bit).
    let before: Vec<Tensor> = params.iter().map(|p| p.tensor.grad().copy()).collect();
    let total = clip_grad_norm_total(&params, clipped * 2.0, update);
    assert!((total.double_value(&[]) - clipped).abs() <= 1e-5 * clipped);
    for (p, b) in params.iter().zip(&before) {
        assert!(p.tensor.grad().equal(b));
    }

    // Against tch's own clip_grad_norm (which syncs with the host).
    let (vs2, n2) = copy_store(&vs);
    let params2 = params_of(&vs2);
    let opt2 = nn::Sgd::default().build(&vs2, 0.1).unwrap();
    n2.loss(&d).backward();
    let p0 = grads_of(&params2);
    opt2.clip_grad_norm(norm / 3.0);
    let theirs = grads_of(&params2);
    // Re-set the original gradients and clip with ours.
    for (p, g) in params2.iter().zip(&p0) {
        let mut grad = p.tensor.grad();
        grad.copy_(
            &Tensor::from_slice(g)
                .view(grad.size().as_slice())
                .to_kind(grad.kind()),
        );
    }
    clip_grad_norm(&params2, norm / 3.0, update);
    let ours = grads_of(&params2);
    for (a, b) in ours.iter().flatten().zip(theirs.iter().flatten()) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

#[test]
fn clip_grad_norm_without_grads_is_a_no_op() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _n = net(&vs);
    for update in [UpdateImpl::PerTensor, UpdateImpl::Foreach] {
        let total = clip_grad_norm_total(&params_of(&vs), 1.0, update);
        assert_eq!(total.double_value(&[]), 0.0);
    }
}
