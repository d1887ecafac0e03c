//! Recipes and tensors: what a training sample holds.
//!
//! # Overview
//!
//! A [`Recipe`] (YAML) lists the channels of a sample's `(C, H, W)` tensor,
//! the spatial steps and the outputs of a run. Each [`Channel`] has a source
//! ([`ChannelSpec`]: modality values, a window or preset, the dataset
//! histogram scale or the padding mask) and intensity [`Step`]s (clip,
//! scale, standardize, per-image mean subtraction and whitening, CLAHE).
//! [`render`] applies a recipe to one decoded frame; [`render_display`]
//! makes the display image for previews.
//!
//! Dataset statistics ([`DatasetStats`]: histogram breakpoints from
//! [`fit_breakpoints`] and per-channel moments) are computed once by
//! `hounsfield stats` and referenced by recipes, so every split is
//! normalized with the same numbers. [`draw_contact_sheet`] and
//! [`draw_histogram_plot`] draw what a network will see.
//!
//! # Example
//!
//! ```
//! use hounsfield_tensor::Recipe;
//!
//! let recipe = Recipe::from_yaml(
//!     "channels:\n  - window: brain\n  - window: subdural\n  - modality:\n    \
//!      steps: [{ scale: { from: [-1000, 1000], to: [0, 1], clip: true } }]\n\
//!      spatial:\n  - pad_to_square\n  - resize: { size: 256 }\n",
//! )?;
//! assert_eq!(recipe.channels.len(), 3);
//! # Ok::<(), hounsfield_tensor::RecipeError>(())
//! ```
//!
//! # Limitations
//!
//! - Spatial steps run on 2-D frames; [`resize_volume`] and
//!   [`crop_volume`] are the 3-D building blocks, not yet driven by a
//!   recipe.
//! - Colour frames get spatial steps but no channel steps: they always
//!   give their three RGB channels.
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod channel;
mod clahe;
mod error;
mod histogram;
mod imageops;
mod plot;
mod presets;
mod recipe;
mod render;
mod sheet;
mod spatial;
mod stats;
mod steps;
mod yaml;

pub use channel::{Channel, ChannelSpec, WindowSpec};
pub use clahe::{clahe, ClaheSpec};
pub use error::RenderError;
pub use histogram::{fit_breakpoints, histogram_scale};
pub use plot::{draw_histogram_plot, PlotWindow};
pub use presets::WindowPreset;
pub use recipe::{
    BurnedInAnnotationPolicy, ExportSpec, InputSpec, PngSpec, PrivacySpec, Recipe, RecipeError,
    ShardSpec, StatsSource, DEFAULT_RECIPE_YAML,
};
pub use render::{
    channel_moments, render, render_channels, render_display, render_display_quantized,
    render_without_spatial, valid_values, AppliedWindow, ChannelRecord, Display, Rendered,
    WindowSource,
};
pub use sheet::{draw_contact_sheet, sheet_row, SheetCell, SheetRow};
pub use spatial::{
    apply_spatial, crop_volume, resize_volume, CropSpec, ResizeFilter, ResizeSpec, SpatialRecord,
    SpatialStep, Threshold, ThresholdMethod,
};
pub use stats::{
    ChannelStats, DatasetStats, HistogramStats, Moments, Provenance, BREAKPOINT_RULE, STATS_FORMAT,
};
pub use steps::{AppliedStep, ClipSpec, ScaleSpec, Step};
