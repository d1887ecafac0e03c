//! The DICOM JSON model (PS3.18 F.2) of a data set.
//!
//! Each attribute becomes `"GGGGEEEE": {"vr": VR, "Value": [...]}` with the
//! tag as 8 uppercase hex digits. Strings stay strings, DS, IS and the
//! binary numeric VRs become JSON numbers, PN values become objects with
//! `Alphabetic`, `Ideographic` and `Phonetic` component groups, bulk binary
//! values become `InlineBinary` base64 text, and sequence items become
//! nested objects. An empty value has no `Value` key, and an empty value
//! among several is `null` (PS3.18 F.2.5).
//!
//! Two cases cannot follow the model, because the file breaks its VR. A DS
//! or IS value that is not a number is kept as the string found. A floating
//! point value that is NaN or infinite is written as the string `NaN`,
//! `inf` or `-inf`.
//!
//! # References
//! - [PS3.18 F.2](https://dicom.nema.org/medical/dicom/current/output/chtml/part18/sect_F.2.html)

use base64::Engine;
use dicom_core::header::Header;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Tag, VR};
use serde_json::{Map, Number, Value as Json};

use crate::attr::{parse_decimal_string, parse_integer_string, Object};
use crate::open::{DicomFile, Framing};

/// Largest integer that a JSON number (an IEEE double) represents exactly,
/// 2^53.
const MAX_EXACT_JSON_INTEGER: u64 = 1 << 53;

/// Returns the key of `tag` in the JSON model: 8 uppercase hex digits.
pub fn json_key(tag: Tag) -> String {
    format!("{:04X}{:04X}", tag.group(), tag.element())
}

/// Converts a data set to the DICOM JSON model. With `skip_pixel_data`,
/// Pixel Data, Float and Double Float Pixel Data and the top-level elements
/// after them are left out.
pub fn dataset_to_json(object: &Object, skip_pixel_data: bool) -> Map<String, Json> {
    let mut map = Map::new();
    for element in object {
        let tag = element.tag();
        if skip_pixel_data && tag >= Tag(0x7FE0, 0x0008) {
            break;
        }
        map.insert(json_key(tag), element_json(element.vr(), element.value()));
    }
    map
}

/// Converts a file to the DICOM JSON model: the File Meta Information
/// elements (group 0002, for Part 10 files only) followed by the data set.
pub fn file_to_json(file: &DicomFile, skip_pixel_data: bool) -> Map<String, Json> {
    let mut map = Map::new();
    if file.framing == Framing::Part10 {
        for element in file.object.meta().to_element_iter() {
            if let Value::Primitive(value) = element.value() {
                map.insert(json_key(element.tag()), primitive_json(element.vr(), value));
            }
        }
    }
    map.extend(dataset_to_json(file.dataset(), skip_pixel_data));
    map
}

fn element_json<P>(vr: VR, value: &Value<Object, P>) -> Json {
    match value {
        Value::Primitive(primitive) => primitive_json(vr, primitive),
        Value::Sequence(sequence) => {
            let mut attribute = Map::new();
            attribute.insert("vr".into(), Json::from("SQ"));
            let items: Vec<Json> = sequence
                .items()
                .iter()
                .map(|item| Json::Object(dataset_to_json(item, false)))
                .collect();
            if !items.is_empty() {
                attribute.insert("Value".into(), Json::Array(items));
            }
            Json::Object(attribute)
        }
        // Encapsulated Pixel Data has no JSON form other than a bulk data
        // reference, so only its VR is written.
        Value::PixelSequence(_) => {
            let mut attribute = Map::new();
            attribute.insert("vr".into(), Json::from(vr.to_string()));
            Json::Object(attribute)
        }
    }
}

fn primitive_json(vr: VR, value: &PrimitiveValue) -> Json {
    let mut attribute = Map::new();
    attribute.insert("vr".into(), Json::from(vr.to_string()));
    if matches!(value, PrimitiveValue::Empty) {
        return Json::Object(attribute);
    }
    match vr {
        VR::OB | VR::OD | VR::OF | VR::OL | VR::OV | VR::OW | VR::UN => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value.to_bytes());
            attribute.insert("InlineBinary".into(), Json::from(encoded));
        }
        _ => {
            let values = values_json(vr, value);
            if !values.is_empty() {
                attribute.insert("Value".into(), Json::Array(values));
            }
        }
    }
    Json::Object(attribute)
}

