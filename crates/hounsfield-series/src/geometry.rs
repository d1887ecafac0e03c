//! Patient-space geometry of image planes and stacks (PS3.3 C.7.6.2.1.1).
//!
//! All vectors are in the DICOM patient coordinate system, LPS: x grows to
//! the patient's left, y to the posterior, z to the head.

use serde::Serialize;

/// A vector or point in LPS, mm for points.
pub type Vector3 = [f64; 3];

/// Largest deviation from 1 of a direction cosine vector's length, and
/// largest cosine between the row and column directions, before an
/// orientation is invalid.
const UNIT_TOLERANCE: f64 = 1e-3;

pub(crate) fn dot(a: Vector3, b: Vector3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(crate) fn cross(a: Vector3, b: Vector3) -> Vector3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(crate) fn sub(a: Vector3, b: Vector3) -> Vector3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(crate) fn add(a: Vector3, b: Vector3) -> Vector3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

pub(crate) fn scale(a: Vector3, factor: f64) -> Vector3 {
    [a[0] * factor, a[1] * factor, a[2] * factor]
}

pub(crate) fn norm(a: Vector3) -> f64 {
    dot(a, a).sqrt()
}

/// The direction cosines of an image plane and its normal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Orientation {
    /// Direction of increasing column index along a row (the first three
    /// values of Image Orientation (Patient)), unit length.
    pub row_direction: Vector3,
    /// Direction of increasing row index down a column (the last three
    /// values), unit length and at a right angle to `row_direction`.
    pub column_direction: Vector3,
    /// The slice normal `row_direction × column_direction`. Slices are
    /// ordered by ascending position along it.
    pub normal: Vector3,
}

impl Orientation {
    /// Builds the orientation from Image Orientation (Patient).
    ///
    /// The direction cosines are normalised and the column direction is
    /// made exactly perpendicular to the row direction, which changes it by
    /// at most the rounding of the written values.
    ///
    /// # Errors
    ///
    /// A message when a direction is not of unit length or the two are not
    /// at a right angle, within 0.001.
    pub fn from_cosines(cosines: &[f64; 6]) -> Result<Self, String> {
        let row = [cosines[0], cosines[1], cosines[2]];
        let column = [cosines[3], cosines[4], cosines[5]];
        for (name, vector) in [("row", row), ("column", column)] {
            let length = norm(vector);
            if (length - 1.0).abs() > UNIT_TOLERANCE {
                return Err(format!(
                    "the {name} direction has length {length:.4}, not 1"
                ));
            }
        }
        let row = scale(row, 1.0 / norm(row));
        let cosine = dot(row, column);
        if cosine.abs() > UNIT_TOLERANCE {
            return Err(format!(
                "the row and column directions are not at a right angle (cosine {cosine:.4})"
            ));
        }
        let column = sub(column, scale(row, cosine));
        let column = scale(column, 1.0 / norm(column));
        Ok(Orientation {
            row_direction: row,
            column_direction: column,
            normal: cross(row, column),
        })
    }

    /// Position of `point` along the slice normal, mm.
    pub fn along_normal(&self, point: Vector3) -> f64 {
        dot(point, self.normal)
    }
}

/// Tells whether two Image Orientation (Patient) values agree within
/// `tolerance` in every direction cosine.
pub(crate) fn same_orientation(a: &[f64; 6], b: &[f64; 6], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

/// The measured geometry of a stack of slices sorted by position along the
/// normal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackGeometry {
    /// Row, column and normal directions.
    pub orientation: Orientation,
    /// Pixel Spacing: row spacing, then column spacing, mm.
    pub pixel_spacing: [f64; 2],
    /// Image Position (Patient) of each slice, in stack order.
    pub positions: Vec<Vector3>,
    /// Position of each slice along the normal, mm.
    pub along_normal_mm: Vec<f64>,
    /// Steps between consecutive slices along the normal, mm.
    pub steps_mm: Vec<f64>,
    /// Distances between consecutive Image Position (Patient) values, mm.
    /// Larger than `steps_mm` when the stack is tilted.
    pub position_steps_mm: Vec<f64>,
    /// In-plane displacement of the positions per mm along the normal (zero
    /// for a stack that is not tilted).
    pub shear: Vector3,
    /// Angle between the normal and the line of positions, degrees.
    pub tilt_degrees: f64,
    /// Whether the in-plane displacement over the stack exceeds the
    /// tolerance, so the stack counts as tilted.
    pub tilted: bool,
    /// Largest distance of a position from the line of positions, mm.
    pub line_deviation_mm: f64,
    /// Whether the steps along the normal are equal within the tolerance.
    pub evenly_spaced: bool,
}

