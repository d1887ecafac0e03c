//! Turning a decoded frame into tensor channels and display images.

use hounsfield_pixel::{FrameImage, GrayFrame, VoiFunction, Window};
use ndarray::{Array2, Array3, Axis, Zip};
use serde::Serialize;

use crate::recipe::{ChannelSpec, Recipe, WindowSpec};

/// Where a window applied to a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// Given in the recipe.
    Recipe,
    /// The file's Window Center/Width.
    File,
    /// The minimum and maximum of the frame's non-padding modality values,
    /// because the file has no window.
    MinMax,
}

/// A window as applied, for the sample's metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedWindow {
    /// Window Center in modality units.
    pub center: f64,
    /// Window Width in modality units.
    pub width: f64,
    /// The VOI LUT Function.
    pub function: VoiFunction,
    /// Where it came from.
    pub source: WindowSource,
    /// The file's Window Center & Width Explanation, when from the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Display values were inverted after the window because the image is
    /// MONOCHROME1.
    pub inverted: bool,
}

/// What one tensor channel holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelRecord {
    /// `modality`, `window`, `red`, `green` or `blue`.
    pub name: &'static str,
    /// `modality` (physical units such as HU), `display` ([0, 1] after a
    /// window) or `rgb` ([0, 1] colour samples).
    pub value_space: &'static str,
    /// The window, for display channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<AppliedWindow>,
}

/// A frame rendered by a recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The tensor, channel-first `(C, H, W)`.
    pub tensor: Array3<f32>,
    /// One record per channel.
    pub channels: Vec<ChannelRecord>,
}

/// A display image with values in [0, 1]: `(1, H, W)` grayscale or
/// `(3, H, W)` RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct Display {
    /// The values.
    pub image: Array3<f32>,
    /// The window used, for grayscale images.
    pub window: Option<AppliedWindow>,
}

fn valid_min_max(frame: &GrayFrame) -> Option<(f32, f32)> {
    let mut range: Option<(f32, f32)> = None;
    let mut visit = |value: f32| {
        if value.is_nan() {
            return;
        }
        range = Some(match range {
            None => (value, value),
            Some((low, high)) => (low.min(value), high.max(value)),
        });
    };
    match &frame.padding {
        Some(mask) => Zip::from(&frame.values)
            .and(mask)
            .for_each(|&value, &padded| {
                if !padded {
                    visit(value);
                }
            }),
        None => frame.values.iter().for_each(|&value| visit(value)),
    }
    range
}

/// Chooses the window for `spec`: the recipe's, the file's first, or the
/// min-max of the valid pixels.
fn choose_window(frame: &GrayFrame, spec: &WindowSpec) -> AppliedWindow {
    let applied = |window: Window, source, explanation| AppliedWindow {
        center: window.center,
        width: window.width,
        function: window.function,
        source,
        explanation,
        inverted: frame.monochrome1,
    };
    match spec {
        WindowSpec::Fixed(window) => applied(*window, WindowSource::Recipe, None),
        WindowSpec::File => match frame.windows.first() {
            Some(file_window) => applied(
                file_window.window,
                WindowSource::File,
                file_window.explanation.clone(),
            ),
            None => {
                let (low, high) = valid_min_max(frame).unwrap_or((0.0, 0.0));
                let (low, high) = (f64::from(low), f64::from(high));
                // LINEAR_EXACT over [min, max] maps min to 0 and max to 1.
                let window = Window {
                    center: (low + high) / 2.0,
                    width: high - low,
                    function: VoiFunction::LinearExact,
                };
                applied(window, WindowSource::MinMax, None)
            }
        },
    }
}

/// Applies a window to a grayscale frame: modality values to display values
/// in [0, 1], then MONOCHROME1 inversion (PS3.3 C.7.6.3.1.2, after the VOI
/// step), then padding pixels set to 0, the output minimum.
fn window_plane(frame: &GrayFrame, window: &AppliedWindow) -> Array2<f32> {
    let prepared = Window {
        center: window.center,
        width: window.width,
        function: window.function,
    }
    .prepare();
    let mut plane = match prepared {
        Ok(prepared) => frame.values.mapv(|x| prepared.apply(f64::from(x)) as f32),
        // A min-max window of a constant image has width 0: show it black.
        Err(_) => Array2::zeros(frame.values.raw_dim()),
    };
    if window.inverted {
        plane.mapv_inplace(|y| 1.0 - y);
    }
    if let Some(mask) = &frame.padding {
        Zip::from(&mut plane).and(mask).for_each(|value, &padded| {
            if padded {
                *value = 0.0;
            }
        });
    }
    plane
}

/// Modality values with padding pixels set to the minimum of the others.
fn modality_plane(frame: &GrayFrame) -> Array2<f32> {
    let mut plane = frame.values.clone();
    if let (Some(mask), Some((low, _))) = (&frame.padding, valid_min_max(frame)) {
        Zip::from(&mut plane).and(mask).for_each(|value, &padded| {
            if padded {
                *value = low;
            }
        });
    }
    plane
}

fn rgb_records() -> Vec<ChannelRecord> {
    ["red", "green", "blue"]
        .into_iter()
        .map(|name| ChannelRecord {
            name,
            value_space: "rgb",
            window: None,
        })
        .collect()
}

