//! The voxel grid of an output volume, its affine, and how its voxels are
//! sampled from the source slices when the grid differs from theirs.

use serde::Serialize;

use crate::geometry::{add, dot, scale, StackGeometry, Vector3};
use crate::options::ResampleTarget;
use crate::reason::Decision;

/// Tolerance for floor operations on ratios of lengths, so that an extent
/// that is an exact multiple of the spacing keeps its last voxel despite
/// rounding.
const RATIO_EPSILON: f64 = 1e-6;

/// A 4x4 matrix, row by row.
pub type Matrix4 = [[f64; 4]; 4];

/// The voxel grid of a volume tensor `(C, D, H, W)`.
///
/// The affine maps the voxel index `(i, j, k, 1)`, with `i` the column (W),
/// `j` the row (H) and `k` the slice (D), to the voxel centre in mm. From
/// PS3.3 C.7.6.2.1.1, with `r` and `c` the row and column direction cosines,
/// `Δc` and `Δr` the column and row spacing and `P₀` the Image Position
/// (Patient) of the first slice:
///
/// ```text
/// P(i, j, k) = P₀ + i·Δc·r + j·Δr·c + k·s
/// ```
///
/// where the slice step `s` is the spacing times the normal `r × c`, or the
/// step between positions for a sheared (tilted) stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputGrid {
    /// Shape (D, H, W).
    pub shape: [usize; 3],
    /// Spacing (slice, row, column) in mm. The slice spacing is measured
    /// along the normal.
    pub spacing_mm: [f64; 3],
    /// The affine in DICOM patient coordinates (LPS), row by row.
    pub affine_lps: Matrix4,
    /// Whether the slice axis is not along the normal (a tilted stack kept
    /// with its shear).
    pub sheared: bool,
}

impl OutputGrid {
    /// Returns the affine in RAS coordinates (NIfTI, nibabel): the LPS
    /// affine with its first two rows negated.
    pub fn affine_ras(&self) -> Matrix4 {
        let mut ras = self.affine_lps;
        for row in ras.iter_mut().take(2) {
            for value in row.iter_mut() {
                *value = -*value;
            }
        }
        ras
    }

    /// Column `axis` of the affine (0: column step, 1: row step, 2: slice
    /// step, 3: origin).
    pub fn affine_column(&self, axis: usize) -> Vector3 {
        [
            self.affine_lps[0][axis],
            self.affine_lps[1][axis],
            self.affine_lps[2][axis],
        ]
    }
}

/// The mapping of output voxels onto the source slices.
///
/// Output voxel `(k, j, i)` lies on the source stack at slice coordinate
/// `slices[k]` (fractional index into the source slices, in stack order).
/// On source slice `a` it is read at row `rows[j] + shifts[a][0]` and column
/// `columns[i] + shifts[a][1]`, with fractional indices interpolated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sampling {
    /// Source slice coordinate of each output slice.
    pub slices: Vec<f64>,
    /// Source row coordinate of each output row.
    pub rows: Vec<f64>,
    /// Source column coordinate of each output column.
    pub columns: Vec<f64>,
    /// In-plane shift (rows, columns) of each source slice, which moves a
    /// tilted slice onto the grid at right angles.
    pub shifts: Vec<[f64; 2]>,
}

/// The requested output grid of one stack.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridRequest {
    /// Shift tilted slices in plane onto a grid at right angles.
    pub correct_tilt: bool,
    /// Resample along the normal to this spacing.
    pub even_spacing_mm: Option<f64>,
    /// Resample to this grid, after the corrections above.
    pub target: Option<ResampleTarget>,
    /// Slice spacing of a single-slice stack, mm.
    pub single_slice_spacing_mm: f64,
}

