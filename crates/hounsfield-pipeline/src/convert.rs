//! Converting one file: open, decode every frame, render, encode.

use std::panic::{catch_unwind, AssertUnwindSafe};

use hounsfield_dicom::{
    error_chain, open, DeidentificationRecord, Deidentifier, DicomFile, Finding, Framing,
    ImageMetadata, OpenOptions, PatientAttributes, Severity,
};
use hounsfield_export::{encode_npy, encode_png, unit_to_u16, unit_to_u8, PngImage};
use hounsfield_pixel::{
    read_frame, DecodeLimits, FrameImage, ModalityTransform, PixelDescription, PixelError,
};
use hounsfield_tensor::{
    render, render_display_quantized, BurnedInAnnotationPolicy, ChannelRecord, Recipe,
    SpatialRecord, WindowSpec,
};
use ndarray::Axis;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::discover::InputFile;

/// The per-sample metadata written as `KEY.json`.
#[derive(Debug, Serialize)]
pub struct SampleMetadata<'a> {
    /// The input path.
    pub source: &'a str,
    /// The sample key.
    pub key: &'a str,
    /// SOP Instance UID.
    pub sop_instance_uid: Option<&'a str>,
    /// Series Instance UID.
    pub series_instance_uid: Option<&'a str>,
    /// Frame index, 0-based.
    pub frame: u32,
    /// Number of Frames of the source.
    pub number_of_frames: u32,
    /// Tensor shape `(C, H, W)`.
    pub shape: [usize; 3],
    /// Tensor element type.
    pub dtype: &'static str,
    /// Modality (0008,0060).
    pub modality: Option<&'a str>,
    /// Photometric Interpretation of the source.
    pub photometric_interpretation: &'a str,
    /// The Modality LUT applied (grayscale only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modality_lut: Option<&'a ModalityTransform>,
    /// Pixel Spacing in mm (row, column), when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixel_spacing: Option<[f64; 2]>,
    /// What each channel holds, including the windows applied.
    pub channels: &'a [ChannelRecord],
    /// The recipe's spatial steps as applied (crop box, padding, resize).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub spatial: &'a [SpatialRecord],
    /// Pixels marked as Pixel Padding, which were filled.
    pub padding_pixels: usize,
    /// How the file was framed on disk.
    pub framing: Framing,
    /// The image's technical attributes.
    pub dicom: &'a ImageMetadata,
    /// Patient attributes, only when the recipe opts in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<&'a PatientAttributes>,
    /// What was done to de-identify this metadata (PS3.15 Annex E).
    pub deidentification: &'a DeidentificationRecord,
    /// Defects tolerated and defaults assumed for this file.
    pub findings: &'a [Finding],
}

/// One sample ready to be written.
#[derive(Debug)]
pub struct EncodedSample {
    /// The WebDataset key.
    pub key: String,
    /// `KEY.npy`.
    pub npy: Vec<u8>,
    /// `KEY.json`.
    pub json: Vec<u8>,
    /// `KEY.png`, when the recipe asks for previews in the shards.
    pub png: Option<Vec<u8>>,
}

/// A PNG file to write under the output's `png/` folder.
#[derive(Debug)]
pub struct EncodedPng {
    /// Path relative to `png/`.
    pub relative: String,
    /// The encoded file.
    pub bytes: Vec<u8>,
}

/// What happened to one input file.
#[derive(Debug)]
pub enum Outcome {
    /// Converted.
    Converted {
        /// Shard samples, one per frame.
        samples: Vec<EncodedSample>,
        /// PNG files.
        pngs: Vec<EncodedPng>,
        /// Findings of the file.
        findings: Vec<Finding>,
    },
    /// Not converted on purpose, e.g. not DICOM or no pixel data.
    Skipped {
        /// Why.
        reason: String,
    },
    /// Failed.
    Failed {
        /// The message, naming the file, the attribute and the reason.
        error: String,
        /// Findings collected before the failure.
        findings: Vec<Finding>,
    },
}

/// What every file of a run is converted with.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The recipe.
    pub recipe: Recipe,
    /// Number of input arguments; with more than one, PNG paths start with
    /// the input's index.
    pub inputs: usize,
    /// De-identification of the exported metadata.
    pub deidentifier: Deidentifier,
}

