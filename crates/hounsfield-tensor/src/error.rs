//! Errors of rendering, statistics and drawing.

/// A frame that could not be rendered, statistics that could not be
/// computed, or an image that could not be drawn.
///
/// Messages name the value and the reason; the caller adds the file path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The recipe needs dataset statistics (`histogram` channels or
    /// `standardize` steps) but none are loaded.
    #[error(
        "channel {channel} needs dataset statistics: add `stats: stats.yaml` (written by \
         `hounsfield stats`) to the recipe"
    )]
    MissingStats {
        /// The channel index.
        channel: usize,
    },

    /// The recipe selects a file window that the frame does not have.
    #[error("channel {channel}: no file window {requested} (0028,1050); the file has {available}")]
    NoFileWindow {
        /// The channel index.
        channel: usize,
        /// The requested window, e.g. `index 2` or "with explanation `BONE`".
        requested: String,
        /// The windows the file has, e.g. "2 windows: `BRAIN`, `BONE`".
        available: String,
    },

    /// Histogram breakpoints could not be fitted.
    #[error("cannot fit histogram breakpoints: {0}")]
    Breakpoints(String),

    /// A spatial step failed, e.g. a resize to an invalid size.
    #[error("spatial step `{step}` failed: {reason}")]
    Spatial {
        /// The step name.
        step: &'static str,
        /// What failed.
        reason: String,
    },

    /// A contact sheet or plot could not be drawn.
    #[error("cannot draw {what}: {reason}")]
    Draw {
        /// The kind of image, e.g. `contact sheet`.
        what: &'static str,
        /// What failed.
        reason: String,
    },

    /// The statistics file could not be written as YAML.
    #[error("cannot write statistics as YAML: {0}")]
    Yaml(String),
}
