//! Pixel Data to stored values (PS3.5 8, Annex A.4; PS3.3 C.7.6.3).
//!
//! Native Pixel Data is unpacked here, not by `dicom-pixeldata`: its native
//! path cannot handle Planar Configuration 1, Bits Allocated 1 or 32, or
//! multi-frame bit-packed images, and its "no modality LUT" option skips the
//! Bits Stored mask and sign extension. Encapsulated data goes through the
//! `dicom-pixeldata` codecs and is then unpacked by the same code, except
//! JPEG Baseline and Extended, which [`crate::jpeg`] decodes so that no
//! colour transform is applied behind the header's back.

use dicom_core::value::Value;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use hounsfield_dicom::{error_chain, tags, DicomFile, Finding, Severity};
use ndarray::{Array2, Array3};

use crate::describe::{Photometric, PixelDescription};
use crate::encapsulated::frame_codestream;
use crate::error::PixelError;
use crate::jpeg;
use crate::jpeg2000;
use crate::rle;

/// Explicit VR Big Endian (retired), whose OW data the parser reads as
/// 16-bit words.
const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// Limits that protect against absurd image dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest decoded frame, in bytes of stored samples, that a codec may
    /// be asked to produce.
    pub max_frame_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 1 GiB holds a 16384 x 16384 RGB frame at 16 bits per sample, far
        // above any clinical image.
        DecodeLimits {
            max_frame_bytes: 1 << 30,
        }
    }
}

/// Stored values of one frame, channel-first `(samples, rows, columns)`:
/// Bits Stored extracted, high bits masked off and sign extended per Pixel
/// Representation. Colour samples are in `colour_space`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFrame {
    /// Values, shape `(samples per pixel, rows, columns)`.
    pub values: Array3<i64>,
    /// The photometric interpretation the values are in. It is the file's,
    /// except in these cases:
    /// - `RGB` when a JPEG 2000 codec already converted `YBR_ICT` or
    ///   `YBR_RCT`;
    /// - `YBR_FULL` for native `YBR_FULL_422`, whose chroma is upsampled
    ///   here;
    /// - for JPEG Baseline and Extended, `YBR_FULL` or `RGB` as the
    ///   codestream markers give it.
    pub colour_space: Photometric,
}

/// Tells whether the `dicom-pixeldata` codec of an encapsulated transfer
/// syntax converts the colour space to RGB, as the JPEG 2000 codecs do for
/// their component transforms.
fn codec_outputs_rgb(transfer_syntax: &str, photometric: &Photometric) -> bool {
    matches!(photometric, Photometric::YbrIct | Photometric::YbrRct) && is_jpeg2000(transfer_syntax)
}

/// Tells whether a transfer syntax is one of JPEG 2000 (Part 1 or HTJ2K).
fn is_jpeg2000(transfer_syntax: &str) -> bool {
    matches!(
        transfer_syntax,
        "1.2.840.10008.1.2.4.90"
            | "1.2.840.10008.1.2.4.91"
            | "1.2.840.10008.1.2.4.201"
            | "1.2.840.10008.1.2.4.202"
            | "1.2.840.10008.1.2.4.203"
    )
}

