//! Colour frames to RGB in [0, 1] (PS3.3 C.7.6.3.1.2, C.7.6.3.1.5).

use hounsfield_dicom::attr::Object;
use hounsfield_dicom::{tags, Finding};
use ndarray::{Array3, ArrayView3, Axis, Zip};

use crate::decode::StoredFrame;
use crate::describe::{Photometric, PixelDescription};
use crate::error::PixelError;
use crate::palette::PaletteColorLut;

// Full-range YCbCr to RGB, the equations of JFIF 1.02 (ITU-T T.871) that
// PS3.3 C.7.6.3.1.2 uses for YBR_FULL, from the BT.601 luma weights
// Kr = 0.299, Kg = 0.587 and Kb = 0.114.
const CR_TO_RED: f32 = 1.402;
const CB_TO_GREEN: f32 = 0.114 * 1.772 / 0.587;
const CR_TO_GREEN: f32 = 0.299 * 1.402 / 0.587;
const CB_TO_BLUE: f32 = 1.772;

fn check_samples(frame: &StoredFrame, expected: usize) -> Result<(), PixelError> {
    let samples = frame.values.len_of(Axis(0));
    if samples == expected {
        return Ok(());
    }
    Err(PixelError::invalid(
        tags::SAMPLES_PER_PIXEL,
        samples,
        format!(
            "{} needs {expected} sample(s) per pixel",
            frame.colour_space.as_str()
        ),
    ))
}

/// `2^bits - 1`, the largest unsigned value of `bits` bits.
fn maximum_value(bits: u32) -> f32 {
    ((1u64 << bits) - 1) as f32
}

/// Divides RGB samples by `2^bits_stored - 1`, clamping to [0, 1].
fn scale_rgb(values: ArrayView3<i64>, bits_stored: u32) -> Array3<f32> {
    let maximum = maximum_value(bits_stored);
    values.mapv(|value| (value as f32 / maximum).clamp(0.0, 1.0))
}

/// Converts full-range Y, Cb, Cr planes of `bits_stored` bits to RGB in
/// [0, 1]. Cb and Cr are centred on `2^(bits_stored - 1)` (128 for 8 bits),
/// and the results are clamped to `[0, 2^bits_stored - 1]` before scaling.
/// The arithmetic is in `f32`, with no rounding to integers.
fn ybr_full_to_rgb(values: ArrayView3<i64>, bits_stored: u32) -> Array3<f32> {
    let maximum = maximum_value(bits_stored);
    let offset = (1u64 << (bits_stored - 1)) as f32;
    let (_, rows, columns) = values.dim();
    let mut rgb = Array3::<f32>::zeros((3, rows, columns));
    let (red, rest) = rgb.view_mut().split_at(Axis(0), 1);
    let (green, blue) = rest.split_at(Axis(0), 1);
    Zip::from(red.index_axis_move(Axis(0), 0))
        .and(green.index_axis_move(Axis(0), 0))
        .and(blue.index_axis_move(Axis(0), 0))
        .and(values.index_axis(Axis(0), 0))
        .and(values.index_axis(Axis(0), 1))
        .and(values.index_axis(Axis(0), 2))
        .for_each(|r, g, b, &y, &cb, &cr| {
            let y = y as f32;
            let cb = cb as f32 - offset;
            let cr = cr as f32 - offset;
            let scale = |value: f32| value.clamp(0.0, maximum) / maximum;
            *r = scale(y + CR_TO_RED * cr);
            *g = scale(y - CB_TO_GREEN * cb - CR_TO_GREEN * cr);
            *b = scale(y + CB_TO_BLUE * cb);
        });
    rgb
}

