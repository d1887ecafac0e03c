//! Frequency-histogram breakpoints: equal-population bins fitted once on a
//! dataset sample and applied to every image.

use crate::error::RenderError;

/// Fits breakpoints to pooled modality values with `bins` equal-population
/// bins.
///
/// The rule: sort the N values into `s`; take the fractions
/// `t = [0.001] ++ [(i + 0.5) / bins for i in 0..bins] ++ [0.999]`; take the
/// indices `k = floor(N × t)`, computed in `f64` and capped at N − 1; the
/// breakpoints are the sorted unique values `s[k]`. Repeated values (air in
/// CT, say) collapse, so there are often fewer than `bins + 2` breakpoints.
/// NaN values are left out before sorting.
///
/// # Errors
/// [`RenderError::Breakpoints`] when `bins` is 0 or fewer than two distinct
/// breakpoints result (no values, or all of them equal).
pub fn fit_breakpoints(mut values: Vec<f32>, bins: usize) -> Result<Vec<f64>, RenderError> {
    if bins == 0 {
        return Err(RenderError::Breakpoints(
            "the number of bins must be at least 1".into(),
        ));
    }
    values.retain(|value| !value.is_nan());
    values.sort_unstable_by(f32::total_cmp);
    let count = values.len();
    if count == 0 {
        return Err(RenderError::Breakpoints(
            "no valid pixels in the sample".into(),
        ));
    }

    let fractions = std::iter::once(0.001)
        .chain((0..bins).map(|i| (i as f64 + 0.5) / bins as f64))
        .chain(std::iter::once(0.999));
    let mut breakpoints: Vec<f64> = fractions
        .map(|fraction| {
            let index = ((count as f64) * fraction).floor() as usize;
            f64::from(values[index.min(count - 1)])
        })
        .collect();
    // The fractions increase, so the picked values are already sorted.
    breakpoints.dedup();

    if breakpoints.len() < 2 {
        return Err(RenderError::Breakpoints(format!(
            "all {count} sampled values equal {}; at least 2 distinct breakpoints are needed",
            breakpoints.first().copied().unwrap_or_default()
        )));
    }
    Ok(breakpoints)
}

/// Checks breakpoints read from a statistics file: at least two, finite and
/// strictly increasing.
pub(crate) fn check_breakpoints(breakpoints: &[f64]) -> Result<(), String> {
    if breakpoints.len() < 2 {
        return Err(format!(
            "{} breakpoint(s); at least 2 are needed",
            breakpoints.len()
        ));
    }
    if breakpoints.iter().any(|value| !value.is_finite()) {
        return Err("breakpoints must be finite numbers".into());
    }
    if breakpoints.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err("breakpoints must be strictly increasing".into());
    }
    Ok(())
}

/// Maps a modality value through breakpoints `b` onto [0, 1]: piecewise
/// linear from `b[j]` to the target `j / (m − 1)`, with m = `b.len()`, and
/// clamped to 0 below `b[0]` and to 1 above `b[m − 1]`. This equals NumPy's
/// `np.interp(x, b, np.linspace(0, 1, m))`.
///
/// `breakpoints` must hold at least two strictly increasing values, as
/// [`fit_breakpoints`] returns.
pub fn histogram_scale(value: f64, breakpoints: &[f64]) -> f64 {
    let Some((&first, &last)) = breakpoints.first().zip(breakpoints.last()) else {
        return 0.0;
    };
    let segments = breakpoints.len().saturating_sub(1).max(1) as f64;
    if value.is_nan() {
        return value;
    }
    if value <= first {
        return 0.0;
    }
    if value >= last {
        return 1.0;
    }
    // The first breakpoint greater than `value`; 1 ≤ upper ≤ m − 1 here.
    let upper = breakpoints.partition_point(|&b| b <= value);
    let lower = upper - 1;
    let (b0, b1) = (breakpoints[lower], breakpoints[upper]);
    (lower as f64 + (value - b0) / (b1 - b0)) / segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoints_of_0_to_999_with_4_bins() {
        // t = [0.001, 0.125, 0.375, 0.625, 0.875, 0.999], N = 1000:
        // k = [1, 125, 375, 625, 875, 999] and s[k] = k.
        let values: Vec<f32> = (0..1000).map(|v| v as f32).collect();
        let breakpoints = fit_breakpoints(values, 4).unwrap();
        assert_eq!(breakpoints, [1.0, 125.0, 375.0, 625.0, 875.0, 999.0]);
        assert!((histogram_scale(250.0, &breakpoints) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn repeated_air_values_collapse() {
        // N = 10: k = [0, 1, 3, 6, 8, 9]; s[k] = [-1024, -1024, -1024, 0,
        // 20, 40], unique [-1024, 0, 20, 40]; 10 maps to 0.5.
        let mut values = vec![-1024.0f32; 6];
        values.extend([40.0, 10.0, 0.0, 20.0]);
        let breakpoints = fit_breakpoints(values, 4).unwrap();
        assert_eq!(breakpoints, [-1024.0, 0.0, 20.0, 40.0]);
        assert!((histogram_scale(10.0, &breakpoints) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn scale_clamps_outside_and_hits_targets() {
        let breakpoints = [-1024.0, 0.0, 20.0, 40.0];
        assert_eq!(histogram_scale(-3000.0, &breakpoints), 0.0);
        assert_eq!(histogram_scale(-1024.0, &breakpoints), 0.0);
        assert!((histogram_scale(0.0, &breakpoints) - 1.0 / 3.0).abs() < 1e-12);
        assert!((histogram_scale(20.0, &breakpoints) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(histogram_scale(40.0, &breakpoints), 1.0);
        assert_eq!(histogram_scale(5000.0, &breakpoints), 1.0);
    }

    #[test]
    fn constant_values_are_an_error() {
        let error = fit_breakpoints(vec![7.0; 50], 10).unwrap_err();
        assert!(error.to_string().contains("at least 2"), "{error}");
    }

    #[test]
    fn empty_sample_and_zero_bins_are_errors() {
        assert!(fit_breakpoints(Vec::new(), 10).is_err());
        assert!(fit_breakpoints(vec![f32::NAN], 10).is_err());
        assert!(fit_breakpoints(vec![1.0, 2.0], 0).is_err());
    }

    #[test]
    fn stored_breakpoints_are_checked() {
        assert!(check_breakpoints(&[0.0, 1.0]).is_ok());
        assert!(check_breakpoints(&[0.0]).is_err());
        assert!(check_breakpoints(&[1.0, 1.0]).is_err());
        assert!(check_breakpoints(&[0.0, f64::INFINITY]).is_err());
    }
}
