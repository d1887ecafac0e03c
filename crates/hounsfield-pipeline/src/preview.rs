//! Contact sheets: each input image once per recipe channel, as the network
//! will see it.

use std::path::PathBuf;

use hounsfield_dicom::{open, sniff_file, OpenOptions};
use hounsfield_export::{encode_png, write_atomic, PngImage};
use hounsfield_pixel::{read_frame, DecodeLimits, PixelDescription};
use hounsfield_tensor::{draw_contact_sheet, render, sheet_row, Recipe, SheetRow};

use crate::discover::{check_inputs, walk, InputFile};
use crate::error::PipelineError;

/// Settings of a contact sheet.
#[derive(Debug, Clone)]
pub struct PreviewOptions {
    /// Files and folders to show.
    pub inputs: Vec<PathBuf>,
    /// The PNG file to write.
    pub output: PathBuf,
    /// The recipe whose channels are shown.
    pub recipe: Recipe,
    /// Side of each cell in pixels.
    pub cell_size: usize,
    /// Show every frame of multi-frame files, not only the first.
    pub all_frames: bool,
    /// Show at most this many images (rows).
    pub max_images: usize,
}

/// What a contact sheet shows.
#[derive(Debug, Clone, Default)]
pub struct PreviewSummary {
    /// Images drawn, one row each.
    pub images: usize,
    /// DICOM files that could not be shown, with the reason.
    pub skipped: Vec<String>,
}

/// Renders the rows of one file; an error message when it cannot be shown.
fn file_rows(file: &InputFile, options: &PreviewOptions) -> Result<Vec<SheetRow>, String> {
    let recipe = &options.recipe;
    let open_options = OpenOptions {
        stop_before_pixel_data: false,
        lenient_framing: recipe.input.accept_missing_file_meta,
    };
    let dicom = open(&file.path, &open_options).map_err(|error| error.to_string())?;
    let mut findings = Vec::new();
    let description = PixelDescription::read(dicom.dataset(), &mut findings)
        .map_err(|error| hounsfield_dicom::error_chain(&error))?;
    let limits = DecodeLimits {
        max_frame_bytes: recipe.input.max_frame_bytes,
    };
    let frames = if options.all_frames {
        description.frames
    } else {
        1
    };

    let mut rows = Vec::new();
    for frame in 0..frames {
        let image = read_frame(&dicom, &description, frame, &limits, &mut findings)
            .map_err(|error| format!("frame {frame}: {}", hounsfield_dicom::error_chain(&error)))?;
        let rendered = render(&image, recipe).map_err(|error| format!("frame {frame}: {error}"))?;
        let (_, rows_out, columns_out) = rendered.tensor.dim();
        let title = format!(
            "{}  frame {frame}/{}  {rows_out}x{columns_out}",
            file.relative, description.frames
        );
        rows.push(sheet_row(title, &rendered, recipe));
    }
    Ok(rows)
}

/// Draws a contact sheet of the inputs and writes it as a PNG file. Files
/// that are not DICOM are passed over; DICOM files that cannot be decoded
/// or rendered are listed in the summary and logged.
///
/// # Errors
/// [`PipelineError::Input`] for a missing input, [`PipelineError::Render`]
/// when nothing can be drawn, [`PipelineError::Output`] when the file
/// cannot be written.
pub fn preview(options: &PreviewOptions) -> Result<PreviewSummary, PipelineError> {
    check_inputs(&options.inputs)?;
    let mut summary = PreviewSummary::default();
    let mut rows = Vec::new();
    for entry in walk(&options.inputs) {
        if rows.len() >= options.max_images {
            break;
        }
        let file = match entry {
            Ok(file) => file,
            Err((path, error)) => {
                summary.skipped.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        if !matches!(sniff_file(&file.path), Ok(Some(_))) {
            continue;
        }
        match file_rows(&file, options) {
            Ok(file_rows) => rows.extend(file_rows),
            Err(reason) => {
                tracing::warn!(path = %file.path.display(), "not shown: {reason}");
                summary
                    .skipped
                    .push(format!("{}: {reason}", file.path.display()));
            }
        }
    }
    rows.truncate(options.max_images);

    let sheet = draw_contact_sheet(&rows, options.cell_size)?;
    let bytes = encode_png(PngImage::Rgb8(sheet.view()))?;
    write_atomic(&options.output, &bytes)?;
    summary.images = rows.len();
    Ok(summary)
}
