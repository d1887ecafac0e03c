//! Rules that need decoded pixels: implausible CT values and the wrapped
//! 12-bit CT pattern.

use hounsfield_dicom::{tags, DicomFile, Finding, Severity};
use hounsfield_pixel::{
    read_frame, DecodeLimits, FrameImage, ModalityTransform, PixelDescription, PixelError,
};
use ndarray::Zip;

/// The plausible range of CT values in Hounsfield units: -1024 (the lowest
/// value of the usual 12-bit range after the common intercept of -1024, a
/// little below air at -1000) to 3071 (the top of that range, 4095 - 1024).
pub const CT_PLAUSIBLE_HU: (f64, f64) = (-1024.0, 3071.0);

/// Share of non-padding pixels outside [`CT_PLAUSIBLE_HU`] from which
/// `implausible-modality-values` is a warning; a smaller non-zero share is
/// reported as info.
pub const IMPLAUSIBLE_WARNING_FRACTION: f64 = 0.001;

/// The wrapped 12-bit pattern: Bits Stored 12 and Pixel Representation 0.
pub const WRAPPED_BITS_STORED: u32 = 12;
/// The pattern needs a Rescale Intercept at or above this value ("near 0"
/// rather than about -1000); -100 is the bound fastai's `fix_pxrepr` uses.
pub const WRAPPED_MIN_INTERCEPT: f64 = -100.0;
/// Stored values at or above this one are "at the top of the range": the
/// top quarter of 0..4095. Air at about -1000 HU, wrapped modulo 4096,
/// lands at 3096.
pub const WRAPPED_TOP_STORED_VALUE: f64 = 3072.0;
/// Share of non-padding pixels at the top of the range from which the
/// pattern is reported.
pub const WRAPPED_MIN_FRACTION: f64 = 0.05;

/// Pixel counts over all frames of one image.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Counts {
    /// Pixels that are not padding.
    valid: u64,
    /// Valid pixels outside [`CT_PLAUSIBLE_HU`] (or NaN).
    implausible: u64,
    /// Valid pixels whose stored value is at least
    /// [`WRAPPED_TOP_STORED_VALUE`].
    top_of_range: u64,
}

/// Returns the slope and intercept that map modality values back to stored
/// values, when the transform is linear.
fn stored_value_inverse(transform: &ModalityTransform) -> Option<(f64, f64)> {
    match transform {
        ModalityTransform::Identity => Some((1.0, 0.0)),
        ModalityTransform::Rescale {
            slope, intercept, ..
        } if *slope != 0.0 => Some((*slope, *intercept)),
        _ => None,
    }
}

/// True when the modality values are in Hounsfield units: no Rescale Type
/// or Modality LUT Type, or `HU` (CT Image Module, PS3.3 C.8.2.1).
fn is_hounsfield(transform: &ModalityTransform) -> bool {
    match transform {
        ModalityTransform::Identity => true,
        ModalityTransform::Rescale { rescale_type, .. } => {
            rescale_type.as_deref().is_none_or(|unit| unit == "HU")
        }
        ModalityTransform::Lut { lut_type, .. } => {
            lut_type.as_deref().is_none_or(|unit| unit == "HU")
        }
    }
}

/// Decodes every frame of a grayscale CT image and applies the pixel rules.
/// Other images get no finding here.
pub(super) fn check(file: &DicomFile, limits: &DecodeLimits, findings: &mut Vec<Finding>) {
    let object = file.dataset();
    if hounsfield_dicom::attr::text(object, tags::MODALITY).as_deref() != Some("CT") {
        return;
    }
    // Header defects are reported by the header rules; here they only
    // mean that the pixels cannot be read.
    let mut ignored = Vec::new();
    let Ok(description) = PixelDescription::read(object, &mut ignored) else {
        return;
    };
    if description.samples_per_pixel != 1 || !description.photometric.is_monochrome() {
        return;
    }

    let mut counts = Counts::default();
    let mut transform = None;
    let mut decode_findings = Vec::new();
    for frame in 0..description.frames {
        match read_frame(file, &description, frame, limits, &mut decode_findings) {
            Ok(FrameImage::Gray(gray)) => {
                count_frame(&gray, &mut counts);
                transform.get_or_insert(gray.transform);
            }
            Ok(FrameImage::Color(_)) => return,
            Err(error) => {
                findings.push(decode_failure(&error, frame));
                return;
            }
        }
    }
    push_first_of_each_code(findings, decode_findings);

    let Some(transform) = transform else {
        return;
    };
    if counts.valid == 0 {
        return;
    }
    if is_hounsfield(&transform) {
        implausible_values(&counts, findings);
    }
    wrapped_12_bit(&description, &transform, &counts, findings);
}

fn count_frame(gray: &hounsfield_pixel::GrayFrame, counts: &mut Counts) {
    let (low, high) = CT_PLAUSIBLE_HU;
    let inverse = stored_value_inverse(&gray.transform);
    let mut visit = |value: f32| {
        let value = f64::from(value);
        counts.valid += 1;
        if !(low..=high).contains(&value) {
            counts.implausible += 1;
        }
        if let Some((slope, intercept)) = inverse {
            if ((value - intercept) / slope).round() >= WRAPPED_TOP_STORED_VALUE {
                counts.top_of_range += 1;
            }
        }
    };
    match &gray.padding {
        Some(mask) => Zip::from(&gray.values)
            .and(mask)
            .for_each(|&value, &padded| {
                if !padded {
                    visit(value);
                }
            }),
        None => gray.values.iter().for_each(|&value| visit(value)),
    }
}

