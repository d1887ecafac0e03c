//! Reports of assembly: the reasons for exclusions, the split steps and the
//! decisions.

use std::fmt;

use serde::Serialize;

use crate::header::SliceHeader;

/// One slice named in a report: its file, frame and SOP Instance UID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SliceRef {
    /// The file.
    pub path: String,
    /// Frame index, 0-based.
    pub frame: u32,
    /// SOP Instance UID (0008,0018).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sop_instance_uid: Option<String>,
}

impl SliceRef {
    /// Names `slice`.
    pub fn of(slice: &SliceHeader) -> Self {
        SliceRef {
            path: slice.path.display().to_string(),
            frame: slice.frame,
            sop_instance_uid: slice.sop_instance_uid.clone(),
        }
    }
}

impl fmt::Display for SliceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.frame > 0 {
            write!(f, "{} frame {}", self.path, self.frame)
        } else {
            f.write_str(&self.path)
        }
    }
}

/// The reason a slice is not part of any volume.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ExclusionReason {
    /// Image Type (0008,0008) marks a localizer (scout), PS3.3 C.8.2.1.1.1.
    Localizer {
        /// The Image Type values.
        image_type: Vec<String>,
    },
    /// Image Type value 1 is `DERIVED` or value 2 is `SECONDARY` (PS3.3
    /// C.7.6.1.1.2): a reformat, a map or a screen capture, not acquired
    /// slices.
    Derived {
        /// The Image Type values.
        image_type: Vec<String>,
    },
    /// No Series Instance UID (0020,000E), so the slice belongs to no series.
    NoSeriesInstanceUid,
    /// Image Orientation (Patient) or Image Position (Patient) is absent: the
    /// image has no place in patient space and is 2D only (secondary
    /// capture, scanned film, projection radiography).
    NoPlaneGeometry {
        /// The keywords of the absent attributes.
        missing: Vec<&'static str>,
    },
    /// Rows, Columns or Pixel Spacing is absent.
    NoPixelGrid {
        /// The keywords of the absent attributes.
        missing: Vec<&'static str>,
    },
    /// The row and column direction cosines are not unit vectors at a right
    /// angle.
    InvalidOrientation {
        /// Image Orientation (Patient).
        orientation: [f64; 6],
        /// The problem found.
        problem: String,
    },
    /// A multi-frame image without per-frame functional groups: all frames
    /// share one position, as in cine loops.
    FramesWithoutPositions {
        /// Number of Frames.
        number_of_frames: u32,
    },
    /// Same position and same pixels as a slice that was kept.
    ExactDuplicate {
        /// The slice that was kept.
        kept: SliceRef,
    },
    /// The stack's slice positions are not evenly spaced and the options
    /// reject such stacks.
    UnevenSpacing {
        /// The steps between consecutive slices along the slice normal, mm.
        steps_mm: Vec<f64>,
    },
    /// The stack is tilted (the positions do not move along the slice
    /// normal) and the options reject such stacks.
    GantryTilt {
        /// The angle between the slice normal and the line of positions.
        degrees: f64,
    },
    /// The positions do not lie on one line, so no affine describes the
    /// stack.
    PositionsNotOnALine {
        /// The largest distance of a position from the fitted line, mm.
        max_deviation_mm: f64,
    },
}

