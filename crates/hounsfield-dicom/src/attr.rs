//! Strict readers for attribute values.
//!
//! Each reader returns `Ok(None)` when the attribute is absent or empty and an
//! [`AttributeError`] when a value is present but not valid for its VR, so a
//! malformed value can never turn silently into a default.

use dicom_core::dictionary::DataDictionary;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::Tag;
use dicom_dictionary_std::StandardDataDictionary;
use dicom_object::InMemDicomObject;

use crate::error::AttributeError;

/// An in-memory data set (without file meta information).
pub type Object = InMemDicomObject<StandardDataDictionary>;

/// Returns the dictionary keyword of `tag`, or `"(private or unknown)"`.
pub fn keyword(tag: Tag) -> &'static str {
    StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.alias)
        .unwrap_or("(private or unknown)")
}

fn primitive(object: &Object, tag: Tag) -> Option<&PrimitiveValue> {
    match object.get(tag)?.value() {
        Value::Primitive(PrimitiveValue::Empty) => None,
        Value::Primitive(value) => Some(value),
        _ => None,
    }
}

fn trim_value(text: &str) -> &str {
    text.trim_matches(|c: char| c == ' ' || c == '\0')
}

fn invalid(tag: Tag, value: impl Into<String>, reason: impl Into<String>) -> AttributeError {
    AttributeError::new(keyword(tag), tag, value, reason)
}

