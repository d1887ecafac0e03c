//! Recipe channels: a source (modality values, a window, the histogram
//! scale or the padding mask) followed by intensity steps.

use hounsfield_pixel::{VoiFunction, Window};
use serde::de::{self, Deserializer};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::Value;

use crate::presets::WindowPreset;
use crate::steps::{single_entry, Step};
use crate::yaml::{describe, expect_no_value, keys, parse, split_tag};

/// The source of a tensor channel.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ChannelSpec {
    /// `modality`: modality values (HU for CT), unclipped. Padding pixels
    /// are set to the minimum of the other pixels.
    Modality,
    /// `window: ...`: display values in [0, 1] through a window.
    Window(WindowSpec),
    /// `histogram`: modality values mapped onto [0, 1] through the dataset's
    /// frequency-histogram breakpoints (read from the recipe's `stats`).
    /// Padding pixels are set to 0.
    Histogram,
    /// `padding_mask`: 1 on Pixel Padding pixels (including those added by
    /// `pad_to_square`), 0 elsewhere.
    PaddingMask,
}

const SOURCES: &str = "`modality`, `window`, `histogram`, `padding_mask`";

impl ChannelSpec {
    /// The source name, as written in recipes and sample metadata.
    pub fn name(&self) -> &'static str {
        match self {
            ChannelSpec::Modality => "modality",
            ChannelSpec::Window(_) => "window",
            ChannelSpec::Histogram => "histogram",
            ChannelSpec::PaddingMask => "padding_mask",
        }
    }

    /// Parses a source from its name and value (`Null` for none).
    fn from_tag(name: &str, value: Value) -> Result<Self, String> {
        match name {
            "window" => match value {
                Value::Null => Err("`window` needs a value, e.g. `window: file`".into()),
                value => Ok(ChannelSpec::Window(WindowSpec::from_value(value)?)),
            },
            "modality" | "histogram" | "padding_mask" => {
                expect_no_value(&value, name)?;
                Ok(match name {
                    "modality" => ChannelSpec::Modality,
                    "histogram" => ChannelSpec::Histogram,
                    _ => ChannelSpec::PaddingMask,
                })
            }
            other => Err(format!(
                "unknown channel source `{other}`, expected one of {SOURCES}"
            )),
        }
    }
}

impl Serialize for ChannelSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ChannelSpec::Window(window) => single_entry(serializer, "window", window),
            other => serializer.serialize_str(other.name()),
        }
    }
}

impl<'de> Deserialize<'de> for ChannelSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let (name, value) = split_tag(value, "channel").map_err(de::Error::custom)?;
        ChannelSpec::from_tag(&name, value).map_err(de::Error::custom)
    }
}

