//! The metadata written beside every exported sample.
//!
//! [`ImageMetadata`] is an allowlist: it holds technical attributes only, so
//! nothing that identifies a patient reaches an export unless the caller asks
//! for [`PatientAttributes`] explicitly.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use serde::Serialize;

use crate::attr::{self, Object};
use crate::finding::Finding;

/// Technical, non-identifying attributes of one image.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImageMetadata {
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Option<String>,
    /// SOP Class UID (0008,0016).
    pub sop_class_uid: Option<String>,
    /// Series Instance UID (0020,000E).
    pub series_instance_uid: Option<String>,
    /// Study Instance UID (0020,000D).
    pub study_instance_uid: Option<String>,
    /// Frame of Reference UID (0020,0052).
    pub frame_of_reference_uid: Option<String>,
    /// Transfer Syntax UID (0002,0010).
    pub transfer_syntax_uid: String,
    /// Modality (0008,0060), e.g. `CT`.
    pub modality: Option<String>,
    /// Image Type (0008,0008) values.
    pub image_type: Vec<String>,
    /// Manufacturer (0008,0070).
    pub manufacturer: Option<String>,
    /// Manufacturer's Model Name (0008,1090).
    pub manufacturer_model_name: Option<String>,
    /// Body Part Examined (0018,0015).
    pub body_part_examined: Option<String>,
    /// Instance Number (0020,0013). Informational only: never used for order.
    pub instance_number: Option<i64>,
    /// Pixel Spacing (0028,0030) in mm: row spacing, then column spacing.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Slice Thickness (0018,0050) in mm.
    pub slice_thickness: Option<f64>,
    /// Image Position (Patient) (0020,0032) in mm, LPS.
    pub image_position_patient: Option<[f64; 3]>,
    /// Image Orientation (Patient) (0020,0037): row then column direction
    /// cosines, LPS.
    pub image_orientation_patient: Option<[f64; 6]>,
    /// Lossy Image Compression (0028,2110): `true` when `01`.
    pub lossy_image_compression: Option<bool>,
    /// Burned In Annotation (0028,0301): `true` when `YES`.
    pub burned_in_annotation: Option<bool>,
    /// Presentation Intent Type (0008,0068).
    pub presentation_intent_type: Option<String>,
    /// Study Date (0008,0020) shifted by the patient's offset; set only by
    /// [`crate::Deidentifier::apply`] with a date key, never unshifted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub study_date_shifted: Option<String>,
}

fn fixed<const N: usize>(
    object: &Object,
    tag: Tag,
    findings: &mut Vec<Finding>,
) -> Option<[f64; N]> {
    match attr::decimals(object, tag) {
        Ok(Some(values)) if values.len() == N => values.try_into().ok(),
        Ok(Some(values)) => {
            findings.push(Finding::about(
                crate::Severity::Warning,
                "wrong-value-count",
                tag,
                format!(
                    "{} has {} values, expected {N}; the attribute was ignored",
                    attr::keyword(tag),
                    values.len()
                ),
            ));
            None
        }
        Ok(None) => None,
        Err(error) => {
            findings.push(Finding::ignored_attribute(&error));
            None
        }
    }
}

impl ImageMetadata {
    /// Reads the metadata of a data set. Values that cannot be parsed are
    /// left out and reported in `findings`.
    pub fn read(object: &Object, transfer_syntax_uid: &str, findings: &mut Vec<Finding>) -> Self {
        let text = |tag| attr::text(object, tag);
        let flag = |tag, yes: &str| text(tag).map(|value| value.eq_ignore_ascii_case(yes));
        let instance_number = match attr::integer(object, tags::INSTANCE_NUMBER) {
            Ok(value) => value,
            Err(error) => {
                findings.push(Finding::ignored_attribute(&error));
                None
            }
        };
        let slice_thickness = match attr::decimal(object, tags::SLICE_THICKNESS) {
            Ok(value) => value,
            Err(error) => {
                findings.push(Finding::ignored_attribute(&error));
                None
            }
        };
        ImageMetadata {
            sop_instance_uid: text(tags::SOP_INSTANCE_UID),
            sop_class_uid: text(tags::SOP_CLASS_UID),
            series_instance_uid: text(tags::SERIES_INSTANCE_UID),
            study_instance_uid: text(tags::STUDY_INSTANCE_UID),
            frame_of_reference_uid: text(tags::FRAME_OF_REFERENCE_UID),
            transfer_syntax_uid: transfer_syntax_uid.trim_end_matches('\0').to_string(),
            modality: text(tags::MODALITY),
            image_type: attr::texts(object, tags::IMAGE_TYPE),
            manufacturer: text(tags::MANUFACTURER),
            manufacturer_model_name: text(tags::MANUFACTURER_MODEL_NAME),
            body_part_examined: text(tags::BODY_PART_EXAMINED),
            instance_number,
            pixel_spacing: fixed(object, tags::PIXEL_SPACING, findings),
            slice_thickness,
            image_position_patient: fixed(object, tags::IMAGE_POSITION_PATIENT, findings),
            image_orientation_patient: fixed(object, tags::IMAGE_ORIENTATION_PATIENT, findings),
            lossy_image_compression: flag(tags::LOSSY_IMAGE_COMPRESSION, "01"),
            burned_in_annotation: flag(tags::BURNED_IN_ANNOTATION, "YES"),
            presentation_intent_type: text(tags::PRESENTATION_INTENT_TYPE),
            study_date_shifted: None,
        }
    }
}

