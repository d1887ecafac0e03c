//! Tests of recipe parsing, checking and loading.

use super::*;
use crate::stats::{ChannelStats, HistogramStats, Provenance, BREAKPOINT_RULE, STATS_FORMAT};
use crate::steps::Step;
use hounsfield_pixel::{VoiFunction, Window};

#[test]
fn default_recipe_parses() {
    let recipe = Recipe::from_yaml(DEFAULT_RECIPE_YAML).unwrap();
    assert_eq!(recipe.channels, vec![ChannelSpec::Modality]);
    assert_eq!(recipe.export.png.as_ref().map(|png| png.bits), Some(8));
    assert_eq!(recipe.preview_window(), WindowSpec::File);
    assert!(!recipe.privacy.include_patient_attributes);
    assert!(recipe.spatial.is_empty());
    assert!(!recipe.needs_stats());
}

#[test]
fn readme_example_recipe_parses() {
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

const NORMALIZATION_RECIPE: &str = "\
channels:
  - histogram
  - window: brain
  - window: { preset: lungs, function: linear_exact }
  - window: { file: { index: 1 } }
  - window: { file: { explanation: BONE } }
  - padding_mask
  - modality:
    steps:
      - clip: { min: -1000, max: 1000 }
      - scale: { from: [-1000, 1000], to: [0, 1], clip: true }
      - clahe: { clip_limit: 3, tiles: [4, 4] }
      - whiten
    name: soft
    fill: 0
  - window: subdural
    steps: [subtract_mean, standardize]
spatial:
  - crop_foreground: { threshold: -500 }
  - pad_to_square
  - resize: { size: 224, filter: lanczos3 }
";

#[test]
fn normalization_recipe_round_trips_through_yaml() {
    let recipe = Recipe::from_yaml(NORMALIZATION_RECIPE).unwrap();
    assert_eq!(recipe.channels.len(), 8);
    assert_eq!(recipe.spatial.len(), 3);
    assert_eq!(recipe.channels[6].steps.len(), 4);
    assert_eq!(recipe.channels[6].name.as_deref(), Some("soft"));
    assert_eq!(recipe.channels[6].fill, Some(0.0));
    assert_eq!(
        recipe.channels[7].steps,
        [Step::SubtractMean, Step::Standardize]
    );
    assert!(recipe.needs_stats());
    assert!(recipe.require_stats().is_err());
    let yaml = recipe.to_yaml().unwrap();
    assert_eq!(Recipe::from_yaml(&yaml).unwrap(), recipe, "{yaml}");
}

#[test]
fn unknown_key_is_named() {
    let error = Recipe::from_yaml("channels: [modality]\nexport:\n  shard: {}\n").unwrap_err();
    assert!(error.to_string().contains("shard"), "{error}");
    let error = Recipe::from_yaml("channels:\n  - window: { center: 1, widht: 2 }\n").unwrap_err();
    assert!(error.to_string().contains("widht"), "{error}");
    let error = Recipe::from_yaml("channels:\n  - modality:\n    stepz: [whiten]\n").unwrap_err();
    assert!(error.to_string().contains("stepz"), "{error}");
    let error = Recipe::from_yaml("channels: [modality]\nspatial: [rotate]\n").unwrap_err();
    assert!(error.to_string().contains("rotate"), "{error}");
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
    let error = Recipe::from_yaml("channels:\n  - window: brian\n").unwrap_err();
    assert!(error.to_string().contains("brian"), "{error}");
    assert!(error.to_string().contains("brain_bone"), "{error}");
    let error =
        Recipe::from_yaml("channels:\n  - modality:\n    steps: [{ scale: { from: [1, 1] } }]\n")
            .unwrap_err();
    assert!(
        error.to_string().contains("channels[0].steps[0].scale"),
        "{error}"
    );
    let error =
        Recipe::from_yaml("channels:\n  - padding_mask:\n    steps: [standardize]\n").unwrap_err();
    assert!(error.to_string().contains("padding mask"), "{error}");
    let error = Recipe::from_yaml("channels: [modality]\nspatial:\n  - resize: { size: [0, 4] }\n")
        .unwrap_err();
    assert!(error.to_string().contains("spatial[0].resize"), "{error}");
    let error =
        Recipe::from_yaml("channels:\n  - window: { file: { index: 1, explanation: A } }\n")
            .unwrap_err();
    assert!(error.to_string().contains("exactly one"), "{error}");
}

fn stats_for(recipe: &Recipe) -> DatasetStats {
    DatasetStats {
        format: STATS_FORMAT.into(),
        provenance: Provenance {
            tool: "test".into(),
            inputs: Vec::new(),
            sample_size: 1,
            seed: 0,
            stratify: None,
            strata: Default::default(),
            frames_per_file: None,
            max_pixels_per_frame: None,
            files: Vec::new(),
            frames: 1,
            skipped: Vec::new(),
            recipe: String::new(),
            spatial: recipe.spatial_signature(),
        },
        histogram: HistogramStats {
            bins: 4,
            rule: BREAKPOINT_RULE.into(),
            values: 10,
            breakpoints: vec![-1024.0, 0.0, 20.0, 40.0],
        },
        channels: recipe
            .channels
            .iter()
            .enumerate()
            .map(|(index, channel)| ChannelStats {
                index,
                signature: channel.signature(),
                count: 10,
                mean: 1.0,
                std: 2.0,
                min: 0.0,
                max: 5.0,
            })
            .collect(),
    }
}

#[test]
fn load_reads_stats_relative_to_the_recipe() {
    let folder = tempfile::tempdir().unwrap();
    let recipe_text =
        "channels:\n  - histogram\n  - modality:\n    steps: [standardize]\nstats: stats.yaml\n";
    let recipe = Recipe::from_yaml(recipe_text).unwrap();
    assert_eq!(recipe.stats, Some(StatsSource::File("stats.yaml".into())));
    assert!(recipe.require_stats().is_err());

    std::fs::write(
        folder.path().join("stats.yaml"),
        stats_for(&recipe).to_yaml().unwrap(),
    )
    .unwrap();
    let path = folder.path().join("recipe.yaml");
    std::fs::write(&path, recipe_text).unwrap();
    let loaded = Recipe::load(&path).unwrap();
    assert!(loaded.require_stats().is_ok());
    assert_eq!(
        loaded
            .dataset_stats()
            .map(|stats| stats.histogram.breakpoints.len()),
        Some(4)
    );

    // The written recipe contains the statistics inline and reads back alone.
    let inline = loaded.to_yaml().unwrap();
    let reread = Recipe::from_yaml(&inline).unwrap();
    assert!(reread.require_stats().is_ok());
    assert_eq!(reread, loaded);
}

#[test]
fn stats_of_other_channels_are_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let other = Recipe::from_yaml("channels: [modality]\n").unwrap();
    std::fs::write(
        folder.path().join("stats.yaml"),
        stats_for(&other).to_yaml().unwrap(),
    )
    .unwrap();
    let path = folder.path().join("recipe.yaml");
    std::fs::write(
        &path,
        "channels:\n  - window: brain\n    steps: [standardize]\nstats: stats.yaml\n",
    )
    .unwrap();
    let error = Recipe::load(&path).unwrap_err();
    assert!(
        error.to_string().contains("no moments for channels[0]"),
        "{error}"
    );

    std::fs::write(
        &path,
        "channels:\n  - modality:\n    steps: [standardize]\nspatial: [pad_to_square]\nstats: stats.yaml\n",
    )
    .unwrap();
    let error = Recipe::load(&path).unwrap_err();
    assert!(error.to_string().contains("spatial steps"), "{error}");
}

#[test]
fn missing_stats_file_is_named() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("recipe.yaml");
    std::fs::write(&path, "channels: [histogram]\nstats: nowhere.yaml\n").unwrap();
    let error = Recipe::load(&path).unwrap_err();
    assert!(error.to_string().contains("nowhere.yaml"), "{error}");
    assert!(Recipe::load_ignoring_stats(&path).is_ok());
}
