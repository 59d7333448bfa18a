//! train-gan's --model, which chooses the flag set the rest of its command
//! line is parsed with.

use super::{DcganArgs, MlpGanArgs, TrainGanArgs};
use crate::runner::args::flag_name;
use crate::runner::engine::session::RunConfig;
use crate::runner::store::preset;
use clap::builder::StyledStr;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgMatches, Args, Command, FromArgMatches, ValueEnum};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::ffi::OsString;
use std::path::Path;

/// Which generator/discriminator pair to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Goodfellow et al.'s MNIST model: a ReLU MLP generator, a maxout
    /// discriminator, SGD with momentum, the Parzen estimate.
    Mlp,
    /// Xiang & Li's convolutional GAN (DCGAN-style) with the --norm of
    /// their comparison, RMSProp, and the reconstruction measure.
    Dcgan,
}

impl Model {
    /// train-gan's command `generic` (its --model, from [`TrainGanArgs`])
    /// with the flags of this model.
    pub fn args(self, generic: Command) -> Command {
        let name = flag_name(&self);
        let cmd = generic
            .display_name(format!("train-gan --model {name}"))
            .override_usage(format!("paperlab train-gan --model {name} [OPTIONS]"));
        let cmd = match self {
            Model::Mlp => MlpGanArgs::augment_args(cmd),
            Model::Dcgan => DcganArgs::augment_args(cmd),
        };
        match self.to_possible_value().and_then(|v| v.get_help().cloned()) {
            Some(help) => cmd.about(format!(
                "Train a generative adversarial net, --model {name}: {help}"
            )),
            None => cmd,
        }
    }

    /// Whether this model takes the flag `--long` (or has it as an alias).
    pub fn takes(self, long: &str) -> bool {
        self.args(Command::new(TrainGanArgs::COMMAND))
            .get_arguments()
            .any(|a| {
                a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&long))
            })
    }
}

/// train-gan's --model, which chooses the set its other flags are parsed with.
#[derive(Args)]
struct Choice {
    /// The generator/discriminator pair, which chooses the other flags
    /// train-gan takes (or a preset's `model` key).
    #[arg(long, value_enum, default_value_t = Model::Mlp)]
    model: Model,
}

/// train-gan before a model is chosen: --model alone, and how to see each
/// model's flags (the command line is parsed with [`Model::args`]' command).
impl Args for TrainGanArgs {
    fn augment_args(cmd: Command) -> Command {
        let each: Vec<String> = Model::value_variants()
            .iter()
            .map(|m| format!("  paperlab train-gan --model {} --help", flag_name(m)))
            .collect();
        Choice::augment_args(cmd).after_help(format!(
            "Each model takes flags of its own; they are listed by\n{}",
            each.join("\n")
        ))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for TrainGanArgs {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        Ok(match Choice::from_arg_matches(m)?.model {
            Model::Mlp => TrainGanArgs::Mlp(MlpGanArgs::from_arg_matches(m)?),
            Model::Dcgan => TrainGanArgs::Dcgan(DcganArgs::from_arg_matches(m)?),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Model {
    /// The model train-gan's `args` (the words after its name) choose: their
    /// --model, else their preset's (--config) `model`, else mlp; none for a
    /// --help without one, which lists how to see each model's flags.
    pub fn chosen(args: &[OsString]) -> Option<Model> {
        let given = last_value(args, "--model").or_else(|| {
            let file = last_value(args, "--config")?;
            preset::string(Path::new(&file), "model")
        });
        match given.and_then(|m| Model::from_str(&m, false).ok()) {
            Some(model) => Some(model),
            None if flag_words(args).any(|w| w == "--help" || w == "-h") => None,
            None => Some(Model::Mlp),
        }
    }

    /// Clap's error for a flag of the other model, with a tip naming the
    /// model that takes it.
    pub fn tip(mut e: clap::Error) -> clap::Error {
        if e.kind() != ErrorKind::UnknownArgument {
            return e;
        }
        let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidArg) else {
            return e;
        };
        let long = given.trim_start_matches("--");
        let long = long.split('=').next().unwrap_or_default();
        let takes: Vec<String> = Model::value_variants()
            .iter()
            .filter(|m| m.takes(long))
            .map(flag_name)
            .collect();
        if takes.is_empty() {
            return e;
        }
        let mut tips = match e.get(ContextKind::Suggested) {
            Some(ContextValue::StyledStrs(tips)) => tips.clone(),
            _ => vec![],
        };
        let models = takes.join(" or --model ");
        tips.push(StyledStr::from(format!(
            "--{long} is a flag of train-gan --model {models} (`paperlab train-gan --model {} --help` lists its flags)",
            takes[0]
        )));
        e.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
        e
    }
}

/// The words of `args` before a `--` (after it, none is a flag).
fn flag_words(args: &[OsString]) -> impl Iterator<Item = Cow<'_, str>> {
    args.iter()
        .map(|a| a.to_string_lossy())
        .take_while(|w| w != "--")
}

/// The value `args` give `flag` last, as `FLAG VALUE` or `FLAG=VALUE`: the
/// one clap keeps.
fn last_value(args: &[OsString], flag: &str) -> Option<String> {
    let words: Vec<_> = flag_words(args).collect();
    let mut value = None;
    for (i, word) in words.iter().enumerate() {
        if word == flag {
            value = words.get(i + 1).map(|v| v.to_string());
        } else if let Some(v) = word.strip_prefix(flag).and_then(|w| w.strip_prefix('=')) {
            value = Some(v.to_string());
        }
    }
    value
}
