//! Slice headers: the attributes of one image plane (a single-frame file or
//! one frame of an enhanced multi-frame file) that series assembly uses.

use std::fmt;
use std::path::{Path, PathBuf};

use hounsfield_dicom::attr::{self, Object};
use hounsfield_dicom::{tags, Tag};
use serde::{Serialize, Serializer};

use crate::error::SeriesError;

/// A digest of one frame's decoded pixels (for example SHA-256 of its
/// modality values), computed by the pixel stage.
///
/// Two slices at the same position with equal hashes are exact duplicates;
/// with different hashes they are different images (another phase, echo or
/// acquisition).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PixelHash(pub [u8; 32]);

impl fmt::Display for PixelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PixelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PixelHash({self})")
    }
}

impl Serialize for PixelHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The source of a slice's plane geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GeometrySource {
    /// The top-level Image Plane Module (PS3.3 C.7.6.2) of a single-frame
    /// image.
    ImagePlaneModule,
    /// The functional groups of an enhanced multi-frame image (PS3.3
    /// C.7.6.16): Plane Position, Plane Orientation and Pixel Measures.
    FunctionalGroups,
    /// A multi-frame image without per-frame functional groups: its frames
    /// share one position (cine, for example) and cannot be stacked in space.
    FramesWithoutPositions,
}

/// The attributes of one image plane that grouping, splitting and ordering
/// use. Read with [`read_slices`]; `pixel_hash` is filled in later by the
/// pixel stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SliceHeader {
    /// The file.
    pub path: PathBuf,
    /// Frame index within the file, 0-based.
    pub frame: u32,
    /// Number of Frames (0028,0008) of the file, 1 when absent.
    pub number_of_frames: u32,
    /// The source of the plane geometry.
    pub geometry_source: GeometrySource,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Option<String>,
    /// Series Instance UID (0020,000E).
    pub series_instance_uid: Option<String>,
    /// Series Number (0020,0011).
    pub series_number: Option<i64>,
    /// Frame of Reference UID (0020,0052).
    pub frame_of_reference_uid: Option<String>,
    /// Modality (0008,0060).
    pub modality: Option<String>,
    /// Image Type (0008,0008), or Frame Type (0008,9007) of an enhanced
    /// frame.
    pub image_type: Vec<String>,
    /// Complex Image Component (0008,9208): `MAGNITUDE`, `PHASE`, ...
    pub complex_image_component: Option<String>,
    /// Rows (0028,0010).
    pub rows: Option<u32>,
    /// Columns (0028,0011).
    pub columns: Option<u32>,
    /// Pixel Spacing (0028,0030) in mm: row spacing (between rows), then
    /// column spacing (between columns), PS3.3 10.7.1.3.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Image Orientation (Patient) (0020,0037): row direction cosines, then
    /// column direction cosines, in LPS.
    pub image_orientation: Option<[f64; 6]>,
    /// Image Position (Patient) (0020,0032): the centre of the first pixel in
    /// mm, LPS.
    pub image_position: Option<[f64; 3]>,
    /// Slice Thickness (0018,0050) in mm. Nominal, never the spacing.
    pub slice_thickness: Option<f64>,
    /// Spacing Between Slices (0018,0088) in mm, a cross-check only.
    pub spacing_between_slices: Option<f64>,
    /// Gantry/Detector Tilt (0018,1120) in degrees, nominal (PS3.3 C.8.2.1),
    /// compared with the tilt measured from the positions.
    pub gantry_detector_tilt: Option<f64>,
    /// Acquisition Number (0020,0012), or Frame Acquisition Number
    /// (0020,9156) of an enhanced frame.
    pub acquisition_number: Option<i64>,
    /// Echo Numbers (0018,0086), first value.
    pub echo_number: Option<i64>,
    /// Echo Time (0018,0081), or Effective Echo Time (0018,9082) of an
    /// enhanced frame, in ms.
    pub echo_time: Option<f64>,
    /// Temporal Position Identifier (0020,0100), or Temporal Position Index
    /// (0020,9128) of an enhanced frame.
    pub temporal_position: Option<i64>,
    /// Stack ID (0020,9056) of an enhanced frame.
    pub stack_id: Option<String>,
    /// Trigger Time (0018,1060), or Nominal Cardiac Trigger Delay Time
    /// (0020,9153) of an enhanced frame, in ms.
    pub trigger_time: Option<f64>,
    /// Acquisition Time (0008,0032) as written (HHMMSS.FFFFFF).
    pub acquisition_time: Option<String>,
    /// Instance Number (0020,0013). Never used for slice order.
    pub instance_number: Option<i64>,
    /// Digest of the decoded pixels, set by the pixel stage when asked for
    /// (see [`Assembly::needs_pixel_hash`](crate::Assembly::needs_pixel_hash)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_hash: Option<PixelHash>,
}

