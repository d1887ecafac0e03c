//! Opening real and broken fixture files.

use std::path::{Path, PathBuf};

use hounsfield_dicom::{attr, open, tags, Framing, OpenOptions};

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

const FULL: OpenOptions = OpenOptions {
    stop_before_pixel_data: false,
    lenient_framing: true,
};
const HEADER: OpenOptions = OpenOptions {
    stop_before_pixel_data: true,
    lenient_framing: true,
};

#[test]
fn truncated_pixel_data_fails_full_read_but_header_reads() {
    // The file is CT_small.dcm cut inside Pixel Data: 32768 bytes declared at
    // byte 5964, 16384 present (counted from the fixture's size).
    let path = fixture("dicom/broken/CT_small_truncated_pixels.dcm");
    let error = open(&path, &FULL).unwrap_err().to_string();
    assert!(error.contains("CT_small_truncated_pixels.dcm"), "{error}");
    assert!(error.contains("(7FE0,0010)"), "{error}");
    assert!(error.contains("declares 32768 value bytes"), "{error}");
    let header = open(&path, &HEADER).unwrap();
    // Rows of CT_small.dcm is 128 (pydicom: dcmread("CT_small.dcm").Rows).
    assert_eq!(
        attr::integer(header.dataset(), tags::ROWS).unwrap(),
        Some(128)
    );
    assert!(header.object.get(tags::PIXEL_DATA).is_none());
}

#[test]
fn truncated_header_names_the_element() {
    let path = fixture("dicom/broken/CT_small_truncated_header.dcm");
    let error = open(&path, &HEADER).unwrap_err().to_string();
    assert!(error.contains("(0020,0032)"), "{error}");
    assert!(error.contains("ImagePositionPatient"), "{error}");
}

#[test]
fn corrupt_length_is_rejected_before_allocation() {
    // UN_sequence.dcm holds a private UN element of undefined length, which
    // the parser cannot read; the check rejects it by name instead of letting
    // the parser misread its items and allocate gigabytes.
    let path = fixture("dicom/pydicom/UN_sequence.dcm");
    let message = open(&path, &FULL).unwrap_err().to_string();
    assert!(message.contains("UN_sequence.dcm"), "{message}");
    assert!(
        message.contains("UN element of undefined length"),
        "{message}"
    );
    let mut bytes = std::fs::read(fixture("dicom/pydicom/CT_small.dcm")).unwrap();
    // Corrupt the length of the first data set element after the meta group
    // so that it claims 0xE0000000 bytes.
    let dir = tempfile::tempdir().unwrap();
    let meta_end = {
        let mut at = 132;
        while u16::from_le_bytes([bytes[at], bytes[at + 1]]) == 0x0002 {
            let vr = &bytes[at + 4..at + 6];
            let long = matches!(vr, b"OB" | b"UN" | b"UT" | b"SQ" | b"OW");
            at += if long {
                12 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize
            } else {
                8 + u16::from_le_bytes([bytes[at + 6], bytes[at + 7]]) as usize
            };
        }
        at
    };
    // The first data set element of CT_small.dcm is (0008,0005) CS; give it
    // the long form's maximum by rewriting it as UT with a huge length.
    bytes[meta_end + 4..meta_end + 6].copy_from_slice(b"UT");
    bytes.splice(meta_end + 6..meta_end + 8, [0, 0, 0, 0, 0, 0xE0]);
    let path = dir.path().join("huge.dcm");
    std::fs::write(&path, &bytes).unwrap();
    let error = open(&path, &HEADER).unwrap_err().to_string();
    assert!(error.contains("declares 3758096384 value bytes"), "{error}");
}

#[test]
fn bare_data_sets_open_leniently() {
    let path = fixture("synthetic/g01a_implicit_no_preamble.dcm");
    let file = open(&path, &FULL).unwrap();
    assert!(matches!(
        file.framing,
        Framing::MissingFileMeta { offset: 0, .. }
    ));
    let strict = OpenOptions {
        stop_before_pixel_data: false,
        lenient_framing: false,
    };
    let error = open(&path, &strict).unwrap_err().to_string();
    assert!(error.contains("not a Part 10 file"), "{error}");
}
