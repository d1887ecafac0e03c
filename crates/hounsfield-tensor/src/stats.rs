//! Dataset statistics: histogram breakpoints and per-channel moments,
//! computed once on a sample by `hounsfield stats` and read by recipes
//! through `stats: path/to/stats.yaml`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::RenderError;
use crate::histogram::check_breakpoints;

/// The `format` value of statistics files this version reads and writes.
pub const STATS_FORMAT: &str = "hounsfield-stats/1";

/// The rule of the breakpoints, written into every statistics file so the
/// file explains itself.
pub const BREAKPOINT_RULE: &str = "sort the N pooled non-padding modality values into s; \
t = [0.001] ++ [(i + 0.5) / bins for i in 0..bins] ++ [0.999]; k = floor(N * t) in f64, capped \
at N - 1; breakpoints = sorted unique s[k]";

/// Dataset statistics as written by `hounsfield stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetStats {
    /// [`STATS_FORMAT`].
    pub format: String,
    /// Where the numbers come from.
    pub provenance: Provenance,
    /// Equal-population breakpoints of the pooled modality values.
    pub histogram: HistogramStats,
    /// Moments of each channel of the recipe the statistics were computed
    /// with, before its `standardize` step.
    pub channels: Vec<ChannelStats>,
}

/// How and from what the statistics were computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The program and version, e.g. `hounsfield 0.1.0`.
    pub tool: String,
    /// The input paths as given.
    pub inputs: Vec<String>,
    /// The number of files requested.
    pub sample_size: usize,
    /// The seed of the file order.
    pub seed: u64,
    /// The metadata column the sample was stratified by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify: Option<String>,
    /// Files used per stratum value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub strata: BTreeMap<String, usize>,
    /// At most this many frames were used per file (evenly spaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_per_file: Option<usize>,
    /// At most this many values per frame were pooled for the breakpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pixels_per_frame: Option<usize>,
    /// The sampled files that were used, in sample order.
    pub files: Vec<String>,
    /// Frames used.
    pub frames: usize,
    /// Sampled files left out, with the reason (colour images, decoding
    /// errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// The recipe's channels and spatial steps as YAML.
    pub recipe: String,
    /// The recipe's spatial steps as JSON; a recipe that uses these
    /// statistics must have the same ones.
    pub spatial: String,
}

/// Histogram breakpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramStats {
    /// The requested number of bins.
    pub bins: usize,
    /// [`BREAKPOINT_RULE`].
    pub rule: String,
    /// Pooled values.
    pub values: u64,
    /// The breakpoints, strictly increasing.
    pub breakpoints: Vec<f64>,
}

/// Moments of one channel's non-padding values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelStats {
    /// The channel's position in the recipe the statistics were computed
    /// with.
    pub index: usize,
    /// The channel's source and its steps before `standardize`, as JSON;
    /// a recipe channel uses these numbers when its own signature is equal.
    pub signature: String,
    /// Values counted.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation (NumPy's default `ddof=0`).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl DatasetStats {
    /// Parses and checks a statistics file.
    ///
    /// # Errors
    /// A message naming the key when the YAML is malformed, the format is
    /// unknown or the numbers are unusable.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let stats: DatasetStats =
            serde_yaml_ng::from_str(text).map_err(|error| error.to_string())?;
        stats.check()?;
        Ok(stats)
    }

    /// Writes the statistics as YAML.
    ///
    /// # Errors
    /// [`RenderError::Yaml`] if serialization fails.
    pub fn to_yaml(&self) -> Result<String, RenderError> {
        let body =
            serde_yaml_ng::to_string(self).map_err(|error| RenderError::Yaml(error.to_string()))?;
        let header =
            "# Dataset statistics written by `hounsfield stats`. Reference this file from a \
                      recipe\n# with `stats: <path>` so every split is normalized with the same \
                      numbers.\n";
        Ok(format!("{header}{body}"))
    }

    /// Checks the format and the numbers.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.format != STATS_FORMAT {
            return Err(format!("format `{}` is not `{STATS_FORMAT}`", self.format));
        }
        check_breakpoints(&self.histogram.breakpoints)
            .map_err(|reason| format!("histogram.breakpoints: {reason}"))?;
        for (position, channel) in self.channels.iter().enumerate() {
            let numbers = [channel.mean, channel.std, channel.min, channel.max];
            if numbers.iter().any(|value| !value.is_finite()) || channel.std < 0.0 {
                return Err(format!(
                    "channels[{position}]: mean, std, min and max must be finite and std not \
                     negative"
                ));
            }
        }
        Ok(())
    }

    /// The moments recorded for a channel signature.
    pub fn channel(&self, signature: &str) -> Option<&ChannelStats> {
        self.channels
            .iter()
            .find(|channel| channel.signature == signature)
    }
}