fn implausible_values(counts: &Counts, findings: &mut Vec<Finding>) {
    if counts.implausible == 0 {
        return;
    }
    let fraction = counts.implausible as f64 / counts.valid as f64;
    let severity = if fraction >= IMPLAUSIBLE_WARNING_FRACTION {
        Severity::Warning
    } else {
        Severity::Info
    };
    let (low, high) = CT_PLAUSIBLE_HU;
    findings.push(
        Finding::about(
            severity,
            "implausible-modality-values",
            tags::PIXEL_DATA,
            format!(
                "{} of {} non-padding pixels ({:.2}%) are outside [{low}, {high}] HU after the Modality LUT; undeclared padding, a wrong rescale or wrapped values",
                counts.implausible,
                counts.valid,
                fraction * 100.0
            ),
        )
        .with_value(format!("{fraction:.4} of pixels outside"))
        .expecting(format!("values in [{low}, {high}] HU")),
    );
}

fn wrapped_12_bit(
    description: &PixelDescription,
    transform: &ModalityTransform,
    counts: &Counts,
    findings: &mut Vec<Finding>,
) {
    if description.bits_stored != WRAPPED_BITS_STORED || description.signed {
        return;
    }
    let intercept = match transform {
        ModalityTransform::Identity => 0.0,
        ModalityTransform::Rescale { intercept, .. } => *intercept,
        ModalityTransform::Lut { .. } => return,
    };
    if intercept < WRAPPED_MIN_INTERCEPT {
        return;
    }
    let fraction = counts.top_of_range as f64 / counts.valid as f64;
    if fraction < WRAPPED_MIN_FRACTION {
        return;
    }
    findings.push(
        Finding::about(
            Severity::Warning,
            "wrapped-12-bit-ct",
            tags::RESCALE_INTERCEPT,
            format!(
                "12-bit unsigned CT with Rescale Intercept {intercept} and {:.1}% of pixels at stored values of {WRAPPED_TOP_STORED_VALUE} or more: air has probably wrapped to the top of the range; fastai's repair adds 1000 to the stored values, wraps those past 4095 and sets the intercept to -1000, but Hounsfield does not apply it",
                fraction * 100.0
            ),
        )
        .with_value(intercept.to_string())
        .expecting("a Rescale Intercept of about -1000 for 12-bit unsigned CT"),
    );
}

fn decode_failure(error: &PixelError, frame: u32) -> Finding {
    let message = format!(
        "frame {} could not be decoded, so the pixel rules were skipped: {}",
        frame + 1,
        hounsfield_dicom::error_chain(error)
    );
    match error {
        PixelError::UnsupportedTransferSyntax { .. }
        | PixelError::Unsupported(_)
        | PixelError::UnsupportedPhotometric { .. }
        | PixelError::Jpeg12Bit { .. } => Finding::about(
            Severity::Warning,
            "pixel-decode-unsupported",
            tags::PIXEL_DATA,
            message,
        ),
        _ => Finding::about(
            Severity::Error,
            "pixel-decode-failed",
            tags::PIXEL_DATA,
            message,
        ),
    }
}

/// Adds the findings of decoding, each code once, because decoding repeats
/// them for every frame. Codes that the header rules already reported
/// (such as `window-count-mismatch`) are left out.
fn push_first_of_each_code(findings: &mut Vec<Finding>, new: Vec<Finding>) {
    let mut seen: Vec<&'static str> = findings.iter().map(|finding| finding.code).collect();
    for finding in new {
        if !seen.contains(&finding.code) {
            seen.push(finding.code);
            findings.push(finding);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_pixel::GrayFrame;
    use ndarray::array;

    fn gray(values: ndarray::Array2<f32>, intercept: f64) -> GrayFrame {
        GrayFrame {
            values,
            padding: None,
            transform: ModalityTransform::Rescale {
                slope: 1.0,
                intercept,
                rescale_type: None,
                source: "top_level",
            },
            monochrome1: false,
            windows: Vec::new(),
        }
    }

    #[test]
    fn counts_skip_padding() {
        let mut frame = gray(array![[-3024.0, -1000.0], [3072.0, 40.0]], -1024.0);
        frame.padding = Some(array![[true, false], [false, false]]);
        let mut counts = Counts::default();
        count_frame(&frame, &mut counts);
        assert_eq!(counts.valid, 3);
        assert_eq!(counts.implausible, 1);
        // 3072 HU is stored value 4096 with intercept -1024.
        assert_eq!(counts.top_of_range, 1);
    }

    #[test]
    fn implausible_share_sets_the_severity() {
        let mut findings = Vec::new();
        let few = Counts {
            valid: 10_000,
            implausible: 1,
            top_of_range: 0,
        };
        implausible_values(&few, &mut findings);
        let many = Counts {
            implausible: 500,
            ..few
        };
        implausible_values(&many, &mut findings);
        assert_eq!(findings[0].severity, Severity::Info);
        assert_eq!(findings[1].severity, Severity::Warning);
        assert!(
            findings[1].message.contains("(5.00%)"),
            "{}",
            findings[1].message
        );
    }

    #[test]
    fn non_hounsfield_units_are_not_judged() {
        let transform = ModalityTransform::Rescale {
            slope: 1.0,
            intercept: 0.0,
            rescale_type: Some("US".into()),
            source: "top_level",
        };
        assert!(!is_hounsfield(&transform));
        assert!(is_hounsfield(&ModalityTransform::Identity));
    }
}
