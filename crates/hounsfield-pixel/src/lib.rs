//! Decoding DICOM pixels into stored, modality and display values.
//!
//! The grayscale pipeline follows PS3.4 N.2.1.1: stored values
//! ([`decode_frame`]) go through the Modality LUT ([`ModalityLut`]) to
//! modality values (HU for CT), then through a VOI window ([`Window`]) to
//! display values; MONOCHROME1 is inverted only after windowing, and only
//! for display values.
#![deny(missing_docs)]

mod colour;
mod decode;
mod describe;
mod error;
mod frame;
mod modality;
mod window;

pub use decode::{decode_frame, DecodeLimits, StoredFrame};
pub use describe::{Photometric, PixelDescription};
pub use error::PixelError;
pub use frame::{file_windows, read_frame, FileWindow, FrameImage, GrayFrame};
pub use modality::{ModalityLut, ModalityTransform, Padding};
pub use window::{InvalidWindow, PreparedWindow, VoiFunction, Window};
