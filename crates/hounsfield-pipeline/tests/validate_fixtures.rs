//! `validate` over the whole `fixtures/` folder: the expected findings on
//! the malformed files, and no error on the real files that are valid.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use hounsfield_dicom::validate::SeriesReport;
use hounsfield_dicom::{Finding, Severity};
use hounsfield_pipeline::validate::{validate, ValidateOptions, ValidateSummary};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

struct Run {
    /// Findings by path relative to `fixtures/`.
    files: BTreeMap<String, Vec<Finding>>,
    summary: ValidateSummary,
}

/// Validates `fixtures/` once for all tests.
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let root = fixtures();
        let prefix = format!("{}/", root.display());
        let options = ValidateOptions {
            inputs: vec![root.clone()],
            decode_pixels: true,
            jobs: Some(2),
        };
        let mut files = BTreeMap::new();
        let summary = validate(&options, |report| {
            let relative = report.path.strip_prefix(&prefix).unwrap_or(&report.path);
            files.insert(relative.to_string(), report.findings.clone());
        })
        .expect("validate fixtures/");
        Run { files, summary }
    })
}

fn findings(relative: &str) -> &'static [Finding] {
    run()
        .files
        .get(relative)
        .unwrap_or_else(|| panic!("{relative} was not validated"))
}

fn codes(relative: &str) -> Vec<(&'static str, Severity)> {
    findings(relative)
        .iter()
        .map(|finding| (finding.code, finding.severity))
        .collect()
}

fn series_of(file_name: &str) -> &'static SeriesReport {
    run()
        .summary
        .series
        .iter()
        .find(|series| {
            series
                .findings
                .iter()
                .any(|f| f.paths.iter().any(|path| path.ends_with(file_name)))
        })
        .unwrap_or_else(|| panic!("no series finding names {file_name}"))
}

use Severity::{Error, Info, Warning};

#[test]
fn malformed_files_get_their_findings() {
    let cases: &[(&str, &[(&str, Severity)])] = &[
        (
            "synthetic/bad_g03_pixel_data_14_bytes.dcm",
            &[("pixel-data-too-short", Error)],
        ),
        (
            "synthetic/g03_pixel_data_15_bytes.dcm",
            &[("pixel-data-odd-length", Warning)],
        ),
        (
            "synthetic/g03_pixel_data_20_bytes.dcm",
            &[("pixel-data-excess", Warning)],
        ),
        ("synthetic/g03_pixel_data_16_bytes.dcm", &[]),
        (
            "synthetic/g05_bits_above_bits_stored.dcm",
            &[("bits-outside-bits-stored", Warning)],
        ),
        (
            "synthetic/g06_slice_3.dcm",
            &[("implausible-modality-values", Warning)],
        ),
        (
            "synthetic/g07_window_count_mismatch.dcm",
            &[("window-count-mismatch", Warning)],
        ),
        ("synthetic/g07_two_windows.dcm", &[]),
        (
            "synthetic/g08_monochrome1_window.dcm",
            &[("monochrome1", Info)],
        ),
        (
            "synthetic/g06_dx_no_rescale.dcm",
            &[("for-presentation", Info)],
        ),
        (
            "synthetic/g01a_implicit_no_preamble.dcm",
            &[("missing-file-meta", Warning)],
        ),
        ("synthetic/g18_padding_value.dcm", &[]),
        (
            "synthetic/val_lossy_image_compression.dcm",
            &[("lossy-image-compression", Warning)],
        ),
        (
            "synthetic/val_burned_in_annotation.dcm",
            &[("burned-in-annotation", Warning)],
        ),
        (
            "synthetic/val_malformed_values.dcm",
            &[
                ("malformed-ui", Warning),
                ("malformed-ds", Error),
                ("malformed-ds", Warning),
                ("malformed-is", Warning),
            ],
        ),
        (
            "synthetic/val_rescale_type_us.dcm",
            &[("rescale-type-not-hu", Warning)],
        ),
        (
            "synthetic/val_for_processing.dcm",
            &[("for-processing", Warning)],
        ),
        (
            "synthetic/val_wrapped_12_bit_ct.dcm",
            &[
                ("implausible-modality-values", Warning),
                ("wrapped-12-bit-ct", Warning),
            ],
        ),
        (
            "synthetic/bad_val_bits_stored_above_allocated.dcm",
            &[
                ("bits-stored-out-of-range", Error),
                ("high-bit-out-of-range", Error),
            ],
        ),
        (
            "synthetic/val_rgb_no_planar_configuration.dcm",
            &[("missing-planar-configuration", Warning)],
        ),
        (
            "dicom/broken/CT_small_truncated_header.dcm",
            &[("unreadable-file", Error)],
        ),
        (
            "dicom/broken/CT_small_truncated_pixels.dcm",
            &[("pixel-data-unreadable", Error)],
        ),
        (
            "dicom/pydicom/badVR.dcm",
            &[("malformed-is", Error), ("malformed-ui", Warning)],
        ),
    ];
    for (file, expected) in cases {
        assert_eq!(&codes(file), expected, "{file}");
    }
}

