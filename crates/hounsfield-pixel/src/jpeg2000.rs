//! Checks of a JPEG 2000 codestream header (ITU-T T.800 A.5.1) against the
//! Image Pixel Module, made before the codec runs.
//!
//! The JPEG 2000 adapter of `dicom-transfer-syntax-registry` 0.10.1 sizes
//! its output from Rows, Columns and Samples per Pixel, then copies every
//! decoded component into it without a bounds check. A codestream larger
//! than the DICOM header gives, or with more components, makes it panic.

use crate::describe::PixelDescription;

/// Start of Codestream marker, which opens every raw codestream.
pub(crate) const START_OF_CODESTREAM: [u8; 2] = [0xFF, 0x4F];
const IMAGE_AND_TILE_SIZE: [u8; 2] = [0xFF, 0x51];
/// The JP2 signature box (ISO/IEC 15444-1 I.5.1), for codestreams wrapped
/// in the JP2 file format.
const JP2_SIGNATURE: [u8; 12] = [0, 0, 0, 12, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A];

/// Image size and components from the SIZ segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageSize {
    pub columns: u64,
    pub rows: u64,
    pub components: usize,
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Returns the contiguous codestream box (`jp2c`) of a JP2 file.
fn jp2_codestream(stream: &[u8]) -> Option<&[u8]> {
    let mut at = 0usize;
    while at + 8 <= stream.len() {
        let length = be_u32(stream, at)? as usize;
        let kind = &stream[at + 4..at + 8];
        let (header, length) = match length {
            0 => (8, stream.len() - at),
            1 => {
                let extended =
                    u64::from(be_u32(stream, at + 8)?) << 32 | u64::from(be_u32(stream, at + 12)?);
                (16, usize::try_from(extended).ok()?)
            }
            _ => (8, length),
        };
        if length < header {
            return None;
        }
        let end = at.checked_add(length)?.min(stream.len());
        if kind == b"jp2c" {
            return stream.get(at + header..end);
        }
        at = end;
    }
    None
}

/// Reads the SIZ segment that must follow the SOC marker.
pub(crate) fn read_size(stream: &[u8]) -> Result<ImageSize, String> {
    let codestream = if stream.starts_with(&JP2_SIGNATURE) {
        jp2_codestream(stream).ok_or("the JP2 file has no codestream box (jp2c)")?
    } else {
        stream
    };
    if !codestream.starts_with(&START_OF_CODESTREAM) {
        return Err("the codestream does not start with the SOC marker (FF 4F)".into());
    }
    if codestream.get(2..4) != Some(&IMAGE_AND_TILE_SIZE[..]) {
        return Err("the SOC marker is not followed by the SIZ marker (FF 51)".into());
    }
    // After the marker: Lsiz, Rsiz (2 bytes each), then Xsiz, Ysiz, XOsiz,
    // YOsiz, four tile fields (4 bytes each) and Csiz (2 bytes).
    let short = || "the SIZ segment is cut off".to_string();
    let field = |index: usize| be_u32(codestream, 8 + 4 * index).ok_or_else(short);
    let (width, height, x_offset, y_offset) = (field(0)?, field(1)?, field(2)?, field(3)?);
    let components = usize::from(be_u16(codestream, 40).ok_or_else(short)?);
    if x_offset >= width || y_offset >= height {
        return Err(format!(
            "the image offset ({x_offset}, {y_offset}) is not inside the reference grid {width}x{height}"
        ));
    }
    // Each component has Ssiz, XRsiz and YRsiz; a subsampling factor of 0
    // is invalid (T.800 table A.11).
    for component in 0..components {
        let at = 42 + 3 * component;
        let factors = codestream.get(at + 1..at + 3).ok_or_else(short)?;
        if factors.contains(&0) {
            return Err(format!(
                "component {component} has a subsampling factor of 0"
            ));
        }
    }
    Ok(ImageSize {
        columns: u64::from(width - x_offset),
        rows: u64::from(height - y_offset),
        components,
    })
}

/// Checks that the codestream of one frame has the size and component count
/// of the Image Pixel Module, which the codec adapter relies on.
pub(crate) fn check_header(stream: &[u8], description: &PixelDescription) -> Result<(), String> {
    let size = read_size(stream)?;
    if size.components != description.samples_per_pixel as usize {
        return Err(format!(
            "the codestream has {} component(s) but Samples per Pixel is {}",
            size.components, description.samples_per_pixel
        ));
    }
    if size.rows != u64::from(description.rows) || size.columns != u64::from(description.columns) {
        return Err(format!(
            "the codestream is {}x{} but Rows x Columns is {}x{}",
            size.rows, size.columns, description.rows, description.columns
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the start of a codestream: SOC and a SIZ segment for an image
    /// of `width` x `height` with `components` unsubsampled components.
    fn codestream(width: u32, height: u32, components: u16) -> Vec<u8> {
        let mut bytes = START_OF_CODESTREAM.to_vec();
        bytes.extend(IMAGE_AND_TILE_SIZE);
        bytes.extend((38 + 3 * components).to_be_bytes());
        bytes.extend(0u16.to_be_bytes());
        for value in [width, height, 0, 0, width, height, 0, 0] {
            bytes.extend(value.to_be_bytes());
        }
        bytes.extend(components.to_be_bytes());
        for _ in 0..components {
            bytes.extend([7, 1, 1]);
        }
        bytes
    }

    #[test]
    fn size_is_read_from_raw_and_jp2_codestreams() {
        let raw = codestream(64, 32, 3);
        let expected = ImageSize {
            columns: 64,
            rows: 32,
            components: 3,
        };
        assert_eq!(read_size(&raw).unwrap(), expected);
        let mut jp2 = JP2_SIGNATURE.to_vec();
        jp2.extend(((raw.len() + 8) as u32).to_be_bytes());
        jp2.extend(b"jp2c");
        jp2.extend(&raw);
        assert_eq!(read_size(&jp2).unwrap(), expected);
    }

    #[test]
    fn cut_off_siz_segment_is_an_error() {
        let raw = codestream(64, 32, 3);
        let error = read_size(&raw[..45]).unwrap_err();
        assert!(error.contains("cut off"), "{error}");
    }

    #[test]
    fn stream_without_soc_is_an_error() {
        let error = read_size(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap_err();
        assert!(error.contains("SOC"), "{error}");
    }
}
