//! Turning a decoded frame into tensor channels and display images.

use hounsfield_pixel::{FrameImage, GrayFrame, VoiFunction, Window};
use ndarray::{Array2, Array3, Axis, Zip};
use serde::Serialize;

use crate::channel::{Channel, ChannelSpec, WindowSpec};
use crate::error::RenderError;
use crate::histogram::histogram_scale;
use crate::recipe::Recipe;
use crate::spatial::{apply_spatial, SpatialRecord};
use crate::stats::{DatasetStats, Moments};
use crate::steps::{apply_step, for_each_valid, AppliedStep, Step};

/// Where a window applied to a sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WindowSource {
    /// Given in the recipe.
    Recipe,
    /// A named preset of the recipe.
    Preset,
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
    /// The file's Window Center & Width Explanation, when from the file,
    /// or the preset name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Display values were inverted after the window because the image is
    /// MONOCHROME1.
    pub inverted: bool,
}

/// What one tensor channel holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelRecord {
    /// The source: `modality`, `window`, `histogram`, `padding_mask`, or
    /// `red`, `green`, `blue` for colour frames.
    pub name: &'static str,
    /// The source's values: `modality` (physical units such as HU),
    /// `display` ([0, 1] after a window), `histogram` ([0, 1] through the
    /// dataset breakpoints), `mask` (1 on padding) or `rgb` ([0, 1] colour
    /// samples). Steps may change them; see `steps`.
    pub value_space: &'static str,
    /// The channel's name from the recipe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The window, for display channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<AppliedWindow>,
    /// For window channels: the percentage of non-padding pixels strictly
    /// inside the window, i.e. mapped strictly between 0 and 1 (for
    /// `SIGMOID`, within center ± width/2). Few pixels inside (under 2 % for
    /// a brain window, say) flag images that show little of the tissue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_window_percent: Option<f64>,
    /// The intensity steps applied, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<AppliedStep>,
    /// The range the values are bounded to, when the source and steps fix
    /// one (e.g. [0, 1] for a window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<[f64; 2]>,
}

/// A frame rendered by a recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The tensor, channel-first `(C, H, W)`.
    pub tensor: Array3<f32>,
    /// One record per channel.
    pub channels: Vec<ChannelRecord>,
    /// The spatial steps applied, in order.
    pub spatial: Vec<SpatialRecord>,
    /// The padding mask after the spatial steps, `(H, W)`, when the frame
    /// has padding pixels.
    pub padding: Option<Array2<bool>>,
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

/// Whether a channel that cannot be rendered as asked fails the frame or
/// falls back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Return an error.
    Strict,
    /// Use the min-max window for a missing file window and NaN for missing
    /// statistics, for the infallible [`render_channels`].
    Lenient,
}

/// What a channel is rendered with besides the frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    mode: Mode,
    /// Histogram breakpoints, from the recipe's statistics or from a
    /// statistics run.
    breakpoints: Option<&'a [f64]>,
    /// Dataset moments for `standardize`.
    stats: Option<&'a DatasetStats>,
    /// Stop before `standardize`, as `hounsfield stats` needs.
    stop_before_standardize: bool,
}

fn valid_min_max(frame: &GrayFrame) -> Option<(f32, f32)> {
    let valid = |value: f32, padded: bool| if padded { f32::NAN } else { value };
    let mut range = LaneRange::new();
    match (&frame.padding, frame.values.as_slice()) {
        (None, Some(values)) => range.visit_slice(values),
        (None, None) => frame.values.iter().for_each(|&value| range.visit(0, value)),
        (Some(mask), values) => match (values, mask.as_slice()) {
            (Some(values), Some(flags)) if flags.len() == values.len() => {
                let mut chunks = values.chunks_exact(LANES).zip(flags.chunks_exact(LANES));
                for (chunk, chunk_flags) in chunks.by_ref() {
                    range.visit_masked(chunk, chunk_flags);
                }
                let rest = values.len() - values.len() % LANES;
                for (&value, &padded) in values[rest..].iter().zip(&flags[rest..]) {
                    range.visit(0, valid(value, padded));
                }
            }
            _ => Zip::from(&frame.values)
                .and(mask)
                .for_each(|&value, &padded| range.visit(0, valid(value, padded))),
        },
    }
    range.finish()
}

/// Independent minimum and maximum accumulators, one per lane, so that a
/// loop over a slice vectorises: one pair of accumulators would make a
/// float reduction, which the compiler may not reorder.
const LANES: usize = 8;

/// The range of the values seen so far, ignoring NaN.
struct LaneRange {
    low: [f32; LANES],
    high: [f32; LANES],
}

