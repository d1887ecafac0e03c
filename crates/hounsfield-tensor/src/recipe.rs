//! Recipes: what a sample's tensor holds and what is exported, read from YAML.

use std::fmt;

use hounsfield_pixel::{VoiFunction, Window};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The recipe used when none is given.
pub const DEFAULT_RECIPE_YAML: &str = include_str!("default-recipe.yaml");

/// A recipe that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// The YAML is malformed or names an unknown key or a bad value.
    #[error("invalid recipe: {0}")]
    Yaml(String),
    /// The YAML parsed but a value is out of range.
    #[error("invalid recipe: {key}: {reason}")]
    Invalid {
        /// The key, as a path such as `channels[1].window.width`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// What a sample's tensor holds and what is exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The tensor channels of grayscale images, in order. Colour images
    /// always give three channels: red, green and blue in [0, 1].
    pub channels: Vec<ChannelSpec>,
    /// Outputs.
    #[serde(default)]
    pub export: ExportSpec,
    /// How input files are read.
    #[serde(default)]
    pub input: InputSpec,
    /// Which identifying attributes may be exported.
    #[serde(default)]
    pub privacy: PrivacySpec,
}

/// One tensor channel.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelSpec {
    /// Modality values (HU for CT), unclipped. Padding pixels are set to the
    /// minimum of the other pixels.
    Modality,
    /// Display values in [0, 1] through a window.
    Window(WindowSpec),
}

impl Serialize for ChannelSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ChannelSpec::Modality => serializer.serialize_str("modality"),
            ChannelSpec::Window(window) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("window", window)?;
                map.end()
            }
        }
    }
}

// serde_yaml_ng writes enum variants as YAML tags (`!window`); recipes use
// the plainer `modality` / `window: {...}` forms, so parse them by hand.
impl<'de> Deserialize<'de> for ChannelSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChannelVisitor;

        const VARIANTS: &[&str] = &["modality", "window"];

        impl<'de> Visitor<'de> for ChannelVisitor {
            type Value = ChannelSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`modality` or a map `window: ...`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ChannelSpec, E> {
                match value {
                    "modality" => Ok(ChannelSpec::Modality),
                    "window" => Err(E::custom("`window` needs a value, e.g. `window: file`")),
                    other => Err(E::unknown_variant(other, VARIANTS)),
                }
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<ChannelSpec, M::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom("empty channel map"));
                };
                let channel = match key.as_str() {
                    "window" => ChannelSpec::Window(map.next_value()?),
                    other => return Err(de::Error::unknown_variant(other, VARIANTS)),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(de::Error::custom(format!(
                        "unexpected key `{extra}`: a channel map has exactly one key"
                    )));
                }
                Ok(channel)
            }
        }

        deserializer.deserialize_any(ChannelVisitor)
    }
}

/// Which window to apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum WindowSpec {
    /// The file's own first Window Center/Width pair and VOI LUT Function;
    /// min-max of the non-padding modality values when the file has none.
    #[serde(rename = "file")]
    File,
    /// A window given in the recipe, in modality units.
    #[serde(untagged)]
    Fixed(Window),
}

impl<'de> Deserialize<'de> for WindowSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WindowSpecVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            center: f64,
            width: f64,
            #[serde(default)]
            function: VoiFunction,
        }

        impl<'de> Visitor<'de> for WindowSpecVisitor {
            type Value = WindowSpec;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`file` or a map with `center`, `width` and optional `function`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<WindowSpec, E> {
                match value {
                    "file" => Ok(WindowSpec::File),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<WindowSpec, M::Error> {
                let fields = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(WindowSpec::Fixed(Window {
                    center: fields.center,
                    width: fields.width,
                    function: fields.function,
                }))
            }
        }

        deserializer.deserialize_any(WindowSpecVisitor)
    }
}

/// Outputs of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSpec {
    /// WebDataset shards; absent for none.
    #[serde(default)]
    pub shards: Option<ShardSpec>,
    /// PNG files; absent for none.
    #[serde(default)]
    pub png: Option<PngSpec>,
}

impl Default for ExportSpec {
    fn default() -> Self {
        ExportSpec {
            shards: Some(ShardSpec::default()),
            png: None,
        }
    }
}

