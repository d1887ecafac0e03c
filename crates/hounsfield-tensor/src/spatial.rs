//! Spatial steps: crop to the foreground, pad to a square and resize, for
//! 2-D frames and for `(C, D, H, W)` volumes.
//!
//! Padding pixels never blend into valid ones. A resize treats the validity
//! mask as a weight: it resizes `value × valid` and `valid` with the same
//! filter and divides the first by the second, so each output value is a
//! weighted mean of valid input values only. An output pixel whose resized
//! weight is below 0.5 (mostly padding underneath) becomes padding.

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::F32;
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use hounsfield_pixel::{FrameImage, GrayFrame};
use ndarray::{s, Array2, Array3, Array4, Axis, Zip};
use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::Value;

use crate::error::RenderError;
use crate::imageops::{gaussian_blur, largest_component_box, otsu_threshold, PixelBox};
use crate::steps::single_entry;
use crate::yaml::{expect_no_value, parse, split_tag};

/// One spatial step of a recipe's `spatial` list, applied in order to the
/// frame before its channels are rendered.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SpatialStep {
    /// `crop_foreground` or `crop_foreground: {...}`: crop to the bounding
    /// box of the largest foreground region.
    CropForeground(CropSpec),
    /// `pad_to_square`: pad the shorter side, on both ends, with padding
    /// pixels.
    PadToSquare,
    /// `resize: { size: [rows, columns], filter: bilinear }`.
    Resize(ResizeSpec),
}

/// Parameters of `crop_foreground`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CropSpec {
    /// Pixels above this value are foreground: `otsu` (Otsu's threshold of
    /// the frame's valid values) or a number in modality units (HU for CT,
    /// e.g. -500 to separate the body from air). Colour frames use the
    /// mean of R, G and B in [0, 1].
    #[serde(default)]
    pub threshold: Threshold,
    /// Standard deviation of the Gaussian blur of the foreground mask, as a
    /// fraction of the frame's longer side; the blurred mask is thresholded
    /// at 0.5. 0 turns the blur off.
    #[serde(default = "default_blur")]
    pub blur: f64,
    /// Pixels added around the box on each side, within the frame.
    #[serde(default)]
    pub margin: usize,
}

fn default_blur() -> f64 {
    0.01
}

impl Default for CropSpec {
    fn default() -> Self {
        CropSpec {
            threshold: Threshold::default(),
            blur: default_blur(),
            margin: 0,
        }
    }
}

/// The foreground threshold of `crop_foreground`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threshold {
    /// A value in modality units.
    Value(f64),
    /// `otsu`.
    Named(ThresholdMethod),
}

/// A threshold computed from the frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdMethod {
    /// Otsu's method over a 256-bin histogram of the valid values.
    #[default]
    Otsu,
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::Named(ThresholdMethod::Otsu)
    }
}

/// Parameters of `resize`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeSpec {
    /// Output size: `N` for N × N, or `[rows, columns]`.
    #[serde(deserialize_with = "deserialize_size")]
    pub size: [usize; 2],
    /// The resampling filter.
    #[serde(default)]
    pub filter: ResizeFilter,
}

fn deserialize_size<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<[usize; 2], D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Square(usize),
        Shape([usize; 2]),
    }
    Ok(match Size::deserialize(deserializer)? {
        Size::Square(side) => [side, side],
        Size::Shape(shape) => shape,
    })
}

/// A resampling filter of `fast_image_resize`, whose convolution filters
/// follow Pillow's resampling (support widened when downsampling, so they
/// also anti-alias).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResizeFilter {
    /// The nearest input pixel (Pillow `NEAREST`).
    Nearest,
    /// Box filter (Pillow `BOX`); area averaging when downsampling.
    Box,
    /// Triangle filter (Pillow `BILINEAR`), the default.
    #[default]
    Bilinear,
    /// Hamming-windowed filter (Pillow `HAMMING`).
    Hamming,
    /// Catmull-Rom cubic (Pillow `BICUBIC`).
    CatmullRom,
    /// Mitchell–Netravali cubic.
    Mitchell,
    /// Lanczos with 3 lobes (Pillow `LANCZOS`); sharpest, may ring.
    Lanczos3,
}

