//! Palette Color Lookup Tables (PS3.3 C.7.6.3.1.5, C.7.6.3.1.6, C.7.9).

use dicom_core::value::{PrimitiveValue, Value};
use hounsfield_dicom::attr::Object;
use hounsfield_dicom::{tags, Finding, Severity, Tag};
use ndarray::{Array3, ArrayView2, Axis, Zip};

use crate::error::PixelError;

/// Maximum number of entries in a palette, because the descriptor counts
/// them in 16 bits (0 means 65536).
const MAX_ENTRIES: usize = 1 << 16;

/// The tags of one colour's table.
struct ChannelTags {
    name: &'static str,
    descriptor: Tag,
    data: Tag,
    segmented: Tag,
}

const CHANNELS: [ChannelTags; 3] = [
    ChannelTags {
        name: "Red",
        descriptor: tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        data: tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        segmented: tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    },
    ChannelTags {
        name: "Green",
        descriptor: tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        data: tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        segmented: tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    },
    ChannelTags {
        name: "Blue",
        descriptor: tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        data: tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        segmented: tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    },
];

/// One colour's lookup table.
#[derive(Debug, Clone, PartialEq)]
struct Channel {
    /// The stored value that maps to the first entry.
    first_mapped: i64,
    /// Entries already divided by `2^bits - 1` and clamped to [0, 1].
    entries: Vec<f32>,
}

/// The red, green and blue Palette Color Lookup Tables of a `PALETTE COLOR`
/// image, ready to map stored values to RGB in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct PaletteColorLut {
    channels: [Channel; 3],
}

/// Reads the bytes of an OW or US attribute in little-endian order, whatever
/// VR the parser gave it.
fn element_bytes(object: &Object, tag: Tag) -> Result<Option<Vec<u8>>, PixelError> {
    let Some(element) = object.get(tag) else {
        return Ok(None);
    };
    let bytes = match element.value() {
        Value::Primitive(PrimitiveValue::Empty) => return Ok(None),
        Value::Primitive(PrimitiveValue::U8(bytes)) => bytes.to_vec(),
        Value::Primitive(PrimitiveValue::U16(words)) => {
            words.iter().flat_map(|word| word.to_le_bytes()).collect()
        }
        Value::Primitive(PrimitiveValue::I16(words)) => {
            words.iter().flat_map(|word| word.to_le_bytes()).collect()
        }
        _ => {
            return Err(PixelError::invalid(
                tag,
                "(not binary)",
                "expected OW or US values",
            ))
        }
    };
    Ok(Some(bytes))
}