fn transfer_syntax_name(uid: &str) -> String {
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Decodes frame `frame` (0-based) of `file` to stored values.
pub fn decode_frame(
    file: &DicomFile,
    description: &PixelDescription,
    frame: u32,
    limits: &DecodeLimits,
    findings: &mut Vec<Finding>,
) -> Result<StoredFrame, PixelError> {
    check_frame(description, frame, limits)?;
    let element = file
        .object
        .get(tags::PIXEL_DATA)
        .ok_or(PixelError::NoPixelData)?;
    let transfer_syntax = file.transfer_syntax().trim_end_matches('\0').to_string();
    match element.value() {
        Value::Primitive(value) => {
            let bytes = value.to_bytes();
            if description.photometric == Photometric::YbrFull422 {
                return decode_native_ybr_full_422(description, &bytes, frame, findings);
            }
            let big_endian_words = transfer_syntax == EXPLICIT_VR_BIG_ENDIAN;
            if frame == 0 {
                let expected = description.native_length() as usize;
                check_native_length(description, expected, bytes.len(), findings)?;
            }
            Ok(StoredFrame {
                values: stored_values(description, &bytes, frame, big_endian_words, findings)?,
                colour_space: description.photometric.clone(),
            })
        }
        Value::PixelSequence(_) if is_jpeg_dct(&transfer_syntax) => {
            decode_jpeg(file, description, frame, &transfer_syntax, limits, findings)
        }
        Value::PixelSequence(_) if transfer_syntax == rle::RLE_LOSSLESS => {
            decode_rle(file, description, frame, findings)
        }
        Value::PixelSequence(_) => {
            decode_encapsulated(file, description, frame, &transfer_syntax, findings)
        }
        Value::Sequence(_) => Err(PixelError::invalid(
            tags::PIXEL_DATA,
            "a sequence",
            "Pixel Data must be a value or a pixel item sequence",
        )),
    }
}

/// Checks that `frame` exists and that its decoded size is within `limits`.
fn check_frame(
    description: &PixelDescription,
    frame: u32,
    limits: &DecodeLimits,
) -> Result<(), PixelError> {
    if frame >= description.frames {
        return Err(PixelError::FrameOutOfRange {
            frame,
            frames: description.frames,
        });
    }
    let frame_bytes = description.native_frame_bits().div_ceil(8);
    if frame_bytes > limits.max_frame_bytes {
        return Err(PixelError::TooLarge {
            description: description.summary(),
            bytes: frame_bytes,
            limit: limits.max_frame_bytes,
        });
    }
    Ok(())
}

/// Decodes frame `frame` of native grayscale Pixel Data with 8 or 16 bits
/// allocated, the common case of CT, MR and projection radiography, to
/// stored values as `i32`. An `i32` fits every such value and converts to
/// floating point in vector registers. The values and findings are those
/// of [`decode_frame`], in half the memory.
///
/// Returns `Ok(None)` for every other frame, which [`decode_frame`] takes.
pub fn decode_native_gray(
    file: &DicomFile,
    description: &PixelDescription,
    frame: u32,
    limits: &DecodeLimits,
    findings: &mut Vec<Finding>,
) -> Result<Option<Array2<i32>>, PixelError> {
    let bytes_per_sample = match description.bits_allocated {
        8 => 1,
        16 => 2,
        _ => return Ok(None),
    };
    if description.samples_per_pixel != 1 || !description.photometric.is_monochrome() {
        return Ok(None);
    }
    let Some(Value::Primitive(value)) = file.object.get(tags::PIXEL_DATA).map(|e| e.value()) else {
        return Ok(None);
    };
    check_frame(description, frame, limits)?;
    let bytes = value.to_bytes();
    if frame == 0 {
        let expected = description.native_length() as usize;
        check_native_length(description, expected, bytes.len(), findings)?;
    }
    let data = frame_slice(description, &bytes, frame, bytes_per_sample)?;
    let (values, dirty) =
        plane_values::<i32>(&StoredBits::new(description), data, bytes_per_sample);
    report_unused_bits(description, dirty, findings);
    let shape = (description.rows as usize, description.columns as usize);
    Array2::from_shape_vec(shape, values)
        .map(Some)
        .map_err(|error| PixelError::Unsupported(format!("pixel layout: {error}")))
}

fn is_jpeg_dct(transfer_syntax: &str) -> bool {
    transfer_syntax == jpeg::JPEG_BASELINE || transfer_syntax == jpeg::JPEG_EXTENDED
}

/// Decodes a JPEG Baseline or Extended frame with [`jpeg::decode`], which
/// leaves the colour components as stored.
fn decode_jpeg(
    file: &DicomFile,
    description: &PixelDescription,
    frame: u32,
    transfer_syntax: &str,
    limits: &DecodeLimits,
    findings: &mut Vec<Finding>,
) -> Result<StoredFrame, PixelError> {
    let name = transfer_syntax_name(transfer_syntax);
    let element = file
        .object
        .get(tags::PIXEL_DATA)
        .ok_or(PixelError::NoPixelData)?;
    let (Some(offset_table), Some(fragments)) =
        (element.value().offset_table(), element.value().fragments())
    else {
        return Err(PixelError::NoPixelData);
    };
    let stream = frame_codestream(
        &file.object,
        offset_table,
        fragments,
        description.frames,
        frame,
        &jpeg::START_OF_IMAGE,
    )?;
    let decoded = jpeg::decode(
        &stream,
        transfer_syntax,
        &name,
        description,
        frame,
        limits.max_frame_bytes,
        findings,
    )?;

    // The decoder returns interleaved 8-bit samples, regardless of Bits
    // Allocated and Planar Configuration.
    let mut layout = description.clone();
    layout.frames = 1;
    layout.planar = false;
    layout.bits_allocated = 8;
    layout.bits_stored = layout.bits_stored.min(8);
    layout.high_bit = layout.bits_stored - 1;
    Ok(StoredFrame {
        values: stored_values(&layout, &decoded.samples, 0, false, findings)?,
        colour_space: decoded.colour_space,
    })
}

/// Returns the codestream of frame `frame` of encapsulated Pixel Data (see
/// [`frame_codestream`]).
fn encapsulated_frame<'a>(
    file: &'a DicomFile,
    description: &PixelDescription,
    frame: u32,
    start_marker: &[u8],
) -> Result<std::borrow::Cow<'a, [u8]>, PixelError> {
    let element = file
        .object
        .get(tags::PIXEL_DATA)
        .ok_or(PixelError::NoPixelData)?;
    let (Some(offset_table), Some(fragments)) =
        (element.value().offset_table(), element.value().fragments())
    else {
        return Err(PixelError::NoPixelData);
    };
    frame_codestream(
        &file.object,
        offset_table,
        fragments,
        description.frames,
        frame,
        start_marker,
    )
}

/// Decodes an RLE Lossless frame with [`rle::decode`], which gives planar
/// little-endian samples.
fn decode_rle(
    file: &DicomFile,
    description: &PixelDescription,
    frame: u32,
    findings: &mut Vec<Finding>,
) -> Result<StoredFrame, PixelError> {
    // RLE has no start marker: each fragment is taken to start a frame.
    let stream = encapsulated_frame(file, description, frame, &[])?;
    let bytes = rle::decode(&stream, description, frame)?;
    let mut layout = description.clone();
    layout.frames = 1;
    layout.planar = true;
    Ok(StoredFrame {
        values: stored_values(&layout, &bytes, 0, false, findings)?,
        colour_space: description.photometric.clone(),
    })
}