impl SliceHeader {
    /// Creates a header with only the file and frame set, for building
    /// slices by hand.
    pub fn new(path: impl Into<PathBuf>, frame: u32) -> Self {
        SliceHeader {
            path: path.into(),
            frame,
            number_of_frames: 1,
            geometry_source: GeometrySource::ImagePlaneModule,
            sop_instance_uid: None,
            series_instance_uid: None,
            series_number: None,
            frame_of_reference_uid: None,
            modality: None,
            image_type: Vec::new(),
            complex_image_component: None,
            rows: None,
            columns: None,
            pixel_spacing: None,
            image_orientation: None,
            image_position: None,
            slice_thickness: None,
            spacing_between_slices: None,
            gantry_detector_tilt: None,
            acquisition_number: None,
            echo_number: None,
            echo_time: None,
            temporal_position: None,
            stack_id: None,
            trigger_time: None,
            acquisition_time: None,
            instance_number: None,
            pixel_hash: None,
        }
    }
}

fn fixed<const N: usize>(object: &Object, tag: Tag) -> Result<Option<[f64; N]>, SeriesError> {
    let Some(values) = attr::decimals(object, tag)? else {
        return Ok(None);
    };
    let found = values.len();
    values
        .try_into()
        .map(Some)
        .map_err(|_| SeriesError::ValueCount {
            keyword: attr::keyword(tag),
            tag,
            found,
            expected: N,
        })
}

fn dimension(object: &Object, tag: Tag) -> Result<Option<u32>, SeriesError> {
    match attr::integer(object, tag)? {
        None => Ok(None),
        Some(value) if (1..=i64::from(u32::MAX)).contains(&value) => Ok(Some(value as u32)),
        Some(value) => Err(SeriesError::OutOfRange {
            keyword: attr::keyword(tag),
            tag,
            reason: format!("`{value}` is not a positive number"),
        }),
    }
}

fn first_item(object: &Object, sequence: Tag) -> Option<&Object> {
    object.get(sequence)?.items()?.first()
}

/// The functional group items that apply to one frame: its own item in the
/// Per-frame Functional Groups Sequence, then the shared item (PS3.3
/// C.7.6.16: a macro appears in one of the two).
#[derive(Clone, Copy)]
struct FrameGroups<'a> {
    per_frame: Option<&'a Object>,
    shared: Option<&'a Object>,
}

impl<'a> FrameGroups<'a> {
    /// Returns the first item of `sequence` in the per-frame item, else in
    /// the shared item.
    fn item(&self, sequence: Tag) -> Option<&'a Object> {
        self.per_frame
            .and_then(|group| first_item(group, sequence))
            .or_else(|| self.shared.and_then(|group| first_item(group, sequence)))
    }

    /// Returns the CT Image Frame Type item (PS3.3 C.8.15.3.1), else the MR
    /// Image Frame Type item (C.8.13.5.1).
    fn frame_type_item(&self) -> Option<&'a Object> {
        self.item(tags::CT_IMAGE_FRAME_TYPE_SEQUENCE)
            .or_else(|| self.item(tags::MR_IMAGE_FRAME_TYPE_SEQUENCE))
    }
}

/// Values shared by every frame of a file.
struct FileValues {
    number_of_frames: u32,
    sop_instance_uid: Option<String>,
    series_instance_uid: Option<String>,
    series_number: Option<i64>,
    frame_of_reference_uid: Option<String>,
    modality: Option<String>,
    rows: Option<u32>,
    columns: Option<u32>,
    acquisition_time: Option<String>,
    instance_number: Option<i64>,
    gantry_detector_tilt: Option<f64>,
    echo_number: Option<i64>,
}

