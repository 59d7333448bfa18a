//! What every optimizer keeps per parameter: its update count and lazily
//! created buffers, saved and restored by name for checkpoints.

use super::foreach;
use super::param::Param;
use crate::error::{self, Result};
use crate::native;
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

/// The parameters of one device and dtype that have a gradient, for a
/// multi-tensor update: their positions in the [`Slots`], the parameters
/// and their gradients.
pub(super) struct Group {
    idx: Vec<usize>,
    pub(super) params: Vec<Tensor>,
    pub(super) grads: Vec<Tensor>,
}

impl Group {
    /// The gradients with L2 weight decay added (new tensors when wd != 0),
    /// the multi-tensor [`grad_of`].
    pub(super) fn decayed(&self, weight_decay: f64) -> Vec<Tensor> {
        if weight_decay != 0.0 {
            foreach::add(&self.grads, &self.params, weight_decay)
        } else {
            self.grads.iter().map(Tensor::shallow_clone).collect()
        }
    }
}

/// The tensors of `list` where `keep` is true.
pub(super) fn pick(list: &[Tensor], keep: &[bool]) -> Vec<Tensor> {
    list.iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(t, _)| t.shallow_clone())
        .collect()
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

    /// The parameters that have a gradient, grouped by device and dtype,
    /// each one's update count advanced: what a multi-tensor update walks,
    /// as a per-tensor one walks [`Slots::iter_mut`] with [`grad_of`].
    pub(super) fn groups(&mut self) -> Vec<Group> {
        let with_grad: Vec<(usize, Tensor)> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.tensor.grad()))
            .filter(|(_, g)| g.defined())
            .collect();
        let groups = foreach::groups(with_grad.iter().map(|(i, _)| &self.params[*i].tensor));
        groups
            .into_iter()
            .map(|members| {
                let idx: Vec<usize> = members.iter().map(|&m| with_grad[m].0).collect();
                for &i in &idx {
                    self.states[i].n += 1;
                }
                Group {
                    params: idx
                        .iter()
                        .map(|&i| self.params[i].tensor.shallow_clone())
                        .collect(),
                    grads: members
                        .iter()
                        .map(|&m| with_grad[m].1.shallow_clone())
                        .collect(),
                    idx,
                }
            })
            .collect()
    }

    /// The buffer `name` of each parameter of `g`, created by `init` (from
    /// its position in the group and the parameter) where missing; and
    /// which of them were created now.
    pub(super) fn bufs(
        &mut self,
        g: &Group,
        name: &'static str,
        mut init: impl FnMut(usize, &Tensor) -> Tensor,
    ) -> (Vec<Tensor>, Vec<bool>) {
        g.idx
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                let st = &mut self.states[i];
                let fresh = st.buf(name).is_none();
                (
                    st.buf_or(name, &self.params[i].tensor, |p| init(j, p)),
                    fresh,
                )
            })
            .unzip()
    }

    /// The update counts of the parameters of `g`.
    pub(super) fn counts(&self, g: &Group) -> Vec<i64> {
        g.idx.iter().map(|&i| self.states[i].n).collect()
    }

    /// Every gradient set to none, as PyTorch's `zero_grad()` does: the
    /// next backward hands its gradients over, where zeroed ones would be
    /// filled and then added into (two ops a parameter, or two foreach ops
    /// a group).
    pub(super) fn zero_grad(&mut self) {
        for p in &self.params {
            native::clear_grad(&p.tensor);
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
