//! Recipes: what a sample's tensor holds and what is exported, read from YAML.

use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_yaml_ng::Value;

use hounsfield_series::VolumeSpec;

use crate::channel::{Channel, ChannelSpec, WindowSpec};
use crate::spatial::SpatialStep;
use crate::stats::DatasetStats;

/// The recipe used when none is given.
pub const DEFAULT_RECIPE_YAML: &str = include_str!("default-recipe.yaml");

/// A recipe that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// The recipe or its statistics file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The statistics file is invalid or does not fit the recipe.
    #[error("invalid statistics file {}: {reason}", path.display())]
    Stats {
        /// The statistics file, as resolved.
        path: PathBuf,
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
    pub channels: Vec<Channel>,
    /// Spatial steps applied in order to each frame before its channels
    /// are rendered (colour frames too).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spatial: Vec<SpatialStep>,
    /// Dataset statistics for `histogram` channels and `standardize` steps:
    /// a path to a file written by `hounsfield stats` (relative to the
    /// recipe file), or the statistics inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsSource>,
    /// Outputs.
    #[serde(default)]
    pub export: ExportSpec,
    /// How input files are read.
    #[serde(default)]
    pub input: InputSpec,
    /// Which identifying attributes may be exported.
    #[serde(default)]
    pub privacy: PrivacySpec,
    /// The series-to-volume settings of `convert --volumes`; absent for the
    /// defaults of [`VolumeSpec`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<VolumeSpec>,
}

/// Where a recipe's dataset statistics are.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsSource {
    /// A path not read yet; [`Recipe::load`] reads it.
    File(PathBuf),
    /// The statistics, read from a file or written inline. A loaded recipe
    /// writes them inline, so `OUT/recipe.yaml` contains every number used.
    Loaded(Box<DatasetStats>),
}