impl Conversion {
    /// Prepares a conversion, reading the de-identification keys named by
    /// the recipe from the environment.
    pub fn new(recipe: Recipe, inputs: usize) -> Result<Self, crate::PipelineError> {
        let key = |name: &Option<String>| -> Result<Option<Vec<u8>>, crate::PipelineError> {
            match name {
                None => Ok(None),
                Some(name) => match std::env::var(name) {
                    Ok(value) if !value.is_empty() => Ok(Some(value.into_bytes())),
                    _ => Err(crate::PipelineError::Config(format!(
                        "the recipe names the environment variable {name} for a de-identification key, but it is not set or empty"
                    ))),
                },
            }
        };
        let deidentifier = Deidentifier::new(
            key(&recipe.privacy.uid_key_env)?,
            key(&recipe.privacy.date_shift_key_env)?,
            recipe.privacy.include_patient_attributes,
        );
        Ok(Conversion {
            recipe,
            inputs,
            deidentifier,
        })
    }
}

/// Characters allowed in keys besides ASCII letters and digits.
fn key_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Builds the sample key: the relative path with other characters replaced
/// by `_` (no dots, because WebDataset splits member names at the first dot),
/// a hash of the full source path against collisions, and the frame.
pub fn sample_key(file: &InputFile, frame: u32) -> String {
    let readable: String = file
        .relative
        .chars()
        .map(|c| if key_safe(c) { c } else { '_' })
        .collect();
    let tail: String = readable
        .chars()
        .rev()
        .take(60)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let digest = Sha256::digest(format!("{}\0{}", file.input_index, file.relative).as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{tail}-{hash}-f{frame:04}")
}

/// The PNG path of a frame, relative to the `png/` folder.
fn png_name(file: &InputFile, frame: u32, frames: u32, inputs: usize) -> String {
    let base = if inputs > 1 {
        format!("input-{}/{}", file.input_index, file.relative)
    } else {
        file.relative.clone()
    };
    if frames > 1 {
        format!("{base}.frame-{frame:04}.png")
    } else {
        format!("{base}.png")
    }
}

/// Encodes the preview of a frame as a PNG file of 16 bits per sample when
/// `bits` is 16, else 8, windowing and quantising in one pass.
fn preview_png(image: &FrameImage, window: &WindowSpec, bits: u8) -> Result<Vec<u8>, String> {
    let result = if bits == 16 {
        let (samples, _) = render_display_quantized(image, window, unit_to_u16);
        match samples.dim().0 {
            1 => encode_png(PngImage::Gray16(samples.index_axis(Axis(0), 0))),
            _ => encode_png(PngImage::Rgb16(samples.view())),
        }
    } else {
        let (samples, _) = render_display_quantized(image, window, unit_to_u8);
        match samples.dim().0 {
            1 => encode_png(PngImage::Gray8(samples.index_axis(Axis(0), 0))),
            _ => encode_png(PngImage::Rgb8(samples.view())),
        }
    };
    result.map_err(|error| error_chain(&error))
}

/// Converts one input file. Never panics: a panic inside a decoder becomes
/// a failure of this file.
pub fn convert_file(file: &InputFile, conversion: &Conversion) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| convert_file_inner(file, conversion))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Outcome::Failed {
                error: format!(
                    "{}: internal error while decoding: {message}",
                    file.path.display()
                ),
                findings: Vec::new(),
            }
        }
    }
}

fn convert_file_inner(file: &InputFile, conversion: &Conversion) -> Outcome {
    let recipe = &conversion.recipe;
    let source = file.path.display().to_string();
    let options = OpenOptions {
        stop_before_pixel_data: false,
        lenient_framing: recipe.input.accept_missing_file_meta,
    };
    // `open` recognises DICOM by content first, so other files are skipped
    // without a second read of their first bytes.
    let dicom = match open(&file.path, &options) {
        Ok(dicom) => dicom,
        Err(hounsfield_dicom::Error::NotDicom { .. }) => {
            return Outcome::Skipped {
                reason: "not a DICOM file".into(),
            }
        }
        Err(error) => {
            return Outcome::Failed {
                error: error.to_string(),
                findings: Vec::new(),
            }
        }
    };
    let mut findings = Vec::new();
    if let Framing::MissingFileMeta { .. } = dicom.framing {
        findings.push(Finding::new(
            Severity::Warning,
            "missing-file-meta",
            format!("{}; read leniently", dicom.framing),
        ));
    }
    if dicom
        .object
        .get(hounsfield_dicom::tags::PIXEL_DATA)
        .is_none()
    {
        return Outcome::Skipped {
            reason: "no Pixel Data (7FE0,0010): not an image".into(),
        };
    }
    let burned_in = hounsfield_dicom::attr::text(
        dicom.dataset(),
        hounsfield_dicom::tags::BURNED_IN_ANNOTATION,
    )
    .is_some_and(|value| value.eq_ignore_ascii_case("YES"));
    if burned_in {
        match recipe.privacy.burned_in_annotation {
            BurnedInAnnotationPolicy::Exclude => {
                return Outcome::Skipped {
                    reason: "Burned In Annotation (0028,0301) is YES: the pixels may show identifying text; set privacy.burned_in_annotation to keep to convert it".into(),
                }
            }
            BurnedInAnnotationPolicy::Keep => findings.push(Finding::about(
                Severity::Warning,
                "burned-in-annotation",
                hounsfield_dicom::tags::BURNED_IN_ANNOTATION,
                "Burned In Annotation is YES: the pixels may show identifying text",
            )),
        }
    }
    match convert_frames(file, &dicom, conversion, &source, &mut findings) {
        Ok((samples, pngs)) => Outcome::Converted {
            samples,
            pngs,
            findings,
        },
        Err(error) => Outcome::Failed {
            error: format!("{source}: {error}"),
            findings,
        },
    }
}

