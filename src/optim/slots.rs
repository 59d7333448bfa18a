//! What every optimizer keeps per parameter: its update count and lazily
//! created buffers, saved and restored by name for checkpoints.

use super::Param;
use crate::error::{self, Result};
use std::collections::{HashMap, HashSet};
use tch::{Device, Kind, Tensor};

/// A parameter's update count and lazily created buffers.
#[derive(Default)]
pub(super) struct PState {
    /// Updates applied to the parameter.
    pub(super) n: i64,
    bufs: Vec<(&'static str, Tensor)>,
}

impl PState {
    pub(super) fn buf(&self, name: &str) -> Option<Tensor> {
        self.bufs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.shallow_clone())
    }

    /// The buffer `name`, created by `init` (from the parameter) on first use.
    pub(super) fn buf_or(
        &mut self,
        name: &'static str,
        p: &Tensor,
        init: impl FnOnce(&Tensor) -> Tensor,
    ) -> Tensor {
        if let Some(t) = self.buf(name) {
            return t;
        }
        let t = init(&p.detach());
        self.bufs.push((name, t.shallow_clone()));
        t
    }
}

/// The gradient of `p` with L2 weight decay added (a new tensor when wd != 0),
/// or None when it is undefined.
pub(super) fn grad_of(p: &Tensor, weight_decay: f64) -> Option<Tensor> {
    let g = p.grad();
    if !g.defined() {
        return None;
    }
    Some(if weight_decay != 0.0 {
        &g + p * weight_decay
    } else {
        g
    })
}

/// The parameters, update counts and buffers shared by all optimizers.
pub struct Slots {
    params: Vec<Param>,
    states: Vec<PState>,
    pub(super) steps: i64,
}

impl Slots {
    pub(super) fn params(&self) -> &[Param] {
        &self.params
    }

    pub(super) fn new(params: Vec<Param>) -> Slots {
        let mut seen = HashSet::new();
        for p in &params {
            assert!(
                seen.insert(p.name.clone()),
                "optimizer: parameter {:?} given twice",
                p.name
            );
        }
        let states = params.iter().map(|_| PState::default()).collect();
        Slots {
            params,
            states,
            steps: 0,
        }
    }

    /// (parameter tensor, its state) for each parameter.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&mut Tensor, &mut PState)> {
        self.params
            .iter_mut()
            .map(|p| &mut p.tensor)
            .zip(self.states.iter_mut())
    }

    pub(super) fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.tensor.zero_grad();
        }
    }

    pub(super) fn state(&self) -> Vec<(String, Tensor)> {
        tch::no_grad(|| {
            let mut out = vec![("step".to_string(), int_scalar(self.steps))];
            for (p, st) in self.params.iter().zip(&self.states) {
                out.push((format!("step.{}", p.name), int_scalar(st.n)));
                let mut bufs: Vec<&(&str, Tensor)> = st.bufs.iter().collect();
                bufs.sort_by_key(|(b, _)| *b);
                for (b, t) in bufs {
                    out.push((format!("{b}.{}", p.name), t.copy()));
                }
            }
            out
        })
    }

    /// Loads `state`: "step" and every "step.<param>" are required; a parameter
    /// updated at least once needs every buffer in `required` and may have any
    /// of `known` (buffers the current settings do not use, kept for later).
    pub(super) fn load_state(
        &mut self,
        state: &[(String, Tensor)],
        known: &[&'static str],
        required: &[&'static str],
    ) -> Result<()> {
        let map: HashMap<&str, &Tensor> = state.iter().map(|(k, t)| (k.as_str(), t)).collect();
        let get = |key: &str| -> Result<&Tensor> {
            map.get(key)
                .copied()
                .ok_or_else(|| error::data(format!("optimizer state: missing entry \"{key}\"")))
        };
        let steps = read_count(get("step")?, "step")?;
        // Validate everything first, so that a failed load changes nothing.
        let mut loaded: Vec<PState> = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let name = &p.name;
            let key = format!("step.{name}");
            let n = read_count(get(&key)?, &key)?;
            let mut bufs = vec![];
            if n > 0 {
                for &b in known {
                    let key = format!("{b}.{name}");
                    let t = match map.get(key.as_str()) {
                        Some(t) => *t,
                        None if required.contains(&b) => get(&key)?,
                        None => continue,
                    };
                    let (want, got) = (p.tensor.size(), t.size());
                    if want != got {
                        return Err(error::data(format!(
                            "optimizer state: entry \"{key}\" has shape {got:?}, expected {want:?}"
                        )));
                    }
                    if !t.is_floating_point() {
                        return Err(error::data(format!(
                            "optimizer state: entry \"{key}\" has kind {:?}, expected a floating-point tensor",
                            t.kind()
                        )));
                    }
                    let copy = tch::no_grad(|| {
                        let mut c = p.tensor.detach().zeros_like();
                        c.copy_(t);
                        c
                    });
                    bufs.push((b, copy));
                }
            }
            loaded.push(PState { n, bufs });
        }
        self.steps = steps;
        self.states = loaded;
        Ok(())
    }
}

fn int_scalar(v: i64) -> Tensor {
    Tensor::scalar_tensor(v, (Kind::Int64, Device::Cpu))
}

/// A step count from a checkpoint: a non-negative integral scalar.
fn read_count(t: &Tensor, key: &str) -> Result<i64> {
    if !t.size().is_empty() {
        return Err(error::data(format!(
            "optimizer state: entry \"{key}\" has shape {:?}, expected a scalar (shape [])",
            t.size()
        )));
    }
    let v = t
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .double_value(&[]);
    if !(v >= 0.0 && v.fract() == 0.0 && v < 9.0e15) {
        return Err(error::data(format!(
            "optimizer state: entry \"{key}\" is {v}, expected a non-negative integer step count"
        )));
    }
    Ok(v as i64)
}