impl ExclusionReason {
    /// Returns the stable code of the reason, e.g. `localizer`.
    pub fn code(&self) -> &'static str {
        match self {
            ExclusionReason::Localizer { .. } => "localizer",
            ExclusionReason::Derived { .. } => "derived",
            ExclusionReason::NoSeriesInstanceUid => "no-series-instance-uid",
            ExclusionReason::NoPlaneGeometry { .. } => "no-plane-geometry",
            ExclusionReason::NoPixelGrid { .. } => "no-pixel-grid",
            ExclusionReason::InvalidOrientation { .. } => "invalid-orientation",
            ExclusionReason::FramesWithoutPositions { .. } => "frames-without-positions",
            ExclusionReason::ExactDuplicate { .. } => "exact-duplicate",
            ExclusionReason::UnevenSpacing { .. } => "uneven-spacing",
            ExclusionReason::GantryTilt { .. } => "gantry-tilt",
            ExclusionReason::PositionsNotOnALine { .. } => "positions-not-on-a-line",
        }
    }
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExclusionReason::Localizer { image_type } => write!(
                f,
                "Image Type `{}` marks a localizer; set `volumes.keep_localizers` to stack it",
                image_type.join("\\")
            ),
            ExclusionReason::Derived { image_type } => write!(
                f,
                "Image Type `{}` is DERIVED or SECONDARY; set `volumes.keep_derived` to stack it",
                image_type.join("\\")
            ),
            ExclusionReason::NoSeriesInstanceUid => {
                f.write_str("no Series Instance UID (0020,000E), so the image belongs to no series")
            }
            ExclusionReason::NoPlaneGeometry { missing } => write!(
                f,
                "no {}: the image has no position in patient space and is 2D only",
                missing.join(" or ")
            ),
            ExclusionReason::NoPixelGrid { missing } => {
                write!(f, "no {}: the voxel grid is unknown", missing.join(" or "))
            }
            ExclusionReason::InvalidOrientation {
                orientation,
                problem,
            } => write!(
                f,
                "invalid Image Orientation (Patient) `{}`: {problem}",
                format_numbers(orientation)
            ),
            ExclusionReason::FramesWithoutPositions { number_of_frames } => write!(
                f,
                "{number_of_frames} frames without per-frame Plane Position: the frames share \
                 one position (e.g. cine) and are not slices of a volume"
            ),
            ExclusionReason::ExactDuplicate { kept } => write!(
                f,
                "same position and identical pixels as {kept}, which was kept"
            ),
            ExclusionReason::UnevenSpacing { steps_mm } => write!(
                f,
                "slice positions are unevenly spaced, steps along the normal [{}] mm; \
                 `volumes.uneven_spacing` is `reject`",
                format_numbers(steps_mm)
            ),
            ExclusionReason::GantryTilt { degrees } => write!(
                f,
                "the stack is tilted by {degrees:.2} degrees from the slice normal; \
                 `volumes.gantry_tilt` is `reject`"
            ),
            ExclusionReason::PositionsNotOnALine { max_deviation_mm } => write!(
                f,
                "the slice positions do not lie on a line (a position is {max_deviation_mm:.3} mm \
                 off), so no affine describes the stack"
            ),
        }
    }
}

/// A slice left out of every volume, with the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExcludedSlice {
    /// Index of the slice in the list given to [`assemble`](crate::assemble).
    pub slice: usize,
    /// The slice.
    pub source: SliceRef,
    /// Series Instance UID, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series_instance_uid: Option<String>,
    /// The reason it was left out.
    pub reason: ExclusionReason,
    /// The reason as a sentence.
    pub message: String,
}

/// An attribute or property by which a series was divided into volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitKey {
    /// Frame of Reference UID (0020,0052): another patient coordinate
    /// system.
    FrameOfReference,
    /// Image Type values 1 to 3 (0008,0008): pixel data characteristics,
    /// patient examination characteristics and the modality-specific value.
    ImageType,
    /// Complex Image Component (0008,9208).
    ComplexImageComponent,
    /// Echo Numbers (0018,0086).
    EchoNumber,
    /// Echo Time (0018,0081).
    EchoTime,
    /// Temporal Position Identifier (0020,0100) or Temporal Position Index.
    TemporalPosition,
    /// Stack ID (0020,9056) of enhanced frames.
    StackId,
    /// Rows and Columns.
    ImageSize,
    /// Pixel Spacing.
    PixelSpacing,
    /// Image Orientation (Patient), beyond the tolerance.
    Orientation,
    /// Several slices at one position with different pixels: phases, echoes
    /// or acquisitions, separated by an attribute or by their order.
    RepeatedPosition,
    /// Uneven slice spacing, split into evenly spaced sub-stacks.
    UnevenSpacing,
}

/// One step of the division of a series into volumes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitStep {
    /// What differed.
    pub key: SplitKey,
    /// This volume's value, as text.
    pub value: String,
    /// Into how many parts the stack was divided at this step.
    pub parts: usize,
    /// The step as a sentence.
    pub message: String,
}

