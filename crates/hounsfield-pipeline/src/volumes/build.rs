//! Building one volume: decoding its slices, stacking and resampling them,
//! rendering the recipe's channels, and encoding `.npy`, JSON and NIfTI.

use std::panic::{catch_unwind, AssertUnwindSafe};

use hounsfield_dicom::{error_chain, Deidentifier, Finding};
use hounsfield_export::{encode_nifti_gz, encode_npy};
use hounsfield_pixel::{read_frame, DecodeLimits, FrameImage, GrayFrame, ModalityTransform};
use hounsfield_series::{SliceHeader, VolumePlan, VolumeSpec};
use hounsfield_tensor::{render_channels, Recipe};
use ndarray::{Array3, Array4, Axis};

use crate::volumes::headers::{by_file, open_pixels};
use crate::volumes::metadata::{
    slice_records, DecisionRecord, Spacing, VolumeMetadata, AFFINE_INDEX, AXES,
};
use crate::volumes::resample::resample;

/// Settings shared by every volume of a run.
pub(crate) struct VolumeContext<'a> {
    /// The recipe, with its 2-D spatial steps removed: volumes are
    /// resampled by the `volumes` section instead.
    pub recipe: &'a Recipe,
    /// The `volumes` section, defaults filled in.
    pub spec: &'a VolumeSpec,
    /// Replaces UIDs in the metadata when the recipe sets
    /// `privacy.uid_key_env`.
    pub deidentifier: &'a Deidentifier,
    /// Write `KEY.npy` for the shards.
    pub shards: bool,
}

/// The encoded outputs of one volume.
#[derive(Debug)]
pub(crate) struct BuiltVolume {
    /// `KEY.npy`, when shards are written.
    pub npy: Option<Vec<u8>>,
    /// `KEY.json`.
    pub json: Vec<u8>,
    /// `KEY.nii.gz`, unless `volumes.nifti` is false.
    pub nifti: Option<Vec<u8>>,
    /// Output shape (C, D, H, W).
    pub shape: [usize; 4],
    /// Findings of the decoder and of assembly.
    pub findings: Vec<Finding>,
}

/// The source slices decoded and stacked, `(D, H, W)` per sample channel.
struct Stack {
    /// One array for grayscale, three (R, G, B) for colour.
    planes: Vec<Array3<f32>>,
    /// Pixel Padding of grayscale slices, `(D, H, W)`.
    padding: Option<Array3<bool>>,
    /// The first slice's frame without its values: transform, polarity and
    /// windows, which the recipe's `file` windows use.
    first_gray: Option<GrayFrame>,
    /// The Modality LUT of each slice.
    transforms: Vec<Option<ModalityTransform>>,
    photometric: String,
}

/// Builds a volume. A panic inside a decoder becomes an error of this
/// volume.
pub(crate) fn build_volume(
    plan: &VolumePlan,
    slices: &[SliceHeader],
    key: &str,
    context: &VolumeContext<'_>,
) -> Result<BuiltVolume, String> {
    match catch_unwind(AssertUnwindSafe(|| build(plan, slices, key, context))) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!(
                "internal error while building the volume: {message}"
            ))
        }
    }
}

