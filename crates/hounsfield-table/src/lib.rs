//! Tables of technical DICOM attributes for training-set audits: one row
//! per file or per frame, written as Apache Parquet or CSV.
//!
//! # Overview
//!
//! - [`write_table`] walks the inputs, reads each DICOM file up to Pixel
//!   Data (or whole, for pixel statistics) and writes its rows in input
//!   order, whatever the number of threads.
//! - [`columns`] defines the typed columns: UIDs, modality, manufacturer,
//!   the Image Pixel Module, geometry, windows in numbered columns, rescale,
//!   transfer syntax, lossy flag and file size. Patient-identifying columns
//!   are added only on request.
//! - [`TableWriter`] writes rows in record batches of [`BATCH_ROWS`] to a
//!   temporary file that becomes the output only when complete.
//!
//! This crate is the only one that depends on `arrow` and `parquet`, so the
//! other crates build and test without them.
//!
//! # Example
//!
//! ```no_run
//! use hounsfield_table::{write_table, TableOptions};
//!
//! let options = TableOptions {
//!     inputs: vec!["fixtures/dicom/dcm_qa_ct".into()],
//!     output: "ct.parquet".into(),
//!     frames: false,
//!     pixel_stats: true,
//!     window_fraction: None,
//!     patient_attributes: false,
//!     window_columns: 3,
//!     jobs: None,
//! };
//! let summary = write_table(&options, |_, _| {})?;
//! println!("{} rows", summary.rows);
//! # Ok::<(), hounsfield_table::TableError>(())
//! ```
//!
//! # Limitations
//!
//! - A file-level row of an enhanced multi-frame image shows the geometry,
//!   windows and rescale of its first frame. Rows per frame (`frames`)
//!   show every frame's own values.
//! - The number of window columns is fixed before the first row is written,
//!   because rows are streamed; a file with more windows loses the extra
//!   ones from the table (its `window_count` column still counts them).
#![deny(missing_docs)]

mod columns;
mod error;
mod row;
mod run;
mod stats;
mod writer;

pub use columns::{columns, Cell, Column, ColumnOptions, Kind};
pub use error::TableError;
pub use row::{read_rows, Geometry, PixelAttributes, Rescale, RowData, RowOptions, Windows};
pub use run::{write_table, TableOptions, TableSummary};
pub use stats::{PixelStats, WindowRange};
pub use writer::{arrow_schema, Format, TableWriter, BATCH_ROWS, ROW_GROUP_ROWS};
