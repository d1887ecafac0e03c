//! JPEG Baseline and Extended frames (PS3.5 A.4.1), decoded with
//! `jpeg-decoder` directly.
//!
//! `dicom-pixeldata` 0.10.1 lets `jpeg-decoder` guess the colour space, and
//! that guess converts a 3-component stream without a JFIF or Adobe marker
//! from YCbCr to RGB even when the components already are RGB. Here the
//! decoder is told not to convert, so the components come back as stored.
//! [`components`] then picks their colour space from the codestream markers
//! and the Photometric Interpretation, and [`crate::to_rgb`] converts YCbCr
//! to RGB later, once.

use std::io::Cursor;

use hounsfield_dicom::{error_chain, tags, Finding, Severity};
use jpeg_decoder::{ColorTransform, Decoder};

use crate::describe::{Photometric, PixelDescription};
use crate::error::PixelError;

/// JPEG Baseline (Process 1).
pub(crate) const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
/// JPEG Extended (Process 2 & 4).
pub(crate) const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
/// The Start of Image marker that opens every JPEG codestream.
pub(crate) const START_OF_IMAGE: [u8; 2] = [0xFF, 0xD8];

/// Facts from the marker segments before the first scan of a JPEG
/// codestream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JpegHeader {
    /// Sample precision P of the frame header, in bits.
    pub precision: u8,
    /// Number of lines Y of the frame header.
    pub rows: u16,
    /// Number of samples per line X of the frame header.
    pub columns: u16,
    /// Component identifiers C, in frame header order.
    pub component_ids: Vec<u8>,
    /// A JFIF APP0 segment is present.
    pub jfif: bool,
    /// The transform flag of an Adobe APP14 segment, when present.
    pub adobe_transform: Option<u8>,
}

/// The colour space of the components in a 3-component codestream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Components {
    /// R, G and B samples.
    Rgb,
    /// Full-range Y, Cb and Cr samples (ITU-T T.871).
    YCbCr,
}