impl ResizeFilter {
    fn algorithm(self) -> ResizeAlg {
        match self {
            ResizeFilter::Nearest => ResizeAlg::Nearest,
            ResizeFilter::Box => ResizeAlg::Convolution(FilterType::Box),
            ResizeFilter::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
            ResizeFilter::Hamming => ResizeAlg::Convolution(FilterType::Hamming),
            ResizeFilter::CatmullRom => ResizeAlg::Convolution(FilterType::CatmullRom),
            ResizeFilter::Mitchell => ResizeAlg::Convolution(FilterType::Mitchell),
            ResizeFilter::Lanczos3 => ResizeAlg::Convolution(FilterType::Lanczos3),
        }
    }
}

/// Largest output side accepted by `resize`.
const MAX_SIDE: usize = 65_535;

impl SpatialStep {
    /// The recipe name of the step.
    pub fn name(&self) -> &'static str {
        match self {
            SpatialStep::CropForeground(_) => "crop_foreground",
            SpatialStep::PadToSquare => "pad_to_square",
            SpatialStep::Resize(_) => "resize",
        }
    }

    /// Parses `name` or `name: value`.
    pub(crate) fn from_value(value: Value) -> Result<Self, String> {
        let (name, value) = split_tag(value, "spatial step")?;
        match name.as_str() {
            "crop_foreground" => match value {
                Value::Null => Ok(SpatialStep::CropForeground(CropSpec::default())),
                value => Ok(SpatialStep::CropForeground(parse(
                    value,
                    "crop_foreground",
                )?)),
            },
            "pad_to_square" => {
                expect_no_value(&value, "pad_to_square")?;
                Ok(SpatialStep::PadToSquare)
            }
            "resize" => Ok(SpatialStep::Resize(parse(value, "resize")?)),
            other => Err(format!(
                "unknown spatial step `{other}`, expected one of `crop_foreground`, \
                 `pad_to_square`, `resize`"
            )),
        }
    }

    /// Checks the step's parameters.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            SpatialStep::CropForeground(crop) => {
                if let Threshold::Value(value) = crop.threshold {
                    if !value.is_finite() {
                        return Err("crop_foreground threshold must be finite".into());
                    }
                }
                if !(0.0..=1.0).contains(&crop.blur) {
                    return Err(format!(
                        "crop_foreground blur {} must be between 0 and 1 (a fraction of the \
                         longer side)",
                        crop.blur
                    ));
                }
                Ok(())
            }
            SpatialStep::PadToSquare => Ok(()),
            SpatialStep::Resize(resize) => {
                if resize.size.iter().any(|&side| side == 0 || side > MAX_SIDE) {
                    return Err(format!(
                        "resize size {:?} must be between 1 and {MAX_SIDE} on each side",
                        resize.size
                    ));
                }
                Ok(())
            }
        }
    }
}

impl Serialize for SpatialStep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SpatialStep::CropForeground(crop) => single_entry(serializer, self.name(), crop),
            SpatialStep::PadToSquare => serializer.serialize_str(self.name()),
            SpatialStep::Resize(resize) => single_entry(serializer, self.name(), resize),
        }
    }
}

/// A spatial step as applied to one frame, for the sample metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpatialRecord {
    /// The step name.
    pub step: &'static str,
    /// `(rows, columns)` before the step.
    pub input_shape: [usize; 2],
    /// `(rows, columns)` after the step.
    pub output_shape: [usize; 2],
    /// The region kept or placed: `[row, column, rows, columns]`. For
    /// `crop_foreground` it is the crop in the input; for `pad_to_square`,
    /// where the input sits in the output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<[usize; 4]>,
    /// For `crop_foreground`: whether a foreground region was found; when
    /// not, the frame is kept whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    /// For `crop_foreground`: the threshold used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// A frame's planes with an optional padding mask, the unit the spatial
/// steps work on: `(C, H, W)` values.
struct Planes {
    values: Array3<f32>,
    padding: Option<Array2<bool>>,
}

