//! `hounsfield stats`.

use std::path::PathBuf;

use anyhow::Context;
use hounsfield_pipeline::{
    dataset_statistics, write_histogram_plot, write_stats, StatsOptions, Stratum,
};
use hounsfield_tensor::Recipe;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Breakpoints: sort the N pooled non-padding modality values into s; take \
t = [0.001] ++ [(i + 0.5)/BINS for i in 0..BINS] ++ [0.999] and k = floor(N t), capped at N - 1; \
the breakpoints are the sorted unique values s[k]. Channel moments are the mean, population \
standard deviation, minimum and maximum of each recipe channel's non-padding values before its \
`standardize` step, after the recipe's spatial steps.\n\n\
The sample is deterministic: files are ordered by SHA-256 of the seed and their path (or taken \
round-robin from the strata in that order with --stratify), and the first --sample files that \
decode to grayscale images are used.\n\n\
Exit status: 0 when the statistics were written, 2 for usage and fatal errors (e.g. no valid \
pixels)."
)]
pub(crate) struct StatsArgs {
    /// Files or folders to sample; folders are searched recursively and
    /// files that are not DICOM are passed over
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Statistics file to write (YAML), for a recipe's `stats:` key
    #[arg(short, long)]
    output: PathBuf,

    /// Recipe whose channels and spatial steps are measured; its own
    /// `stats:` file is not read (default: the embedded default recipe)
    #[arg(short, long)]
    recipe: Option<PathBuf>,

    /// Number of files to use
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    sample: u32,

    /// Seed of the deterministic file order
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Take files round-robin from the groups of this column, so each value
    /// gets an equal share: modality, manufacturer, model, body_part,
    /// series, study, bits_stored or photometric_interpretation
    #[arg(long, value_name = "COLUMN", value_parser = parse_stratum)]
    stratify: Option<Stratum>,

    /// Equal-population bins of the histogram breakpoints
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    bins: u32,

    /// Use at most this many frames per multi-frame file, evenly spaced
    /// (default: all)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    frames_per_file: Option<u32>,

    /// Pool at most this many values per frame for the breakpoints, evenly
    /// spaced (default: all; each pooled value takes 4 bytes of memory)
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
    max_pixels_per_frame: Option<u64>,

    /// Also draw the pooled values, the breakpoints and the recipe's windows
    /// as a PNG plot
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,

    /// Worker threads (default: all cores)
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

fn parse_stratum(text: &str) -> Result<Stratum, String> {
    Stratum::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Stratum::ALL.iter().map(|column| column.name()).collect();
        format!(
            "unknown column `{text}`; expected one of {}",
            names.join(", ")
        )
    })
}

pub(crate) fn run(args: StatsArgs) -> anyhow::Result<u8> {
    let recipe = match &args.recipe {
        None => Recipe::default_recipe(),
        Some(path) => Recipe::load_ignoring_stats(path)
            .with_context(|| format!("recipe {}", path.display()))?,
    };
    let options = StatsOptions {
        inputs: args.inputs,
        recipe,
        sample_size: args.sample as usize,
        seed: args.seed,
        stratify: args.stratify,
        bins: args.bins as usize,
        frames_per_file: args.frames_per_file.map(|frames| frames as usize),
        max_pixels_per_frame: args
            .max_pixels_per_frame
            .map(|pixels| usize::try_from(pixels).unwrap_or(usize::MAX)),
        jobs: args.jobs.map(usize::from),
        tool: format!("hounsfield {}", env!("CARGO_PKG_VERSION")),
    };
    let run = dataset_statistics(&options).context("cannot compute statistics")?;
    write_stats(&run.stats, &args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    if let Some(plot) = &args.plot {
        write_histogram_plot(&run, &options.recipe, plot)
            .with_context(|| format!("cannot write {}", plot.display()))?;
    }

    let provenance = &run.stats.provenance;
    eprintln!(
        "sampled {} file(s), {} frame(s), {} value(s); {} breakpoint(s); {} file(s) skipped; \
         statistics: {}",
        provenance.files.len(),
        provenance.frames,
        run.stats.histogram.values,
        run.stats.histogram.breakpoints.len(),
        provenance.skipped.len(),
        args.output.display()
    );
    if provenance.files.len() < options.sample_size {
        eprintln!(
            "hounsfield: warning: {} file(s) requested but only {} usable",
            options.sample_size,
            provenance.files.len()
        );
    }
    Ok(0)
}
