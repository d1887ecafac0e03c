//! RLE Lossless (PS3.5 Annex G), decoded here rather than by
//! `dicom-pixeldata`.
//!
//! The RLE adapter of `dicom-transfer-syntax-registry` 0.10.1 panics by
//! indexing past its buffers in three cases. A segment decodes to fewer
//! bytes than Rows x Columns, the header lists fewer segments than the
//! samples need, or the fragment is shorter than its header. This decoder
//! checks each of those and returns an error that names the segment.

use crate::describe::PixelDescription;
use crate::error::PixelError;

/// RLE Lossless transfer syntax UID.
pub(crate) const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Bytes of the RLE header: the segment count and 15 segment offsets.
const HEADER_BYTES: usize = 64;
const MAX_SEGMENTS: usize = 15;

/// Maximum output bytes per PackBits input byte: a replicate run of 2 input
/// bytes gives 128 output bytes.
const MAX_EXPANSION: usize = 64;

fn invalid(frame: u32, reason: String) -> PixelError {
    PixelError::Decode {
        syntax: "RLE Lossless".into(),
        message: format!("frame {frame}: {reason}"),
    }
}

/// Decodes one PackBits segment (PS3.5 G.3.1) into exactly `length` bytes.
/// Bytes after the first `length` outputs are ignored: encoders pad each
/// segment to an even length.
fn unpack_bits(segment: &[u8], length: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(length);
    let mut at = 0;
    while out.len() < length {
        let Some(&header) = segment.get(at) else {
            return Err(format!(
                "the segment ends after {} of {length} bytes",
                out.len()
            ));
        };
        at += 1;
        let n = header as i8;
        if n >= 0 {
            // Copy the next n + 1 bytes literally.
            let count = n as usize + 1;
            let literal = segment.get(at..at + count).ok_or_else(|| {
                format!("a literal run at byte {} runs past the segment end", at - 1)
            })?;
            out.extend_from_slice(literal);
            at += count;
        } else if n != -128 {
            // Repeat the next byte 1 - n times; -128 is a no-op.
            let count = (1 - i16::from(n)) as usize;
            let &value = segment
                .get(at)
                .ok_or_else(|| format!("a replicate run at byte {} has no value", at - 1))?;
            out.resize(out.len() + count, value);
            at += 1;
        }
    }
    out.truncate(length);
    Ok(out)
}

