//! Inputs under `fixtures/regressions/` that once made a conversion panic
//! or allocate gigabytes. Each must now fail as an ordinary per-file error
//! with the expected message, within a small memory budget.
//!
//! `fixtures/regressions/README.md` lists what each file triggered. Files
//! named `fuzz-*` come from `fuzz/run.sh` and only need to convert without a
//! caught panic; the others are listed in [`EXPECTED`] with the message they
//! must give.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hounsfield_dicom::{open, OpenOptions};
use hounsfield_pipeline::{convert, ConvertOptions, Status};
use hounsfield_pixel::{read_frame, DecodeLimits, PixelDescription};
use hounsfield_tensor::Recipe;

/// Hand-made reproducers and a part of the error each must give.
const EXPECTED: &[(&str, &str)] = &[
    (
        "nested_item_huge_length.dcm",
        "element (0040,A160) (TextValue) at byte 434: declares 2147483632 value bytes but only 6 remain in its item",
    ),
    (
        "rle_rows_mismatch.dcm",
        "frame 0: segment 0: a literal run at byte 5 runs past the segment end",
    ),
    (
        "jpeg2000_rows_mismatch.dcm",
        "frame 0: the codestream is 4x4 but Rows x Columns is 2x4",
    ),
];

/// Growth of peak resident memory allowed while all reproducers convert;
/// one of them once needed 2 GiB.
const MAX_PEAK_BYTES: u64 = 256 << 20;

static SERIAL: Mutex<()> = Mutex::new(());

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/regressions")
}

fn reproducers() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(regressions())
        .expect("fixtures/regressions")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "dcm"))
        .collect();
    files.sort();
    files
}

/// Reads a `/proc/self/status` field given in KiB, as bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets `VmHWM` through `/proc/self/clear_refs` (Linux 4.0 or later) and
/// returns `VmRSS`, from which [`peak_growth`] measures.
fn start_peak_measurement() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    status_bytes("VmRSS:")
}

/// Bytes by which the peak resident set size exceeded `start`.
fn peak_growth(start: Option<u64>) -> Option<u64> {
    Some(status_bytes("VmHWM:")?.saturating_sub(start?))
}

#[test]
fn every_hand_made_reproducer_is_present() {
    let files = reproducers();
    for (name, _) in EXPECTED {
        assert!(
            files.iter().any(|path| path.ends_with(name)),
            "{name} is missing; run fixtures/regressions/make_reproducers.py"
        );
    }
}

#[test]
fn reproducers_fail_as_file_errors() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let work = tempfile::tempdir().unwrap();
    let recipe = Recipe::from_yaml(
        "channels: [modality]\nexport:\n  shards: { png: true }\n  png: { bits: 8 }\n",
    )
    .unwrap();
    let options = ConvertOptions {
        inputs: reproducers(),
        output: work.path().join("out"),
        recipe,
        jobs: Some(1),
        resume: false,
    };
    let memory = start_peak_measurement();
    let mut entries = Vec::new();
    convert(&options, |entry| entries.push(entry.clone())).expect("the run must finish");
    let peak = peak_growth(memory);

    assert_eq!(entries.len(), options.inputs.len());
    for entry in &entries {
        let name = Path::new(&entry.path)
            .file_name()
            .unwrap()
            .to_string_lossy();
        let error = entry.error.as_deref().unwrap_or_default();
        assert!(
            !error.contains("internal error"),
            "{name}: caught panic: {error}"
        );
        if let Some((_, expected)) = EXPECTED.iter().find(|(file, _)| *file == name) {
            assert_eq!(entry.status, Status::Error, "{name}: {entry:?}");
            assert!(error.contains(expected), "{name}: {error}");
        }
        if entry.status == Status::Error {
            assert!(
                error.contains(&entry.path),
                "{name}: the error does not name the file: {error}"
            );
        }
    }
    if let Some(peak) = peak {
        assert!(
            peak < MAX_PEAK_BYTES,
            "peak resident memory grew by {} MiB",
            peak >> 20
        );
    }
}

/// Runs each reproducer through the same calls as the fuzz target
/// (`fuzz/fuzz_targets/open_and_decode.rs`), outside `catch_unwind`, so a
/// panic fails this test directly.
#[test]
fn reproducers_decode_without_panics() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let limits = DecodeLimits {
        max_frame_bytes: 16 << 20,
    };
    for path in reproducers() {
        for stop_before_pixel_data in [true, false] {
            let options = OpenOptions {
                stop_before_pixel_data,
                lenient_framing: true,
            };
            let Ok(file) = open(&path, &options) else {
                continue;
            };
            let mut findings = Vec::new();
            let Ok(description) = PixelDescription::read(file.dataset(), &mut findings) else {
                continue;
            };
            if stop_before_pixel_data {
                continue;
            }
            for frame in 0..description.frames {
                if read_frame(&file, &description, frame, &limits, &mut findings).is_err() {
                    break;
                }
            }
        }
    }
}
