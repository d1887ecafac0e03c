//! Reading the values of one row from a DICOM file.

use hounsfield_dicom::attr::{self, Object};
use hounsfield_dicom::{tags, DicomFile, ImageMetadata, PatientAttributes, Tag};
use hounsfield_pixel::DecodeLimits;

use crate::stats::{pixel_statistics, PixelStats, WindowRange};

/// Image Pixel Module attributes as found (PS3.3 C.7.6.3).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PixelAttributes {
    /// Rows (0028,0010).
    pub rows: Option<i64>,
    /// Columns (0028,0011).
    pub columns: Option<i64>,
    /// Number of Frames (0028,0008); 1 for an image without it.
    pub number_of_frames: Option<i64>,
    /// Samples per Pixel (0028,0002).
    pub samples_per_pixel: Option<i64>,
    /// Bits Allocated (0028,0100).
    pub bits_allocated: Option<i64>,
    /// Bits Stored (0028,0101).
    pub bits_stored: Option<i64>,
    /// High Bit (0028,0102).
    pub high_bit: Option<i64>,
    /// Pixel Representation (0028,0103).
    pub pixel_representation: Option<i64>,
    /// Photometric Interpretation (0028,0004).
    pub photometric_interpretation: Option<String>,
}

/// Geometry of one frame, from its functional groups (enhanced objects) or
/// the top level.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geometry {
    /// Pixel Spacing (0028,0030) in mm: row spacing, then column spacing.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Slice Thickness (0018,0050) in mm.
    pub slice_thickness: Option<f64>,
    /// Image Orientation (Patient) (0020,0037).
    pub image_orientation: Option<[f64; 6]>,
    /// Image Position (Patient) (0020,0032) in mm.
    pub image_position: Option<[f64; 3]>,
}

/// The Window Center (0028,1050) and Window Width (0028,1051) values as
/// found, each list in file order. Their lengths may differ.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Windows {
    /// Window Center values.
    pub centers: Vec<f64>,
    /// Window Width values.
    pub widths: Vec<f64>,
}

/// Rescale Slope (0028,1053), Rescale Intercept (0028,1052) and Rescale
/// Type (0028,1054).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rescale {
    /// Rescale Slope.
    pub slope: Option<f64>,
    /// Rescale Intercept.
    pub intercept: Option<f64>,
    /// Rescale Type.
    pub rescale_type: Option<String>,
}

/// Everything one row shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RowData {
    /// The file.
    pub path: String,
    /// The frame (0-based), for one row per frame.
    pub frame: Option<u32>,
    /// File size in bytes.
    pub file_size: u64,
    /// UIDs, modality, manufacturer and the other technical attributes.
    pub metadata: ImageMetadata,
    /// The Image Pixel Module.
    pub pixel: PixelAttributes,
    /// Pixel spacing, thickness, orientation and position.
    pub geometry: Geometry,
    /// The file's windows.
    pub windows: Windows,
    /// The rescale.
    pub rescale: Rescale,
    /// Statistics of the non-padding modality values, when requested and
    /// the pixels are grayscale and decodable.
    pub stats: Option<PixelStats>,
    /// Share of the non-padding modality values inside the requested window.
    pub window_fraction: Option<f64>,
    /// Patient-identifying attributes, only when requested.
    pub patient: Option<PatientAttributes>,
}

/// Options that choose the rows read from a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowOptions {
    /// One row per frame instead of one per file.
    pub frames: bool,
    /// Decode the pixels for statistics.
    pub pixel_stats: bool,
    /// Decode the pixels and count the values inside this window.
    pub window_fraction: Option<WindowRange>,
    /// Read the patient-identifying attributes.
    pub patient_attributes: bool,
}

impl RowOptions {
    /// True when rows need decoded pixels, so the whole file must be read.
    pub fn needs_pixels(&self) -> bool {
        self.pixel_stats || self.window_fraction.is_some()
    }
}

fn sequence_first_item(object: &Object, tag: Tag) -> Option<&Object> {
    object.get(tag)?.items()?.first()
}

/// Reads a value of frame `frame` from its functional group `group`: the
/// per-frame item first, then the shared item, then the top level
/// (PS3.3 C.7.6.16).
fn in_functional_groups<T>(
    object: &Object,
    frame: u32,
    group: Tag,
    read: impl Fn(&Object) -> Option<T>,
) -> Option<T> {
    let per_frame = object
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|element| element.items())
        .and_then(|items| items.get(frame as usize))
        .and_then(|item| sequence_first_item(item, group));
    let shared = sequence_first_item(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|item| sequence_first_item(item, group));
    per_frame
        .and_then(&read)
        .or_else(|| shared.and_then(&read))
        .or_else(|| read(object))
}

fn decimals_of<const N: usize>(object: &Object, tag: Tag) -> Option<[f64; N]> {
    attr::decimals(object, tag).ok().flatten()?.try_into().ok()
}

