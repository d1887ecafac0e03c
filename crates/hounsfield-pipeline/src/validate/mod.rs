//! A validation run: every DICOM file under the inputs gets the header
//! rules of [`hounsfield_dicom::validate`], the pixel rules of this module
//! (for CT), and each series the rules across its files.

mod pixels;

use std::path::{Path, PathBuf};

use hounsfield_dicom::validate::{check_file, SeriesEntry, SeriesIndex, SeriesReport};
use hounsfield_dicom::{
    attr, error_chain, open, sniff_file, tags, Error as DicomError, Finding, OpenOptions, Severity,
};
use hounsfield_pixel::DecodeLimits;
use serde::Serialize;

use crate::discover::{check_inputs, walk};
use crate::error::PipelineError;
use crate::ordered::{map_in_order, thread_pool};

pub use pixels::{
    CT_PLAUSIBLE_HU, IMPLAUSIBLE_WARNING_FRACTION, WRAPPED_BITS_STORED, WRAPPED_MIN_FRACTION,
    WRAPPED_MIN_INTERCEPT, WRAPPED_TOP_STORED_VALUE,
};

/// Files validated in parallel per job before their reports are handed on
/// in input order.
const FILES_PER_JOB_IN_BATCH: usize = 8;

/// Settings of a validation run.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Files and folders to validate. Folders are searched recursively and
    /// files that are not DICOM are skipped there; a file named directly
    /// that is not DICOM gets an error finding.
    pub inputs: Vec<PathBuf>,
    /// Decode the pixels of CT images for the pixel rules.
    pub decode_pixels: bool,
    /// Worker threads; `None` uses all cores.
    pub jobs: Option<usize>,
}

/// The findings of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Its findings, in rule order.
    pub findings: Vec<Finding>,
}

/// Counts of a finished run and the series findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidateSummary {
    /// DICOM files validated.
    pub files: usize,
    /// Files in the input folders that are not DICOM.
    pub skipped: usize,
    /// Files with at least one `error` finding.
    pub files_with_errors: usize,
    /// Findings of each severity, series findings included.
    pub errors: usize,
    /// Warnings, series findings included.
    pub warnings: usize,
    /// Info findings, series findings included.
    pub infos: usize,
    /// The series with findings.
    pub series: Vec<SeriesReport>,
}

impl ValidateSummary {
    fn count(&mut self, findings: impl Iterator<Item = Severity>) {
        for severity in findings {
            match severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
                Severity::Info => self.infos += 1,
            }
        }
    }
}

/// The result of validating one file.
enum Outcome {
    /// A folder entry that is not DICOM.
    Skipped,
    /// A DICOM file, or a named file, with its findings.
    Checked(Box<Checked>),
}

/// The findings of one file and what the series rules need from it.
struct Checked {
    report: FileReport,
    series: Option<(String, SeriesEntry)>,
}

impl Outcome {
    fn checked(report: FileReport, series: Option<(String, SeriesEntry)>) -> Self {
        Outcome::Checked(Box::new(Checked { report, series }))
    }
}

