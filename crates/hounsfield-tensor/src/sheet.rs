//! Contact sheets: each image once per channel, labelled, as the network
//! will see it.

use std::sync::OnceLock;

use ndarray::{Array3, Axis};
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::RenderError;
use crate::recipe::Recipe;
use crate::render::{Rendered, WindowSource};
use crate::spatial::{resize_plane, ResizeFilter};

/// The embedded label font: Noto Mono, SIL Open Font License 1.1 (see
/// `fonts/README.md` in this crate).
const FONT_BYTES: &[u8] = include_bytes!("../fonts/NotoMono-Regular.ttf");

/// The name the font is registered under with `plotters`.
pub(crate) const FONT_FAMILY: &str = "hounsfield-noto-mono";

/// Registers the embedded font with `plotters` once per process.
pub(crate) fn register_embedded_font() -> Result<(), RenderError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED
        .get_or_init(|| register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES).is_ok());
    if registered {
        Ok(())
    } else {
        Err(RenderError::Draw {
            what: "labels",
            reason: "the embedded font could not be read".into(),
        })
    }
}

/// One image of a contact sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetCell {
    /// Values in [0, 1], `(1, H, W)` grayscale or `(3, H, W)` RGB; NaN
    /// pixels are drawn magenta.
    pub image: Array3<f32>,
    /// The first label line, e.g. `1: window brain 40/80`.
    pub label: String,
    /// The second label line, e.g. the window applied or the range shown.
    pub detail: String,
}

/// One row of a contact sheet: the channels of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRow {
    /// The row title, e.g. the file name and frame.
    pub title: String,
    /// The cells, one per channel.
    pub cells: Vec<SheetCell>,
}

const MARGIN: usize = 8;
const TITLE_HEIGHT: usize = 20;
const LABEL_HEIGHT: usize = 30;
const BACKGROUND: [u8; 3] = [20, 20, 20];
const MISSING: [u8; 3] = [255, 0, 255];

/// Builds a sheet row from a rendered frame, one cell per channel. A
/// channel with a fixed range (windows, histogram, padding mask, clipped
/// scales) is mapped to [0, 1] by that range. Others are mapped by the
/// minimum and maximum of their values, which the label then states.
pub fn sheet_row(title: String, rendered: &Rendered, recipe: &Recipe) -> SheetRow {
    if rendered
        .channels
        .first()
        .is_some_and(|channel| channel.value_space == "rgb")
    {
        let cell = SheetCell {
            image: rendered.tensor.clone(),
            label: "RGB".into(),
            detail: "colour image, channels ignored".into(),
        };
        return SheetRow {
            title,
            cells: vec![cell],
        };
    }

    let mut cells = Vec::with_capacity(rendered.channels.len());
    for (index, (plane, record)) in rendered
        .tensor
        .axis_iter(Axis(0))
        .zip(&rendered.channels)
        .enumerate()
    {
        let label = recipe
            .channels
            .get(index)
            .map_or_else(|| record.name.to_string(), |channel| channel.label());
        let (low, high, shown_range) = match record.range {
            Some([low, high]) if high > low => (low, high, false),
            _ => {
                let (low, high) = finite_min_max(plane.iter().copied());
                (low, high, true)
            }
        };
        let mut detail = Vec::new();
        if let Some(window) = &record.window {
            let source = match window.source {
                WindowSource::File => " file",
                WindowSource::MinMax => " min-max",
                _ => "",
            };
            detail.push(format!(
                "{}/{}{source}",
                round(window.center),
                round(window.width)
            ));
            if let Some(percent) = record.in_window_percent {
                detail.push(format!("{percent:.0}% inside"));
            }
        }
        if shown_range {
            detail.push(format!("shown {}..{}", round(low), round(high)));
        }
        let span = if high > low { high - low } else { 1.0 };
        let image = plane
            .mapv(|value| ((f64::from(value) - low) / span) as f32)
            .insert_axis(Axis(0));
        cells.push(SheetCell {
            image,
            label: format!("{index}: {label}"),
            detail: detail.join(", "),
        });
    }
    SheetRow { title, cells }
}