fn convert_frames(
    file: &InputFile,
    dicom: &DicomFile,
    conversion: &Conversion,
    source: &str,
    findings: &mut Vec<Finding>,
) -> Result<(Vec<EncodedSample>, Vec<EncodedPng>), PixelError> {
    let recipe = &conversion.recipe;
    let inputs = conversion.inputs;
    let object = dicom.dataset();
    let description = PixelDescription::read(object, findings)?;
    let metadata = ImageMetadata::read(object, dicom.transfer_syntax(), findings);
    let deidentification = conversion.deidentifier.record();
    let patient = recipe
        .privacy
        .include_patient_attributes
        .then(|| PatientAttributes::read(object));
    let limits = DecodeLimits {
        max_frame_bytes: recipe.input.max_frame_bytes,
    };
    let preview_window = recipe.preview_window();
    let shard_png = recipe
        .export
        .shards
        .as_ref()
        .is_some_and(|shards| shards.png);
    let mut samples = Vec::new();
    let mut pngs = Vec::new();
    for frame in 0..description.frames {
        let image = read_frame(dicom, &description, frame, &limits, findings)?;
        let file_png = match &recipe.export.png {
            Some(png) => Some((
                png.bits,
                preview_png(&image, &preview_window, png.bits).map_err(PixelError::Unsupported)?,
            )),
            None => None,
        };
        // Shard previews are 8-bit: the PNG file's bytes when it is 8-bit too.
        let shard_preview = match &file_png {
            _ if !shard_png => None,
            Some((bits, bytes)) if *bits != 16 => Some(bytes.clone()),
            _ => Some(preview_png(&image, &preview_window, 8).map_err(PixelError::Unsupported)?),
        };
        if let Some((_, bytes)) = file_png {
            pngs.push(EncodedPng {
                relative: png_name(file, frame, description.frames, inputs),
                bytes,
            });
        }
        if recipe.export.shards.is_none() {
            continue;
        }
        let rendered =
            render(&image, recipe).map_err(|error| PixelError::Unsupported(error.to_string()))?;
        let key = sample_key(file, frame);
        let mut frame_metadata = metadata.clone();
        frame_metadata.apply_frame(object, frame, findings);
        conversion.deidentifier.apply(&mut frame_metadata, object);
        let (modality_lut, padding_pixels) = match &image {
            FrameImage::Gray(gray) => (
                Some(&gray.transform),
                gray.padding
                    .as_ref()
                    .map_or(0, |mask| mask.iter().filter(|&&p| p).count()),
            ),
            FrameImage::Color(_) => (None, 0),
        };
        let (c, h, w) = rendered.tensor.dim();
        let json = serde_json::to_vec(&SampleMetadata {
            source,
            key: &key,
            sop_instance_uid: frame_metadata.sop_instance_uid.as_deref(),
            series_instance_uid: frame_metadata.series_instance_uid.as_deref(),
            frame,
            number_of_frames: description.frames,
            shape: [c, h, w],
            dtype: "float32",
            modality: frame_metadata.modality.as_deref(),
            photometric_interpretation: description.photometric.as_str(),
            modality_lut,
            pixel_spacing: frame_metadata.pixel_spacing,
            channels: &rendered.channels,
            spatial: &rendered.spatial,
            padding_pixels,
            framing: dicom.framing,
            dicom: &frame_metadata,
            patient: patient.as_ref(),
            deidentification: &deidentification,
            findings,
        })
        .map_err(|error| PixelError::Unsupported(format!("sample metadata: {error}")))?;
        let npy = encode_npy(rendered.tensor.view())
            .map_err(|error| PixelError::Unsupported(error_chain(&error)))?;
        samples.push(EncodedSample {
            key,
            npy,
            json,
            png: shard_preview,
        });
    }
    Ok((samples, pngs))
}