/// Decodes a native `YBR_FULL_422` frame. PS3.3 C.7.6.3.1.2 stores each pair
/// of horizontally adjacent pixels as `Y1 Y2 Cb Cr`, so a frame contains 2
/// samples per pixel. The chroma is repeated for both pixels of the pair (as
/// pydicom 3.0 does), giving `YBR_FULL`.
///
/// Files whose Pixel Data has the length of 3 samples per pixel are
/// mislabelled `YBR_FULL`: they are read as such, with a warning.
fn decode_native_ybr_full_422(
    description: &PixelDescription,
    bytes: &[u8],
    frame: u32,
    findings: &mut Vec<Finding>,
) -> Result<StoredFrame, PixelError> {
    let full_length = description.native_length() as usize;
    if bytes.len() >= full_length {
        if frame == 0 {
            findings.push(Finding::about(
                Severity::Warning,
                "ybr-full-422-not-subsampled",
                tags::PHOTOMETRIC_INTERPRETATION,
                format!(
                    "Photometric Interpretation is YBR_FULL_422 but Pixel Data has {} bytes, \
                     enough for 3 samples per pixel, so it was read as YBR_FULL",
                    bytes.len()
                ),
            ));
        }
        return Ok(StoredFrame {
            values: stored_values(description, bytes, frame, false, findings)?,
            colour_space: Photometric::YbrFull,
        });
    }

    // Two thirds of the 3-sample length: 2 samples per pixel.
    let expected = full_length / 3 * 2;
    if frame == 0 {
        check_native_length(description, expected, bytes.len(), findings)?;
    }
    let values = unpack_ybr_full_422(description, bytes, frame)?;
    let mut layout = description.clone();
    layout.planar = false;
    Ok(StoredFrame {
        values: finish_stored(&layout, values, findings)?,
        colour_space: Photometric::YbrFull,
    })
}

/// Reads one native `YBR_FULL_422` frame into `(3, rows, columns)` planes
/// of Y, Cb and Cr container values, each chroma sample repeated for the
/// two pixels of its pair. Pairs run on across row ends, as pixels do.
fn unpack_ybr_full_422(
    description: &PixelDescription,
    bytes: &[u8],
    frame: u32,
) -> Result<Array3<u32>, PixelError> {
    let pixels = description.pixels_per_frame();
    let bytes_per_sample = match description.bits_allocated {
        8 => 1,
        16 => 2,
        other => {
            return Err(PixelError::Unsupported(format!(
                "native YBR_FULL_422 with Bits Allocated {other} (8 or 16 expected)"
            )))
        }
    };
    if pixels % 2 == 1 {
        return Err(PixelError::Unsupported(format!(
            "native YBR_FULL_422 with an odd number of pixels per frame ({pixels})"
        )));
    }
    let frame_bytes = pixels * 2 * bytes_per_sample;
    let start = frame_bytes * frame as usize;
    let Some(data) = bytes.get(start..start + frame_bytes) else {
        return Err(PixelError::PixelDataTooShort {
            expected: start + frame_bytes,
            actual: bytes.len(),
            description: format!("{} as YBR_FULL_422", description.summary()),
        });
    };
    let samples: Vec<u32> = if bytes_per_sample == 1 {
        data.iter().map(|&b| u32::from(b)).collect()
    } else {
        data.chunks_exact(2)
            .map(|pair| u32::from(u16::from_le_bytes([pair[0], pair[1]])))
            .collect()
    };

    let mut planes = vec![0u32; 3 * pixels];
    let (luma, chroma) = planes.split_at_mut(pixels);
    let (blue, red) = chroma.split_at_mut(pixels);
    for (pair, group) in samples.chunks_exact(4).enumerate() {
        let [y1, y2, cb, cr] = [group[0], group[1], group[2], group[3]];
        let first = 2 * pair;
        luma[first] = y1;
        luma[first + 1] = y2;
        blue[first] = cb;
        blue[first + 1] = cb;
        red[first] = cr;
        red[first + 1] = cr;
    }
    let shape = (3, description.rows as usize, description.columns as usize);
    Array3::from_shape_vec(shape, planes)
        .map_err(|error| PixelError::Unsupported(format!("pixel layout: {error}")))
}