impl FileValues {
    fn read(object: &Object) -> Result<Self, SeriesError> {
        let number_of_frames = dimension(object, tags::NUMBER_OF_FRAMES)?.unwrap_or(1);
        Ok(FileValues {
            number_of_frames,
            sop_instance_uid: attr::text(object, tags::SOP_INSTANCE_UID),
            series_instance_uid: attr::text(object, tags::SERIES_INSTANCE_UID),
            series_number: attr::integer(object, tags::SERIES_NUMBER)?,
            frame_of_reference_uid: attr::text(object, tags::FRAME_OF_REFERENCE_UID),
            modality: attr::text(object, tags::MODALITY),
            rows: dimension(object, tags::ROWS)?,
            columns: dimension(object, tags::COLUMNS)?,
            acquisition_time: attr::text(object, tags::ACQUISITION_TIME),
            instance_number: attr::integer(object, tags::INSTANCE_NUMBER)?,
            gantry_detector_tilt: attr::decimal(object, tags::GANTRY_DETECTOR_TILT)?,
            echo_number: attr::integer(object, tags::ECHO_NUMBERS)?,
        })
    }

    fn header(&self, path: &Path, frame: u32, source: GeometrySource) -> SliceHeader {
        let mut header = SliceHeader::new(path, frame);
        header.number_of_frames = self.number_of_frames;
        header.geometry_source = source;
        header.sop_instance_uid = self.sop_instance_uid.clone();
        header.series_instance_uid = self.series_instance_uid.clone();
        header.series_number = self.series_number;
        header.frame_of_reference_uid = self.frame_of_reference_uid.clone();
        header.modality = self.modality.clone();
        header.rows = self.rows;
        header.columns = self.columns;
        header.acquisition_time = self.acquisition_time.clone();
        header.instance_number = self.instance_number;
        header.gantry_detector_tilt = self.gantry_detector_tilt;
        header.echo_number = self.echo_number;
        header
    }
}

/// Reads the top-level attributes of a single-frame image, or of a
/// multi-frame image without per-frame functional groups, whose frames all
/// get the same values.
fn read_image_plane(header: &mut SliceHeader, object: &Object) -> Result<(), SeriesError> {
    header.image_type = attr::texts(object, tags::IMAGE_TYPE);
    header.complex_image_component = attr::text(object, tags::COMPLEX_IMAGE_COMPONENT);
    header.pixel_spacing = fixed(object, tags::PIXEL_SPACING)?;
    header.image_orientation = fixed(object, tags::IMAGE_ORIENTATION_PATIENT)?;
    header.image_position = fixed(object, tags::IMAGE_POSITION_PATIENT)?;
    header.slice_thickness = attr::decimal(object, tags::SLICE_THICKNESS)?;
    header.spacing_between_slices = attr::decimal(object, tags::SPACING_BETWEEN_SLICES)?;
    header.acquisition_number = attr::integer(object, tags::ACQUISITION_NUMBER)?;
    header.echo_time = attr::decimal(object, tags::ECHO_TIME)?;
    header.temporal_position = attr::integer(object, tags::TEMPORAL_POSITION_IDENTIFIER)?;
    header.trigger_time = attr::decimal(object, tags::TRIGGER_TIME)?;
    Ok(())
}

