//! The conversion pipeline of Hounsfield: discovery, parallel conversion,
//! ordered output and the manifest.
//!
//! [`convert`] walks the inputs in sorted order, recognises DICOM files by
//! content, converts batches of files on a `rayon` pool, and writes shards,
//! PNG files and `manifest.jsonl` in input order, so output does not depend
//! on the number of threads.
#![deny(missing_docs)]

mod convert;
mod discover;
mod error;
mod run;

pub use convert::{sample_key, SampleMetadata};
pub use discover::InputFile;
pub use error::PipelineError;
pub use run::{convert, ConvertOptions, ManifestEntry, RunSummary, Status};
