//! The choices that assembly leaves to the caller.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The policy for a stack whose slices are not evenly spaced along the
/// normal (a missing slice, or acquisitions with different steps).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnevenSpacingPolicy {
    /// Leave every slice of the stack out, with the steps as the reason.
    Reject,
    /// Split the stack into maximal evenly spaced sub-stacks, from the first
    /// slice on. Each is exact; nothing is interpolated.
    #[default]
    Split,
    /// Resample the stack along the normal to even spacing.
    Resample,
}

/// The policy for a tilted stack, whose positions do not move along the
/// slice normal (CT gantry tilt).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TiltPolicy {
    /// Leave every slice of the stack out, with the angle as the reason.
    Reject,
    /// Keep the pixels and write the exact, sheared affine. NIfTI's qform
    /// cannot hold a shear, so only the sform is exact.
    #[default]
    Shear,
    /// Shift each slice in its plane onto a grid at right angles to the
    /// slices.
    Resample,
}

impl fmt::Display for UnevenSpacingPolicy {
    /// Writes the value as a recipe spells it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnevenSpacingPolicy::Reject => "reject",
            UnevenSpacingPolicy::Split => "split",
            UnevenSpacingPolicy::Resample => "resample",
        })
    }
}

impl fmt::Display for TiltPolicy {
    /// Writes the value as a recipe spells it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TiltPolicy::Reject => "reject",
            TiltPolicy::Shear => "shear",
            TiltPolicy::Resample => "resample",
        })
    }
}

/// A grid every volume is resampled to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResampleTarget {
    /// Voxel spacing (slice, row, column) in mm. The first voxel centre is
    /// kept and the last one does not pass the source's last.
    Spacing([f64; 3]),
    /// Output shape (D, H, W). The centres of the first and last voxels
    /// along each axis stay where the source's are.
    Size([usize; 3]),
}

/// Options of [`assemble`](crate::assemble).
#[derive(Debug, Clone, PartialEq)]
pub struct AssemblyOptions {
    /// Stack localizers (scouts) instead of excluding them.
    pub keep_localizers: bool,
    /// Stack DERIVED and SECONDARY images instead of excluding them.
    pub keep_derived: bool,
    /// The policy for unevenly spaced stacks.
    pub uneven_spacing: UnevenSpacingPolicy,
    /// The policy for tilted stacks.
    pub gantry_tilt: TiltPolicy,
    /// Positions, steps and in-plane offsets closer than this are equal, mm.
    pub spacing_tolerance_mm: f64,
    /// Largest difference of a direction cosine within one volume.
    pub orientation_tolerance: f64,
    /// Slice spacing when resampling an unevenly spaced stack, mm. `None`
    /// uses the stack's smallest step, so no gap is sampled more coarsely
    /// than in the source.
    pub even_spacing_mm: Option<f64>,
    /// A grid that every volume is resampled to, after tilt and spacing
    /// corrections.
    pub resample: Option<ResampleTarget>,
}

impl Default for AssemblyOptions {
    fn default() -> Self {
        AssemblyOptions {
            keep_localizers: false,
            keep_derived: false,
            uneven_spacing: UnevenSpacingPolicy::default(),
            gantry_tilt: TiltPolicy::default(),
            spacing_tolerance_mm: 0.01,
            orientation_tolerance: 1e-4,
            even_spacing_mm: None,
            resample: None,
        }
    }
}
