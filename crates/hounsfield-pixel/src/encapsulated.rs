//! Encapsulated Pixel Data (PS3.5 A.4): the fragments that make up one frame.

use std::borrow::Cow;

use dicom_core::value::{PrimitiveValue, Value};
use hounsfield_dicom::attr::Object;
use hounsfield_dicom::{tags, Tag};

use crate::error::PixelError;

/// Bytes of the item header (tag and length) in front of each fragment,
/// which the offset tables count.
const ITEM_HEADER_BYTES: u64 = 8;

/// Reads a binary attribute of 64-bit values (OV), such as the Extended
/// Offset Table (7FE0,0001), whether the parser kept it as numbers or bytes.
fn u64_values(object: &Object, tag: Tag) -> Option<Vec<u64>> {
    match object.get(tag)?.value() {
        Value::Primitive(PrimitiveValue::U64(values)) => Some(values.to_vec()),
        Value::Primitive(PrimitiveValue::U8(bytes)) => Some(
            bytes
                .chunks_exact(8)
                .map(|chunk| {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    u64::from_le_bytes(word)
                })
                .collect(),
        ),
        _ => None,
    }
    .filter(|values| !values.is_empty())
}

/// Joins fragments into one codestream, borrowing when there is only one.
fn join(fragments: &[Vec<u8>]) -> Cow<'_, [u8]> {
    match fragments {
        [single] => Cow::Borrowed(single.as_slice()),
        _ => Cow::Owned(fragments.concat()),
    }
}

/// Returns the fragments of frame `frame` found through an offset table
/// whose entries are the byte offsets of each frame's first item, counted
/// from the first fragment item (PS3.5 A.4).
fn by_offsets<'a>(
    fragments: &'a [Vec<u8>],
    offsets: &[u64],
    frame: usize,
    table: &str,
) -> Result<Cow<'a, [u8]>, PixelError> {
    let mut starts = Vec::with_capacity(fragments.len());
    let mut position = 0u64;
    for fragment in fragments {
        starts.push(position);
        position += ITEM_HEADER_BYTES + fragment.len() as u64;
    }
    let invalid = |reason: String| PixelError::invalid(tags::PIXEL_DATA, table, reason);
    let begin = offsets[frame];
    let first = starts
        .iter()
        .position(|&start| start == begin)
        .ok_or_else(|| {
            invalid(format!(
                "entry {frame} ({begin}) does not point at the start of a fragment item"
            ))
        })?;
    let end = offsets.get(frame + 1).copied().unwrap_or(u64::MAX);
    if end <= begin {
        return Err(invalid(format!(
            "entries {frame} and {} ({begin}, {end}) are not increasing",
            frame + 1
        )));
    }
    let count = starts[first..]
        .iter()
        .take_while(|&&start| start < end)
        .count();
    Ok(join(&fragments[first..first + count]))
}

