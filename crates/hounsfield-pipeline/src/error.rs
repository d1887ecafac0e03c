//! Errors that stop a whole run. Errors of single files go to the manifest.

use std::path::PathBuf;

/// A fatal error of a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// An input path does not exist or cannot be read.
    #[error("{}: cannot read input: {source}", path.display())]
    Input {
        /// The input path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The output folder or a run-level output could not be written.
    #[error("cannot write output: {0}")]
    Output(#[from] hounsfield_export::Error),

    /// The output folder could not be created.
    #[error("{}: cannot create output folder: {source}", path.display())]
    OutputDir {
        /// The folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The settings cannot be used, e.g. a key named by the recipe is
    /// missing from the environment.
    #[error("invalid settings: {0}")]
    Config(String),

    /// An interrupted run cannot be resumed.
    #[error("cannot resume: {0}")]
    Resume(String),

    /// A plan file or a unit record is missing, malformed or belongs to
    /// another plan.
    #[error("invalid plan: {0}")]
    Plan(String),

    /// One file could not be read or decoded outside a run (the single-file
    /// API used by the Python package).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },

    /// A file that a conversion skips on purpose (not DICOM, no pixel data,
    /// burned-in annotation) was given to the single-file API.
    #[error("{}: skipped: {reason}", path.display())]
    Skipped {
        /// The file.
        path: PathBuf,
        /// Why it is skipped.
        reason: String,
    },

    /// The worker thread pool could not be started.
    #[error("cannot start {jobs} worker threads: {message}")]
    ThreadPool {
        /// Threads requested.
        jobs: usize,
        /// The error.
        message: String,
    },

    /// Dataset statistics could not be computed or a preview could not be
    /// drawn.
    #[error(transparent)]
    Render(#[from] hounsfield_tensor::RenderError),
}
