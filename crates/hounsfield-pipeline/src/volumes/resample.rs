//! Reading a volume's voxels from its source slices at the positions a
//! [`Sampling`] gives: linear or nearest interpolation that never blends
//! padding.

use hounsfield_series::{Interpolation, Sampling};
use ndarray::{Array3, ArrayView2, ArrayView3};

/// Weights below this are treated as zero, so that a coordinate exactly on
/// a voxel does not read its neighbour (which may lie outside the image).
const NEGLIGIBLE_WEIGHT: f64 = 1e-9;
/// An output voxel whose valid (non-padding, inside the image) neighbours
/// carry less than this share of the interpolation weight is padding.
const MIN_VALID_WEIGHT: f64 = 0.5;

/// Source points and weights along one axis for one coordinate.
fn axis_weights(coordinate: f64, interpolation: Interpolation) -> [(i64, f64); 2] {
    match interpolation {
        Interpolation::Nearest => [((coordinate + 0.5).floor() as i64, 1.0), (0, 0.0)],
        Interpolation::Linear => {
            let lower = coordinate.floor();
            let fraction = coordinate - lower;
            [(lower as i64, 1.0 - fraction), (lower as i64 + 1, fraction)]
        }
    }
}

/// Samples one source plane at (row, column); returns the weighted sum of
/// valid neighbours and their weight.
fn sample_plane(
    values: ArrayView2<'_, f32>,
    padding: Option<ArrayView2<'_, bool>>,
    row: f64,
    column: f64,
    interpolation: Interpolation,
) -> (f64, f64) {
    let (rows, columns) = values.dim();
    let mut sum = 0.0;
    let mut weight = 0.0;
    for (r, row_weight) in axis_weights(row, interpolation) {
        if row_weight <= NEGLIGIBLE_WEIGHT {
            continue;
        }
        for (c, column_weight) in axis_weights(column, interpolation) {
            let w = row_weight * column_weight;
            if w <= NEGLIGIBLE_WEIGHT {
                continue;
            }
            if r < 0 || c < 0 || r as usize >= rows || c as usize >= columns {
                continue;
            }
            let (r, c) = (r as usize, c as usize);
            if padding.is_some_and(|mask| mask[(r, c)]) {
                continue;
            }
            sum += w * f64::from(values[(r, c)]);
            weight += w;
        }
    }
    (sum, weight)
}

/// Resamples a `(D, H, W)` stack of source slices onto the output grid of
/// `sampling`. `padding` marks padding voxels of the source, which never
/// contribute. Output voxels without enough valid neighbours (outside the
/// source, or surrounded by padding) are marked in the returned mask and
/// set to 0.
pub(crate) fn resample(
    values: ArrayView3<'_, f32>,
    padding: Option<ArrayView3<'_, bool>>,
    sampling: &Sampling,
    interpolation: Interpolation,
) -> (Array3<f32>, Array3<bool>) {
    let depth = values.dim().0;
    let shape = (
        sampling.slices.len(),
        sampling.rows.len(),
        sampling.columns.len(),
    );
    let mut output = Array3::<f32>::zeros(shape);
    let mut mask = Array3::<bool>::from_elem(shape, false);
    for (k, &slice) in sampling.slices.iter().enumerate() {
        let planes: Vec<(usize, f64)> = axis_weights(slice, interpolation)
            .into_iter()
            .filter(|&(index, weight)| {
                weight > NEGLIGIBLE_WEIGHT && index >= 0 && (index as usize) < depth
            })
            .map(|(index, weight)| (index as usize, weight))
            .collect();
        for (j, &row) in sampling.rows.iter().enumerate() {
            for (i, &column) in sampling.columns.iter().enumerate() {
                let mut sum = 0.0;
                let mut weight = 0.0;
                for &(plane, plane_weight) in &planes {
                    let shift = sampling.shifts.get(plane).copied().unwrap_or([0.0, 0.0]);
                    let (plane_sum, plane_valid) = sample_plane(
                        values.index_axis(ndarray::Axis(0), plane),
                        padding.map(|mask| mask.index_axis_move(ndarray::Axis(0), plane)),
                        row + shift[0],
                        column + shift[1],
                        interpolation,
                    );
                    sum += plane_weight * plane_sum;
                    weight += plane_weight * plane_valid;
                }
                if weight >= MIN_VALID_WEIGHT {
                    output[(k, j, i)] = (sum / weight) as f32;
                } else {
                    mask[(k, j, i)] = true;
                }
            }
        }
    }
    (output, mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn sampling(slices: Vec<f64>, rows: Vec<f64>, columns: Vec<f64>, depth: usize) -> Sampling {
        Sampling {
            slices,
            rows,
            columns,
            shifts: vec![[0.0, 0.0]; depth],
        }
    }

    #[test]
    fn linear_between_slices() {
        let values = array![[[0.0f32, 10.0]], [[100.0, 110.0]]];
        let plan = sampling(vec![0.0, 0.25, 1.0], vec![0.0], vec![0.0, 0.5, 1.0], 2);
        let (output, mask) = resample(values.view(), None, &plan, Interpolation::Linear);
        assert_eq!(output.dim(), (3, 1, 3));
        assert_eq!(output[(1, 0, 0)], 25.0);
        assert_eq!(output[(1, 0, 1)], 30.0);
        assert_eq!(output[(2, 0, 2)], 110.0);
        assert!(!mask.iter().any(|&padded| padded));
    }

    #[test]
    fn nearest_picks_one_voxel() {
        let values = array![[[0.0f32, 10.0]], [[100.0, 110.0]]];
        let plan = sampling(vec![0.4, 0.6], vec![0.0], vec![0.6], 2);
        let (output, _) = resample(values.view(), None, &plan, Interpolation::Nearest);
        assert_eq!(output[(0, 0, 0)], 10.0);
        assert_eq!(output[(1, 0, 0)], 110.0);
    }

    #[test]
    fn padding_never_blends() {
        // The padding voxel is -2000. Halfway between it and 40 the output is
        // 40, not -980.
        let values = array![[[-2000.0f32, 40.0]]];
        let padding = array![[[true, false]]];
        let plan = sampling(vec![0.0], vec![0.0], vec![0.0, 0.5, 1.0], 1);
        let (output, mask) = resample(
            values.view(),
            Some(padding.view()),
            &plan,
            Interpolation::Linear,
        );
        assert_eq!(output[(0, 0, 1)], 40.0);
        assert!(mask[(0, 0, 0)]);
        assert!(!mask[(0, 0, 1)]);
        assert_eq!(output[(0, 0, 2)], 40.0);
    }

    #[test]
    fn shifts_move_slices_and_leave_padding_outside() {
        // Slice 1 is read one row lower: output row 0 reads source row 1,
        // output row 1 falls outside the image.
        let values = array![[[1.0f32], [2.0]], [[3.0], [4.0]]];
        let plan = Sampling {
            slices: vec![0.0, 1.0],
            rows: vec![0.0, 1.0],
            columns: vec![0.0],
            shifts: vec![[0.0, 0.0], [1.0, 0.0]],
        };
        let (output, mask) = resample(values.view(), None, &plan, Interpolation::Linear);
        assert_eq!(output[(0, 1, 0)], 2.0);
        assert_eq!(output[(1, 0, 0)], 4.0);
        assert!(mask[(1, 1, 0)]);
    }
}
