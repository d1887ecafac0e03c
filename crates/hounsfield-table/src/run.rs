//! A table run: discover the inputs, read rows in parallel, write them in
//! input order.

use std::path::{Path, PathBuf};

use hounsfield_dicom::{open, OpenOptions};
use hounsfield_pipeline::{check_inputs, map_in_order, thread_pool, walk, InputFile};
use hounsfield_pixel::DecodeLimits;

use crate::columns::{columns, ColumnOptions};
use crate::error::TableError;
use crate::row::{read_rows, RowData, RowOptions};
use crate::stats::WindowRange;
use crate::writer::TableWriter;

/// Files read in parallel per job before their rows are written in order.
const FILES_PER_JOB_IN_BATCH: usize = 16;

/// Settings of a table run.
#[derive(Debug, Clone, PartialEq)]
pub struct TableOptions {
    /// Files and folders to read; folders are searched recursively and files
    /// that are not DICOM are skipped.
    pub inputs: Vec<PathBuf>,
    /// The output file; `.parquet` or `.csv`.
    pub output: PathBuf,
    /// One row per frame instead of one per file.
    pub frames: bool,
    /// Add statistics of the non-padding modality values.
    pub pixel_stats: bool,
    /// Add the share of non-padding modality values inside this window.
    pub window_fraction: Option<WindowRange>,
    /// Add the patient-identifying columns.
    pub patient_attributes: bool,
    /// Numbered Window Center and Window Width columns to write; extra
    /// windows of a file are left out (`window_count` still counts them).
    pub window_columns: usize,
    /// Worker threads; `None` uses all cores.
    pub jobs: Option<usize>,
}

/// Counts of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSummary {
    /// Rows written.
    pub rows: u64,
    /// DICOM files read.
    pub files: usize,
    /// Files that are not DICOM.
    pub skipped: usize,
    /// DICOM files that could not be read; they have no row.
    pub failed: usize,
}

enum Outcome {
    Rows(Vec<RowData>),
    Skipped,
    Failed,
}

fn read_file(input: &InputFile, row_options: &RowOptions, limits: &DecodeLimits) -> Outcome {
    let path = &input.path;
    let options = OpenOptions {
        stop_before_pixel_data: !row_options.needs_pixels(),
        lenient_framing: true,
    };
    // `open` recognises DICOM by content, so other files are skipped
    // without a separate read of their first bytes.
    let file = match open(path, &options) {
        Ok(file) => file,
        Err(hounsfield_dicom::Error::NotDicom { .. }) => return Outcome::Skipped,
        Err(error) => {
            tracing::warn!("no row: {}", hounsfield_dicom::error_chain(&error));
            return Outcome::Failed;
        }
    };
    let file_size = std::fs::metadata(path).map_or(0, |metadata| metadata.len());
    Outcome::Rows(read_rows(&file, file_size, row_options, limits))
}

fn check_options(options: &TableOptions) -> Result<(), TableError> {
    if let Some(window) = options.window_fraction {
        if !(window.width > 0.0 && window.center.is_finite() && window.width.is_finite()) {
            return Err(TableError::InvalidOption(format!(
                "window fraction width must be a finite number above 0, got center {} and width {}",
                window.center, window.width
            )));
        }
    }
    Ok(())
}

/// Writes one row per DICOM file (or frame) under the inputs to
/// `options.output`, atomically. `progress` is called after each file with
/// the rows written so far.
///
/// # Errors
/// An input that does not exist, an unsupported output extension, an
/// invalid option, or a failed write. Unreadable files are counted in
/// [`TableSummary::failed`] and logged, and do not stop the run.
pub fn write_table(
    options: &TableOptions,
    mut progress: impl FnMut(&Path, u64),
) -> Result<TableSummary, TableError> {
    check_options(options)?;
    check_inputs(&options.inputs)?;
    let column_options = ColumnOptions {
        frames: options.frames,
        window_columns: options.window_columns,
        pixel_stats: options.pixel_stats,
        window_fraction: options.window_fraction.is_some(),
        patient_attributes: options.patient_attributes,
    };
    let row_options = RowOptions {
        frames: options.frames,
        pixel_stats: options.pixel_stats,
        window_fraction: options.window_fraction,
        patient_attributes: options.patient_attributes,
    };
    let pool = thread_pool(options.jobs)?;
    let batch = pool.current_num_threads() * FILES_PER_JOB_IN_BATCH;
    let limits = DecodeLimits::default();
    let mut writer = TableWriter::create(&options.output, columns(&column_options))?;
    let mut summary = TableSummary::default();

    let work = |entry: Result<InputFile, (PathBuf, String)>| match entry {
        Ok(input) => (input.path.clone(), read_file(&input, &row_options, &limits)),
        Err((path, message)) => {
            tracing::warn!(path = %path.display(), "cannot read: {message}");
            (path, Outcome::Failed)
        }
    };
    map_in_order(
        &pool,
        walk(&options.inputs),
        batch,
        work,
        |(path, outcome)| {
            match outcome {
                Outcome::Rows(rows) => {
                    summary.files += 1;
                    for row in rows {
                        writer.push(row)?;
                    }
                }
                Outcome::Skipped => summary.skipped += 1,
                Outcome::Failed => summary.failed += 1,
            }
            progress(&path, writer.rows());
            Ok::<(), TableError>(())
        },
    )?;
    summary.rows = writer.finish()?;
    Ok(summary)
}
