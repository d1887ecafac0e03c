//! The `volumes` section of a recipe.

use serde::{Deserialize, Serialize};

use crate::options::{AssemblyOptions, ResampleTarget, TiltPolicy, UnevenSpacingPolicy};

/// How voxel values are read between source voxels when a volume is
/// resampled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    /// Linear in each axis (bilinear within a slice, trilinear across
    /// slices). Padding voxels do not contribute.
    #[default]
    Linear,
    /// The nearest source voxel.
    Nearest,
}

/// A grid to resample every volume to: exactly one of `spacing` and `size`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResampleSpec {
    /// Voxel spacing (slice, row, column) in mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing: Option<[f64; 3]>,
    /// Shape (D, H, W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[usize; 3]>,
}

/// The `volumes` section of a recipe: how series become volumes in
/// `hounsfield convert --volumes`.
///
/// ```yaml
/// volumes:
///   keep_localizers: false
///   keep_derived: false
///   uneven_spacing: split        # reject | split | resample
///   gantry_tilt: shear           # reject | shear | resample
///   spacing_tolerance_mm: 0.01
///   orientation_tolerance: 0.0001
///   even_spacing_mm: null        # slice spacing for uneven_spacing: resample
///   resample: null               # or { spacing: [2, 1, 1] } or { size: [64, 128, 128] }
///   interpolation: linear        # linear | nearest
///   nifti: true                  # also write OUT/nifti/KEY.nii.gz
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Stack localizers (Image Type `LOCALIZER`) instead of excluding them.
    #[serde(default)]
    pub keep_localizers: bool,
    /// Stack DERIVED and SECONDARY images instead of excluding them.
    #[serde(default)]
    pub keep_derived: bool,
    /// The policy for unevenly spaced stacks.
    #[serde(default)]
    pub uneven_spacing: UnevenSpacingPolicy,
    /// The policy for tilted stacks.
    #[serde(default)]
    pub gantry_tilt: TiltPolicy,
    /// Positions, steps and in-plane offsets closer than this are equal, mm.
    #[serde(default = "default_spacing_tolerance_mm")]
    pub spacing_tolerance_mm: f64,
    /// Largest difference of a direction cosine within one volume.
    #[serde(default = "default_orientation_tolerance")]
    pub orientation_tolerance: f64,
    /// Slice spacing of resampled uneven stacks, mm; the smallest step of
    /// the stack when absent.
    #[serde(default)]
    pub even_spacing_mm: Option<f64>,
    /// A grid every volume is resampled to.
    #[serde(default)]
    pub resample: Option<ResampleSpec>,
    /// Interpolation for every resampling.
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Write each volume as NIfTI-1 (`OUT/nifti/KEY.nii.gz`) too.
    #[serde(default = "yes")]
    pub nifti: bool,
}

fn default_spacing_tolerance_mm() -> f64 {
    AssemblyOptions::default().spacing_tolerance_mm
}

fn default_orientation_tolerance() -> f64 {
    AssemblyOptions::default().orientation_tolerance
}

fn yes() -> bool {
    true
}

impl Default for VolumeSpec {
    fn default() -> Self {
        VolumeSpec {
            keep_localizers: false,
            keep_derived: false,
            uneven_spacing: UnevenSpacingPolicy::default(),
            gantry_tilt: TiltPolicy::default(),
            spacing_tolerance_mm: default_spacing_tolerance_mm(),
            orientation_tolerance: default_orientation_tolerance(),
            even_spacing_mm: None,
            resample: None,
            interpolation: Interpolation::default(),
            nifti: true,
        }
    }
}

fn positive(value: f64) -> bool {
    value > 0.0 && value.is_finite()
}

impl VolumeSpec {
    /// Checks the values. Returns the key (below `volumes.`) and the reason
    /// of the first invalid value.
    ///
    /// # Errors
    ///
    /// `(key, reason)` when a tolerance or spacing is not a positive number,
    /// a size is 0, or `resample` has neither or both of `spacing` and
    /// `size`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, reason: &str| Err((key.to_string(), reason.to_string()));
        if !positive(self.spacing_tolerance_mm) {
            return invalid("spacing_tolerance_mm", "must be a positive number of mm");
        }
        if !positive(self.orientation_tolerance) {
            return invalid("orientation_tolerance", "must be a positive number");
        }
        if let Some(spacing) = self.even_spacing_mm {
            if !positive(spacing) {
                return invalid("even_spacing_mm", "must be a positive number of mm");
            }
        }
        match self.resample {
            None => Ok(()),
            Some(ResampleSpec {
                spacing: Some(spacing),
                size: None,
            }) if spacing.iter().all(|&value| positive(value)) => Ok(()),
            Some(ResampleSpec {
                spacing: Some(_),
                size: None,
            }) => invalid(
                "resample.spacing",
                "every spacing must be a positive number of mm",
            ),
            Some(ResampleSpec {
                spacing: None,
                size: Some(size),
            }) if !size.contains(&0) => Ok(()),
            Some(ResampleSpec {
                spacing: None,
                size: Some(_),
            }) => invalid("resample.size", "every size must be at least 1"),
            Some(_) => invalid("resample", "give exactly one of `spacing` and `size`"),
        }
    }

    /// Returns the options of [`assemble`](crate::assemble) that this
    /// section sets.
    pub fn assembly_options(&self) -> AssemblyOptions {
        let resample = self
            .resample
            .and_then(|spec| match (spec.spacing, spec.size) {
                (Some(spacing), _) => Some(ResampleTarget::Spacing(spacing)),
                (None, Some(size)) => Some(ResampleTarget::Size(size)),
                (None, None) => None,
            });
        AssemblyOptions {
            keep_localizers: self.keep_localizers,
            keep_derived: self.keep_derived,
            uneven_spacing: self.uneven_spacing,
            gantry_tilt: self.gantry_tilt,
            spacing_tolerance_mm: self.spacing_tolerance_mm,
            orientation_tolerance: self.orientation_tolerance,
            even_spacing_mm: self.even_spacing_mm,
            resample,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_invalid_key() {
        let spec = VolumeSpec {
            resample: Some(ResampleSpec {
                spacing: Some([1.0, 1.0, 1.0]),
                size: Some([1, 1, 1]),
            }),
            ..VolumeSpec::default()
        };
        assert_eq!(spec.check().unwrap_err().0, "resample");
        let spec = VolumeSpec {
            resample: Some(ResampleSpec {
                spacing: None,
                size: Some([0, 4, 4]),
            }),
            ..VolumeSpec::default()
        };
        assert_eq!(spec.check().unwrap_err().0, "resample.size");
        let spec = VolumeSpec {
            spacing_tolerance_mm: 0.0,
            ..VolumeSpec::default()
        };
        assert_eq!(spec.check().unwrap_err().0, "spacing_tolerance_mm");
        assert!(VolumeSpec::default().check().is_ok());
    }

    #[test]
    fn options_follow_the_section() {
        let spec = VolumeSpec {
            gantry_tilt: TiltPolicy::Resample,
            resample: Some(ResampleSpec {
                spacing: None,
                size: Some([8, 16, 16]),
            }),
            ..VolumeSpec::default()
        };
        let options = spec.assembly_options();
        assert_eq!(options.gantry_tilt, TiltPolicy::Resample);
        assert_eq!(options.resample, Some(ResampleTarget::Size([8, 16, 16])));
        assert_eq!(options.spacing_tolerance_mm, 0.01);
    }
}