/// Plans the output grid of a stack. Returns the grid, its sampling when it
/// differs from the source grid, and the resampling decision to record.
pub(crate) fn plan_grid(
    stack: &StackGeometry,
    rows: usize,
    columns: usize,
    request: GridRequest,
) -> (OutputGrid, Option<Sampling>, Option<Decision>) {
    let [row_spacing, column_spacing] = stack.pixel_spacing;
    let source_slice_spacing = stack
        .mean_step_mm()
        .unwrap_or(request.single_slice_spacing_mm);
    let relative: Vec<f64> = stack
        .along_normal_mm
        .iter()
        .map(|depth| depth - stack.along_normal_mm[0])
        .collect();

    let (mut planes, mut slice_spacing) = match request.even_spacing_mm {
        Some(spacing) => (even_positions(stack.extent_mm(), spacing), spacing),
        None => (relative.clone(), source_slice_spacing),
    };
    let mut row_coordinates: Vec<f64> = (0..rows).map(|j| j as f64).collect();
    let mut column_coordinates: Vec<f64> = (0..columns).map(|i| i as f64).collect();
    let (mut row_out, mut column_out) = (row_spacing, column_spacing);
    if let Some(target) = request.target {
        let extent = stack.extent_mm();
        let (slice_target, row_target, column_target) = match target {
            ResampleTarget::Spacing([slice, row, column]) => (
                AxisTarget::Spacing(slice),
                AxisTarget::Spacing(row),
                AxisTarget::Spacing(column),
            ),
            ResampleTarget::Size([depth, height, width]) => (
                AxisTarget::Size(depth),
                AxisTarget::Size(height),
                AxisTarget::Size(width),
            ),
        };
        (planes, slice_spacing) = slice_target.positions(extent, slice_spacing);
        let row_positions;
        (row_positions, row_out) =
            row_target.positions((rows.saturating_sub(1)) as f64 * row_spacing, row_spacing);
        row_coordinates = row_positions.iter().map(|y| y / row_spacing).collect();
        let column_positions;
        (column_positions, column_out) = column_target.positions(
            (columns.saturating_sub(1)) as f64 * column_spacing,
            column_spacing,
        );
        column_coordinates = column_positions
            .iter()
            .map(|x| x / column_spacing)
            .collect();
    }

    let correct_tilt = request.correct_tilt && stack.tilted;
    let resampled = correct_tilt || request.even_spacing_mm.is_some() || request.target.is_some();
    let orientation = stack.orientation;
    let slice_step = if stack.tilted && !correct_tilt {
        scale(add(orientation.normal, stack.shear), slice_spacing)
    } else {
        scale(orientation.normal, slice_spacing)
    };
    let origin = stack.positions[0];
    let columns_step = scale(orientation.row_direction, column_out);
    let rows_step = scale(orientation.column_direction, row_out);
    let mut affine = [[0.0; 4]; 4];
    for axis in 0..3 {
        affine[axis] = [
            columns_step[axis],
            rows_step[axis],
            slice_step[axis],
            origin[axis],
        ];
    }
    affine[3] = [0.0, 0.0, 0.0, 1.0];
    let grid = OutputGrid {
        shape: [
            planes.len(),
            row_coordinates.len(),
            column_coordinates.len(),
        ],
        spacing_mm: [slice_spacing, row_out, column_out],
        affine_lps: affine,
        sheared: stack.tilted && !correct_tilt,
    };
    if !resampled {
        return (grid, None, None);
    }

    let shifts = (0..stack.len())
        .map(|k| {
            if !correct_tilt {
                return [0.0, 0.0];
            }
            let offset = stack.in_plane_offset(k);
            [
                -dot(offset, orientation.column_direction) / row_spacing,
                -dot(offset, orientation.row_direction) / column_spacing,
            ]
        })
        .collect();
    let sampling = Sampling {
        slices: planes
            .iter()
            .map(|&plane| slice_coordinate(&relative, plane))
            .collect(),
        rows: row_coordinates,
        columns: column_coordinates,
        shifts,
    };
    let decision = request.target.map(|_| Decision::Resampled {
        from_shape: [stack.len(), rows, columns],
        to_shape: grid.shape,
        from_spacing_mm: [source_slice_spacing, row_spacing, column_spacing],
        to_spacing_mm: grid.spacing_mm,
    });
    (grid, Some(sampling), decision)
}

/// The requested output of one axis.
#[derive(Debug, Clone, Copy)]
enum AxisTarget {
    Spacing(f64),
    Size(usize),
}

impl AxisTarget {
    /// Output voxel positions from 0 over `extent` mm, and their spacing.
    /// A zero extent (one voxel) keeps `source_spacing` as the spacing.
    fn positions(self, extent: f64, source_spacing: f64) -> (Vec<f64>, f64) {
        match self {
            AxisTarget::Spacing(spacing) => (even_positions(extent, spacing), spacing),
            AxisTarget::Size(size) => {
                let size = size.max(1);
                if size == 1 || extent <= 0.0 {
                    // NOTE: a single-slice source asked for several slices
                    // gives copies of that slice at the source spacing.
                    let spacing = if size == 1 {
                        extent.max(source_spacing)
                    } else {
                        source_spacing
                    };
                    let positions = (0..size).map(|m| m as f64 * spacing).collect();
                    return (positions, spacing);
                }
                let spacing = extent / (size - 1) as f64;
                ((0..size).map(|m| m as f64 * spacing).collect(), spacing)
            }
        }
    }
}

/// Positions `0, s, 2s, …` up to `extent`, at least one.
fn even_positions(extent: f64, spacing: f64) -> Vec<f64> {
    let count = if spacing > 0.0 && extent > 0.0 {
        (extent / spacing + RATIO_EPSILON).floor() as usize + 1
    } else {
        1
    };
    (0..count).map(|m| m as f64 * spacing).collect()
}

