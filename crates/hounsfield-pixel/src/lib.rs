//! Decoding DICOM pixels into stored, modality and display values.
//!
//! The grayscale pipeline follows PS3.4 N.2.1.1: stored values
//! ([`decode_frame`]) go through the Modality LUT ([`ModalityLut`]) to
//! modality values (HU for CT), then through a VOI window ([`Window`]) to
//! display values; MONOCHROME1 is inverted only after windowing, and only
//! for display values.
//!
//! Colour frames skip those steps: [`to_rgb`] turns RGB, `YBR_FULL`,
//! `YBR_FULL_422` and `PALETTE COLOR` stored values into RGB in [0, 1].
//!
//! # Limitations
//!
//! - JPEG Extended with 12-bit samples (1.2.840.10008.1.2.4.51) is not
//!   decoded: no pure-Rust decoder in the dependency tree supports it.
//! - Segmented palettes with indirect segments (PS3.3 C.7.9.2.3) are
//!   rejected as unsupported.
//! - `YBR_ICT` and `YBR_RCT` are converted only by the JPEG 2000 decoder,
//!   and `YBR_PARTIAL_420` not at all.
#![deny(missing_docs)]

mod colour;
mod decode;
mod describe;
mod encapsulated;
mod error;
mod frame;
mod jpeg;
mod jpeg2000;
mod modality;
mod palette;
mod rle;
mod window;

pub use colour::to_rgb;
pub use decode::{decode_frame, decode_native_gray, DecodeLimits, StoredFrame};
pub use describe::{Photometric, PixelDescription};
pub use error::PixelError;
pub use frame::{file_windows, read_frame, FileWindow, FrameImage, GrayFrame};
pub use modality::{ModalityLut, ModalityTransform, Padding, StoredValue};
pub use palette::PaletteColorLut;
pub use window::{InvalidWindow, PreparedWindow, VoiFunction, Window};
