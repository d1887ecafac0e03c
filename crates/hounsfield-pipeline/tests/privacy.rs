//! De-identification of exported metadata and the Burned In Annotation policy.

use std::io::Read;
use std::path::{Path, PathBuf};

use hounsfield_pipeline::{convert, ConvertOptions};
use hounsfield_tensor::Recipe;
use serde_json::Value;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

fn run(inputs: Vec<PathBuf>, recipe: &str) -> (tempfile::TempDir, Vec<Value>, Vec<Value>) {
    let output = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        inputs,
        output: output.path().to_path_buf(),
        recipe: Recipe::from_yaml(recipe).unwrap(),
        jobs: Some(1),
        resume: false,
    };
    let mut entries = Vec::new();
    convert(&options, |entry| {
        entries.push(serde_json::to_value(entry).unwrap())
    })
    .unwrap();
    let mut samples = Vec::new();
    let shard_dir = output.path().join("shards");
    // The folder also contains index.json, which is not a tar file.
    for shard in std::fs::read_dir(&shard_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "tar"))
    {
        let mut archive = tar::Archive::new(std::fs::File::open(shard.path()).unwrap());
        for member in archive.entries().unwrap() {
            let mut member = member.unwrap();
            if member
                .path()
                .unwrap()
                .extension()
                .is_some_and(|ext| ext == "json")
            {
                let mut text = String::new();
                member.read_to_string(&mut text).unwrap();
                samples.push(serde_json::from_str(&text).unwrap());
            }
        }
    }
    (output, entries, samples)
}

#[test]
fn burned_in_annotation_is_excluded_by_default() {
    let input = fixture("synthetic/val_burned_in_annotation.dcm");
    let (_out, entries, samples) = run(vec![input.clone()], "channels: [modality]\n");
    assert_eq!(entries[0]["status"], "skipped");
    let reason = entries[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Burned In Annotation (0028,0301)"),
        "{reason}"
    );
    assert!(samples.is_empty());

    let (_out, entries, samples) = run(
        vec![input],
        "channels: [modality]\nprivacy: {burned_in_annotation: keep}\n",
    );
    assert_eq!(entries[0]["status"], "ok");
    let codes: Vec<&str> = samples[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|finding| finding["code"].as_str())
        .collect();
    assert!(codes.contains(&"burned-in-annotation"), "{codes:?}");
}

#[test]
fn uids_are_replaced_consistently_with_a_key() {
    // SAFETY of the test: the variable name is unique to this test.
    std::env::set_var("HOUNSFIELD_TEST_UID_KEY", "test-secret");
    let inputs = vec![fixture("dicom/dcm_qa_ct")];
    let recipe = "channels: [modality]\nprivacy: {uid_key_env: HOUNSFIELD_TEST_UID_KEY}\n";
    let (_out, _, samples) = run(inputs.clone(), recipe);
    let (_out, _, plain) = run(inputs, "channels: [modality]\n");
    assert_eq!(samples.len(), plain.len());
    let series: std::collections::BTreeSet<&str> = samples
        .iter()
        .map(|sample| sample["series_instance_uid"].as_str().unwrap())
        .collect();
    // One series in the source gives one replacement UID.
    assert_eq!(series.len(), 1, "{series:?}");
    for (replaced, original) in samples.iter().zip(&plain) {
        let new_uid = replaced["sop_instance_uid"].as_str().unwrap();
        let old_uid = original["sop_instance_uid"].as_str().unwrap();
        assert_ne!(new_uid, old_uid);
        assert!(new_uid.starts_with("2.25."), "{new_uid}");
        assert_eq!(
            replaced["dicom"]["sop_instance_uid"].as_str(),
            Some(new_uid)
        );
        let record = &replaced["deidentification"];
        assert_eq!(record["patient_identity_removed"], "YES");
        let codes: Vec<&str> = record["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|code| code["code"].as_str().unwrap())
            .collect();
        assert!(
            codes.contains(&"113100") && !codes.contains(&"113110"),
            "{codes:?}"
        );
    }
}

#[test]
fn missing_key_variable_is_a_settings_error() {
    let output = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        inputs: vec![fixture("dicom/dcm_qa_nih")],
        output: output.path().to_path_buf(),
        recipe: Recipe::from_yaml(
            "channels: [modality]\nprivacy: {uid_key_env: HOUNSFIELD_TEST_UNSET_VARIABLE}\n",
        )
        .unwrap(),
        jobs: Some(1),
        resume: false,
    };
    let error = convert(&options, |_| {}).unwrap_err().to_string();
    assert!(error.contains("HOUNSFIELD_TEST_UNSET_VARIABLE"), "{error}");
}

#[test]
fn no_dates_without_a_date_key() {
    let (_out, entries, samples) = run(
        vec![fixture("dicom/pydicom/CT_small.dcm")],
        "channels: [modality]\n",
    );
    assert_eq!(entries[0]["status"], "ok");
    // CT_small.dcm's Study Date is 20040119 (pydicom: dcmread(...).StudyDate).
    // Its UIDs embed the date too, which is why the record lists the Retain
    // UIDs Option (113110) when no UID key is given; look outside them.
    let mut sample = samples[0].clone();
    for field in ["sop_instance_uid", "series_instance_uid", "source"] {
        sample[field] = Value::Null;
    }
    for field in [
        "sop_instance_uid",
        "series_instance_uid",
        "study_instance_uid",
        "frame_of_reference_uid",
    ] {
        sample["dicom"][field] = Value::Null;
    }
    let text = sample.to_string();
    assert!(!text.contains("20040119"), "{text}");
    assert!(samples[0]["dicom"].get("study_date_shifted").is_none());
}

#[test]
fn study_date_is_shifted_with_a_date_key() {
    std::env::set_var("HOUNSFIELD_TEST_DATE_KEY", "date-secret");
    let (_out, _, samples) = run(
        vec![fixture("dicom/pydicom/CT_small.dcm")],
        "channels: [modality]\nprivacy: {date_shift_key_env: HOUNSFIELD_TEST_DATE_KEY}\n",
    );
    let shifted = samples[0]["dicom"]["study_date_shifted"].as_str().unwrap();
    assert_eq!(shifted.len(), 8);
    assert_ne!(shifted, "20040119");
    let codes = samples[0]["deidentification"]["codes"].to_string();
    assert!(codes.contains("113107"), "{codes}");
}
