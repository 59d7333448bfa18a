//! The multi-tensor (foreach) forms of the update rules, weight decay and
//! gradient clipping against their per-tensor forms and against PyTorch's
//! torch.optim with foreach=True (scripts/torch_optim_reference.py, run with
//! the .venv's python on the same tensors). The parameters have mixed
//! shapes, one never has a gradient and one gets its first only at the
//! second step (so per-parameter step counts differ); every trajectory goes
//! through a checkpoint file, and the ones that switch forms there must
//! continue the same trajectory.

use crate::common;
use common::{assert_close, python};

use paperlab::optim::{
    add_weight_decay, clip_grad_norm, AdamConfig, GrahamConfig, OptimConfig, Optimizer, Param,
    RmsPropConfig, SgdConfig, UpdateImpl,
};
use paperlab::runner::store::checkpoint::{Checkpoint, CheckpointFile};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use tch::{Device, Kind, Tensor};

const SHAPES: [&[i64]; 5] = [&[3, 4], &[5], &[2, 3, 2], &[1], &[4, 1]];
/// Parameter 2 never has a gradient; parameter 4 has none at step 0.
const NO_GRAD: usize = 2;
const LATE: usize = 4;
const STEPS: usize = 5;
/// The step at which a checkpoint is written and reloaded, possibly by the other form.
const RESTORE: usize = 2;

/// Starting values and each step's gradients (None: no gradient).
struct Problem {
    init: Vec<Tensor>,
    grads: Vec<Vec<Option<Tensor>>>,
}

fn problem() -> Problem {
    tch::manual_seed(7);
    let opts = (Kind::Float, Device::Cpu);
    let init = SHAPES.iter().map(|s| Tensor::randn(*s, opts)).collect();
    let grads = (0..STEPS)
        .map(|step| {
            SHAPES
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let g = Tensor::randn(*s, opts) * (0.5 + step as f64);
                    (i != NO_GRAD && !(i == LATE && step == 0)).then_some(g)
                })
                .collect()
        })
        .collect();
    Problem { init, grads }
}

fn name(i: usize) -> String {
    format!("p{i}")
}

/// Parameters with the given values, named p0, p1, ... (sorted as given).
fn params(values: &[Tensor]) -> Vec<Param> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Param::new(name(i), v.copy().set_requires_grad(true)))
        .collect()
}

/// One training step: zero the gradients, set this step's by backward
/// (d/dp sum(p * g) = g), clip, update.
fn step(opt: &mut dyn Optimizer, pb: &Problem, step: usize, clip: Option<f64>, update: UpdateImpl) {
    opt.zero_grad();
    let terms: Vec<Tensor> = opt
        .params()
        .iter()
        .zip(&pb.grads[step])
        .filter_map(|(p, g)| g.as_ref().map(|g| (&p.tensor * g).sum(Kind::Float)))
        .collect();
    Tensor::stack(&terms, 0).sum(Kind::Float).backward();
    if let Some(max_norm) = clip {
        clip_grad_norm(opt.params(), max_norm, update);
    }
    opt.step();
}

struct Case {
    cfg: OptimConfig,
    clip: Option<f64>,
    /// torch.optim's rule and keyword arguments, where it has this rule.
    torch: Option<Value>,
}

/// The parameters and optimizer state after STEPS steps: `before` up to
/// `at`, where both are written to a checkpoint file, then reloaded into
/// new parameters and a new optimizer that continue in the form `after`.
fn trajectory(
    case: &Case,
    pb: &Problem,
    before: UpdateImpl,
    after: UpdateImpl,
    at: usize,
    dir: &Path,
) -> (Vec<Tensor>, BTreeMap<String, Tensor>) {
    let mut opt = case.cfg.build(params(&pb.init), before);
    for s in 0..at {
        step(opt.as_mut(), pb, s, case.clip, before);
    }
    let values: Vec<(String, Tensor)> = opt
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.tensor.detach().copy()))
        .collect();
    let file = dir.join(format!("{before:?}-{after:?}-{at}.safetensors"));
    Checkpoint::new()
        .tensors("model.", values)
        .tensors("optim.", opt.state())
        .save(&file)
        .unwrap();
    let ckpt = CheckpointFile::open(&file).unwrap();
    let model: BTreeMap<String, Tensor> = ckpt.section("model.").into_iter().collect();
    let values: Vec<Tensor> = (0..SHAPES.len()).map(|i| model[&name(i)].copy()).collect();
    let mut opt = case.cfg.build(params(&values), after);
    opt.load_state(&ckpt.section("optim.")).unwrap();
    for s in at..STEPS {
        step(opt.as_mut(), pb, s, case.clip, after);
    }
    let values = opt
        .params()
        .iter()
        .map(|p| p.tensor.detach().copy())
        .collect();
    (values, opt.state().into_iter().collect())
}