fn decode_encapsulated(
    file: &DicomFile,
    description: &PixelDescription,
    frame: u32,
    transfer_syntax: &str,
    findings: &mut Vec<Finding>,
) -> Result<StoredFrame, PixelError> {
    let name = transfer_syntax_name(transfer_syntax);
    match TransferSyntaxRegistry.get(transfer_syntax) {
        None => {
            return Err(PixelError::UnsupportedTransferSyntax {
                uid: transfer_syntax.to_string(),
                name,
                reason: "the transfer syntax is not known".into(),
            })
        }
        Some(ts) if !ts.can_decode_all() => {
            return Err(PixelError::UnsupportedTransferSyntax {
                uid: transfer_syntax.to_string(),
                name,
                reason: "no decoder for it is built in".into(),
            })
        }
        Some(_) => {}
    }
    if is_jpeg2000(transfer_syntax) {
        let stream = encapsulated_frame(file, description, frame, &jpeg2000::START_OF_CODESTREAM)?;
        jpeg2000::check_header(&stream, description).map_err(|reason| PixelError::Decode {
            syntax: name.clone(),
            message: format!("frame {frame}: {reason}"),
        })?;
    }
    let decoded = file
        .object
        .decode_pixel_data_frame(frame)
        .map_err(|error| PixelError::Decode {
            syntax: name.clone(),
            message: error_chain(&error),
        })?;
    let decoded_bits = u32::from(decoded.bits_allocated());
    let mut layout = description.clone();
    layout.frames = 1;
    layout.planar = false;
    if decoded_bits != layout.bits_allocated {
        if !matches!(decoded_bits, 8 | 16 | 32) {
            return Err(PixelError::Decode {
                syntax: name,
                message: format!("the codec returned {decoded_bits}-bit samples"),
            });
        }
        layout.bits_allocated = decoded_bits;
        layout.high_bit = layout.high_bit.min(decoded_bits - 1);
        layout.bits_stored = layout.bits_stored.min(decoded_bits);
    }
    let data = decoded.data();
    let expected = layout.native_length() as usize;
    if data.len() < expected {
        return Err(PixelError::Decode {
            syntax: name,
            message: format!(
                "the codec returned {} bytes for frame {frame}, expected {expected} for {}",
                data.len(),
                description.summary()
            ),
        });
    }
    let values = stored_values(&layout, data, 0, false, findings)?;
    let colour_space = if codec_outputs_rgb(transfer_syntax, &description.photometric) {
        Photometric::Rgb
    } else {
        description.photometric.clone()
    };
    Ok(StoredFrame {
        values,
        colour_space,
    })
}

/// Checks the native Pixel Data length, `actual` bytes, against the
/// `expected` length that the attributes give (PS3.5 8.1.1): one trailing
/// pad byte is normal, excess bytes are ignored with a warning, too few
/// bytes are an error.
fn check_native_length(
    description: &PixelDescription,
    expected: usize,
    actual: usize,
    findings: &mut Vec<Finding>,
) -> Result<(), PixelError> {
    if actual < expected {
        return Err(PixelError::PixelDataTooShort {
            expected,
            actual,
            description: description.summary(),
        });
    }
    let padded = expected + expected % 2;
    if actual > padded {
        findings.push(Finding::about(
            Severity::Warning,
            "pixel-data-excess",
            tags::PIXEL_DATA,
            format!(
                "Pixel Data has {actual} bytes, {expected} expected for {}; the extra bytes were ignored",
                description.summary()
            ),
        ));
    } else if expected % 2 == 1 && actual == expected {
        findings.push(Finding::about(
            Severity::Warning,
            "pixel-data-odd-length",
            tags::PIXEL_DATA,
            format!("Pixel Data has an odd length ({actual} bytes) without the pad byte"),
        ));
    }
    Ok(())
}

/// Reads the raw container values of one frame, channel-first.
fn unpack_native(
    description: &PixelDescription,
    bytes: &[u8],
    frame: u32,
    big_endian_words: bool,
) -> Result<Array3<u32>, PixelError> {
    let pixels = description.pixels_per_frame();
    let samples = description.samples_per_pixel as usize;
    let count = pixels * samples;
    let bits = description.bits_allocated as usize;
    let first_bit = count as u64 * bits as u64 * u64::from(frame);
    let needed_bits = first_bit + (count * bits) as u64;
    if (bytes.len() as u64) * 8 < needed_bits {
        return Err(PixelError::PixelDataTooShort {
            expected: needed_bits.div_ceil(8) as usize,
            actual: bytes.len(),
            description: description.summary(),
        });
    }
    let start = (first_bit / 8) as usize;
    let raw: Vec<u32> = match bits {
        1 => {
            // PS3.5 D.2: pixels are packed least significant bit first and
            // frames follow each other without padding to a byte.
            (0..count as u64)
                .map(|i| {
                    let bit = first_bit + i;
                    u32::from((bytes[(bit / 8) as usize] >> (bit % 8)) & 1)
                })
                .collect()
        }
        8 => bytes[start..start + count]
            .iter()
            .map(|&b| u32::from(b))
            .collect(),
        16 => bytes[start..start + 2 * count]
            .chunks_exact(2)
            .map(|pair| u32::from(u16::from_le_bytes([pair[0], pair[1]])))
            .collect(),
        32 => bytes[start..start + 4 * count]
            .chunks_exact(4)
            .map(|quad| {
                if big_endian_words {
                    // The parser turned each big-endian 16-bit word into host
                    // order; the first word holds the high half of the value.
                    let high = u32::from(u16::from_le_bytes([quad[0], quad[1]]));
                    let low = u32::from(u16::from_le_bytes([quad[2], quad[3]]));
                    (high << 16) | low
                } else {
                    u32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]])
                }
            })
            .collect(),
        other => return Err(PixelError::Unsupported(format!("Bits Allocated {other}"))),
    };
    let shape = (
        samples,
        description.rows as usize,
        description.columns as usize,
    );
    let planes = if description.planar || samples == 1 {
        Array3::from_shape_vec(shape, raw)
    } else {
        // Interleaved: pixel-major (R G B R G B ...), so read as
        // (rows, columns, samples) and move the sample axis first.
        Array3::from_shape_vec(
            (
                description.rows as usize,
                description.columns as usize,
                samples,
            ),
            raw,
        )
        .map(|interleaved| {
            interleaved
                .permuted_axes([2, 0, 1])
                .as_standard_layout()
                .into_owned()
        })
    };
    planes.map_err(|error| PixelError::Unsupported(format!("pixel layout: {error}")))
}

