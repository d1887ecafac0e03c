//! `hounsfield convert`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use hounsfield_pipeline::{convert, ConvertOptions, Status};
use hounsfield_tensor::Recipe;
use indicatif::{ProgressBar, ProgressStyle};

use crate::EXIT_PARTIAL;

#[derive(Debug, clap::Args)]
pub(crate) struct ConvertArgs {
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

    /// Continue an interrupted run in the same output folder: finished
    /// shards are kept and the rest is redone.
    #[arg(long)]
    resume: bool,

    /// Worker threads (default: all cores).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
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

pub(crate) fn run(args: ConvertArgs) -> anyhow::Result<u8> {
    let recipe = load_recipe(args.recipe.as_ref())?;
    let options = ConvertOptions {
        inputs: args.inputs,
        output: args.output,
        recipe,
        jobs: args.jobs.map(usize::from),
        resume: args.resume,
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
        summary.shard_count,
        summary.png_files,
        summary.manifest.display()
    );
    Ok(if summary.failed > 0 { EXIT_PARTIAL } else { 0 })
}
