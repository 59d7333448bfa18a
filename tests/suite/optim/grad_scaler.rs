//! fp16's dynamic loss scaler (optim/scaler.rs) against a sequence computed
//! by hand from torch.amp.GradScaler's rules: an inf or NaN gradient skips
//! the step and halves the scale, `growth_interval` good steps in a row
//! double it, the gradients the optimizer sees are unscaled, and the state
//! round-trips.

use crate::common::values;
use paperlab::optim::{
    GradScaler, OptimConfig, Optimizer, Param, ScalerConfig, SgdConfig, UpdateImpl,
};
use tch::{Device, Kind, Tensor};

/// Interval 2 (GradScaler's is 2000), from scale 8.
const CFG: ScalerConfig = ScalerConfig {
    init_scale: 8.0,
    growth_factor: 2.0,
    backoff_factor: 0.5,
    growth_interval: 2,
};

/// One step of plain SGD (lr 1) on loss = sum(p * [1, 3]); `poison`, if
/// given, replaces the first gradient after backward, as an fp16 overflow
/// would leave it. Returns whether the optimizer stepped.
fn step(s: &mut GradScaler, opt: &mut dyn Optimizer, poison: Option<f64>) -> bool {
    let p = opt.params()[0].tensor.shallow_clone();
    opt.zero_grad();
    let loss = (&p * Tensor::from_slice(&[1.0f32, 3.0])).sum(Kind::Float);
    s.scale(&loss).backward();
    assert_eq!(
        values(&p.grad()),
        [s.scale_value(), 3.0 * s.scale_value()],
        "backward sees the scaled loss"
    );
    if let Some(v) = poison {
        tch::no_grad(|| {
            let _ = p.grad().get(0).fill_(v);
        });
    }
    s.unscale(opt.params());
    if poison.is_none() {
        assert_eq!(values(&p.grad()), [1.0, 3.0], "unscaled gradients");
    }
    s.step(opt)
}

#[test]
fn overflow_skips_and_halves_and_good_steps_grow_the_scale_after_the_interval() {
    let p = Tensor::from_slice(&[10.0f32, 20.0]).set_requires_grad(true);
    let mut opt = OptimConfig::Sgd(SgdConfig::new(1.0)).build(
        vec![Param::new("p", p.shallow_clone())],
        UpdateImpl::PerTensor,
    );
    let mut s = GradScaler::new(CFG, Device::Cpu);
    // (poison, stepped, p after, scale after, tracker after)
    let want: [(Option<f64>, bool, [f64; 2], f64, i64); 6] = [
        (None, true, [9.0, 17.0], 8.0, 1),
        (Some(f64::INFINITY), false, [9.0, 17.0], 4.0, 0),
        (None, true, [8.0, 14.0], 4.0, 1),
        (None, true, [7.0, 11.0], 8.0, 0),
        (Some(f64::NAN), false, [7.0, 11.0], 4.0, 0),
        (Some(f64::NEG_INFINITY), false, [7.0, 11.0], 2.0, 0),
    ];
    for (i, (poison, stepped, after, scale, tracker)) in want.into_iter().enumerate() {
        let what = format!("step {}", i + 1);
        assert_eq!(
            step(&mut s, opt.as_mut(), poison),
            stepped,
            "{what}: stepped"
        );
        assert_eq!(values(&p), after, "{what}: parameters");
        assert_eq!(s.scale_value(), scale, "{what}: scale");
        assert_eq!(s.growth_tracker(), tracker, "{what}: growth tracker");
    }
    // A skipped step is no step for the optimizer either (its count).
    let count = opt
        .state()
        .into_iter()
        .find(|(k, _)| k == "step")
        .unwrap()
        .1;
    assert_eq!(count.int64_value(&[]), 3);
}

#[test]
fn step_unscales_when_the_caller_did_not_and_defaults_are_grad_scalers() {
    assert_eq!(
        ScalerConfig::default(),
        ScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    );
    let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let mut opt = OptimConfig::Sgd(SgdConfig::new(0.5)).build(
        vec![Param::new("p", p.shallow_clone())],
        UpdateImpl::Foreach,
    );
    let mut s = GradScaler::new(ScalerConfig::default(), Device::Cpu);
    s.scale(&(&p * 4.0).sum(Kind::Float)).backward();
    assert!(s.step(opt.as_mut()));
    assert_eq!(values(&p), [1.0 - 0.5 * 4.0]);
    assert_eq!((s.scale_value(), s.growth_tracker()), (65536.0, 1));
}

#[test]
fn state_round_trips_and_a_missing_entry_is_named() {
    let p = Tensor::from_slice(&[1.0f32]).set_requires_grad(true);
    let mut opt = OptimConfig::Sgd(SgdConfig::new(1.0)).build(
        vec![Param::new("p", p.shallow_clone())],
        UpdateImpl::PerTensor,
    );
    let mut s = GradScaler::new(CFG, Device::Cpu);
    s.scale(&p.sum(Kind::Float)).backward();
    let _ = p.grad().fill_(f64::INFINITY);
    s.step(opt.as_mut());
    opt.zero_grad();
    s.scale(&p.sum(Kind::Float)).backward();
    s.step(opt.as_mut());
    let state = s.state();
    let mut other = GradScaler::new(CFG, Device::Cpu);
    other.load_state(&state).unwrap();
    assert_eq!((other.scale_value(), other.growth_tracker()), (4.0, 1));
    let err = other.load_state(&state[..1]).unwrap_err();
    assert!(format!("{err:#}").contains("growth_tracker"), "{err:#}");
    assert_eq!((other.scale_value(), other.growth_tracker()), (4.0, 1));
}
