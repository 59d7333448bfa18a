//! A run's configuration flattened to "key" and "key.sub" leaves, without
//! the keys that say how the run was started rather than what it is: what
//! `compare` tabulates and TensorBoard's HParams tab lists.

use serde_json::Value;

/// Config keys that say how a run was started (or watched), not what it is.
pub const RUNTIME_KEYS: [&str; 14] = [
    "out",
    "name",
    "config",
    "quiet",
    "resume",
    "force",
    "max_steps",
    "threads",
    "device",
    "data_dir",
    "log_every",
    "prefetch",
    "checkpoint_every",
    "keep_checkpoints",
];

/// The leaves of `config` (a config.json's "config" object) by flattened
/// key, runtime keys left out, in key order.
pub fn leaves(config: &Value) -> Vec<(String, Value)> {
    let mut out = vec![];
    if let Value::Object(map) = config {
        for (k, v) in map {
            if !RUNTIME_KEYS.contains(&k.as_str()) {
                flatten(k, v, &mut out);
            }
        }
    }
    out
}

fn flatten(key: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        other => out.push((key.into(), other.clone())),
    }
}
