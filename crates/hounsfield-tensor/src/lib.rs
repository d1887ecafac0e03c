//! Recipes and tensors: what a training sample holds.
//!
//! A [`Recipe`] (YAML) lists the channels of a sample's `(C, H, W)` tensor
//! and the outputs of a run. [`render_channels`] applies it to one decoded
//! frame; [`render_display`] makes the display image for previews.
#![deny(missing_docs)]

mod recipe;
mod render;

pub use recipe::{
    BurnedInAnnotationPolicy, ChannelSpec, ExportSpec, InputSpec, PngSpec, PrivacySpec, Recipe,
    RecipeError, ShardSpec, WindowSpec, DEFAULT_RECIPE_YAML,
};
pub use render::{
    render_channels, render_display, AppliedWindow, ChannelRecord, Display, Rendered, WindowSource,
};