fn decimal_of(object: &Object, tag: Tag) -> Option<f64> {
    attr::decimal(object, tag).ok().flatten()
}

fn integer_of(object: &Object, tag: Tag) -> Option<i64> {
    attr::integer(object, tag).ok().flatten()
}

fn pixel_attributes(object: &Object) -> PixelAttributes {
    let rows = integer_of(object, tags::ROWS);
    let is_image = rows.is_some() || object.get(tags::PIXEL_DATA).is_some();
    PixelAttributes {
        rows,
        columns: integer_of(object, tags::COLUMNS),
        number_of_frames: integer_of(object, tags::NUMBER_OF_FRAMES).or(is_image.then_some(1)),
        samples_per_pixel: integer_of(object, tags::SAMPLES_PER_PIXEL),
        bits_allocated: integer_of(object, tags::BITS_ALLOCATED),
        bits_stored: integer_of(object, tags::BITS_STORED),
        high_bit: integer_of(object, tags::HIGH_BIT),
        pixel_representation: integer_of(object, tags::PIXEL_REPRESENTATION),
        photometric_interpretation: attr::text(object, tags::PHOTOMETRIC_INTERPRETATION),
    }
}

fn geometry(object: &Object, frame: u32) -> Geometry {
    let measures = tags::PIXEL_MEASURES_SEQUENCE;
    Geometry {
        pixel_spacing: in_functional_groups(object, frame, measures, |o| {
            decimals_of(o, tags::PIXEL_SPACING)
        }),
        slice_thickness: in_functional_groups(object, frame, measures, |o| {
            decimal_of(o, tags::SLICE_THICKNESS)
        }),
        image_orientation: in_functional_groups(
            object,
            frame,
            tags::PLANE_ORIENTATION_SEQUENCE,
            |o| decimals_of(o, tags::IMAGE_ORIENTATION_PATIENT),
        ),
        image_position: in_functional_groups(object, frame, tags::PLANE_POSITION_SEQUENCE, |o| {
            decimals_of(o, tags::IMAGE_POSITION_PATIENT)
        }),
    }
}

fn windows(object: &Object, frame: u32) -> Windows {
    let values = |source: &Object, tag| attr::decimals(source, tag).ok().flatten();
    in_functional_groups(object, frame, tags::FRAME_VOILUT_SEQUENCE, |source| {
        let centers = values(source, tags::WINDOW_CENTER);
        let widths = values(source, tags::WINDOW_WIDTH);
        (centers.is_some() || widths.is_some()).then(|| Windows {
            centers: centers.unwrap_or_default(),
            widths: widths.unwrap_or_default(),
        })
    })
    .unwrap_or_default()
}

fn rescale(object: &Object, frame: u32) -> Rescale {
    in_functional_groups(
        object,
        frame,
        tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE,
        |source| {
            let slope = decimal_of(source, tags::RESCALE_SLOPE);
            let intercept = decimal_of(source, tags::RESCALE_INTERCEPT);
            (slope.is_some() || intercept.is_some()).then(|| Rescale {
                slope,
                intercept,
                rescale_type: attr::text(source, tags::RESCALE_TYPE),
            })
        },
    )
    .unwrap_or_default()
}

/// Reads the rows of one file: one row, or one per frame with
/// `options.frames`. A file-level row shows the geometry, windows and
/// rescale of the first frame, and statistics over all frames.
pub fn read_rows(
    file: &DicomFile,
    file_size: u64,
    options: &RowOptions,
    limits: &DecodeLimits,
) -> Vec<RowData> {
    let object = file.dataset();
    let mut ignored = Vec::new();
    let metadata = ImageMetadata::read(object, file.transfer_syntax(), &mut ignored);
    if !ignored.is_empty() {
        tracing::debug!(path = %file.path.display(), "{} attribute(s) could not be parsed and are empty in the table", ignored.len());
    }
    let pixel = pixel_attributes(object);
    let patient = options
        .patient_attributes
        .then(|| PatientAttributes::read(object));
    let frame_count = pixel
        .number_of_frames
        .unwrap_or(1)
        .clamp(1, i64::from(u32::MAX)) as u32;
    let frames: Vec<Option<u32>> = if options.frames {
        (0..frame_count).map(Some).collect()
    } else {
        vec![None]
    };

    frames
        .into_iter()
        .map(|frame| {
            let index = frame.unwrap_or(0);
            let (stats, window_fraction) = if options.needs_pixels() {
                pixel_statistics(file, frame, options.window_fraction, limits)
            } else {
                (None, None)
            };
            RowData {
                path: file.path.display().to_string(),
                frame,
                file_size,
                metadata: metadata.clone(),
                pixel: pixel.clone(),
                geometry: geometry(object, index),
                windows: windows(object, index),
                rescale: rescale(object, index),
                stats: if options.pixel_stats { stats } else { None },
                window_fraction,
                patient: patient.clone(),
            }
        })
        .collect()
}