/// Validates every file under the inputs and calls `on_file` with the
/// report of each DICOM file, in input order. Series findings come in the
/// summary once all files are read.
///
/// # Errors
/// [`PipelineError::Input`] when an input does not exist, and
/// [`PipelineError::ThreadPool`] when the threads cannot start. Unreadable
/// and malformed files are findings, not errors.
pub fn validate(
    options: &ValidateOptions,
    mut on_file: impl FnMut(&FileReport),
) -> Result<ValidateSummary, PipelineError> {
    check_inputs(&options.inputs)?;
    let pool = thread_pool(options.jobs)?;
    let batch = pool.current_num_threads() * FILES_PER_JOB_IN_BATCH;
    let limits = DecodeLimits::default();
    let mut summary = ValidateSummary::default();
    let mut index = SeriesIndex::new();

    let work = |entry: Result<crate::InputFile, (PathBuf, String)>| match entry {
        Ok(input) => {
            let named_directly = options
                .inputs
                .get(input.input_index)
                .is_some_and(|root| root.is_file());
            validate_file(&input.path, named_directly, options.decode_pixels, &limits)
        }
        Err((path, message)) => Outcome::checked(
            FileReport {
                path: path.display().to_string(),
                findings: vec![Finding::new(
                    Severity::Error,
                    "unreadable-file",
                    format!("cannot read: {message}"),
                )],
            },
            None,
        ),
    };
    map_in_order(&pool, walk(&options.inputs), batch, work, |outcome| {
        match outcome {
            Outcome::Skipped => summary.skipped += 1,
            Outcome::Checked(checked) => {
                let Checked { report, series } = *checked;
                summary.files += 1;
                summary.count(report.findings.iter().map(|finding| finding.severity));
                if report
                    .findings
                    .iter()
                    .any(|f| f.severity == Severity::Error)
                {
                    summary.files_with_errors += 1;
                }
                if let Some((uid, entry)) = series {
                    index.add(uid, entry);
                }
                on_file(&report);
            }
        }
        Ok::<(), PipelineError>(())
    })?;

    summary.series = index.reports();
    let series_severities = summary
        .series
        .iter()
        .flat_map(|report| report.findings.iter().map(|f| f.finding.severity))
        .collect::<Vec<_>>();
    summary.count(series_severities.into_iter());
    Ok(summary)
}

fn unreadable(path: &Path, error: &DicomError) -> Outcome {
    tracing::debug!(path = %path.display(), "unreadable: {error}");
    Outcome::checked(
        FileReport {
            path: path.display().to_string(),
            findings: vec![Finding::new(
                Severity::Error,
                "unreadable-file",
                error_chain(error),
            )],
        },
        None,
    )
}

/// Validates one file. Files in folders that are not DICOM are skipped;
/// one named directly gets a `not-dicom` error.
fn validate_file(
    path: &Path,
    named_directly: bool,
    decode_pixels: bool,
    limits: &DecodeLimits,
) -> Outcome {
    match sniff_file(path) {
        Ok(Some(_)) => {}
        Ok(None) if !named_directly => return Outcome::Skipped,
        Ok(None) => {
            return Outcome::checked(
                FileReport {
                    path: path.display().to_string(),
                    findings: vec![Finding::new(
                        Severity::Error,
                        "not-dicom",
                        "not a DICOM file: no `DICM` marker at byte 128 and no data set header at byte 0",
                    )],
                },
                None,
            )
        }
        Err(error) => return unreadable(path, &error),
    }

    let mut findings = Vec::new();
    let full = OpenOptions {
        stop_before_pixel_data: false,
        lenient_framing: true,
    };
    let (file, pixel_data_read) = match open(path, &full) {
        Ok(file) => (file, true),
        Err(full_error) => {
            // A file broken after its header still has header findings.
            let header_only = OpenOptions {
                stop_before_pixel_data: true,
                ..full
            };
            match open(path, &header_only) {
                Ok(file) => {
                    findings.push(Finding::about(
                        Severity::Error,
                        "pixel-data-unreadable",
                        tags::PIXEL_DATA,
                        format!(
                            "the header is readable but the rest of the file is not: {}",
                            error_chain(&full_error)
                        ),
                    ));
                    (file, false)
                }
                Err(_) => return unreadable(path, &full_error),
            }
        }
    };

    findings.extend(check_file(&file, pixel_data_read));
    if decode_pixels && pixel_data_read {
        pixels::check(&file, limits, &mut findings);
    }
    let path_text = path.display().to_string();
    let series = attr::text(file.dataset(), tags::SERIES_INSTANCE_UID)
        .map(|uid| (uid, SeriesEntry::read(path_text.clone(), file.dataset())));
    Outcome::checked(
        FileReport {
            path: path_text,
            findings,
        },
        series,
    )
}