fn build(
    plan: &VolumePlan,
    slices: &[SliceHeader],
    key: &str,
    context: &VolumeContext<'_>,
) -> Result<BuiltVolume, String> {
    let mut findings = plan.findings.clone();
    let stack = load_stack(plan, slices, context.recipe, &mut findings)?;
    let (planes, padding) = match &plan.sampling {
        None => (stack.planes, stack.padding),
        Some(sampling) => {
            let mut resampled = Vec::with_capacity(stack.planes.len());
            let mut mask = None;
            for plane in &stack.planes {
                let (values, plane_mask) = resample(
                    plane.view(),
                    stack.padding.as_ref().map(|mask| mask.view()),
                    sampling,
                    context.spec.interpolation,
                );
                resampled.push(values);
                mask = Some(plane_mask);
            }
            let mask = mask.filter(|mask| mask.iter().any(|&padded| padded));
            (resampled, mask)
        }
    };
    let [depth, rows, columns] = plan.grid.shape;
    let padding_voxels = padding
        .as_ref()
        .map_or(0, |mask| mask.iter().filter(|&&padded| padded).count());

    let frame = flatten(planes, padding, stack.first_gray)?;
    let rendered = render_channels(&frame, context.recipe);
    let channels = rendered.tensor.dim().0;
    if rendered.tensor.dim() != (channels, depth * rows, columns) {
        return Err(format!(
            "rendering changed the shape to {:?}, expected {:?}",
            rendered.tensor.dim(),
            (channels, depth * rows, columns)
        ));
    }
    let tensor: Array4<f32> = rendered
        .tensor
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((channels, depth, rows, columns))
        .map_err(|error| format!("cannot reshape the rendered volume: {error}"))?;

    let affine_ras = plan.grid.affine_ras();
    let nifti = if context.spec.nifti {
        let description = format!("hounsfield {key}");
        Some(
            encode_nifti_gz(tensor.view(), &affine_ras, &description)
                .map_err(|error| error_chain(&error))?,
        )
    } else {
        None
    };
    let npy = if context.shards {
        Some(encode_npy(tensor.view()).map_err(|error| error_chain(&error))?)
    } else {
        None
    };

    let first = &slices[plan.slices[0]];
    let deidentifier = context.deidentifier;
    let decisions = plan
        .decisions
        .iter()
        .map(|decision| DecisionRecord {
            decision,
            message: decision.message(),
        })
        .collect();
    let metadata = VolumeMetadata {
        key,
        series_instance_uid: deidentifier.replace_uid(&plan.series_instance_uid),
        frame_of_reference_uid: first
            .frame_of_reference_uid
            .as_deref()
            .map(|uid| deidentifier.replace_uid(uid)),
        modality: first.modality.as_deref(),
        series_number: first.series_number,
        index_in_series: plan.index_in_series,
        shape: [channels, depth, rows, columns],
        dtype: "float32",
        axes: AXES,
        spacing_mm: Spacing {
            slice: plan.grid.spacing_mm[0],
            row: plan.grid.spacing_mm[1],
            column: plan.grid.spacing_mm[2],
        },
        affine_index: AFFINE_INDEX,
        affine_lps: plan.grid.affine_lps,
        affine_ras,
        orientation: &plan.geometry.orientation,
        sheared: plan.grid.sheared,
        tilt_degrees: plan.geometry.tilt_degrees,
        steps_mm: &plan.geometry.steps_mm,
        resampled: plan.sampling.is_some(),
        interpolation: plan.sampling.as_ref().map(|_| context.spec.interpolation),
        photometric_interpretation: &stack.photometric,
        channels: &rendered.channels,
        padding_voxels,
        source_slices: slice_records(plan, slices, &stack.transforms, deidentifier),
        split: &plan.split,
        decisions,
        findings: &findings,
        nifti: nifti.as_ref().map(|_| format!("nifti/{key}.nii.gz")),
    };
    let json =
        serde_json::to_vec(&metadata).map_err(|error| format!("volume metadata: {error}"))?;
    Ok(BuiltVolume {
        npy,
        json,
        nifti,
        shape: [channels, depth, rows, columns],
        findings,
    })
}

/// Decodes every source slice of `plan`, opening each file once, and
/// stacks them in stack order.
fn load_stack(
    plan: &VolumePlan,
    slices: &[SliceHeader],
    recipe: &Recipe,
    findings: &mut Vec<Finding>,
) -> Result<Stack, String> {
    let limits = DecodeLimits {
        max_frame_bytes: recipe.input.max_frame_bytes,
    };
    let position: std::collections::HashMap<usize, usize> = plan
        .slices
        .iter()
        .enumerate()
        .map(|(k, &index)| (index, k))
        .collect();
    let mut images: Vec<Option<FrameImage>> = vec![None; plan.slices.len()];
    let mut photometric = String::new();
    for (path, frames) in by_file(slices, plan.slices.iter().copied()) {
        let mut file_findings = Vec::new();
        let (dicom, description) = open_pixels(&path, recipe, &mut file_findings)?;
        photometric = description.photometric.as_str().to_string();
        for (index, frame) in frames {
            let image = read_frame(&dicom, &description, frame, &limits, &mut file_findings)
                .map_err(|error| format!("{} frame {frame}: {error}", path.display()))?;
            images[position[&index]] = Some(image);
        }
        for finding in file_findings {
            if !findings.contains(&finding) {
                findings.push(finding);
            }
        }
    }
    stack_images(images, photometric)
}