/// WebDataset shard settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardSpec {
    /// Samples (frames) per shard before a new shard starts.
    #[serde(default = "default_samples_per_shard")]
    pub max_samples_per_shard: usize,
    /// Add an 8-bit preview `KEY.png` to each sample, rendered like the PNG
    /// export (its window, at 8 bits).
    #[serde(default)]
    pub png: bool,
}

fn default_samples_per_shard() -> usize {
    1000
}

impl Default for ShardSpec {
    fn default() -> Self {
        ShardSpec {
            max_samples_per_shard: default_samples_per_shard(),
            png: false,
        }
    }
}

/// PNG export settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PngSpec {
    /// Bits per sample: 8 or 16.
    #[serde(default = "default_png_bits")]
    pub bits: u8,
    /// The window that makes the grayscale display values.
    #[serde(default = "default_png_window")]
    pub window: WindowSpec,
}

fn default_png_bits() -> u8 {
    8
}

fn default_png_window() -> WindowSpec {
    WindowSpec::File
}

impl Default for PngSpec {
    fn default() -> Self {
        PngSpec {
            bits: default_png_bits(),
            window: default_png_window(),
        }
    }
}

/// How input files are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Accept data sets without the Part 10 preamble or file meta
    /// information (the encoding is guessed and a warning recorded).
    #[serde(default = "yes")]
    pub accept_missing_file_meta: bool,
    /// Largest decoded frame in bytes; larger images are rejected.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: u64,
}

fn yes() -> bool {
    true
}

fn default_max_frame_bytes() -> u64 {
    1 << 30
}

impl Default for InputSpec {
    fn default() -> Self {
        InputSpec {
            accept_missing_file_meta: true,
            max_frame_bytes: default_max_frame_bytes(),
        }
    }
}

/// Which identifying attributes may be exported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacySpec {
    /// Write patient name, ID, birth date, accession number, institution
    /// and physicians into the sample metadata. Off by default.
    #[serde(default)]
    pub include_patient_attributes: bool,
    /// Name of an environment variable that holds a secret key; when set,
    /// UIDs in the metadata are replaced by a keyed hash (the same UID gives
    /// the same replacement with the same key). The key itself never appears
    /// in a recipe or an output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_key_env: Option<String>,
    /// Name of an environment variable that holds a secret key; when set,
    /// the study date is exported shifted by a per-patient offset of up to
    /// 365 days. Without it no dates are exported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_shift_key_env: Option<String>,
    /// What to do with images whose Burned In Annotation (0028,0301) is
    /// `YES`: `exclude` (skip them, the default) or `keep` (convert them with
    /// a warning in the metadata).
    #[serde(default)]
    pub burned_in_annotation: BurnedInAnnotationPolicy,
}

/// What to do with images flagged as carrying burned-in text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BurnedInAnnotationPolicy {
    /// Skip the image; the manifest gives the reason.
    #[default]
    Exclude,
    /// Convert it and record a warning.
    Keep,
}

impl Recipe {
    /// Parses and checks a recipe.
    pub fn from_yaml(text: &str) -> Result<Self, RecipeError> {
        let recipe: Recipe =
            serde_yaml_ng::from_str(text).map_err(|error| RecipeError::Yaml(error.to_string()))?;
        recipe.check()?;
        Ok(recipe)
    }

    /// The embedded default recipe.
    pub fn default_recipe() -> Self {
        // The embedded text is checked by a unit test, so this cannot fail
        // for a released build; fall back to the same recipe built in code.
        Recipe::from_yaml(DEFAULT_RECIPE_YAML).unwrap_or_else(|_| Recipe {
            channels: vec![ChannelSpec::Modality],
            export: ExportSpec {
                shards: Some(ShardSpec::default()),
                png: Some(PngSpec::default()),
            },
            input: InputSpec::default(),
            privacy: PrivacySpec::default(),
        })
    }

