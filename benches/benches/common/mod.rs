//! Fixture files and decoded frames shared by the bench targets.

// Each bench target compiles this module and uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hounsfield_dicom::{open, DicomFile, OpenOptions};
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, PixelDescription};

/// The CT slice used wherever one image stands for the CT series: 512 x 512,
/// 16-bit signed, explicit VR little endian, Window Center 35, Width 100.
pub const CT_SLICE: &str = "dcm_qa_ct/GE_12.dcm";

/// Returns the path of a file under `fixtures/dicom`.
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/dicom")
        .join(relative)
}

/// Returns the folder of the CT series (six slices).
pub fn ct_series_dir() -> PathBuf {
    fixture("dcm_qa_ct")
}

/// Returns the total size in bytes of the files in `dir`, not recursing.
pub fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("the fixture folder is readable")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.metadata().ok())
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len())
        .sum()
}

/// Opens a fixture with its Pixel Data.
pub fn open_fixture(relative: &str) -> DicomFile {
    let options = OpenOptions {
        stop_before_pixel_data: false,
        lenient_framing: true,
    };
    open(&fixture(relative), &options)
        .unwrap_or_else(|error| panic!("cannot open fixture {relative}: {error}"))
}

/// Reads the Image Pixel Module of an opened fixture.
pub fn describe(file: &DicomFile) -> PixelDescription {
    PixelDescription::read(file.dataset(), &mut Vec::new())
        .unwrap_or_else(|error| panic!("invalid Image Pixel Module: {error}"))
}

/// Decodes frame 0 of a fixture to modality values.
pub fn frame_of(relative: &str) -> FrameImage {
    let file = open_fixture(relative);
    let description = describe(&file);
    read_frame(
        &file,
        &description,
        0,
        &DecodeLimits::default(),
        &mut Vec::new(),
    )
    .unwrap_or_else(|error| panic!("cannot decode {relative}: {error}"))
}

/// Returns a temporary folder on tmpfs when `/dev/shm` exists, so that
/// write benchmarks measure the encoder and not the disk.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().expect("a temporary folder can be created")
}
