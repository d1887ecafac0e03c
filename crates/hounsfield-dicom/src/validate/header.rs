//! Rules for the attributes that decide how pixels become modality and
//! display values, and for the flags a training set must know about:
//! windows, rescale, MONOCHROME1, lossy compression, Presentation Intent
//! Type and burned-in annotation.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use crate::attr::{self, Object};
use crate::finding::{Finding, Severity};

/// Transfer syntaxes whose pixel data went through lossy compression
/// (PS3.5 Annex A and PS3.6 Annex A).
const LOSSY_TRANSFER_SYNTAXES: [(&str, &str); 17] = [
    ("1.2.840.10008.1.2.4.50", "JPEG Baseline"),
    ("1.2.840.10008.1.2.4.51", "JPEG Extended"),
    ("1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless"),
    ("1.2.840.10008.1.2.4.91", "JPEG 2000"),
    ("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component"),
    ("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"),
    ("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level"),
    ("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile"),
    (
        "1.2.840.10008.1.2.4.103",
        "MPEG-4 AVC/H.264 BD-compatible High Profile",
    ),
    (
        "1.2.840.10008.1.2.4.104",
        "MPEG-4 AVC/H.264 High Profile For 2D Video",
    ),
    (
        "1.2.840.10008.1.2.4.105",
        "MPEG-4 AVC/H.264 High Profile For 3D Video",
    ),
    (
        "1.2.840.10008.1.2.4.106",
        "MPEG-4 AVC/H.264 Stereo High Profile",
    ),
    ("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile"),
    ("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile"),
    ("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression"),
    ("1.2.840.10008.1.2.4.112", "JPEG XL"),
    ("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"),
];

/// Applies the window, rescale, photometric and flag rules.
pub(super) fn check(object: &Object, transfer_syntax: &str, findings: &mut Vec<Finding>) {
    check_windows_everywhere(object, findings);
    check_rescale_everywhere(object, findings);
    if attr::text(object, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1") {
        findings.push(
            Finding::about(
                Severity::Info,
                "monochrome1",
                tags::PHOTOMETRIC_INTERPRETATION,
                "MONOCHROME1: the minimum value is shown white; Hounsfield inverts display values after the window and never inverts modality values",
            )
            .with_value("MONOCHROME1"),
        );
    }
    check_lossy(object, transfer_syntax, findings);
    check_presentation_intent(object, findings);
    check_burned_in_annotation(object, findings);
}

fn sequence_items(object: &Object, tag: Tag) -> &[Object] {
    object
        .get(tag)
        .and_then(|element| element.items())
        .unwrap_or(&[])
}