impl LaneRange {
    fn new() -> Self {
        LaneRange {
            low: [f32::INFINITY; LANES],
            high: [f32::NEG_INFINITY; LANES],
        }
    }

    /// Adds one value to lane `lane`. Comparisons with NaN are false, so
    /// NaN values never enter the range.
    #[inline]
    fn visit(&mut self, lane: usize, value: f32) {
        self.visit_bounds(lane, value, value);
    }

    /// Lowers the lane's minimum to `for_low` and raises its maximum to
    /// `for_high` where they pass them, as selects that vectorise.
    #[inline]
    fn visit_bounds(&mut self, lane: usize, for_low: f32, for_high: f32) {
        self.low[lane] = if for_low < self.low[lane] {
            for_low
        } else {
            self.low[lane]
        };
        self.high[lane] = if for_high > self.high[lane] {
            for_high
        } else {
            self.high[lane]
        };
    }

    /// Adds the values of one chunk of `LANES` whose flag is not set. The
    /// flags choose infinities rather than branches, so the chunk is
    /// handled in vector registers.
    #[inline]
    fn visit_masked(&mut self, chunk: &[f32], flags: &[bool]) {
        for lane in 0..LANES {
            let (value, skipped) = (chunk[lane], flags[lane]);
            let for_low = if skipped { f32::INFINITY } else { value };
            let for_high = if skipped { f32::NEG_INFINITY } else { value };
            self.visit_bounds(lane, for_low, for_high);
        }
    }

    fn visit_slice(&mut self, values: &[f32]) {
        let mut chunks = values.chunks_exact(LANES);
        for chunk in chunks.by_ref() {
            for (lane, &value) in chunk.iter().enumerate() {
                self.visit(lane, value);
            }
        }
        for &value in chunks.remainder() {
            self.visit(0, value);
        }
    }

    /// Returns the minimum and maximum, or `None` when no value was seen.
    fn finish(&self) -> Option<(f32, f32)> {
        let low = self.low.iter().copied().fold(f32::INFINITY, f32::min);
        let high = self.high.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (low <= high).then_some((low, high))
    }
}

fn applied(
    frame: &GrayFrame,
    window: Window,
    source: WindowSource,
    explanation: Option<String>,
) -> AppliedWindow {
    AppliedWindow {
        center: window.center,
        width: window.width,
        function: window.function,
        source,
        explanation,
        inverted: frame.monochrome1,
    }
}

/// The min-max window of the valid pixels: LINEAR_EXACT over [min, max]
/// maps min to 0 and max to 1.
fn min_max_window(frame: &GrayFrame) -> AppliedWindow {
    let (low, high) = valid_min_max(frame).unwrap_or((0.0, 0.0));
    let (low, high) = (f64::from(low), f64::from(high));
    let window = Window {
        center: (low + high) / 2.0,
        width: high - low,
        function: VoiFunction::LinearExact,
    };
    applied(frame, window, WindowSource::MinMax, None)
}

/// Describes the file's windows for an error message.
fn describe_file_windows(frame: &GrayFrame) -> String {
    if frame.windows.is_empty() {
        return "no windows".into();
    }
    let names: Vec<String> = frame
        .windows
        .iter()
        .map(|window| match &window.explanation {
            Some(text) => format!("`{text}`"),
            None => format!("{}/{}", window.window.center, window.window.width),
        })
        .collect();
    format!("{} window(s): {}", names.len(), names.join(", "))
}

/// Chooses the window for `spec`: the recipe's, a preset, one of the
/// file's, or the min-max of the valid pixels.
fn choose_window(
    frame: &GrayFrame,
    spec: &WindowSpec,
    channel: usize,
    mode: Mode,
) -> Result<AppliedWindow, RenderError> {
    let from_file = |index: Option<usize>, requested: String| match index
        .and_then(|index| frame.windows.get(index))
    {
        Some(file_window) => Ok(applied(
            frame,
            file_window.window,
            WindowSource::File,
            file_window.explanation.clone(),
        )),
        None if mode == Mode::Lenient => Ok(min_max_window(frame)),
        None => Err(RenderError::NoFileWindow {
            channel,
            requested,
            available: describe_file_windows(frame),
        }),
    };
    match spec {
        WindowSpec::Fixed(window) => Ok(applied(frame, *window, WindowSource::Recipe, None)),
        WindowSpec::Preset { preset, function } => Ok(applied(
            frame,
            preset.window(*function),
            WindowSource::Preset,
            Some(preset.name().to_string()),
        )),
        WindowSpec::File => match frame.windows.first() {
            Some(_) => from_file(Some(0), "0".into()),
            None => Ok(min_max_window(frame)),
        },
        WindowSpec::FileIndex(index) => from_file(Some(*index), format!("index {index}")),
        WindowSpec::FileExplanation(text) => {
            let expected = text.trim();
            let index = frame.windows.iter().position(|window| {
                window
                    .explanation
                    .as_deref()
                    .is_some_and(|explanation| explanation.trim().eq_ignore_ascii_case(expected))
            });
            from_file(index, format!("with explanation `{expected}`"))
        }
    }
}

