//! The Python package `hounsfield`: bindings of the conversion pipeline,
//! built with maturin into the extension module `hounsfield._native`.
//!
//! # Overview
//!
//! The module wraps [`hounsfield_pipeline`]: reading one file's metadata,
//! decoding frames to NumPy arrays, converting one file to shard samples,
//! converting folders, validating, and the plan, unit and finalize steps of
//! a run split over many machines. Every call that decodes or converts
//! releases the GIL. The pure-Python package in `python/hounsfield/` gives
//! the public API, its type hints and the WebDataset readers.
//!
//! # Features
//!
//! - `python`: the bindings. maturin enables it; without it the crate is
//!   empty, so that `cargo test --workspace` needs no Python.
//!
//! # Limitations
//!
//! - The GIL is released during a call, but the call cannot be interrupted:
//!   Ctrl-C takes effect when it returns.
#![deny(missing_docs)]

#[cfg(feature = "python")]
mod module;
