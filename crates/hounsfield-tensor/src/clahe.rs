//! Contrast-limited adaptive histogram equalization (CLAHE), after
//! K. Zuiderveld, "Contrast Limited Adaptive Histogram Equalization",
//! Graphics Gems IV, Academic Press, 1994.

use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// Parameters of a `clahe` step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaheSpec {
    /// The clip limit as a multiple of the mean count per bin of a tile (as
    /// OpenCV's `clipLimit`); at least 1. Larger values allow more contrast
    /// and more noise; 1 keeps the input nearly unchanged.
    #[serde(default = "default_clip_limit")]
    pub clip_limit: f64,
    /// Tiles along the rows and the columns.
    #[serde(default = "default_tiles")]
    pub tiles: [usize; 2],
    /// Histogram bins over [0, 1].
    #[serde(default = "default_bins")]
    pub bins: usize,
}

fn default_clip_limit() -> f64 {
    2.0
}

fn default_tiles() -> [usize; 2] {
    [8, 8]
}

fn default_bins() -> usize {
    256
}

impl Default for ClaheSpec {
    fn default() -> Self {
        ClaheSpec {
            clip_limit: default_clip_limit(),
            tiles: default_tiles(),
            bins: default_bins(),
        }
    }
}

impl ClaheSpec {
    /// Checks the parameters.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(self.clip_limit >= 1.0 && self.clip_limit.is_finite()) {
            return Err(format!(
                "clahe clip_limit {} must be a finite number of at least 1",
                self.clip_limit
            ));
        }
        if self.tiles.contains(&0) {
            return Err("clahe tiles must be at least 1 along each axis".into());
        }
        if !(2..=65536).contains(&self.bins) {
            return Err(format!(
                "clahe bins {} must be between 2 and 65536",
                self.bins
            ));
        }
        Ok(())
    }
}

/// Rounds of clipping and redistribution. The excess shrinks each round, and
/// it halves or faster in the usual case, so 32 rounds leave a negligible
/// remainder.
const REDISTRIBUTION_ROUNDS: usize = 32;

/// The start of part `index` of `parts` equal parts of `length`.
fn part_start(index: usize, parts: usize, length: usize) -> usize {
    index * length / parts
}

/// Where a pixel sits between the centres of the tiles along one axis: the
/// two neighbouring tiles and the weight of the second.
fn neighbours(position: usize, centres: &[f64]) -> (usize, usize, f64) {
    let position = position as f64;
    let after = centres.partition_point(|&centre| centre <= position);
    if after == 0 {
        return (0, 0, 0.0);
    }
    if after == centres.len() {
        return (after - 1, after - 1, 0.0);
    }
    let (first, second) = (centres[after - 1], centres[after]);
    (after - 1, after, (position - first) / (second - first))
}

/// Builds the mapping of one tile: the clipped histogram's cumulative sum,
/// divided by the tile's pixel count, per bin. A tile without valid pixels
/// maps each bin to its centre.
fn tile_mapping(histogram: &mut [f64], clip_limit: f64) -> Vec<f64> {
    let bins = histogram.len();
    let count: f64 = histogram.iter().sum();
    if count == 0.0 {
        return (0..bins).map(|b| (b as f64 + 0.5) / bins as f64).collect();
    }

    // Clip at the limit and spread the excess evenly over all bins, as in
    // Zuiderveld's reference code. Repeat, because the spread can lift bins
    // over the limit again.
    let limit = clip_limit * count / bins as f64;
    for _ in 0..REDISTRIBUTION_ROUNDS {
        let excess: f64 = histogram.iter().map(|&h| (h - limit).max(0.0)).sum();
        if excess <= count * 1e-9 {
            break;
        }
        let share = excess / bins as f64;
        for h in histogram.iter_mut() {
            *h = h.min(limit) + share;
        }
    }

    let mut cumulative = 0.0;
    histogram
        .iter()
        .map(|&h| {
            cumulative += h;
            (cumulative / count).min(1.0)
        })
        .collect()
}

