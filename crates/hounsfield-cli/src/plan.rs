//! `hounsfield plan`.

use std::path::PathBuf;

use anyhow::Context;
use hounsfield_pipeline::{make_plan, Grouping, PlanOptions};

/// The attribute that keeps files in one work unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum By {
    /// Series Instance UID (0020,000E)
    Series,
    /// Study Instance UID (0020,000D)
    Study,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The plan lists the inputs as given: workers resolve relative paths against \
their own working folder, so give absolute paths when they start elsewhere.\n\n\
Exit status: 0 when the plan was written, 2 for usage and fatal errors."
)]
pub(crate) struct PlanArgs {
    /// Files or folders to plan, as they will be converted
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Plan file to write (JSON)
    #[arg(short, long)]
    output: PathBuf,

    /// Keep the files of each series or of each study in one unit
    #[arg(long, value_enum, default_value = "series")]
    by: By,

    /// Number of work units, each made of whole groups of about equal bytes
    /// (default: one unit per series or study)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    units: Option<u32>,

    /// Worker threads for reading headers (default: all cores)
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// Reads the headers, cuts the inputs into units and writes the plan.
pub(crate) fn run(args: PlanArgs) -> anyhow::Result<u8> {
    let options = PlanOptions {
        inputs: args.inputs,
        by: match args.by {
            By::Series => Grouping::Series,
            By::Study => Grouping::Study,
        },
        units: args.units.map(|units| units as usize),
        jobs: args.jobs.map(usize::from),
    };
    let plan = make_plan(&options)?;
    plan.write(&args.output)
        .with_context(|| format!("plan {}", args.output.display()))?;
    eprintln!(
        "hounsfield: planned {} file(s), {} byte(s), in {} unit(s) by {}; plan {} written to {}",
        plan.files,
        plan.bytes,
        plan.units.len(),
        match args.by {
            By::Series => "series",
            By::Study => "study",
        },
        plan.hash,
        args.output.display()
    );
    Ok(0)
}