/// torch.optim (foreach=True) on the same start and gradients: its
/// parameters and state, keyed as OUT.npz has them.
fn torch_run(case: &Case, pb: &Problem, dir: &Path) -> BTreeMap<String, Tensor> {
    let mut input: Vec<(String, Tensor)> = pb
        .init
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("init.{i}"), t.shallow_clone()))
        .collect();
    for (s, gs) in pb.grads.iter().enumerate() {
        for (i, g) in gs.iter().enumerate() {
            if let Some(g) = g {
                input.push((format!("grad.{s}.{i}"), g.shallow_clone()));
            }
        }
    }
    let (src, dst) = (dir.join("in.npz"), dir.join("out.npz"));
    Tensor::write_npz(&input, &src).unwrap();
    let mut config = case.torch.clone().unwrap();
    config["steps"] = json!(STEPS);
    config["clip"] = json!(case.clip);
    let config = config.to_string();
    python(
        "torch_optim_reference.py",
        [src.as_os_str(), dst.as_os_str(), OsStr::new(&config)],
    );
    Tensor::read_npz(&dst).unwrap().into_iter().collect()
}

/// Every trajectory (per-tensor throughout, foreach throughout, and each
/// switching form at the restore) ends at the same parameters and the same
/// checkpointed state; where torch.optim has the rule, at its result too.
fn check(case: Case) {
    let dir = common::tempdir();
    let pb = problem();
    let (per, foreach) = (UpdateImpl::PerTensor, UpdateImpl::Foreach);
    let reference = trajectory(&case, &pb, per, per, STEPS, dir.path());
    let forms = [
        (
            "foreach",
            trajectory(&case, &pb, foreach, foreach, RESTORE, dir.path()),
        ),
        (
            "per-tensor, then foreach",
            trajectory(&case, &pb, per, foreach, RESTORE, dir.path()),
        ),
        (
            "foreach, then per-tensor",
            trajectory(&case, &pb, foreach, per, RESTORE, dir.path()),
        ),
    ];
    let (ref_values, ref_state) = &reference;
    assert!(
        ref_values[0].ne_tensor(&pb.init[0]).any().int64_value(&[]) == 1,
        "the parameters should move"
    );
    assert!(
        ref_values[NO_GRAD].equal(&pb.init[NO_GRAD]),
        "p{NO_GRAD} has no gradient"
    );
    for (form, (values, state)) in &forms {
        for (i, (v, r)) in values.iter().zip(ref_values).enumerate() {
            assert_close(
                v,
                r,
                1e-6,
                1e-6,
                &format!("{form}: parameter p{i} against per-tensor"),
            );
        }
        assert_eq!(
            state.keys().collect::<Vec<_>>(),
            ref_state.keys().collect::<Vec<_>>(),
            "{form}: the state's entries"
        );
        for (key, t) in state {
            assert_close(
                t,
                &ref_state[key],
                1e-6,
                1e-6,
                &format!("{form}: state {key} against per-tensor"),
            );
        }
    }
    if case.torch.is_none() {
        return;
    }
    let theirs = torch_run(&case, &pb, dir.path());
    let all = std::iter::once(("per-tensor", &reference)).chain(forms.iter().map(|(f, r)| (*f, r)));
    for (form, (values, state)) in all {
        for (i, v) in values.iter().enumerate() {
            let t = &theirs[&format!("param.{i}")];
            assert_close(
                v,
                t,
                2e-6,
                2e-6,
                &format!("{form}: parameter p{i} against torch.optim"),
            );
        }
        let mut compared = 0;
        for (key, t) in state {
            let Some((buf, param)) = key.split_once('.') else {
                continue;
            };
            let Some(i) = param.strip_prefix('p') else {
                continue;
            };
            let torch_buf = match buf {
                "momentum" => "momentum_buffer",
                b => b,
            };
            if let Some(theirs) = theirs.get(&format!("{torch_buf}.{i}")) {
                let t = t.to_kind(Kind::Float).view(theirs.size().as_slice());
                assert_close(
                    &t,
                    theirs,
                    2e-6,
                    2e-6,
                    &format!("{form}: state {key} against torch.optim"),
                );
                compared += 1;
            }
        }
        assert!(
            compared >= 4,
            "{form}: only {compared} state entries matched torch's"
        );
    }
}