/// Applies a window to a grayscale frame: modality values to display values
/// in [0, 1], then MONOCHROME1 inversion (PS3.3 C.7.6.3.1.2, after the VOI
/// step), then padding pixels set to 0, the output minimum. Also returns
/// the percentage of valid pixels strictly inside the window.
fn window_plane(frame: &GrayFrame, window: &AppliedWindow) -> (Array2<f32>, Option<f64>) {
    let spec = Window {
        center: window.center,
        width: window.width,
        function: window.function,
    };
    let mut plane = frame.values.clone();
    match spec.prepare() {
        Ok(prepared) => match plane.as_slice_mut() {
            Some(values) => prepared.apply_in_place(values),
            None => plane.mapv_inplace(|x| prepared.apply(f64::from(x)) as f32),
        },
        // A min-max window of a constant image has width 0: show it black.
        Err(_) => plane.fill(0.0),
    }

    // The in-window count, the inversion and the padding fill in one pass.
    let sigmoid = window.function == VoiFunction::Sigmoid;
    let half_width = window.width / 2.0;
    let (mut inside, mut valid) = (0u64, 0u64);
    let mut finish = |display: &mut f32, value: f32, padded: bool| {
        let y = *display;
        let strictly_inside = if sigmoid {
            (f64::from(value) - window.center).abs() < half_width
        } else {
            y > 0.0 && y < 1.0
        };
        valid += u64::from(!padded);
        inside += u64::from(!padded & strictly_inside);
        let shown = if window.inverted { 1.0 - y } else { y };
        *display = if padded { 0.0 } else { shown };
    };
    match &frame.padding {
        Some(mask) => Zip::from(&mut plane)
            .and(&frame.values)
            .and(mask)
            .for_each(|display, &value, &padded| finish(display, value, padded)),
        None => Zip::from(&mut plane)
            .and(&frame.values)
            .for_each(|display, &value| finish(display, value, false)),
    }
    let percent = (valid > 0).then(|| 100.0 * inside as f64 / valid as f64);
    (plane, percent)
}

fn set_padding(plane: &mut Array2<f32>, padding: Option<&Array2<bool>>, fill: f32) {
    let Some(mask) = padding else {
        return;
    };
    // A select rather than a branch, so that the slice loop vectorises.
    let fill_padded = |value: &mut f32, padded: bool| *value = if padded { fill } else { *value };
    match (plane.as_slice_mut(), mask.as_slice()) {
        (Some(values), Some(flags)) if flags.len() == values.len() => values
            .iter_mut()
            .zip(flags)
            .for_each(|(value, &padded)| fill_padded(value, padded)),
        _ => Zip::from(plane)
            .and(mask)
            .for_each(|value, &padded| fill_padded(value, padded)),
    }
}

/// Modality values with padding pixels set to the minimum of the others.
fn modality_plane(frame: &GrayFrame) -> Array2<f32> {
    let (Some(mask), Some((low, _))) = (&frame.padding, valid_min_max(frame)) else {
        return frame.values.clone();
    };
    // Copied and filled in one pass, as a select so that it vectorises.
    let fill = |value: f32, padded: bool| if padded { low } else { value };
    if let (Some(values), Some(flags)) = (frame.values.as_slice(), mask.as_slice()) {
        if values.len() == flags.len() {
            let filled: Vec<f32> = values
                .iter()
                .zip(flags)
                .map(|(&v, &p)| fill(v, p))
                .collect();
            if let Ok(plane) = Array2::from_shape_vec(frame.values.raw_dim(), filled) {
                return plane;
            }
        }
    }
    Zip::from(&frame.values)
        .and(mask)
        .map_collect(|&value, &padded| fill(value, padded))
}

fn record(name: &'static str, value_space: &'static str, label: Option<String>) -> ChannelRecord {
    ChannelRecord {
        name,
        value_space,
        label,
        window: None,
        in_window_percent: None,
        steps: Vec::new(),
        range: None,
    }
}

