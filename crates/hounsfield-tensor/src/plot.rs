//! A histogram plot of pooled modality values with the recipe's windows and
//! the histogram breakpoints marked.

use ndarray::Array3;
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::prelude::*;

use crate::error::RenderError;
use crate::sheet::{register_embedded_font, FONT_FAMILY};

/// A window to shade on the plot, in modality units.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotWindow {
    /// The legend text, e.g. `brain 40/80`.
    pub label: String,
    /// The lower edge (center − width/2).
    pub lower: f64,
    /// The upper edge (center + width/2).
    pub upper: f64,
}

/// Bars of the plotted histogram.
const BARS: usize = 200;

/// Window shading colours, in turn.
const WINDOW_COLOURS: [RGBColor; 4] = [
    RGBColor(230, 120, 40),
    RGBColor(60, 170, 90),
    RGBColor(170, 80, 200),
    RGBColor(40, 150, 210),
];

/// Draws the distribution of `values` (pooled non-padding modality values)
/// as the fraction of values per bar on a log scale. The x range runs from
/// their 0.1 % to their 99.9 % quantile, widened to include every
/// breakpoint. `windows` are shaded and `breakpoints` are ticks along the
/// bottom. Returns RGB pixels, channel-first `(3, height, width)`.
///
/// # Errors
/// [`RenderError::Draw`] when `values` has no finite value or drawing fails.
pub fn draw_histogram_plot(
    values: &[f32],
    breakpoints: &[f64],
    windows: &[PlotWindow],
    title: &str,
    (width, height): (u32, u32),
) -> Result<Array3<u8>, RenderError> {
    let failed = |reason: String| RenderError::Draw {
        what: "histogram plot",
        reason,
    };
    let mut sorted: Vec<f64> = values
        .iter()
        .filter(|value| value.is_finite())
        .map(|&value| f64::from(value))
        .collect();
    if sorted.is_empty() {
        return Err(failed("no finite values".into()));
    }
    sorted.sort_unstable_by(f64::total_cmp);
    let quantile =
        |fraction: f64| sorted[((sorted.len() as f64 * fraction) as usize).min(sorted.len() - 1)];
    let mut low = quantile(0.001);
    let mut high = quantile(0.999);
    for &b in breakpoints {
        (low, high) = (low.min(b), high.max(b));
    }
    if high <= low {
        (low, high) = (low - 1.0, low + 1.0);
    }
    let pad = (high - low) * 0.03;
    let (low, high) = (low - pad, high + pad);

    let step = (high - low) / BARS as f64;
    let mut counts = vec![0u64; BARS];
    for &value in &sorted {
        if value >= low && value < high {
            counts[(((value - low) / step) as usize).min(BARS - 1)] += 1;
        }
    }
    let total = sorted.len() as f64;
    let floor = 0.5 / total;
    let peak = counts.iter().copied().max().unwrap_or(1) as f64 / total;

    register_embedded_font()?;
    let mut buffer = vec![255u8; width as usize * height as usize * 3];
    {
        let backend =
            BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buffer, (width, height))
                .map_err(|error| failed(error.to_string()))?;
        let root = backend.into_drawing_area();
        root.fill(&WHITE)
            .map_err(|error| failed(error.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_FAMILY, 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(low..high, (floor..peak * 2.0).log_scale())
            .map_err(|error| failed(error.to_string()))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("modality value (HU for CT)")
            .y_desc("fraction of values")
            .label_style((FONT_FAMILY, 12))
            .axis_desc_style((FONT_FAMILY, 13))
            .draw()
            .map_err(|error| failed(error.to_string()))?;

        for (index, window) in windows.iter().enumerate() {
            let colour = WINDOW_COLOURS[index % WINDOW_COLOURS.len()];
            let (lower, upper) = (window.lower.max(low), window.upper.min(high));
            if lower >= upper {
                continue;
            }
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(lower, floor), (upper, peak * 2.0)],
                    colour.mix(0.18).filled(),
                )))
                .map_err(|error| failed(error.to_string()))?
                .label(&window.label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.mix(0.5).filled())
                });
        }

        let outline = counts.iter().enumerate().flat_map(|(bar, &count)| {
            let fraction = (count as f64 / total).max(floor);
            let left = low + bar as f64 * step;
            [(left, fraction), (left + step, fraction)]
        });
        chart
            .draw_series(LineSeries::new(outline, BLACK.stroke_width(1)))
            .map_err(|error| failed(error.to_string()))?
            .label("pooled values")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK));

        // Ticks a tenth of the decades high, along the bottom.
        let tick_top = floor * (peak * 2.0 / floor).powf(0.06);
        let red = RGBColor(200, 30, 30);
        chart
            .draw_series(
                breakpoints
                    .iter()
                    .filter(|&&b| b >= low && b <= high)
                    .map(|&b| PathElement::new([(b, floor), (b, tick_top)], red.stroke_width(1))),
            )
            .map_err(|error| failed(error.to_string()))?
            .label(format!("{} breakpoints", breakpoints.len()))
            .legend(move |(x, y)| PathElement::new([(x + 6, y - 5), (x + 6, y + 5)], red));

        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT_FAMILY, 12))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|error| failed(error.to_string()))?;
        root.present().map_err(|error| failed(error.to_string()))?;
    }

    let interleaved = Array3::from_shape_vec((height as usize, width as usize, 3), buffer)
        .map_err(|error| failed(error.to_string()))?;
    Ok(interleaved
        .permuted_axes([2, 0, 1])
        .as_standard_layout()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_draws_into_the_requested_size() {
        let mut values = vec![-1000.0f32; 600];
        values.extend((0..400).map(|v| v as f32));
        let windows = [PlotWindow {
            label: "brain 40/80".into(),
            lower: 0.0,
            upper: 80.0,
        }];
        let image = draw_histogram_plot(
            &values,
            &[-1000.0, 100.0, 399.0],
            &windows,
            "test",
            (400, 300),
        )
        .unwrap();
        assert_eq!(image.dim(), (3, 300, 400));
        // Something other than the white background was drawn.
        assert!(image.iter().any(|&value| value < 128));
    }

    #[test]
    fn plot_of_nothing_is_an_error() {
        assert!(draw_histogram_plot(&[], &[], &[], "x", (100, 100)).is_err());
    }
}
