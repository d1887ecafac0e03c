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

    /// The worker thread pool could not be started.
    #[error("cannot start {jobs} worker threads: {message}")]
    ThreadPool {
        /// Threads requested.
        jobs: usize,
        /// The error.
        message: String,
    },
}