/// Applies the spatial steps to a frame, in order.
///
/// # Errors
/// [`RenderError::Spatial`] when a resize fails.
pub fn apply_spatial(
    frame: &FrameImage,
    steps: &[SpatialStep],
) -> Result<(FrameImage, Vec<SpatialRecord>), RenderError> {
    if steps.is_empty() {
        return Ok((frame.clone(), Vec::new()));
    }
    let mut planes = match frame {
        FrameImage::Gray(gray) => Planes {
            values: gray.values.clone().insert_axis(Axis(0)),
            padding: gray.padding.clone(),
        },
        FrameImage::Color(rgb) => Planes {
            values: rgb.clone(),
            padding: None,
        },
    };
    let mut records = Vec::with_capacity(steps.len());
    for step in steps {
        let (next, record) = match step {
            SpatialStep::CropForeground(crop) => crop_foreground(planes, crop),
            SpatialStep::PadToSquare => pad_to_square(planes),
            SpatialStep::Resize(resize) => resize_planes(planes, resize)?,
        };
        planes = next;
        records.push(record);
    }

    let frame = match frame {
        FrameImage::Gray(gray) => FrameImage::Gray(GrayFrame {
            values: planes.values.index_axis_move(Axis(0), 0),
            padding: planes.padding,
            transform: gray.transform.clone(),
            monochrome1: gray.monochrome1,
            windows: gray.windows.clone(),
        }),
        FrameImage::Color(_) => FrameImage::Color(planes.values),
    };
    Ok((frame, records))
}

fn shape_of(values: &Array3<f32>) -> [usize; 2] {
    let (_, rows, columns) = values.dim();
    [rows, columns]
}

/// Finds the foreground box: threshold the valid values, blur the mask,
/// threshold the blur at 0.5 and take the largest connected component.
fn foreground_box(planes: &Planes, crop: &CropSpec) -> (Option<PixelBox>, Option<f64>) {
    let score = planes.values.mean_axis(Axis(0));
    let Some(score) = score else {
        return (None, None);
    };
    let valid = |index: (usize, usize)| !planes.padding.as_ref().is_some_and(|mask| mask[index]);
    let threshold = match crop.threshold {
        Threshold::Value(value) => Some(value),
        Threshold::Named(ThresholdMethod::Otsu) => {
            let values: Vec<f32> = score
                .indexed_iter()
                .filter(|&(index, _)| valid(index))
                .map(|(_, &value)| value)
                .collect();
            otsu_threshold(&values)
        }
    };
    let Some(threshold) = threshold else {
        return (None, None);
    };

    let mut mask = Array2::from_shape_fn(score.raw_dim(), |index| {
        valid(index) && f64::from(score[index]) > threshold
    });
    let (rows, columns) = mask.dim();
    let sigma = crop.blur * rows.max(columns) as f64;
    if sigma > 0.0 {
        let blurred = gaussian_blur(&mask.mapv(|inside| f32::from(u8::from(inside))), sigma);
        mask = blurred.mapv(|weight| weight > 0.5);
    }
    let found = largest_component_box(&mask).map(|component| {
        let top = component.row.saturating_sub(crop.margin);
        let left = component.column.saturating_sub(crop.margin);
        let bottom = (component.row + component.rows + crop.margin).min(rows);
        let right = (component.column + component.columns + crop.margin).min(columns);
        PixelBox {
            row: top,
            column: left,
            rows: bottom - top,
            columns: right - left,
        }
    });
    (found, Some(threshold))
}

fn crop_foreground(planes: Planes, crop: &CropSpec) -> (Planes, SpatialRecord) {
    let input_shape = shape_of(&planes.values);
    let (found, threshold) = foreground_box(&planes, crop);
    let mut record = SpatialRecord {
        step: "crop_foreground",
        input_shape,
        output_shape: input_shape,
        region: None,
        found: Some(found.is_some()),
        threshold,
    };
    let Some(region) = found else {
        return (planes, record);
    };

    let rows = region.row..region.row + region.rows;
    let columns = region.column..region.column + region.columns;
    let cropped = Planes {
        values: planes
            .values
            .slice(s![.., rows.clone(), columns.clone()])
            .to_owned(),
        padding: planes
            .padding
            .map(|mask| mask.slice(s![rows, columns]).to_owned()),
    };
    record.output_shape = [region.rows, region.columns];
    record.region = Some([region.row, region.column, region.rows, region.columns]);
    (cropped, record)
}