/// Renders the recipe's channels for one frame. Colour frames give their
/// three RGB channels whatever the recipe lists, because windows and
/// modality values are defined for grayscale only.
pub fn render_channels(frame: &FrameImage, recipe: &Recipe) -> Rendered {
    let gray = match frame {
        FrameImage::Color(rgb) => {
            return Rendered {
                tensor: rgb.clone(),
                channels: rgb_records(),
            }
        }
        FrameImage::Gray(gray) => gray,
    };
    let (rows, columns) = gray.values.dim();
    let mut tensor = Array3::<f32>::zeros((recipe.channels.len(), rows, columns));
    let mut channels = Vec::with_capacity(recipe.channels.len());
    for (index, spec) in recipe.channels.iter().enumerate() {
        let (plane, record) = match spec {
            ChannelSpec::Modality => (
                modality_plane(gray),
                ChannelRecord {
                    name: "modality",
                    value_space: "modality",
                    window: None,
                },
            ),
            ChannelSpec::Window(window_spec) => {
                let window = choose_window(gray, window_spec);
                (
                    window_plane(gray, &window),
                    ChannelRecord {
                        name: "window",
                        value_space: "display",
                        window: Some(window),
                    },
                )
            }
        };
        tensor.index_axis_mut(Axis(0), index).assign(&plane);
        channels.push(record);
    }
    Rendered { tensor, channels }
}

/// Renders a display image for previews.
pub fn render_display(frame: &FrameImage, spec: &WindowSpec) -> Display {
    match frame {
        FrameImage::Color(rgb) => Display {
            image: rgb.clone(),
            window: None,
        },
        FrameImage::Gray(gray) => {
            let window = choose_window(gray, spec);
            let plane = window_plane(gray, &window);
            Display {
                image: plane.insert_axis(Axis(0)),
                window: Some(window),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_pixel::{FileWindow, ModalityTransform};
    use ndarray::array;

    fn gray(values: Array2<f32>, monochrome1: bool, windows: Vec<FileWindow>) -> GrayFrame {
        GrayFrame {
            values,
            padding: None,
            transform: ModalityTransform::Identity,
            monochrome1,
            windows,
        }
    }

    fn to_8bit(plane: &Array3<f32>) -> Vec<f32> {
        plane.iter().map(|&y| (y * 255.0).round()).collect()
    }

    #[test]
    fn monochrome1_is_inverted_after_the_window() {
        // GOTCHAS G-08: SVs [0, 1024, 4095], identity rescale, WC 2048,
        // WW 4096, LINEAR: VOI gives [0, 63.77, 255]; inverted 8-bit output
        // is [255, 191, 0].
        let window = FileWindow {
            window: Window::linear(2048.0, 4096.0),
            explanation: None,
        };
        let frame = FrameImage::Gray(gray(
            array![[0.0, 1024.0, 4095.0]],
            true,
            vec![window.clone()],
        ));
        let display = render_display(&frame, &WindowSpec::File);
        assert_eq!(to_8bit(&display.image), [255.0, 191.0, 0.0]);
        assert!(display.window.unwrap().inverted);
        let frame = FrameImage::Gray(gray(array![[0.0, 1024.0, 4095.0]], false, vec![window]));
        assert_eq!(
            to_8bit(&render_display(&frame, &WindowSpec::File).image),
            [0.0, 64.0, 255.0]
        );
    }

    #[test]
    fn monochrome1_without_window_inverts_over_min_max() {
        // G-08 variant: no window, so min-max over 0..4095 and invert:
        // 1024 -> 255 - 1024/4095*255 = 191.23 -> 191.
        let frame = FrameImage::Gray(gray(array![[0.0, 1024.0, 4095.0]], true, vec![]));
        let display = render_display(&frame, &WindowSpec::File);
        assert_eq!(to_8bit(&display.image), [255.0, 191.0, 0.0]);
        assert_eq!(display.window.unwrap().source, WindowSource::MinMax);
    }

    #[test]
    fn modality_channel_is_never_inverted_and_padding_takes_the_minimum() {
        // G-18: padding excluded; the valid minimum is -1024.
        let mut frame = gray(array![[-3024.0, 0.0], [-1024.0, 40.0]], true, vec![]);
        frame.padding = Some(array![[true, false], [false, false]]);
        let recipe = Recipe::from_yaml("channels: [modality]\n").unwrap();
        let rendered = render_channels(&FrameImage::Gray(frame), &recipe);
        assert_eq!(rendered.tensor, array![[[-1024.0, 0.0], [-1024.0, 40.0]]]);
    }

    #[test]
    fn windows_become_channels_in_order() {
        // G-07: HU [-1000, 40, 80, 1000]; brain (40/80) gives
        // [0, 129, 255, 255] and bone (300/1500) [0, 83, 90, 247] at 8 bits.
        let frame = FrameImage::Gray(gray(array![[-1000.0, 40.0, 80.0, 1000.0]], false, vec![]));
        let recipe = Recipe::from_yaml(
            "channels:\n  - modality\n  - window: { center: 40, width: 80 }\n  - window: { center: 300, width: 1500 }\n",
        )
        .unwrap();
        let rendered = render_channels(&frame, &recipe);
        assert_eq!(rendered.tensor.dim(), (3, 1, 4));
        let brain = rendered
            .tensor
            .index_axis(Axis(0), 1)
            .to_owned()
            .insert_axis(Axis(0));
        let bone = rendered
            .tensor
            .index_axis(Axis(0), 2)
            .to_owned()
            .insert_axis(Axis(0));
        assert_eq!(to_8bit(&brain), [0.0, 129.0, 255.0, 255.0]);
        assert_eq!(to_8bit(&bone), [0.0, 83.0, 90.0, 247.0]);
        assert_eq!(rendered.channels[0].value_space, "modality");
        assert_eq!(
            rendered.channels[2].window.as_ref().unwrap().source,
            WindowSource::Recipe
        );
    }
}
