//! Writing rows to Parquet or CSV in record batches, atomically.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use hounsfield_export::AtomicFile;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::columns::{Cell, Column, Kind};
use crate::error::TableError;
use crate::row::RowData;

/// Rows held before they are written as one record batch.
pub const BATCH_ROWS: usize = 1024;

/// Rows per Parquet row group. The Parquet writer keeps the current row
/// group in memory, so this bounds its memory as well as the batch size.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// The output format, chosen by the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet with Snappy compression.
    Parquet,
    /// Comma-separated values with a header line; empty fields are nulls.
    Csv,
}

impl Format {
    /// Chooses the format from the extension of `path` (`.parquet` or
    /// `.csv`, in any case).
    ///
    /// # Errors
    /// [`TableError::UnsupportedFormat`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self, TableError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("parquet") => Ok(Format::Parquet),
            Some("csv") => Ok(Format::Csv),
            _ => Err(TableError::UnsupportedFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

enum Sink {
    Parquet(ArrowWriter<AtomicFile>),
    Csv(csv::Writer<AtomicFile>),
}

/// Writes rows as a table: a temporary file that becomes `path` on
/// [`TableWriter::finish`], so readers never see a partial table.
pub struct TableWriter {
    path: PathBuf,
    columns: Vec<Column>,
    schema: SchemaRef,
    pending: Vec<RowData>,
    sink: Sink,
    rows_written: u64,
}

impl std::fmt::Debug for TableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWriter")
            .field("path", &self.path)
            .field("columns", &self.columns.len())
            .field("rows_written", &self.rows_written)
            .finish()
    }
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Kind::Int32 => DataType::Int32,
        Kind::Int64 => DataType::Int64,
        Kind::Float64 => DataType::Float64,
        Kind::Bool => DataType::Boolean,
        Kind::Text => DataType::Utf8,
    }
}

/// Returns the Arrow schema of `columns`, in which every column is
/// nullable.
pub fn arrow_schema(columns: &[Column]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|column| Field::new(&column.name, data_type(column.kind), true))
        .collect();
    Arc::new(Schema::new(fields))
}

impl TableWriter {
    /// Creates the temporary output file and writes the CSV header line.
    ///
    /// # Errors
    /// [`TableError::UnsupportedFormat`] for an unknown extension,
    /// [`TableError::Export`] when the file cannot be created, and the
    /// writer's error when the header cannot be written.
    pub fn create(path: &Path, columns: Vec<Column>) -> Result<Self, TableError> {
        let format = Format::from_path(path)?;
        let file = AtomicFile::create(path)?;
        let schema = arrow_schema(&columns);
        let sink = match format {
            Format::Parquet => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))
                    .map_err(|error| parquet_error(path, &error))?;
                Sink::Parquet(writer)
            }
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(file);
                writer
                    .write_record(columns.iter().map(|column| column.name.as_str()))
                    .map_err(|source| csv_error(path, source))?;
                Sink::Csv(writer)
            }
        };
        Ok(TableWriter {
            path: path.to_path_buf(),
            columns,
            schema,
            pending: Vec::with_capacity(BATCH_ROWS),
            sink,
            rows_written: 0,
        })
    }

    /// Adds a row; every [`BATCH_ROWS`] rows are written as one batch.
    ///
    /// # Errors
    /// The writer's error.
    pub fn push(&mut self, row: RowData) -> Result<(), TableError> {
        self.pending.push(row);
        if self.pending.len() >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Rows written or waiting in the current batch.
    pub fn rows(&self) -> u64 {
        self.rows_written + self.pending.len() as u64
    }

    fn flush_batch(&mut self) -> Result<(), TableError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        match &mut self.sink {
            Sink::Parquet(writer) => {
                let batch = record_batch(&self.schema, &self.columns, &rows)
                    .map_err(|error| parquet_error(&self.path, &error))?;
                writer
                    .write(&batch)
                    .map_err(|error| parquet_error(&self.path, &error))?;
            }
            Sink::Csv(writer) => {
                for row in &rows {
                    let fields = self
                        .columns
                        .iter()
                        .map(|column| csv_field(column.value(row)));
                    writer
                        .write_record(fields)
                        .map_err(|source| csv_error(&self.path, source))?;
                }
            }
        }
        self.rows_written += rows.len() as u64;
        self.pending = rows;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last batch and the Parquet footer, then renames the
    /// temporary file to the output path. Returns the number of rows.
    ///
    /// # Errors
    /// The writer's error, or [`TableError::Export`] when the rename fails.
    pub fn finish(mut self) -> Result<u64, TableError> {
        self.flush_batch()?;
        let path = self.path.clone();
        let file = match self.sink {
            Sink::Parquet(writer) => writer
                .into_inner()
                .map_err(|error| parquet_error(&path, &error))?,
            Sink::Csv(writer) => writer
                .into_inner()
                .map_err(|error| csv_error(&path, csv::Error::from(error.into_error())))?,
        };
        file.commit()?;
        Ok(self.rows_written)
    }
}

