//! The sample key and the `KEY.json` metadata of a volume.

use hounsfield_dicom::{Deidentifier, Finding};
use hounsfield_pixel::ModalityTransform;
use hounsfield_series::{
    Decision, Interpolation, Matrix4, Orientation, SliceHeader, SplitStep, VolumePlan,
};
use hounsfield_tensor::ChannelRecord;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The meaning of the tensor's axes, written into every volume's
/// metadata.
pub(crate) const AXES: &str = "(C, D, H, W): C channel, D slice in ascending position along the \
     slice normal (row direction x column direction), H row, W column";
/// The index order the affines map.
pub(crate) const AFFINE_INDEX: &str = "(column, row, slice, 1), i.e. (W, H, D, 1), to mm";

/// Hex digits of the Series Instance UID hash in keys.
const KEY_HASH_DIGITS: usize = 8;

/// Builds a volume's key: modality, series number, a hash of the Series
/// Instance UID (after any UID replacement) and the volume's index in its
/// series, with no dots because WebDataset splits member names at the
/// first dot.
pub(crate) fn volume_key(plan: &VolumePlan, first: &SliceHeader, series_uid: &str) -> String {
    let modality: String = first
        .modality
        .as_deref()
        .unwrap_or("OT")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let series = first
        .series_number
        .map_or_else(|| "x".to_string(), |number| number.to_string());
    let digest = Sha256::digest(series_uid.as_bytes());
    let hash: String = digest
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        .chars()
        .take(KEY_HASH_DIGITS)
        .collect();
    format!("{modality}-s{series}-{hash}-v{:03}", plan.index_in_series)
}

/// Voxel spacing in mm.
#[derive(Debug, Serialize)]
pub(crate) struct Spacing {
    /// Between slices, along the normal.
    pub slice: f64,
    /// Between rows.
    pub row: f64,
    /// Between columns.
    pub column: f64,
}

/// One source slice of a volume, in stack order.
#[derive(Debug, Serialize)]
pub(crate) struct SliceRecord {
    /// The file.
    pub source: String,
    /// Frame index in the file, 0-based.
    pub frame: u32,
    /// SOP Instance UID, replaced when the recipe sets
    /// `privacy.uid_key_env`.
    pub sop_instance_uid: Option<String>,
    /// Instance Number, for reference only.
    pub instance_number: Option<i64>,
    /// Image Position (Patient), LPS mm.
    pub image_position_patient: Option<[f64; 3]>,
    /// Position along the slice normal, mm.
    pub position_along_normal_mm: f64,
    /// The Modality LUT applied to the slice (grayscale only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality_lut: Option<ModalityTransform>,
}

/// A decision with its sentence.
#[derive(Debug, Serialize)]
pub(crate) struct DecisionRecord<'a> {
    /// The decision, with its code and values.
    #[serde(flatten)]
    pub decision: &'a Decision,
    /// The decision as a sentence.
    pub message: String,
}

/// `KEY.json` of a volume sample.
#[derive(Debug, Serialize)]
pub(crate) struct VolumeMetadata<'a> {
    pub key: &'a str,
    pub series_instance_uid: String,
    pub frame_of_reference_uid: Option<String>,
    pub modality: Option<&'a str>,
    pub series_number: Option<i64>,
    pub index_in_series: usize,
    pub shape: [usize; 4],
    pub dtype: &'static str,
    pub axes: &'static str,
    pub spacing_mm: Spacing,
    pub affine_index: &'static str,
    pub affine_lps: Matrix4,
    pub affine_ras: Matrix4,
    pub orientation: &'a Orientation,
    pub sheared: bool,
    pub tilt_degrees: f64,
    pub steps_mm: &'a [f64],
    pub resampled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpolation: Option<Interpolation>,
    pub photometric_interpretation: &'a str,
    pub channels: &'a [ChannelRecord],
    pub padding_voxels: usize,
    pub source_slices: Vec<SliceRecord>,
    pub split: &'a [SplitStep],
    pub decisions: Vec<DecisionRecord<'a>>,
    pub findings: &'a [Finding],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nifti: Option<String>,
}

/// Lists the source slices of `plan`, UIDs replaced by `deidentifier`.
pub(crate) fn slice_records(
    plan: &VolumePlan,
    slices: &[SliceHeader],
    transforms: &[Option<ModalityTransform>],
    deidentifier: &Deidentifier,
) -> Vec<SliceRecord> {
    plan.slices
        .iter()
        .enumerate()
        .map(|(k, &index)| {
            let slice = &slices[index];
            SliceRecord {
                source: slice.path.display().to_string(),
                frame: slice.frame,
                sop_instance_uid: slice
                    .sop_instance_uid
                    .as_deref()
                    .map(|uid| deidentifier.replace_uid(uid)),
                instance_number: slice.instance_number,
                image_position_patient: slice.image_position,
                position_along_normal_mm: plan.geometry.along_normal_mm[k],
                modality_lut: transforms.get(k).cloned().flatten(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_series::{assemble, AssemblyOptions};

    #[test]
    fn key_has_no_dots_and_names_the_series() {
        let mut slice = SliceHeader::new("a.dcm", 0);
        slice.series_instance_uid = Some("1.2.3".into());
        slice.series_number = Some(4);
        slice.modality = Some("CT".into());
        slice.rows = Some(1);
        slice.columns = Some(1);
        slice.pixel_spacing = Some([1.0, 1.0]);
        slice.image_orientation = Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        slice.image_position = Some([0.0; 3]);
        let slices = vec![slice];
        let assembly = assemble(&slices, &AssemblyOptions::default());
        let key = volume_key(&assembly.volumes[0], &slices[0], "1.2.3");
        assert!(key.starts_with("CT-s4-"), "{key}");
        assert!(key.ends_with("-v000"), "{key}");
        assert!(!key.contains('.'), "{key}");
    }
}
