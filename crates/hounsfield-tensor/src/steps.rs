//! Per-channel intensity steps: clip, scale, standardize, per-image mean
//! subtraction and whitening, and CLAHE.

use ndarray::{Array2, Zip};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::Value;

use crate::clahe::{clahe, ClaheSpec};
use crate::yaml::{expect_no_value, parse, split_tag};

/// One intensity step of a channel, applied in recipe order after the
/// channel's source (modality values, a window, the histogram scale or the
/// padding mask).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Step {
    /// `clip: { min: a, max: b }`: clamps values to [a, b]; either bound may
    /// be left out.
    Clip(ClipSpec),
    /// `scale: { from: [a_min, a_max], to: [b_min, b_max], clip: bool }`:
    /// maps [a_min, a_max] linearly onto [b_min, b_max], as MONAI's
    /// `ScaleIntensityRange`.
    Scale(ScaleSpec),
    /// `standardize`: subtracts the dataset mean of the channel and divides
    /// by its standard deviation, both read from the recipe's statistics.
    Standardize,
    /// `subtract_mean`: subtracts the mean of this image's non-padding
    /// values.
    SubtractMean,
    /// `whiten`: subtracts the mean of this image's non-padding values and
    /// divides by their standard deviation (only subtracts when it is 0).
    Whiten,
    /// `clahe` or `clahe: {...}`: contrast-limited adaptive histogram
    /// equalization of values in [0, 1].
    Clahe(ClaheSpec),
}

/// Bounds of a `clip` step, in the channel's units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipSpec {
    /// Values below become `min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Values above become `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A linear map between two ranges (MONAI `ScaleIntensityRange` with
/// `a_min`, `a_max`, `b_min`, `b_max` and `clip`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleSpec {
    /// The input range `[a_min, a_max]`; the two must differ.
    pub from: [f64; 2],
    /// The output range `[b_min, b_max]`; `[0, 1]` when left out.
    #[serde(default = "unit_range")]
    pub to: [f64; 2],
    /// Clamp the output to the output range.
    #[serde(default)]
    pub clip: bool,
}

fn unit_range() -> [f64; 2] {
    [0.0, 1.0]
}

/// A step as applied to one image, for the sample metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedStep {
    /// The step name: `clip`, `scale`, `standardize`, `subtract_mean`,
    /// `whiten` or `clahe`.
    pub step: &'static str,
    /// The mean subtracted: the dataset's for `standardize`, this image's
    /// for `subtract_mean` and `whiten`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// The standard deviation divided by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
}

impl Step {
    /// The recipe name of the step.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Clip(_) => "clip",
            Step::Scale(_) => "scale",
            Step::Standardize => "standardize",
            Step::SubtractMean => "subtract_mean",
            Step::Whiten => "whiten",
            Step::Clahe(_) => "clahe",
        }
    }

    /// Parses `name` or `name: value`.
    pub(crate) fn from_value(value: Value) -> Result<Step, String> {
        let (name, value) = split_tag(value, "step")?;
        let step = match name.as_str() {
            "clip" => Step::Clip(parse(value, "clip")?),
            "scale" => Step::Scale(parse(value, "scale")?),
            "clahe" => match value {
                Value::Null => Step::Clahe(ClaheSpec::default()),
                value => Step::Clahe(parse(value, "clahe")?),
            },
            "standardize" | "subtract_mean" | "whiten" => {
                expect_no_value(&value, &name)?;
                match name.as_str() {
                    "standardize" => Step::Standardize,
                    "subtract_mean" => Step::SubtractMean,
                    _ => Step::Whiten,
                }
            }
            other => {
                return Err(format!(
                    "unknown step `{other}`, expected one of `clip`, `scale`, `standardize`, \
                     `subtract_mean`, `whiten`, `clahe`"
                ))
            }
        };
        Ok(step)
    }

    /// Checks the step's parameters.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self {
            Step::Clip(clip) => {
                let bounds = [clip.min, clip.max];
                if bounds.iter().flatten().any(|bound| !bound.is_finite()) {
                    return Err("clip bounds must be finite".into());
                }
                match (clip.min, clip.max) {
                    (None, None) => Err("clip needs `min`, `max` or both".into()),
                    (Some(min), Some(max)) if min > max => {
                        Err(format!("clip min {min} is greater than max {max}"))
                    }
                    _ => Ok(()),
                }
            }
            Step::Scale(scale) => {
                let numbers = scale.from.iter().chain(&scale.to);
                if numbers.into_iter().any(|value| !value.is_finite()) {
                    return Err("scale ranges must be finite".into());
                }
                if scale.from[0] == scale.from[1] {
                    return Err(format!(
                        "scale `from` is empty: both ends are {}",
                        scale.from[0]
                    ));
                }
                Ok(())
            }
            Step::Clahe(spec) => spec.check(),
            Step::Standardize | Step::SubtractMean | Step::Whiten => Ok(()),
        }
    }

    /// The output range of the step when it is fixed, whatever the input.
    pub(crate) fn output_range(&self, input: Option<[f64; 2]>) -> Option<[f64; 2]> {
        match self {
            Step::Clip(clip) => {
                let [low, high] = input.unwrap_or([f64::NEG_INFINITY, f64::INFINITY]);
                let low = clip.min.map_or(low, |min| low.max(min));
                let high = clip.max.map_or(high, |max| high.min(max));
                (low.is_finite() && high.is_finite()).then_some([low, high])
            }
            Step::Scale(scale) => {
                let [b_min, b_max] = scale.to;
                if scale.clip {
                    return Some([b_min.min(b_max), b_min.max(b_max)]);
                }
                input.map(|[low, high]| {
                    let (y0, y1) = (scale.apply(low), scale.apply(high));
                    [y0.min(y1), y0.max(y1)]
                })
            }
            Step::Clahe(_) => Some([0.0, 1.0]),
            Step::Standardize | Step::SubtractMean | Step::Whiten => None,
        }
    }
}

