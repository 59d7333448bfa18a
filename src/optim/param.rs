//! The parameters an optimizer updates, named as in their VarStore.

use std::collections::HashSet;
use tch::{nn, Tensor};

/// A parameter to optimise: its name (VarStore name, used to key the state) and
/// the tensor (requires_grad).
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub tensor: Tensor,
}

impl Param {
    pub fn new(name: impl Into<String>, tensor: Tensor) -> Param {
        Param {
            name: name.into(),
            tensor,
        }
    }
}

/// How many numbers the trainable variables of `vs` hold.
pub fn parameter_count(vs: &nn::VarStore) -> i64 {
    let trainable = vs.trainable_variables();
    trainable.iter().map(|t| t.numel() as i64).sum()
}

/// The trainable variables of `vs` with their names, sorted by name so that
/// state keys are stable. The tensors share storage with the VarStore's.
pub fn params_of(vs: &nn::VarStore) -> Vec<Param> {
    let vars = vs.variables_.lock().unwrap();
    let trainable: HashSet<usize> = vars
        .trainable_variables
        .iter()
        .filter(|v| v.tensor.numel() > 0)
        .map(|v| v.tensor.data_ptr() as usize)
        .collect();
    let mut params: Vec<Param> = vars
        .named_variables
        .iter()
        .filter(|(_, t)| {
            if t.numel() > 0 {
                trainable.contains(&(t.data_ptr() as usize))
            } else {
                t.requires_grad()
            }
        })
        .map(|(name, t)| Param::new(name.clone(), t.shallow_clone()))
        .collect();
    params.sort_by(|a, b| a.name.cmp(&b.name));
    params
}