#[test]
fn malformed_values_name_attribute_and_value() {
    let found = findings("synthetic/val_malformed_values.dcm");
    let thickness = found
        .iter()
        .find(|f| f.keyword == Some("SliceThickness"))
        .expect("Slice Thickness finding");
    assert_eq!(thickness.tag.as_deref(), Some("(0018,0050)"));
    assert_eq!(thickness.value.as_deref(), Some("2.5mm"));
    assert!(thickness.expected.is_some());
    let uid = found
        .iter()
        .find(|f| f.code == "malformed-ui")
        .expect("UI finding");
    assert!(
        uid.message.starts_with("in ReferencedImageSequence[0]: "),
        "{}",
        uid.message
    );
}

#[test]
fn wrapped_ct_reports_the_share_of_pixels() {
    let found = findings("synthetic/val_wrapped_12_bit_ct.dcm");
    // 8 of the 16 stored values are 3096, i.e. 3096 HU with intercept 0.
    assert!(
        found[0]
            .message
            .starts_with("8 of 16 non-padding pixels (50.00%)"),
        "{}",
        found[0].message
    );
    assert_eq!(found[1].value.as_deref(), Some("0"));
}

#[test]
fn padding_is_left_out_of_implausible_values() {
    // G-18: the border is -2000 + -1024 = -3024 HU but is Pixel Padding.
    assert!(codes("synthetic/g18_padding_value.dcm").is_empty());
}

#[test]
fn series_duplicates_are_found() {
    let series = series_of("val_series_duplicates_3.dcm");
    assert_eq!(series.files, 3);
    let codes: Vec<_> = series.findings.iter().map(|f| f.finding.code).collect();
    assert_eq!(
        codes,
        ["duplicate-sop-instance-uid", "duplicate-image-position"]
    );
    let ends = |index: usize| -> Vec<&str> {
        series.findings[index]
            .paths
            .iter()
            .map(|path| path.rsplit('/').next().unwrap_or(path))
            .collect()
    };
    assert_eq!(
        ends(0),
        ["val_series_duplicates_1.dcm", "val_series_duplicates_3.dcm"]
    );
    assert_eq!(
        ends(1),
        ["val_series_duplicates_1.dcm", "val_series_duplicates_2.dcm"]
    );
    assert_eq!(series.findings[0].finding.severity, Error);
}

#[test]
fn series_inconsistencies_are_found() {
    let series = series_of("val_series_inconsistent_2.dcm");
    let codes: Vec<_> = series.findings.iter().map(|f| f.finding.code).collect();
    assert_eq!(
        codes,
        [
            "inconsistent-rows-columns",
            "inconsistent-image-orientation",
            "inconsistent-pixel-spacing"
        ]
    );
    for finding in &series.findings {
        assert_eq!(finding.paths.len(), 1);
        assert!(finding.paths[0].ends_with("val_series_inconsistent_2.dcm"));
    }
}

#[test]
fn valid_real_files_have_no_errors() {
    let good = [
        "dicom/dcm_qa_ct/GE_12.dcm",
        "dicom/dcm_qa_ct/GE_13.dcm",
        "dicom/dcm_qa_ct/GE_14.dcm",
        "dicom/dcm_qa_ct/GE_15.dcm",
        "dicom/dcm_qa_ct/GE_16.dcm",
        "dicom/dcm_qa_ct/GE_17.dcm",
        "dicom/pydicom/CT_small.dcm",
        "dicom/pydicom/MR_small.dcm",
        "dicom/pydicom/MR_small_implicit.dcm",
        "dicom/pydicom/MR_small_bigendian.dcm",
        "dicom/pydicom/MR_small_RLE.dcm",
        "dicom/pydicom/MR_small_jp2klossless.dcm",
        "dicom/pydicom/MR_small_jpeg_ls_lossless.dcm",
        "dicom/pydicom/JPEG2000.dcm",
        "dicom/pydicom/693_J2KI.dcm",
        "dicom/dcm_qa_nih/mr_0004/axial_epi_fmri_interleaved_i_to_s-00001.dcm",
        "dicom/pacs-export/STUDY1/SERIES4/IM0001",
        "dicom/deid-data/ctbrain1.dcm",
        "dicom/pydicom-data/eCT_Supplemental.dcm",
    ];
    for file in good {
        let errors: Vec<_> = findings(file)
            .iter()
            .filter(|f| f.severity == Error)
            .map(|f| f.code)
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
    // The real GE CT slices are clean: no finding at all.
    assert!(findings("dicom/dcm_qa_ct/GE_12.dcm").is_empty());
    assert!(findings("dicom/pydicom/CT_small.dcm").is_empty());
}

#[test]
fn files_that_are_not_dicom_are_skipped() {
    let run = run();
    assert!(!run.files.contains_key("dicom/not-dicom/readme.txt"));
    assert!(!run.files.contains_key("dicom/not-dicom/random.bin"));
    assert!(run.summary.skipped >= 2, "{}", run.summary.skipped);
    assert_eq!(run.summary.files, run.files.len());
    assert!(run.summary.errors > 0);
}