/// Stacks decoded frames, which must all be grayscale or all colour, of
/// one size.
fn stack_images(images: Vec<Option<FrameImage>>, photometric: String) -> Result<Stack, String> {
    let depth = images.len();
    let mut planes: Vec<Array3<f32>> = Vec::new();
    let mut padding: Option<Array3<bool>> = None;
    let mut first_gray = None;
    let mut transforms = Vec::with_capacity(depth);
    for (k, image) in images.into_iter().enumerate() {
        let image = image.ok_or_else(|| format!("slice {k} was not decoded"))?;
        let (samples, rows, columns) = match &image {
            FrameImage::Gray(gray) => (1, gray.values.nrows(), gray.values.ncols()),
            FrameImage::Color(rgb) => rgb.dim(),
        };
        if planes.is_empty() {
            planes = vec![Array3::zeros((depth, rows, columns)); samples];
        }
        if planes.len() != samples || planes[0].dim().1 != rows || planes[0].dim().2 != columns {
            return Err(format!(
                "slice {k} has {samples} sample(s) of {rows}x{columns}, unlike the first slice"
            ));
        }
        match image {
            FrameImage::Gray(gray) => {
                planes[0].index_axis_mut(Axis(0), k).assign(&gray.values);
                transforms.push(Some(gray.transform.clone()));
                if let Some(mask) = &gray.padding {
                    padding
                        .get_or_insert_with(|| Array3::from_elem((depth, rows, columns), false))
                        .index_axis_mut(Axis(0), k)
                        .assign(mask);
                }
                if first_gray.is_none() {
                    first_gray = Some(GrayFrame {
                        values: ndarray::Array2::zeros((0, 0)),
                        padding: None,
                        ..gray
                    });
                }
            }
            FrameImage::Color(rgb) => {
                for (plane, channel) in planes.iter_mut().zip(rgb.outer_iter()) {
                    plane.index_axis_mut(Axis(0), k).assign(&channel);
                }
                transforms.push(None);
            }
        }
    }
    Ok(Stack {
        planes,
        padding,
        first_gray,
        transforms,
        photometric,
    })
}

/// Turns a `(D, H, W)` stack into one `(D·H, W)` frame, so the recipe's
/// channels are rendered once over the whole volume: one window, one
/// padding fill value and one set of image statistics per volume.
fn flatten(
    planes: Vec<Array3<f32>>,
    padding: Option<Array3<bool>>,
    first_gray: Option<GrayFrame>,
) -> Result<FrameImage, String> {
    let reshape_error = |error: ndarray::ShapeError| format!("cannot flatten the volume: {error}");
    let Some(first) = planes.first() else {
        return Err("the volume has no slices".into());
    };
    let (depth, rows, columns) = first.dim();
    match first_gray {
        Some(gray) => {
            let mut planes = planes;
            let values = planes
                .remove(0)
                .into_shape_with_order((depth * rows, columns))
                .map_err(reshape_error)?;
            let padding = padding
                .map(|mask| mask.into_shape_with_order((depth * rows, columns)))
                .transpose()
                .map_err(reshape_error)?;
            Ok(FrameImage::Gray(GrayFrame {
                values,
                padding,
                ..gray
            }))
        }
        None => {
            let mut rgb = Array3::<f32>::zeros((planes.len(), depth * rows, columns));
            for (channel, plane) in planes.into_iter().enumerate() {
                let flat = plane
                    .into_shape_with_order((depth * rows, columns))
                    .map_err(reshape_error)?;
                rgb.index_axis_mut(Axis(0), channel).assign(&flat);
            }
            Ok(FrameImage::Color(rgb))
        }
    }
}