/// A choice made for a volume, recorded in its metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Decision {
    /// Slices identical to another slice at the same position were dropped.
    ExactDuplicatesDropped {
        /// The slices dropped.
        dropped: Vec<SliceRef>,
    },
    /// The stack was unevenly spaced and was split into evenly spaced parts;
    /// this volume is part `part` (1-based) of `parts`.
    UnevenSpacingSplit {
        /// Steps of the whole stack along the slice normal, mm.
        steps_mm: Vec<f64>,
        /// This part, 1-based.
        part: usize,
        /// Number of parts.
        parts: usize,
    },
    /// The stack was unevenly spaced and was resampled to even spacing.
    UnevenSpacingResampled {
        /// Steps of the source stack along the slice normal, mm.
        steps_mm: Vec<f64>,
        /// The new slice spacing, mm.
        spacing_mm: f64,
    },
    /// The stack is tilted; the affine keeps the shear, so voxel positions
    /// are exact but the axes are not at right angles.
    GantryTiltSheared {
        /// Angle between the slice normal and the line of positions.
        degrees: f64,
    },
    /// The stack is tilted; each slice was shifted in its plane onto a grid
    /// at right angles.
    GantryTiltResampled {
        /// Angle between the slice normal and the line of positions.
        degrees: f64,
    },
    /// The volume was resampled to the grid the options ask for.
    Resampled {
        /// Source shape (D, H, W).
        from_shape: [usize; 3],
        /// Output shape (D, H, W).
        to_shape: [usize; 3],
        /// Source spacing (slice, row, column), mm.
        from_spacing_mm: [f64; 3],
        /// Output spacing (slice, row, column), mm.
        to_spacing_mm: [f64; 3],
    },
    /// A single slice: no position step exists, so the slice spacing of the
    /// affine is taken from another attribute.
    SingleSlice {
        /// The spacing used, mm.
        spacing_mm: f64,
        /// Its source: `SpacingBetweenSlices`, `SliceThickness` or
        /// `default`.
        source: &'static str,
    },
}

impl Decision {
    /// Returns the decision as a sentence.
    pub fn message(&self) -> String {
        match self {
            Decision::ExactDuplicatesDropped { dropped } => format!(
                "{} exact duplicate slice(s) dropped (same position, identical pixels)",
                dropped.len()
            ),
            Decision::UnevenSpacingSplit {
                steps_mm,
                part,
                parts,
            } => format!(
                "uneven slice spacing, steps [{}] mm: split into {parts} evenly spaced \
                 sub-stacks, this is part {part}",
                format_numbers(steps_mm)
            ),
            Decision::UnevenSpacingResampled {
                steps_mm,
                spacing_mm,
            } => format!(
                "uneven slice spacing, steps [{}] mm: resampled to {spacing_mm} mm",
                format_numbers(steps_mm)
            ),
            Decision::GantryTiltSheared { degrees } => {
                format!("stack tilted by {degrees:.2} degrees: kept with a sheared affine")
            }
            Decision::GantryTiltResampled { degrees } => format!(
                "stack tilted by {degrees:.2} degrees: slices shifted in plane onto a grid at \
                 right angles"
            ),
            Decision::Resampled {
                from_shape,
                to_shape,
                from_spacing_mm,
                to_spacing_mm,
            } => format!(
                "resampled from {from_shape:?} at [{}] mm to {to_shape:?} at [{}] mm",
                format_numbers(from_spacing_mm),
                format_numbers(to_spacing_mm)
            ),
            Decision::SingleSlice { spacing_mm, source } => format!(
                "single slice: the slice axis of the affine uses {spacing_mm} mm from {source}"
            ),
        }
    }
}

/// Formats numbers with up to 4 decimals and no trailing zeros.
pub(crate) fn format_numbers(values: &[f64]) -> String {
    values
        .iter()
        .map(|value| format_number(*value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats one number with up to 4 decimals and no trailing zeros.
pub(crate) fn format_number(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_without_trailing_zeros() {
        assert_eq!(
            format_numbers(&[2.5, 7.5, 4.0, -0.0, 1.14000001]),
            "2.5, 7.5, 4, 0, 1.14"
        );
    }

    #[test]
    fn exclusion_serializes_with_code() {
        let reason = ExclusionReason::UnevenSpacing {
            steps_mm: vec![2.5, 7.5],
        };
        let json = serde_json::to_value(&reason).unwrap();
        assert_eq!(json["code"], "uneven-spacing");
        assert_eq!(json["steps_mm"][1], 7.5);
        assert_eq!(reason.code(), "uneven-spacing");
        assert!(reason.to_string().contains("[2.5, 7.5]"), "{reason}");
    }
}
