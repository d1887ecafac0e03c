//! Rules for the Image Pixel Module (PS3.3 C.7.6.3) and the length of
//! native Pixel Data (PS3.5 8.1.1).

use dicom_core::value::Value;
use dicom_core::Tag;
use dicom_dictionary_std::tags;

use crate::attr::{self, Object};
use crate::finding::{Finding, Severity};

/// The Image Pixel Module attributes as found; `None` when absent or not
/// an integer.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    rows: Option<i64>,
    columns: Option<i64>,
    samples_per_pixel: Option<i64>,
    bits_allocated: Option<i64>,
    bits_stored: Option<i64>,
    high_bit: Option<i64>,
    pixel_representation: Option<i64>,
    planar_configuration: Option<i64>,
    frames: Option<i64>,
}

/// Samples per pixel that a Photometric Interpretation requires
/// (PS3.3 C.7.6.3.1.2), `None` for a term that is not defined there.
fn samples_for(photometric: &str) -> Option<i64> {
    match photometric {
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => Some(1),
        "RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_ICT" | "YBR_RCT" | "YBR_PARTIAL_420"
        | "YBR_PARTIAL_422" | "HSV" => Some(3),
        "ARGB" | "CMYK" => Some(4),
        _ => None,
    }
}

fn is_retired(photometric: &str) -> bool {
    // PS3.3 C.7.6.3.1.2 lists these as retired.
    matches!(photometric, "HSV" | "ARGB" | "CMYK" | "YBR_PARTIAL_422")
}

fn read_integer(object: &Object, tag: Tag) -> Option<i64> {
    // A malformed IS value is reported by the value rules; here it only
    // counts as unknown.
    attr::integer(object, tag).ok().flatten()
}

fn error(code: &'static str, tag: Tag, message: String) -> Finding {
    Finding::about(Severity::Error, code, tag, message)
}

fn warning(code: &'static str, tag: Tag, message: String) -> Finding {
    Finding::about(Severity::Warning, code, tag, message)
}

/// Returns true when the data set contains pixels or declares an image.
pub(super) fn declares_image(object: &Object) -> bool {
    [
        tags::PIXEL_DATA,
        tags::FLOAT_PIXEL_DATA,
        tags::DOUBLE_FLOAT_PIXEL_DATA,
        tags::ROWS,
        tags::COLUMNS,
    ]
    .into_iter()
    .any(|tag| object.get(tag).is_some())
}

/// Applies the Image Pixel Module and Pixel Data length rules.
/// `pixel_data_read` is false when the read stopped before Pixel Data.
pub(super) fn check(object: &Object, pixel_data_read: bool, findings: &mut Vec<Finding>) {
    if !declares_image(object) {
        findings.push(Finding::new(
            Severity::Info,
            "no-image",
            "no Pixel Data and no Rows or Columns: the file holds no image, so the image rules were skipped",
        ));
        return;
    }
    if object.get(tags::FLOAT_PIXEL_DATA).is_some()
        || object.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some()
    {
        findings.push(Finding::about(
            Severity::Info,
            "float-pixel-data",
            tags::FLOAT_PIXEL_DATA,
            "Float or Double Float Pixel Data holds real-world values (PS3.3 C.7.6.24); Hounsfield does not decode it yet",
        ));
        return;
    }

    let layout = Layout {
        rows: read_integer(object, tags::ROWS),
        columns: read_integer(object, tags::COLUMNS),
        samples_per_pixel: read_integer(object, tags::SAMPLES_PER_PIXEL),
        bits_allocated: read_integer(object, tags::BITS_ALLOCATED),
        bits_stored: read_integer(object, tags::BITS_STORED),
        high_bit: read_integer(object, tags::HIGH_BIT),
        pixel_representation: read_integer(object, tags::PIXEL_REPRESENTATION),
        planar_configuration: read_integer(object, tags::PLANAR_CONFIGURATION),
        frames: read_integer(object, tags::NUMBER_OF_FRAMES),
    };
    let photometric = attr::text(object, tags::PHOTOMETRIC_INTERPRETATION);

    check_required(object, findings);
    check_dimensions(&layout, findings);
    check_bits(&layout, findings);
    check_photometric(&layout, photometric.as_deref(), findings);
    check_planar_configuration(&layout, photometric.as_deref(), findings);

    match object.get(tags::PIXEL_DATA).map(|element| element.value()) {
        None if pixel_data_read => findings.push(error(
            "missing-pixel-data",
            tags::PIXEL_DATA,
            "the file declares an image (Rows, Columns) but has no Pixel Data".into(),
        )),
        None => {}
        // With a Number of Frames that cannot be parsed (reported by the
        // value rules) the expected length is unknown.
        Some(Value::Primitive(_))
            if layout.frames.is_none() && object.get(tags::NUMBER_OF_FRAMES).is_some() => {}
        Some(Value::Primitive(value)) => check_native_length(
            &layout,
            photometric.as_deref(),
            value.calculate_byte_len(),
            findings,
        ),
        Some(Value::PixelSequence(sequence)) => check_fragments(
            &layout,
            sequence.offset_table().len(),
            sequence.fragments().len(),
            findings,
        ),
        Some(Value::Sequence(_)) => findings.push(error(
            "invalid-pixel-data",
            tags::PIXEL_DATA,
            "Pixel Data is a sequence of items, not pixel values or fragments".into(),
        )),
    }
}