/// Reads the stored values of frame `frame` of `bytes`, laid out as
/// `description` says: [`unpack_native`] followed by [`finish_stored`].
/// Samples of 8 and 16 bits in plane order (one sample per pixel, or Planar
/// Configuration 1) take a single pass with no intermediate array.
fn stored_values(
    description: &PixelDescription,
    bytes: &[u8],
    frame: u32,
    big_endian_words: bool,
    findings: &mut Vec<Finding>,
) -> Result<Array3<i64>, PixelError> {
    let plane_order = description.planar || description.samples_per_pixel == 1;
    let bytes_per_sample = match description.bits_allocated {
        8 if plane_order => 1,
        16 if plane_order => 2,
        _ => {
            let raw = unpack_native(description, bytes, frame, big_endian_words)?;
            return finish_stored(description, raw, findings);
        }
    };
    let data = frame_slice(description, bytes, frame, bytes_per_sample)?;
    let (values, dirty) =
        plane_values::<i64>(&StoredBits::new(description), data, bytes_per_sample);
    report_unused_bits(description, dirty, findings);
    let shape = (
        description.samples_per_pixel as usize,
        description.rows as usize,
        description.columns as usize,
    );
    Array3::from_shape_vec(shape, values)
        .map_err(|error| PixelError::Unsupported(format!("pixel layout: {error}")))
}

/// Returns the bytes of frame `frame` of native Pixel Data whose samples
/// are `bytes_per_sample` bytes each, in plane order.
fn frame_slice<'a>(
    description: &PixelDescription,
    bytes: &'a [u8],
    frame: u32,
    bytes_per_sample: usize,
) -> Result<&'a [u8], PixelError> {
    let count = description.pixels_per_frame() * description.samples_per_pixel as usize;
    let frame_bytes = count * bytes_per_sample;
    let start = frame_bytes * frame as usize;
    bytes
        .get(start..start + frame_bytes)
        .ok_or_else(|| PixelError::PixelDataTooShort {
            expected: start + frame_bytes,
            actual: bytes.len(),
            description: description.summary(),
        })
}

/// Stored values of 8-bit (`bytes_per_sample` 1) or little-endian 16-bit
/// samples, and the number whose unused bits were set.
fn plane_values<S: From<i32> + Default + Copy>(
    bits: &StoredBits,
    data: &[u8],
    bytes_per_sample: usize,
) -> (Vec<S>, u64) {
    match (bytes_per_sample, bits.signed) {
        (1, false) => plane_values_as::<S, 1, false>(bits, data),
        (1, true) => plane_values_as::<S, 1, true>(bits, data),
        (_, false) => plane_values_as::<S, 2, false>(bits, data),
        (_, true) => plane_values_as::<S, 2, true>(bits, data),
    }
}

/// [`plane_values`] for one sample size and signedness. 16-bit samples are
/// read as a `u16` slice when the bytes are aligned for it on a
/// little-endian host, as Pixel Data parsed into 16-bit words is, and
/// copied into one otherwise.
fn plane_values_as<S: From<i32> + Default + Copy, const BYTES: usize, const SIGNED: bool>(
    bits: &StoredBits,
    data: &[u8],
) -> (Vec<S>, u64) {
    if BYTES == 1 {
        return container_values::<u8, S, SIGNED>(bits, data);
    }
    if cfg!(target_endian = "little") {
        if let Ok(words) = bytemuck::try_cast_slice::<u8, u16>(data) {
            return container_values::<u16, S, SIGNED>(bits, words);
        }
    }
    let words: Vec<u16> = data
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    container_values::<u16, S, SIGNED>(bits, &words)
}

/// Stored values of host-order container values, and the number whose
/// unused bits were set. `SIGNED` is known at compile time so that the loop
/// has no branches and vectorises; the unused-bit count runs in 32-bit
/// lanes, reset every block.
fn container_values<W: Copy + Into<u32>, S: From<i32> + Default + Copy, const SIGNED: bool>(
    bits: &StoredBits,
    words: &[W],
) -> (Vec<S>, u64) {
    const BLOCK: usize = 4096;
    let mut values = vec![S::default(); words.len()];
    let mut dirty = 0u64;
    for (block, input) in values.chunks_mut(BLOCK).zip(words.chunks(BLOCK)) {
        let mut block_dirty = 0u32;
        for (value, &word) in block.iter_mut().zip(input) {
            let (stored, unused_set) = bits.extract_narrow::<SIGNED>(word.into());
            *value = S::from(stored);
            block_dirty += u32::from(unused_set);
        }
        dirty += u64::from(block_dirty);
    }
    (values, dirty)
}

/// How to take a stored value out of a container value (PS3.5 8.1.1,
/// PS3.3 C.7.6.3.1): the Bits Stored bits ending at High Bit, sign-extended
/// when Pixel Representation is 1.
///
/// Every mask fits in 32 bits, and the arithmetic runs on 32-bit lanes,
/// which vectorise on x86-64 without AVX-512, unlike 64-bit arithmetic
/// shifts.
#[derive(Debug, Clone, Copy)]
struct StoredBits {
    shift: u32,
    mask: u32,
    signed: bool,
    /// Container bits outside Bits Stored and High Bit.
    unused: u32,
    /// The unused bits above High Bit, which two's complement sign
    /// extension sets for negative values.
    sign_fill: u32,
    /// Shifting the value to the top of an i32 and back sign-extends it.
    extend: u32,
}