/// The first item of functional group `sequence` for `frame`: from the
/// Per-frame Functional Groups Sequence, else the Shared one (PS3.3 C.7.6.16).
fn functional_group(object: &Object, frame: u32, sequence: Tag) -> Option<&Object> {
    let group_item = |groups: Tag, index: usize| {
        object
            .get(groups)?
            .items()?
            .get(index)?
            .get(sequence)?
            .items()?
            .first()
    };
    group_item(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, frame as usize)
        .or_else(|| group_item(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0))
}

impl ImageMetadata {
    /// Replaces the geometry with the values of `frame` from the functional
    /// groups of an enhanced multi-frame object (Pixel Measures, Plane
    /// Position and Plane Orientation, PS3.3 C.7.6.16.2). Objects without
    /// functional groups are left as they are.
    pub fn apply_frame(&mut self, object: &Object, frame: u32, findings: &mut Vec<Finding>) {
        if let Some(item) = functional_group(object, frame, tags::PIXEL_MEASURES_SEQUENCE) {
            if let Some(spacing) = fixed(item, tags::PIXEL_SPACING, findings) {
                self.pixel_spacing = Some(spacing);
            }
            match attr::decimal(item, tags::SLICE_THICKNESS) {
                Ok(Some(thickness)) => self.slice_thickness = Some(thickness),
                Ok(None) => {}
                Err(error) => findings.push(Finding::ignored_attribute(&error)),
            }
        }
        if let Some(item) = functional_group(object, frame, tags::PLANE_POSITION_SEQUENCE) {
            if let Some(position) = fixed(item, tags::IMAGE_POSITION_PATIENT, findings) {
                self.image_position_patient = Some(position);
            }
        }
        if let Some(item) = functional_group(object, frame, tags::PLANE_ORIENTATION_SEQUENCE) {
            if let Some(orientation) = fixed(item, tags::IMAGE_ORIENTATION_PATIENT, findings) {
                self.image_orientation_patient = Some(orientation);
            }
        }
    }
}

/// Patient-identifying attributes, exported only when the user opts in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PatientAttributes {
    /// Patient's Name (0010,0010).
    pub patient_name: Option<String>,
    /// Patient ID (0010,0020).
    pub patient_id: Option<String>,
    /// Patient's Birth Date (0010,0030).
    pub patient_birth_date: Option<String>,
    /// Patient's Sex (0010,0040).
    pub patient_sex: Option<String>,
    /// Patient's Age (0010,1010).
    pub patient_age: Option<String>,
    /// Accession Number (0008,0050).
    pub accession_number: Option<String>,
    /// Study Date (0008,0020).
    pub study_date: Option<String>,
    /// Institution Name (0008,0080).
    pub institution_name: Option<String>,
    /// Referring Physician's Name (0008,0090).
    pub referring_physician_name: Option<String>,
}

impl PatientAttributes {
    /// Reads the patient-identifying attributes of a data set.
    pub fn read(object: &Object) -> Self {
        let text = |tag| attr::text(object, tag);
        PatientAttributes {
            patient_name: text(tags::PATIENT_NAME),
            patient_id: text(tags::PATIENT_ID),
            patient_birth_date: text(tags::PATIENT_BIRTH_DATE),
            patient_sex: text(tags::PATIENT_SEX),
            patient_age: text(tags::PATIENT_AGE),
            accession_number: text(tags::ACCESSION_NUMBER),
            study_date: text(tags::STUDY_DATE),
            institution_name: text(tags::INSTITUTION_NAME),
            referring_physician_name: text(tags::REFERRING_PHYSICIAN_NAME),
        }
    }
}