impl StackGeometry {
    /// Measures a stack. `positions` must be sorted by ascending position
    /// along `orientation.normal`, with no two at the same position.
    pub fn measure(
        orientation: Orientation,
        pixel_spacing: [f64; 2],
        positions: Vec<Vector3>,
        tolerance_mm: f64,
    ) -> Self {
        let along: Vec<f64> = positions
            .iter()
            .map(|&p| orientation.along_normal(p))
            .collect();
        let steps: Vec<f64> = along.windows(2).map(|pair| pair[1] - pair[0]).collect();
        let position_steps = positions
            .windows(2)
            .map(|pair| norm(sub(pair[1], pair[0])))
            .collect();
        let (shear, line_deviation, offset_length) =
            measure_shear(&orientation, &positions, &along);
        let tilt_degrees = norm(shear).atan().to_degrees();
        let evenly_spaced = evenly_spaced(&along, tolerance_mm);
        StackGeometry {
            orientation,
            pixel_spacing,
            positions,
            along_normal_mm: along,
            steps_mm: steps,
            position_steps_mm: position_steps,
            shear,
            tilt_degrees,
            tilted: offset_length > tolerance_mm,
            line_deviation_mm: line_deviation,
            evenly_spaced,
        }
    }

    /// Number of slices.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True for a stack without slices.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Extent from the first to the last slice along the normal, mm.
    pub fn extent_mm(&self) -> f64 {
        match (self.along_normal_mm.first(), self.along_normal_mm.last()) {
            (Some(first), Some(last)) => last - first,
            _ => 0.0,
        }
    }

    /// Mean step along the normal, or `None` for a single slice.
    pub fn mean_step_mm(&self) -> Option<f64> {
        (self.len() > 1).then(|| self.extent_mm() / (self.len() - 1) as f64)
    }

    /// In-plane offset of slice `k` from the line through the first position
    /// along the normal.
    pub fn in_plane_offset(&self, k: usize) -> Vector3 {
        let first = self.positions[0];
        let along = self.along_normal_mm[k] - self.along_normal_mm[0];
        sub(
            sub(self.positions[k], first),
            scale(self.orientation.normal, along),
        )
    }
}

/// Fits the in-plane offsets of the positions as a linear function of the
/// position along the normal. Returns the shear (offset per mm along the
/// normal), the largest distance of a position from that line, and the
/// offset of the last slice.
fn measure_shear(
    orientation: &Orientation,
    positions: &[Vector3],
    along: &[f64],
) -> (Vector3, f64, f64) {
    let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
        return ([0.0; 3], 0.0, 0.0);
    };
    let extent = along[along.len() - 1] - along[0];
    if positions.len() < 2 || extent <= 0.0 {
        return ([0.0; 3], 0.0, 0.0);
    }
    let offset = |point: Vector3, depth: f64| {
        sub(
            sub(point, first),
            scale(orientation.normal, depth - along[0]),
        )
    };
    let last_offset = offset(last, along[along.len() - 1]);
    let shear = scale(last_offset, 1.0 / extent);
    let deviation = positions
        .iter()
        .zip(along)
        .map(|(&point, &depth)| norm(sub(offset(point, depth), scale(shear, depth - along[0]))))
        .fold(0.0, f64::max);
    (shear, deviation, norm(last_offset))
}

