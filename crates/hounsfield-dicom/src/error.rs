//! The error type of this crate.

use std::path::PathBuf;

use dicom_core::Tag;

/// Errors raised while recognising, opening or reading a DICOM file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read from disk.
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// The file does not start like a DICOM file.
    #[error("{}: not a DICOM file ({reason})", path.display())]
    NotDicom {
        /// The file.
        path: PathBuf,
        /// What the first bytes looked like.
        reason: String,
    },

    /// The file looks like DICOM but its data set could not be parsed.
    #[error("{}: invalid DICOM data set: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message with its chain of causes.
        message: String,
    },

    /// The file lacks the Part 10 preamble or file meta information and the
    /// caller asked for strict framing.
    #[error(
        "{}: not a Part 10 file ({framing}); enable lenient framing to read data sets without file meta information",
        path.display()
    )]
    NotPart10 {
        /// The file.
        path: PathBuf,
        /// The framing that was detected.
        framing: String,
    },

    /// An attribute is present but its value is not valid for its VR.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
}

/// An attribute value that is present but cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{keyword} {tag}: {reason} (value `{value}`)")]
pub struct AttributeError {
    /// The attribute keyword from the DICOM dictionary, e.g. `RescaleSlope`.
    pub keyword: &'static str,
    /// The attribute tag.
    pub tag: Tag,
    /// The raw value as text, cut to 64 characters.
    pub value: String,
    /// Why the value is unusable.
    pub reason: String,
}

impl AttributeError {
    pub(crate) fn new(
        keyword: &'static str,
        tag: Tag,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        let mut value = value.into();
        if value.chars().count() > 64 {
            value = value.chars().take(61).collect::<String>() + "...";
        }
        AttributeError {
            keyword,
            tag,
            value,
            reason: reason.into(),
        }
    }
}

/// Formats an error with its chain of sources, outermost first, joined by ": ".
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