/// Running count, mean, sum of squared deviations, minimum and maximum,
/// merged with Chan et al.'s parallel update so that per-frame partial
/// results combine in a fixed order into the same numbers on any number of
/// threads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Values counted.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub squares: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Moments {
    /// The moments of `values`, computed in two passes in `f64`. NaN values
    /// are left out.
    pub fn of(values: impl Iterator<Item = f64> + Clone) -> Self {
        let mut moments = Moments::default();
        let mut sum = 0.0;
        for value in values.clone().filter(|value| !value.is_nan()) {
            if moments.count == 0 {
                (moments.min, moments.max) = (value, value);
            }
            moments.count += 1;
            sum += value;
            moments.min = moments.min.min(value);
            moments.max = moments.max.max(value);
        }
        if moments.count == 0 {
            return moments;
        }
        moments.mean = sum / moments.count as f64;
        moments.squares = values
            .filter(|value| !value.is_nan())
            .map(|value| (value - moments.mean).powi(2))
            .sum();
        moments
    }

    /// Adds the moments of another set of values.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        let weight = other.count as f64 / count as f64;
        self.squares += other.squares + delta * delta * self.count as f64 * weight;
        self.mean += delta * weight;
        self.count = count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The population standard deviation.
    pub fn std(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.squares / self.count as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_moments_equal_the_two_pass_result() {
        // Values -1000, 0, 40, 1000: mean 10, squared deviations
        // 1010² + 10² + 30² + 990² = 2001200, population variance 500300.
        let all = Moments::of([-1000.0, 0.0, 40.0, 1000.0].into_iter());
        let mut merged = Moments::of([-1000.0, 0.0].into_iter());
        merged.merge(&Moments::of([40.0, 1000.0, f64::NAN].into_iter()));
        merged.merge(&Moments::default());
        for moments in [all, merged] {
            assert_eq!(moments.count, 4);
            assert!((moments.mean - 10.0).abs() < 1e-12);
            assert!((moments.std() - 500_300f64.sqrt()).abs() < 1e-9);
            assert_eq!(moments.min, -1000.0);
            assert_eq!(moments.max, 1000.0);
        }
    }

    fn sample_stats() -> DatasetStats {
        DatasetStats {
            format: STATS_FORMAT.into(),
            provenance: Provenance {
                tool: "hounsfield test".into(),
                inputs: vec!["in".into()],
                sample_size: 1,
                seed: 0,
                stratify: None,
                strata: BTreeMap::new(),
                frames_per_file: None,
                max_pixels_per_frame: None,
                files: vec!["in/a.dcm".into()],
                frames: 1,
                skipped: Vec::new(),
                recipe: "channels: [modality]".into(),
                spatial: "[]".into(),
            },
            histogram: HistogramStats {
                bins: 4,
                rule: BREAKPOINT_RULE.into(),
                values: 10,
                breakpoints: vec![-1024.0, 0.0, 20.0, 40.0],
            },
            channels: vec![ChannelStats {
                index: 0,
                signature: "\"modality\"".into(),
                count: 10,
                mean: -600.0,
                std: 500.0,
                min: -1024.0,
                max: 40.0,
            }],
        }
    }

    #[test]
    fn stats_round_trip_through_yaml() {
        let stats = sample_stats();
        let yaml = stats.to_yaml().unwrap();
        assert!(yaml.starts_with("# Dataset statistics"));
        assert_eq!(DatasetStats::from_yaml(&yaml).unwrap(), stats);
        assert_eq!(stats.channel("\"modality\"").map(|c| c.mean), Some(-600.0));
    }

    #[test]
    fn bad_stats_files_are_rejected() {
        let mut stats = sample_stats();
        stats.format = "other/2".into();
        let error = DatasetStats::from_yaml(&stats.to_yaml().unwrap()).unwrap_err();
        assert!(error.contains("other/2"), "{error}");

        let mut stats = sample_stats();
        stats.histogram.breakpoints = vec![3.0];
        let error = DatasetStats::from_yaml(&stats.to_yaml().unwrap()).unwrap_err();
        assert!(error.contains("histogram.breakpoints"), "{error}");

        let yaml = sample_stats()
            .to_yaml()
            .unwrap()
            .replace("seed: 0", "seed: 0\n  colour: red");
        let error = DatasetStats::from_yaml(&yaml).unwrap_err();
        assert!(error.contains("colour"), "{error}");
    }
}