fn round(value: f64) -> String {
    if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

fn finite_min_max(values: impl Iterator<Item = f32>) -> (f64, f64) {
    let range = values
        .filter(|value| value.is_finite())
        .fold(None, |range, value| match range {
            None => Some((value, value)),
            Some((low, high)) => Some((value.min(low), value.max(high))),
        });
    range.map_or((0.0, 1.0), |(low, high)| (f64::from(low), f64::from(high)))
}

/// Scales a `(C, H, W)` image to fit a `side × side` square, keeping its
/// aspect ratio: area averaging when shrinking, nearest pixels when
/// growing, so no detail is invented.
fn thumbnail(image: &Array3<f32>, side: usize) -> Result<Array3<f32>, RenderError> {
    let (channels, rows, columns) = image.dim();
    if rows == 0 || columns == 0 {
        return Ok(Array3::zeros((channels, 1, 1)));
    }
    let scale = side as f64 / rows.max(columns) as f64;
    let size = [
        ((rows as f64 * scale).round() as usize).max(1),
        ((columns as f64 * scale).round() as usize).max(1),
    ];
    let filter = if scale < 1.0 {
        ResizeFilter::Box
    } else {
        ResizeFilter::Nearest
    };
    let mut output = Array3::zeros((channels, size[0], size[1]));
    for (plane, mut target) in image.outer_iter().zip(output.outer_iter_mut()) {
        // NaN would spread through the filter; mark it after scaling.
        let missing = plane.mapv(|value| if value.is_nan() { 1.0f32 } else { 0.0 });
        let values = plane.mapv(|value| if value.is_nan() { 0.0 } else { value });
        let scaled = resize_plane(&values, size, filter)?;
        let scaled_missing = resize_plane(&missing, size, filter)?;
        target.assign(&scaled);
        ndarray::Zip::from(&mut target)
            .and(&scaled_missing)
            .for_each(|value, &m| {
                if m >= 0.5 {
                    *value = f32::NAN;
                }
            });
    }
    Ok(output)
}

fn to_byte(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Copies a thumbnail into an RGB buffer of `width` pixels per row at
/// (`top`, `left`).
fn blit(buffer: &mut [u8], width: usize, image: &Array3<f32>, top: usize, left: usize) {
    let (channels, rows, columns) = image.dim();
    for row in 0..rows {
        for column in 0..columns {
            let pixel: [u8; 3] = if channels >= 3 {
                let rgb = [0, 1, 2].map(|c| image[[c, row, column]]);
                if rgb.iter().any(|value| value.is_nan()) {
                    MISSING
                } else {
                    rgb.map(to_byte)
                }
            } else {
                let value = image[[0, row, column]];
                if value.is_nan() {
                    MISSING
                } else {
                    [to_byte(value); 3]
                }
            };
            let offset = ((top + row) * width + left + column) * 3;
            if let Some(target) = buffer.get_mut(offset..offset + 3) {
                target.copy_from_slice(&pixel);
            }
        }
    }
}

/// Draws a contact sheet: one row per [`SheetRow`], its cells side by side,
/// each scaled to fit `cell_size × cell_size` pixels under two label lines.
/// Returns RGB pixels, channel-first `(3, H, W)`.
///
/// # Errors
/// [`RenderError::Draw`] when there is nothing to draw, the sheet would be
/// larger than 16384 pixels on a side, or text drawing fails.
pub fn draw_contact_sheet(rows: &[SheetRow], cell_size: usize) -> Result<Array3<u8>, RenderError> {
    let failed = |reason: String| RenderError::Draw {
        what: "contact sheet",
        reason,
    };
    let columns = rows.iter().map(|row| row.cells.len()).max().unwrap_or(0);
    if columns == 0 || cell_size == 0 {
        return Err(failed("no images to draw".into()));
    }
    let row_height = TITLE_HEIGHT + LABEL_HEIGHT + cell_size + MARGIN;
    let width = MARGIN + columns * (cell_size + MARGIN);
    let height = MARGIN + rows.len() * row_height;
    if width > 16_384 || height > 16_384 {
        return Err(failed(format!(
            "{width} × {height} pixels is too large; use fewer files or a smaller cell size"
        )));
    }
    register_embedded_font()?;

    let mut buffer: Vec<u8> = BACKGROUND.repeat(width * height);
    for (row_index, row) in rows.iter().enumerate() {
        let top = MARGIN + row_index * row_height + TITLE_HEIGHT + LABEL_HEIGHT;
        for (column_index, cell) in row.cells.iter().enumerate() {
            let image = thumbnail(&cell.image, cell_size)?;
            let (_, rows_used, columns_used) = image.dim();
            let left = MARGIN + column_index * (cell_size + MARGIN);
            let offset_top = top + (cell_size - rows_used.min(cell_size)) / 2;
            let offset_left = left + (cell_size - columns_used.min(cell_size)) / 2;
            blit(&mut buffer, width, &image, offset_top, offset_left);
        }
    }

    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(
            &mut buffer,
            (width as u32, height as u32),
        )
        .map_err(|error| failed(error.to_string()))?;
        let root = backend.into_drawing_area();
        let title_style =
            TextStyle::from((FONT_FAMILY, 14).into_font()).color(&RGBColor(255, 210, 120));
        let label_style =
            TextStyle::from((FONT_FAMILY, 12).into_font()).color(&RGBColor(230, 230, 230));
        let detail_style =
            TextStyle::from((FONT_FAMILY, 11).into_font()).color(&RGBColor(160, 200, 255));
        let characters = (cell_size / 7).max(4);
        for (row_index, row) in rows.iter().enumerate() {
            let top = (MARGIN + row_index * row_height) as i32;
            let title_width = (width - 2 * MARGIN) / 8;
            root.draw(&Text::new(
                fit(&row.title, title_width),
                (MARGIN as i32, top + 2),
                &title_style,
            ))
            .map_err(|error| failed(error.to_string()))?;
            for (column_index, cell) in row.cells.iter().enumerate() {
                let left = (MARGIN + column_index * (cell_size + MARGIN)) as i32;
                let label_top = top + TITLE_HEIGHT as i32;
                root.draw(&Text::new(
                    fit(&cell.label, characters),
                    (left, label_top),
                    &label_style,
                ))
                .map_err(|error| failed(error.to_string()))?;
                root.draw(&Text::new(
                    fit(&cell.detail, characters),
                    (left, label_top + 15),
                    &detail_style,
                ))
                .map_err(|error| failed(error.to_string()))?;
            }
        }
        root.present().map_err(|error| failed(error.to_string()))?;
    }

    let interleaved = Array3::from_shape_vec((height, width, 3), buffer)
        .map_err(|error| failed(error.to_string()))?;
    Ok(interleaved
        .permuted_axes([2, 0, 1])
        .as_standard_layout()
        .into_owned())
}

/// Shortens text to `characters`, marking the cut with `…`.
fn fit(text: &str, characters: usize) -> String {
    if text.chars().count() <= characters {
        return text.to_string();
    }
    let mut short: String = text.chars().take(characters.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render;
    use hounsfield_pixel::{FrameImage, GrayFrame, ModalityTransform};
    use ndarray::Array2;

    fn frame() -> FrameImage {
        FrameImage::Gray(GrayFrame {
            values: Array2::from_shape_fn((40, 60), |(r, c)| (r * 60 + c) as f32 - 1200.0),
            padding: None,
            transform: ModalityTransform::Identity,
            monochrome1: false,
            windows: Vec::new(),
        })
    }

    #[test]
    fn sheet_has_one_cell_per_channel_with_labels() {
        let recipe =
            Recipe::from_yaml("channels:\n  - modality\n  - window: brain\n  - padding_mask\n")
                .unwrap();
        let rendered = render(&frame(), &recipe).unwrap();
        let row = sheet_row("a.dcm frame 0".into(), &rendered, &recipe);
        assert_eq!(row.cells.len(), 3);
        assert_eq!(row.cells[1].label, "1: window brain");
        assert!(
            row.cells[1].detail.starts_with("40/80, "),
            "{}",
            row.cells[1].detail
        );
        assert!(
            row.cells[0].detail.starts_with("shown -1200.."),
            "{}",
            row.cells[0].detail
        );
        assert!(
            row.cells[1].detail.contains("% inside"),
            "{}",
            row.cells[1].detail
        );

        let sheet = draw_contact_sheet(&[row.clone(), row], 64).unwrap();
        let (channels, height, width) = sheet.dim();
        assert_eq!(channels, 3);
        assert_eq!(width, MARGIN + 3 * (64 + MARGIN));
        assert_eq!(
            height,
            MARGIN + 2 * (TITLE_HEIGHT + LABEL_HEIGHT + 64 + MARGIN)
        );
        // Text was drawn: some pixels of the label band differ from the
        // background.
        let band = sheet.slice(ndarray::s![
            0,
            MARGIN..MARGIN + TITLE_HEIGHT + LABEL_HEIGHT,
            ..
        ]);
        assert!(band.iter().any(|&value| value != BACKGROUND[0]));
    }

    #[test]
    fn empty_sheet_is_an_error() {
        assert!(draw_contact_sheet(&[], 64).is_err());
    }

    #[test]
    fn labels_are_shortened_to_fit() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