/// Which window to apply.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WindowSpec {
    /// `file`: the file's first Window Center/Width pair and VOI LUT
    /// Function; min-max of the non-padding modality values when the file
    /// has none.
    File,
    /// `{ center, width, function }`: a window given in the recipe, in
    /// modality units.
    Fixed(Window),
    /// `brain` or `{ preset: brain, function: linear_exact }`: a named CT
    /// preset (see [`WindowPreset`]), `LINEAR` unless a function is given.
    Preset {
        /// The preset.
        preset: WindowPreset,
        /// The VOI LUT Function to apply it with.
        function: VoiFunction,
    },
    /// `{ file: { index: N } }`: the file's window pair N (0-based) of the
    /// multi-valued Window Center/Width (PS3.3 C.11.2.1.2).
    FileIndex(usize),
    /// `{ file: { explanation: TEXT } }`: the file's window whose Window
    /// Center & Width Explanation (0028,1055) equals TEXT, ignoring case and
    /// surrounding spaces.
    FileExplanation(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixedFields {
    center: f64,
    width: f64,
    #[serde(default)]
    function: VoiFunction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFields {
    preset: String,
    #[serde(default)]
    function: VoiFunction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFields {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    explanation: Option<String>,
}

fn preset_named(name: &str) -> Result<WindowPreset, String> {
    WindowPreset::from_name(name).ok_or_else(|| {
        format!(
            "unknown window `{name}`: expected `file`, a preset ({}) or a map",
            WindowPreset::names()
        )
    })
}

impl WindowSpec {
    /// Parses the value of a `window:` key.
    fn from_value(value: Value) -> Result<Self, String> {
        let map = match value {
            Value::String(name) if name == "file" => return Ok(WindowSpec::File),
            Value::String(name) => {
                return Ok(WindowSpec::Preset {
                    preset: preset_named(&name)?,
                    function: VoiFunction::Linear,
                })
            }
            Value::Mapping(map) => map,
            other => {
                return Err(format!(
                    "a window is `file`, a preset name or a map, not {}",
                    describe(&other)
                ))
            }
        };

        let has = |key: &str| map.contains_key(key);
        if has("file") {
            let (_, value) = split_tag(Value::Mapping(map), "window")?;
            let fields: FileFields = parse(value, "window.file")?;
            return match (fields.index, fields.explanation) {
                (Some(index), None) => Ok(WindowSpec::FileIndex(index)),
                (None, Some(explanation)) => Ok(WindowSpec::FileExplanation(explanation)),
                _ => Err("window.file needs exactly one of `index` and `explanation`".into()),
            };
        }
        if has("preset") {
            let fields: PresetFields = parse(Value::Mapping(map), "window")?;
            return Ok(WindowSpec::Preset {
                preset: preset_named(&fields.preset)?,
                function: fields.function,
            });
        }
        if !has("center") && !has("width") {
            return Err(format!(
                "a window map has `center` and `width`, `preset` or `file`; found {}",
                keys(&map)
            ));
        }
        let fields: FixedFields = parse(Value::Mapping(map), "window")?;
        Ok(WindowSpec::Fixed(Window {
            center: fields.center,
            width: fields.width,
            function: fields.function,
        }))
    }

    /// A short label, e.g. `brain 40/80` or `file #1`.
    pub fn label(&self) -> String {
        match self {
            WindowSpec::File => "file".into(),
            WindowSpec::Fixed(window) => format!("{}/{}", window.center, window.width),
            WindowSpec::Preset { preset, .. } => {
                let (width, level) = preset.width_level();
                format!("{} {level}/{width}", preset.name())
            }
            WindowSpec::FileIndex(index) => format!("file #{index}"),
            WindowSpec::FileExplanation(text) => format!("file {text}"),
        }
    }

    /// A short name: the preset name, `file`, `file #N`, `file TEXT`, or
    /// `CENTER/WIDTH` for a fixed window.
    pub fn name(&self) -> String {
        match self {
            WindowSpec::Preset { preset, .. } => preset.name().to_string(),
            other => other.label(),
        }
    }

    /// The window in modality units when the recipe fixes it.
    pub fn fixed_window(&self) -> Option<Window> {
        match self {
            WindowSpec::Fixed(window) => Some(*window),
            WindowSpec::Preset { preset, function } => Some(preset.window(*function)),
            _ => None,
        }
    }
}

impl Serialize for WindowSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            WindowSpec::File => serializer.serialize_str("file"),
            WindowSpec::Fixed(window) => window.serialize(serializer),
            WindowSpec::Preset {
                preset,
                function: VoiFunction::Linear,
            } => serializer.serialize_str(preset.name()),
            WindowSpec::Preset { preset, function } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("preset", preset.name())?;
                map.serialize_entry("function", function)?;
                map.end()
            }
            WindowSpec::FileIndex(index) => {
                single_entry(serializer, "file", &serde_json::json!({ "index": index }))
            }
            WindowSpec::FileExplanation(text) => single_entry(
                serializer,
                "file",
                &serde_json::json!({ "explanation": text }),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for WindowSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        WindowSpec::from_value(value).map_err(de::Error::custom)
    }
}

/// One tensor channel: a source, then intensity steps in order.
///
/// Written as the bare source (`modality`, `histogram`, `padding_mask`,
/// `window: brain`) or as a map with the source key and optional `steps`,
/// `name` and `fill`:
///
/// ```yaml
/// - modality:
///   steps: [{ clip: { min: -1000, max: 1000 } }, standardize]
///   name: hu_standardized
///   fill: 0
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Where the values come from.
    pub source: ChannelSpec,
    /// Intensity steps applied in order after the source.
    pub steps: Vec<Step>,
    /// A name for the sample metadata and previews.
    pub name: Option<String>,
    /// The value of padding pixels after all steps; when absent, padding
    /// pixels keep the source's fill (see [`ChannelSpec`]) carried through
    /// the steps.
    pub fill: Option<f64>,
}

impl From<ChannelSpec> for Channel {
    fn from(source: ChannelSpec) -> Self {
        Channel {
            source,
            steps: Vec::new(),
            name: None,
            fill: None,
        }
    }
}

impl PartialEq<ChannelSpec> for Channel {
    fn eq(&self, other: &ChannelSpec) -> bool {
        self.steps.is_empty() && self.name.is_none() && self.fill.is_none() && self.source == *other
    }
}

