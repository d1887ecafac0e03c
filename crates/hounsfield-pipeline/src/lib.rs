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
mod journal;
mod ordered;
mod run;
pub mod validate;

pub use convert::{convert_file, sample_key, Conversion, Outcome, SampleMetadata};
pub use discover::{check_inputs, walk, InputFile};
pub use error::PipelineError;
pub use ordered::{map_in_order, thread_pool};
pub use run::{convert, ConvertOptions, ManifestEntry, RunSummary, Status};
pub use validate::{validate, FileReport, ValidateOptions, ValidateSummary};