impl Serialize for StatsSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StatsSource::File(path) => path.serialize(serializer),
            StatsSource::Loaded(stats) => stats.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for StatsSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(path) => Ok(StatsSource::File(path.into())),
            value @ Value::Mapping(_) => {
                let stats: DatasetStats =
                    serde_yaml_ng::from_value(value).map_err(de::Error::custom)?;
                stats.check().map_err(de::Error::custom)?;
                Ok(StatsSource::Loaded(Box::new(stats)))
            }
            _ => Err(de::Error::custom(
                "`stats` is a path to a statistics file or the statistics as a map",
            )),
        }
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
    /// Parses and checks a recipe. A `stats` path is kept unread; use
    /// [`Recipe::load`] to read it relative to the recipe file.
    pub fn from_yaml(text: &str) -> Result<Self, RecipeError> {
        let recipe: Recipe =
            serde_yaml_ng::from_str(text).map_err(|error| RecipeError::Yaml(error.to_string()))?;
        recipe.check()?;
        recipe.check_stats(Path::new("(inline)"))?;
        Ok(recipe)
    }

    /// Reads a recipe file and the statistics file it names, resolved
    /// relative to the recipe's folder, and checks that the statistics fit
    /// the recipe's channels and spatial steps.
    ///
    /// # Errors
    /// [`RecipeError::Read`] when a file cannot be read,
    /// [`RecipeError::Stats`] when the statistics are invalid or were
    /// computed for other channels or spatial steps, and the errors of
    /// [`Recipe::from_yaml`].
    pub fn load(path: &Path) -> Result<Self, RecipeError> {
        let mut recipe = Recipe::load_ignoring_stats(path)?;
        if let Some(StatsSource::File(stats_path)) = &recipe.stats {
            let resolved = match path.parent() {
                Some(folder) if stats_path.is_relative() => folder.join(stats_path),
                _ => stats_path.clone(),
            };
            let text = std::fs::read_to_string(&resolved).map_err(|source| RecipeError::Read {
                path: resolved.clone(),
                source,
            })?;
            let stats = DatasetStats::from_yaml(&text).map_err(|reason| RecipeError::Stats {
                path: resolved.clone(),
                reason,
            })?;
            recipe.stats = Some(StatsSource::Loaded(Box::new(stats)));
            recipe.check_stats(&resolved)?;
        }
        Ok(recipe)
    }

    /// Reads a recipe file without reading the statistics file it names, as
    /// `hounsfield stats` does when it writes that file.
    ///
    /// # Errors
    /// As [`Recipe::load`], except for the statistics.
    pub fn load_ignoring_stats(path: &Path) -> Result<Self, RecipeError> {
        let text = std::fs::read_to_string(path).map_err(|source| RecipeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Recipe::from_yaml(&text)
    }

    /// The embedded default recipe.
    pub fn default_recipe() -> Self {
        // The embedded text is checked by a unit test, so this cannot fail
        // for a released build; fall back to the same recipe built in code.
        Recipe::from_yaml(DEFAULT_RECIPE_YAML).unwrap_or_else(|_| Recipe {
            channels: vec![Channel::from(ChannelSpec::Modality)],
            spatial: Vec::new(),
            stats: None,
            export: ExportSpec {
                shards: Some(ShardSpec::default()),
                png: Some(PngSpec::default()),
            },
            input: InputSpec::default(),
            privacy: PrivacySpec::default(),
            volumes: None,
        })
    }

    fn check(&self) -> Result<(), RecipeError> {
        let invalid = |key: String, reason: String| Err(RecipeError::Invalid { key, reason });
        if self.channels.is_empty() {
            return invalid("channels".into(), "at least one channel is required".into());
        }
        for (index, channel) in self.channels.iter().enumerate() {
            if let Err((key, reason)) = channel.check() {
                return invalid(format!("channels[{index}].{key}"), reason);
            }
        }
        for (index, step) in self.spatial.iter().enumerate() {
            if let Err(reason) = step.check() {
                return invalid(format!("spatial[{index}].{}", step.name()), reason);
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
        if let Some(Err((key, reason))) = self.volumes.as_ref().map(VolumeSpec::check) {
            return invalid(format!("volumes.{key}"), reason);
        }
        Ok(())
    }

    /// Checks loaded statistics against the channels that use them: every
    /// standardized channel needs moments with a positive standard
    /// deviation, and the spatial steps must be those the statistics were
    /// computed with.
    fn check_stats(&self, path: &Path) -> Result<(), RecipeError> {
        let Some(StatsSource::Loaded(stats)) = &self.stats else {
            return Ok(());
        };
        let mismatch = |reason: String| {
            Err(RecipeError::Stats {
                path: path.to_path_buf(),
                reason,
            })
        };
        if !self.needs_stats() {
            return Ok(());
        }
        let spatial = self.spatial_signature();
        if stats.provenance.spatial != spatial {
            return mismatch(format!(
                "they were computed with spatial steps {} but the recipe has {spatial}",
                stats.provenance.spatial
            ));
        }
        for (index, channel) in self.channels.iter().enumerate() {
            if !channel.standardizes() {
                continue;
            }
            let signature = channel.signature();
            match stats.channel(&signature) {
                Some(moments) if moments.std > 0.0 => {}
                Some(_) => {
                    return mismatch(format!(
                        "channels[{index}] has standard deviation 0 in the statistics, so it \
                         cannot be standardized"
                    ))
                }
                None => {
                    let known: Vec<&str> = stats
                        .channels
                        .iter()
                        .map(|c| c.signature.as_str())
                        .collect();
                    return mismatch(format!(
                        "no moments for channels[{index}] {signature}; the file has {}. Rerun \
                         `hounsfield stats` with this recipe",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether any channel needs dataset statistics.
    pub fn needs_stats(&self) -> bool {
        self.channels
            .iter()
            .any(|channel| channel.source == ChannelSpec::Histogram || channel.standardizes())
    }

    /// Checks that statistics are loaded when a channel needs them, so a
    /// run fails at the start and not on every file.
    ///
    /// # Errors
    /// [`RecipeError::Invalid`] on the key `stats`.
    pub fn require_stats(&self) -> Result<(), RecipeError> {
        if !self.needs_stats() || matches!(self.stats, Some(StatsSource::Loaded(_))) {
            return Ok(());
        }
        let reason = match &self.stats {
            Some(StatsSource::File(path)) => format!(
                "{} is not loaded; read the recipe with `Recipe::load`",
                path.display()
            ),
            _ => "`histogram` channels and `standardize` steps need `stats: stats.yaml`, \
                  written by `hounsfield stats`"
                .into(),
        };
        Err(RecipeError::Invalid {
            key: "stats".into(),
            reason,
        })
    }

    /// The loaded statistics.
    pub fn dataset_stats(&self) -> Option<&DatasetStats> {
        match &self.stats {
            Some(StatsSource::Loaded(stats)) => Some(stats),
            _ => None,
        }
    }

    /// The channels and spatial steps as YAML: the parts of the recipe that
    /// decide the numbers of `hounsfield stats`, for its provenance.
    pub fn normalization_yaml(&self) -> String {
        #[derive(Serialize)]
        struct Summary<'a> {
            channels: &'a [Channel],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            spatial: &'a [SpatialStep],
        }
        let summary = Summary {
            channels: &self.channels,
            spatial: &self.spatial,
        };
        serde_yaml_ng::to_string(&summary).unwrap_or_default()
    }

    /// The spatial steps as JSON, compared with the statistics' provenance.
    pub fn spatial_signature(&self) -> String {
        serde_json::to_string(&self.spatial).unwrap_or_default()
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
mod tests;