fn words(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

/// Reads a Palette Color Lookup Table Descriptor: number of entries (0 means
/// 65536), first stored value mapped (signed when Pixel Representation is
/// 1), and bits per entry.
fn read_descriptor(
    object: &Object,
    tag: Tag,
    signed: bool,
) -> Result<(usize, i64, u32), PixelError> {
    let bytes = element_bytes(object, tag)?.ok_or_else(|| PixelError::missing(tag))?;
    let values = words(&bytes);
    let [entries, first_mapped, bits] = values[..] else {
        return Err(PixelError::invalid(
            tag,
            format!("{values:?}"),
            "expected three values",
        ));
    };
    let entries = if entries == 0 {
        MAX_ENTRIES
    } else {
        usize::from(entries)
    };
    let first_mapped = if signed {
        i64::from(first_mapped as i16)
    } else {
        i64::from(first_mapped)
    };
    Ok((entries, first_mapped, u32::from(bits)))
}

/// Expands Segmented Palette Color Lookup Table Data (PS3.3 C.7.9.2).
///
/// Discrete segments (opcode 0) copy their values. Linear segments (opcode 1)
/// ramp from the previous entry to the segment's value over its length,
/// rounding half to even as pydicom 3.0 does.
///
/// # Errors
/// Indirect segments (opcode 2) are rejected as unsupported.
fn expand_segmented(data: &[u16], tag: Tag) -> Result<Vec<u16>, PixelError> {
    let invalid = |reason: String| PixelError::invalid(tag, "(segmented data)", reason);
    let mut table: Vec<u16> = Vec::new();
    let mut position = 0;
    // A lone trailing value is padding to an even length.
    while position + 1 < data.len() {
        let opcode = data[position];
        let length = usize::from(data[position + 1]);
        position += 2;
        if table.len() + length > MAX_ENTRIES {
            return Err(invalid(format!("expands past {MAX_ENTRIES} entries")));
        }
        match opcode {
            0 => {
                let values = data.get(position..position + length).ok_or_else(|| {
                    invalid(format!("discrete segment at {position} runs past the end"))
                })?;
                table.extend_from_slice(values);
                position += length;
            }
            1 => {
                let start = *table
                    .last()
                    .ok_or_else(|| invalid("a linear segment cannot come first".into()))?;
                let end = *data.get(position).ok_or_else(|| {
                    invalid(format!("linear segment at {position} has no end value"))
                })?;
                position += 1;
                let (start, end) = (f64::from(start), f64::from(end));
                for step in 1..=length {
                    let value = start + (end - start) * step as f64 / length as f64;
                    table.push(value.round_ties_even() as u16);
                }
            }
            2 => {
                return Err(PixelError::Unsupported(format!(
                    "indirect segments (opcode 2) in {}",
                    hounsfield_dicom::attr::keyword(tag)
                )))
            }
            other => return Err(invalid(format!("unknown segment opcode {other}"))),
        }
    }
    Ok(table)
}

/// Reads one channel: its descriptor, then either its Palette Color Lookup
/// Table Data or its Segmented Palette Color Lookup Table Data.
fn read_channel(
    object: &Object,
    channel: &ChannelTags,
    signed: bool,
    findings: &mut Vec<Finding>,
) -> Result<(Channel, (usize, i64, u32)), PixelError> {
    let descriptor = read_descriptor(object, channel.descriptor, signed)?;
    let (entries, first_mapped, bits) = descriptor;
    if !(1..=16).contains(&bits) {
        return Err(PixelError::invalid(
            channel.descriptor,
            bits,
            "bits per entry must be 8 or 16 (1 to 16 is accepted)",
        ));
    }

    let (table, depth, tag) = if let Some(bytes) = element_bytes(object, channel.data)? {
        // 8-bit tables come either packed two entries to a 16-bit word or
        // one entry per word. Like pydicom 3.0's `apply_color_lut`, the data
        // length decides which, not the descriptor.
        if bytes.len() == 2 * entries {
            (words(&bytes), bits, channel.data)
        } else if bytes.len() == entries || bytes.len() == entries + 1 {
            let table = bytes[..entries].iter().map(|&b| u16::from(b)).collect();
            (table, 8, channel.data)
        } else {
            return Err(PixelError::invalid(
                channel.data,
                format!("{} bytes", bytes.len()),
                format!(
                    "the descriptor declares {entries} entries: expected {} bytes (16-bit) \
                     or {entries} bytes (8-bit)",
                    2 * entries
                ),
            ));
        }
    } else if let Some(bytes) = element_bytes(object, channel.segmented)? {
        let data = if bits <= 8 {
            bytes.iter().map(|&b| u16::from(b)).collect()
        } else {
            words(&bytes)
        };
        (
            expand_segmented(&data, channel.segmented)?,
            bits,
            channel.segmented,
        )
    } else {
        return Err(PixelError::missing(channel.data));
    };

    if table.len() < entries {
        return Err(PixelError::invalid(
            tag,
            format!("{} entries", table.len()),
            format!("the descriptor declares {entries} entries"),
        ));
    }
    if depth != bits {
        findings.push(Finding::about(
            Severity::Warning,
            "palette-depth-mismatch",
            channel.descriptor,
            format!(
                "{} Palette Color Lookup Table Descriptor declares {bits}-bit entries but the \
                 data holds {depth}-bit entries; they were scaled as {depth}-bit",
                channel.name
            ),
        ));
    }
    let maximum = ((1u32 << depth) - 1) as f32;
    let too_large = table[..entries]
        .iter()
        .filter(|&&value| f32::from(value) > maximum)
        .count();
    if too_large > 0 {
        findings.push(Finding::about(
            Severity::Warning,
            "palette-entry-out-of-range",
            tag,
            format!(
                "{too_large} {} palette entries exceed {maximum} ({depth} bits); they were \
                 clamped to full intensity",
                channel.name
            ),
        ));
    }
    let scaled = table[..entries]
        .iter()
        .map(|&value| (f32::from(value) / maximum).min(1.0))
        .collect();
    let channel = Channel {
        first_mapped,
        entries: scaled,
    };
    Ok((channel, descriptor))
}

impl PaletteColorLut {
    /// Reads the red, green and blue Palette Color Lookup Table Descriptors
    /// (0028,1101-1103) and their Data (0028,1201-1203) or Segmented Data
    /// (0028,1221-1223). `signed` is Pixel Representation 1, which makes the
    /// first mapped value signed.
    ///
    /// Each entry is divided by `2^bits - 1`. Some files declare 16-bit
    /// entries but hold 8-bit values in the high byte (`0xFF00` for full
    /// intensity); like pydicom's `apply_color_lut`, the entries are kept
    /// as they are, so full intensity is 65280 / 65535 = 0.9961 there.
    ///
    /// # Errors
    /// A missing or malformed descriptor or table, and indirect segments
    /// (PS3.3 C.7.9.2.3), which are not supported.
    pub fn read(
        object: &Object,
        signed: bool,
        findings: &mut Vec<Finding>,
    ) -> Result<Self, PixelError> {
        let (red, red_descriptor) = read_channel(object, &CHANNELS[0], signed, findings)?;
        let (green, green_descriptor) = read_channel(object, &CHANNELS[1], signed, findings)?;
        let (blue, blue_descriptor) = read_channel(object, &CHANNELS[2], signed, findings)?;
        if green_descriptor != red_descriptor || blue_descriptor != red_descriptor {
            findings.push(Finding::about(
                Severity::Warning,
                "palette-descriptors-differ",
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                format!(
                    "the red, green and blue Palette Color Lookup Table Descriptors differ \
                     ({red_descriptor:?}, {green_descriptor:?}, {blue_descriptor:?}); each \
                     table was read with its own"
                ),
            ));
        }
        tracing::debug!(
            entries = red.entries.len(),
            first_mapped = red.first_mapped,
            "palette colour LUT read"
        );
        Ok(PaletteColorLut {
            channels: [red, green, blue],
        })
    }

    /// Maps stored values to RGB in [0, 1], shape `(3, rows, columns)`.
    /// Values below the first mapped value take the first entry and values
    /// past the last entry take the last (PS3.3 C.7.6.3.1.5).
    pub fn apply(&self, stored: ArrayView2<i64>) -> Array3<f32> {
        let (rows, columns) = stored.dim();
        let mut rgb = Array3::<f32>::zeros((3, rows, columns));
        for (mut plane, channel) in rgb.axis_iter_mut(Axis(0)).zip(&self.channels) {
            let last = channel.entries.len() as i64 - 1;
            Zip::from(&mut plane).and(&stored).for_each(|out, &value| {
                let index = (value - channel.first_mapped).clamp(0, last);
                *out = channel.entries[index as usize];
            });
        }
        rgb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, VR};
    use ndarray::array;

    fn palette_object(descriptor: [u16; 3], tables: [&[u16]; 3]) -> Object {
        let mut object = Object::new_empty();
        for (channel, table) in CHANNELS.iter().zip(tables) {
            object.put(DataElement::new(
                channel.descriptor,
                VR::US,
                PrimitiveValue::U16(descriptor.iter().copied().collect()),
            ));
            object.put(DataElement::new(
                channel.data,
                VR::OW,
                PrimitiveValue::U16(table.iter().copied().collect()),
            ));
        }
        object
    }

    // Four 16-bit entries: black, red, green and white.
    const RED: [u16; 4] = [0, 65535, 0, 65535];
    const GREEN: [u16; 4] = [0, 0, 65535, 65535];
    const BLUE: [u16; 4] = [0, 0, 0, 65535];

    fn pixel(rgb: &Array3<f32>, column: usize) -> [f32; 3] {
        [
            rgb[[0, 0, column]],
            rgb[[1, 0, column]],
            rgb[[2, 0, column]],
        ]
    }

    #[test]
    fn palette_maps_indices_to_colours() {
        // PS3.3 C.7.6.3.1.5: index = stored value - first mapped (0 here).
        let object = palette_object([4, 0, 16], [&RED, &GREEN, &BLUE]);
        let mut findings = Vec::new();
        let lut = PaletteColorLut::read(&object, false, &mut findings).unwrap();
        let rgb = lut.apply(array![[0, 1, 2, 3]].view());
        assert_eq!(pixel(&rgb, 0), [0.0, 0.0, 0.0]);
        assert_eq!(pixel(&rgb, 1), [1.0, 0.0, 0.0]);
        assert_eq!(pixel(&rgb, 2), [0.0, 1.0, 0.0]);
        assert_eq!(pixel(&rgb, 3), [1.0, 1.0, 1.0]);
        assert!(findings.is_empty(), "{findings:?}");
    }

    #[test]
    fn palette_clamps_around_first_mapped() {
        // First mapped 10: stored [5, 10, 13, 20] use entries [0, 0, 3, 3].
        let object = palette_object([4, 10, 16], [&RED, &GREEN, &BLUE]);
        let lut = PaletteColorLut::read(&object, false, &mut Vec::new()).unwrap();
        let rgb = lut.apply(array![[5, 10, 13, 20]].view());
        assert_eq!(pixel(&rgb, 0), [0.0, 0.0, 0.0]);
        assert_eq!(pixel(&rgb, 1), [0.0, 0.0, 0.0]);
        assert_eq!(pixel(&rgb, 2), [1.0, 1.0, 1.0]);
        assert_eq!(pixel(&rgb, 3), [1.0, 1.0, 1.0]);
    }

    #[test]
    fn palette_first_mapped_signed() {
        // With Pixel Representation 1, 0xFFFE is -2, so stored -2 maps to
        // entry 0 and stored 1 to entry 3.
        let object = palette_object([4, 0xFFFE, 16], [&RED, &GREEN, &BLUE]);
        let lut = PaletteColorLut::read(&object, true, &mut Vec::new()).unwrap();
        let rgb = lut.apply(array![[-2, -1, 0, 1]].view());
        assert_eq!(pixel(&rgb, 0), [0.0, 0.0, 0.0]);
        assert_eq!(pixel(&rgb, 1), [1.0, 0.0, 0.0]);
        assert_eq!(pixel(&rgb, 3), [1.0, 1.0, 1.0]);
    }

    #[test]
    fn palette_8_bit_words_scale_by_255() {
        // Descriptor bits 8, one 8-bit value per 16-bit word.
        let object = palette_object([2, 0, 8], [&[0, 255], &[0, 51], &[255, 0]]);
        let lut = PaletteColorLut::read(&object, false, &mut Vec::new()).unwrap();
        let rgb = lut.apply(array![[0, 1]].view());
        assert_eq!(pixel(&rgb, 0), [0.0, 0.0, 1.0]);
        assert_eq!(pixel(&rgb, 1), [1.0, 0.2, 0.0]);
    }

    #[test]
    fn palette_16_bit_high_byte_values_are_kept() {
        // Full intensity written as 0xFF00 stays 65280 / 65535.
        let object = palette_object([1, 0, 16], [&[0xFF00], &[0], &[0]]);
        let lut = PaletteColorLut::read(&object, false, &mut Vec::new()).unwrap();
        let rgb = lut.apply(array![[0]].view());
        assert!((rgb[[0, 0, 0]] - 65280.0 / 65535.0).abs() < 1e-6);
    }

    #[test]
    fn palette_missing_data_is_an_error() {
        let mut object = palette_object([4, 0, 16], [&RED, &GREEN, &BLUE]);
        object.remove_element(tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA);
        let error = PaletteColorLut::read(&object, false, &mut Vec::new()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("BluePaletteColorLookupTableData"),
            "{error}"
        );
    }

    #[test]
    fn segmented_discrete_and_linear_segments_expand() {
        // PS3.3 C.7.9.2: discrete [0, 10], then a linear ramp of 4 entries
        // to 50: 20, 30, 40, 50.
        let table = expand_segmented(&[0, 2, 0, 10, 1, 4, 50], tags::PIXEL_DATA).unwrap();
        assert_eq!(table, [0, 10, 20, 30, 40, 50]);
    }

    #[test]
    fn segmented_linear_rounds_half_to_even() {
        // From 0 to 5 over 2 entries: 2.5 rounds to 2, then 5.
        let table = expand_segmented(&[0, 1, 0, 1, 2, 5], tags::PIXEL_DATA).unwrap();
        assert_eq!(table, [0, 2, 5]);
    }

    #[test]
    fn segmented_indirect_is_unsupported() {
        let error = expand_segmented(&[0, 1, 7, 2, 1, 0, 0], tags::PIXEL_DATA).unwrap_err();
        assert!(matches!(error, PixelError::Unsupported(_)), "{error}");
    }

    #[test]
    fn segmented_linear_first_is_rejected() {
        assert!(expand_segmented(&[1, 4, 50], tags::PIXEL_DATA).is_err());
    }

    #[test]
    fn segmented_palette_reads_through_descriptor() {
        let mut object = Object::new_empty();
        for channel in &CHANNELS {
            object.put(DataElement::new(
                channel.descriptor,
                VR::US,
                PrimitiveValue::U16([3u16, 0, 16].into_iter().collect()),
            ));
            object.put(DataElement::new(
                channel.segmented,
                VR::OW,
                PrimitiveValue::U16([0u16, 1, 0, 1, 2, 65535].into_iter().collect()),
            ));
        }
        let lut = PaletteColorLut::read(&object, false, &mut Vec::new()).unwrap();
        let rgb = lut.apply(array![[0, 1, 2]].view());
        // The ramp 0 -> 65535 over 2 entries gives 32768 (32767.5 rounds to
        // even) and 65535.
        assert_eq!(rgb[[1, 0, 0]], 0.0);
        assert!((rgb[[1, 0, 1]] - 32768.0 / 65535.0).abs() < 1e-6);
        assert_eq!(rgb[[2, 0, 2]], 1.0);
    }
}
