//! Compares decoded values with pydicom on every fixture.
//!
//! `fixtures/oracle/pydicom.json` holds, per file and frame, pydicom 3's
//! `apply_modality_lut` output (grayscale) or RGB (colour) as statistics and
//! exact values at sample positions; `tests/python/make_oracle.py`
//! regenerates it. Integer results must match exactly, others within 1e-4
//! relative; lossy JPEG colour within a few levels, because JPEG decoders
//! may differ in IDCT and upsampling rounding.

use std::path::{Path, PathBuf};

use hounsfield_dicom::{attr, open, tags, OpenOptions};
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, PixelDescription};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Files pydicom decodes but this build does not, with the reason. The test
/// checks that each still fails with an error that names the reason, so a
/// fix shows up as a failure here and the entry must be removed.
const KNOWN_UNSUPPORTED: &[(&str, &str)] =
    &[("dicom/pydicom/JPGExtended.dcm", "1.2.840.10008.1.2.4.51")];

/// Lossy transfer syntaxes whose colour output may differ by decoder rounding.
fn lossy_colour_tolerance(transfer_syntax: &str) -> f64 {
    match transfer_syntax {
        // JPEG baseline: pydicom (pylibjpeg/libjpeg) and jpeg-decoder round
        // the IDCT and chroma upsampling differently by up to 3 levels.
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" => 4.0,
        _ => 0.0,
    }
}

fn close(got: f64, want: f64, absolute: f64) -> bool {
    if want.fract() == 0.0 && got.fract() == 0.0 && absolute == 0.0 {
        return got == want;
    }
    (got - want).abs() <= absolute.max(1e-4 * want.abs().max(1.0))
}

fn colour_scale(object: &attr::Object, bits_stored: u32, palette: bool) -> f64 {
    if palette {
        let bits = attr::decimals(object, tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR)
            .ok()
            .flatten()
            .and_then(|values| values.get(2).copied())
            .unwrap_or(16.0);
        return 2f64.powf(bits) - 1.0;
    }
    2f64.powi(bits_stored as i32) - 1.0
}

#[test]
fn modality_values_match_pydicom() {
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("oracle/pydicom.json")).expect("oracle file"),
    )
    .expect("oracle JSON");
    let mut failures = Vec::new();
    let mut checked_frames = 0;
    for entry in oracle["files"].as_array().expect("files") {
        let relative = entry["path"].as_str().expect("path");
        if entry["decode_ok"] != Value::Bool(true) {
            continue;
        }
        let path = fixtures().join(relative);
        let known = KNOWN_UNSUPPORTED.iter().find(|(name, _)| *name == relative);
        let result = (|| -> Result<Vec<FrameImage>, String> {
            let file = open(&path, &OpenOptions::default()).map_err(|e| e.to_string())?;
            let mut findings = Vec::new();
            let description =
                PixelDescription::read(file.dataset(), &mut findings).map_err(|e| e.to_string())?;
            (0..description.frames)
                .map(|frame| {
                    read_frame(
                        &file,
                        &description,
                        frame,
                        &DecodeLimits::default(),
                        &mut findings,
                    )
                    .map_err(|e| e.to_string())
                })
                .collect()
        })();
        if let Some((_, reason)) = known {
            match result {
                Err(message) if message.contains(reason) => continue,
                Err(message) => failures.push(format!(
                    "{relative}: expected an error naming `{reason}`, got `{message}`"
                )),
                Ok(_) => failures.push(format!(
                    "{relative}: now decodes; remove it from KNOWN_UNSUPPORTED"
                )),
            }
            continue;
        }
        let frames = match result {
            Ok(frames) => frames,
            Err(message) => {
                failures.push(format!(
                    "{relative}: pydicom decodes it, we failed: {message}"
                ));
                continue;
            }
        };
        let expected_frames = entry["frames"].as_array().expect("frames");
        if frames.len() != expected_frames.len() {
            failures.push(format!(
                "{relative}: {} frames, pydicom {}",
                frames.len(),
                expected_frames.len()
            ));
            continue;
        }
        let file = open(&path, &OpenOptions::default()).expect("reopen");
        let transfer_syntax = file.transfer_syntax().trim_end_matches('\0').to_string();
        let bits_stored = entry["bits_stored"].as_u64().unwrap_or(8) as u32;
        let palette = entry["photometric_interpretation"] == "PALETTE COLOR";
        for (frame, expected) in frames.iter().zip(expected_frames) {
            checked_frames += 1;
            let index = expected["index"].as_u64().unwrap_or(0);
            let (values, tolerance): (ndarray::ArrayD<f64>, f64) = match frame {
                FrameImage::Gray(gray) => (gray.values.mapv(f64::from).into_dyn(), 0.0),
                FrameImage::Color(rgb) => {
                    let scale = colour_scale(file.dataset(), bits_stored, palette);
                    (
                        rgb.mapv(|v| (f64::from(v) * scale).round()).into_dyn(),
                        lossy_colour_tolerance(&transfer_syntax),
                    )
                }
            };
            let colour = values.ndim() == 3;
            let mut mismatches = 0;
            let mut first = None;
            for sample in expected["samples"].as_array().expect("samples") {
                let row = sample[0].as_u64().expect("row") as usize;
                let column = sample[1].as_u64().expect("column") as usize;
                let want: Vec<f64> = match &sample[2] {
                    Value::Array(rgb) => rgb.iter().map(|v| v.as_f64().expect("number")).collect(),
                    other => vec![other.as_f64().expect("number")],
                };
                let got: Vec<f64> = if colour {
                    (0..3).map(|c| values[[c, row, column]]).collect()
                } else {
                    vec![values[[row, column]]]
                };
                if got.len() != want.len()
                    || got
                        .iter()
                        .zip(&want)
                        .any(|(g, w)| !close(*g, *w, tolerance))
                {
                    mismatches += 1;
                    first.get_or_insert(format!("({row}, {column}) got {got:?} want {want:?}"));
                }
            }
            if let Some(first) = first {
                failures.push(format!(
                    "{relative} frame {index}: {mismatches} sample(s) differ, first {first}"
                ));
            }
            if !colour {
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                for (name, got, want) in [
                    ("min", min, expected["min"].as_f64().unwrap_or(f64::NAN)),
                    ("max", max, expected["max"].as_f64().unwrap_or(f64::NAN)),
                    ("mean", mean, expected["mean"].as_f64().unwrap_or(f64::NAN)),
                ] {
                    if !close(
                        got,
                        want,
                        if name == "mean" {
                            1e-6 * want.abs().max(1.0)
                        } else {
                            0.0
                        },
                    ) {
                        failures.push(format!(
                            "{relative} frame {index}: {name} {got}, pydicom {want}"
                        ));
                    }
                }
            }
        }
    }
    assert!(checked_frames > 50, "only {checked_frames} frames checked");
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