impl Channel {
    /// The steps before the first `standardize`: the part of the channel
    /// whose moments `hounsfield stats` records.
    pub fn steps_before_standardize(&self) -> &[Step] {
        let end = self
            .steps
            .iter()
            .position(|step| *step == Step::Standardize)
            .unwrap_or(self.steps.len());
        &self.steps[..end]
    }

    /// Whether the channel has a `standardize` step.
    pub fn standardizes(&self) -> bool {
        self.steps.contains(&Step::Standardize)
    }

    /// The identity of the channel for dataset statistics: its source and
    /// its steps before `standardize`, as JSON.
    pub fn signature(&self) -> String {
        let view = serde_json::json!({
            "source": self.source,
            "steps": self.steps_before_standardize(),
        });
        view.to_string()
    }

    /// A short label for previews, e.g. `window brain 40/80 + clahe`.
    pub fn label(&self) -> String {
        let mut label = match (&self.name, &self.source) {
            (Some(name), _) => name.clone(),
            (None, ChannelSpec::Window(window)) => format!("window {}", window.name()),
            (None, source) => source.name().to_string(),
        };
        for step in &self.steps {
            label.push_str(" + ");
            label.push_str(step.name());
        }
        label
    }

    fn from_value(value: Value) -> Result<Self, String> {
        let map = match value {
            Value::Mapping(map) if map.len() > 1 => map,
            other => {
                let (name, value) = split_tag(other, "channel")?;
                return ChannelSpec::from_tag(&name, value).map(Channel::from);
            }
        };

        let mut source = None;
        let mut channel = Channel::from(ChannelSpec::Modality);
        for (key, value) in map {
            let Value::String(key) = key else {
                return Err(format!("channel keys are strings, not {}", describe(&key)));
            };
            match key.as_str() {
                "steps" => {
                    let Value::Sequence(items) = value else {
                        return Err(format!("`steps` is a list, not {}", describe(&value)));
                    };
                    channel.steps = items
                        .into_iter()
                        .enumerate()
                        .map(|(index, item)| {
                            Step::from_value(item)
                                .map_err(|error| format!("steps[{index}]: {error}"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "name" => channel.name = Some(parse(value, "name")?),
                "fill" => channel.fill = Some(parse(value, "fill")?),
                _ if source.is_some() => {
                    return Err(format!(
                        "unexpected key `{key}`: a channel has one source ({SOURCES}) and \
                         optional `steps`, `name` and `fill`"
                    ))
                }
                _ => source = Some(ChannelSpec::from_tag(&key, value)?),
            }
        }
        channel.source = source.ok_or_else(|| format!("the channel has no source ({SOURCES})"))?;
        Ok(channel)
    }

    /// Checks the steps, the name and the fill.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        for (index, step) in self.steps.iter().enumerate() {
            step.check()
                .map_err(|reason| (format!("steps[{index}].{}", step.name()), reason))?;
        }
        let standardize_count = self
            .steps
            .iter()
            .filter(|step| **step == Step::Standardize)
            .count();
        if standardize_count > 1 {
            return Err(("steps".into(), "`standardize` may appear once".into()));
        }
        if standardize_count == 1 && self.source == ChannelSpec::PaddingMask {
            return Err((
                "steps".into(),
                "a padding mask has no dataset spread to standardize by".into(),
            ));
        }
        if let ChannelSpec::Window(WindowSpec::Fixed(window)) = &self.source {
            window
                .prepare()
                .map_err(|error| ("window.width".to_string(), error.to_string()))?;
        }
        if self.fill.is_some_and(|fill| !fill.is_finite()) {
            return Err(("fill".into(), "must be a finite number".into()));
        }
        if self
            .name
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            return Err(("name".into(), "must not be empty".into()));
        }
        Ok(())
    }
}

impl Serialize for Channel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.steps.is_empty() && self.name.is_none() && self.fill.is_none() {
            return self.source.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        match &self.source {
            ChannelSpec::Window(window) => map.serialize_entry("window", window)?,
            source => map.serialize_entry(source.name(), &())?,
        }
        if !self.steps.is_empty() {
            map.serialize_entry("steps", &self.steps)?;
        }
        if let Some(name) = &self.name {
            map.serialize_entry("name", name)?;
        }
        if let Some(fill) = &self.fill {
            map.serialize_entry("fill", fill)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Channel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Channel::from_value(value).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Step::from_value(value).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for crate::spatial::SpatialStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        crate::spatial::SpatialStep::from_value(value).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
