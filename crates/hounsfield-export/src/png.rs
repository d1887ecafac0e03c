//! PNG encoding of 8- and 16-bit grayscale and RGB images, and conversion of
//! display values in [0, 1] to integer samples.
//!
//! The encoders use `png::Compression::Fast`, which in png 0.18 means DEFLATE
//! by the `fdeflate` crate, with the fixed Paeth row filter in place of the
//! adaptive choice that `Fast` implies. The test `png_encode_timing`
//! measured 512x512 16-bit images in a release build on a 2-core AMD EPYC
//! virtual machine. `Fast` took 1.2 to 1.9 ms per image. The default
//! `Balanced` took 2.8 to 4.0 ms on a smooth gradient and 53 to 69 ms on a
//! noisy synthetic slice, where its file was 14% smaller. `Fastest` uses the
//! fixed `Up` filter. It saved about 0.3 ms at best and made the gradient
//! file four times larger (475 KB against 124 KB). The fixed Paeth filter
//! saved 0.2 ms on both images, for files 0.1% (gradient) and 1.3% (noisy)
//! larger than adaptive filtering. On two windowed CT slices at 8 bits it
//! took 0.40 and 0.48 ms against 0.59 and 0.58 ms, with files 0.2% and 0.5%
//! larger (76.7 and 60.6 KB).

use std::io::Write as _;
use std::path::Path;

use ndarray::{Array, ArrayView, ArrayView2, ArrayView3, Dimension};

use crate::atomic::{AtomicFile, AtomicWriteOptions};
use crate::error::{Error, Result};

/// Compression setting used by every encoder in this module.
const COMPRESSION: png::Compression = png::Compression::Fast;

/// Row filter used by every encoder in this module, in place of the
/// adaptive choice that `COMPRESSION` implies.
const FILTER: png::Filter = png::Filter::Paeth;