    fn check(&self) -> Result<(), RecipeError> {
        let invalid = |key: String, reason: String| Err(RecipeError::Invalid { key, reason });
        if self.channels.is_empty() {
            return invalid("channels".into(), "at least one channel is required".into());
        }
        for (index, channel) in self.channels.iter().enumerate() {
            if let ChannelSpec::Window(WindowSpec::Fixed(window)) = channel {
                if let Err(error) = window.prepare() {
                    return invalid(format!("channels[{index}].window.width"), error.to_string());
                }
            }
        }
        if let Some(shards) = &self.export.shards {
            if shards.max_samples_per_shard == 0 {
                return invalid(
                    "export.shards.max_samples_per_shard".into(),
                    "must be at least 1".into(),
                );
            }
        }
        if let Some(png) = &self.export.png {
            if png.bits != 8 && png.bits != 16 {
                return invalid(
                    "export.png.bits".into(),
                    format!("{} is not 8 or 16", png.bits),
                );
            }
            if let WindowSpec::Fixed(window) = &png.window {
                if let Err(error) = window.prepare() {
                    return invalid("export.png.window.width".into(), error.to_string());
                }
            }
        }
        if self.export.shards.is_none() && self.export.png.is_none() {
            return invalid(
                "export".into(),
                "no output: set `shards`, `png` or both".into(),
            );
        }
        Ok(())
    }

    /// Writes the recipe as YAML, with every default filled in.
    pub fn to_yaml(&self) -> Result<String, RecipeError> {
        serde_yaml_ng::to_string(self).map_err(|error| RecipeError::Yaml(error.to_string()))
    }

    /// The window that renders previews (PNG files and shard PNG members).
    pub fn preview_window(&self) -> WindowSpec {
        self.export
            .png
            .as_ref()
            .map(|png| png.window.clone())
            .unwrap_or(WindowSpec::File)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_recipe_parses() {
        let recipe = Recipe::from_yaml(DEFAULT_RECIPE_YAML).unwrap();
        assert_eq!(recipe.channels, vec![ChannelSpec::Modality]);
        assert_eq!(recipe.export.png.as_ref().map(|png| png.bits), Some(8));
        assert_eq!(recipe.preview_window(), WindowSpec::File);
        assert!(!recipe.privacy.include_patient_attributes);
    }

    #[test]
    fn issue_example_recipe_parses() {
        let recipe = Recipe::from_yaml(
            "channels:\n\
             \x20 - modality\n\
             \x20 - window: { center: 40, width: 80 }\n\
             \x20 - window: { center: 600, width: 2800, function: linear_exact }\n\
             \x20 - window: file\n\
             export:\n\
             \x20 shards: { max_samples_per_shard: 1000 }\n\
             \x20 png: { bits: 16 }\n",
        )
        .unwrap();
        assert_eq!(recipe.channels.len(), 4);
        assert_eq!(
            recipe.channels[2],
            ChannelSpec::Window(WindowSpec::Fixed(Window {
                center: 600.0,
                width: 2800.0,
                function: VoiFunction::LinearExact
            }))
        );
        assert_eq!(recipe.channels[3], ChannelSpec::Window(WindowSpec::File));
        assert_eq!(recipe.export.png.unwrap().bits, 16);
    }

    #[test]
    fn recipe_round_trips_through_yaml() {
        let recipe = Recipe::from_yaml(
            "channels:\n  - modality\n  - window: file\n  - window: { center: 40, width: 80, function: sigmoid }\n",
        )
        .unwrap();
        let yaml = recipe.to_yaml().unwrap();
        assert_eq!(Recipe::from_yaml(&yaml).unwrap(), recipe, "{yaml}");
    }

    #[test]
    fn unknown_key_is_named() {
        let error = Recipe::from_yaml("channels: [modality]\nexport:\n  shard: {}\n").unwrap_err();
        assert!(error.to_string().contains("shard"), "{error}");
        let error =
            Recipe::from_yaml("channels:\n  - window: { center: 1, widht: 2 }\n").unwrap_err();
        assert!(error.to_string().contains("widht"), "{error}");
    }

    #[test]
    fn bad_values_are_named() {
        let error =
            Recipe::from_yaml("channels:\n  - window: { center: 1, width: 0.5 }\n").unwrap_err();
        assert!(
            error.to_string().contains("channels[0].window.width"),
            "{error}"
        );
        let error =
            Recipe::from_yaml("channels: [modality]\nexport:\n  png: { bits: 12 }\n").unwrap_err();
        assert!(error.to_string().contains("export.png.bits"), "{error}");
        let error =
            Recipe::from_yaml("channels:\n  - window: { center: 1, width: 2, function: cubic }\n")
                .unwrap_err();
        assert!(error.to_string().contains("cubic"), "{error}");
        let error = Recipe::from_yaml("channels: [hounsfield]\n").unwrap_err();
        assert!(error.to_string().contains("hounsfield"), "{error}");
    }
}