/// Checks that the Type 1 attributes of the Image Pixel Module are present.
fn check_required(object: &Object, findings: &mut Vec<Finding>) {
    for tag in [
        tags::ROWS,
        tags::COLUMNS,
        tags::SAMPLES_PER_PIXEL,
        tags::PHOTOMETRIC_INTERPRETATION,
        tags::BITS_ALLOCATED,
        tags::BITS_STORED,
        tags::HIGH_BIT,
        tags::PIXEL_REPRESENTATION,
    ] {
        let present = match tag {
            t if t == tags::PHOTOMETRIC_INTERPRETATION => attr::text(object, tag).is_some(),
            _ => attr::integer(object, tag)
                .map(|v| v.is_some())
                .unwrap_or(true),
        };
        if !present {
            findings.push(
                error(
                    "missing-attribute",
                    tag,
                    format!(
                        "{} is missing or empty; the Image Pixel Module requires it (Type 1)",
                        attr::keyword(tag)
                    ),
                )
                .expecting("a value"),
            );
        }
    }
}

fn check_dimensions(layout: &Layout, findings: &mut Vec<Finding>) {
    for (tag, value) in [(tags::ROWS, layout.rows), (tags::COLUMNS, layout.columns)] {
        if let Some(value) = value.filter(|&v| v < 1) {
            findings.push(
                error(
                    "invalid-dimension",
                    tag,
                    format!("{} is {value}", attr::keyword(tag)),
                )
                .with_value(value.to_string())
                .expecting("at least 1"),
            );
        }
    }
    if let Some(frames) = layout.frames.filter(|&f| f < 1) {
        findings.push(
            error(
                "invalid-number-of-frames",
                tags::NUMBER_OF_FRAMES,
                format!("Number of Frames is {frames}"),
            )
            .with_value(frames.to_string())
            .expecting("at least 1"),
        );
    }
}