/// Returns the codestream of frame `frame` (0-based) of encapsulated Pixel
/// Data.
///
/// The frame's fragments are found by the first rule that applies:
/// 1. the Extended Offset Table (7FE0,0001);
/// 2. one fragment per frame;
/// 3. all fragments, for a single frame;
/// 4. a Basic Offset Table with one entry per frame;
/// 5. otherwise, each fragment that starts with `start_marker` (the JPEG SOI
///    marker `FF D8`, for example) starts a frame.
pub(crate) fn frame_codestream<'a>(
    object: &Object,
    offset_table: &[u32],
    fragments: &'a [Vec<u8>],
    frames: u32,
    frame: u32,
    start_marker: &[u8],
) -> Result<Cow<'a, [u8]>, PixelError> {
    let frames = frames as usize;
    let index = frame as usize;
    if fragments.is_empty() {
        return Err(PixelError::invalid(
            tags::PIXEL_DATA,
            "no fragments",
            "encapsulated Pixel Data needs at least one fragment item",
        ));
    }

    if let Some(offsets) = u64_values(object, tags::EXTENDED_OFFSET_TABLE) {
        if offsets.len() != frames {
            return Err(PixelError::invalid(
                tags::EXTENDED_OFFSET_TABLE,
                format!("{} entries", offsets.len()),
                format!("Number of Frames is {frames}"),
            ));
        }
        tracing::debug!(frame, "frame found through the Extended Offset Table");
        return by_offsets(fragments, &offsets, index, "Extended Offset Table");
    }
    if fragments.len() == frames {
        return Ok(Cow::Borrowed(fragments[index].as_slice()));
    }
    if frames == 1 {
        return Ok(join(fragments));
    }
    if offset_table.len() == frames {
        let offsets: Vec<u64> = offset_table
            .iter()
            .map(|&offset| u64::from(offset))
            .collect();
        tracing::debug!(frame, "frame found through the Basic Offset Table");
        return by_offsets(fragments, &offsets, index, "Basic Offset Table");
    }

    let starts: Vec<usize> = fragments
        .iter()
        .enumerate()
        .filter(|(_, fragment)| fragment.starts_with(start_marker))
        .map(|(position, _)| position)
        .collect();
    if starts.len() != frames || starts.first() != Some(&0) {
        return Err(PixelError::invalid(
            tags::PIXEL_DATA,
            format!(
                "{} fragments, {} of them starting a codestream",
                fragments.len(),
                starts.len()
            ),
            format!(
                "cannot tell which fragments belong to each of the {frames} frames \
                 because the Basic Offset Table has {} entries; re-encode the file \
                 with one offset per frame",
                offset_table.len()
            ),
        ));
    }
    let end = starts.get(index + 1).copied().unwrap_or(fragments.len());
    tracing::debug!(frame, "frame found by its codestream start marker");
    Ok(join(&fragments[starts[index]..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOI: [u8; 2] = [0xFF, 0xD8];

    fn fragments() -> Vec<Vec<u8>> {
        // Three frames: the first split over two fragments, the others whole.
        vec![
            vec![0xFF, 0xD8, 1, 1],
            vec![2, 2],
            vec![0xFF, 0xD8, 3, 3, 3, 3],
            vec![0xFF, 0xD8, 4, 4],
        ]
    }

    fn frame(offsets: &[u32], frames: u32, index: u32) -> Result<Vec<u8>, PixelError> {
        let object = Object::new_empty();
        let fragments = fragments();
        frame_codestream(&object, offsets, &fragments, frames, index, &SOI)
            .map(|bytes| bytes.into_owned())
    }

    #[test]
    fn basic_offset_table_groups_fragments() {
        // Items start at 0, 12, 22 and 36 (8-byte header plus the fragment).
        let offsets = [0, 22, 36];
        assert_eq!(frame(&offsets, 3, 0).unwrap(), [0xFF, 0xD8, 1, 1, 2, 2]);
        assert_eq!(frame(&offsets, 3, 1).unwrap(), [0xFF, 0xD8, 3, 3, 3, 3]);
        assert_eq!(frame(&offsets, 3, 2).unwrap(), [0xFF, 0xD8, 4, 4]);
    }

    #[test]
    fn empty_offset_table_splits_on_start_marker() {
        assert_eq!(frame(&[], 3, 0).unwrap(), [0xFF, 0xD8, 1, 1, 2, 2]);
        assert_eq!(frame(&[], 3, 2).unwrap(), [0xFF, 0xD8, 4, 4]);
    }

    #[test]
    fn single_frame_joins_every_fragment() {
        let joined = frame(&[], 1, 0).unwrap();
        assert_eq!(joined.len(), 16);
        assert_eq!(&joined[4..6], [2, 2]);
    }

    #[test]
    fn one_fragment_per_frame_is_taken_as_is() {
        assert_eq!(frame(&[], 4, 1).unwrap(), [2, 2]);
    }

    #[test]
    fn extended_offset_table_wins_over_basic() {
        use dicom_core::{DataElement, VR};

        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::EXTENDED_OFFSET_TABLE,
            VR::OV,
            PrimitiveValue::U64([0u64, 22, 36].into_iter().collect()),
        ));
        let fragments = fragments();
        // The Basic Offset Table is wrong on purpose, so only the extended
        // one gives the right frame.
        let stream = frame_codestream(&object, &[0, 12, 22], &fragments, 3, 1, &SOI).unwrap();
        assert_eq!(stream.as_ref(), [0xFF, 0xD8, 3, 3, 3, 3]);
    }

    #[test]
    fn offset_between_items_is_rejected() {
        let message = frame(&[0, 20, 36], 3, 1).unwrap_err().to_string();
        assert!(message.contains("does not point at the start"), "{message}");
    }

    #[test]
    fn unsplittable_fragments_are_rejected() {
        let message = frame(&[], 2, 0).unwrap_err().to_string();
        assert!(message.contains("cannot tell which fragments"), "{message}");
    }
}