impl ScaleSpec {
    /// Maps one value.
    pub fn apply(&self, value: f64) -> f64 {
        let [a_min, a_max] = self.from;
        let [b_min, b_max] = self.to;
        let scaled = (value - a_min) / (a_max - a_min) * (b_max - b_min) + b_min;
        if self.clip {
            scaled.clamp(b_min.min(b_max), b_min.max(b_max))
        } else {
            scaled
        }
    }
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Step::Standardize | Step::SubtractMean | Step::Whiten => {
                serializer.serialize_str(self.name())
            }
            Step::Clip(clip) => single_entry(serializer, "clip", clip),
            Step::Scale(scale) => single_entry(serializer, "scale", scale),
            Step::Clahe(spec) => single_entry(serializer, "clahe", spec),
        }
    }
}

/// Serializes `{key: value}`.
pub(crate) fn single_entry<S: Serializer, T: Serialize>(
    serializer: S,
    key: &str,
    value: &T,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// Mean and population standard deviation of the non-padding values, in
/// `f64`; `None` when there are none. NaN values are left out.
pub(crate) fn valid_mean_std(
    plane: &Array2<f32>,
    padding: Option<&Array2<bool>>,
) -> Option<(f64, f64)> {
    let mut count = 0u64;
    let mut sum = 0.0f64;
    for_each_valid(plane, padding, |value| {
        count += 1;
        sum += value;
    });
    if count == 0 {
        return None;
    }
    let mean = sum / count as f64;
    let mut squares = 0.0f64;
    for_each_valid(plane, padding, |value| squares += (value - mean).powi(2));
    Some((mean, (squares / count as f64).sqrt()))
}

/// Calls `visit` with every non-padding, non-NaN value as `f64`.
pub(crate) fn for_each_valid(
    plane: &Array2<f32>,
    padding: Option<&Array2<bool>>,
    mut visit: impl FnMut(f64),
) {
    match padding {
        Some(mask) => Zip::from(plane).and(mask).for_each(|&value, &padded| {
            if !padded && !value.is_nan() {
                visit(f64::from(value));
            }
        }),
        None => plane
            .iter()
            .filter(|value| !value.is_nan())
            .for_each(|&value| visit(f64::from(value))),
    }
}

/// Subtracts `mean` and divides by `std` in place.
fn affine(plane: &mut Array2<f32>, mean: f64, std: f64) {
    plane.mapv_inplace(|value| ((f64::from(value) - mean) / std) as f32);
}

/// Applies one step to a channel plane. `dataset` is the channel's
/// dataset mean and standard deviation, needed by `standardize` only.
pub(crate) fn apply_step(
    step: &Step,
    plane: &mut Array2<f32>,
    padding: Option<&Array2<bool>>,
    dataset: Option<(f64, f64)>,
) -> AppliedStep {
    let mut record = AppliedStep {
        step: step.name(),
        mean: None,
        std: None,
    };
    match step {
        Step::Clip(clip) => {
            let low = clip.min.unwrap_or(f64::NEG_INFINITY);
            let high = clip.max.unwrap_or(f64::INFINITY);
            plane.mapv_inplace(|value| (f64::from(value).clamp(low, high)) as f32);
        }
        Step::Scale(scale) => plane.mapv_inplace(|value| scale.apply(f64::from(value)) as f32),
        Step::Standardize => {
            if let Some((mean, std)) = dataset {
                affine(plane, mean, std);
                (record.mean, record.std) = (Some(mean), Some(std));
            }
        }
        Step::SubtractMean => {
            if let Some((mean, _)) = valid_mean_std(plane, padding) {
                affine(plane, mean, 1.0);
                record.mean = Some(mean);
            }
        }
        Step::Whiten => {
            if let Some((mean, std)) = valid_mean_std(plane, padding) {
                // As MONAI's NormalizeIntensity: a constant image is only
                // shifted, because dividing by 0 would give NaN.
                let divisor = if std > 0.0 { std } else { 1.0 };
                affine(plane, mean, divisor);
                (record.mean, record.std) = (Some(mean), Some(divisor));
            }
        }
        Step::Clahe(spec) => *plane = clahe(plane, padding, spec),
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn step(yaml: &str) -> Result<Step, String> {
        Step::from_value(serde_yaml_ng::from_str(yaml).unwrap())
    }

    #[test]
    fn steps_parse_from_names_and_maps() {
        assert_eq!(step("standardize"), Ok(Step::Standardize));
        assert_eq!(step("whiten: {}"), Ok(Step::Whiten));
        assert_eq!(
            step("clip: { min: -1000 }"),
            Ok(Step::Clip(ClipSpec {
                min: Some(-1000.0),
                max: None
            }))
        );
        assert_eq!(
            step("scale: { from: [-1000, 1000] }"),
            Ok(Step::Scale(ScaleSpec {
                from: [-1000.0, 1000.0],
                to: [0.0, 1.0],
                clip: false
            }))
        );
        assert_eq!(step("clahe"), Ok(Step::Clahe(ClaheSpec::default())));
    }

    #[test]
    fn bad_steps_are_named() {
        let error = step("clipp: { min: 1 }").unwrap_err();
        assert!(error.contains("clipp"), "{error}");
        let error = step("scale: { from: [0, 1], too: [0, 1] }").unwrap_err();
        assert!(error.contains("too"), "{error}");
        let error = step("standardize: 3").unwrap_err();
        assert!(error.contains("takes no value"), "{error}");
        let error = step("{ clip: {min: 1}, scale: {from: [0, 1]} }").unwrap_err();
        assert!(error.contains("exactly one key"), "{error}");
    }

    #[test]
    fn step_checks_reject_empty_ranges() {
        assert!(step("clip: {}").unwrap().check().is_err());
        assert!(step("clip: { min: 2, max: 1 }").unwrap().check().is_err());
        assert!(step("scale: { from: [5, 5] }").unwrap().check().is_err());
        assert!(step("scale: { from: [0, .inf] }").unwrap().check().is_err());
        assert!(step("clip: { max: 3 }").unwrap().check().is_ok());
    }

    #[test]
    fn scale_matches_monai_scale_intensity_range() {
        // a_min -1000, a_max 1000, b_min 0, b_max 1:
        // y = (x + 1000) / 2000, clipped to [0, 1] when asked.
        let mut scale = ScaleSpec {
            from: [-1000.0, 1000.0],
            to: [0.0, 1.0],
            clip: false,
        };
        assert_eq!(scale.apply(0.0), 0.5);
        assert_eq!(scale.apply(-3000.0), -1.0);
        scale.clip = true;
        assert_eq!(scale.apply(-3000.0), 0.0);
        assert_eq!(scale.apply(3000.0), 1.0);
        // A reversed output range clips to its sorted bounds.
        scale.to = [1.0, -1.0];
        assert_eq!(scale.apply(-1000.0), 1.0);
        assert_eq!(scale.apply(5000.0), -1.0);
    }

    #[test]
    fn whiten_ignores_padding_pixels() {
        // Valid values 1 and 3: mean 2, population sd 1.
        let mut plane = array![[1.0f32, 3.0], [100.0, 100.0]];
        let padding = array![[false, false], [true, true]];
        let record = apply_step(&Step::Whiten, &mut plane, Some(&padding), None);
        assert_eq!(record.mean, Some(2.0));
        assert_eq!(record.std, Some(1.0));
        assert_eq!(plane[[0, 0]], -1.0);
        assert_eq!(plane[[0, 1]], 1.0);
    }

    #[test]
    fn whiten_of_constant_image_only_subtracts() {
        let mut plane = array![[5.0f32, 5.0]];
        let record = apply_step(&Step::Whiten, &mut plane, None, None);
        assert_eq!(record.std, Some(1.0));
        assert_eq!(plane, array![[0.0f32, 0.0]]);
    }

    #[test]
    fn standardize_uses_dataset_numbers() {
        let mut plane = array![[10.0f32, 30.0]];
        apply_step(&Step::Standardize, &mut plane, None, Some((20.0, 5.0)));
        assert_eq!(plane, array![[-2.0f32, 2.0]]);
    }

    #[test]
    fn output_ranges_follow_the_steps() {
        let clip = step("clip: { min: -1, max: 1 }").unwrap();
        assert_eq!(clip.output_range(None), Some([-1.0, 1.0]));
        assert_eq!(clip.output_range(Some([0.0, 5.0])), Some([0.0, 1.0]));
        let scale = step("scale: { from: [0, 1], to: [0, 255] }").unwrap();
        assert_eq!(scale.output_range(Some([0.0, 1.0])), Some([0.0, 255.0]));
        assert_eq!(scale.output_range(None), None);
        assert_eq!(Step::Standardize.output_range(Some([0.0, 1.0])), None);
    }
}