fn values_json(vr: VR, value: &PrimitiveValue) -> Vec<Json> {
    match vr {
        VR::PN => texts(value).into_iter().map(person_name).collect(),
        VR::DS => texts(value)
            .into_iter()
            .map(|text| text_number(text, |t| parse_decimal_string(t).and_then(Number::from_f64)))
            .collect(),
        VR::IS => texts(value)
            .into_iter()
            .map(|text| text_number(text, |t| parse_integer_string(t).map(Number::from)))
            .collect(),
        VR::AT => match value {
            PrimitiveValue::Tags(tags) => {
                tags.iter().map(|&tag| Json::from(json_key(tag))).collect()
            }
            other => texts(other).into_iter().map(text_json).collect(),
        },
        VR::FL | VR::FD | VR::SL | VR::SS | VR::SV | VR::UL | VR::US | VR::UV => numbers(value),
        _ => texts(value).into_iter().map(text_json).collect(),
    }
}

/// Returns the values of a string attribute without their trailing padding
/// (spaces and NULs). Leading spaces are significant in most text VRs, so only the
/// number parsers of DS and IS remove them.
fn texts(value: &PrimitiveValue) -> Vec<String> {
    value
        .to_multi_str()
        .iter()
        .map(|item| item.trim_end_matches([' ', '\0']).to_string())
        .collect()
}

fn text_json(text: String) -> Json {
    if text.is_empty() {
        Json::Null
    } else {
        Json::from(text)
    }
}

fn text_number(text: String, parse: impl Fn(&str) -> Option<Number>) -> Json {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Json::Null;
    }
    match parse(trimmed) {
        Some(number) => Json::Number(number),
        // Not a number: keep the text found in the file (see the module docs).
        None => Json::from(trimmed),
    }
}

/// Converts a PN value to its three component groups (PS3.18 F.2.2), or
/// `null` when all are empty.
fn person_name(text: String) -> Json {
    let mut name = Map::new();
    for (group, key) in text
        .split('=')
        .zip(["Alphabetic", "Ideographic", "Phonetic"])
    {
        if !group.is_empty() {
            name.insert(key.into(), Json::from(group));
        }
    }
    if name.is_empty() {
        Json::Null
    } else {
        Json::Object(name)
    }
}

fn float(number: f64) -> Json {
    match Number::from_f64(number) {
        Some(number) => Json::Number(number),
        None if number.is_nan() => Json::from("NaN"),
        None if number > 0.0 => Json::from("inf"),
        None => Json::from("-inf"),
    }
}

fn integer_u64(number: u64) -> Json {
    if number <= MAX_EXACT_JSON_INTEGER {
        Json::from(number)
    } else {
        // PS3.18 F.2.3 allows a string for UV values past 2^53.
        Json::from(number.to_string())
    }
}

fn integer_i64(number: i64) -> Json {
    if number.unsigned_abs() <= MAX_EXACT_JSON_INTEGER {
        Json::from(number)
    } else {
        Json::from(number.to_string())
    }
}