/// Lists where a functional group attribute can sit in an enhanced object
/// (PS3.3 C.7.6.16): the top level, the shared item, or each per-frame item.
fn functional_group_sources(object: &Object, group: Tag) -> Vec<(String, &Object)> {
    let mut sources = vec![(String::new(), object)];
    for item in sequence_items(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE) {
        for inner in sequence_items(item, group) {
            sources.push(("in the Shared Functional Groups: ".to_string(), inner));
        }
    }
    for (frame, item) in sequence_items(object, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .iter()
        .enumerate()
    {
        for inner in sequence_items(item, group) {
            sources.push((
                format!(
                    "in the Per-Frame Functional Groups of frame {}: ",
                    frame + 1
                ),
                inner,
            ));
        }
    }
    sources
}

/// Keeps the first finding of each code and counts the others, so that a
/// defect repeated in every per-frame item is reported once.
fn push_once(findings: &mut Vec<Finding>, new: Vec<Finding>) {
    let mut repeats: Vec<(&'static str, usize)> = Vec::new();
    for finding in new {
        match repeats.iter_mut().find(|(code, _)| *code == finding.code) {
            Some((_, count)) => *count += 1,
            None => {
                repeats.push((finding.code, 0));
                findings.push(finding);
            }
        }
    }
    for (code, count) in repeats.into_iter().filter(|(_, count)| *count > 0) {
        if let Some(first) = findings.iter_mut().rev().find(|f| f.code == code) {
            first
                .message
                .push_str(&format!(" ({count} more place(s) have the same defect)"));
        }
    }
}

fn check_windows_everywhere(object: &Object, findings: &mut Vec<Finding>) {
    let mut new = Vec::new();
    for (place, source) in functional_group_sources(object, tags::FRAME_VOILUT_SEQUENCE) {
        check_windows(source, &place, &mut new);
    }
    push_once(findings, new);
}

/// Window Center and Width come in pairs, one per alternative view
/// (PS3.3 C.11.2.1.2); their widths must suit the VOI LUT Function.
fn check_windows(source: &Object, place: &str, findings: &mut Vec<Finding>) {
    let centers = attr::decimals(source, tags::WINDOW_CENTER)
        .ok()
        .flatten()
        .unwrap_or_default();
    let widths = attr::decimals(source, tags::WINDOW_WIDTH)
        .ok()
        .flatten()
        .unwrap_or_default();
    if centers.len() != widths.len() {
        findings.push(
            Finding::about(
                Severity::Warning,
                "window-count-mismatch",
                tags::WINDOW_WIDTH,
                format!(
                    "{place}{} Window Center value(s) but {} Window Width value(s); only complete pairs are usable",
                    centers.len(),
                    widths.len()
                ),
            )
            .with_value(format!("{} centers, {} widths", centers.len(), widths.len()))
            .expecting("as many widths as centers"),
        );
    }
    let pairs = centers.len().min(widths.len());
    let explanations = attr::texts(source, tags::WINDOW_CENTER_WIDTH_EXPLANATION);
    if !explanations.is_empty() && explanations.len() != pairs.max(centers.len()) {
        findings.push(
            Finding::about(
                Severity::Info,
                "window-explanation-count-mismatch",
                tags::WINDOW_CENTER_WIDTH_EXPLANATION,
                format!(
                    "{place}{} Window Center & Width Explanation value(s) for {} window(s)",
                    explanations.len(),
                    centers.len()
                ),
            )
            .with_value(explanations.len().to_string())
            .expecting(centers.len().to_string()),
        );
    }

    let function = attr::text(source, tags::VOILUT_FUNCTION);
    let minimum_width = match function.as_deref() {
        None | Some("LINEAR") => 1.0,
        Some("LINEAR_EXACT") | Some("SIGMOID") => f64::MIN_POSITIVE,
        Some(other) => {
            findings.push(
                Finding::about(
                    Severity::Warning,
                    "unknown-voi-lut-function",
                    tags::VOILUT_FUNCTION,
                    format!(
                        "{place}VOI LUT Function `{other}` is not a defined term; LINEAR is used"
                    ),
                )
                .with_value(other)
                .expecting("LINEAR, LINEAR_EXACT or SIGMOID"),
            );
            1.0
        }
    };
    let function = function.unwrap_or_else(|| "LINEAR".to_string());
    for (index, &width) in widths.iter().enumerate().take(pairs) {
        if width.is_nan() || width < minimum_width {
            let rule = if minimum_width >= 1.0 {
                "at least 1 for LINEAR (PS3.3 C.11.2.1.2.1)"
            } else {
                "greater than 0 (PS3.3 C.11.2.1.3)"
            };
            findings.push(
                Finding::about(
                    Severity::Warning,
                    "invalid-window-width",
                    tags::WINDOW_WIDTH,
                    format!("{place}window {} has width {width}, which {function} cannot use; the window is ignored", index + 1),
                )
                .with_value(width.to_string())
                .expecting(rule),
            );
        }
    }
}

fn check_rescale_everywhere(object: &Object, findings: &mut Vec<Finding>) {
    let is_ct = attr::text(object, tags::MODALITY).as_deref() == Some("CT");
    let mut new = Vec::new();
    for (place, source) in
        functional_group_sources(object, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE)
    {
        check_rescale(source, &place, is_ct, &mut new);
    }
    if object.get(tags::MODALITY_LUT_SEQUENCE).is_some()
        && object.get(tags::RESCALE_SLOPE).is_some()
    {
        new.push(Finding::about(
            Severity::Warning,
            "modality-lut-and-rescale",
            tags::MODALITY_LUT_SEQUENCE,
            "both a Modality LUT Sequence and Rescale Slope/Intercept are present; PS3.3 C.11.1 allows one, and Hounsfield uses the LUT",
        ));
    }
    push_once(findings, new);
}

/// Rescale Slope and Intercept (PS3.3 C.11.1.1.2) go together, and for CT
/// the units are Hounsfield units unless Rescale Type gives another unit
/// (CT Image Module, PS3.3 C.8.2.1).
fn check_rescale(source: &Object, place: &str, is_ct: bool, findings: &mut Vec<Finding>) {
    let slope = attr::decimal(source, tags::RESCALE_SLOPE).ok().flatten();
    let intercept = attr::decimal(source, tags::RESCALE_INTERCEPT)
        .ok()
        .flatten();
    let slope_present = source.get(tags::RESCALE_SLOPE).is_some();
    let intercept_present = source.get(tags::RESCALE_INTERCEPT).is_some();
    if slope_present != intercept_present {
        let missing = if slope_present {
            tags::RESCALE_INTERCEPT
        } else {
            tags::RESCALE_SLOPE
        };
        findings.push(
            Finding::about(
                Severity::Error,
                "incomplete-rescale",
                missing,
                format!("{place}{} is missing while its partner is present; the Modality LUT cannot be applied", attr::keyword(missing)),
            )
            .expecting("Rescale Slope and Rescale Intercept together"),
        );
    }
    if slope == Some(0.0) {
        findings.push(
            Finding::about(
                Severity::Error,
                "zero-rescale-slope",
                tags::RESCALE_SLOPE,
                format!("{place}Rescale Slope is 0, so every pixel has the same modality value"),
            )
            .with_value("0")
            .expecting("a non-zero slope"),
        );
    }
    if !is_ct || (slope.is_none() && intercept.is_none()) {
        return;
    }
    if let Some(rescale_type) = attr::text(source, tags::RESCALE_TYPE) {
        if rescale_type != "HU" {
            findings.push(
                Finding::about(
                    Severity::Warning,
                    "rescale-type-not-hu",
                    tags::RESCALE_TYPE,
                    format!("{place}Rescale Type of this CT image is `{rescale_type}`, so its modality values are not Hounsfield units"),
                )
                .with_value(rescale_type)
                .expecting("HU"),
            );
        }
    }
}

fn lossy_transfer_syntax(uid: &str) -> Option<&'static str> {
    LOSSY_TRANSFER_SYNTAXES
        .iter()
        .find(|(lossy, _)| *lossy == uid)
        .map(|(_, name)| *name)
}

/// Lossy Image Compression (PS3.3 C.7.6.1.1.5): `01` means the pixels went
/// through lossy compression at some point, which a training set must know.
fn check_lossy(object: &Object, transfer_syntax: &str, findings: &mut Vec<Finding>) {
    let flag = attr::text(object, tags::LOSSY_IMAGE_COMPRESSION);
    match flag.as_deref() {
        Some("01") => {
            let methods = attr::texts(object, tags::LOSSY_IMAGE_COMPRESSION_METHOD).join("\\");
            let ratios = attr::texts(object, tags::LOSSY_IMAGE_COMPRESSION_RATIO).join("\\");
            let mut details = Vec::new();
            if !methods.is_empty() {
                details.push(format!("method {methods}"));
            }
            if !ratios.is_empty() {
                details.push(format!("ratio {ratios}"));
            }
            let details = if details.is_empty() {
                String::new()
            } else {
                format!(" ({})", details.join(", "))
            };
            findings.push(
                Finding::about(
                    Severity::Warning,
                    "lossy-image-compression",
                    tags::LOSSY_IMAGE_COMPRESSION,
                    format!("the pixels went through lossy compression{details}"),
                )
                .with_value("01"),
            );
        }
        Some("00") | None => {
            if let Some(name) = lossy_transfer_syntax(transfer_syntax) {
                findings.push(
                    Finding::about(
                        Severity::Warning,
                        "lossy-transfer-syntax",
                        tags::TRANSFER_SYNTAX_UID,
                        format!(
                            "the transfer syntax {transfer_syntax} ({name}) is lossy but Lossy Image Compression is {}",
                            flag.as_deref().map_or("absent".to_string(), |f| format!("`{f}`"))
                        ),
                    )
                    .with_value(transfer_syntax)
                    .expecting("Lossy Image Compression `01` for a lossy transfer syntax"),
                );
            }
        }
        Some(other) => findings.push(
            Finding::about(
                Severity::Warning,
                "invalid-lossy-image-compression",
                tags::LOSSY_IMAGE_COMPRESSION,
                format!("Lossy Image Compression is `{other}`"),
            )
            .with_value(other)
            .expecting("00 or 01"),
        ),
    }
}

/// Presentation Intent Type (PS3.3 C.8.11.1.1.1): FOR PRESENTATION images
/// already had their grayscale processing applied, FOR PROCESSING images
/// still need it, so the two should not be mixed in one training set.
fn check_presentation_intent(object: &Object, findings: &mut Vec<Finding>) {
    let tag = tags::PRESENTATION_INTENT_TYPE;
    match attr::text(object, tag).as_deref() {
        None => {}
        Some("FOR PRESENTATION") => findings.push(
            Finding::about(
                Severity::Info,
                "for-presentation",
                tag,
                "Presentation Intent Type is FOR PRESENTATION: the pixels are already processed for display",
            )
            .with_value("FOR PRESENTATION"),
        ),
        Some("FOR PROCESSING") => findings.push(
            Finding::about(
                Severity::Warning,
                "for-processing",
                tag,
                "Presentation Intent Type is FOR PROCESSING: the pixels are raw detector values that need a VOI before display, and they differ from FOR PRESENTATION images of the same kind",
            )
            .with_value("FOR PROCESSING"),
        ),
        Some(other) => findings.push(
            Finding::about(
                Severity::Warning,
                "invalid-presentation-intent-type",
                tag,
                format!("Presentation Intent Type is `{other}`"),
            )
            .with_value(other)
            .expecting("FOR PRESENTATION or FOR PROCESSING"),
        ),
    }
}

/// Burned In Annotation (PS3.3 C.7.6.1.1.6) `YES` means the pixels show
/// text, which may identify the patient; the header can never prove the
/// opposite.
fn check_burned_in_annotation(object: &Object, findings: &mut Vec<Finding>) {
    let tag = tags::BURNED_IN_ANNOTATION;
    match attr::text(object, tag).as_deref() {
        None | Some("NO") => {}
        Some("YES") => findings.push(
            Finding::about(
                Severity::Warning,
                "burned-in-annotation",
                tag,
                "Burned In Annotation is YES: the pixels contain text that may identify the patient; clean them before export",
            )
            .with_value("YES"),
        ),
        Some(other) => findings.push(
            Finding::about(
                Severity::Warning,
                "invalid-burned-in-annotation",
                tag,
                format!("Burned In Annotation is `{other}`"),
            )
            .with_value(other)
            .expecting("YES or NO"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::{DataSetSequence, PrimitiveValue};
    use dicom_core::{DataElement, VR};

    fn put(object: &mut Object, tag: Tag, vr: VR, text: &str) {
        let values: Vec<String> = text.split('\\').map(str::to_string).collect();
        object.put(DataElement::new(
            tag,
            vr,
            PrimitiveValue::Strs(values.into()),
        ));
    }

    fn run(object: &Object, transfer_syntax: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        check(object, transfer_syntax, &mut findings);
        findings
    }

    fn codes(object: &Object) -> Vec<&'static str> {
        run(object, "1.2.840.10008.1.2.1")
            .iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn window_counts_and_widths() {
        let mut object = Object::new_empty();
        put(&mut object, tags::WINDOW_CENTER, VR::DS, "40\\300");
        put(&mut object, tags::WINDOW_WIDTH, VR::DS, "80");
        assert_eq!(codes(&object), ["window-count-mismatch"]);
        put(&mut object, tags::WINDOW_WIDTH, VR::DS, "80\\0.5");
        assert_eq!(codes(&object), ["invalid-window-width"]);
        put(&mut object, tags::VOILUT_FUNCTION, VR::CS, "LINEAR_EXACT");
        assert!(codes(&object).is_empty());
        // An unknown function falls back to LINEAR, for which 0.5 is too narrow.
        put(&mut object, tags::VOILUT_FUNCTION, VR::CS, "LOG");
        assert_eq!(
            codes(&object),
            ["unknown-voi-lut-function", "invalid-window-width"]
        );
    }

    #[test]
    fn explanation_count_is_compared_with_windows() {
        let mut object = Object::new_empty();
        put(&mut object, tags::WINDOW_CENTER, VR::DS, "40\\300");
        put(&mut object, tags::WINDOW_WIDTH, VR::DS, "80\\1500");
        put(
            &mut object,
            tags::WINDOW_CENTER_WIDTH_EXPLANATION,
            VR::LO,
            "BRAIN",
        );
        assert_eq!(codes(&object), ["window-explanation-count-mismatch"]);
    }

    #[test]
    fn rescale_rules_for_ct() {
        let mut object = Object::new_empty();
        put(&mut object, tags::MODALITY, VR::CS, "CT");
        put(&mut object, tags::RESCALE_INTERCEPT, VR::DS, "-1024");
        assert_eq!(codes(&object), ["incomplete-rescale"]);
        put(&mut object, tags::RESCALE_SLOPE, VR::DS, "0");
        assert_eq!(codes(&object), ["zero-rescale-slope"]);
        put(&mut object, tags::RESCALE_SLOPE, VR::DS, "1");
        put(&mut object, tags::RESCALE_TYPE, VR::LO, "US");
        let findings = run(&object, "1.2.840.10008.1.2.1");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "rescale-type-not-hu");
        assert_eq!(findings[0].expected.as_deref(), Some("HU"));
        put(&mut object, tags::MODALITY, VR::CS, "CR");
        assert!(codes(&object).is_empty());
    }

    #[test]
    fn per_frame_defects_reported_once() {
        let mut frames = Vec::new();
        for _ in 0..3 {
            let mut transformation = Object::new_empty();
            put(&mut transformation, tags::RESCALE_SLOPE, VR::DS, "1");
            put(&mut transformation, tags::RESCALE_INTERCEPT, VR::DS, "0");
            put(&mut transformation, tags::RESCALE_TYPE, VR::LO, "US");
            let mut frame = Object::new_empty();
            frame.put(DataElement::new(
                tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![transformation]),
            ));
            frames.push(frame);
        }
        let mut object = Object::new_empty();
        put(&mut object, tags::MODALITY, VR::CS, "CT");
        object.put(DataElement::new(
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(frames),
        ));
        let findings = run(&object, "1.2.840.10008.1.2.1");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(
            findings[0].message.contains("frame 1")
                && findings[0].message.contains("2 more place(s)"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn flags_are_reported() {
        let mut object = Object::new_empty();
        put(
            &mut object,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME1",
        );
        put(&mut object, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01");
        put(
            &mut object,
            tags::LOSSY_IMAGE_COMPRESSION_RATIO,
            VR::DS,
            "10",
        );
        put(
            &mut object,
            tags::PRESENTATION_INTENT_TYPE,
            VR::CS,
            "FOR PROCESSING",
        );
        put(&mut object, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
        let findings = run(&object, "1.2.840.10008.1.2.1");
        let codes: Vec<_> = findings.iter().map(|f| (f.code, f.severity)).collect();
        assert_eq!(
            codes,
            [
                ("monochrome1", Severity::Info),
                ("lossy-image-compression", Severity::Warning),
                ("for-processing", Severity::Warning),
                ("burned-in-annotation", Severity::Warning),
            ]
        );
        assert!(
            findings[1].message.contains("ratio 10"),
            "{}",
            findings[1].message
        );
    }

    #[test]
    fn lossy_transfer_syntax_without_flag() {
        let object = Object::new_empty();
        let findings = run(&object, "1.2.840.10008.1.2.4.50");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "lossy-transfer-syntax");
        assert!(run(&object, "1.2.840.10008.1.2.4.70").is_empty());
    }
}