fn rgb_records() -> Vec<ChannelRecord> {
    ["red", "green", "blue"]
        .into_iter()
        .map(|name| {
            let mut channel = record(name, "rgb", None);
            channel.range = Some([0.0, 1.0]);
            channel
        })
        .collect()
}

/// Renders the source of a channel: the plane, its record and the range
/// its values are bounded to.
fn render_source(
    frame: &GrayFrame,
    channel: &Channel,
    index: usize,
    context: &Context,
) -> Result<(Array2<f32>, ChannelRecord), RenderError> {
    let label = channel.name.clone();
    match &channel.source {
        ChannelSpec::Modality => Ok((modality_plane(frame), record("modality", "modality", label))),
        ChannelSpec::Window(spec) => {
            let window = choose_window(frame, spec, index, context.mode)?;
            let (plane, percent) = window_plane(frame, &window);
            let mut channel_record = record("window", "display", label);
            channel_record.window = Some(window);
            channel_record.in_window_percent = percent;
            channel_record.range = Some([0.0, 1.0]);
            Ok((plane, channel_record))
        }
        ChannelSpec::Histogram => {
            let mut channel_record = record("histogram", "histogram", label);
            channel_record.range = Some([0.0, 1.0]);
            let plane = match context.breakpoints {
                Some(breakpoints) => {
                    let mut plane = frame
                        .values
                        .mapv(|x| histogram_scale(f64::from(x), breakpoints) as f32);
                    set_padding(&mut plane, frame.padding.as_ref(), 0.0);
                    plane
                }
                None if context.mode == Mode::Lenient => {
                    Array2::from_elem(frame.values.raw_dim(), f32::NAN)
                }
                None => return Err(RenderError::MissingStats { channel: index }),
            };
            Ok((plane, channel_record))
        }
        ChannelSpec::PaddingMask => {
            let plane = match &frame.padding {
                Some(mask) => mask.mapv(|padded| f32::from(u8::from(padded))),
                None => Array2::zeros(frame.values.raw_dim()),
            };
            let mut channel_record = record("padding_mask", "mask", label);
            channel_record.range = Some([0.0, 1.0]);
            Ok((plane, channel_record))
        }
    }
}

/// Renders one channel of a grayscale frame: the source, then the steps,
/// then the channel's padding fill.
pub(crate) fn render_channel(
    frame: &GrayFrame,
    channel: &Channel,
    index: usize,
    context: &Context,
) -> Result<(Array2<f32>, ChannelRecord), RenderError> {
    let (mut plane, mut channel_record) = render_source(frame, channel, index, context)?;
    let padding = frame.padding.as_ref();
    let mut range = channel_record.range;
    for step in &channel.steps {
        let mut dataset = None;
        if *step == Step::Standardize {
            if context.stop_before_standardize {
                break;
            }
            let moments = context
                .stats
                .and_then(|stats| stats.channel(&channel.signature()));
            match moments {
                Some(moments) => dataset = Some((moments.mean, moments.std)),
                None if context.mode == Mode::Lenient => {
                    plane.fill(f32::NAN);
                    range = None;
                    break;
                }
                None => return Err(RenderError::MissingStats { channel: index }),
            }
        }
        channel_record
            .steps
            .push(apply_step(step, &mut plane, padding, dataset));
        range = step.output_range(range);
    }
    if let Some(fill) = channel.fill {
        set_padding(&mut plane, padding, fill as f32);
    }
    channel_record.range = range;
    Ok((plane, channel_record))
}

fn render_with(
    frame: &FrameImage,
    recipe: &Recipe,
    mode: Mode,
    with_spatial: bool,
) -> Result<Rendered, RenderError> {
    // Without spatial steps the frame is rendered as it is, not copied.
    let transformed;
    let (frame, spatial) = if !with_spatial || recipe.spatial.is_empty() {
        (frame, Vec::new())
    } else {
        let (result, spatial) = match apply_spatial(frame, &recipe.spatial) {
            Ok(result) => result,
            Err(error) if mode == Mode::Lenient => {
                tracing::warn!("spatial steps skipped: {error}");
                (frame.clone(), Vec::new())
            }
            Err(error) => return Err(error),
        };
        transformed = result;
        (&transformed, spatial)
    };
    let gray = match frame {
        FrameImage::Color(rgb) => {
            return Ok(Rendered {
                tensor: rgb.clone(),
                channels: rgb_records(),
                spatial,
                padding: None,
            })
        }
        FrameImage::Gray(gray) => gray,
    };

    let stats = recipe.dataset_stats();
    let context = Context {
        mode,
        breakpoints: stats.map(|stats| stats.histogram.breakpoints.as_slice()),
        stats,
        stop_before_standardize: false,
    };
    let mut planes = Vec::with_capacity(recipe.channels.len());
    let mut channels = Vec::with_capacity(recipe.channels.len());
    for (index, channel) in recipe.channels.iter().enumerate() {
        let (plane, channel_record) = render_channel(gray, channel, index, &context)?;
        planes.push(plane);
        channels.push(channel_record);
    }
    Ok(Rendered {
        tensor: stack_planes(planes, gray.values.dim()),
        channels,
        spatial,
        padding: gray.padding.clone(),
    })
}

