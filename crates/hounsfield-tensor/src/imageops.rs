//! Small image operations for the foreground crop: Gaussian blur, Otsu's
//! threshold and the largest connected component.

use ndarray::{Array2, Axis};

/// Blurs a plane with a Gaussian of standard deviation `sigma` pixels,
/// truncated at 3 sigma, as two 1-D passes. Edges repeat the border pixel.
pub(crate) fn gaussian_blur(plane: &Array2<f32>, sigma: f64) -> Array2<f32> {
    if sigma.is_nan() || sigma <= 0.0 {
        return plane.clone();
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let mut kernel: Vec<f64> = (-radius..=radius)
        .map(|offset| (-(offset as f64).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|weight| *weight /= total);

    let rows = blur_axis(plane, &kernel, radius, Axis(1));
    blur_axis(&rows, &kernel, radius, Axis(0))
}

fn blur_axis(plane: &Array2<f32>, kernel: &[f64], radius: isize, axis: Axis) -> Array2<f32> {
    let mut output = Array2::<f32>::zeros(plane.raw_dim());
    for (input_lane, mut output_lane) in plane.lanes(axis).into_iter().zip(output.lanes_mut(axis)) {
        let last = input_lane.len() as isize - 1;
        for (index, value) in output_lane.iter_mut().enumerate() {
            let mut sum = 0.0f64;
            for (k, weight) in kernel.iter().enumerate() {
                let source = (index as isize + k as isize - radius).clamp(0, last);
                sum += weight * f64::from(input_lane[source as usize]);
            }
            *value = sum as f32;
        }
    }
    output
}

/// Otsu's threshold of `values`: the value that maximizes the between-class
/// variance of a 256-bin histogram between their minimum and maximum.
/// Pixels above the threshold are the upper class. `None` for no values or
/// a single distinct value.
pub(crate) fn otsu_threshold(values: &[f32]) -> Option<f64> {
    let finite = values.iter().filter(|value| value.is_finite());
    let (min, max) = finite.fold(None, |range: Option<(f32, f32)>, &value| match range {
        None => Some((value, value)),
        Some((low, high)) => Some((low.min(value), high.max(value))),
    })?;
    if min == max {
        return None;
    }

    const BINS: usize = 256;
    let (min, max) = (f64::from(min), f64::from(max));
    let width = (max - min) / BINS as f64;
    let mut histogram = [0.0f64; BINS];
    for &value in values.iter().filter(|value| value.is_finite()) {
        let bin = ((f64::from(value) - min) / width) as usize;
        histogram[bin.min(BINS - 1)] += 1.0;
    }

    let total: f64 = histogram.iter().sum();
    let weighted_total: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &h)| i as f64 * h)
        .sum();
    let (mut below, mut weighted_below) = (0.0f64, 0.0f64);
    let (mut best_bin, mut best_variance) = (0usize, -1.0f64);
    for (bin, &count) in histogram.iter().enumerate().take(BINS - 1) {
        below += count;
        weighted_below += bin as f64 * count;
        let above = total - below;
        if below == 0.0 || above == 0.0 {
            continue;
        }
        let mean_below = weighted_below / below;
        let mean_above = (weighted_total - weighted_below) / above;
        let variance = below * above * (mean_below - mean_above).powi(2);
        if variance > best_variance {
            (best_bin, best_variance) = (bin, variance);
        }
    }
    // The upper edge of the last bin of the lower class.
    Some(min + (best_bin + 1) as f64 * width)
}

/// An axis-aligned box of pixels: first row and column, and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PixelBox {
    pub row: usize,
    pub column: usize,
    pub rows: usize,
    pub columns: usize,
}

/// The bounding box of the largest 8-connected component of `mask`, or
/// `None` when the mask is empty. Ties go to the component found first in
/// row-major order.
pub(crate) fn largest_component_box(mask: &Array2<bool>) -> Option<PixelBox> {
    let (rows, columns) = mask.dim();
    let mut seen = Array2::<bool>::from_elem((rows, columns), false);
    let mut stack = Vec::new();
    let mut best: Option<(usize, PixelBox)> = None;

    for start_row in 0..rows {
        for start_column in 0..columns {
            if !mask[[start_row, start_column]] || seen[[start_row, start_column]] {
                continue;
            }
            seen[[start_row, start_column]] = true;
            stack.push((start_row, start_column));
            let mut size = 0usize;
            let (mut top, mut bottom) = (start_row, start_row);
            let (mut left, mut right) = (start_column, start_column);
            while let Some((row, column)) = stack.pop() {
                size += 1;
                (top, bottom) = (top.min(row), bottom.max(row));
                (left, right) = (left.min(column), right.max(column));
                for next_row in row.saturating_sub(1)..=(row + 1).min(rows - 1) {
                    for next_column in column.saturating_sub(1)..=(column + 1).min(columns - 1) {
                        if mask[[next_row, next_column]] && !seen[[next_row, next_column]] {
                            seen[[next_row, next_column]] = true;
                            stack.push((next_row, next_column));
                        }
                    }
                }
            }
            let component = PixelBox {
                row: top,
                column: left,
                rows: bottom - top + 1,
                columns: right - left + 1,
            };
            if best.is_none_or(|(best_size, _)| size > best_size) {
                best = Some((size, component));
            }
        }
    }
    best.map(|(_, component)| component)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn blur_keeps_constants_and_mass() {
        let constant = Array2::from_elem((5, 7), 3.0f32);
        let blurred = gaussian_blur(&constant, 1.5);
        assert!(blurred.iter().all(|&value| (value - 3.0).abs() < 1e-5));

        let mut impulse = Array2::<f32>::zeros((21, 21));
        impulse[[10, 10]] = 1.0;
        let blurred = gaussian_blur(&impulse, 2.0);
        let total: f32 = blurred.iter().sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        assert!(blurred[[10, 10]] > blurred[[10, 12]]);
        assert!((blurred[[10, 12]] - blurred[[12, 10]]).abs() < 1e-7);
    }

    #[test]
    fn otsu_splits_two_clusters() {
        let mut values = vec![-1000.0f32; 500];
        values.extend(std::iter::repeat_n(40.0f32, 300));
        let threshold = otsu_threshold(&values).unwrap();
        assert!(threshold > -1000.0, "{threshold}");
        assert!(threshold < 40.0, "{threshold}");
        assert_eq!(otsu_threshold(&[5.0, 5.0]), None);
        assert_eq!(otsu_threshold(&[]), None);
    }

    #[test]
    fn largest_component_wins_and_diagonals_connect() {
        let mask = array![
            [true, false, false, false, false],
            [false, false, true, false, false],
            [false, false, false, true, true],
            [false, false, false, true, false],
        ];
        let component = largest_component_box(&mask).unwrap();
        assert_eq!(
            component,
            PixelBox {
                row: 1,
                column: 2,
                rows: 3,
                columns: 3
            }
        );
        assert_eq!(
            largest_component_box(&Array2::from_elem((3, 3), false)),
            None
        );
    }
}