/// Reads a single text value with leading and trailing spaces and NULs
/// removed; an empty value reads as `None`.
pub fn text(object: &Object, tag: Tag) -> Option<String> {
    let value = primitive(object, tag)?;
    let joined = value.to_str();
    let trimmed = trim_value(&joined);
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Reads all values of a multi-valued text attribute, each trimmed.
pub fn texts(object: &Object, tag: Tag) -> Vec<String> {
    match primitive(object, tag) {
        Some(value) => value
            .to_multi_str()
            .iter()
            .map(|item| trim_value(item).to_string())
            .collect(),
        None => Vec::new(),
    }
}

/// Parses one Decimal String value (PS3.5 6.2): an optional sign, digits, an
/// optional fraction and exponent, surrounded by optional spaces.
pub fn parse_decimal_string(text: &str) -> Option<f64> {
    let text = trim_value(text);
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E');
    if text.is_empty() || !text.chars().all(allowed) {
        return None;
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Parses one Integer String value (PS3.5 6.2).
pub fn parse_integer_string(text: &str) -> Option<i64> {
    let text = trim_value(text);
    let value = text.parse::<i64>().ok()?;
    (-(1i64 << 31)..(1i64 << 31))
        .contains(&value)
        .then_some(value)
}

fn numbers<T: Copy + Into<f64>>(values: &[T]) -> Vec<f64> {
    values.iter().map(|&v| v.into()).collect()
}

/// Reads every value of a numeric attribute as `f64`. DS and IS text values
/// are parsed strictly; binary values (FL, FD, US, SS, ...) are converted.
pub fn decimals(object: &Object, tag: Tag) -> Result<Option<Vec<f64>>, AttributeError> {
    let Some(value) = primitive(object, tag) else {
        return Ok(None);
    };
    let parsed = match value {
        PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => {
            let items = value.to_multi_str();
            let mut parsed = Vec::with_capacity(items.len());
            for item in items.iter() {
                match parse_decimal_string(item) {
                    Some(number) => parsed.push(number),
                    None => {
                        return Err(invalid(
                            tag,
                            value.to_str(),
                            format!("`{}` is not a valid decimal number", trim_value(item)),
                        ))
                    }
                }
            }
            parsed
        }
        PrimitiveValue::F64(v) => v.to_vec(),
        PrimitiveValue::F32(v) => numbers(v),
        PrimitiveValue::U16(v) => numbers(v),
        PrimitiveValue::I16(v) => numbers(v),
        PrimitiveValue::U32(v) => numbers(v),
        PrimitiveValue::I32(v) => numbers(v),
        PrimitiveValue::U8(v) => numbers(v),
        PrimitiveValue::I64(v) => v.iter().map(|&x| x as f64).collect(),
        PrimitiveValue::U64(v) => v.iter().map(|&x| x as f64).collect(),
        _ => return Err(invalid(tag, value.to_str(), "not a numeric value")),
    };
    if parsed.is_empty() {
        return Ok(None);
    }
    Ok(Some(parsed))
}

/// Reads the first value of a numeric attribute as `f64` (see [`decimals`]).
pub fn decimal(object: &Object, tag: Tag) -> Result<Option<f64>, AttributeError> {
    Ok(decimals(object, tag)?.and_then(|values| values.first().copied()))
}

/// Reads the first value of an integer attribute (IS, US, UL, SS, SL).
pub fn integer(object: &Object, tag: Tag) -> Result<Option<i64>, AttributeError> {
    let Some(value) = primitive(object, tag) else {
        return Ok(None);
    };
    let first: Option<i64> = match value {
        PrimitiveValue::Str(_) | PrimitiveValue::Strs(_) => {
            let items = value.to_multi_str();
            let Some(item) = items.first() else {
                return Ok(None);
            };
            if trim_value(item).is_empty() {
                return Ok(None);
            }
            match parse_integer_string(item) {
                Some(number) => Some(number),
                None => {
                    return Err(invalid(
                        tag,
                        value.to_str(),
                        format!("`{}` is not a valid integer", trim_value(item)),
                    ))
                }
            }
        }
        PrimitiveValue::U16(v) => v.first().map(|&x| x.into()),
        PrimitiveValue::I16(v) => v.first().map(|&x| x.into()),
        PrimitiveValue::U32(v) => v.first().map(|&x| x.into()),
        PrimitiveValue::I32(v) => v.first().map(|&x| x.into()),
        PrimitiveValue::U8(v) => v.first().map(|&x| x.into()),
        PrimitiveValue::I64(v) => v.first().copied(),
        PrimitiveValue::U64(v) => v.first().and_then(|&x| i64::try_from(x).ok()),
        _ => return Err(invalid(tag, value.to_str(), "not an integer value")),
    };
    Ok(first)
}

/// Reads a "US or SS" attribute (PS3.6 lists e.g. Pixel Padding Value this
/// way) and gives it the sign that Pixel Representation implies.
///
/// Implicit VR files do not say which of the two VRs was written, so the
/// parser may have read the two bytes either way; they are reinterpreted
/// here: signed when `signed` is true (Pixel Representation 1), else
/// unsigned.
pub fn us_or_ss(object: &Object, tag: Tag, signed: bool) -> Result<Option<i64>, AttributeError> {
    let Some(value) = primitive(object, tag) else {
        return Ok(None);
    };
    let raw: Option<u16> = match value {
        PrimitiveValue::U16(v) => v.first().copied(),
        PrimitiveValue::I16(v) => v.first().map(|&x| x as u16),
        PrimitiveValue::U8(bytes) if bytes.len() >= 2 => {
            Some(u16::from_le_bytes([bytes[0], bytes[1]]))
        }
        _ => {
            return integer(object, tag);
        }
    };
    Ok(raw.map(|bits| {
        if signed {
            i64::from(bits as i16)
        } else {
            i64::from(bits)
        }
    }))
}

/// Checks a Unique Identifier value (PS3.5 9.1): at most 64 characters,
/// digit components separated by single dots, no leading zero in a
/// multi-digit component.
pub fn check_uid(uid: &str) -> Result<(), String> {
    if uid.is_empty() {
        return Err("empty UID".into());
    }
    if uid.len() > 64 {
        return Err(format!(
            "UID is {} characters long, the maximum is 64",
            uid.len()
        ));
    }
    for component in uid.split('.') {
        if component.is_empty() {
            return Err("UID has an empty component".into());
        }
        if !component.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("UID component `{component}` is not all digits"));
        }
        if component.len() > 1 && component.starts_with('0') {
            return Err(format!("UID component `{component}` has a leading zero"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::tags;

    fn object_with(tag: Tag, vr: VR, value: PrimitiveValue) -> Object {
        let mut object = Object::new_empty();
        object.put(DataElement::new(tag, vr, value));
        object
    }

    #[test]
    fn decimal_string_accepts_standard_forms() {
        assert_eq!(parse_decimal_string(" -1024 "), Some(-1024.0));
        assert_eq!(parse_decimal_string("+1.5E2"), Some(150.0));
        assert_eq!(parse_decimal_string(".5"), Some(0.5));
        assert_eq!(parse_decimal_string("1\0"), Some(1.0));
    }

    #[test]
    fn decimal_string_rejects_garbage() {
        assert_eq!(parse_decimal_string("1A"), None);
        assert_eq!(parse_decimal_string("NaN"), None);
        assert_eq!(parse_decimal_string("inf"), None);
        assert_eq!(parse_decimal_string(""), None);
        assert_eq!(parse_decimal_string("1,5"), None);
    }

    #[test]
    fn malformed_ds_is_an_error_naming_the_attribute() {
        let object = object_with(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("1,5"));
        let error = decimal(&object, tags::RESCALE_SLOPE).unwrap_err();
        assert_eq!(error.keyword, "RescaleSlope");
        assert!(error.to_string().contains("(0028,1053)"), "{error}");
        assert!(error.to_string().contains("1,5"), "{error}");
    }

    #[test]
    fn multi_valued_ds_reads_every_value() {
        let object = object_with(
            tags::WINDOW_CENTER,
            VR::DS,
            PrimitiveValue::Strs(["40".to_string(), "300".to_string()].into()),
        );
        assert_eq!(
            decimals(&object, tags::WINDOW_CENTER).unwrap(),
            Some(vec![40.0, 300.0])
        );
    }

    #[test]
    fn us_or_ss_takes_sign_from_pixel_representation() {
        // 0xF830 is -2000 as a signed 16-bit value and 63536 as unsigned.
        let object = object_with(
            tags::PIXEL_PADDING_VALUE,
            VR::US,
            PrimitiveValue::from(0xF830u16),
        );
        assert_eq!(
            us_or_ss(&object, tags::PIXEL_PADDING_VALUE, true).unwrap(),
            Some(-2000)
        );
        assert_eq!(
            us_or_ss(&object, tags::PIXEL_PADDING_VALUE, false).unwrap(),
            Some(63536)
        );
    }

    #[test]
    fn integer_string_out_of_range_is_rejected() {
        assert_eq!(parse_integer_string("2147483648"), None);
        assert_eq!(parse_integer_string(" 12 "), Some(12));
    }

    #[test]
    fn uid_syntax_is_checked() {
        assert!(check_uid("1.2.840.10008.1.2.1").is_ok());
        assert!(check_uid("1.2.03").is_err());
        assert!(check_uid("1..2").is_err());
        assert!(check_uid("1.2.a").is_err());
        assert!(check_uid(&"1.".repeat(40)).is_err());
    }
}
