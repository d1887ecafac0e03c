//! Rules for the text of Decimal String, Integer String and Unique
//! Identifier values (PS3.5 6.2 and 9.1), applied to every element of the
//! data set, sequence items included.

use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;

use crate::attr::{self, check_uid, parse_decimal_string, parse_integer_string, Object};
use crate::finding::{Finding, Severity};

/// Longest DS value, in bytes (PS3.5 Table 6.2-1).
const MAX_DS_BYTES: usize = 16;
/// Longest IS value, in bytes (PS3.5 Table 6.2-1).
const MAX_IS_BYTES: usize = 12;

/// Attributes that Hounsfield reads to compute pixels or geometry. A value
/// of one of these that cannot be parsed is an error, because the attribute
/// is then ignored; elsewhere it is a warning.
const USED_NUMERIC_ATTRIBUTES: [Tag; 10] = [
    tags::RESCALE_SLOPE,
    tags::RESCALE_INTERCEPT,
    tags::WINDOW_CENTER,
    tags::WINDOW_WIDTH,
    tags::PIXEL_SPACING,
    tags::IMAGE_POSITION_PATIENT,
    tags::IMAGE_ORIENTATION_PATIENT,
    tags::SLICE_THICKNESS,
    tags::SPACING_BETWEEN_SLICES,
    tags::NUMBER_OF_FRAMES,
];

/// Applies the DS, IS and UI rules to every element of `object`.
pub(super) fn check(object: &Object, findings: &mut Vec<Finding>) {
    let mut location = Vec::new();
    walk(object, &mut location, findings);
}

fn walk(object: &Object, location: &mut Vec<String>, findings: &mut Vec<Finding>) {
    for element in object {
        let tag = element.tag();
        match element.value() {
            Value::Sequence(sequence) => {
                for (index, item) in sequence.items().iter().enumerate() {
                    location.push(format!("{}[{index}]", attr::keyword(tag)));
                    walk(item, location, findings);
                    location.pop();
                }
            }
            Value::Primitive(value) => check_value(tag, element.vr(), value, location, findings),
            Value::PixelSequence(_) => {}
        }
    }
}

fn check_value(
    tag: Tag,
    vr: VR,
    value: &PrimitiveValue,
    location: &[String],
    findings: &mut Vec<Finding>,
) {
    if !matches!(vr, VR::DS | VR::IS | VR::UI) {
        return;
    }
    // Values written as binary numbers by a converter have no text to check.
    if !matches!(value, PrimitiveValue::Str(_) | PrimitiveValue::Strs(_)) {
        return;
    }
    for item in value.to_multi_str().iter() {
        let text = item.trim_end_matches('\0');
        if text.trim().is_empty() {
            continue;
        }
        if let Some(finding) = check_text(tag, vr, text) {
            findings.push(place(finding, location));
        }
    }
}

fn check_text(tag: Tag, vr: VR, text: &str) -> Option<Finding> {
    let keyword = attr::keyword(tag);
    let parse_severity = if USED_NUMERIC_ATTRIBUTES.contains(&tag) {
        Severity::Error
    } else {
        Severity::Warning
    };
    match vr {
        VR::DS if parse_decimal_string(text).is_none() => Some(
            Finding::about(
                parse_severity,
                "malformed-ds",
                tag,
                format!("{keyword} value `{text}` is not a valid Decimal String"),
            )
            .with_value(text)
            .expecting("a decimal number such as -12.5 or 1.5E2"),
        ),
        VR::DS if text.len() > MAX_DS_BYTES => Some(
            Finding::about(
                Severity::Warning,
                "value-too-long",
                tag,
                format!("{keyword} value `{text}` has {} bytes, more than the 16 a Decimal String allows", text.len()),
            )
            .with_value(text)
            .expecting("at most 16 bytes"),
        ),
        VR::IS if parse_integer_string(text).is_none() => Some(
            Finding::about(
                parse_severity,
                "malformed-is",
                tag,
                format!("{keyword} value `{text}` is not a valid Integer String"),
            )
            .with_value(text)
            .expecting("an integer from -2^31 to 2^31 - 1"),
        ),
        VR::IS if text.len() > MAX_IS_BYTES => Some(
            Finding::about(
                Severity::Warning,
                "value-too-long",
                tag,
                format!("{keyword} value `{text}` has {} bytes, more than the 12 an Integer String allows", text.len()),
            )
            .with_value(text)
            .expecting("at most 12 bytes"),
        ),
        VR::UI => check_uid(text.trim_end_matches(' ')).err().map(|reason| {
            Finding::about(
                Severity::Warning,
                "malformed-ui",
                tag,
                format!("{keyword} value `{text}` is not a valid UID: {reason}"),
            )
            .with_value(text)
            .expecting("digits in components separated by dots, no leading zeros, at most 64 characters")
        }),
        _ => None,
    }
}

/// Prefixes the message with the sequence items that hold the element.
fn place(mut finding: Finding, location: &[String]) -> Finding {
    if !location.is_empty() {
        finding.message = format!("in {}: {}", location.join(" > "), finding.message);
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::DataSetSequence;
    use dicom_core::DataElement;

    fn run(object: &Object) -> Vec<Finding> {
        let mut findings = Vec::new();
        check(object, &mut findings);
        findings
    }

    #[test]
    fn malformed_used_ds_is_an_error() {
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::RESCALE_SLOPE,
            VR::DS,
            PrimitiveValue::from("1,5"),
        ));
        object.put(DataElement::new(
            tags::PATIENT_WEIGHT,
            VR::DS,
            PrimitiveValue::from("70kg"),
        ));
        let findings = run(&object);
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert_eq!(findings[0].code, "malformed-ds");
        assert_eq!(findings[0].keyword, Some("PatientWeight"));
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[1].keyword, Some("RescaleSlope"));
        assert_eq!(findings[1].severity, Severity::Error);
        assert_eq!(findings[1].value.as_deref(), Some("1,5"));
    }

    #[test]
    fn every_value_is_checked() {
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::Strs(vec!["0.5".to_string(), "0.5.1".to_string()].into()),
        ));
        let findings = run(&object);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].value.as_deref(), Some("0.5.1"));
    }

    #[test]
    fn malformed_is_and_long_values_are_found() {
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::INSTANCE_NUMBER,
            VR::IS,
            PrimitiveValue::from("1A"),
        ));
        object.put(DataElement::new(
            tags::SLICE_LOCATION,
            VR::DS,
            PrimitiveValue::from("-123.45678901234567"),
        ));
        let codes: Vec<_> = run(&object).iter().map(|f| f.code).collect();
        assert_eq!(codes, ["malformed-is", "value-too-long"]);
    }

    #[test]
    fn uids_inside_sequences_are_checked_with_their_location() {
        let mut item = Object::new_empty();
        item.put(DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.03\0"),
        ));
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3\0"),
        ));
        object.put(DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![item]),
        ));
        let findings = run(&object);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, "malformed-ui");
        assert!(
            findings[0]
                .message
                .starts_with("in ReferencedImageSequence[0]: "),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn padded_and_empty_values_are_valid() {
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::WINDOW_CENTER,
            VR::DS,
            PrimitiveValue::Strs(vec![" 40".to_string(), String::new()].into()),
        ));
        object.put(DataElement::new(
            tags::SERIES_NUMBER,
            VR::IS,
            PrimitiveValue::from("+3 "),
        ));
        assert!(run(&object).is_empty());
    }
}
