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
    #[arg(required_unless_present = "plan", conflicts_with = "plan")]
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

    /// Convert the work units of a plan from `hounsfield plan` into
    /// OUTPUT/units/unit-NNNNNN/ and skip those an earlier run finished.
    /// Without --shard-index or a job scheduler's index, convert every unit
    #[arg(long, value_name = "PLAN", conflicts_with = "resume")]
    plan: Option<PathBuf>,

    /// This worker's index from 0: it converts the units whose index modulo
    /// --num-shards equals it (default: SLURM_ARRAY_TASK_ID minus
    /// SLURM_ARRAY_TASK_MIN, or JOB_COMPLETION_INDEX)
    #[arg(long, requires = "plan")]
    shard_index: Option<usize>,

    /// Number of workers sharing the plan (default: SLURM_ARRAY_TASK_COUNT)
    #[arg(long, requires = "plan", value_parser = clap::value_parser!(u32).range(1..))]
    num_shards: Option<u32>,

    /// Assemble each series into volumes, each written as one (C, D, H, W)
    /// sample and one NIfTI file, with the choices of the recipe's `volumes`
    /// section (docs/volumes.md)
    #[arg(long, conflicts_with_all = ["resume", "plan"])]
    volumes: bool,
}

/// Reads the recipe and the statistics file it names, and checks that the
/// statistics its channels need are there.
pub(crate) fn load_recipe(path: Option<&PathBuf>) -> anyhow::Result<Recipe> {
    match path {
        None => Ok(Recipe::default_recipe()),
        Some(path) => {
            let recipe =
                Recipe::load(path).with_context(|| format!("recipe {}", path.display()))?;
            recipe
                .require_stats()
                .with_context(|| format!("recipe {}", path.display()))?;
            Ok(recipe)
        }
    }
}

pub(crate) fn run(args: ConvertArgs) -> anyhow::Result<u8> {
    let recipe = load_recipe(args.recipe.as_ref())?;
    if let Some(plan) = args.plan {
        return crate::units::run(crate::units::PlanRun {
            plan,
            output: args.output,
            recipe,
            jobs: args.jobs.map(usize::from),
            shard_index: args.shard_index,
            num_shards: args.num_shards.map(|count| count as usize),
        });
    }
    let options = ConvertOptions {
        inputs: args.inputs,
        output: args.output,
        recipe,
        jobs: args.jobs.map(usize::from),
        resume: args.resume,
    };
    if args.volumes {
        return run_volumes(&options);
    }
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

/// Runs `convert --volumes` and prints its summary.
fn run_volumes(options: &ConvertOptions) -> anyhow::Result<u8> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} volumes [{elapsed}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = hounsfield_pipeline::convert_volumes(options, |record| {
        bar.inc(1);
        if record.status == Status::Error {
            bar.set_message(format!("volume {} failed", record.key));
        }
    })?;
    bar.finish_and_clear();
    eprintln!(
        "{} volume(s) written, {} failed, from {} of {} file(s); {} file(s) skipped, {} failed, \
         {} slice(s) excluded; {} shard(s), {} NIfTI file(s); manifest: {}, volumes: {}",
        summary.volumes,
        summary.volumes_failed,
        summary.files_in_volumes,
        summary.files,
        summary.files_skipped,
        summary.files_failed,
        summary.excluded_slices,
        summary.shards.len(),
        summary.nifti_files,
        summary.manifest.display(),
        summary.volume_index.display()
    );
    let failed = summary.files_failed > 0 || summary.volumes_failed > 0;
    Ok(if failed { EXIT_PARTIAL } else { 0 })
}
