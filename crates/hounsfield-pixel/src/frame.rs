//! One decoded frame in modality values, with its padding mask and the
//! file's own windows.

use hounsfield_dicom::attr::{self, Object};
use hounsfield_dicom::{tags, DicomFile, Finding, Severity, Tag};
use ndarray::{Array2, Array3, Axis};

use crate::decode::{decode_frame, decode_native_gray, DecodeLimits};
use crate::describe::{Photometric, PixelDescription};
use crate::error::PixelError;
use crate::modality::{ModalityLut, ModalityTransform, Padding};
use crate::window::{VoiFunction, Window};

/// A grayscale frame in modality values (HU for CT).
#[derive(Debug, Clone, PartialEq)]
pub struct GrayFrame {
    /// Modality values, shape `(rows, columns)`.
    pub values: Array2<f32>,
    /// `true` where the stored value is Pixel Padding (PS3.3 C.7.5.1.1.2).
    pub padding: Option<Array2<bool>>,
    /// The Modality LUT that was applied.
    pub transform: ModalityTransform,
    /// The file is MONOCHROME1: display values must be inverted after the
    /// window (PS3.3 C.7.6.3.1.2); modality values never are.
    pub monochrome1: bool,
    /// The file's own windows for this frame, in file order.
    pub windows: Vec<FileWindow>,
}

/// A window stored in the file (PS3.3 C.11.2.1.2).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FileWindow {
    /// Center, width and VOI LUT Function.
    #[serde(flatten)]
    pub window: Window,
    /// Window Center & Width Explanation (0028,1055) for this pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameImage {
    /// A grayscale frame.
    Gray(GrayFrame),
    /// A colour frame as RGB in [0, 1], shape `(3, rows, columns)`.
    Color(Array3<f32>),
}

fn voi_item(object: &Object, frame: u32) -> Option<&Object> {
    let item = |sequence: Tag, index: usize| {
        object
            .get(sequence)?
            .items()?
            .get(index)?
            .get(tags::FRAME_VOILUT_SEQUENCE)?
            .items()?
            .first()
    };
    item(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, frame as usize)
        .or_else(|| item(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0))
}

/// Reads the file's Window Center/Width pairs for `frame`, from the Frame
/// VOI LUT functional group of enhanced objects or the top level. Pairs
/// that are invalid, or counts that differ, are reported and skipped.
pub fn file_windows(object: &Object, frame: u32, findings: &mut Vec<Finding>) -> Vec<FileWindow> {
    let source = voi_item(object, frame).unwrap_or(object);
    let read = |tag, findings: &mut Vec<Finding>| match attr::decimals(source, tag) {
        Ok(values) => values.unwrap_or_default(),
        Err(error) => {
            findings.push(Finding::ignored_attribute(&error));
            Vec::new()
        }
    };
    let centers = read(tags::WINDOW_CENTER, findings);
    let widths = read(tags::WINDOW_WIDTH, findings);
    if centers.len() != widths.len() {
        findings.push(Finding::about(
            Severity::Warning,
            "window-count-mismatch",
            tags::WINDOW_WIDTH,
            format!(
                "{} Window Center value(s) but {} Window Width value(s); only complete pairs are used",
                centers.len(),
                widths.len()
            ),
        ));
    }
    let explanations = attr::texts(source, tags::WINDOW_CENTER_WIDTH_EXPLANATION);
    let function = match attr::text(source, tags::VOILUT_FUNCTION) {
        None => VoiFunction::Linear,
        Some(term) => VoiFunction::from_dicom(&term).unwrap_or_else(|| {
            findings.push(Finding::about(
                Severity::Warning,
                "unknown-voi-function",
                tags::VOILUT_FUNCTION,
                format!("unknown VOI LUT Function `{term}`; using LINEAR"),
            ));
            VoiFunction::Linear
        }),
    };
    let mut windows = Vec::new();
    for (index, (&center, &width)) in centers.iter().zip(&widths).enumerate() {
        let window = Window {
            center,
            width,
            function,
        };
        if let Err(error) = window.prepare() {
            findings.push(Finding::about(
                Severity::Warning,
                "invalid-window",
                tags::WINDOW_WIDTH,
                format!("window {index} ignored: {error}"),
            ));
            continue;
        }
        windows.push(FileWindow {
            window,
            explanation: explanations
                .get(index)
                .filter(|text| !text.is_empty())
                .cloned(),
        });
    }
    windows
}

/// Decodes frame `frame` and applies the Modality LUT (grayscale) or the
/// colour conversion (colour).
pub fn read_frame(
    file: &DicomFile,
    description: &PixelDescription,
    frame: u32,
    limits: &DecodeLimits,
    findings: &mut Vec<Finding>,
) -> Result<FrameImage, PixelError> {
    let object = file.dataset();
    if let Some(plane) = decode_native_gray(file, description, frame, limits, findings)? {
        let lut = ModalityLut::for_frame(object, description, frame, findings)?;
        let padding = Padding::read(object, description.signed)?
            .map(|padding| padding.mask_narrow(plane.view()));
        return Ok(FrameImage::Gray(GrayFrame {
            values: lut.apply(plane.view()),
            padding,
            transform: lut.transform,
            monochrome1: description.photometric == Photometric::Monochrome1,
            windows: file_windows(object, frame, findings),
        }));
    }
    let stored = decode_frame(file, description, frame, limits, findings)?;
    if description.samples_per_pixel != 1 || description.photometric == Photometric::PaletteColor {
        return crate::colour::to_rgb(object, description, &stored, findings)
            .map(FrameImage::Color);
    }
    if !description.photometric.is_monochrome() {
        return Err(PixelError::Unsupported(format!(
            "Photometric Interpretation `{}` with one sample per pixel",
            description.photometric.as_str()
        )));
    }
    let plane = stored.values.index_axis(Axis(0), 0);
    let lut = ModalityLut::for_frame(object, description, frame, findings)?;
    let padding = Padding::read(object, description.signed)?.map(|padding| padding.mask(plane));
    Ok(FrameImage::Gray(GrayFrame {
        values: lut.apply(plane),
        padding,
        transform: lut.transform,
        monochrome1: description.photometric == Photometric::Monochrome1,
        windows: file_windows(object, frame, findings),
    }))
}
