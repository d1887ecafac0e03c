//! The conversion pipeline of Hounsfield: discovery, parallel conversion,
//! ordered output and the manifest.
//!
//! [`convert`] walks the inputs in sorted order, recognises DICOM files by
//! content, converts batches of files on a `rayon` pool, and writes shards,
//! PNG files and `manifest.jsonl` in input order, so output does not depend
//! on the number of threads.
#![deny(missing_docs)]

mod convert;
mod dataset_stats;
mod discover;
mod error;
pub mod finalize;
mod journal;
mod ordered;
pub mod plan;
mod preview;
mod run;
mod shard_index;
mod single;
pub mod units;
pub mod validate;
mod volumes;

pub use convert::{convert_file, sample_key, Conversion, EncodedSample, Outcome, SampleMetadata};
pub use dataset_stats::{
    dataset_statistics, write_histogram_plot, write_stats, StatsOptions, StatsRun, Stratum,
};
pub use discover::{check_inputs, walk, InputFile};
pub use error::PipelineError;
pub use finalize::{finalize, FinalizeSummary};
pub use ordered::{map_in_order, thread_pool};
pub use plan::{make_plan, Grouping, Plan, PlanOptions};
pub use preview::{preview, PreviewOptions, PreviewSummary};
pub use run::{convert, convert_files, ConvertOptions, ManifestEntry, RunSummary, Status};
pub use shard_index::{IndexedShard, ShardIndex, SHARD_INDEX_FILE};
pub use single::{convert_single, decode_frames, read_metadata, DecodedFrames};
pub use units::{convert_units, UnitRunOptions, UnitSelection, UnitsSummary};
pub use validate::{validate, FileReport, ValidateOptions, ValidateSummary};
pub use volumes::{convert_volumes, VolumeRecord, VolumeSummary};