/// Fractional index of `plane` among the sorted slice positions `relative`,
/// clamped to the stack.
fn slice_coordinate(relative: &[f64], plane: f64) -> f64 {
    let last = relative.len().saturating_sub(1);
    if last == 0 || plane <= relative[0] {
        return 0.0;
    }
    if plane >= relative[last] {
        return last as f64;
    }
    let upper = relative.partition_point(|&depth| depth <= plane);
    let lower = upper - 1;
    let gap = relative[upper] - relative[lower];
    lower as f64 + (plane - relative[lower]) / gap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Orientation;

    fn axial_stack(depths: &[f64], shear_y: f64) -> StackGeometry {
        let orientation = Orientation::from_cosines(&[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
        let positions = depths
            .iter()
            .map(|&z| [-10.0, -20.0 + z * shear_y, z])
            .collect();
        StackGeometry::measure(orientation, [0.5, 0.25], positions, 0.01)
    }

    fn request() -> GridRequest {
        GridRequest {
            correct_tilt: false,
            even_spacing_mm: None,
            target: None,
            single_slice_spacing_mm: 1.0,
        }
    }

    #[test]
    fn affine_follows_the_image_plane_equation() {
        let stack = axial_stack(&[0.0, 2.5, 5.0], 0.0);
        let (grid, sampling, _) = plan_grid(&stack, 3, 4, request());
        assert!(sampling.is_none());
        assert_eq!(grid.shape, [3, 3, 4]);
        // Column step: column spacing 0.25 along the row direction x; row
        // step: row spacing 0.5 along y; slice step 2.5 along z.
        assert_eq!(grid.affine_column(0), [0.25, 0.0, 0.0]);
        assert_eq!(grid.affine_column(1), [0.0, 0.5, 0.0]);
        assert_eq!(grid.affine_column(2), [0.0, 0.0, 2.5]);
        assert_eq!(grid.affine_column(3), [-10.0, -20.0, 0.0]);
        let ras = grid.affine_ras();
        assert_eq!(ras[0][3], 10.0);
        assert_eq!(ras[1][1], -0.5);
        assert_eq!(ras[2][2], 2.5);
    }

    #[test]
    fn sheared_affine_steps_along_the_positions() {
        let stack = axial_stack(&[0.0, 2.0, 4.0], 0.5);
        let (grid, sampling, _) = plan_grid(&stack, 2, 2, request());
        assert!(sampling.is_none());
        assert!(grid.sheared);
        let step = grid.affine_column(2);
        assert!(
            (step[1] - 1.0).abs() < 1e-12 && (step[2] - 2.0).abs() < 1e-12,
            "{step:?}"
        );
    }

    #[test]
    fn tilt_correction_shifts_rows() {
        let stack = axial_stack(&[0.0, 2.0, 4.0], 0.5);
        let (grid, sampling, _) = plan_grid(
            &stack,
            2,
            2,
            GridRequest {
                correct_tilt: true,
                ..request()
            },
        );
        let sampling = sampling.unwrap();
        assert!(!grid.sheared);
        assert_eq!(grid.affine_column(2), [0.0, 0.0, 2.0]);
        // Slice 2 starts 2 mm further along y, so its source row 0 lands on
        // output row 4 (row spacing 0.5 mm): output row j reads row j - 4.
        assert!(
            (sampling.shifts[2][0] + 4.0).abs() < 1e-12,
            "{:?}",
            sampling.shifts
        );
        assert_eq!(sampling.shifts[2][1], 0.0);
        assert_eq!(sampling.slices, [0.0, 1.0, 2.0]);
    }

    #[test]
    fn even_resampling_interpolates_between_neighbours() {
        let stack = axial_stack(&[0.0, 2.5, 5.0, 7.5, 15.0, 22.5], 0.0);
        let (grid, sampling, _) = plan_grid(
            &stack,
            1,
            1,
            GridRequest {
                even_spacing_mm: Some(2.5),
                ..request()
            },
        );
        let sampling = sampling.unwrap();
        assert_eq!(grid.shape[0], 10);
        // Plane 10 mm lies a third of the way from 7.5 (index 3) to 15.
        assert!((sampling.slices[4] - (3.0 + 1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(sampling.slices[9], 5.0);
    }

    #[test]
    fn target_size_keeps_the_end_voxels() {
        let stack = axial_stack(&[0.0, 2.5, 5.0], 0.0);
        let (grid, sampling, decision) = plan_grid(
            &stack,
            3,
            5,
            GridRequest {
                target: Some(ResampleTarget::Size([5, 2, 3])),
                ..request()
            },
        );
        let sampling = sampling.unwrap();
        assert_eq!(grid.shape, [5, 2, 3]);
        assert_eq!(grid.spacing_mm, [1.25, 1.0, 0.5]);
        assert_eq!(sampling.rows, [0.0, 2.0]);
        assert_eq!(sampling.columns, [0.0, 2.0, 4.0]);
        assert_eq!(sampling.slices, [0.0, 0.5, 1.0, 1.5, 2.0]);
        assert!(matches!(decision, Some(Decision::Resampled { .. })));
    }
}
