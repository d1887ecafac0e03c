//! Colour images to RGB.

use hounsfield_dicom::attr::Object;
use hounsfield_dicom::Finding;
use ndarray::Array3;

use crate::decode::StoredFrame;
use crate::describe::{Photometric, PixelDescription};
use crate::error::PixelError;

/// Converts a colour frame to RGB in [0, 1], shape `(3, rows, columns)`.
pub fn to_rgb(
    _object: &Object,
    description: &PixelDescription,
    frame: &StoredFrame,
    _findings: &mut Vec<Finding>,
) -> Result<Array3<f32>, PixelError> {
    match frame.colour_space {
        Photometric::Rgb => {
            let scale = ((1u64 << description.bits_stored) - 1) as f32;
            Ok(frame.values.mapv(|v| v as f32 / scale))
        }
        ref other => Err(PixelError::Unsupported(format!(
            "Photometric Interpretation `{}`",
            other.as_str()
        ))),
    }
}
