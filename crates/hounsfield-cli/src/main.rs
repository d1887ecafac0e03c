//! The `hounsfield` command: argument parsing, logging, progress and exit
//! codes. All conversion logic lives in the library crates.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod convert;
mod finalize;
mod inspect;
mod plan;
mod preview;
mod stats;
mod table;
mod units;
mod validate;

/// Exit status when some inputs failed (or had errors) but the run finished.
pub(crate) const EXIT_PARTIAL: u8 = 1;
/// Exit status for usage and fatal errors.
pub(crate) const EXIT_FATAL: u8 = 2;

/// Turns DICOM files into training data: HU tensors, PNG files and
/// WebDataset shards.
#[derive(Debug, Parser)]
#[command(name = "hounsfield", version, about)]
struct Cli {
    /// Log more (-v: debug, -vv: trace). `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Convert DICOM files under the inputs into shards, PNG files and a
    /// manifest.
    Convert(convert::ConvertArgs),
    /// Print the embedded default recipe.
    DefaultRecipe,
    /// List the attributes of DICOM files, like DCMTK's dcmdump, or as
    /// DICOM JSON.
    Inspect(inspect::InspectArgs),
    /// Check DICOM files and series against the standard's rules.
    Validate(validate::ValidateArgs),
    /// Write one row per file (or frame) of technical attributes to a
    /// Parquet or CSV table.
    Table(table::TableArgs),
    /// Cut the inputs into work units by series or study for `convert --plan`.
    Plan(plan::PlanArgs),
    /// Merge the finished units of `convert --plan` into one manifest and
    /// shard index.
    Finalize(finalize::FinalizeArgs),
    /// Sample the inputs and write dataset statistics (histogram
    /// breakpoints, channel mean and standard deviation) for a recipe's
    /// `stats:` key.
    Stats(stats::StatsArgs),
    /// Draw a contact sheet of the inputs, one cell per recipe channel.
    Preview(preview::PreviewArgs),
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { EXIT_FATAL } else { 0 });
        }
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Convert(args) => convert::run(args),
        Command::DefaultRecipe => {
            print!("{}", hounsfield_tensor::DEFAULT_RECIPE_YAML);
            Ok(0)
        }
        Command::Inspect(args) => inspect::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Table(args) => table::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Finalize(args) => finalize::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Preview(args) => preview::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("hounsfield: error: {error:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
