//! Tables written from the fixtures and read back with the Parquet reader
//! and as CSV text.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{
    Array, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::DataType;
use hounsfield_table::{write_table, TableError, TableOptions, WindowRange, BATCH_ROWS};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

fn options(inputs: &[&str], output: &Path) -> TableOptions {
    TableOptions {
        inputs: inputs.iter().map(|relative| fixture(relative)).collect(),
        output: output.to_path_buf(),
        frames: false,
        pixel_stats: false,
        window_fraction: None,
        patient_attributes: false,
        window_columns: 3,
        jobs: Some(2),
    }
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = File::open(path).expect("open table");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("Parquet reader")
        .build()
        .expect("batches");
    let batches: Vec<RecordBatch> = reader.map(|batch| batch.expect("batch")).collect();
    arrow_select_concat(&batches)
}

/// Joins batches by rebuilding each column from its rows (tests only hold
/// a few rows, so this stays small).
fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
    assert!(!batches.is_empty(), "no batches");
    if batches.len() == 1 {
        return batches[0].clone();
    }
    let schema = batches[0].schema();
    let columns = (0..schema.fields().len())
        .map(|index| {
            let arrays: Vec<&dyn Array> =
                batches.iter().map(|b| b.column(index).as_ref()).collect();
            arrow_array_concat(&arrays)
        })
        .collect();
    RecordBatch::try_new(schema, columns).expect("joined batch")
}

fn arrow_array_concat(arrays: &[&dyn Array]) -> arrow_array::ArrayRef {
    use std::sync::Arc;
    match arrays[0].data_type() {
        DataType::Utf8 => Arc::new(StringArray::from_iter(arrays.iter().flat_map(|a| {
            let a = a.as_any().downcast_ref::<StringArray>().unwrap();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i).to_string()))
        }))),
        other => panic!("concat of {other} not needed in these tests"),
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap_or_else(|| panic!("column {name} has another type"))
}

fn row_of(batch: &RecordBatch, file_name: &str) -> usize {
    let paths = column::<StringArray>(batch, "path");
    (0..batch.num_rows())
        .find(|&row| paths.value(row).ends_with(file_name))
        .unwrap_or_else(|| panic!("no row for {file_name}"))
}

fn oracle_frame(relative: &str, frame: usize) -> Value {
    let text = std::fs::read_to_string(fixture("oracle/pydicom.json")).expect("oracle");
    let oracle: Value = serde_json::from_str(&text).expect("oracle JSON");
    oracle["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|entry| entry["path"] == relative)
        .unwrap_or_else(|| panic!("{relative} not in the oracle"))["frames"][frame]
        .clone()
}

#[test]
fn parquet_columns_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("table.parquet");
    let summary = write_table(
        &options(
            &[
                "dicom/pydicom/CT_small.dcm",
                "synthetic/g07_two_windows.dcm",
            ],
            &output,
        ),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(summary.rows, 2);
    assert_eq!(summary.files, 2);
    let batch = read_parquet(&output);
    let schema = batch.schema();
    let kind = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(kind("path"), DataType::Utf8);
    assert_eq!(kind("rows"), DataType::Int32);
    assert_eq!(kind("file_size"), DataType::Int64);
    assert_eq!(kind("rescale_intercept"), DataType::Float64);
    assert_eq!(kind("pixel_spacing_row"), DataType::Float64);
    assert_eq!(kind("window_multi_valued"), DataType::Boolean);
    for identifying in [
        "patient_name",
        "patient_id",
        "patient_birth_date",
        "accession_number",
    ] {
        assert!(
            schema.field_with_name(identifying).is_err(),
            "{identifying}"
        );
    }

    // pydicom: CT_small has Rows 128, RescaleIntercept -1024, PixelSpacing
    // [0.661468, 0.661468], ImagePositionPatient z -75.699997, no window.
    let ct = row_of(&batch, "CT_small.dcm");
    assert_eq!(column::<Int32Array>(&batch, "rows").value(ct), 128);
    assert_eq!(
        column::<Float64Array>(&batch, "rescale_intercept").value(ct),
        -1024.0
    );
    assert_eq!(
        column::<Float64Array>(&batch, "pixel_spacing_row").value(ct),
        0.661468
    );
    assert_eq!(
        column::<Float64Array>(&batch, "image_position_z").value(ct),
        -75.699997
    );
    assert_eq!(column::<StringArray>(&batch, "modality").value(ct), "CT");
    assert!(column::<Int32Array>(&batch, "window_count").is_null(ct));
    assert!(!column::<BooleanArray>(&batch, "window_multi_valued").value(ct));
    assert!(column::<Float64Array>(&batch, "window_center_1").is_null(ct));
    assert!(column::<BooleanArray>(&batch, "lossy_image_compression").is_null(ct));
    let size = std::fs::metadata(fixture("dicom/pydicom/CT_small.dcm"))
        .unwrap()
        .len();
    assert_eq!(
        column::<Int64Array>(&batch, "file_size").value(ct),
        size as i64
    );

    // G-07: WC 40\300, WW 80\1500.
    let windows = row_of(&batch, "g07_two_windows.dcm");
    assert_eq!(
        column::<Int32Array>(&batch, "window_count").value(windows),
        2
    );
    assert!(column::<BooleanArray>(&batch, "window_multi_valued").value(windows));
    assert_eq!(
        column::<Float64Array>(&batch, "window_center_1").value(windows),
        40.0
    );
    assert_eq!(
        column::<Float64Array>(&batch, "window_center_2").value(windows),
        300.0
    );
    assert_eq!(
        column::<Float64Array>(&batch, "window_width_2").value(windows),
        1500.0
    );
    assert!(column::<Float64Array>(&batch, "window_center_3").is_null(windows));
}

#[test]
fn pixel_statistics_match_pydicom_and_skip_padding() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("stats.parquet");
    let mut options = options(
        &[
            "dicom/pydicom/CT_small.dcm",
            "synthetic/g18_padding_value.dcm",
        ],
        &output,
    );
    options.pixel_stats = true;
    options.window_fraction = Some(WindowRange {
        center: -512.0,
        width: 1024.0,
    });
    write_table(&options, |_, _| {}).unwrap();
    let batch = read_parquet(&output);

    let ct = row_of(&batch, "CT_small.dcm");
    let expected = oracle_frame("dicom/pydicom/CT_small.dcm", 0);
    for (name, key) in [
        ("pixel_min", "min"),
        ("pixel_max", "max"),
        ("pixel_mean", "mean"),
        ("pixel_std", "std"),
    ] {
        let got = column::<Float64Array>(&batch, name).value(ct);
        let want = expected[key].as_f64().unwrap();
        assert!((got - want).abs() < 1e-6, "{name}: {got} vs pydicom {want}");
    }
    assert_eq!(
        column::<Int64Array>(&batch, "pixel_count").value(ct),
        128 * 128
    );

    // G-18: the 12 border pixels are padding; the inner 2x2 is HU [0, -1024, 0, -1024],
    // and all four lie in [-1024, 0].
    let padded = row_of(&batch, "g18_padding_value.dcm");
    assert_eq!(
        column::<Float64Array>(&batch, "pixel_min").value(padded),
        -1024.0
    );
    assert_eq!(
        column::<Float64Array>(&batch, "pixel_max").value(padded),
        0.0
    );
    assert_eq!(
        column::<Float64Array>(&batch, "pixel_mean").value(padded),
        -512.0
    );
    assert_eq!(column::<Int64Array>(&batch, "pixel_count").value(padded), 4);
    assert_eq!(
        column::<Float64Array>(&batch, "window_fraction").value(padded),
        1.0
    );
}

