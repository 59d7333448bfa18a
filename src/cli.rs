//! The command line: one subcommand per experiment, dispatched to its paper's
//! module. Presets (--config) are expanded into flags before parsing.

use crate::error::Result;
use crate::fmp::args::{EvalFmpArgs, TrainFmpArgs};
use crate::gan::args::{EvalParzenArgs, TrainGanArgs};
use crate::inception::args::TrainInceptionArgs;
use crate::runner::preset;
use crate::{fmp, gan, inception, info};
use clap::{CommandFactory, Parser, Subcommand};
use std::ffi::OsString;

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

#[derive(Subcommand)]
enum Command {
    /// Versions, devices and the datasets paperlab finds.
    Info(info::InfoArgs),
    /// Train a Fractional Max-Pooling network (Graham 2014).
    #[command(args_override_self = true)]
    TrainFmp(TrainFmpArgs),
    /// Reload a train-fmp run and write tests.csv: test error against the number of averaged passes.
    EvalFmp(EvalFmpArgs),
    /// Train a generative adversarial net (Goodfellow et al. 2014).
    #[command(args_override_self = true)]
    TrainGan(TrainGanArgs),
    /// Reload a train-gan run's G and report the Parzen-window log-likelihood of the test set.
    EvalParzen(EvalParzenArgs),
    /// Train or evaluate Inception-v4 / Inception-ResNet-v1, -v2 (Szegedy et al. 2016).
    #[command(args_override_self = true)]
    TrainInception(TrainInceptionArgs),
}

/// Parse `argv` and run the subcommand. Clap's own errors (unknown flags,
/// invalid numbers) print themselves and exit with 2.
pub fn run(argv: Vec<OsString>) -> Result<()> {
    let argv = preset::expand(argv, &Cli::command())?;
    match Cli::parse_from(argv).command {
        Command::Info(a) => info::run(a),
        Command::TrainFmp(a) => fmp::train::run(a),
        Command::EvalFmp(a) => fmp::eval::run(a),
        Command::TrainGan(a) => gan::train::run(a),
        Command::EvalParzen(a) => gan::parzen::run(a),
        Command::TrainInception(a) => inception::train::run(a),
    }
}
