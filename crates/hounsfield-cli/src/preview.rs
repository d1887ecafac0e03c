//! `hounsfield preview`.

use std::path::PathBuf;

use anyhow::Context;
use hounsfield_pipeline::{preview, PreviewOptions};

use crate::convert::load_recipe;
use crate::EXIT_PARTIAL;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Each row is one image (the first frame of each file unless \
--all-frames), each cell one recipe channel after the recipe's spatial and intensity steps, \
labelled with its index and name. Channels with a fixed range (windows, histogram, padding mask, \
clipped scales) are shown over that range; others (modality values, standardized values) are \
shown from their minimum to their maximum, which the label states. NaN is magenta.\n\n\
Exit status: 0 when every DICOM input was drawn, 1 when some could not be, 2 for usage and \
fatal errors."
)]
pub(crate) struct PreviewArgs {
    /// Files or folders to draw; folders are searched recursively
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// PNG file to write
    #[arg(short, long)]
    output: PathBuf,

    /// Recipe whose channels are drawn, with its statistics file (default:
    /// the embedded default recipe)
    #[arg(short, long)]
    recipe: Option<PathBuf>,

    /// Side of each image cell in pixels
    #[arg(long, default_value_t = 192, value_parser = clap::value_parser!(u16).range(16..=2048))]
    cell_size: u16,

    /// Draw every frame of multi-frame files, not only the first
    #[arg(long)]
    all_frames: bool,

    /// Draw at most this many images (rows)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1000))]
    max_images: u32,
}

pub(crate) fn run(args: PreviewArgs) -> anyhow::Result<u8> {
    let recipe = load_recipe(args.recipe.as_ref())?;
    let options = PreviewOptions {
        inputs: args.inputs,
        output: args.output,
        recipe,
        cell_size: usize::from(args.cell_size),
        all_frames: args.all_frames,
        max_images: args.max_images as usize,
    };
    let summary =
        preview(&options).with_context(|| format!("cannot draw {}", options.output.display()))?;
    eprintln!(
        "drew {} image(s), {} file(s) skipped; contact sheet: {}",
        summary.images,
        summary.skipped.len(),
        options.output.display()
    );
    Ok(if summary.skipped.is_empty() {
        0
    } else {
        EXIT_PARTIAL
    })
}
