//! The error type of this crate.

use dicom_core::Tag;

/// Errors raised while decoding pixels or applying the modality LUT.
///
/// Messages name the attribute and the value; the caller adds the file path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PixelError {
    /// A required attribute of the Image Pixel Module is absent.
    #[error("missing required attribute {keyword} {tag}")]
    MissingAttribute {
        /// The attribute keyword.
        keyword: &'static str,
        /// The attribute tag.
        tag: Tag,
    },

    /// An attribute has a value this crate cannot use.
    #[error("invalid {keyword} {tag} `{value}`: {reason}")]
    InvalidAttribute {
        /// The attribute keyword.
        keyword: &'static str,
        /// The attribute tag.
        tag: Tag,
        /// The value found.
        value: String,
        /// What was expected.
        reason: String,
    },

    /// An attribute value could not be parsed.
    #[error(transparent)]
    Attribute(#[from] hounsfield_dicom::AttributeError),

    /// The data set has no Pixel Data (7FE0,0010).
    #[error("no Pixel Data (7FE0,0010): the object holds no image")]
    NoPixelData,

    /// The transfer syntax has no pixel data decoder in this build.
    #[error("unsupported transfer syntax {uid} ({name}): {reason}")]
    UnsupportedTransferSyntax {
        /// The transfer syntax UID.
        uid: String,
        /// Its name, or `unknown`.
        name: String,
        /// Why it cannot be decoded.
        reason: String,
    },

    /// Native Pixel Data is shorter than the image attributes require.
    #[error(
        "Pixel Data (7FE0,0010) is too short: expected {expected} bytes for {description}, found {actual}"
    )]
    PixelDataTooShort {
        /// Bytes needed.
        expected: usize,
        /// Bytes present.
        actual: usize,
        /// The dimensions that give `expected`.
        description: String,
    },

    /// The image is larger than the configured limit.
    #[error("image too large: {description} needs {bytes} bytes, the limit is {limit}")]
    TooLarge {
        /// The dimensions.
        description: String,
        /// Bytes the decoded pixels would need.
        bytes: u64,
        /// The limit in bytes.
        limit: u64,
    },

    /// A frame index past the end.
    #[error("frame {frame} does not exist: the image has {frames} frame(s)")]
    FrameOutOfRange {
        /// The frame asked for (0-based).
        frame: u32,
        /// Number of Frames.
        frames: u32,
    },

    /// The codec failed on the encapsulated data.
    #[error("cannot decode {syntax} pixel data: {message}")]
    Decode {
        /// The transfer syntax name.
        syntax: String,
        /// The decoder's message with its causes.
        message: String,
    },

    /// The image combination of attributes is valid DICOM but not handled.
    #[error("unsupported image: {0}")]
    Unsupported(String),

    /// The Photometric Interpretation (0028,0004) cannot be turned into the
    /// requested output.
    #[error("unsupported photometric interpretation `{term}` (0028,0004): {reason}")]
    UnsupportedPhotometric {
        /// The defined term, e.g. `YBR_ICT`.
        term: String,
        /// The reason it cannot be converted.
        reason: String,
    },

    /// A JPEG Extended stream with 12-bit samples (JPEG Process 4): no
    /// decoder for it is built in.
    #[error(
        "unsupported: 12-bit JPEG extended ({uid}) is not decoded by this build; \
         decompress the file with another tool (e.g. DCMTK dcmdjpeg) first"
    )]
    Jpeg12Bit {
        /// The transfer syntax UID of the file.
        uid: String,
    },
}

impl PixelError {
    pub(crate) fn invalid(tag: Tag, value: impl ToString, reason: impl Into<String>) -> Self {
        PixelError::InvalidAttribute {
            keyword: hounsfield_dicom::attr::keyword(tag),
            tag,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(tag: Tag) -> Self {
        PixelError::MissingAttribute {
            keyword: hounsfield_dicom::attr::keyword(tag),
            tag,
        }
    }
}