#[test]
fn one_row_per_frame_reads_functional_groups() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("frames.parquet");
    let mut options = options(&["dicom/pydicom-data/eCT_Supplemental.dcm"], &output);
    options.frames = true;
    options.pixel_stats = true;
    let summary = write_table(&options, |_, _| {}).unwrap();
    assert_eq!(summary.rows, 2);
    let batch = read_parquet(&output);
    let frames = column::<Int32Array>(&batch, "frame");
    assert_eq!((frames.value(0), frames.value(1)), (0, 1));
    // The enhanced CT keeps its rescale in the shared functional groups.
    assert!(column::<Float64Array>(&batch, "rescale_slope").is_valid(0));
    assert!(column::<Float64Array>(&batch, "pixel_spacing_row").is_valid(0));
    for frame in 0..2 {
        let expected = oracle_frame("dicom/pydicom-data/eCT_Supplemental.dcm", frame);
        let mean = column::<Float64Array>(&batch, "pixel_mean").value(frame);
        let want = expected["mean"].as_f64().unwrap();
        assert!(
            (mean - want).abs() < 1e-6,
            "frame {frame}: {mean} vs pydicom {want}"
        );
    }
}

#[test]
fn csv_has_a_header_and_empty_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("table.csv");
    let mut options = options(&["dicom/pydicom/CT_small.dcm"], &output);
    options.patient_attributes = true;
    write_table(&options, |_, _| {}).unwrap();
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(lines.next(), None);
    let field = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(field("rows"), "128");
    assert_eq!(field("rescale_intercept"), "-1024");
    assert_eq!(field("pixel_spacing_column"), "0.661468");
    assert_eq!(field("window_center_1"), "");
    assert_eq!(field("window_multi_valued"), "false");
    assert_eq!(field("patient_name"), "CompressedSamples^CT1");
    assert_eq!(field("patient_birth_date"), "");
}

#[test]
fn many_rows_span_several_batches() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("many.parquet");
    let count = BATCH_ROWS + 76;
    let mut options = options(&[], &output);
    options.inputs = vec![fixture("dicom/pydicom/CT_small.dcm"); count];
    let summary = write_table(&options, |_, _| {}).unwrap();
    assert_eq!(summary.rows, count as u64);
    let file = File::open(&output).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(builder.metadata().file_metadata().num_rows(), count as i64);
}

#[test]
fn unsupported_extension_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("table.xlsx");
    let error = write_table(
        &options(&["dicom/pydicom/CT_small.dcm"], &output),
        |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(error, TableError::UnsupportedFormat { .. }),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn unreadable_files_are_counted_without_rows() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("t.parquet");
    let summary = write_table(
        &options(&["dicom/broken", "dicom/not-dicom"], &output),
        |_, _| {},
    )
    .unwrap();
    // The truncated-header file cannot be read; the truncated-pixels file
    // still gives its header row.
    assert_eq!(summary.failed, 1);
    assert_eq!(summary.rows, 1);
    assert_eq!(summary.skipped, 2);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["t.parquet"], "no temporary file is left");
}
