//! One file outside a run: its metadata, its decoded frames and its shard
//! samples. The Python package is built on these functions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hounsfield_dicom::{
    error_chain, open, sniff_file, DicomFile, ImageMetadata, OpenOptions, PatientAttributes,
};
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, PixelDescription};
use hounsfield_tensor::{render, InputSpec, Recipe, ShardSpec};
use ndarray::{Array4, Axis};
use serde_json::Value;

use crate::convert::{convert_file, Conversion, EncodedSample, Outcome};
use crate::discover::InputFile;
use crate::error::PipelineError;

/// Frames decoded from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedFrames {
    /// The values, `(F, C, H, W)`. Without a recipe, grayscale images have
    /// one channel of modality values (HU for CT) and colour images three
    /// RGB channels in [0, 1]. With a recipe, the channels are the recipe's.
    pub values: Array4<f32>,
    /// The image is colour (RGB channels).
    pub colour: bool,
    /// Number of Frames of the file.
    pub number_of_frames: u32,
}

fn file_error(path: &Path, message: impl Into<String>) -> PipelineError {
    PipelineError::File {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Opens a DICOM file, failing for files that are not DICOM.
fn open_dicom(
    path: &Path,
    input: &InputSpec,
    stop_before_pixel_data: bool,
) -> Result<DicomFile, PipelineError> {
    match sniff_file(path) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(file_error(path, "not a DICOM file")),
        Err(error) => return Err(file_error(path, error_chain(&error))),
    }
    let options = OpenOptions {
        stop_before_pixel_data,
        lenient_framing: input.accept_missing_file_meta,
    };
    open(path, &options).map_err(|error| file_error(path, error_chain(&error)))
}

/// Reads the header of `path` up to Pixel Data into a JSON object.
///
/// The object has the technical attributes that samples carry in their
/// metadata (UIDs, modality, geometry), `framing`, `findings`, and the
/// Image Pixel Module under `pixel`. When that module is missing or
/// invalid, `pixel` is `null` and `pixel_error` gives the reason. Patient
/// attributes are added under `patient` only when
/// `include_patient_attributes` is set.
///
/// # Errors
/// [`PipelineError::File`] when the file is not DICOM or cannot be parsed.
pub fn read_metadata(
    path: &Path,
    include_patient_attributes: bool,
) -> Result<Value, PipelineError> {
    let dicom = open_dicom(path, &InputSpec::default(), true)?;
    let object = dicom.dataset();
    let mut findings = Vec::new();
    let metadata = ImageMetadata::read(object, dicom.transfer_syntax(), &mut findings);
    let pixel = PixelDescription::read(object, &mut findings);
    let encode =
        |error: serde_json::Error| file_error(path, format!("cannot encode metadata: {error}"));

    let mut value = serde_json::to_value(&metadata).map_err(encode)?;
    let Value::Object(map) = &mut value else {
        return Err(file_error(path, "metadata is not a JSON object"));
    };
    map.insert("path".into(), path.display().to_string().into());
    map.insert(
        "framing".into(),
        serde_json::to_value(dicom.framing).map_err(encode)?,
    );
    match pixel {
        Ok(description) => {
            map.insert(
                "pixel".into(),
                serde_json::to_value(&description).map_err(encode)?,
            );
        }
        Err(error) => {
            map.insert("pixel".into(), Value::Null);
            map.insert("pixel_error".into(), error_chain(&error).into());
        }
    }
    if include_patient_attributes {
        let patient = PatientAttributes::read(object);
        map.insert(
            "patient".into(),
            serde_json::to_value(&patient).map_err(encode)?,
        );
    }
    map.insert(
        "findings".into(),
        serde_json::to_value(&findings).map_err(encode)?,
    );
    Ok(value)
}

/// Decodes frame `frame` of `path`, or every frame when `None`, into
/// modality values (no recipe) or the recipe's channels, exactly as
/// `convert` renders a sample's tensor. Without a recipe, padding pixels
/// keep their modality values; the recipe's `modality` channel fills them.
///
/// The recipe's `input` settings (files without file meta information, the
/// frame size limit) apply; without a recipe, their defaults.
///
/// # Errors
/// [`PipelineError::File`] when the file is not DICOM, cannot be decoded,
/// has no frame `frame`, the recipe cannot render it (as `convert` would
/// fail the file), or a decoder panicked.
pub fn decode_frames(
    path: &Path,
    frame: Option<u32>,
    recipe: Option<&Recipe>,
) -> Result<DecodedFrames, PipelineError> {
    match catch_unwind(AssertUnwindSafe(|| {
        decode_frames_inner(path, frame, recipe)
    })) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(file_error(
                path,
                format!("internal error while decoding: {message}"),
            ))
        }
    }
}