/// Stacks channel planes of shape `(rows, columns)` into a `(C, H, W)`
/// tensor. A single row-major plane becomes the tensor without a copy.
fn stack_planes(mut planes: Vec<Array2<f32>>, (rows, columns): (usize, usize)) -> Array3<f32> {
    if planes.len() == 1 && planes[0].is_standard_layout() {
        if let Some(plane) = planes.pop() {
            return plane.insert_axis(Axis(0));
        }
    }
    let mut tensor = Array3::<f32>::zeros((planes.len(), rows, columns));
    for (index, plane) in planes.iter().enumerate() {
        tensor.index_axis_mut(Axis(0), index).assign(plane);
    }
    tensor
}

/// Renders the recipe's spatial steps and channels for one frame. Colour
/// frames give their three RGB channels whatever the recipe lists, because
/// windows and modality values are defined for grayscale only; the spatial
/// steps apply to them too.
///
/// # Errors
/// [`RenderError::NoFileWindow`] when a channel selects a file window the
/// frame lacks, [`RenderError::MissingStats`] when the recipe's statistics
/// are not loaded, and [`RenderError::Spatial`] when a resize fails.
pub fn render(frame: &FrameImage, recipe: &Recipe) -> Result<Rendered, RenderError> {
    render_with(frame, recipe, Mode::Strict, true)
}

/// Renders the recipe's channels for one frame as [`render`] does, but
/// without its spatial steps: for volume export, where cropping or
/// resizing each slice on its own would give slices of different shapes.
/// Resize or crop the stacked `(C, D, H, W)` volume with [`resize_volume`]
/// and [`crop_volume`] instead.
///
/// [`resize_volume`]: crate::resize_volume
/// [`crop_volume`]: crate::crop_volume
///
/// # Errors
/// As [`render`], except for the spatial steps.
pub fn render_without_spatial(
    frame: &FrameImage,
    recipe: &Recipe,
) -> Result<Rendered, RenderError> {
    render_with(frame, recipe, Mode::Strict, false)
}

/// Renders the recipe's channels for one frame, as [`render`] does, but
/// never fails. A file window the frame lacks falls back to the min-max
/// window (recorded as `min_max`). Channels whose statistics are not loaded
/// are NaN, and a failed spatial step is skipped with a warning.
pub fn render_channels(frame: &FrameImage, recipe: &Recipe) -> Rendered {
    match render_with(frame, recipe, Mode::Lenient, true) {
        Ok(rendered) => rendered,
        Err(error) => {
            // Lenient rendering has no error path left; keep the frame's
            // shape and mark every value as missing rather than panic.
            tracing::warn!("rendering failed: {error}");
            let (rows, columns) = match frame {
                FrameImage::Gray(gray) => gray.values.dim(),
                FrameImage::Color(rgb) => (rgb.dim().1, rgb.dim().2),
            };
            Rendered {
                tensor: Array3::from_elem((recipe.channels.len(), rows, columns), f32::NAN),
                channels: Vec::new(),
                spatial: Vec::new(),
                padding: None,
            }
        }
    }
}

/// Renders a display image for previews, without the recipe's spatial
/// steps.
pub fn render_display(frame: &FrameImage, spec: &WindowSpec) -> Display {
    match frame {
        FrameImage::Color(rgb) => Display {
            image: rgb.clone(),
            window: None,
        },
        FrameImage::Gray(gray) => {
            let window = choose_window(gray, spec, 0, Mode::Lenient)
                .unwrap_or_else(|_| min_max_window(gray));
            let (plane, _) = window_plane(gray, &window);
            Display {
                image: plane.insert_axis(Axis(0)),
                window: Some(window),
            }
        }
    }
}

