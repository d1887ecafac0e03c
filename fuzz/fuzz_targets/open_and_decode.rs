//! Feeds arbitrary bytes through the path every input file takes: recognise
//! and open the file, read the Image Pixel Module, then decode and apply the
//! Modality LUT or colour conversion to each frame, as `convert` does.
//!
//! `open` reads from a path (it maps the file), so each input is written to
//! one temporary file per process first.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hounsfield_dicom::{open, ImageMetadata, OpenOptions};
use hounsfield_pixel::{read_frame, DecodeLimits, PixelDescription};
use libfuzzer_sys::fuzz_target;

/// Frame limit of the target: 16 MiB of stored samples. Real files stay
/// far below the 1 GiB default, and a small limit keeps each run fast.
const MAX_FRAME_BYTES: u64 = 16 << 20;

fn input_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("hounsfield-fuzz-{}.dcm", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = input_path();
    std::fs::write(path, data).expect("write the fuzz input to a temporary file");
    for stop_before_pixel_data in [true, false] {
        let options = OpenOptions {
            stop_before_pixel_data,
            lenient_framing: true,
        };
        let Ok(file) = open(path, &options) else {
            return;
        };
        let mut findings = Vec::new();
        let _ = ImageMetadata::read(file.dataset(), file.transfer_syntax(), &mut findings);
        if stop_before_pixel_data {
            continue;
        }
        let Ok(description) = PixelDescription::read(file.dataset(), &mut findings) else {
            return;
        };
        let limits = DecodeLimits {
            max_frame_bytes: MAX_FRAME_BYTES,
        };
        // Like the pipeline, stop at the first frame that fails.
        for frame in 0..description.frames {
            if read_frame(&file, &description, frame, &limits, &mut findings).is_err() {
                break;
            }
        }
    }
});
