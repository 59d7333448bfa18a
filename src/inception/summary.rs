//! `train-inception --summary`: the layer table at the chosen input size,
//! ending with `parameters: N`. Shapes come from the layer geometry; nothing
//! is read and no forward pass runs.

use super::args::TrainInceptionArgs;
use super::net::{build, CHANNELS};
use crate::error::{usage, Result};
use crate::optim::{parameter_count, params_of};
use crate::runner::args::flag_name;
use tch::nn::VarStore;
use tch::Device;

/// The table as lines, for flags already checked.
pub fn table(args: &TrainInceptionArgs) -> Result<Vec<String>> {
    let size = args.image_size;
    let classes = args.classes.unwrap_or(1000);
    let vs = VarStore::new(Device::Cpu);
    let net = build(&vs.root(), &args.net_config(classes));
    let params = params_of(&vs);
    let count = |prefix: &str| -> i64 {
        params
            .iter()
            .filter(|p| p.name.starts_with(&format!("{prefix}.")))
            .map(|p| p.tensor.numel() as i64)
            .sum()
    };
    let mut lines = vec![
        format!(
            "{}: input {CHANNELS}x{size}x{size}, width {}, {classes} classes",
            flag_name(&args.model),
            args.width
        ),
        format!("{:<16} {:>16} {:>12}", "layer", "output", "parameters"),
    ];
    for (name, shape) in net.stage_shapes(size) {
        let Some([c, h, w]) = shape else {
            return Err(usage(format!(
                "--image-size {size}: too small for {name}; the networks need at least 75"
            )));
        };
        lines.push(format!(
            "{name:<16} {:>16} {:>12}",
            format!("{c}x{h}x{w}"),
            count(&name)
        ));
    }
    lines.push(format!(
        "{:<16} {:>16} {:>12}",
        "global_pool", net.features, 0
    ));
    lines.push(format!(
        "{:<16} {:>16} {:>12}",
        format!("dropout {}", args.dropout_keep),
        net.features,
        0
    ));
    let classifier = args.model.classifier();
    lines.push(format!(
        "{classifier:<16} {classes:>16} {:>12}",
        count(classifier)
    ));
    lines.push(format!("parameters: {}", parameter_count(&vs)));
    Ok(lines)
}

pub fn print(args: &TrainInceptionArgs) -> Result<()> {
    for line in table(args)? {
        println!("{line}");
    }
    Ok(())
}