fn decode_frames_inner(
    path: &Path,
    frame: Option<u32>,
    recipe: Option<&Recipe>,
) -> Result<DecodedFrames, PipelineError> {
    let input = recipe
        .map(|recipe| recipe.input.clone())
        .unwrap_or_default();
    let dicom = open_dicom(path, &input, false)?;
    if dicom
        .dataset()
        .get(hounsfield_dicom::tags::PIXEL_DATA)
        .is_none()
    {
        return Err(file_error(path, "no Pixel Data (7FE0,0010): not an image"));
    }
    let mut findings = Vec::new();
    let description = PixelDescription::read(dicom.dataset(), &mut findings)
        .map_err(|error| file_error(path, error_chain(&error)))?;
    let frames: Vec<u32> = match frame {
        Some(frame) if frame < description.frames => vec![frame],
        Some(frame) => {
            return Err(file_error(
                path,
                format!(
                    "frame {frame} does not exist: Number of Frames (0028,0008) is {}",
                    description.frames
                ),
            ))
        }
        None => (0..description.frames).collect(),
    };
    let limits = DecodeLimits {
        max_frame_bytes: input.max_frame_bytes,
    };

    let mut planes = Vec::with_capacity(frames.len());
    let mut colour = false;
    for index in frames {
        let image = read_frame(&dicom, &description, index, &limits, &mut findings)
            .map_err(|error| file_error(path, error_chain(&error)))?;
        colour = matches!(image, FrameImage::Color(_));
        let tensor = match (recipe, image) {
            (Some(recipe), image) => {
                render(&image, recipe)
                    .map_err(|error| file_error(path, error.to_string()))?
                    .tensor
            }
            (None, FrameImage::Gray(gray)) => gray.values.insert_axis(Axis(0)),
            (None, FrameImage::Color(rgb)) => rgb,
        };
        planes.push(tensor);
    }
    let views: Vec<_> = planes.iter().map(|plane| plane.view()).collect();
    let values = ndarray::stack(Axis(0), &views)
        .map_err(|error| file_error(path, format!("frames differ in shape: {error}")))?;
    Ok(DecodedFrames {
        values,
        colour,
        number_of_frames: description.frames,
    })
}

/// Converts one file into its shard samples (one per frame) with `recipe`,
/// exactly as `convert` does for a file given directly as an input: keys,
/// `.npy` and `.json` bytes are the same. A recipe without shards is run
/// with the default shard settings, because the samples are the result.
///
/// # Errors
/// [`PipelineError::Skipped`] when `convert` would skip the file (not DICOM,
/// no pixel data, burned-in annotation), [`PipelineError::File`] when it
/// fails, and [`PipelineError::Config`] when a de-identification key named
/// by the recipe is not set.
pub fn convert_single(path: &Path, recipe: &Recipe) -> Result<Vec<EncodedSample>, PipelineError> {
    let mut recipe = recipe.clone();
    if recipe.export.shards.is_none() {
        recipe.export.shards = Some(ShardSpec::default());
    }
    let conversion = Conversion::new(recipe, 1)?;
    let relative = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let file = InputFile {
        path: PathBuf::from(path),
        relative,
        input_index: 0,
    };
    match convert_file(&file, &conversion) {
        Outcome::Converted { samples, .. } => Ok(samples),
        Outcome::Skipped { reason } => Err(PipelineError::Skipped {
            path: path.to_path_buf(),
            reason,
        }),
        Outcome::Failed { error, .. } => {
            // The message of a failed file starts with its path already.
            let prefix = format!("{}: ", path.display());
            let message = error.strip_prefix(&prefix).unwrap_or(&error).to_string();
            Err(file_error(path, message))
        }
    }
}