fn check_bits(layout: &Layout, findings: &mut Vec<Finding>) {
    if let Some(allocated) = layout.bits_allocated {
        // PS3.5 8.1.1: Bits Allocated is 1 or a multiple of 8.
        if allocated < 1 || (allocated != 1 && allocated % 8 != 0) {
            findings.push(
                error(
                    "invalid-bits-allocated",
                    tags::BITS_ALLOCATED,
                    format!("Bits Allocated is {allocated}"),
                )
                .with_value(allocated.to_string())
                .expecting("1 or a multiple of 8"),
            );
        } else if !matches!(allocated, 1 | 8 | 16 | 32) {
            findings.push(
                warning(
                    "unsupported-bits-allocated",
                    tags::BITS_ALLOCATED,
                    format!("Bits Allocated is {allocated}; Hounsfield decodes 1, 8, 16 and 32"),
                )
                .with_value(allocated.to_string())
                .expecting("1, 8, 16 or 32"),
            );
        }
    }
    if let (Some(stored), Some(allocated)) = (layout.bits_stored, layout.bits_allocated) {
        if stored < 1 || stored > allocated {
            findings.push(
                error(
                    "bits-stored-out-of-range",
                    tags::BITS_STORED,
                    format!("Bits Stored is {stored} with Bits Allocated {allocated}"),
                )
                .with_value(stored.to_string())
                .expecting(format!("1 to {allocated} (Bits Allocated)")),
            );
        }
    }
    if let (Some(high), Some(allocated)) = (layout.high_bit, layout.bits_allocated) {
        let stored = layout.bits_stored.unwrap_or(high + 1);
        if high < 0 || high >= allocated || high + 1 < stored {
            findings.push(
                error(
                    "high-bit-out-of-range",
                    tags::HIGH_BIT,
                    format!(
                        "High Bit is {high} with Bits Stored {stored} and Bits Allocated {allocated}"
                    ),
                )
                .with_value(high.to_string())
                .expecting(format!("{} to {}", stored.min(allocated) - 1, allocated - 1)),
            );
        } else if let Some(stored) = layout.bits_stored.filter(|&s| high != s - 1) {
            findings.push(
                warning(
                    "unusual-high-bit",
                    tags::HIGH_BIT,
                    format!("High Bit is {high}, not Bits Stored - 1; the stored bits do not start at bit 0"),
                )
                .with_value(high.to_string())
                .expecting((stored - 1).to_string()),
            );
        }
    }
    if let Some(representation) = layout.pixel_representation.filter(|r| !matches!(r, 0 | 1)) {
        findings.push(
            error(
                "invalid-pixel-representation",
                tags::PIXEL_REPRESENTATION,
                format!("Pixel Representation is {representation}"),
            )
            .with_value(representation.to_string())
            .expecting("0 (unsigned) or 1 (two's complement)"),
        );
    }
}

fn check_photometric(layout: &Layout, photometric: Option<&str>, findings: &mut Vec<Finding>) {
    if let Some(samples) = layout.samples_per_pixel.filter(|s| !matches!(s, 1 | 3)) {
        findings.push(
            error(
                "invalid-samples-per-pixel",
                tags::SAMPLES_PER_PIXEL,
                format!("Samples per Pixel is {samples}"),
            )
            .with_value(samples.to_string())
            .expecting("1 or 3"),
        );
    }
    let Some(term) = photometric else {
        return;
    };
    let Some(needed) = samples_for(term) else {
        findings.push(
            error(
                "unknown-photometric-interpretation",
                tags::PHOTOMETRIC_INTERPRETATION,
                format!("Photometric Interpretation `{term}` is not a defined term"),
            )
            .with_value(term)
            .expecting("MONOCHROME1, MONOCHROME2, PALETTE COLOR, RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT or YBR_PARTIAL_420"),
        );
        return;
    };
    if is_retired(term) {
        findings.push(
            warning(
                "retired-photometric-interpretation",
                tags::PHOTOMETRIC_INTERPRETATION,
                format!(
                    "Photometric Interpretation `{term}` is retired and not decoded by Hounsfield"
                ),
            )
            .with_value(term),
        );
    }
    if let Some(samples) = layout.samples_per_pixel.filter(|&s| s != needed) {
        findings.push(
            error(
                "photometric-samples-mismatch",
                tags::SAMPLES_PER_PIXEL,
                format!("Samples per Pixel is {samples} but Photometric Interpretation `{term}` needs {needed}"),
            )
            .with_value(samples.to_string())
            .expecting(needed.to_string()),
        );
    }
}