#[test]
fn sgd_momentum_dampening_weight_decay_clipped() {
    check(Case {
        cfg: OptimConfig::Sgd(SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.1,
            nesterov: false,
            weight_decay: 0.01,
        }),
        clip: Some(2.0),
        torch: Some(
            json!({"rule": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
        ),
    });
}

#[test]
fn sgd_nesterov() {
    check(Case {
        cfg: OptimConfig::Sgd(SgdConfig {
            lr: 0.05,
            momentum: 0.8,
            dampening: 0.0,
            nesterov: true,
            weight_decay: 0.0,
        }),
        clip: None,
        torch: Some(json!({"rule": "sgd", "lr": 0.05, "momentum": 0.8, "nesterov": true})),
    });
}

#[test]
fn rmsprop_centered_momentum_weight_decay() {
    check(Case {
        cfg: OptimConfig::RmsProp(RmsPropConfig {
            alpha: 0.9,
            eps: 1e-3,
            momentum: 0.5,
            centered: true,
            weight_decay: 0.02,
            ..RmsPropConfig::new(0.01)
        }),
        clip: None,
        torch: Some(
            json!({"rule": "rmsprop", "lr": 0.01, "alpha": 0.9, "eps": 1e-3, "momentum": 0.5, "centered": true, "weight_decay": 0.02}),
        ),
    });
}

#[test]
fn rmsprop_plain_clipped() {
    check(Case {
        cfg: OptimConfig::RmsProp(RmsPropConfig::new(0.01)),
        clip: Some(1.0),
        torch: Some(json!({"rule": "rmsprop", "lr": 0.01})),
    });
}

#[test]
fn adam_weight_decay() {
    check(Case {
        cfg: OptimConfig::Adam(AdamConfig {
            weight_decay: 0.01,
            ..AdamConfig::new(0.01)
        }),
        clip: Some(3.0),
        torch: Some(json!({"rule": "adam", "lr": 0.01, "weight_decay": 0.01})),
    });
}

/// train-wn's Adam (eps inside the square root, as the authors' nn.py): no
/// torch.optim counterpart, so per-tensor against multi-tensor only.
#[test]
fn adam_eps_in_sqrt() {
    check(Case {
        cfg: OptimConfig::Adam(AdamConfig {
            eps: 1e-3,
            eps_in_sqrt: true,
            ..AdamConfig::new(0.01)
        }),
        clip: None,
        torch: None,
    });
}

/// Inception's recipe (no torch.optim counterpart: per-tensor only).
#[test]
fn rmsprop_tf_style_momentum() {
    for centered in [false, true] {
        check(Case {
            cfg: OptimConfig::RmsProp(RmsPropConfig {
                alpha: 0.9,
                eps: 1.0,
                momentum: 0.9,
                centered,
                tf_style: true,
                ..RmsPropConfig::new(0.045)
            }),
            clip: Some(2.0),
            torch: None,
        });
    }
}

#[test]
fn graham() {
    check(Case {
        cfg: OptimConfig::Graham(GrahamConfig {
            lr: 0.01,
            momentum: 0.9,
        }),
        clip: None,
        torch: None,
    });
}

/// The decay adds wd * p to every given gradient, in either form, and skips
/// a parameter without one.
#[test]
fn weight_decay_forms_match_the_formula() {
    let pb = problem();
    for update in [UpdateImpl::PerTensor, UpdateImpl::Foreach] {
        let ps = params(&pb.init);
        let terms: Vec<Tensor> = ps
            .iter()
            .zip(&pb.grads[1])
            .filter_map(|(p, g)| g.as_ref().map(|g| (&p.tensor * g).sum(Kind::Float)))
            .collect();
        Tensor::stack(&terms, 0).sum(Kind::Float).backward();
        add_weight_decay(&ps, 0.25, update);
        for (i, (p, g)) in ps.iter().zip(&pb.grads[1]).enumerate() {
            match g {
                Some(g) => assert_close(
                    &p.tensor.grad(),
                    &(g + &pb.init[i] * 0.25),
                    1e-7,
                    1e-7,
                    &format!("{update:?} p{i}"),
                ),
                None => assert!(
                    !p.tensor.grad().defined(),
                    "{update:?}: p{i} has no gradient"
                ),
            }
        }
    }
}