impl StoredBits {
    fn new(description: &PixelDescription) -> Self {
        let stored = description.bits_stored;
        let shift = description.high_bit + 1 - stored;
        let mask = ((1u64 << stored) - 1) as u32;
        let container_mask = ((1u64 << description.bits_allocated.min(32)) - 1) as u32;
        let unused = container_mask & !(mask << shift);
        StoredBits {
            shift,
            mask,
            signed: description.signed,
            unused,
            sign_fill: unused & !((1u32 << shift) - 1),
            extend: 32 - stored,
        }
    }

    /// [`StoredBits::extract`] for Bits Stored up to 16, whose values fit
    /// an `i32` signed or not.
    /// `SIGNED` must equal `self.signed`.
    #[inline]
    fn extract_narrow<const SIGNED: bool>(&self, word: u32) -> (i32, bool) {
        let value = (word >> self.shift) & self.mask;
        let extended = ((value << self.extend) as i32) >> self.extend;
        let stored = if SIGNED { extended } else { value as i32 };
        let high = word & self.unused;
        let expected_high = if SIGNED && extended < 0 {
            self.sign_fill
        } else {
            0
        };
        (stored, (high != 0) & (high != expected_high))
    }

    /// Returns the stored value of a container value, and whether unused
    /// bits were set other than by sign extension. No branches, so that
    /// loops over it vectorise.
    #[inline]
    fn extract(&self, word: u32) -> (i64, bool) {
        let value = (word >> self.shift) & self.mask;
        let extended = ((value << self.extend) as i32) >> self.extend;
        // Decided on 32-bit lanes, before widening: SSE2 has no 64-bit
        // comparison.
        let negative = self.signed & (extended < 0);
        let stored = if self.signed {
            i64::from(extended)
        } else {
            i64::from(value)
        };
        let high = word & self.unused;
        let expected_high = if negative { self.sign_fill } else { 0 };
        (stored, (high != 0) & (high != expected_high))
    }
}

/// Adds the warning for `dirty` container values whose unused bits were
/// set: they may hold overlays (PS3.3 C.9.2) or garbage.
fn report_unused_bits(description: &PixelDescription, dirty: u64, findings: &mut Vec<Finding>) {
    if dirty > 0 {
        findings.push(Finding::about(
            Severity::Warning,
            "bits-outside-bits-stored",
            tags::BITS_STORED,
            format!(
                "{dirty} sample(s) had non-zero bits outside Bits Stored ({}) and High Bit ({}); they were masked off",
                description.bits_stored, description.high_bit
            ),
        ));
    }
}

