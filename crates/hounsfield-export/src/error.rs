//! The error type shared by every writer in this crate.

use std::io;
use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors returned by the output writers.
///
/// Variants about files carry the path involved. For writes that go through a
/// temporary file, that is the temporary path, because the final name does not
/// exist until the commit succeeds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output path has no file name component, for example `/` or `..`.
    #[error("invalid output path {path}: it has no file name")]
    NoFileName {
        /// The rejected path.
        path: PathBuf,
    },

    /// Creating an output directory or one of its parents failed.
    #[error("failed to create directory {path}: {source}")]
    CreateDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// Creating the temporary file next to the final path failed.
    #[error("failed to create temporary file {path}: {source}")]
    CreateTemp {
        /// The temporary path, or the last one tried when every candidate name was taken.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// Writing or flushing file contents failed.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// `fsync` of a file or of its directory failed.
    #[error("failed to sync {path} to disk: {source}")]
    Sync {
        /// The file or directory being synced.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// Moving the temporary file onto the final path failed.
    #[error("failed to rename {from} to {to}: {source}")]
    Rename {
        /// The temporary path.
        from: PathBuf,
        /// The final path.
        to: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },

    /// The final path exists and the caller set `overwrite` to false.
    #[error("{path} already exists. Remove it or set overwrite to true to replace it")]
    AlreadyExists {
        /// The existing final path.
        path: PathBuf,
    },

    /// A sample key cannot be used as a WebDataset key.
    #[error("invalid sample key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Reason for the rejection.
        reason: String,
    },

    /// A member extension of a sample cannot be used in a WebDataset shard.
    #[error("invalid extension {extension:?} in sample {key:?}: {reason}")]
    InvalidExtension {
        /// The key of the sample that contains the extension.
        key: String,
        /// The rejected extension.
        extension: String,
        /// Reason for the rejection.
        reason: String,
    },

    /// A sample has no members, so a WebDataset reader would never see it.
    #[error("sample {key:?} has no members. Add at least one member before writing it")]
    EmptySample {
        /// The key of the empty sample.
        key: String,
    },

    /// A sample key was already written earlier in the same run.
    #[error(
        "duplicate sample key {key:?}, already written to {shard}. \
         Every sample in a run needs its own key"
    )]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// The final path of the shard that contains the first sample with this key.
        shard: PathBuf,
    },

    /// The shard file name pattern is not supported.
    #[error("invalid shard name pattern {pattern:?}: {reason}")]
    InvalidNamePattern {
        /// The rejected pattern.
        pattern: String,
        /// Reason for the rejection.
        reason: String,
    },

    /// A shard option is out of range.
    #[error("invalid shard options: {reason}")]
    InvalidShardOptions {
        /// Name of the invalid option and the reason.
        reason: String,
    },

    /// A shard writer was used again after an I/O error discarded its open shard.
    #[error(
        "shard writer for {dir} stopped after an earlier write error. \
         The samples of the discarded shard were not written, so rerun the export"
    )]
    ShardWriterFailed {
        /// The output directory of the writer.
        dir: PathBuf,
    },

    /// Writing NPY bytes to a caller's writer failed.
    #[error("failed to write NPY data: {source}")]
    NpyWrite {
        /// The underlying I/O error.
        source: io::Error,
    },

    /// The NPY header does not fit the 16-bit length field of format version 1.0.
    #[error(
        "NPY header for a {ndim}-dimensional array needs {len} bytes, \
         but format version 1.0 allows at most 65535"
    )]
    NpyHeaderTooLong {
        /// Number of array dimensions.
        ndim: usize,
        /// Header length in bytes, from the dictionary to the final newline.
        len: usize,
    },

    /// The array shape cannot be encoded as the requested image type.
    #[error("invalid image shape {shape:?} for {kind}: {reason}")]
    InvalidImageShape {
        /// Shape of the rejected array.
        shape: Vec<usize>,
        /// Requested image type, for example `RGB PNG`.
        kind: &'static str,
        /// Reason for the rejection.
        reason: String,
    },

    /// The PNG encoder failed.
    #[error("failed to encode PNG: {source}")]
    PngEncode {
        /// The encoder error.
        source: png::EncodingError,
    },

    /// The affine of a NIfTI volume has no orientation: a zero-length or
    /// repeated axis.
    #[error("invalid NIfTI affine: {reason}")]
    InvalidAffine {
        /// What is wrong with it.
        reason: String,
    },

    /// Compressing a NIfTI volume failed.
    #[error("failed to compress NIfTI data: {source}")]
    NiftiEncode {
        /// The gzip encoder's error.
        source: io::Error,
    },

    /// Serializing a value to JSON failed.
    #[error("failed to serialize {what} to JSON: {source}")]
    Json {
        /// Description of the value, for example a member name or a file path.
        what: String,
        /// The serializer error.
        source: serde_json::Error,
    },
}