/// Converts a colour frame to RGB in [0, 1], shape `(3, rows, columns)`.
///
/// The conversion follows `frame.colour_space`, the colour space the decoder
/// left the samples in:
/// - `RGB`: each sample is divided by `2^BitsStored - 1`.
/// - `YBR_FULL` and `YBR_FULL_422` (whose chroma [`crate::decode_frame`]
///   has already upsampled): the full-range equations of PS3.3 C.7.6.3.1.2,
///   with Cb and Cr centred on `2^(BitsStored - 1)`, for any Bits Stored.
/// - `PALETTE COLOR`: the Palette Color Lookup Tables of `object` (see
///   [`PaletteColorLut::read`]). Tolerated defects of the tables are added
///   to `findings`.
///
/// # Errors
/// [`PixelError::UnsupportedPhotometric`] for grayscale frames, for
/// `YBR_ICT` and `YBR_RCT` that no JPEG 2000 decoder converted, and for
/// other terms; [`PixelError::InvalidAttribute`] when the number of samples
/// does not fit the colour space, or the palette tables are malformed.
///
/// # References
/// PS3.3 C.7.6.3.1.2 (Photometric Interpretation), C.7.6.3.1.5 and
/// C.7.6.3.1.6 (palette descriptors and data), C.7.9 (segmented palettes).
pub fn to_rgb(
    object: &Object,
    description: &PixelDescription,
    frame: &StoredFrame,
    findings: &mut Vec<Finding>,
) -> Result<Array3<f32>, PixelError> {
    let unsupported = |reason: &str| PixelError::UnsupportedPhotometric {
        term: frame.colour_space.as_str().to_string(),
        reason: reason.to_string(),
    };
    match frame.colour_space {
        Photometric::Rgb => {
            check_samples(frame, 3)?;
            Ok(scale_rgb(frame.values.view(), description.bits_stored))
        }
        Photometric::YbrFull | Photometric::YbrFull422 => {
            check_samples(frame, 3)?;
            Ok(ybr_full_to_rgb(
                frame.values.view(),
                description.bits_stored,
            ))
        }
        Photometric::PaletteColor => {
            check_samples(frame, 1)?;
            let lut = PaletteColorLut::read(object, description.signed, findings)?;
            Ok(lut.apply(frame.values.index_axis(Axis(0), 0)))
        }
        Photometric::YbrIct | Photometric::YbrRct => Err(unsupported(
            "only JPEG 2000 codestreams use it, and the frame was not converted by a \
             JPEG 2000 decoder",
        )),
        Photometric::Monochrome1 | Photometric::Monochrome2 => Err(unsupported(
            "the image is grayscale; use the Modality LUT and a VOI window instead of an RGB \
             conversion",
        )),
        Photometric::YbrPartial420 | Photometric::Other(_) => {
            Err(unsupported("no conversion to RGB is implemented for it"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    fn description(bits_stored: u32, photometric: Photometric) -> PixelDescription {
        PixelDescription {
            rows: 1,
            columns: 2,
            samples_per_pixel: 3,
            bits_allocated: if bits_stored > 8 { 16 } else { 8 },
            bits_stored,
            high_bit: bits_stored - 1,
            signed: false,
            photometric,
            planar: false,
            frames: 1,
        }
    }

    /// Builds a 1-row frame with one pixel per sample triple.
    fn frame(pixels: &[[i64; 3]], colour_space: Photometric) -> StoredFrame {
        let mut values = Array3::<i64>::zeros((3, 1, pixels.len()));
        for (column, pixel) in pixels.iter().enumerate() {
            for (sample, &value) in pixel.iter().enumerate() {
                values[[sample, 0, column]] = value;
            }
        }
        StoredFrame {
            values,
            colour_space,
        }
    }

    fn convert(pixels: &[[i64; 3]], bits_stored: u32, colour_space: Photometric) -> Array3<f32> {
        let description = description(bits_stored, colour_space.clone());
        let frame = frame(pixels, colour_space);
        to_rgb(&Object::new_empty(), &description, &frame, &mut Vec::new()).unwrap()
    }

    fn assert_pixel(rgb: &Array3<f32>, column: usize, expected: [f32; 3], maximum: f32) {
        for (channel, &value) in expected.iter().enumerate() {
            let actual = rgb[[channel, 0, column]] * maximum;
            assert!(
                (actual - value).abs() < 0.01,
                "pixel {column} channel {channel}: {actual} != {value}"
            );
        }
    }

    #[test]
    fn rgb_divides_by_bits_stored_range() {
        let rgb = convert(&[[255, 0, 51], [0, 4095, 0]], 12, Photometric::Rgb);
        assert_eq!(rgb[[0, 0, 0]], 255.0 / 4095.0);
        assert_eq!(rgb[[1, 0, 1]], 1.0);
    }

    #[test]
    fn ybr_full_mid_grey_stays_grey() {
        // PS3.3 C.7.6.3.1.2: Cb = Cr = 128 carry no colour, so R = G = B = Y.
        let rgb = convert(&[[128, 128, 128], [0, 128, 128]], 8, Photometric::YbrFull);
        assert_pixel(&rgb, 0, [128.0, 128.0, 128.0], 255.0);
        assert_pixel(&rgb, 1, [0.0, 0.0, 0.0], 255.0);
    }

    #[test]
    fn ybr_full_pure_red_converts_back() {
        // Red (255, 0, 0) in YBR_FULL (PS3.3 C.7.6.3.1.2):
        // Y = 0.299 * 255 = 76.2, Cb = 128 - 0.1687 * 255 = 85.0,
        // Cr = 128 + 0.5 * 255 = 255.5, stored as (76, 85, 255).
        // Back: R = 76 + 1.402 * 127 = 254.05,
        // G = 76 + 0.34414 * 43 - 0.71414 * 127 = 0.10,
        // B = 76 - 1.772 * 43 = -0.20, clamped to 0.
        let rgb = convert(&[[76, 85, 255]], 8, Photometric::YbrFull);
        assert_pixel(&rgb, 0, [254.054, 0.10, 0.0], 255.0);
    }

    #[test]
    fn ybr_full_16_bit_centres_chroma_on_32768() {
        // With Bits Stored 16 the chroma offset is 2^15.
        let rgb = convert(
            &[[32768, 32768, 32768], [19595, 21710, 65535]],
            16,
            Photometric::YbrFull,
        );
        assert_pixel(&rgb, 0, [32768.0, 32768.0, 32768.0], 65535.0);
        // Red at 16 bits: Y = 0.299 * 65535, Cb = 32768 - 0.1687 * 65535 and
        // Cr = 65535 (clipped), which convert back to about (65535, 0, 0).
        assert!(rgb[[0, 0, 1]] > 0.999, "{}", rgb[[0, 0, 1]]);
        assert!(rgb[[1, 0, 1]] < 0.001, "{}", rgb[[1, 0, 1]]);
        assert!(rgb[[2, 0, 1]] < 0.001, "{}", rgb[[2, 0, 1]]);
    }

    #[test]
    fn ybr_full_422_converts_like_ybr_full() {
        // decode_frame has already upsampled the chroma of YBR_FULL_422.
        let full = convert(&[[90, 60, 200]], 8, Photometric::YbrFull);
        let subsampled = convert(&[[90, 60, 200]], 8, Photometric::YbrFull422);
        assert_eq!(full, subsampled);
    }

    #[test]
    fn monochrome_is_rejected() {
        let description = description(8, Photometric::Monochrome2);
        let frame = StoredFrame {
            values: array![[[1, 2]]],
            colour_space: Photometric::Monochrome2,
        };
        let error = to_rgb(&Object::new_empty(), &description, &frame, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("`MONOCHROME2` (0028,0004)"), "{error}");
    }

    #[test]
    fn unconverted_ybr_ict_is_rejected() {
        let error = to_rgb(
            &Object::new_empty(),
            &description(8, Photometric::YbrIct),
            &frame(&[[1, 2, 3]], Photometric::YbrIct),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("`YBR_ICT`"), "{error}");
    }

    #[test]
    fn wrong_sample_count_is_rejected() {
        let frame = StoredFrame {
            values: array![[[1, 2]]],
            colour_space: Photometric::Rgb,
        };
        let result = to_rgb(
            &Object::new_empty(),
            &description(8, Photometric::Rgb),
            &frame,
            &mut Vec::new(),
        );
        assert!(matches!(result, Err(PixelError::InvalidAttribute { .. })));
    }
}
