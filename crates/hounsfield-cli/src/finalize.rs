//! `hounsfield finalize`.

use std::path::PathBuf;

use anyhow::Context;
use hounsfield_pipeline::{finalize, Plan};
use hounsfield_table::{write_table, TableOptions};

use crate::EXIT_PARTIAL;

/// Numbered window columns of the table, as `hounsfield table` writes by
/// default.
const TABLE_WINDOW_COLUMNS: usize = 3;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Writes OUT/manifest.jsonl (in the order of a single run over the same inputs), \
OUT/shards/index.json (every unit's shards, in the format of wids.ShardListDataset) and \
OUT/recipe.yaml. Shards and PNG files stay in OUT/units/.\n\n\
Exit status: 0 when every input converted, 1 when some inputs failed, 2 when a unit is not \
finished, for usage and fatal errors."
)]
pub(crate) struct FinalizeArgs {
    /// Output folder of `hounsfield convert --plan`
    output: PathBuf,

    /// Also write the attribute table of `hounsfield table` for the plan's
    /// inputs (.parquet or .csv); reads every header again
    #[arg(long, value_name = "FILE")]
    table: Option<PathBuf>,

    /// Worker threads for the table (default: all cores)
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// Merges the finished units and, on request, writes the table.
pub(crate) fn run(args: FinalizeArgs) -> anyhow::Result<u8> {
    let summary = finalize(&args.output)?;
    let counts = &summary.counts;
    eprintln!(
        "hounsfield: merged {} unit(s): {} file(s) converted, {} failed, {} skipped; {} sample(s) in {} shard(s); manifest: {}",
        summary.units,
        counts.converted,
        counts.failed,
        counts.skipped,
        counts.samples,
        summary.shards,
        summary.manifest.display()
    );
    if let Some(table) = args.table {
        let plan = Plan::read(&args.output.join(hounsfield_pipeline::units::PLAN_FILE))?;
        let options = TableOptions {
            inputs: plan.inputs,
            output: table.clone(),
            frames: false,
            pixel_stats: false,
            window_fraction: None,
            patient_attributes: false,
            window_columns: TABLE_WINDOW_COLUMNS,
            jobs: args.jobs.map(usize::from),
        };
        let rows = write_table(&options, |_, _| {})
            .with_context(|| format!("table {}", table.display()))?;
        eprintln!(
            "hounsfield: wrote {} row(s) to {}",
            rows.rows,
            table.display()
        );
    }
    Ok(if counts.failed > 0 { EXIT_PARTIAL } else { 0 })
}