/// Renders the display image of [`render_display`] and converts each display
/// value with `quantize`, such as `hounsfield_export::unit_to_u8`, in the
/// same pass. The result is `(1, H, W)` or `(3, H, W)`, with the window used
/// for grayscale frames. Each sample equals `quantize` of the value that
/// [`render_display`] gives, but no `f32` image is kept and the in-window
/// share is not counted, which makes previews cheaper.
pub fn render_display_quantized<T: Copy>(
    frame: &FrameImage,
    spec: &WindowSpec,
    quantize: impl Fn(f32) -> T,
) -> (Array3<T>, Option<AppliedWindow>) {
    let gray = match frame {
        FrameImage::Color(rgb) => return (rgb.mapv(quantize), None),
        FrameImage::Gray(gray) => gray,
    };
    let window =
        choose_window(gray, spec, 0, Mode::Lenient).unwrap_or_else(|_| min_max_window(gray));
    let voi = Window {
        center: window.center,
        width: window.width,
        function: window.function,
    };
    let prepared = voi.prepare().ok();
    let inverted = window.inverted;
    let padded_sample = quantize(0.0);
    let flags = gray.padding.as_ref().map(|mask| mask.as_standard_layout());
    let flags = flags.as_ref().and_then(|flags| flags.as_slice());
    let (rows, columns) = gray.values.dim();

    // The steps of `window_plane`, in its order and precision, for one
    // modality value.
    let sample = |value: f32| {
        let y = match &prepared {
            Some(prepared) => prepared.apply(f64::from(value)) as f32,
            // A min-max window of a constant image has width 0: show it black.
            None => 0.0,
        };
        quantize(if inverted { 1.0 - y } else { y })
    };
    if let Some(values) = gray.values.as_slice() {
        if let Some(samples) = quantize_by_table(values, flags, sample, padded_sample) {
            // OK because `quantize_by_table` gives one sample per value.
            let plane =
                Array3::from_shape_vec((1, rows, columns), samples).expect("one sample per pixel");
            return (plane, Some(window));
        }
    }

    // Other frames take two passes over plain slices: the window into a
    // copy of the modality values, then inversion, padding and `quantize`.
    // One pass with all steps took about 33 instructions per pixel.
    let mut display: Vec<f32> = match gray.values.as_slice() {
        Some(values) => values.to_vec(),
        None => gray.values.iter().copied().collect(),
    };
    match &prepared {
        Some(prepared) => prepared.apply_in_place(&mut display),
        None => display.fill(0.0),
    }
    let shown = |y: f32| quantize(if inverted { 1.0 - y } else { y });
    let mut samples = vec![padded_sample; display.len()];
    match flags {
        Some(flags) => {
            for (out, (&y, &padded)) in samples.iter_mut().zip(display.iter().zip(flags)) {
                *out = if padded { padded_sample } else { shown(y) };
            }
        }
        None => {
            for (out, &y) in samples.iter_mut().zip(&display) {
                *out = shown(y);
            }
        }
    }
    // OK because every branch above gives one sample per pixel of the frame.
    let plane = Array3::from_shape_vec((1, rows, columns), samples).expect("one sample per pixel");
    (plane, Some(window))
}

/// Widest range of integer modality values that [`quantize_by_table`]
/// tabulates: every 16-bit stored value under a rescale slope of 1.
const MAX_TABLE_SPAN: i64 = 1 << 16;

/// 1.5 x 2^23, which rounds an `f32` below [`MAX_TABLE_MAGNITUDE`] in
/// magnitude to an integer in the low bits of the sum.
const ROUNDING_SHIFT: f32 = 12_582_912.0;

/// 2^22: modality values at or above it in magnitude take the computed path.
const MAX_TABLE_MAGNITUDE: f32 = 4_194_304.0;

