//! The error type of this crate.

use std::path::PathBuf;

/// Errors that stop writing a table. Files that cannot be read are skipped
/// and counted instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// The output name ends neither in `.parquet` nor in `.csv`.
    #[error("{}: unsupported table format; the output name must end in .parquet or .csv", path.display())]
    UnsupportedFormat {
        /// The output path.
        path: PathBuf,
    },

    /// An option has a value that cannot be used.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// The atomic output file could not be created or committed.
    #[error("cannot write table: {0}")]
    Export(#[from] hounsfield_export::Error),

    /// The Parquet or Arrow writer failed.
    #[error("{}: cannot write Parquet: {message}", path.display())]
    Parquet {
        /// The output path.
        path: PathBuf,
        /// The writer's message.
        message: String,
    },

    /// The CSV writer failed.
    #[error("{}: cannot write CSV: {source}", path.display())]
    Csv {
        /// The output path.
        path: PathBuf,
        /// The writer's error.
        source: csv::Error,
    },

    /// Discovering the inputs or starting the workers failed.
    #[error(transparent)]
    Pipeline(#[from] hounsfield_pipeline::PipelineError),
}
