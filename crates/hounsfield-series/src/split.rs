//! Dividing a series by the attributes that make slices belong to different
//! volumes.

use std::cmp::Ordering;

use crate::geometry::same_orientation;
use crate::header::SliceHeader;
use crate::reason::{format_numbers, SplitKey, SplitStep};

/// Largest difference of Pixel Spacing within one volume, mm.
const PIXEL_SPACING_TOLERANCE_MM: f64 = 1e-4;
/// Largest difference of Echo Time within one volume, ms.
const ECHO_TIME_TOLERANCE_MS: f64 = 1e-3;

/// The keys that divide a series, in the order they are applied. Every key
/// describes acquired data that cannot share one voxel grid or one contrast.
///
/// Acquisition Number is not among them: PS3.3 C.7.6.1 defines it as one
/// continuous gathering of data, and a step-and-shoot CT series has one per
/// rotation, so slices of one volume often carry different numbers. It only
/// separates slices at a repeated position (see `assemble`).
pub(crate) const SPLIT_KEYS: [SplitKey; 10] = [
    SplitKey::FrameOfReference,
    SplitKey::ImageType,
    SplitKey::ComplexImageComponent,
    SplitKey::EchoNumber,
    SplitKey::EchoTime,
    SplitKey::TemporalPosition,
    SplitKey::StackId,
    SplitKey::ImageSize,
    SplitKey::PixelSpacing,
    SplitKey::Orientation,
];

/// Image Type values 1 to 3, upper case. Value 4 on is implementation
/// specific (PS3.3 C.7.6.1.1.2): GE marks some slices of one volume `ADD`
/// and others not.
fn image_type_prefix(slice: &SliceHeader) -> Vec<String> {
    slice
        .image_type
        .iter()
        .take(3)
        .map(|value| value.to_ascii_uppercase())
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>, tolerance: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tolerance,
        (None, None) => true,
        _ => false,
    }
}

fn close_array<const N: usize>(a: Option<[f64; N]>, b: Option<[f64; N]>, tolerance: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= tolerance),
        (None, None) => true,
        _ => false,
    }
}

fn compare_floats(a: &[f64], b: &[f64]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.total_cmp(y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    a.len().cmp(&b.len())
}

fn text_or_none<T: std::fmt::Display>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map_or_else(|| "(absent)".to_string(), ToString::to_string)
}

impl SplitKey {
    /// Tells whether two slices fall on the same side of this key.
    pub(crate) fn same(self, a: &SliceHeader, b: &SliceHeader, orientation_tolerance: f64) -> bool {
        match self {
            SplitKey::FrameOfReference => a.frame_of_reference_uid == b.frame_of_reference_uid,
            SplitKey::ImageType => image_type_prefix(a) == image_type_prefix(b),
            SplitKey::ComplexImageComponent => {
                a.complex_image_component == b.complex_image_component
            }
            SplitKey::EchoNumber => a.echo_number == b.echo_number,
            SplitKey::EchoTime => close(a.echo_time, b.echo_time, ECHO_TIME_TOLERANCE_MS),
            SplitKey::TemporalPosition => a.temporal_position == b.temporal_position,
            SplitKey::StackId => a.stack_id == b.stack_id,
            SplitKey::ImageSize => (a.rows, a.columns) == (b.rows, b.columns),
            SplitKey::PixelSpacing => {
                close_array(a.pixel_spacing, b.pixel_spacing, PIXEL_SPACING_TOLERANCE_MM)
            }
            SplitKey::Orientation => match (a.image_orientation, b.image_orientation) {
                (Some(a), Some(b)) => same_orientation(&a, &b, orientation_tolerance),
                (None, None) => true,
                _ => false,
            },
            SplitKey::RepeatedPosition | SplitKey::UnevenSpacing => true,
        }
    }

    /// Orders the representatives of two parts, so that parts come in the
    /// order of their values (echo 1 before echo 2).
    fn compare(self, a: &SliceHeader, b: &SliceHeader) -> Ordering {
        match self {
            SplitKey::FrameOfReference => a.frame_of_reference_uid.cmp(&b.frame_of_reference_uid),
            SplitKey::ImageType => image_type_prefix(a).cmp(&image_type_prefix(b)),
            SplitKey::ComplexImageComponent => {
                a.complex_image_component.cmp(&b.complex_image_component)
            }
            SplitKey::EchoNumber => a.echo_number.cmp(&b.echo_number),
            SplitKey::EchoTime => compare_floats(
                &a.echo_time.into_iter().collect::<Vec<_>>(),
                &b.echo_time.into_iter().collect::<Vec<_>>(),
            ),
            SplitKey::TemporalPosition => a.temporal_position.cmp(&b.temporal_position),
            SplitKey::StackId => a.stack_id.cmp(&b.stack_id),
            SplitKey::ImageSize => (a.rows, a.columns).cmp(&(b.rows, b.columns)),
            SplitKey::PixelSpacing => compare_floats(
                &a.pixel_spacing.unwrap_or_default(),
                &b.pixel_spacing.unwrap_or_default(),
            ),
            SplitKey::Orientation => compare_floats(
                &a.image_orientation.unwrap_or_default(),
                &b.image_orientation.unwrap_or_default(),
            ),
            SplitKey::RepeatedPosition | SplitKey::UnevenSpacing => Ordering::Equal,
        }
    }