fn pad_to_square(planes: Planes) -> (Planes, SpatialRecord) {
    let (channels, rows, columns) = planes.values.dim();
    let side = rows.max(columns);
    let (top, left) = ((side - rows) / 2, (side - columns) / 2);
    let mut record = SpatialRecord {
        step: "pad_to_square",
        input_shape: [rows, columns],
        output_shape: [side, side],
        region: Some([top, left, rows, columns]),
        found: None,
        threshold: None,
    };
    if rows == columns {
        record.region = None;
        return (planes, record);
    }

    let mut values = Array3::<f32>::zeros((channels, side, side));
    values
        .slice_mut(s![.., top..top + rows, left..left + columns])
        .assign(&planes.values);
    let mut padding = Array2::from_elem((side, side), true);
    let mut inner = padding.slice_mut(s![top..top + rows, left..left + columns]);
    match &planes.padding {
        Some(mask) => inner.assign(mask),
        None => inner.fill(false),
    }
    let padded = Planes {
        values,
        padding: Some(padding),
    };
    (padded, record)
}

/// Resizes one plane with `fast_image_resize`.
pub(crate) fn resize_plane(
    plane: &Array2<f32>,
    size: [usize; 2],
    filter: ResizeFilter,
) -> Result<Array2<f32>, RenderError> {
    let failed = |reason: String| RenderError::Spatial {
        step: "resize",
        reason,
    };
    let (rows, columns) = plane.dim();
    let [out_rows, out_columns] = size;
    let side = |value: usize| {
        u32::try_from(value).map_err(|_| failed(format!("size {value} is too large")))
    };
    let pixels: Vec<F32> = plane.iter().map(|&value| F32::new(value)).collect();
    let source = TypedImageRef::new(side(columns)?, side(rows)?, &pixels)
        .map_err(|error| failed(error.to_string()))?;
    let mut target = TypedImage::<F32>::new(side(out_columns)?, side(out_rows)?);
    let options = ResizeOptions::new().resize_alg(filter.algorithm());
    Resizer::new()
        .resize_typed(&source, &mut target, &options)
        .map_err(|error| failed(error.to_string()))?;
    let values: Vec<f32> = target.pixels().iter().map(|pixel| pixel.0).collect();
    Array2::from_shape_vec((out_rows, out_columns), values)
        .map_err(|error| failed(error.to_string()))
}

/// Resizes value planes without blending padding into valid pixels (see
/// the module documentation).
fn resize_masked(
    values: &Array3<f32>,
    padding: Option<&Array2<bool>>,
    size: [usize; 2],
    filter: ResizeFilter,
) -> Result<(Array3<f32>, Option<Array2<bool>>), RenderError> {
    let channels = values.dim().0;
    let mut output = Array3::<f32>::zeros((channels, size[0], size[1]));
    let Some(mask) = padding else {
        for (plane, mut target) in values.outer_iter().zip(output.outer_iter_mut()) {
            target.assign(&resize_plane(&plane.to_owned(), size, filter)?);
        }
        return Ok((output, None));
    };

    let weight = mask.mapv(|padded| if padded { 0.0f32 } else { 1.0 });
    let resized_weight = resize_plane(&weight, size, filter)?;
    let resized_mask = resized_weight.mapv(|w| w < 0.5);
    for (plane, mut target) in values.outer_iter().zip(output.outer_iter_mut()) {
        let mut weighted = plane.to_owned();
        Zip::from(&mut weighted).and(&weight).for_each(|value, &w| {
            *value = if w > 0.0 { *value * w } else { 0.0 };
        });
        let resized = resize_plane(&weighted, size, filter)?;
        Zip::from(&mut target)
            .and(&resized)
            .and(&resized_weight)
            .for_each(|out, &sum, &w| *out = if w >= 0.5 { sum / w } else { 0.0 });
    }
    Ok((output, Some(resized_mask)))
}

fn resize_planes(
    planes: Planes,
    resize: &ResizeSpec,
) -> Result<(Planes, SpatialRecord), RenderError> {
    let input_shape = shape_of(&planes.values);
    let (values, padding) = resize_masked(
        &planes.values,
        planes.padding.as_ref(),
        resize.size,
        resize.filter,
    )?;
    let record = SpatialRecord {
        step: "resize",
        input_shape,
        output_shape: resize.size,
        region: None,
        found: None,
        threshold: None,
    };
    Ok((Planes { values, padding }, record))
}

