//! The `volumes` section of a recipe: parsing, defaults and checks.

use hounsfield_series::{Interpolation, ResampleTarget, TiltPolicy, UnevenSpacingPolicy};
use hounsfield_tensor::{Recipe, DEFAULT_RECIPE_YAML};

#[test]
fn default_recipe_has_no_volumes_section() {
    let recipe = Recipe::from_yaml(DEFAULT_RECIPE_YAML).unwrap();
    assert!(recipe.volumes.is_none());
    let yaml = recipe.to_yaml().unwrap();
    assert!(!yaml.contains("volumes"), "{yaml}");
}

#[test]
fn volumes_section_parses_and_round_trips() {
    let recipe = Recipe::from_yaml(
        "channels: [modality]\n\
         volumes:\n\
         \x20 keep_localizers: true\n\
         \x20 uneven_spacing: resample\n\
         \x20 gantry_tilt: reject\n\
         \x20 resample: { spacing: [2, 1, 1] }\n\
         \x20 interpolation: nearest\n\
         \x20 nifti: false\n",
    )
    .unwrap();
    let volumes = recipe.volumes.clone().unwrap();
    assert!(volumes.keep_localizers);
    assert!(!volumes.keep_derived);
    assert_eq!(volumes.uneven_spacing, UnevenSpacingPolicy::Resample);
    assert_eq!(volumes.gantry_tilt, TiltPolicy::Reject);
    assert_eq!(volumes.interpolation, Interpolation::Nearest);
    assert!(!volumes.nifti);
    assert_eq!(
        volumes.assembly_options().resample,
        Some(ResampleTarget::Spacing([2.0, 1.0, 1.0]))
    );
    let yaml = recipe.to_yaml().unwrap();
    assert_eq!(Recipe::from_yaml(&yaml).unwrap(), recipe, "{yaml}");
}

#[test]
fn empty_volumes_section_takes_the_defaults() {
    let recipe = Recipe::from_yaml("channels: [modality]\nvolumes: {}\n").unwrap();
    let volumes = recipe.volumes.unwrap();
    assert_eq!(volumes.uneven_spacing, UnevenSpacingPolicy::Split);
    assert_eq!(volumes.gantry_tilt, TiltPolicy::Shear);
    assert_eq!(volumes.spacing_tolerance_mm, 0.01);
    assert!(volumes.nifti);
}

#[test]
fn volumes_errors_name_the_key() {
    let error =
        Recipe::from_yaml("channels: [modality]\nvolumes: { gantry_tilit: shear }\n").unwrap_err();
    assert!(error.to_string().contains("gantry_tilit"), "{error}");
    let error = Recipe::from_yaml("channels: [modality]\nvolumes: { uneven_spacing: guess }\n")
        .unwrap_err();
    assert!(error.to_string().contains("guess"), "{error}");
    let error = Recipe::from_yaml(
        "channels: [modality]\nvolumes: { resample: { spacing: [1, 1, 1], size: [2, 2, 2] } }\n",
    )
    .unwrap_err();
    assert!(error.to_string().contains("volumes.resample"), "{error}");
    let error = Recipe::from_yaml("channels: [modality]\nvolumes: { spacing_tolerance_mm: -1 }\n")
        .unwrap_err();
    assert!(
        error.to_string().contains("volumes.spacing_tolerance_mm"),
        "{error}"
    );
}