/// Extracts Bits Stored bits ending at High Bit and sign-extends them (see
/// [`StoredBits`]). Counts container values whose unused bits were set,
/// which is a warning.
fn finish_stored(
    description: &PixelDescription,
    raw: Array3<u32>,
    findings: &mut Vec<Finding>,
) -> Result<Array3<i64>, PixelError> {
    let bits = StoredBits::new(description);
    let mut dirty = 0u64;
    let values = raw.mapv(|word| {
        let (stored, unused_set) = bits.extract(word);
        dirty += u64::from(unused_set);
        stored
    });
    report_unused_bits(description, dirty, findings);
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(bits_allocated: u32, bits_stored: u32, signed: bool) -> PixelDescription {
        PixelDescription {
            rows: 2,
            columns: 2,
            samples_per_pixel: 1,
            bits_allocated,
            bits_stored,
            high_bit: bits_stored - 1,
            signed,
            photometric: Photometric::Monochrome2,
            planar: false,
            frames: 1,
        }
    }

    fn words(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// The `i32` path of [`decode_native_gray`] must give the values and
    /// the unused-bit count of the general path, whose results the tests
    /// below check by hand, for every layout of 8 and 16 bits allocated.
    #[test]
    fn narrow_path_matches_general_path_for_every_layout() {
        // Container words that cover the sign bit, the top bit and the
        // bits on either side of each field.
        let words16: Vec<u16> = (0..=u16::MAX)
            .step_by(97)
            .chain([u16::MAX, 0x8000, 0x7FFF])
            .collect();
        for bits_allocated in [8u32, 16] {
            for bits_stored in 1..=bits_allocated {
                for high_bit in bits_stored - 1..bits_allocated {
                    for signed in [false, true] {
                        let bytes: Vec<u8> = if bits_allocated == 8 {
                            words16.iter().map(|&w| (w >> 3) as u8).collect()
                        } else {
                            words(&words16)
                        };
                        let count = bytes.len() / (bits_allocated as usize / 8);
                        let description = PixelDescription {
                            rows: 1,
                            columns: count as u32,
                            high_bit,
                            ..gray(bits_allocated, bits_stored, signed)
                        };
                        let raw = unpack_native(&description, &bytes, 0, false).unwrap();
                        let mut findings = Vec::new();
                        let general = finish_stored(&description, raw, &mut findings).unwrap();
                        let (narrow, dirty) = plane_values::<i32>(
                            &StoredBits::new(&description),
                            &bytes,
                            bits_allocated as usize / 8,
                        );
                        let widened: Vec<i64> = narrow.iter().map(|&v| i64::from(v)).collect();
                        let layout = format!(
                            "BA {bits_allocated} BS {bits_stored} HB {high_bit} signed {signed}"
                        );
                        assert_eq!(
                            widened,
                            general.iter().copied().collect::<Vec<_>>(),
                            "{layout}"
                        );
                        assert_eq!(dirty > 0, !findings.is_empty(), "{layout}");
                    }
                }
            }
        }
    }

    #[test]
    fn aligned_and_unaligned_words_give_the_same_values() {
        // BS 12, HB 11, signed: 0x0FFF is -1, 0x0800 is -2048, 0xF001 has
        // garbage above High Bit (PS3.5 8.1.1) and contains 1.
        let samples = [0x0FFFu16, 0x0800, 0xF001, 0x07FF];
        let description = gray(16, 12, true);
        let bits = StoredBits::new(&description);
        // A u16 vector is aligned for the cast; one byte into a longer
        // buffer is not.
        let aligned: Vec<u16> = samples.to_vec();
        let aligned_bytes: &[u8] = bytemuck::cast_slice(&aligned);
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(aligned_bytes);
        for bytes in [aligned_bytes, &shifted[1..]] {
            let (values, dirty) = plane_values::<i32>(&bits, bytes, 2);
            assert_eq!(values, [-1, -2048, 1, 2047]);
            assert_eq!(dirty, 1);
        }
    }

    #[test]
    fn garbage_above_bits_stored_is_masked_and_counted() {
        // GOTCHAS G-05 / PS3.5 8.1.1: BS 12, HB 11, PR 0; words
        // [0x0400, 0xF400, 0x1FFF, 0x8000] hold SVs [1024, 1024, 4095, 0].
        let description = gray(16, 12, false);
        let raw = unpack_native(
            &description,
            &words(&[0x0400, 0xF400, 0x1FFF, 0x8000]),
            0,
            false,
        )
        .unwrap();
        let mut findings = Vec::new();
        let stored = finish_stored(&description, raw, &mut findings).unwrap();
        assert_eq!(
            stored.iter().copied().collect::<Vec<_>>(),
            [1024, 1024, 4095, 0]
        );
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.starts_with("3 sample(s)"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn signed_12_bit_is_sign_extended_from_bit_11() {
        // Two's complement in the low 12 bits: 0xFFF is -1, 0x800 is -2048,
        // 0x7FF is 2047; 0xFBD0 is -1072 already sign-extended to 16 bits.
        let description = gray(16, 12, true);
        let raw = unpack_native(
            &description,
            &words(&[0x0FFF, 0x0800, 0x07FF, 0xFBD0]),
            0,
            false,
        )
        .unwrap();
        let mut findings = Vec::new();
        let stored = finish_stored(&description, raw, &mut findings).unwrap();
        assert_eq!(
            stored.iter().copied().collect::<Vec<_>>(),
            [-1, -2048, 2047, -1072]
        );
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn planar_and_interleaved_rgb_give_the_same_planes() {
        // GOTCHAS G-09: red, green, blue, white pixels.
        let mut description = gray(8, 8, false);
        description.samples_per_pixel = 3;
        description.photometric = Photometric::Rgb;
        let interleaved = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        let by_plane = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255];
        let a = unpack_native(&description, &interleaved, 0, false).unwrap();
        description.planar = true;
        let b = unpack_native(&description, &by_plane, 0, false).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[[0, 0, 0]], 255);
        assert_eq!(a[[1, 0, 1]], 255);
        assert_eq!(a[[2, 1, 0]], 255);
        assert_eq!(a[[1, 1, 0]], 0);
    }

    #[test]
    fn one_bit_frames_continue_mid_byte() {
        // 2x2 frames of 1 bit: frame 1 starts at bit 4 of byte 0
        // (PS3.5 D.2, least significant bit first).
        let mut description = gray(1, 1, false);
        description.frames = 2;
        let raw = unpack_native(&description, &[0b1010_0110], 1, false).unwrap();
        assert_eq!(raw.iter().copied().collect::<Vec<_>>(), [0, 1, 0, 1]);
        let raw = unpack_native(&description, &[0b1010_0110], 0, false).unwrap();
        assert_eq!(raw.iter().copied().collect::<Vec<_>>(), [0, 1, 1, 0]);
    }

    #[test]
    fn one_pass_matches_unpack_then_finish() {
        // Garbage above High Bit, sign-extended negatives, the extremes of
        // each container, and High Bit above Bits Stored - 1.
        let containers: [u16; 12] = [
            0x0000, 0x0FFF, 0x0800, 0x07FF, 0xFBD0, 0xF400, 0x1FFF, 0x8000, 0xFFFF, 0x1234, 0x8001,
            0x7FFF,
        ];
        let cases = [
            (16, 16, 15, false),
            (16, 16, 15, true),
            (16, 12, 11, false),
            (16, 12, 11, true),
            (16, 12, 13, true),
            (8, 8, 7, false),
            (8, 8, 7, true),
            (8, 6, 6, true),
        ];
        for (allocated, stored, high_bit, signed) in cases {
            let mut description = gray(allocated, stored, signed);
            description.high_bit = high_bit;
            description.rows = 2;
            description.columns = 3;
            description.frames = 2;
            let bytes: Vec<u8> = if allocated == 16 {
                words(&containers)
            } else {
                containers.iter().map(|&word| (word >> 4) as u8).collect()
            };
            for frame in 0..2 {
                let (mut one_pass, mut two_pass) = (Vec::new(), Vec::new());
                let fused = stored_values(&description, &bytes, frame, false, &mut one_pass);
                let raw = unpack_native(&description, &bytes, frame, false).unwrap();
                let reference = finish_stored(&description, raw, &mut two_pass).unwrap();
                let case = format!("{allocated}/{stored}/{high_bit}/{signed} frame {frame}");
                assert_eq!(fused.unwrap(), reference, "{case}");
                assert_eq!(one_pass, two_pass, "{case}");
            }
        }
    }

    #[test]
    fn one_pass_reads_planar_rgb_and_rejects_short_data() {
        let mut description = gray(8, 8, false);
        description.samples_per_pixel = 3;
        description.photometric = Photometric::Rgb;
        description.planar = true;
        let by_plane = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255];
        let fused = stored_values(&description, &by_plane, 0, false, &mut Vec::new()).unwrap();
        let raw = unpack_native(&description, &by_plane, 0, false).unwrap();
        assert_eq!(
            fused,
            finish_stored(&description, raw, &mut Vec::new()).unwrap()
        );

        let error = stored_values(&description, &by_plane[..11], 0, false, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("expected 12") && error.contains("found 11"),
            "{error}"
        );
    }

    #[test]
    fn short_pixel_data_is_an_error_naming_lengths() {
        let description = gray(16, 16, false);
        let error = unpack_native(&description, &[0; 6], 0, false).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("expected 8 bytes") && message.contains("found 6"),
            "{message}"
        );
    }

    #[test]
    fn native_length_check_follows_ps3_5() {
        // GOTCHAS G-03: 3x5 8-bit image is 15 bytes; 16 (pad) is silent,
        // 15 (odd) and 20 (excess) warn, 14 fails.
        let mut description = gray(8, 8, false);
        description.rows = 3;
        description.columns = 5;
        let mut findings = Vec::new();
        check_native_length(&description, 15, 16, &mut findings).unwrap();
        assert!(findings.is_empty());
        check_native_length(&description, 15, 15, &mut findings).unwrap();
        check_native_length(&description, 15, 20, &mut findings).unwrap();
        assert_eq!(findings.len(), 2);
        let error = check_native_length(&description, 15, 14, &mut findings)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("expected 15") && error.contains("found 14"),
            "{error}"
        );
    }

    #[test]
    fn big_endian_32_bit_words_are_reassembled() {
        // 0x00012345 in big-endian bytes 00 01 23 45, read by the parser as
        // two host-order words 0x0001 and 0x2345.
        let mut description = gray(32, 32, false);
        description.rows = 1;
        description.columns = 1;
        let raw = unpack_native(&description, &[0x01, 0x00, 0x45, 0x23], 0, true).unwrap();
        assert_eq!(raw[[0, 0, 0]], 0x0001_2345);
    }

    fn ybr_422(bits: u32, frames: u32) -> PixelDescription {
        let mut description = gray(bits, bits, false);
        description.samples_per_pixel = 3;
        description.photometric = Photometric::YbrFull422;
        description.frames = frames;
        description
    }

    fn planes(stored: &StoredFrame) -> Vec<Vec<i64>> {
        stored
            .values
            .outer_iter()
            .map(|plane| plane.iter().copied().collect())
            .collect()
    }

    #[test]
    fn ybr_full_422_repeats_chroma_for_each_pair() {
        // PS3.3 C.7.6.3.1.2: each pair of pixels is Y1 Y2 Cb Cr, so a 2x2
        // frame is 8 bytes and each row shares one Cb and one Cr.
        let description = ybr_422(8, 1);
        let bytes = [10, 20, 100, 200, 30, 40, 110, 210];
        let mut findings = Vec::new();
        let stored = decode_native_ybr_full_422(&description, &bytes, 0, &mut findings).unwrap();
        assert_eq!(stored.colour_space, Photometric::YbrFull);
        let planes = planes(&stored);
        assert_eq!(planes[0], [10, 20, 30, 40]);
        assert_eq!(planes[1], [100, 100, 110, 110]);
        assert_eq!(planes[2], [200, 200, 210, 210]);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn ybr_full_422_second_frame_offset() {
        // Frame 1 starts after 2 samples per pixel of frame 0: 8 words.
        let description = ybr_422(16, 2);
        let bytes = words(&[1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 18]);
        let mut findings = Vec::new();
        let stored = decode_native_ybr_full_422(&description, &bytes, 1, &mut findings).unwrap();
        let planes = planes(&stored);
        assert_eq!(planes[0], [11, 12, 15, 16]);
        assert_eq!(planes[1], [13, 13, 17, 17]);
        assert_eq!(planes[2], [14, 14, 18, 18]);
    }

    #[test]
    fn ybr_full_422_full_length_read_as_ybr_full() {
        // 12 bytes for 2x2 pixels: the data is not subsampled.
        let description = ybr_422(8, 1);
        let bytes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let mut findings = Vec::new();
        let stored = decode_native_ybr_full_422(&description, &bytes, 0, &mut findings).unwrap();
        assert_eq!(planes(&stored)[1], [2, 5, 8, 11]);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "ybr-full-422-not-subsampled");
    }

    #[test]
    fn ybr_full_422_short_data_is_an_error() {
        let description = ybr_422(8, 1);
        let mut findings = Vec::new();
        let error = decode_native_ybr_full_422(&description, &[0; 6], 0, &mut findings)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("expected 8") && error.contains("found 6"),
            "{error}"
        );
    }
}