fn check_planar_configuration(
    layout: &Layout,
    photometric: Option<&str>,
    findings: &mut Vec<Finding>,
) {
    let tag = tags::PLANAR_CONFIGURATION;
    let samples = layout.samples_per_pixel.unwrap_or(1);
    match layout.planar_configuration {
        None if samples > 1 => findings.push(
            warning(
                "missing-planar-configuration",
                tag,
                format!("Planar Configuration is missing with {samples} samples per pixel; it is required then (Type 1C), and 0 (interleaved) is assumed"),
            )
            .expecting("0 or 1"),
        ),
        None => {}
        Some(value) if !matches!(value, 0 | 1) => findings.push(
            error("invalid-planar-configuration", tag, format!("Planar Configuration is {value}"))
                .with_value(value.to_string())
                .expecting("0 (interleaved) or 1 (by plane)"),
        ),
        Some(value) if samples == 1 => findings.push(
            warning(
                "unexpected-planar-configuration",
                tag,
                "Planar Configuration is present with 1 sample per pixel; it is only allowed with more (Type 1C)".into(),
            )
            .with_value(value.to_string())
            .expecting("absent"),
        ),
        Some(1) if photometric == Some("YBR_FULL_422") => findings.push(
            warning(
                "planar-configuration-not-interleaved",
                tag,
                "Planar Configuration is 1 with YBR_FULL_422, which must be interleaved (PS3.3 C.7.6.3.1.2)".into(),
            )
            .with_value("1")
            .expecting("0"),
        ),
        Some(_) => {}
    }
}

/// Checks the native Pixel Data length against Rows x Columns x Samples x
/// Bits Allocated x Number of Frames (PS3.5 8.1.1). Every value has even
/// length (PS3.5 7.1.1), so one trailing pad byte after an odd number of
/// pixel bytes is normal.
fn check_native_length(
    layout: &Layout,
    photometric: Option<&str>,
    actual: usize,
    findings: &mut Vec<Finding>,
) {
    let (Some(rows), Some(columns), Some(allocated)) =
        (layout.rows, layout.columns, layout.bits_allocated)
    else {
        return;
    };
    let samples = layout.samples_per_pixel.unwrap_or(1);
    let frames = layout.frames.unwrap_or(1);
    if rows < 1 || columns < 1 || samples < 1 || allocated < 1 || frames < 1 {
        return;
    }
    let bits_per_frame =
        |samples: i64| rows as u128 * columns as u128 * samples as u128 * allocated as u128;
    let expected_bytes = |samples: i64| (bits_per_frame(samples) * frames as u128).div_ceil(8);
    let full = expected_bytes(samples);
    let actual = actual as u128;

    // Native YBR_FULL_422 stores two samples per pixel (PS3.3 C.7.6.3.1.2).
    let expected = if photometric == Some("YBR_FULL_422") && samples == 3 {
        if actual >= full {
            findings.push(
                warning(
                    "ybr-full-422-not-subsampled",
                    tags::PHOTOMETRIC_INTERPRETATION,
                    format!("Photometric Interpretation is YBR_FULL_422 but Pixel Data has {actual} bytes, enough for 3 samples per pixel; it is YBR_FULL data"),
                )
                .with_value("YBR_FULL_422")
                .expecting("YBR_FULL"),
            );
            full
        } else {
            expected_bytes(2)
        }
    } else {
        full
    };

    let dimensions = format!(
        "{rows}x{columns} pixels, {samples} sample(s) of {allocated} bits, {frames} frame(s)"
    );
    if actual < expected {
        findings.push(
            error(
                "pixel-data-too-short",
                tags::PIXEL_DATA,
                format!("Pixel Data has {actual} bytes, {expected} expected for {dimensions}"),
            )
            .with_value(format!("{actual} bytes"))
            .expecting(format!("{expected} bytes")),
        );
    } else if actual > expected + expected % 2 {
        findings.push(
            warning(
                "pixel-data-excess",
                tags::PIXEL_DATA,
                format!("Pixel Data has {actual} bytes, {expected} expected for {dimensions}; the extra bytes are ignored"),
            )
            .with_value(format!("{actual} bytes"))
            .expecting(format!("{expected} bytes")),
        );
    } else if expected % 2 == 1 && actual == expected {
        findings.push(
            warning(
                "pixel-data-odd-length",
                tags::PIXEL_DATA,
                format!(
                    "Pixel Data has an odd length ({actual} bytes) without the trailing pad byte"
                ),
            )
            .with_value(format!("{actual} bytes"))
            .expecting(format!("{} bytes", expected + 1)),
        );
    }
}