/// An image to encode as PNG.
#[derive(Debug, Clone, Copy)]
pub enum PngImage<'a> {
    /// 8-bit grayscale, shape (height, width).
    Gray8(ArrayView2<'a, u8>),
    /// 16-bit grayscale, shape (height, width).
    Gray16(ArrayView2<'a, u16>),
    /// 8-bit RGB, channel-first shape (3, height, width).
    Rgb8(ArrayView3<'a, u8>),
    /// 16-bit RGB, channel-first shape (3, height, width).
    Rgb16(ArrayView3<'a, u16>),
}

/// Encodes an 8-bit grayscale image of shape (height, width).
pub fn encode_png_gray8(image: ArrayView2<'_, u8>) -> Result<Vec<u8>> {
    encode_png(PngImage::Gray8(image))
}

/// Encodes a 16-bit grayscale image of shape (height, width).
pub fn encode_png_gray16(image: ArrayView2<'_, u16>) -> Result<Vec<u8>> {
    encode_png(PngImage::Gray16(image))
}

/// Encodes an 8-bit RGB image of channel-first shape (3, height, width).
pub fn encode_png_rgb8(image: ArrayView3<'_, u8>) -> Result<Vec<u8>> {
    encode_png(PngImage::Rgb8(image))
}

/// Encodes a 16-bit RGB image of channel-first shape (3, height, width).
pub fn encode_png_rgb16(image: ArrayView3<'_, u16>) -> Result<Vec<u8>> {
    encode_png(PngImage::Rgb16(image))
}

/// Encodes `image` as a PNG file in memory.
///
/// Fails with [`Error::InvalidImageShape`] for a zero or too large width or
/// height, or an RGB array whose first axis is not 3.
pub fn encode_png(image: PngImage<'_>) -> Result<Vec<u8>> {
    encode_png_with(image, COMPRESSION, FILTER)
}

/// Encodes `image` and writes it to `path` atomically.
pub fn write_png_atomic(
    path: impl AsRef<Path>,
    image: PngImage<'_>,
    options: AtomicWriteOptions,
) -> Result<()> {
    let bytes = encode_png(image)?;
    let mut file = AtomicFile::create_with(path, options)?;
    file.write_all(&bytes).map_err(|source| Error::Write {
        path: file.temp_path().to_path_buf(),
        source,
    })?;
    file.commit()
}

/// Encodes `image` with the given compression setting and row filter.
pub(crate) fn encode_png_with(
    image: PngImage<'_>,
    compression: png::Compression,
    filter: png::Filter,
) -> Result<Vec<u8>> {
    let raw = RawImage::from_image(image)?;

    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, raw.width, raw.height);
    encoder.set_color(raw.color);
    encoder.set_depth(raw.depth);
    encoder.set_compression(compression);
    encoder.set_filter(filter);
    let mut writer = encoder
        .write_header()
        .map_err(|source| Error::PngEncode { source })?;
    writer
        .write_image_data(&raw.data)
        .map_err(|source| Error::PngEncode { source })?;
    writer
        .finish()
        .map_err(|source| Error::PngEncode { source })?;
    Ok(out)
}

/// Interleaved sample bytes in PNG order, with the header fields that describe them.
struct RawImage {
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    data: Vec<u8>,
}

impl RawImage {
    fn from_image(image: PngImage<'_>) -> Result<Self> {
        match image {
            PngImage::Gray8(view) => {
                let (width, height) = check_gray_shape(view.shape(), "8-bit grayscale PNG")?;
                // A row-major view is already in PNG order: one copy.
                let data = match view.as_slice() {
                    Some(samples) => samples.to_vec(),
                    None => view.iter().copied().collect(),
                };
                Ok(Self {
                    width,
                    height,
                    color: png::ColorType::Grayscale,
                    depth: png::BitDepth::Eight,
                    data,
                })
            }
            PngImage::Gray16(view) => {
                let (width, height) = check_gray_shape(view.shape(), "16-bit grayscale PNG")?;
                // PNG stores 16-bit samples big-endian.
                let mut data = vec![0; view.len() * 2];
                for (pair, &value) in data.chunks_exact_mut(2).zip(view.iter()) {
                    pair.copy_from_slice(&value.to_be_bytes());
                }
                Ok(Self {
                    width,
                    height,
                    color: png::ColorType::Grayscale,
                    depth: png::BitDepth::Sixteen,
                    data,
                })
            }
            PngImage::Rgb8(view) => {
                let (width, height) = check_rgb_shape(view.shape(), "8-bit RGB PNG")?;
                // (3, H, W) permuted to (H, W, 3) iterates in PNG's interleaved order.
                let interleaved = view.permuted_axes([1, 2, 0]);
                Ok(Self {
                    width,
                    height,
                    color: png::ColorType::Rgb,
                    depth: png::BitDepth::Eight,
                    data: interleaved.iter().copied().collect(),
                })
            }
            PngImage::Rgb16(view) => {
                let (width, height) = check_rgb_shape(view.shape(), "16-bit RGB PNG")?;
                let interleaved = view.permuted_axes([1, 2, 0]);
                let mut data = Vec::with_capacity(view.len() * 2);
                for &value in interleaved.iter() {
                    data.extend_from_slice(&value.to_be_bytes());
                }
                Ok(Self {
                    width,
                    height,
                    color: png::ColorType::Rgb,
                    depth: png::BitDepth::Sixteen,
                    data,
                })
            }
        }
    }
}

/// Checks a (height, width) shape and returns (width, height) for the PNG header.
fn check_gray_shape(shape: &[usize], kind: &'static str) -> Result<(u32, u32)> {
    check_dimensions(shape, shape[0], shape[1], kind)
}

/// Checks a (3, height, width) shape and returns (width, height) for the PNG header.
fn check_rgb_shape(shape: &[usize], kind: &'static str) -> Result<(u32, u32)> {
    if shape[0] != 3 {
        return Err(Error::InvalidImageShape {
            shape: shape.to_vec(),
            kind,
            reason: format!(
                "expected channel-first shape (3, height, width), got {} channels",
                shape[0]
            ),
        });
    }
    check_dimensions(shape, shape[1], shape[2], kind)
}

fn check_dimensions(
    shape: &[usize],
    height: usize,
    width: usize,
    kind: &'static str,
) -> Result<(u32, u32)> {
    // PNG limits both dimensions to 1..=2^31 - 1.
    const MAX_DIMENSION: usize = (1 << 31) - 1;
    let valid = |len: usize| (1..=MAX_DIMENSION).contains(&len);
    if !valid(height) || !valid(width) {
        return Err(Error::InvalidImageShape {
            shape: shape.to_vec(),
            kind,
            reason: format!("width and height must be between 1 and {MAX_DIMENSION}"),
        });
    }
    // Both values are at most 2^31 - 1, so the casts are lossless.
    Ok((width as u32, height as u32))
}

/// Converts a display value in [0, 1] to an 8-bit sample.
///
/// The value is clamped to [0, 1], multiplied by 255 and rounded half away
/// from zero, so 0.5 maps to 128 and 1.0 to 255. NaN maps to 0.
#[inline]
pub fn unit_to_u8(value: f32) -> u8 {
    // At most 255, so the cast is lossless.
    scale_unit(value, 255.0) as u8
}

/// Converts a display value in [0, 1] to a 16-bit sample.
///
/// The value is clamped to [0, 1], multiplied by 65535 and rounded half away
/// from zero, so 0.5 maps to 32768 and 1.0 to 65535. NaN maps to 0.
#[inline]
pub fn unit_to_u16(value: f32) -> u16 {
    // At most 65535, so the cast is lossless.
    scale_unit(value, 65535.0) as u16
}

/// Converts every element with [`unit_to_u8`].
pub fn unit_array_to_u8<D: Dimension>(values: ArrayView<'_, f32, D>) -> Array<u8, D> {
    values.mapv(unit_to_u8)
}

/// Converts every element with [`unit_to_u16`].
pub fn unit_array_to_u16<D: Dimension>(values: ArrayView<'_, f32, D>) -> Array<u16, D> {
    values.mapv(unit_to_u16)
}

/// Clamps `value` to [0, 1], scales it by `max` and rounds half away from zero.
///
/// The product is computed in f64, where an f32 times 65535 is exact, so
/// the rounding applies to the exact product of the input. For a product
/// `p` in [0, 65535], `p + 0.5` is exact too (at most 41 significant bits),
/// so truncating it with `as` equals `p.round()`. The cast compiles to one
/// instruction, while `f64::round` and `f64::trunc` are library calls on
/// x86-64 targets without SSE4.1.
#[inline]
fn scale_unit(value: f32, max: f64) -> u32 {
    if value.is_nan() {
        return 0;
    }
    (f64::from(value).clamp(0.0, 1.0) * max + 0.5) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr2, Array2, Array3};

    /// Decodes `bytes` and returns the header info and the raw sample bytes.
    fn decode(bytes: &[u8]) -> (png::BitDepth, png::ColorType, u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (
            info.bit_depth,
            info.color_type,
            info.width,
            info.height,
            buf,
        )
    }

    #[test]
    fn gray8_round_trip() {
        let image = arr2(&[[0u8, 1, 2], [127, 128, 255]]);

        let (depth, color, width, height, data) = decode(&encode_png_gray8(image.view()).unwrap());

        assert_eq!(depth, png::BitDepth::Eight);
        assert_eq!(color, png::ColorType::Grayscale);
        assert_eq!((width, height), (3, 2));
        assert_eq!(data, vec![0, 1, 2, 127, 128, 255]);
    }

    #[test]
    fn gray16_round_trip_big_endian() {
        let image = arr2(&[[0u16, 1, 256], [0x1234, 0xFFFE, 0xFFFF]]);

        let (depth, color, width, height, data) = decode(&encode_png_gray16(image.view()).unwrap());

        assert_eq!(depth, png::BitDepth::Sixteen);
        assert_eq!(color, png::ColorType::Grayscale);
        assert_eq!((width, height), (3, 2));
        let values: Vec<u16> = data
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        assert_eq!(values, vec![0, 1, 256, 0x1234, 0xFFFE, 0xFFFF]);
    }

    #[test]
    fn gray16_transposed_view_round_trip() {
        let image = Array2::from_shape_fn((4, 3), |(i, j)| (i * 1000 + j) as u16);

        let (_, _, width, height, data) = decode(&encode_png_gray16(image.t()).unwrap());

        assert_eq!((width, height), (4, 3));
        let values: Vec<u16> = data
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        let expected: Vec<u16> = image.t().iter().copied().collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn rgb8_channel_first_round_trip() {
        // 2x2 image: red, green / blue, light gray.
        let mut image = Array3::<u8>::zeros((3, 2, 2));
        image[[0, 0, 0]] = 255;
        image[[1, 0, 1]] = 255;
        image[[2, 1, 0]] = 255;
        for channel in 0..3 {
            image[[channel, 1, 1]] = 200 + channel as u8;
        }

        let (depth, color, width, height, data) = decode(&encode_png_rgb8(image.view()).unwrap());

        assert_eq!(depth, png::BitDepth::Eight);
        assert_eq!(color, png::ColorType::Rgb);
        assert_eq!((width, height), (2, 2));
        assert_eq!(data, vec![255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 201, 202]);
    }

    #[test]
    fn rgb16_channel_first_round_trip() {
        let image = Array3::from_shape_fn((3, 2, 3), |(c, y, x)| {
            (c as u16) * 20_000 + (y as u16) * 300 + x as u16 + 1
        });

        let (depth, color, width, height, data) = decode(&encode_png_rgb16(image.view()).unwrap());

        assert_eq!(depth, png::BitDepth::Sixteen);
        assert_eq!(color, png::ColorType::Rgb);
        assert_eq!((width, height), (3, 2));
        let values: Vec<u16> = data
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        let mut expected = Vec::new();
        for y in 0..2 {
            for x in 0..3 {
                for c in 0..3 {
                    expected.push(image[[c, y, x]]);
                }
            }
        }
        assert_eq!(values, expected);
    }

    #[test]
    fn rgb_wrong_channel_count_rejected() {
        let image = Array3::<u8>::zeros((4, 2, 2));

        let err = encode_png_rgb8(image.view()).unwrap_err();

        assert!(matches!(err, Error::InvalidImageShape { .. }), "{err}");
        assert!(err.to_string().contains("4 channels"), "{err}");
    }

    #[test]
    fn empty_image_rejected() {
        let image = Array2::<u8>::zeros((0, 5));

        let err = encode_png_gray8(image.view()).unwrap_err();

        assert!(matches!(err, Error::InvalidImageShape { .. }), "{err}");
    }

    #[test]
    fn write_png_atomic_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slices/slice.png");
        let image = arr2(&[[10u16, 20], [30, 40]]);

        write_png_atomic(
            &path,
            PngImage::Gray16(image.view()),
            AtomicWriteOptions::default(),
        )
        .unwrap();

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, encode_png_gray16(image.view()).unwrap());
    }

    #[test]
    fn unit_to_u8_cases() {
        let cases = [
            (0.0f32, 0u8),
            (1.0, 255),
            (0.5, 128),
            (-0.25, 0),
            (1.5, 255),
            (f32::INFINITY, 255),
            (f32::NEG_INFINITY, 0),
            (f32::NAN, 0),
            (-0.0, 0),
            (1.0 / 255.0, 1),
        ];
        for (value, expected) in cases {
            assert_eq!(unit_to_u8(value), expected, "value {value}");
        }
    }

    #[test]
    fn unit_to_u8_half_step_rounds_up() {
        // 1/510 is half of one 8-bit step. The nearest f32 lies above 1/510, so
        // the exact product with 255 is just above 0.5 and rounds to 1.
        let value = 1.0f32 / 510.0;
        assert!(f64::from(value) > 1.0 / 510.0);

        assert_eq!(unit_to_u8(value), 1);
        assert_eq!(unit_to_u8(0.5 * value), 0);
    }

    #[test]
    fn scale_unit_matches_f64_round() {
        // Every f32 in [0, 1] with its neighbours one ULP away, on a grid
        // finer than one 16-bit step, and values just outside the range.
        let reference =
            |value: f32, max: f64| (f64::from(value).clamp(0.0, 1.0) * max).round() as u32;
        for step in 0..=1_000_000u32 {
            let center = step as f32 / 1_000_000.0;
            for value in [
                center,
                f32::from_bits(center.to_bits() + 1),
                center - f32::EPSILON,
            ] {
                for max in [255.0, 65535.0] {
                    assert_eq!(
                        scale_unit(value, max),
                        reference(value, max),
                        "{value} * {max}"
                    );
                }
            }
        }
        assert_eq!(scale_unit(-0.25, 255.0), 0);
        assert_eq!(scale_unit(1.5, 65535.0), 65535);
    }

    #[test]
    fn unit_to_u16_cases() {
        let cases = [
            (0.0f32, 0u16),
            (1.0, 65535),
            (0.5, 32768),
            (-1.0, 0),
            (2.0, 65535),
            (f32::NAN, 0),
            (1.0 / 65535.0, 1),
        ];
        for (value, expected) in cases {
            assert_eq!(unit_to_u16(value), expected, "value {value}");
        }
    }

    #[test]
    fn unit_to_u16_half_step_of_u8() {
        // 1/510 times 65535 is 128.5 in exact arithmetic. The f32 input is a
        // little larger, so the result is 129.
        assert_eq!(unit_to_u16(1.0f32 / 510.0), 129);
    }

    #[test]
    fn unit_array_conversion_keeps_shape() {
        let values = arr2(&[[0.0f32, 0.5], [1.0, f32::NAN]]);

        assert_eq!(
            unit_array_to_u8(values.view()),
            arr2(&[[0u8, 128], [255, 0]])
        );
        assert_eq!(
            unit_array_to_u16(values.view()),
            arr2(&[[0u16, 32768], [65535, 0]])
        );
    }

    /// Returns the median of `samples` encode times of `image` in microseconds, and the size.
    fn time_encode(
        image: PngImage<'_>,
        (compression, filter): (png::Compression, png::Filter),
        samples: usize,
    ) -> (u128, usize) {
        let mut times = Vec::with_capacity(samples);
        let mut size = 0;
        for _ in 0..samples {
            let start = std::time::Instant::now();
            let bytes = encode_png_with(image, compression, filter).unwrap();
            times.push(start.elapsed().as_micros());
            size = bytes.len();
        }
        times.sort_unstable();
        (times[samples / 2], size)
    }

    /// Prints PNG encode times for a 512x512 16-bit image per compression
    /// setting and row filter.
    ///
    /// Run with `cargo test -p hounsfield-export --release -- --ignored --nocapture png_encode_timing`.
    #[test]
    #[ignore = "timing measurement, run on demand"]
    fn png_encode_timing() {
        let gradient = Array2::from_shape_fn((512, 512), |(y, x)| ((y * 512 + x) / 4) as u16);
        // A CT-like slice: smooth structure plus pseudo-random noise in the low bits.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let noisy = Array2::from_shape_fn((512, 512), |(y, x)| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let structure = if (y as i64 - 256).pow(2) + (x as i64 - 256).pow(2) < 200 * 200 {
                1000
            } else {
                24
            };
            structure + (state % 64) as u16
        });

        let adaptive = png::Filter::Adaptive;
        let settings = [
            ("Balanced (default)", (png::Compression::Balanced, adaptive)),
            ("Fast", (png::Compression::Fast, adaptive)),
            ("Fast, Paeth", (png::Compression::Fast, png::Filter::Paeth)),
            ("Fastest", (png::Compression::Fastest, png::Filter::Up)),
        ];
        for (name, image) in [("gradient", &gradient), ("noisy", &noisy)] {
            for (setting, options) in settings {
                let (micros, size) = time_encode(PngImage::Gray16(image.view()), options, 21);
                println!(
                    "{name:>8} 512x512 16-bit {setting:<20} median {micros:>7} us  {size:>7} bytes"
                );
            }
        }
    }
}