/// Decodes the RLE fragment of one frame into planar samples: each sample
/// plane of Rows x Columns values follows the previous one, each value in
/// `bits_allocated / 8` little-endian bytes.
pub(crate) fn decode(
    fragment: &[u8],
    description: &PixelDescription,
    frame: u32,
) -> Result<Vec<u8>, PixelError> {
    let bytes_per_sample = match description.bits_allocated {
        8 => 1,
        16 => 2,
        32 => 4,
        other => {
            return Err(invalid(
                frame,
                format!("Bits Allocated {other} cannot be RLE encoded (8, 16 or 32 expected)"),
            ))
        }
    };
    let samples = description.samples_per_pixel as usize;
    let pixels = description.pixels_per_frame();
    let segments = samples * bytes_per_sample;
    if fragment.len() < HEADER_BYTES {
        return Err(invalid(
            frame,
            format!(
                "the fragment has {} bytes, fewer than the {HEADER_BYTES}-byte RLE header",
                fragment.len()
            ),
        ));
    }
    let word = |index: usize| {
        let at = 4 * index;
        u32::from_le_bytes([
            fragment[at],
            fragment[at + 1],
            fragment[at + 2],
            fragment[at + 3],
        ]) as usize
    };
    let declared = word(0);
    if declared != segments || declared > MAX_SEGMENTS {
        return Err(invalid(
            frame,
            format!(
                "the RLE header declares {declared} segments, expected {segments} \
                 ({samples} sample(s) of {bytes_per_sample} byte(s))"
            ),
        ));
    }
    let mut starts: Vec<usize> = (1..=segments).map(word).collect();
    starts.push(fragment.len());
    // Check every segment before the output is allocated, so a small
    // fragment cannot make this allocate a large frame.
    for segment in 0..segments {
        let (start, end) = (starts[segment], starts[segment + 1]);
        if start < HEADER_BYTES || start > end || end > fragment.len() {
            return Err(invalid(
                frame,
                format!(
                    "segment {segment} spans bytes {start} to {end} of a {}-byte fragment",
                    fragment.len()
                ),
            ));
        }
        if pixels > (end - start).saturating_mul(MAX_EXPANSION) {
            return Err(invalid(
                frame,
                format!(
                    "segment {segment} has {} bytes, too few to decode to {pixels} bytes",
                    end - start
                ),
            ));
        }
    }
    let mut planes = vec![0u8; pixels * segments];
    for segment in 0..segments {
        let data = &fragment[starts[segment]..starts[segment + 1]];
        let bytes = unpack_bits(data, pixels)
            .map_err(|reason| invalid(frame, format!("segment {segment}: {reason}")))?;
        // Segments of a sample run from the most to the least significant
        // byte (PS3.5 G.2); the output is little endian.
        let sample = segment / bytes_per_sample;
        let byte = bytes_per_sample - 1 - segment % bytes_per_sample;
        let plane = &mut planes[sample * pixels * bytes_per_sample..][..pixels * bytes_per_sample];
        for (pixel, value) in bytes.into_iter().enumerate() {
            plane[pixel * bytes_per_sample + byte] = value;
        }
    }
    Ok(planes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::describe::Photometric;

    fn description(rows: u32, columns: u32, bits: u32, samples: u32) -> PixelDescription {
        PixelDescription {
            rows,
            columns,
            samples_per_pixel: samples,
            bits_allocated: bits,
            bits_stored: bits,
            high_bit: bits - 1,
            signed: false,
            photometric: if samples == 3 {
                Photometric::Rgb
            } else {
                Photometric::Monochrome2
            },
            planar: false,
            frames: 1,
        }
    }

    /// Builds a fragment: the header for `segments`, then the segments.
    fn fragment(segments: &[&[u8]]) -> Vec<u8> {
        let mut header = vec![0u8; HEADER_BYTES];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut offset = HEADER_BYTES;
        let mut body = Vec::new();
        for (index, segment) in segments.iter().enumerate() {
            header[4 + 4 * index..8 + 4 * index].copy_from_slice(&(offset as u32).to_le_bytes());
            body.extend_from_slice(segment);
            offset += segment.len();
        }
        header.extend(body);
        header
    }

    #[test]
    fn packbits_literal_replicate_and_noop() {
        // PS3.5 G.3.1: 2 = copy 3 bytes, -3 (0xFD) = repeat 4 times,
        // -128 (0x80) = no operation.
        let segment = [2, 10, 20, 30, 0x80, 0xFD, 7];
        assert_eq!(unpack_bits(&segment, 7).unwrap(), [10, 20, 30, 7, 7, 7, 7]);
    }

    #[test]
    fn sixteen_bit_segments_give_little_endian_samples() {
        // Pixels 0x0102 and 0x0304: the high bytes, then the low bytes.
        let bytes = decode(
            &fragment(&[&[1, 1, 3], &[1, 2, 4]]),
            &description(1, 2, 16, 1),
            0,
        )
        .unwrap();
        assert_eq!(bytes, [2, 1, 4, 3]);
    }

    #[test]
    fn short_segment_is_an_error_not_a_panic() {
        let error = decode(&fragment(&[&[0, 9]]), &description(2, 2, 8, 1), 0).unwrap_err();
        assert!(error.to_string().contains("segment 0"), "{error}");
        assert!(
            error.to_string().contains("ends after 1 of 4 bytes"),
            "{error}"
        );
    }

    #[test]
    fn segment_count_must_match_samples() {
        let error = decode(&fragment(&[&[0, 9]]), &description(1, 1, 8, 3), 0).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("declares 1 segments, expected 3"),
            "{error}"
        );
    }

    #[test]
    fn fragment_shorter_than_header_is_an_error() {
        let error = decode(&[1, 0, 0, 0], &description(1, 1, 8, 1), 0).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("fewer than the 64-byte RLE header"),
            "{error}"
        );
    }

    #[test]
    fn segment_offsets_out_of_order_are_an_error() {
        let mut bytes = fragment(&[&[0, 1], &[0, 2]]);
        bytes[8..12].copy_from_slice(&1000u32.to_le_bytes());
        let error = decode(&bytes, &description(1, 1, 16, 1), 0).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("segment 0 spans bytes 64 to 1000"),
            "{error}"
        );
    }

    #[test]
    fn tiny_segment_fails_before_allocation() {
        let error = decode(
            &fragment(&[&[0x81, 0]]),
            &description(60000, 60000, 8, 1),
            0,
        )
        .unwrap_err();
        assert!(error.to_string().contains("too few to decode"), "{error}");
    }
}
