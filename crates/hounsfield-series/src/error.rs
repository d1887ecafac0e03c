//! The error type of this crate.

use hounsfield_dicom::{AttributeError, Tag};

/// A header that cannot be read for series assembly.
///
/// Attributes that are absent are not errors: the slice is then excluded
/// with an [`ExclusionReason`](crate::ExclusionReason). Only values that are
/// present but malformed are, because a silent default for Image Position
/// (Patient) or Pixel Spacing would place voxels in the wrong place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SeriesError {
    /// A value is not valid for its VR.
    #[error(transparent)]
    Attribute(#[from] AttributeError),

    /// An attribute has the wrong number of values.
    #[error("{keyword} {tag}: {found} value(s), expected {expected}")]
    ValueCount {
        /// The attribute keyword, e.g. `ImagePositionPatient`.
        keyword: &'static str,
        /// The attribute tag.
        tag: Tag,
        /// Values found.
        found: usize,
        /// Values required.
        expected: usize,
    },

    /// A value is out of the range the standard allows.
    #[error("{keyword} {tag}: {reason}")]
    OutOfRange {
        /// The attribute keyword.
        keyword: &'static str,
        /// The attribute tag.
        tag: Tag,
        /// The problem with the value.
        reason: String,
    },

    /// The Per-frame Functional Groups Sequence does not have one item per
    /// frame (PS3.3 C.7.6.16).
    #[error(
        "PerFrameFunctionalGroupsSequence (5200,9230) has {items} item(s) \
         but Number of Frames is {frames}"
    )]
    FrameCountMismatch {
        /// Items in the sequence.
        items: usize,
        /// Number of Frames (0028,0008).
        frames: u32,
    },
}