/// Maps modality values to preview samples through a table of `sample`
/// over the integers from their minimum to their maximum, with
/// `padded_sample` where `flags` is set. Modality values are integers for
/// most CT and many other images (integer stored values, Rescale Slope 1
/// and an integer Rescale Intercept), and then each pixel costs a lookup
/// in place of the window arithmetic, with the same result, because the
/// table contains `sample` of the same `f32` values.
///
/// Returns `None`, to compute each sample instead, when a value is not an
/// integer (or is NaN), when the range is wider than [`MAX_TABLE_SPAN`], or
/// when it is wider than the number of values, so that building the table
/// would cost more than it saves.
fn quantize_by_table<T: Copy>(
    values: &[f32],
    flags: Option<&[bool]>,
    sample: impl Fn(f32) -> T,
    padded_sample: T,
) -> Option<Vec<T>> {
    // Adding 1.5 x 2^23 to an `f32` of magnitude below 2^22 rounds it to
    // an integer held in the low mantissa bits (the sum lies in
    // (2^23, 2^24), where the spacing is 1). So a value is an integer when
    // subtracting the constant gives it back, and the integer is the
    // difference of the bit patterns. Unlike `as i32`, which saturates,
    // these steps vectorise; NaN and large values fail the magnitude test.
    let (mut low, mut high) = (i32::MAX, i32::MIN);
    let mut rejected = 0u32;
    for &value in values {
        let shifted = value + ROUNDING_SHIFT;
        let integer = (shifted.to_bits() as i32).wrapping_sub(ROUNDING_SHIFT.to_bits() as i32);
        let exact = (value.abs() < MAX_TABLE_MAGNITUDE) & (shifted - ROUNDING_SHIFT == value);
        rejected |= u32::from(!exact);
        low = low.min(integer);
        high = high.max(integer);
    }
    let integral = rejected == 0 && !values.is_empty();
    let span = i64::from(high) - i64::from(low) + 1;
    if !integral || span > MAX_TABLE_SPAN || span > values.len() as i64 {
        return None;
    }
    // One entry per integer in [low, high], then the padded sample, so that
    // a padded pixel is a lookup too rather than a branch.
    let padded_index = span as usize;
    let table: Vec<T> = (0..span)
        .map(|offset| sample((i64::from(low) + offset) as f32))
        .chain(std::iter::once(padded_sample))
        .collect();
    // Below `padded_index` because every value is an integer in [low, high].
    let base = (ROUNDING_SHIFT.to_bits() as i32).wrapping_add(low);
    let index =
        |value: f32| ((value + ROUNDING_SHIFT).to_bits() as i32).wrapping_sub(base) as u32 as usize;
    let lookup = |position: usize| table.get(position).copied().unwrap_or(padded_sample);
    let samples: Vec<T> = match flags {
        Some(flags) if flags.len() == values.len() => values
            .iter()
            .zip(flags)
            .map(|(&value, &padded)| lookup(if padded { padded_index } else { index(value) }))
            .collect(),
        Some(_) => return None,
        None => values.iter().map(|&value| lookup(index(value))).collect(),
    };
    Some(samples)
}

/// Modality values of the frame's non-padding pixels, for pooling into
/// histogram breakpoints. With `max_values`, at most that many are kept,
/// evenly spaced in row-major order.
pub fn valid_values(frame: &GrayFrame, max_values: Option<usize>) -> Vec<f32> {
    let mut values = Vec::new();
    for_each_valid(&frame.values, frame.padding.as_ref(), |value| {
        values.push(value as f32)
    });
    match max_values {
        Some(limit) if values.len() > limit => {
            let count = values.len();
            (0..limit).map(|i| values[i * count / limit]).collect()
        }
        _ => values,
    }
}

