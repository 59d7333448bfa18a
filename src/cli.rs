//! The command line: one subcommand per experiment, dispatched to its paper's
//! module. A preset (--config) is layered between the defaults and the
//! command line (see runner::store::preset). Each numeric flag's range is its
//! value parser (src/ranges.rs), so the command line and presets are checked
//! alike while they are parsed. train-gan's flags depend on its --model:
//! the command line is parsed with the flags of the model it (or its
//! preset) chooses, so another model's flag is clap's unknown argument.

use crate::compare::CompareArgs;
use crate::error::{usage, Result};
use crate::fmp::args::{EvalFmpArgs, TrainFmpArgs};
use crate::gan::args::{EvalParzenArgs, EvalReconstructionArgs, Model, TrainGanArgs};
use crate::inception::args::TrainInceptionArgs;
use crate::runner::engine::session::{self, RunConfig};
use crate::runner::store::preset;
use crate::sweep::SweepArgs;
use crate::wn::args::TrainWnArgs;
use crate::{compare, fmp, gan, inception, info, sweep, wn};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::borrow::Cow;
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "paperlab",
    version,
    about = "Reproduce five deep-learning papers end to end on libtorch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// allow_negative_numbers: `--lr -0.1` reaches the flag's range (which says
// what it expects) instead of clap's "unexpected argument '-0'".
#[derive(Subcommand)]
enum Command {
    /// Versions, devices and the datasets paperlab finds.
    Info(info::InfoArgs),
    /// Train a Fractional Max-Pooling network (Graham 2014).
    #[command(args_override_self = true, allow_negative_numbers = true)]
    TrainFmp(TrainFmpArgs),
    /// Reload a train-fmp run and write tests.csv: test error against the number of averaged passes.
    #[command(allow_negative_numbers = true)]
    EvalFmp(EvalFmpArgs),
    /// Train a generative adversarial net: Goodfellow et al. 2014's MLP pair (--model mlp) or Xiang & Li 2017's DCGAN with batch or weight normalization (--model dcgan).
    #[command(args_override_self = true, allow_negative_numbers = true)]
    TrainGan(TrainGanArgs),
    /// Reload a train-gan run's G and report the Parzen-window log-likelihood of the test set.
    #[command(allow_negative_numbers = true)]
    EvalParzen(EvalParzenArgs),
    /// Reload a train-gan run's G and reconstruct its final held-out images (Xiang & Li's measure).
    #[command(allow_negative_numbers = true)]
    EvalReconstruction(EvalReconstructionArgs),
    /// Train or evaluate Inception-v4 / Inception-ResNet-v1, -v2 (Szegedy et al. 2016).
    #[command(args_override_self = true, allow_negative_numbers = true)]
    TrainInception(TrainInceptionArgs),
    /// Train the weight-normalisation paper's CIFAR-10 network with one of four normalisations (Salimans & Kingma 2016).
    #[command(args_override_self = true, allow_negative_numbers = true)]
    TrainWn(TrainWnArgs),
    /// Put runs side by side: a table of their differing config and summaries, and one plot per metric.
    Compare(CompareArgs),
    /// Run a list of runs from a TOML file (skipping finished ones), then compare them; or write a Slurm job array.
    Sweep(SweepArgs),
}

/// The subcommand whose flags depend on a choice (its --model).
const TRAIN_GAN: &str = TrainGanArgs::COMMAND;

/// The whole command line as clap describes it, train-gan with its --model
/// alone ([`subcommands`] has each model's flags).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Every subcommand as it parses its flags, train-gan once per --model (for
/// tests and tools that walk the flags).
pub fn subcommands() -> Vec<clap::Command> {
    let each = |sub: &clap::Command| match sub.get_name() {
        TRAIN_GAN => Model::value_variants()
            .iter()
            .map(|m| m.args(sub.clone()))
            .collect(),
        _ => vec![sub.clone()],
    };
    Cli::command().get_subcommands().flat_map(each).collect()
}

/// The subcommand `name` as it parses `args`, the words after its name.
pub fn subcommand(name: &str, args: &[OsString]) -> Option<clap::Command> {
    command_for(name, args).find_subcommand(name).cloned()
}

/// The command line as it parses subcommand `name` with `args`: train-gan
/// with the flags of the model `args` choose ([`Model::chosen`]); its
/// --help without a model lists them.
fn command_for(name: &str, args: &[OsString]) -> clap::Command {
    let cli = Cli::command();
    if name != TRAIN_GAN {
        return cli;
    }
    match Model::chosen(args) {
        Some(model) => cli.mut_subcommand(name, |generic| model.args(generic)),
        None => cli,
    }
}

/// Parse `argv` and run the subcommand. Clap's own errors (unknown flags,
/// invalid numbers) print themselves and exit with 2.
pub fn run(argv: Vec<OsString>) -> Result<()> {
    let typed = argv
        .get(1)
        .map_or(Cow::Borrowed(""), |a| a.to_string_lossy());
    let cli = command_for(&typed, argv.get(2..).unwrap_or_default());
    let matches = parse(&cli, &argv, &typed)?;
    match Cli::from_arg_matches(&matches)
        .unwrap_or_else(|e| e.exit())
        .command
    {
        Command::Info(a) => info::run(a),
        Command::TrainFmp(a) => train(a, fmp::train::run),
        Command::EvalFmp(a) => fmp::eval::run(a),
        Command::TrainGan(a) => train(a, gan::train::run),
        Command::EvalParzen(a) => gan::parzen::run(a),
        Command::EvalReconstruction(a) => gan::eval_reconstruction::run(a),
        Command::TrainInception(a) => train(a, inception::train::run),
        Command::TrainWn(a) => train(a, wn::train::run),
        Command::Compare(a) => compare::run(a),
        Command::Sweep(a) => sweep::run(a, &subcommand),
    }
}

/// The command line alone, then with its preset layered under it. The command
/// line has passed every check by then, so what fails the second parse is the
/// preset's, and the message names the file. `typed` is the subcommand's
/// name as given.
fn parse(cli: &clap::Command, argv: &[OsString], typed: &str) -> Result<ArgMatches> {
    let user = cli
        .clone()
        .try_get_matches_from(argv)
        .unwrap_or_else(|e| match typed {
            TRAIN_GAN => Model::tip(e).exit(),
            _ => e.exit(),
        });
    let (name, given) = user.subcommand().expect("clap requires a subcommand");
    let sub = cli.find_subcommand(name).expect("the parsed subcommand");
    let Ok(Some(file)) = given.try_get_one::<PathBuf>("config") else {
        return Ok(user);
    };
    let in_preset = |message: String| usage(format!("--config {}: {message}", file.display()));
    let layered = preset::layer(argv, file, sub, given)?;
    cli.clone().try_get_matches_from(layered).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        in_preset(first.trim_start_matches("error: ").to_string())
    })
}

/// Run a training subcommand; with --print-config, only check the flags and
/// print the configuration it would run with (for --resume, the run's saved
/// one) as JSON and stop, creating nothing and reading no data.
fn train<A: RunConfig>(args: A, run: fn(A) -> Result<()>) -> Result<()> {
    if !args.common().print_config {
        return run(args);
    }
    let args = session::resolve(args)?;
    println!("{}", serde_json::to_string_pretty(&args)?);
    Ok(())
}