fn numbers(value: &PrimitiveValue) -> Vec<Json> {
    match value {
        PrimitiveValue::U8(v) => v.iter().map(|&x| Json::from(x)).collect(),
        PrimitiveValue::U16(v) => v.iter().map(|&x| Json::from(x)).collect(),
        PrimitiveValue::I16(v) => v.iter().map(|&x| Json::from(x)).collect(),
        PrimitiveValue::U32(v) => v.iter().map(|&x| Json::from(x)).collect(),
        PrimitiveValue::I32(v) => v.iter().map(|&x| Json::from(x)).collect(),
        PrimitiveValue::U64(v) => v.iter().map(|&x| integer_u64(x)).collect(),
        PrimitiveValue::I64(v) => v.iter().map(|&x| integer_i64(x)).collect(),
        // The shortest decimal text of an f32 gives the number a reader
        // expects (0.3, not 0.30000001192092896).
        PrimitiveValue::F32(v) => v
            .iter()
            .map(|&x| float(x.to_string().parse::<f64>().unwrap_or(f64::from(x))))
            .collect(),
        PrimitiveValue::F64(v) => v.iter().map(|&x| float(x)).collect(),
        other => texts(other)
            .into_iter()
            .map(|text| text_number(text, |t| t.parse::<f64>().ok().and_then(Number::from_f64)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::DataSetSequence;
    use dicom_core::DataElement;
    use dicom_dictionary_std::tags;
    use serde_json::json;

    fn object(elements: Vec<DataElement<Object>>) -> Object {
        let mut object = Object::new_empty();
        for element in elements {
            object.put(element);
        }
        object
    }

    #[test]
    fn strings_numbers_and_names_follow_the_model() {
        let data = object(vec![
            DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from("CT")),
            DataElement::new(
                tags::WINDOW_CENTER,
                VR::DS,
                PrimitiveValue::Strs(vec!["40".to_string(), "-1.5E2".to_string()].into()),
            ),
            DataElement::new(tags::INSTANCE_NUMBER, VR::IS, PrimitiveValue::from(" 7 ")),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(128u16)),
            DataElement::new(
                tags::PATIENT_NAME,
                VR::PN,
                PrimitiveValue::from("Yamada^Tarou=山田^太郎"),
            ),
        ]);
        let json = Json::Object(dataset_to_json(&data, true));
        assert_eq!(json["00080060"], json!({"vr": "CS", "Value": ["CT"]}));
        assert_eq!(
            json["00281050"],
            json!({"vr": "DS", "Value": [40.0, -150.0]})
        );
        assert_eq!(json["00200013"], json!({"vr": "IS", "Value": [7]}));
        assert_eq!(json["00280010"], json!({"vr": "US", "Value": [128]}));
        assert_eq!(
            json["00100010"],
            json!({"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]})
        );
    }

    #[test]
    fn malformed_decimal_string_is_kept_as_text() {
        let data = object(vec![DataElement::new(
            tags::SLICE_THICKNESS,
            VR::DS,
            PrimitiveValue::from("2.5mm"),
        )]);
        let json = Json::Object(dataset_to_json(&data, true));
        assert_eq!(json["00180050"], json!({"vr": "DS", "Value": ["2.5mm"]}));
    }

    #[test]
    fn binary_and_empty_values() {
        let data = object(vec![
            DataElement::new(
                Tag(0x0029, 0x1010),
                VR::OB,
                PrimitiveValue::U8(vec![0u8, 1, 2, 3].into()),
            ),
            DataElement::new(tags::ACCESSION_NUMBER, VR::SH, PrimitiveValue::Empty),
        ]);
        let json = Json::Object(dataset_to_json(&data, true));
        assert_eq!(
            json["00291010"],
            json!({"vr": "OB", "InlineBinary": "AAECAw=="})
        );
        assert_eq!(json["00080050"], json!({"vr": "SH"}));
    }

    #[test]
    fn sequences_nest_items_and_pixel_data_is_skipped() {
        let item = object(vec![DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3\0"),
        )]);
        let data = object(vec![
            DataElement::new(
                tags::REFERENCED_IMAGE_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![item]),
            ),
            DataElement::new(
                tags::PIXEL_DATA,
                VR::OW,
                PrimitiveValue::U16(vec![1u16].into()),
            ),
        ]);
        let json = Json::Object(dataset_to_json(&data, true));
        assert_eq!(
            json["00081140"],
            json!({"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": ["1.2.3"]}}]})
        );
        assert!(json.get("7FE00010").is_none(), "{json}");
        let with_pixels = Json::Object(dataset_to_json(&data, false));
        assert_eq!(
            with_pixels["7FE00010"],
            json!({"vr": "OW", "InlineBinary": "AQA="})
        );
    }

    #[test]
    fn empty_values_among_several_are_null() {
        let data = object(vec![DataElement::new(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(
                vec!["ORIGINAL".to_string(), String::new(), "AXIAL".to_string()].into(),
            ),
        )]);
        let json = Json::Object(dataset_to_json(&data, true));
        assert_eq!(
            json["00080008"],
            json!({"vr": "CS", "Value": ["ORIGINAL", null, "AXIAL"]})
        );
    }

    #[test]
    fn floats_keep_their_short_form() {
        let data = object(vec![DataElement::new(
            Tag(0x0018, 0x9089),
            VR::FD,
            PrimitiveValue::F32(vec![0.3f32, f32::NAN].into()),
        )]);
        let json = Json::Object(dataset_to_json(&data, true));
        assert_eq!(json["00189089"], json!({"vr": "FD", "Value": [0.3, "NaN"]}));
    }
}