/// Resizes a `(C, D, H, W)` volume to `size = [D', H', W']` with the same
/// filter along each axis, without blending padding voxels (the rule of the
/// module documentation, applied in 3-D). `padding` is `(D, H, W)`, `true`
/// on padding voxels; the output mask is returned when one is given.
///
/// Each slice is resized in-plane first, then each `(D, W')` plane along
/// the depth axis; the filters are separable, so this equals a 3-D resize.
///
/// # Errors
/// [`RenderError::Spatial`] when a size is 0 or the mask shape differs.
pub fn resize_volume(
    volume: &Array4<f32>,
    padding: Option<&Array3<bool>>,
    size: [usize; 3],
    filter: ResizeFilter,
) -> Result<(Array4<f32>, Option<Array3<bool>>), RenderError> {
    let (channels, depth, rows, columns) = volume.dim();
    if size.contains(&0) || [depth, rows, columns].contains(&0) {
        return Err(RenderError::Spatial {
            step: "resize",
            reason: format!("cannot resize {:?} to {size:?}", volume.dim()),
        });
    }
    if let Some(mask) = padding {
        if mask.dim() != (depth, rows, columns) {
            return Err(RenderError::Spatial {
                step: "resize",
                reason: format!("mask shape {:?} differs from the volume's", mask.dim()),
            });
        }
    }

    let weight = padding.map(|mask| mask.mapv(|padded| if padded { 0.0f32 } else { 1.0 }));
    let resized_weight = match &weight {
        Some(weight) => Some(resize_grid(weight, size, filter)?),
        None => None,
    };
    let mut output = Array4::<f32>::zeros((channels, size[0], size[1], size[2]));
    for (grid, mut target) in volume.outer_iter().zip(output.outer_iter_mut()) {
        let mut grid = grid.to_owned();
        if let Some(weight) = &weight {
            Zip::from(&mut grid).and(weight).for_each(|value, &w| {
                *value = if w > 0.0 { *value * w } else { 0.0 };
            });
        }
        let resized = resize_grid(&grid, size, filter)?;
        match &resized_weight {
            Some(resized_weight) => Zip::from(&mut target)
                .and(&resized)
                .and(resized_weight)
                .for_each(|out, &sum, &w| *out = if w >= 0.5 { sum / w } else { 0.0 }),
            None => target.assign(&resized),
        }
    }
    let mask = resized_weight.map(|w| w.mapv(|w| w < 0.5));
    Ok((output, mask))
}

/// Resizes one `(D, H, W)` grid: slices in-plane, then along the depth.
fn resize_grid(
    grid: &Array3<f32>,
    size: [usize; 3],
    filter: ResizeFilter,
) -> Result<Array3<f32>, RenderError> {
    let depth = grid.dim().0;
    let mut in_plane = Array3::<f32>::zeros((depth, size[1], size[2]));
    for (slice, mut target) in grid.outer_iter().zip(in_plane.outer_iter_mut()) {
        target.assign(&resize_plane(
            &slice.to_owned(),
            [size[1], size[2]],
            filter,
        )?);
    }
    let mut output = Array3::<f32>::zeros((size[0], size[1], size[2]));
    for row in 0..size[1] {
        let plane = in_plane.index_axis(Axis(1), row).to_owned();
        let resized = resize_plane(&plane, [size[0], size[2]], filter)?;
        output.index_axis_mut(Axis(1), row).assign(&resized);
    }
    Ok(output)
}

/// Crops a `(C, D, H, W)` volume to `shape` voxels starting at `start`,
/// both `[depth, row, column]`.
///
/// # Errors
/// [`RenderError::Spatial`] when the box reaches outside the volume.
pub fn crop_volume(
    volume: &Array4<f32>,
    start: [usize; 3],
    shape: [usize; 3],
) -> Result<Array4<f32>, RenderError> {
    let (_, depth, rows, columns) = volume.dim();
    let inside =
        start
            .iter()
            .zip(&shape)
            .zip([depth, rows, columns])
            .all(|((&first, &length), limit)| {
                length > 0 && first.checked_add(length).is_some_and(|end| end <= limit)
            });
    if !inside {
        return Err(RenderError::Spatial {
            step: "crop",
            reason: format!(
                "box at {start:?} of size {shape:?} is outside the volume {:?}",
                (depth, rows, columns)
            ),
        });
    }
    let [d, r, c] = start;
    let [nd, nr, nc] = shape;
    Ok(volume
        .slice(s![.., d..d + nd, r..r + nr, c..c + nc])
        .to_owned())
}

#[cfg(test)]
mod tests;
