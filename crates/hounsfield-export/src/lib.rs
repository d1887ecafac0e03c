//! Output writers for Hounsfield: NumPy `.npy` files, PNG images and
//! WebDataset tar shards, all written atomically.
//!
//! The crate does not depend on DICOM code or export recipes. It takes
//! `ndarray` arrays and `serde` values and turns them into files that NumPy, image
//! libraries and the Python `webdataset` package read.
//!
//! - [`atomic`]: write a file under a temporary name and rename it on commit.
//! - [`npy`]: encode arrays as `.npy` format version 1.0.
//! - [`png`](crate::png): encode 8- and 16-bit grayscale and RGB PNG images.
//! - [`shard`]: pack samples into numbered, reproducible tar shards.
//! - [`nifti`]: encode `(C, D, H, W)` volumes as NIfTI-1 `.nii.gz` files
//!   with their qform and sform.
//!
//! ```
//! use hounsfield_export::{encode_png_gray16, Sample, ShardOptions, ShardWriter};
//! use ndarray::Array2;
//!
//! # fn main() -> Result<(), hounsfield_export::Error> {
//! # let dir = tempfile::tempdir().unwrap();
//! let slice = Array2::<f32>::zeros((512, 512));
//! let display = Array2::<u16>::zeros((512, 512));
//!
//! let mut writer = ShardWriter::new(dir.path(), ShardOptions::default())?;
//! let mut sample = Sample::new("case001_slice042");
//! sample.push_npy("npy", slice.view())?;
//! sample.push_member("png", encode_png_gray16(display.view())?);
//! sample.push_json("json", &serde_json::json!({"slice": 42}))?;
//! writer.write_sample(&sample)?;
//!
//! let shards = writer.finish()?;
//! assert_eq!(shards[0].file_name, "shard-000000.tar");
//! assert_eq!(shards[0].keys, ["case001_slice042"]);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod atomic;
pub mod error;
pub mod nifti;
pub mod npy;
pub mod png;
pub mod shard;

pub use crate::atomic::{
    write_atomic, write_atomic_with, write_json_atomic, AtomicFile, AtomicWriteOptions,
};
pub use crate::error::{Error, Result};
pub use crate::nifti::{encode_nifti_gz, nifti_header, write_nifti_gz_atomic, Qform};
pub use crate::npy::{encode_npy, npy_header, write_npy, write_npy_atomic, NpyElement};
pub use crate::png::{
    encode_png, encode_png_gray16, encode_png_gray8, encode_png_rgb16, encode_png_rgb8,
    unit_array_to_u16, unit_array_to_u8, unit_to_u16, unit_to_u8, write_png_atomic, PngImage,
};
pub use crate::shard::{
    validate_extension, validate_key, Sample, ShardInfo, ShardOptions, ShardWriter,
    DEFAULT_NAME_PATTERN,
};