/// Encapsulated Pixel Data (PS3.5 A.4) needs at least one fragment per
/// frame, and a Basic Offset Table, when present, has one entry per frame.
fn check_fragments(layout: &Layout, offsets: usize, fragments: usize, findings: &mut Vec<Finding>) {
    let frames = layout.frames.unwrap_or(1).max(1) as usize;
    if fragments < frames {
        findings.push(
            error(
                "too-few-fragments",
                tags::PIXEL_DATA,
                format!(
                    "encapsulated Pixel Data has {fragments} fragment(s) for {frames} frame(s)"
                ),
            )
            .with_value(format!("{fragments} fragments"))
            .expecting(format!("at least {frames}")),
        );
    }
    if offsets != 0 && offsets != frames {
        findings.push(
            warning(
                "offset-table-frame-count",
                tags::PIXEL_DATA,
                format!("the Basic Offset Table has {offsets} entries for {frames} frame(s)"),
            )
            .with_value(format!("{offsets} entries"))
            .expecting(format!("0 or {frames}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::PrimitiveValue;
    use dicom_core::{DataElement, VR};

    /// Builds a 2x2 MONOCHROME2 image, BA 16, BS 12, HB 11, PR 0, with 8 bytes of
    /// Pixel Data.
    fn image() -> Object {
        let mut object = Object::new_empty();
        let us = |tag, value: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(value));
        object.put(us(tags::ROWS, 2));
        object.put(us(tags::COLUMNS, 2));
        object.put(us(tags::SAMPLES_PER_PIXEL, 1));
        object.put(us(tags::BITS_ALLOCATED, 16));
        object.put(us(tags::BITS_STORED, 12));
        object.put(us(tags::HIGH_BIT, 11));
        object.put(us(tags::PIXEL_REPRESENTATION, 0));
        object.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ));
        set_pixel_bytes(&mut object, 8);
        object
    }

    fn set_pixel_bytes(object: &mut Object, length: usize) {
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::U8(vec![0u8; length].into()),
        ));
    }

    fn set_us(object: &mut Object, tag: Tag, value: u16) {
        object.put(DataElement::new(tag, VR::US, PrimitiveValue::from(value)));
    }

    fn codes(object: &Object) -> Vec<&'static str> {
        let mut findings = Vec::new();
        check(object, true, &mut findings);
        findings.iter().map(|finding| finding.code).collect()
    }

    #[test]
    fn consistent_image_has_no_findings() {
        assert_eq!(codes(&image()), Vec::<&str>::new());
    }

    #[test]
    fn missing_type_1_attribute_is_an_error() {
        let mut object = image();
        object.remove_element(tags::BITS_STORED);
        let mut findings = Vec::new();
        check(&object, true, &mut findings);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, "missing-attribute");
        assert_eq!(findings[0].severity, Severity::Error);
        assert_eq!(findings[0].keyword, Some("BitsStored"));
        assert_eq!(findings[0].tag.as_deref(), Some("(0028,0101)"));
    }

    #[test]
    fn bits_stored_above_bits_allocated_is_an_error() {
        let mut object = image();
        set_us(&mut object, tags::BITS_STORED, 17);
        set_us(&mut object, tags::HIGH_BIT, 16);
        let found = codes(&object);
        assert!(found.contains(&"bits-stored-out-of-range"), "{found:?}");
        assert!(found.contains(&"high-bit-out-of-range"), "{found:?}");
    }

    #[test]
    fn unusual_high_bit_is_a_warning() {
        let mut object = image();
        set_us(&mut object, tags::HIGH_BIT, 15);
        assert_eq!(codes(&object), ["unusual-high-bit"]);
    }

    #[test]
    fn bits_allocated_must_be_one_or_whole_bytes() {
        let mut object = image();
        set_us(&mut object, tags::BITS_ALLOCATED, 12);
        set_us(&mut object, tags::BITS_STORED, 12);
        let found = codes(&object);
        assert!(found.contains(&"invalid-bits-allocated"), "{found:?}");
        set_us(&mut object, tags::BITS_ALLOCATED, 64);
        let found = codes(&object);
        assert!(found.contains(&"unsupported-bits-allocated"), "{found:?}");
    }

    #[test]
    fn pixel_representation_two_is_an_error() {
        let mut object = image();
        set_us(&mut object, tags::PIXEL_REPRESENTATION, 2);
        assert_eq!(codes(&object), ["invalid-pixel-representation"]);
    }

    #[test]
    fn photometric_must_match_samples_per_pixel() {
        let mut object = image();
        object.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("RGB"),
        ));
        assert_eq!(codes(&object), ["photometric-samples-mismatch"]);
        object.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("GRAYSCALE"),
        ));
        assert_eq!(codes(&object), ["unknown-photometric-interpretation"]);
    }

    #[test]
    fn planar_configuration_rules() {
        let mut object = image();
        set_us(&mut object, tags::PLANAR_CONFIGURATION, 0);
        assert_eq!(codes(&object), ["unexpected-planar-configuration"]);

        // RGB 2x2 at 16 bits: 24 bytes.
        object.remove_element(tags::PLANAR_CONFIGURATION);
        set_us(&mut object, tags::SAMPLES_PER_PIXEL, 3);
        object.put(DataElement::new(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("RGB"),
        ));
        set_pixel_bytes(&mut object, 24);
        assert_eq!(codes(&object), ["missing-planar-configuration"]);
        set_us(&mut object, tags::PLANAR_CONFIGURATION, 2);
        assert_eq!(codes(&object), ["invalid-planar-configuration"]);
    }

    #[test]
    fn pixel_data_length_follows_ps3_5() {
        let mut object = image();
        set_pixel_bytes(&mut object, 6);
        assert_eq!(codes(&object), ["pixel-data-too-short"]);
        set_pixel_bytes(&mut object, 10);
        assert_eq!(codes(&object), ["pixel-data-excess"]);

        // 3x1 8-bit: 3 bytes, so 4 (one pad byte) is silent and 3 is odd.
        set_us(&mut object, tags::ROWS, 3);
        set_us(&mut object, tags::COLUMNS, 1);
        set_us(&mut object, tags::BITS_ALLOCATED, 8);
        set_us(&mut object, tags::BITS_STORED, 8);
        set_us(&mut object, tags::HIGH_BIT, 7);
        set_pixel_bytes(&mut object, 4);
        assert_eq!(codes(&object), Vec::<&str>::new());
        set_pixel_bytes(&mut object, 3);
        assert_eq!(codes(&object), ["pixel-data-odd-length"]);
    }

    #[test]
    fn number_of_frames_multiplies_the_length() {
        let mut object = image();
        object.put(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            PrimitiveValue::from("3"),
        ));
        let mut findings = Vec::new();
        check(&object, true, &mut findings);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].value.as_deref(), Some("8 bytes"));
        assert_eq!(findings[0].expected.as_deref(), Some("24 bytes"));
    }

    #[test]
    fn missing_pixel_data_after_full_read() {
        let mut object = image();
        object.remove_element(tags::PIXEL_DATA);
        assert_eq!(codes(&object), ["missing-pixel-data"]);
        let mut findings = Vec::new();
        check(&object, false, &mut findings);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn object_without_image_is_info() {
        assert_eq!(codes(&Object::new_empty()), ["no-image"]);
    }
}
