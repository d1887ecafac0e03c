//! `hounsfield inspect` and `hounsfield validate` run as a user runs them.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn fixture(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
        .display()
        .to_string()
}

fn hounsfield(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hounsfield"))
        .args(args)
        .output()
        .expect("run hounsfield")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

// The expected values below are pydicom 3.0.2's:
// `pydicom.dcmread("fixtures/dicom/pydicom/CT_small.dcm", stop_before_pixels=True)`
// gives file_meta.TransferSyntaxUID 1.2.840.10008.1.2.1, PatientName
// CompressedSamples^CT1, Rows 128, RescaleIntercept -1024, ImagePositionPatient
// [-158.135803, -179.035797, -75.699997], OtherPatientIDsSequence[1].PatientID
// 1234ABCD and 256 data elements; `to_json_dict()` gives the JSON values.

#[test]
fn inspect_lists_ct_small_like_dcmdump() {
    let output = hounsfield(&["inspect", &fixture("dicom/pydicom/CT_small.dcm")]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let line = |start: &str| {
        text.lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting with {start:?} in\n{text}"))
            .to_string()
    };
    assert!(line("(0002,0010) UI [1.2.840.10008.1.2.1]").ends_with("#   20, 1 TransferSyntaxUID"));
    assert!(line("(0010,0010) PN [CompressedSamples^CT1]").ends_with("#   22, 1 PatientName"));
    assert!(line("(0028,0010) US 128").ends_with("#    2, 1 Rows"));
    assert!(line("(0028,1052) DS [-1024]").ends_with("RescaleIntercept"));
    assert!(
        line("(0020,0032) DS [-158.135803\\-179.035797\\-75.699997]")
            .contains(", 3 ImagePositionPatient")
    );
    // The second item of Other Patient IDs Sequence, indented two levels.
    assert!(text.contains("\n    (0010,0020) LO [1234ABCD]"), "{text}");
    // The `#` column is the same on short lines.
    assert_eq!(line("(0028,0010) US 128").find('#'), Some(56));
    assert!(
        !text.lines().any(|line| line.starts_with("(7FE0,0010)")),
        "Pixel Data must not be listed"
    );
    assert!(text.ends_with("pixels and later elements are not listed\n"));
}

#[test]
fn inspect_json_follows_the_dicom_json_model() {
    let output = hounsfield(&["inspect", "--json", &fixture("dicom/pydicom/CT_small.dcm")]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert_eq!(text.lines().count(), 1, "one JSON line per file");
    let line: Value = serde_json::from_str(text.trim()).expect("JSON line");
    assert!(line["path"].as_str().unwrap().ends_with("CT_small.dcm"));

    let dataset = line["dataset"].as_object().expect("dataset object");
    let data_elements = dataset
        .keys()
        .filter(|key| !key.starts_with("0002"))
        .count();
    assert_eq!(data_elements, 256);
    assert!(!dataset.contains_key("7FE00010"));

    assert_eq!(
        dataset["00100010"],
        json!({"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^CT1"}]})
    );
    assert_eq!(
        dataset["00280030"],
        json!({"vr": "DS", "Value": [0.661468, 0.661468]})
    );
    assert_eq!(dataset["00200013"], json!({"vr": "IS", "Value": [1]}));
    assert_eq!(dataset["00280010"], json!({"vr": "US", "Value": [128]}));
    assert_eq!(dataset["00180060"], json!({"vr": "DS", "Value": [120.0]}));
    assert_eq!(
        dataset["00091027"],
        json!({"vr": "SL", "Value": [862399669]})
    );
    assert_eq!(
        dataset["00101002"]["Value"][1]["00100020"],
        json!({"vr": "LO", "Value": ["1234ABCD"]})
    );
    assert_eq!(
        dataset["00431028"]["InlineBinary"],
        "Q1QwMQAAAEhpU3BlZWQgQ1QvaQAwNTA1ejo9fAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    );
    assert_eq!(
        dataset["00020010"],
        json!({"vr": "UI", "Value": ["1.2.840.10008.1.2.1"]})
    );
}

#[test]
fn inspect_unreadable_file_exits_one() {
    let output = hounsfield(&[
        "inspect",
        &fixture("dicom/not-dicom/readme.txt"),
        &fixture("dicom/pydicom/MR_small.dcm"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("(0008,0060) CS [MR]"));
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("not a DICOM file"), "{errors}");
}

#[test]
fn inspect_without_files_is_a_usage_error() {
    assert_eq!(hounsfield(&["inspect"]).status.code(), Some(2));
}

#[test]
fn validate_clean_file_exits_zero() {
    let output = hounsfield(&["validate", &fixture("dicom/pydicom/CT_small.dcm")]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
}

#[test]
fn validate_errors_exit_one_with_json_lines() {
    let output = hounsfield(&[
        "validate",
        "--json",
        &fixture("synthetic/bad_g03_pixel_data_14_bytes.dcm"),
        &fixture("synthetic/val_series_duplicates_1.dcm"),
        &fixture("synthetic/val_series_duplicates_3.dcm"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    let file = lines
        .iter()
        .find(|line| line["code"] == "pixel-data-too-short")
        .expect("pixel length finding");
    assert_eq!(file["scope"], "file");
    assert_eq!(file["severity"], "error");
    assert_eq!(file["keyword"], "PixelData");
    assert_eq!(file["tag"], "(7FE0,0010)");
    assert_eq!(file["value"], "14 bytes");
    assert_eq!(file["expected"], "15 bytes");
    let series = lines
        .iter()
        .find(|line| line["code"] == "duplicate-sop-instance-uid")
        .expect("series finding");
    assert_eq!(series["scope"], "series");
    assert_eq!(series["paths"].as_array().map(Vec::len), Some(2));
    assert!(series["series_instance_uid"].as_str().is_some());
}

#[test]
fn validate_named_non_dicom_file_is_an_error() {
    let output = hounsfield(&["validate", &fixture("dicom/not-dicom/random.bin")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("error   not-dicom"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn validate_missing_input_is_a_usage_error() {
    let output = hounsfield(&["validate", "/nonexistent/hounsfield-input"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(hounsfield(&["validate"]).status.code(), Some(2));
}

#[test]
fn validate_min_severity_hides_warnings() {
    let output = hounsfield(&[
        "validate",
        "--min-severity",
        "error",
        &fixture("synthetic/val_burned_in_annotation.dcm"),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout(&output), "");
}