    /// Returns the key's value on `slice`, as text for reports.
    pub(crate) fn describe(self, slice: &SliceHeader) -> String {
        match self {
            SplitKey::FrameOfReference => text_or_none(&slice.frame_of_reference_uid),
            SplitKey::ImageType => image_type_prefix(slice).join("\\"),
            SplitKey::ComplexImageComponent => text_or_none(&slice.complex_image_component),
            SplitKey::EchoNumber => text_or_none(&slice.echo_number),
            SplitKey::EchoTime => text_or_none(&slice.echo_time),
            SplitKey::TemporalPosition => text_or_none(&slice.temporal_position),
            SplitKey::StackId => text_or_none(&slice.stack_id),
            SplitKey::ImageSize => format!(
                "{}x{}",
                text_or_none(&slice.rows),
                text_or_none(&slice.columns)
            ),
            SplitKey::PixelSpacing => slice
                .pixel_spacing
                .map_or_else(|| "(absent)".to_string(), |value| format_numbers(&value)),
            SplitKey::Orientation => slice
                .image_orientation
                .map_or_else(|| "(absent)".to_string(), |value| format_numbers(&value)),
            SplitKey::RepeatedPosition | SplitKey::UnevenSpacing => String::new(),
        }
    }

    /// Returns the attribute's name as the standard writes it.
    pub(crate) fn attribute(self) -> &'static str {
        match self {
            SplitKey::FrameOfReference => "Frame of Reference UID (0020,0052)",
            SplitKey::ImageType => "Image Type (0008,0008) values 1 to 3",
            SplitKey::ComplexImageComponent => "Complex Image Component (0008,9208)",
            SplitKey::EchoNumber => "Echo Numbers (0018,0086)",
            SplitKey::EchoTime => "Echo Time (0018,0081)",
            SplitKey::TemporalPosition => "Temporal Position Identifier (0020,0100)",
            SplitKey::StackId => "Stack ID (0020,9056)",
            SplitKey::ImageSize => "Rows and Columns (0028,0010), (0028,0011)",
            SplitKey::PixelSpacing => "Pixel Spacing (0028,0030)",
            SplitKey::Orientation => "Image Orientation (Patient) (0020,0037)",
            SplitKey::RepeatedPosition => "a repeated Image Position (Patient)",
            SplitKey::UnevenSpacing => "uneven slice spacing",
        }
    }
}

/// A set of slices of one series that may form volumes, with the steps
/// that divided it from the rest of the series.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Series Instance UID.
    pub series: String,
    /// Indices of the slices.
    pub members: Vec<usize>,
    /// The steps that divided the group from the rest of its series.
    pub split: Vec<SplitStep>,
}

/// Divides `group` by `key` into parts of equal value, ordered by value.
/// A group with one value comes back whole, with no split step.
pub(crate) fn partition(
    group: Group,
    key: SplitKey,
    slices: &[SliceHeader],
    orientation_tolerance: f64,
) -> Vec<Group> {
    let mut parts: Vec<Vec<usize>> = Vec::new();
    for &member in &group.members {
        let slice = &slices[member];
        let found = parts
            .iter_mut()
            .find(|part| key.same(&slices[part[0]], slice, orientation_tolerance));
        match found {
            Some(part) => part.push(member),
            None => parts.push(vec![member]),
        }
    }
    if parts.len() < 2 {
        return vec![group];
    }
    parts.sort_by(|a, b| key.compare(&slices[a[0]], &slices[b[0]]));
    let count = parts.len();
    let values: Vec<String> = parts
        .iter()
        .map(|part| key.describe(&slices[part[0]]))
        .collect();
    tracing::debug!(
        series = %group.series,
        "split by {} into {count} parts: {}",
        key.attribute(),
        values.join(" | ")
    );
    parts
        .into_iter()
        .zip(values)
        .map(|(members, value)| {
            let mut split = group.split.clone();
            split.push(SplitStep {
                key,
                message: format!(
                    "{} differs within the series ({count} values); this volume has `{value}`",
                    key.attribute()
                ),
                value,
                parts: count,
            });
            Group {
                series: group.series.clone(),
                members,
                split,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(echo: i64, image_type: &[&str]) -> SliceHeader {
        let mut slice = SliceHeader::new("x", 0);
        slice.echo_number = Some(echo);
        slice.image_type = image_type.iter().map(|value| value.to_string()).collect();
        slice
    }

    #[test]
    fn image_type_value_four_does_not_split() {
        let a = slice(1, &["ORIGINAL", "PRIMARY", "AXIAL", "ADD"]);
        let b = slice(1, &["ORIGINAL", "PRIMARY", "AXIAL"]);
        assert!(SplitKey::ImageType.same(&a, &b, 1e-4));
        let c = slice(1, &["ORIGINAL", "PRIMARY", "LOCALIZER"]);
        assert!(!SplitKey::ImageType.same(&a, &c, 1e-4));
    }

    #[test]
    fn partition_orders_parts_by_value() {
        let slices = vec![slice(2, &[]), slice(1, &[]), slice(2, &[])];
        let group = Group {
            series: "1.2".into(),
            members: vec![0, 1, 2],
            split: Vec::new(),
        };
        let parts = partition(group, SplitKey::EchoNumber, &slices, 1e-4);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].members, [1]);
        assert_eq!(parts[1].members, [0, 2]);
        assert_eq!(parts[1].split[0].value, "2");
        assert_eq!(parts[1].split[0].parts, 2);
    }
}