/// Applies CLAHE to a plane of values in [0, 1] (others are clamped first).
///
/// The plane is split into `tiles` regions. Each region's histogram of
/// non-padding values is clipped at `clip_limit` times its mean bin count,
/// with the excess spread over all bins, and its cumulative sum becomes the
/// region's mapping. Each pixel takes the bilinear interpolation of the
/// mappings of the four nearest region centres (two at the borders, one in
/// the corners). Padding pixels get mapped too but do not count in any
/// histogram. The output is in [0, 1].
pub fn clahe(plane: &Array2<f32>, padding: Option<&Array2<bool>>, spec: &ClaheSpec) -> Array2<f32> {
    let (rows, columns) = plane.dim();
    if rows == 0 || columns == 0 {
        return plane.clone();
    }
    let tile_rows = spec.tiles[0].clamp(1, rows);
    let tile_columns = spec.tiles[1].clamp(1, columns);
    let bins = spec.bins.max(2);
    let bin_of = |value: f32| {
        let value = if value.is_nan() {
            0.0
        } else {
            value.clamp(0.0, 1.0)
        };
        ((value as f64 * bins as f64) as usize).min(bins - 1)
    };

    // One histogram and mapping per tile, row-major.
    let mut mappings = Vec::with_capacity(tile_rows * tile_columns);
    for tile_row in 0..tile_rows {
        let row_range =
            part_start(tile_row, tile_rows, rows)..part_start(tile_row + 1, tile_rows, rows);
        for tile_column in 0..tile_columns {
            let column_range = part_start(tile_column, tile_columns, columns)
                ..part_start(tile_column + 1, tile_columns, columns);
            let mut histogram = vec![0.0f64; bins];
            for row in row_range.clone() {
                for column in column_range.clone() {
                    if padding.is_some_and(|mask| mask[[row, column]]) {
                        continue;
                    }
                    histogram[bin_of(plane[[row, column]])] += 1.0;
                }
            }
            mappings.push(tile_mapping(&mut histogram, spec.clip_limit));
        }
    }

    let centres = |parts: usize, length: usize| -> Vec<f64> {
        (0..parts)
            .map(|i| {
                let (start, end) = (
                    part_start(i, parts, length),
                    part_start(i + 1, parts, length),
                );
                (start + end) as f64 / 2.0 - 0.5
            })
            .collect()
    };
    let row_centres = centres(tile_rows, rows);
    let column_centres = centres(tile_columns, columns);

    let mut output = Array2::<f32>::zeros((rows, columns));
    for row in 0..rows {
        let (r0, r1, wr) = neighbours(row, &row_centres);
        for column in 0..columns {
            let (c0, c1, wc) = neighbours(column, &column_centres);
            let bin = bin_of(plane[[row, column]]);
            let at = |r: usize, c: usize| mappings[r * tile_columns + c][bin];
            let top = (1.0 - wc) * at(r0, c0) + wc * at(r0, c1);
            let bottom = (1.0 - wc) * at(r1, c0) + wc * at(r1, c1);
            output[[row, column]] = ((1.0 - wr) * top + wr * bottom) as f32;
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn spec(clip_limit: f64, tiles: [usize; 2], bins: usize) -> ClaheSpec {
        ClaheSpec {
            clip_limit,
            tiles,
            bins,
        }
    }

    #[test]
    fn one_tile_without_clipping_is_global_equalization() {
        // Four bins with one pixel each: the cumulative fractions are
        // 0.25, 0.5, 0.75 and 1.
        let plane = array![[0.0f32, 0.3], [0.6, 0.9]];
        let output = clahe(&plane, None, &spec(1e9, [1, 1], 4));
        assert_eq!(output, array![[0.25f32, 0.5], [0.75, 1.0]]);
    }

    #[test]
    fn clip_limit_flattens_a_dominant_bin() {
        // Six pixels in bin 0 and two in bin 3, limit 1 × 8 / 4 = 2. Without
        // clipping, bin 0 maps to 6/8; clipping and spreading the excess
        // converges to the flat histogram [2, 2, 2, 2], so bin 0 maps to 1/4.
        let plane = array![[0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.9]];
        let unclipped = clahe(&plane, None, &spec(1e9, [1, 1], 4));
        assert_eq!(unclipped[[0, 0]], 0.75);
        let clipped = clahe(&plane, None, &spec(1.0, [1, 1], 4));
        assert!((clipped[[0, 0]] - 0.25).abs() < 1e-4, "{clipped}");
        assert!((clipped[[0, 7]] - 1.0).abs() < 1e-6, "{clipped}");
    }

    #[test]
    fn padding_pixels_do_not_count() {
        let plane = array![[0.0f32, 0.3], [0.6, 0.9]];
        let padding = array![[false, false], [true, true]];
        let output = clahe(&plane, Some(&padding), &spec(1e9, [1, 1], 4));
        // Two valid pixels, one each in bins 0 and 1.
        assert_eq!(output[[0, 0]], 0.5);
        assert_eq!(output[[0, 1]], 1.0);
    }

    #[test]
    fn constant_image_stays_constant_across_tiles() {
        let plane = Array2::from_elem((32, 48), 0.4f32);
        let output = clahe(&plane, None, &ClaheSpec::default());
        let first = output[[0, 0]];
        assert!(output.iter().all(|&value| (value - first).abs() < 1e-6));
    }

    #[test]
    fn output_is_in_unit_range_and_monotone_in_one_tile() {
        let plane =
            Array2::from_shape_fn((16, 16), |(r, c)| ((r * 16 + c) as f32 / 255.0) * 1.2 - 0.1);
        let output = clahe(&plane, None, &spec(3.0, [1, 1], 64));
        assert!(output.iter().all(|&value| (0.0..=1.0).contains(&value)));
        let flat: Vec<f32> = output.iter().copied().collect();
        assert!(flat.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn low_contrast_image_gains_contrast() {
        // Values between 0.45 and 0.55 fill about 26 of 256 bins. The clip
        // limit is relative to the mean count over all bins, so a limit of
        // 40 leaves these few full bins unclipped and they spread out.
        let plane = Array2::from_shape_fn((64, 64), |(r, c)| 0.45 + 0.1 * ((r + c) as f32 / 126.0));
        let output = clahe(&plane, None, &spec(40.0, [4, 4], 256));
        let range = |a: &Array2<f32>| {
            let max = a.iter().copied().fold(f32::MIN, f32::max);
            let min = a.iter().copied().fold(f32::MAX, f32::min);
            max - min
        };
        assert!(range(&output) > 3.0 * range(&plane), "{}", range(&output));
    }

    #[test]
    fn invalid_parameters_are_rejected() {
        assert!(spec(0.5, [8, 8], 256).check().is_err());
        assert!(spec(2.0, [0, 8], 256).check().is_err());
        assert!(spec(2.0, [8, 8], 1).check().is_err());
        assert!(ClaheSpec::default().check().is_ok());
    }
}
