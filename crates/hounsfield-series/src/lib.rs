//! Assembling DICOM slices into volumes from their headers alone.
//!
//! # Overview
//!
//! - [`read_slices`] reads a [`SliceHeader`] per image plane: one for a
//!   single-frame image, one per frame of an enhanced multi-frame image
//!   (from its Plane Position, Plane Orientation and Pixel Measures
//!   functional groups).
//! - [`assemble`] groups the slices by Series Instance UID, divides a series
//!   where its slices cannot share one volume, orders each stack by Image
//!   Position (Patient) along the slice normal, and checks every step. It
//!   returns [`VolumePlan`]s and the [`ExcludedSlice`]s, each with a typed
//!   [`ExclusionReason`], [`SplitStep`] or [`Decision`].
//! - [`OutputGrid`] is a volume's voxel grid with its affine in LPS (and
//!   RAS for NIfTI); [`Sampling`] maps its voxels onto the source slices
//!   when resampling was chosen.
//! - [`VolumeSpec`] is the `volumes` section of a recipe, which chooses
//!   what happens to localizers, uneven and tilted stacks, and resampling.
//!
//! The tensor of a volume is `(C, D, H, W)`: D is the slice, in ascending
//! position along the normal `row direction × column direction`, H the row
//! and W the column. The affine maps `(column, row, slice, 1)`, the NIfTI
//! order, to patient coordinates.
//!
//! Pixels are never read here. Two slices at one position are either exact
//! duplicates or different images (phases, echoes), and only their pixels
//! can show which. So the pixel stage sets [`SliceHeader::pixel_hash`] for
//! the slices in [`Assembly::needs_pixel_hash`] and calls [`assemble`]
//! again.
//!
//! # Example
//!
//! ```
//! use hounsfield_series::{assemble, AssemblyOptions, SliceHeader};
//!
//! // Five axial slices listed in a scrambled order.
//! let slices: Vec<SliceHeader> = [-5.0, 0.0, -10.0, -2.5, -7.5]
//!     .iter()
//!     .enumerate()
//!     .map(|(index, &z)| {
//!         let mut slice = SliceHeader::new(format!("file{index}.dcm"), 0);
//!         slice.series_instance_uid = Some("1.2.3".into());
//!         slice.sop_instance_uid = Some(format!("1.2.3.{index}"));
//!         slice.rows = Some(2);
//!         slice.columns = Some(2);
//!         slice.pixel_spacing = Some([0.5, 0.5]);
//!         slice.image_orientation = Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
//!         slice.image_position = Some([0.0, 0.0, z]);
//!         slice
//!     })
//!     .collect();
//!
//! let assembly = assemble(&slices, &AssemblyOptions::default());
//! let volume = &assembly.volumes[0];
//! assert_eq!(volume.slices, [2, 4, 0, 3, 1]); // z = -10, -7.5, -5, -2.5, 0
//! assert_eq!(volume.grid.spacing_mm, [2.5, 0.5, 0.5]);
//! ```
//!
//! # Limitations
//!
//! - A series whose frames repeat one position many times (a single-slice
//!   time series) gives one single-slice volume per repetition, not a
//!   `(T, H, W)` sample.
//! - Diffusion direction and b-value do not divide a series. Such MR series
//!   split only where Image Type, echo or temporal attributes differ, or at
//!   repeated positions.
//! - Multi-frame images without per-frame functional groups (cine) are
//!   excluded.
//! - The qform of a sheared (tilted) volume in NIfTI cannot hold the shear;
//!   only the affine (sform) is exact.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod assemble;
mod error;
mod geometry;
mod grid;
mod header;
mod options;
mod reason;
mod spec;
mod split;

pub use assemble::{assemble, Assembly, VolumePlan};
pub use error::SeriesError;
pub use geometry::{Orientation, StackGeometry, Vector3};
pub use grid::{Matrix4, OutputGrid, Sampling};
pub use header::{read_slices, GeometrySource, PixelHash, SliceHeader};
pub use options::{AssemblyOptions, ResampleTarget, TiltPolicy, UnevenSpacingPolicy};
pub use reason::{Decision, ExcludedSlice, ExclusionReason, SliceRef, SplitKey, SplitStep};
pub use spec::{Interpolation, ResampleSpec, VolumeSpec};
