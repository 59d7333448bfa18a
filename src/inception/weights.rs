//! --init-from: load weights saved with safetensors under timm's state-dict
//! names, or a paperlab checkpoint of a train-inception run.
//!
//! - A timm state dict (`safetensors.torch.save_file(model.state_dict(), F)`):
//!   keys as they are; timm's `*.num_batches_tracked` buffers are ignored
//!   (libtorch's BatchNorm has no such counter, and with a fixed momentum it
//!   is never read).
//! - A paperlab checkpoint (checkpoints/*.safetensors): the weights under
//!   "ema." (the moving average, which is what the run evaluated) when there
//!   are any, else under "model.".
//!
//! Every variable of the network must be in the file with its shape, and the
//! file must hold nothing else; the error names the first tensor that
//! differs. With `replace_classifier`, a classifier of another shape in the
//! file is skipped (the network keeps its fresh one), for fine-tuning.

use crate::error::{data, run, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{nn::VarStore, Tensor};

/// What was loaded, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedWeights {
    /// Tensors copied into the network.
    pub tensors: usize,
    /// The section of a paperlab checkpoint that was used ("ema." or
    /// "model."), None for a plain state dict.
    pub section: Option<&'static str>,
    /// The classifier was left as initialised.
    pub classifier_replaced: bool,
}

/// Load `file` into `vs`; `what` names the network for messages, `classifier`
/// is the classifier's name prefix (e.g. "last_linear").
pub fn load(
    vs: &VarStore,
    file: &Path,
    what: &str,
    classifier: &str,
    replace_classifier: bool,
) -> Result<LoadedWeights> {
    let shown = file.display();
    if !file.is_file() {
        return Err(data(format!("--init-from {shown}: no such file")));
    }
    let all: HashMap<String, Tensor> = Tensor::read_safetensors(file)
        .map_err(|e| {
            data(format!(
                "--init-from {shown}: not a readable safetensors file: {e}"
            ))
        })?
        .into_iter()
        .collect();
    let section = ["ema.", "model."]
        .into_iter()
        .find(|prefix| all.keys().any(|k| k.starts_with(prefix)) && all.contains_key("train.step"));
    let file_tensors: BTreeMap<String, Tensor> = all
        .into_iter()
        .filter_map(|(k, v)| match section {
            Some(prefix) => k.strip_prefix(prefix).map(|k| (k.to_string(), v)),
            None => Some((k, v)),
        })
        .filter(|(k, _)| !k.ends_with(".num_batches_tracked"))
        .collect();
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let is_classifier = |k: &str| k.starts_with(&format!("{classifier}."));
    let mut replaced = false;
    let mut copies = vec![];
    for (name, var) in &vars {
        let Some(saved) = file_tensors.get(name) else {
            return Err(data(format!(
                "--init-from {shown}: it has no tensor {name}, which {what} needs; \
                 expected a state dict of this model under timm's names"
            )));
        };
        if saved.size() != var.size() {
            if replace_classifier && is_classifier(name) {
                replaced = true;
                continue;
            }
            let hint = if is_classifier(name) {
                "; pass --classes N to replace the classifier"
            } else {
                " (a different model, or another --width?)"
            };
            return Err(data(format!(
                "--init-from {shown}: {name} has shape {:?} in the file, {what} expects {:?}{hint}",
                saved.size(),
                var.size()
            )));
        }
        if !saved.is_floating_point() {
            return Err(data(format!(
                "--init-from {shown}: {name} has kind {:?}, expected floating point",
                saved.kind()
            )));
        }
        copies.push((var, saved));
    }
    if let Some(extra) = file_tensors.keys().find(|k| !vars.contains_key(*k)) {
        return Err(data(format!(
            "--init-from {shown}: it holds {extra}, which {what} does not have; \
             expected a state dict of this model under timm's names"
        )));
    }
    tch::no_grad(|| {
        for (var, saved) in &copies {
            var.shallow_clone().copy_(saved);
        }
    });
    Ok(LoadedWeights {
        tensors: copies.len(),
        section,
        classifier_replaced: replaced,
    })
}

/// Write the variables of `vs` under timm's names (no num_batches_tracked:
/// timm loads it with strict=False, or add zeros).
pub fn save(vs: &VarStore, file: &Path) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach().to(tch::Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let tmp = crate::runner::store::run_dir::tmp_path(file);
    Tensor::write_safetensors(&named, &tmp)
        .map_err(|e| run(format!("cannot write {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, file).map_err(|e| run(format!("cannot write {}: {e}", file.display())))
}
