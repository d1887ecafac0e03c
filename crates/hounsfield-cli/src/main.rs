//! The `hounsfield` command: argument parsing, logging, progress and exit
//! codes. All conversion logic lives in the library crates.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hounsfield_pipeline::{convert, ConvertOptions, Status};
use hounsfield_tensor::Recipe;
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

/// Exit status when some inputs failed but the run finished.
const EXIT_PARTIAL: u8 = 1;
/// Exit status for usage and fatal errors.
const EXIT_FATAL: u8 = 2;

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
    Convert(ConvertArgs),
    /// Print the embedded default recipe.
    DefaultRecipe,
}

#[derive(Debug, clap::Args)]
struct ConvertArgs {
    /// Files or folders to convert; folders are searched recursively and
    /// DICOM files are recognised by content, not by extension.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Output folder; created if missing.
    #[arg(short, long)]
    output: PathBuf,

    /// Recipe file (YAML); the embedded default recipe when absent.
    #[arg(short, long)]
    recipe: Option<PathBuf>,

    /// Worker threads (default: all cores).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
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

fn load_recipe(path: Option<&PathBuf>) -> anyhow::Result<Recipe> {
    match path {
        None => Ok(Recipe::default_recipe()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read recipe {}", path.display()))?;
            Recipe::from_yaml(&text).with_context(|| format!("recipe {}", path.display()))
        }
    }
}

fn run_convert(args: ConvertArgs) -> anyhow::Result<u8> {
    let recipe = load_recipe(args.recipe.as_ref())?;
    let options = ConvertOptions {
        inputs: args.inputs,
        output: args.output,
        recipe,
        jobs: args.jobs.map(usize::from),
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} files, {per_sec} [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = convert(&options, |entry| {
        bar.inc(1);
        if entry.status == Status::Error {
            bar.set_message(format!("{} failed", entry.path));
        }
    })?;
    bar.finish_and_clear();
    eprintln!(
        "converted {} file(s), {} failed, {} skipped; {} sample(s) in {} shard(s), {} PNG file(s); manifest: {}",
        summary.converted,
        summary.failed,
        summary.skipped,
        summary.samples,
        summary.shards.len(),
        summary.png_files,
        summary.manifest.display()
    );
    Ok(if summary.failed > 0 { EXIT_PARTIAL } else { 0 })
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
        Command::Convert(args) => run_convert(args),
        Command::DefaultRecipe => {
            print!("{}", hounsfield_tensor::DEFAULT_RECIPE_YAML);
            Ok(0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("hounsfield: error: {error:#}");
            ExitCode::from(EXIT_FATAL)
        }
    }
}