/// Tells whether positions along the normal are evenly spaced: every step
/// within `tolerance` of the median step, and every position within
/// `tolerance` of the evenly spaced grid from the first to the last.
pub(crate) fn evenly_spaced(along: &[f64], tolerance: f64) -> bool {
    if along.len() < 3 {
        return true;
    }
    let steps: Vec<f64> = along.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let median = median(&steps);
    if steps.iter().any(|step| (step - median).abs() > tolerance) {
        return false;
    }
    let first = along[0];
    let step = (along[along.len() - 1] - first) / (along.len() - 1) as f64;
    along
        .iter()
        .enumerate()
        .all(|(k, &depth)| (depth - first - k as f64 * step).abs() <= tolerance)
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Divides positions along the normal into maximal runs of evenly spaced
/// slices, from the first slice on. Returns the index ranges.
pub(crate) fn even_runs(along: &[f64], tolerance: f64) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < along.len() {
        let mut end = start + 1;
        while end < along.len() && evenly_spaced(&along[start..=end], tolerance) {
            end += 1;
        }
        runs.push(start..end);
        start = end;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn axial_normal_points_to_the_head() {
        let orientation = Orientation::from_cosines(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(orientation.normal, [0.0, 0.0, 1.0]);
    }

    #[test]
    fn sagittal_normal_points_to_the_right() {
        // IOP 0\1\0\0\0\-1: n = (0,1,0) x (0,0,-1) = (-1,0,0), so the order by
        // ascending d = -x runs from x = 10 down to x = -10.
        let orientation = Orientation::from_cosines(&[0.0, 1.0, 0.0, 0.0, 0.0, -1.0]).unwrap();
        assert_eq!(orientation.normal, [-1.0, 0.0, 0.0]);
        assert!(close(orientation.along_normal([10.0, 0.0, 0.0]), -10.0));
    }

    #[test]
    fn invalid_orientations_are_rejected() {
        assert!(Orientation::from_cosines(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).is_err());
        assert!(Orientation::from_cosines(&[2.0, 0.0, 0.0, 0.0, 1.0, 0.0]).is_err());
        assert!(Orientation::from_cosines(&[0.0; 6]).is_err());
    }

    #[test]
    fn uneven_steps_are_detected() {
        assert!(evenly_spaced(&[0.0, 2.5, 5.0, 7.5], 0.01));
        assert!(!evenly_spaced(&[0.0, 2.5, 5.0, 7.5, 15.0, 22.5], 0.01));
        // Alternating steps within the tolerance of the median stay even.
        assert!(evenly_spaced(&[0.0, 2.505, 5.0, 7.505, 10.0], 0.01));
    }

    #[test]
    fn runs_split_at_step_changes() {
        let runs = even_runs(&[0.0, 2.5, 5.0, 7.5, 15.0, 22.5], 0.01);
        assert_eq!(runs, vec![0..4, 4..6]);
        let runs = even_runs(&[0.0, 1.0, 3.0, 6.0, 10.0], 0.01);
        assert_eq!(runs, vec![0..2, 2..4, 4..5]);
    }

    #[test]
    fn tilt_is_measured_from_positions() {
        // Axial plane, positions stepping 1 mm along z and tan(20 deg) mm
        // along y per slice.
        let orientation = Orientation::from_cosines(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
        let offset = 20f64.to_radians().tan();
        let positions = (0..4).map(|k| [0.0, k as f64 * offset, k as f64]).collect();
        let stack = StackGeometry::measure(orientation, [1.0, 1.0], positions, 0.01);
        assert!(stack.tilted);
        assert!(
            (stack.tilt_degrees - 20.0).abs() < 1e-9,
            "{}",
            stack.tilt_degrees
        );
        assert!(stack.evenly_spaced);
        assert!(stack.line_deviation_mm < 1e-9);
        assert!(close(stack.steps_mm[0], 1.0));
    }
}