fn is_start_of_frame(marker: u8) -> bool {
    // ITU-T T.81 table B.1: markers C0 to CF are SOF0 to SOF15, except DHT
    // (C4), JPG (C8) and DAC (CC).
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Reads the marker segments of `stream` up to the first Start of Scan
/// (ITU-T T.81 B.2).
pub(crate) fn read_header(stream: &[u8]) -> Result<JpegHeader, String> {
    if !stream.starts_with(&START_OF_IMAGE) {
        return Err("the codestream does not start with the SOI marker (FF D8)".into());
    }
    let mut header = JpegHeader::default();
    let mut seen_frame = false;
    let mut position = 2;
    loop {
        // Markers may be preceded by any number of FF fill bytes.
        while stream.get(position) == Some(&0xFF) && stream.get(position + 1) == Some(&0xFF) {
            position += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (stream.get(position), stream.get(position + 1)) else {
            return Err(format!("expected a marker at byte {position}"));
        };
        position += 2;
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue;
        }
        if marker == 0xD9 || marker == 0xDA {
            break;
        }
        let length = match (stream.get(position), stream.get(position + 1)) {
            (Some(&high), Some(&low)) => usize::from(u16::from_be_bytes([high, low])),
            _ => return Err(format!("marker FF {marker:02X} has no segment length")),
        };
        let payload = length
            .checked_sub(2)
            .and_then(|size| stream.get(position + 2..position + 2 + size))
            .ok_or_else(|| format!("segment of marker FF {marker:02X} runs past the end"))?;
        match marker {
            0xE0 if payload.starts_with(b"JFIF\0") => header.jfif = true,
            0xEE if payload.starts_with(b"Adobe") && payload.len() >= 12 => {
                header.adobe_transform = Some(payload[11]);
            }
            _ if is_start_of_frame(marker) && !seen_frame => {
                if payload.len() < 6 {
                    return Err("the frame header is too short".into());
                }
                header.precision = payload[0];
                header.rows = u16::from_be_bytes([payload[1], payload[2]]);
                header.columns = u16::from_be_bytes([payload[3], payload[4]]);
                let count = usize::from(payload[5]);
                header.component_ids = payload[6..]
                    .chunks_exact(3)
                    .take(count)
                    .map(|component| component[0])
                    .collect();
                if header.component_ids.len() != count {
                    return Err(format!(
                        "the frame header lists {count} components but holds fewer"
                    ));
                }
                seen_frame = true;
            }
            _ => {}
        }
        position += length;
    }
    if !seen_frame {
        return Err("no frame header (SOF marker) before the first scan".into());
    }
    Ok(header)
}

/// Decides what the 3 components of a DCT codestream are.
///
/// The codestream markers win over the header, in this order:
/// 1. an Adobe APP14 transform flag: 0 means RGB, 1 means YCbCr;
/// 2. a JFIF APP0 segment, which requires YCbCr (JFIF 1.02);
/// 3. component identifiers `R`, `G`, `B` (in either case), the libjpeg
///    convention for untransformed RGB.
///
/// Without any of them the Photometric Interpretation decides, as in pydicom
/// 3.0: RGB means untransformed components, and `YBR_FULL` or
/// `YBR_FULL_422` mean YCbCr. Any other term gives `None`, so the samples
/// stay in the file's colour space.
pub(crate) fn components(header: &JpegHeader, photometric: &Photometric) -> Option<Components> {
    match header.adobe_transform {
        Some(0) => return Some(Components::Rgb),
        Some(1) => return Some(Components::YCbCr),
        _ => {}
    }
    if header.jfif {
        return Some(Components::YCbCr);
    }
    if matches!(header.component_ids.as_slice(), b"RGB" | b"rgb") {
        return Some(Components::Rgb);
    }
    match photometric {
        Photometric::Rgb => Some(Components::Rgb),
        Photometric::YbrFull | Photometric::YbrFull422 => Some(Components::YCbCr),
        _ => None,
    }
}

/// A decoded JPEG frame: interleaved 8-bit samples and their colour space.
#[derive(Debug)]
pub(crate) struct DecodedJpeg {
    /// Samples, pixel by pixel, `samples per pixel` bytes each.
    pub samples: Vec<u8>,
    /// The colour space of `samples`.
    pub colour_space: Photometric,
}

/// Picks the colour space of the decoded samples and warns, on frame 0 only,
/// when the codestream contradicts the Photometric Interpretation.
fn colour_space(
    header: &JpegHeader,
    description: &PixelDescription,
    frame: u32,
    findings: &mut Vec<Finding>,
) -> Photometric {
    let photometric = &description.photometric;
    if header.component_ids.len() != 3 {
        return photometric.clone();
    }
    let (colour_space, stream_term) = match components(header, photometric) {
        Some(Components::Rgb) => (Photometric::Rgb, "RGB"),
        Some(Components::YCbCr) => (Photometric::YbrFull, "YCbCr"),
        None => return photometric.clone(),
    };
    let agrees = match colour_space {
        Photometric::Rgb => *photometric == Photometric::Rgb,
        _ => matches!(photometric, Photometric::YbrFull | Photometric::YbrFull422),
    };
    tracing::debug!(
        photometric = photometric.as_str(),
        components = stream_term,
        jfif = header.jfif,
        adobe_transform = ?header.adobe_transform,
        "JPEG colour space decided"
    );
    if !agrees && frame == 0 {
        findings.push(Finding::about(
            Severity::Warning,
            "jpeg-colour-space-mismatch",
            tags::PHOTOMETRIC_INTERPRETATION,
            format!(
                "Photometric Interpretation is {} but the JPEG codestream markers give its \
                 components as {stream_term}, so the codestream was followed",
                photometric.as_str()
            ),
        ));
    }
    colour_space
}

/// Decodes one JPEG Baseline or Extended codestream without any colour
/// transform.
///
/// # Errors
/// [`PixelError::Jpeg12Bit`] for 12-bit samples; [`PixelError::Decode`] when
/// the codestream is malformed or disagrees with Rows, Columns or Samples
/// per Pixel.
pub(crate) fn decode(
    stream: &[u8],
    transfer_syntax: &str,
    syntax_name: &str,
    description: &PixelDescription,
    frame: u32,
    max_bytes: u64,
    findings: &mut Vec<Finding>,
) -> Result<DecodedJpeg, PixelError> {
    let failure = |message: String| PixelError::Decode {
        syntax: syntax_name.to_string(),
        message: format!("frame {frame}: {message}"),
    };
    let header = read_header(stream).map_err(failure)?;
    if header.precision == 12 {
        return Err(PixelError::Jpeg12Bit {
            uid: transfer_syntax.to_string(),
        });
    }
    let components = header.component_ids.len();
    if components != description.samples_per_pixel as usize {
        return Err(failure(format!(
            "the codestream has {components} component(s) but Samples per Pixel is {}",
            description.samples_per_pixel
        )));
    }
    if u32::from(header.rows) != description.rows
        || u32::from(header.columns) != description.columns
    {
        return Err(failure(format!(
            "the codestream is {}x{} but Rows x Columns is {}x{}",
            header.rows, header.columns, description.rows, description.columns
        )));
    }

    let colour_space = colour_space(&header, description, frame, findings);
    let mut decoder = Decoder::new(Cursor::new(stream));
    decoder.set_max_decoding_buffer_size(usize::try_from(max_bytes).unwrap_or(usize::MAX));
    if components == 3 {
        // `ColorTransform::RGB` only interleaves the three planes, which is
        // the "no transform" needed here. `ColorTransform::None` would be
        // wrong because jpeg-decoder 0.3.2 then writes each row plane after
        // plane.
        decoder.set_color_transform(ColorTransform::RGB);
    }
    let samples = decoder
        .decode()
        .map_err(|error| failure(error_chain(&error)))?;
    let expected = description.pixels_per_frame() * components;
    if samples.len() != expected {
        return Err(failure(format!(
            "the decoder returned {} samples, expected {expected}",
            samples.len()
        )));
    }
    Ok(DecodedJpeg {
        samples,
        colour_space,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header-only codestream: SOI, the given segments, a 2x3 frame
    /// header with the given component identifiers, then SOS.
    fn codestream(segments: &[(u8, &[u8])], ids: &[u8]) -> Vec<u8> {
        let mut stream = START_OF_IMAGE.to_vec();
        let mut frame = vec![8, 0, 2, 0, 3, ids.len() as u8];
        for &id in ids {
            frame.extend([id, 0x11, 0]);
        }
        let mut all: Vec<(u8, Vec<u8>)> = segments.iter().map(|(m, p)| (*m, p.to_vec())).collect();
        all.push((0xC0, frame));
        for (marker, payload) in all {
            stream.extend([0xFF, marker]);
            stream.extend(((payload.len() + 2) as u16).to_be_bytes());
            stream.extend(payload);
        }
        stream.extend([0xFF, 0xDA]);
        stream
    }

    const JFIF: &[u8] = b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0";

    fn adobe(transform: u8) -> Vec<u8> {
        let mut payload = b"Adobe".to_vec();
        payload.extend([0, 100, 0, 0, 0, 0, transform]);
        payload
    }

    #[test]
    fn header_reads_frame_and_markers() {
        let header = read_header(&codestream(&[(0xE0, JFIF)], &[1, 2, 3])).unwrap();
        assert_eq!(header.precision, 8);
        assert_eq!((header.rows, header.columns), (2, 3));
        assert_eq!(header.component_ids, [1, 2, 3]);
        assert!(header.jfif);
        assert_eq!(header.adobe_transform, None);
    }

    #[test]
    fn header_rejects_truncated_segment() {
        let mut stream = codestream(&[(0xE0, JFIF)], &[1, 2, 3]);
        stream.truncate(10);
        assert!(read_header(&stream).is_err());
    }

    #[test]
    fn no_markers_follow_photometric_interpretation() {
        // The case dicom-pixeldata 0.10.1 gets wrong: RGB, no JFIF, no APP14.
        let header = read_header(&codestream(&[], &[0, 1, 2])).unwrap();
        assert_eq!(
            components(&header, &Photometric::Rgb),
            Some(Components::Rgb)
        );
        assert_eq!(
            components(&header, &Photometric::YbrFull422),
            Some(Components::YCbCr)
        );
        assert_eq!(components(&header, &Photometric::YbrIct), None);
    }

    #[test]
    fn markers_override_photometric_interpretation() {
        let jfif = read_header(&codestream(&[(0xE0, JFIF)], &[1, 2, 3])).unwrap();
        assert_eq!(
            components(&jfif, &Photometric::Rgb),
            Some(Components::YCbCr)
        );
        let adobe_rgb = read_header(&codestream(&[(0xEE, &adobe(0))], &[1, 2, 3])).unwrap();
        assert_eq!(
            components(&adobe_rgb, &Photometric::YbrFull),
            Some(Components::Rgb)
        );
        let adobe_ycc = read_header(&codestream(&[(0xEE, &adobe(1))], &[1, 2, 3])).unwrap();
        assert_eq!(
            components(&adobe_ycc, &Photometric::Rgb),
            Some(Components::YCbCr)
        );
        let rgb_ids = read_header(&codestream(&[], b"RGB")).unwrap();
        assert_eq!(
            components(&rgb_ids, &Photometric::YbrFull),
            Some(Components::Rgb)
        );
    }
}