/// Reads one frame of an enhanced image from its functional groups, falling
/// back on the top level for attributes the groups do not hold.
fn read_functional_groups(
    header: &mut SliceHeader,
    object: &Object,
    groups: FrameGroups<'_>,
) -> Result<(), SeriesError> {
    read_image_plane(header, object)?;
    // The top-level Image Plane Module is not part of enhanced IODs; a
    // stray copy must not stand in for a frame's own geometry.
    header.image_position = None;
    header.image_orientation = None;
    header.pixel_spacing = None;

    if let Some(item) = groups.item(tags::PLANE_POSITION_SEQUENCE) {
        header.image_position = fixed(item, tags::IMAGE_POSITION_PATIENT)?;
    }
    if let Some(item) = groups.item(tags::PLANE_ORIENTATION_SEQUENCE) {
        header.image_orientation = fixed(item, tags::IMAGE_ORIENTATION_PATIENT)?;
    }
    if let Some(item) = groups.item(tags::PIXEL_MEASURES_SEQUENCE) {
        header.pixel_spacing = fixed(item, tags::PIXEL_SPACING)?;
        header.slice_thickness =
            attr::decimal(item, tags::SLICE_THICKNESS)?.or(header.slice_thickness);
        header.spacing_between_slices =
            attr::decimal(item, tags::SPACING_BETWEEN_SLICES)?.or(header.spacing_between_slices);
    }

    if let Some(item) = groups.frame_type_item() {
        let frame_type = attr::texts(item, tags::FRAME_TYPE);
        if !frame_type.is_empty() {
            header.image_type = frame_type;
        }
        if let Some(component) = attr::text(item, tags::COMPLEX_IMAGE_COMPONENT) {
            header.complex_image_component = Some(component);
        }
    }

    if let Some(item) = groups.item(tags::FRAME_CONTENT_SEQUENCE) {
        header.stack_id = attr::text(item, tags::STACK_ID);
        header.temporal_position =
            attr::integer(item, tags::TEMPORAL_POSITION_INDEX)?.or(header.temporal_position);
        header.acquisition_number =
            attr::integer(item, tags::FRAME_ACQUISITION_NUMBER)?.or(header.acquisition_number);
    }
    if let Some(item) = groups.item(tags::MR_ECHO_SEQUENCE) {
        header.echo_time = attr::decimal(item, tags::EFFECTIVE_ECHO_TIME)?.or(header.echo_time);
    }
    if let Some(item) = groups.item(tags::CARDIAC_SYNCHRONIZATION_SEQUENCE) {
        header.trigger_time =
            attr::decimal(item, tags::NOMINAL_CARDIAC_TRIGGER_DELAY_TIME)?.or(header.trigger_time);
    }
    Ok(())
}