/// Moments of each recipe channel's non-padding values before its
/// `standardize` step, for one frame after the recipe's spatial steps.
/// Channels with a `histogram` source are `None` when `breakpoints` is
/// `None`.
///
/// # Errors
/// [`RenderError::NoFileWindow`] when a channel selects a file window the
/// frame lacks.
pub fn channel_moments(
    frame: &GrayFrame,
    recipe: &Recipe,
    breakpoints: Option<&[f64]>,
) -> Result<Vec<Option<Moments>>, RenderError> {
    let context = Context {
        mode: Mode::Strict,
        breakpoints,
        stats: None,
        stop_before_standardize: true,
    };
    recipe
        .channels
        .iter()
        .enumerate()
        .map(|(index, channel)| {
            if channel.source == ChannelSpec::Histogram && breakpoints.is_none() {
                return Ok(None);
            }
            let (plane, _) = render_channel(frame, channel, index, &context)?;
            let mut values = Vec::new();
            for_each_valid(&plane, frame.padding.as_ref(), |value| values.push(value));
            Ok(Some(Moments::of(values.iter().copied())))
        })
        .collect()
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

    #[test]
    fn quantized_display_equals_display_values() {
        // `f32::to_bits` as the quantiser compares the display values bit
        // for bit: windows from the file, the recipe and min-max,
        // MONOCHROME1, padding, a constant image and SIGMOID.
        let values = array![[-3024.0, -1000.0, 0.0], [39.5, 40.0, 3071.0]];
        let window = |center, width, function| FileWindow {
            window: Window {
                center,
                width,
                function,
            },
            explanation: None,
        };
        let mut padded = gray(
            values.clone(),
            true,
            vec![window(40.0, 80.0, VoiFunction::Linear)],
        );
        padded.padding = Some(array![[true, false, false], [false, false, false]]);
        // Integers over a range narrower than the pixel count take the
        // table path of `quantize_by_table`.
        let ramp =
            Array2::from_shape_fn((4, 16), |(row, column)| (row * 16 + column) as f32 - 30.0);
        let mut ramp_padded = gray(
            ramp.clone(),
            true,
            vec![window(0.0, 20.0, VoiFunction::Linear)],
        );
        ramp_padded.padding = Some(ramp.mapv(|value| value < -25.0));
        let frames = [
            gray(
                ramp.clone(),
                false,
                vec![window(3.0, 11.0, VoiFunction::LinearExact)],
            ),
            ramp_padded,
            gray(
                values.clone(),
                false,
                vec![window(40.0, 80.0, VoiFunction::Linear)],
            ),
            gray(
                values.clone(),
                true,
                vec![window(40.0, 1.0, VoiFunction::LinearExact)],
            ),
            gray(
                values.clone(),
                false,
                vec![window(0.0, 500.0, VoiFunction::Sigmoid)],
            ),
            gray(values.clone(), true, vec![]),
            gray(Array2::from_elem((2, 2), 7.0), true, vec![]),
            padded,
        ];
        let specs = [
            WindowSpec::File,
            WindowSpec::Fixed(Window::linear(300.0, 1500.0)),
        ];
        for (index, frame) in frames.into_iter().enumerate() {
            let frame = FrameImage::Gray(frame);
            for spec in &specs {
                let display = render_display(&frame, spec);
                let (bits, applied) = render_display_quantized(&frame, spec, f32::to_bits);
                assert_eq!(
                    bits,
                    display.image.mapv(f32::to_bits),
                    "frame {index}, {spec:?}"
                );
                assert_eq!(applied, display.window, "frame {index}, {spec:?}");
            }
        }
        let rgb = FrameImage::Color(Array3::from_elem((3, 1, 2), 0.25));
        let (bits, applied) = render_display_quantized(&rgb, &WindowSpec::File, f32::to_bits);
        assert_eq!(bits, Array3::from_elem((3, 1, 2), 0.25f32.to_bits()));
        assert!(applied.is_none());
    }

    #[test]
    fn valid_range_skips_nan_and_padding() {
        let values = array![
            [-1024.5, f32::NAN, -0.0, 3071.0],
            [f32::NEG_INFINITY, 7.0, 1e-30, -2.0]
        ];
        let mut frame = gray(values.clone(), false, Vec::new());
        assert_eq!(valid_min_max(&frame), Some((f32::NEG_INFINITY, 3071.0)));
        frame.padding = Some(array![
            [false, false, false, true],
            [true, false, false, false]
        ]);
        assert_eq!(valid_min_max(&frame), Some((-1024.5, 7.0)));
        // Padded negative values must not lower a positive minimum.
        frame.padding = Some(array![[true, true, true, false], [true, false, true, true]]);
        assert_eq!(valid_min_max(&frame), Some((7.0, 3071.0)));
        frame.padding = Some(array![[true, true, true, true], [true, true, true, true]]);
        assert_eq!(valid_min_max(&frame), None);
        let nan_only = gray(array![[f32::NAN]], false, Vec::new());
        assert_eq!(valid_min_max(&nan_only), None);
    }

    #[test]
    fn quantize_table_only_for_narrow_integer_ranges() {
        let ramp: Vec<f32> = (0..64).map(|value| value as f32 - 30.0).collect();
        let table = quantize_by_table(&ramp, None, |value| value as i64, 0).unwrap();
        assert_eq!(table, (-30..34).collect::<Vec<i64>>());
        let fractional = [0.5f32; 4];
        assert!(quantize_by_table(&fractional, None, |value| value as i64, 0).is_none());
        let with_nan = [0.0, f32::NAN, 1.0, 2.0];
        assert!(quantize_by_table(&with_nan, None, |value| value as i64, 0).is_none());
        let wide = [0.0, 1000.0, 2.0];
        assert!(quantize_by_table(&wide, None, |value| value as i64, 0).is_none());
        // Negative integers and the magnitude limit of the rounding shift.
        let negative: Vec<f32> = (0..8).map(|value| -4_194_303.0 + value as f32).collect();
        let table = quantize_by_table(&negative, None, |value| value as i64, 0).unwrap();
        assert_eq!(table, (-4_194_303..-4_194_295).collect::<Vec<i64>>());
        let at_limit = [4_194_304.0f32, 4_194_303.0, 4_194_302.0, 4_194_301.0];
        assert!(quantize_by_table(&at_limit, None, |value| value as i64, 0).is_none());
        let infinite = [0.0, f32::INFINITY, 1.0, 2.0];
        assert!(quantize_by_table(&infinite, None, |value| value as i64, 0).is_none());
        let half = [0.0, 1.0, 2.5, 3.0];
        assert!(quantize_by_table(&half, None, |value| value as i64, 0).is_none());
    }
}