fn parquet_error(path: &Path, error: &dyn std::error::Error) -> TableError {
    TableError::Parquet {
        path: path.to_path_buf(),
        message: hounsfield_dicom::error_chain(error),
    }
}

fn csv_error(path: &Path, source: csv::Error) -> TableError {
    TableError::Csv {
        path: path.to_path_buf(),
        source,
    }
}

/// Formats a cell for CSV: empty for null, `true`/`false` for booleans, and
/// the shortest text that reads back as the same float.
fn csv_field(cell: Cell) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Int(value) => value.to_string(),
        Cell::Float(value) => value.to_string(),
        Cell::Bool(value) => value.to_string(),
        Cell::Text(value) => value,
    }
}

fn record_batch(
    schema: &SchemaRef,
    columns: &[Column],
    rows: &[RowData],
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|column| {
            let cells = rows.iter().map(|row| column.value(row));
            let array: ArrayRef = match column.kind {
                Kind::Int32 => Arc::new(Int32Array::from_iter(cells.map(|cell| match cell {
                    Cell::Int(value) => i32::try_from(value).ok(),
                    _ => None,
                }))),
                Kind::Int64 => Arc::new(Int64Array::from_iter(cells.map(|cell| match cell {
                    Cell::Int(value) => Some(value),
                    _ => None,
                }))),
                Kind::Float64 => Arc::new(Float64Array::from_iter(cells.map(|cell| match cell {
                    Cell::Float(value) => Some(value),
                    Cell::Int(value) => Some(value as f64),
                    _ => None,
                }))),
                Kind::Bool => Arc::new(BooleanArray::from_iter(cells.map(|cell| match cell {
                    Cell::Bool(value) => Some(value),
                    _ => None,
                }))),
                Kind::Text => Arc::new(StringArray::from_iter(cells.map(|cell| match cell {
                    Cell::Text(value) => Some(value),
                    _ => None,
                }))),
            };
            array
        })
        .collect();
    RecordBatch::try_new(schema.clone(), arrays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/t.parquet")).unwrap(),
            Format::Parquet
        );
        assert_eq!(Format::from_path(Path::new("t.CSV")).unwrap(), Format::Csv);
        let error = Format::from_path(Path::new("t.xlsx"))
            .unwrap_err()
            .to_string();
        assert!(error.contains(".parquet or .csv"), "{error}");
    }

    #[test]
    fn csv_fields_are_plain_text() {
        assert_eq!(csv_field(Cell::Null), "");
        assert_eq!(csv_field(Cell::Float(-1024.0)), "-1024");
        assert_eq!(csv_field(Cell::Float(0.1)), "0.1");
        assert_eq!(csv_field(Cell::Bool(true)), "true");
        assert_eq!(csv_field(Cell::Int(7)), "7");
    }
}