/// Reads one [`SliceHeader`] per frame of a data set.
///
/// Single-frame images are read from the Image Plane Module. Enhanced
/// multi-frame images are read frame by frame from the Per-frame and Shared
/// Functional Groups Sequences (PS3.3 C.7.6.16): Plane Position (Patient),
/// Plane Orientation (Patient), Pixel Measures, Frame Content and the Frame
/// Type. Other multi-frame images give one header per frame, all marked
/// [`GeometrySource::FramesWithoutPositions`].
///
/// # Errors
///
/// [`SeriesError`] when an attribute the geometry needs is present but
/// malformed, or when the per-frame sequence does not have one item per
/// frame. Absent attributes are not errors.
pub fn read_slices(path: &Path, object: &Object) -> Result<Vec<SliceHeader>, SeriesError> {
    let file = FileValues::read(object)?;
    let per_frame = object
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|element| element.items());
    let shared = first_item(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let Some(items) = per_frame else {
        let source = if file.number_of_frames > 1 {
            GeometrySource::FramesWithoutPositions
        } else {
            GeometrySource::ImagePlaneModule
        };
        let mut first = file.header(path, 0, source);
        read_image_plane(&mut first, object)?;
        let headers = (0..file.number_of_frames)
            .map(|frame| SliceHeader {
                frame,
                ..first.clone()
            })
            .collect();
        return Ok(headers);
    };
    if items.len() != file.number_of_frames as usize {
        return Err(SeriesError::FrameCountMismatch {
            items: items.len(),
            frames: file.number_of_frames,
        });
    }
    let mut headers = Vec::with_capacity(items.len());
    for (frame, item) in items.iter().enumerate() {
        let mut header = file.header(path, frame as u32, GeometrySource::FunctionalGroups);
        let groups = FrameGroups {
            per_frame: Some(item),
            shared,
        };
        read_functional_groups(&mut header, object, groups)?;
        headers.push(header);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::DataSetSequence;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    /// Puts a text value, split at backslashes into its values as a parser
    /// would.
    fn put(object: &mut Object, tag: Tag, vr: VR, value: &str) {
        let values = value.split('\\').map(str::to_string).collect();
        object.put(DataElement::new(tag, vr, PrimitiveValue::Strs(values)));
    }

    fn sequence(object: &mut Object, tag: Tag, items: Vec<Object>) {
        object.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
    }

    fn item_with(tag: Tag, vr: VR, value: &str) -> Object {
        let mut item = Object::new_empty();
        put(&mut item, tag, vr, value);
        item
    }

    #[test]
    fn single_frame_reads_image_plane_module() {
        let mut object = Object::new_empty();
        put(&mut object, tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3");
        put(&mut object, tags::IMAGE_POSITION_PATIENT, VR::DS, "1\\2\\3");
        put(
            &mut object,
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            "1\\0\\0\\0\\1\\0",
        );
        put(&mut object, tags::PIXEL_SPACING, VR::DS, "0.5\\0.25");
        put(&mut object, tags::ROWS, VR::US, "4");
        let slices = read_slices(Path::new("a.dcm"), &object).unwrap();
        assert_eq!(slices.len(), 1);
        assert_eq!(slices[0].image_position, Some([1.0, 2.0, 3.0]));
        assert_eq!(slices[0].pixel_spacing, Some([0.5, 0.25]));
        assert_eq!(slices[0].series_instance_uid.as_deref(), Some("1.2.3"));
        assert_eq!(slices[0].geometry_source, GeometrySource::ImagePlaneModule);
    }

    #[test]
    fn wrong_value_count_is_an_error() {
        let mut object = Object::new_empty();
        put(&mut object, tags::IMAGE_POSITION_PATIENT, VR::DS, "1\\2");
        let error = read_slices(Path::new("a.dcm"), &object).unwrap_err();
        assert!(
            error.to_string().contains("ImagePositionPatient"),
            "{error}"
        );
        assert!(error.to_string().contains("expected 3"), "{error}");
    }

    #[test]
    fn enhanced_frames_read_per_frame_then_shared_groups() {
        let mut object = Object::new_empty();
        put(&mut object, tags::NUMBER_OF_FRAMES, VR::IS, "2");
        put(
            &mut object,
            tags::IMAGE_TYPE,
            VR::CS,
            "ORIGINAL\\PRIMARY\\AXIAL",
        );

        let mut shared = Object::new_empty();
        sequence(
            &mut shared,
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item_with(
                tags::IMAGE_ORIENTATION_PATIENT,
                VR::DS,
                "1\\0\\0\\0\\1\\0",
            )],
        );
        sequence(
            &mut shared,
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item_with(tags::PIXEL_SPACING, VR::DS, "0.7\\0.7")],
        );
        sequence(
            &mut object,
            tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![shared],
        );

        let frames = ["0\\0\\5", "0\\0\\0"]
            .iter()
            .map(|position| {
                let mut frame = Object::new_empty();
                sequence(
                    &mut frame,
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item_with(tags::IMAGE_POSITION_PATIENT, VR::DS, position)],
                );
                frame
            })
            .collect();
        sequence(
            &mut object,
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            frames,
        );

        let slices = read_slices(Path::new("e.dcm"), &object).unwrap();
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[0].image_position, Some([0.0, 0.0, 5.0]));
        assert_eq!(slices[1].image_position, Some([0.0, 0.0, 0.0]));
        assert_eq!(slices[1].frame, 1);
        assert_eq!(slices[1].pixel_spacing, Some([0.7, 0.7]));
        assert_eq!(
            slices[0].image_orientation,
            Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
        );
        assert_eq!(slices[0].image_type, ["ORIGINAL", "PRIMARY", "AXIAL"]);
        assert_eq!(slices[0].geometry_source, GeometrySource::FunctionalGroups);
    }

    #[test]
    fn per_frame_count_mismatch_is_an_error() {
        let mut object = Object::new_empty();
        put(&mut object, tags::NUMBER_OF_FRAMES, VR::IS, "3");
        sequence(
            &mut object,
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            vec![Object::new_empty()],
        );
        let error = read_slices(Path::new("e.dcm"), &object).unwrap_err();
        assert_eq!(
            error,
            SeriesError::FrameCountMismatch {
                items: 1,
                frames: 3
            }
        );
    }

    #[test]
    fn cine_frames_have_no_positions() {
        let mut object = Object::new_empty();
        put(&mut object, tags::NUMBER_OF_FRAMES, VR::IS, "3");
        put(&mut object, tags::IMAGE_POSITION_PATIENT, VR::DS, "0\\0\\0");
        let slices = read_slices(Path::new("cine.dcm"), &object).unwrap();
        assert_eq!(slices.len(), 3);
        assert!(slices
            .iter()
            .all(|slice| slice.geometry_source == GeometrySource::FramesWithoutPositions));
    }

    #[test]
    fn pixel_hash_prints_as_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        assert!(PixelHash(bytes).to_string().starts_with("ab00"));
    }
}
