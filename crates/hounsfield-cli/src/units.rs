//! `hounsfield convert --plan`: this worker's share of a plan's units.

use std::path::PathBuf;

use anyhow::Context;
use hounsfield_pipeline::units::shard_from_env;
use hounsfield_pipeline::{convert_units, Plan, UnitRunOptions, UnitSelection};
use hounsfield_tensor::Recipe;

use crate::EXIT_PARTIAL;

/// The settings of `convert --plan`.
pub(crate) struct PlanRun {
    pub(crate) plan: PathBuf,
    pub(crate) output: PathBuf,
    pub(crate) recipe: Recipe,
    pub(crate) jobs: Option<usize>,
    pub(crate) shard_index: Option<usize>,
    pub(crate) num_shards: Option<usize>,
}

/// Picks the worker's units from the flags, or from the job scheduler's
/// environment when the flags are absent.
fn selection(run: &PlanRun) -> anyhow::Result<UnitSelection> {
    let (env_index, env_count) = shard_from_env()?;
    let index = run.shard_index.or(env_index);
    let count = run.num_shards.or(env_count);
    match (index, count) {
        (None, None) => Ok(UnitSelection::All),
        (Some(index), Some(count)) => Ok(UnitSelection::Shard { index, count }),
        (Some(_), None) => anyhow::bail!(
            "--num-shards is missing: give the number of workers (a Kubernetes Indexed Job sets only the index)"
        ),
        (None, Some(_)) => anyhow::bail!(
            "--shard-index is missing: give this worker's index, or run it in a Slurm job array or a Kubernetes Indexed Job"
        ),
    }
}

/// Converts this worker's units. Returns exit status 1 when some of their
/// inputs failed.
pub(crate) fn run(run: PlanRun) -> anyhow::Result<u8> {
    let plan = Plan::read(&run.plan).with_context(|| format!("plan {}", run.plan.display()))?;
    let selection = selection(&run)?;
    let options = UnitRunOptions {
        plan,
        output: run.output,
        recipe: run.recipe,
        jobs: run.jobs,
        selection,
    };
    let summary = convert_units(&options, |_, _| {})?;
    let counts = &summary.counts;
    eprintln!(
        "hounsfield: {} unit(s) converted, {} finished before; {} file(s) converted, {} failed, {} skipped; {} sample(s)",
        summary.converted_units.len(),
        summary.finished_before.len(),
        counts.converted,
        counts.failed,
        counts.skipped,
        counts.samples
    );
    Ok(if counts.failed > 0 { EXIT_PARTIAL } else { 0 })
}
