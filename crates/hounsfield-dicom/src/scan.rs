//! A pass over the element headers of a file, before `dicom-object` parses
//! it, that checks every declared value length against the bytes that are
//! really there.
//!
//! `dicom-object` allocates and zero-fills a buffer of the declared length
//! before reading a value, so a corrupt length of up to 4 GiB costs that much
//! memory per file, and a truncated file fails with a message about the
//! parser rather than the file. This pass finds both cases cheaply: it reads
//! element headers only and jumps over values.

use std::fmt;

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

/// Deepest sequence nesting accepted; real objects stay far below it.
const MAX_DEPTH: usize = 64;
const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const TRANSFER_SYNTAX_UID: Tag = Tag(0x0002, 0x0010);

/// Largest data set that a deflated file (PS3.5 A.5) may inflate to, equal
/// to the default frame limit of hounsfield-pixel. DEFLATE compresses by up
/// to 1032:1, so without a limit a small file could inflate to gigabytes.
const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// How the data set after the file meta information is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Implicit VR little endian.
    ImplicitLittle,
    /// Explicit VR little endian.
    ExplicitLittle,
    /// Explicit VR big endian.
    ExplicitBig,
}

impl Encoding {
    /// The encoding of a transfer syntax, or `None` for deflated data sets,
    /// which cannot be checked without inflating them.
    pub fn of_transfer_syntax(uid: &str) -> Option<Self> {
        match uid.trim_end_matches('\0') {
            "1.2.840.10008.1.2" => Some(Encoding::ImplicitLittle),
            "1.2.840.10008.1.2.2" => Some(Encoding::ExplicitBig),
            "1.2.840.10008.1.2.1.99" | "1.2.840.10008.1.2.4.95" => None,
            _ => Some(Encoding::ExplicitLittle),
        }
    }
}

/// A declared length that does not fit in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LengthError {
    /// The element whose length is wrong.
    pub tag: Tag,
    /// Byte offset of its header in the file.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
    /// Whether the element is the top-level Pixel Data, which header-only
    /// reads never reach.
    pub in_pixel_data: bool,
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "element {} ({}) at byte {}: {}",
            self.tag,
            crate::attr::keyword(self.tag),
            self.offset,
            self.reason
        )
    }
}

/// An element header: tag, VR (explicit VR only), value length, header size.
type Header = (Tag, Option<[u8; 2]>, u32, usize);

struct Scanner<'a> {
    bytes: &'a [u8],
}

/// Tells whether an explicit VR has a 2-byte value length (PS3.5 table
/// 7.1-2). Every other VR, including VR bytes that name no VR (which
/// dicom-encoding 0.10 reads as UN), has 2 reserved bytes and a 4-byte length.
fn short_length_vr(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}

impl<'a> Scanner<'a> {
    fn u16_at(&self, at: usize, big: bool) -> u16 {
        let pair = [self.bytes[at], self.bytes[at + 1]];
        if big {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    }

    fn u32_at(&self, at: usize, big: bool) -> u32 {
        let quad = [
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        ];
        if big {
            u32::from_be_bytes(quad)
        } else {
            u32::from_le_bytes(quad)
        }
    }

    /// Reads an element header at `at`: tag, VR (explicit only), value
    /// length and header size.
    fn header(&self, at: usize, end: usize, encoding: Encoding) -> Result<Header, LengthError> {
        let big = encoding == Encoding::ExplicitBig;
        let short = |tag| LengthError {
            tag,
            offset: at,
            reason: format!("the element header is cut off ({} bytes left)", end - at),
            in_pixel_data: false,
        };
        if end - at < 8 {
            // The tag is named when its four bytes are present. When even
            // they are cut off, (0000,0000) is reported instead.
            let tag = if end - at >= 4 {
                Tag(self.u16_at(at, big), self.u16_at(at + 2, big))
            } else {
                Tag(0, 0)
            };
            return Err(short(tag));
        }
        let tag = Tag(self.u16_at(at, big), self.u16_at(at + 2, big));
        if tag.0 == 0xFFFE || encoding == Encoding::ImplicitLittle {
            return Ok((tag, None, self.u32_at(at + 4, big), 8));
        }
        let vr = [self.bytes[at + 4], self.bytes[at + 5]];
        if !short_length_vr(&vr) {
            if end - at < 12 {
                return Err(short(tag));
            }
            Ok((tag, Some(vr), self.u32_at(at + 8, big), 12))
        } else {
            Ok((tag, Some(vr), u32::from(self.u16_at(at + 6, big)), 8))
        }
    }

    /// Checks the elements in `[at, end)`; with `until`, stops after that
    /// delimiter and returns the position after it.
    fn data_set(
        &self,
        mut at: usize,
        end: usize,
        until: Option<Tag>,
        encoding: Encoding,
        depth: usize,
    ) -> Result<usize, LengthError> {
        while at < end {
            let (tag, vr, length, header) = self.header(at, end, encoding)?;
            let value = at + header;
            if Some(tag) == until {
                return Ok(value);
            }
            if tag == ITEM_DELIMITER {
                // dicom-parser 0.10 skips an item delimiter outside any item
                // and ends the current item at one inside a defined-length
                // item, whatever length its header gives.
                if depth == 0 {
                    at = value;
                    continue;
                }
                return Ok(value);
            }
            if length == UNDEFINED {
                let undefined_ok = match vr {
                    None => true,
                    Some(vr) => matches!(&vr, b"SQ" | b"UN" | b"OB" | b"OW"),
                };
                if !undefined_ok {
                    return Err(LengthError {
                        tag,
                        offset: at,
                        reason: "undefined length is only allowed for sequences and encapsulated Pixel Data".into(),
                        in_pixel_data: false,
                    });
                }
                if depth >= MAX_DEPTH {
                    return Err(LengthError {
                        tag,
                        offset: at,
                        reason: format!("sequences nested deeper than {MAX_DEPTH} levels"),
                        in_pixel_data: false,
                    });
                }
                if vr == Some(*b"UN") {
                    // PS3.5 6.2.2: the items of a UN element of undefined
                    // length are implicit VR little endian. dicom-object
                    // 0.10 reads them as explicit VR and then allocates
                    // whatever length the misread bytes give, so reject the
                    // file here with the reason.
                    return Err(LengthError {
                        tag,
                        offset: at,
                        reason: "unsupported: a UN element of undefined length (PS3.5 6.2.2) cannot be parsed by this build".into(),
                        in_pixel_data: false,
                    });
                }
                let inner = encoding;
                // dicom-parser 0.10 reads Pixel Data of undefined length, at
                // any depth, as fragments and any other element of undefined
                // length as a sequence of data set items.
                let fragments = tag == PIXEL_DATA;
                at = self
                    .items(value, end, inner, depth + 1, fragments)
                    .map_err(|mut error| {
                        error.in_pixel_data |= depth == 0 && tag == PIXEL_DATA;
                        error
                    })?;
                continue;
            }
            let length = length as usize;
            if length > end - value {
                return Err(LengthError {
                    tag,
                    offset: at,
                    reason: format!(
                        "declares {length} value bytes but only {} remain{}",
                        end - value,
                        if until.is_none() && depth == 0 {
                            " (the file is truncated or the length is corrupt)"
                        } else {
                            " in its item"
                        }
                    ),
                    in_pixel_data: depth == 0 && tag == PIXEL_DATA,
                });
            }
            let parsed_vr = match vr {
                Some(bytes) => VR::from_binary(bytes).unwrap_or(VR::UN),
                None => implicit_vr(tag),
            };
            let size = value_size(parsed_vr);
            if length % size != 0 && value + length < self.bytes.len() {
                return Err(LengthError {
                    tag,
                    offset: at,
                    reason: format!(
                        "the value length {length} is not a multiple of {size}, the size of one {parsed_vr} value"
                    ),
                    in_pixel_data: depth == 0 && tag == PIXEL_DATA,
                });
            }
            let sequence = match vr {
                Some(vr) => &vr == b"SQ",
                None => is_sequence_in_dictionary(tag),
            };
            if sequence {
                // The elements of a deeper sequence would go unchecked.
                if depth >= MAX_DEPTH {
                    return Err(LengthError {
                        tag,
                        offset: at,
                        reason: format!("sequences nested deeper than {MAX_DEPTH} levels"),
                        in_pixel_data: false,
                    });
                }
                self.items(value, value + length, encoding, depth + 1, false)?;
            }
            at = value + length;
        }
        match until {
            Some(delimiter) if depth > 0 => Err(LengthError {
                tag: delimiter,
                offset: at,
                reason: "the file ends before the delimiter".into(),
                in_pixel_data: false,
            }),
            _ => Ok(at),
        }
    }

    /// Checks the items of a sequence (or the fragments of encapsulated
    /// Pixel Data, when `fragments` is set) starting at `at`, up to the
    /// sequence delimiter or `end`. The elements inside sequence items are
    /// checked too, whether the item length is defined or not.
    fn items(
        &self,
        mut at: usize,
        end: usize,
        encoding: Encoding,
        depth: usize,
        fragments: bool,
    ) -> Result<usize, LengthError> {
        while at < end {
            let (tag, _, length, header) = self.header(at, end, encoding)?;
            let value = at + header;
            match tag {
                SEQUENCE_DELIMITER => return Ok(value),
                ITEM if length == UNDEFINED => {
                    at = self.data_set(value, end, Some(ITEM_DELIMITER), encoding, depth)?;
                }
                ITEM => {
                    let length = length as usize;
                    if length > end - value {
                        return Err(LengthError {
                            tag,
                            offset: at,
                            reason: format!(
                                "item declares {length} bytes but only {} remain",
                                end - value
                            ),
                            in_pixel_data: false,
                        });
                    }
                    if !fragments {
                        // dicom-object reads the elements of a defined-length
                        // item with the same unchecked allocation, so their
                        // lengths must fit inside the item.
                        at = self.data_set(value, value + length, None, encoding, depth)?;
                    } else {
                        at = value + length;
                    }
                }
                other => {
                    return Err(LengthError {
                        tag: other,
                        offset: at,
                        reason: "expected an item or a sequence delimiter".into(),
                        in_pixel_data: false,
                    })
                }
            }
        }
        Ok(at)
    }
}

/// Tells whether the data dictionary gives `tag` the VR SQ, which implicit
/// VR data sets do not write out.
fn is_sequence_in_dictionary(tag: Tag) -> bool {
    implicit_vr(tag) == VR::SQ
}

/// Returns the VR that dicom-encoding 0.10 gives an element of an implicit
/// VR data set: OW for Pixel Data and Overlay Data, else the dictionary's,
/// else UN.
fn implicit_vr(tag: Tag) -> VR {
    if tag == PIXEL_DATA || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return VR::OW;
    }
    StandardDataDictionary
        .by_tag(tag)
        .map_or(VR::UN, |entry| entry.vr().relaxed())
}

/// Bytes per value of the binary VRs that dicom-parser 0.10 reads as whole
/// values only, and 1 for the others. For a value length that is not a
/// multiple of this size, the parser counts the whole length as read but
/// leaves the remainder in the stream, so it reads every later element from
/// the wrong position.
fn value_size(vr: VR) -> usize {
    match vr {
        VR::SS | VR::US | VR::OW => 2,
        VR::AT | VR::SL | VR::UL | VR::OL | VR::FL | VR::OF => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// Checks a whole file: the file meta group at `meta_start` (Part 10 files;
/// `None` for bare data sets) and the data set in `encoding` after it.
/// A deflated data set is inflated first (see [`check_deflated`]). A file
/// whose transfer syntax is missing is not checked.
pub fn check_file(
    bytes: &[u8],
    meta_start: Option<usize>,
    mut encoding: Option<Encoding>,
    mut start: usize,
) -> Result<(), LengthError> {
    let scanner = Scanner { bytes };
    let mut deflated = false;
    if let Some(meta) = meta_start {
        // The file meta group is explicit VR little endian (PS3.10 7.1).
        // dicom-object 0.10 reads it up to the length that File Meta
        // Information Group Length (0002,0000) gives, whatever the groups of
        // the elements it meets, and reads the data set from there. This walk
        // follows the same rule, so both start the data set at the same
        // byte. Without that element, it walks the elements of group 0002.
        let mut at = meta;
        let mut transfer_syntax = None;
        let mut group_length = None;
        if bytes.len() - at >= 12 {
            let (tag, _, length, header) =
                scanner.header(at, bytes.len(), Encoding::ExplicitLittle)?;
            if tag == Tag(0x0002, 0x0000) && length == 4 && bytes.len() - at >= header + 4 {
                group_length = Some(scanner.u32_at(at + header, false));
                at += header + 4;
            }
        }
        let mut consumed = 0u32;
        loop {
            let more = match group_length {
                Some(limit) => consumed < limit && at < bytes.len(),
                None => {
                    bytes.len() - at >= 8
                        && u16::from_le_bytes([bytes[at], bytes[at + 1]]) == 0x0002
                }
            };
            if !more {
                break;
            }
            let (tag, _, length, header) =
                scanner.header(at, bytes.len(), Encoding::ExplicitLittle)?;
            let value = at + header;
            if length as usize > bytes.len() - value {
                return Err(LengthError {
                    tag,
                    offset: at,
                    reason: format!(
                        "declares {length} value bytes but only {} remain",
                        bytes.len() - value
                    ),
                    in_pixel_data: false,
                });
            }
            if tag == TRANSFER_SYNTAX_UID {
                transfer_syntax = std::str::from_utf8(&bytes[value..value + length as usize])
                    .ok()
                    .map(|uid| uid.trim_end_matches(['\0', ' ']).to_string());
            }
            consumed = consumed
                .saturating_add(header as u32)
                .saturating_add(length);
            at = value + length as usize;
        }
        start = at;
        deflated = transfer_syntax
            .as_deref()
            .is_some_and(|uid| Encoding::of_transfer_syntax(uid).is_none());
        encoding = transfer_syntax
            .as_deref()
            .and_then(Encoding::of_transfer_syntax);
    }
    match encoding {
        Some(encoding) => scanner
            .data_set(start, bytes.len(), None, encoding, 0)
            .map(|_| ()),
        None if deflated => check_deflated(&bytes[start..], start),
        None => Ok(()),
    }
}

/// Inflates a deflated data set, which starts at byte `start` of the file,
/// and checks it as explicit VR little endian (PS3.5 A.5). Error offsets
/// count from the start of the inflated data set.
fn check_deflated(deflated: &[u8], start: usize) -> Result<(), LengthError> {
    use std::io::Read;

    let mut inflated = Vec::new();
    let mut reader = flate2::read::DeflateDecoder::new(deflated).take(MAX_INFLATED_BYTES + 1);
    // A corrupt stream is checked up to where inflating stopped: dicom-object
    // cannot read past that point either.
    if let Err(error) = reader.read_to_end(&mut inflated) {
        tracing::debug!(
            "the deflated data set stops inflating after {} bytes: {error}",
            inflated.len()
        );
    }
    if inflated.len() as u64 > MAX_INFLATED_BYTES {
        return Err(LengthError {
            tag: TRANSFER_SYNTAX_UID,
            offset: start,
            reason: format!(
                "the deflated data set inflates to more than {MAX_INFLATED_BYTES} bytes"
            ),
            in_pixel_data: false,
        });
    }
    let scanner = Scanner { bytes: &inflated };
    scanner
        .data_set(0, inflated.len(), None, Encoding::ExplicitLittle, 0)
        .map(|_| ())
        .map_err(|mut error| {
            error
                .reason
                .push_str(" (the offset counts from the start of the inflated data set)");
            error
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(tag.0.to_le_bytes());
        bytes.extend(tag.1.to_le_bytes());
        bytes.extend(vr);
        if !short_length_vr(vr) {
            bytes.extend([0, 0]);
            bytes.extend((value.len() as u32).to_le_bytes());
        } else {
            bytes.extend((value.len() as u16).to_le_bytes());
        }
        bytes.extend(value);
        bytes
    }

    #[test]
    fn valid_explicit_data_set_passes() {
        let mut bytes = element((0x0008, 0x0060), b"CS", b"CT");
        bytes.extend(element((0x7FE0, 0x0010), b"OW", &[0; 8]));
        assert_eq!(
            check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0),
            Ok(())
        );
    }

    #[test]
    fn cut_off_header_names_its_tag() {
        let mut bytes = element((0x0008, 0x0060), b"CS", b"CT");
        // (0019,1023) DS with its length missing: 6 of 8 header bytes.
        bytes.extend([0x19, 0x00, 0x23, 0x10, b'D', b'S']);
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert_eq!(error.tag, Tag(0x0019, 0x1023));
        assert_eq!(error.offset, 10);
        assert!(
            error.to_string().contains("cut off (6 bytes left)"),
            "{error}"
        );
    }

    #[test]
    fn huge_length_is_reported_with_tag_and_offset() {
        let mut bytes = element((0x0008, 0x0060), b"CS", b"CT");
        let mut pixel = element((0x7FE0, 0x0010), b"OW", &[0; 8]);
        pixel[8..12].copy_from_slice(&0xE000_0000u32.to_le_bytes());
        bytes.extend(pixel);
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert_eq!(error.tag, PIXEL_DATA);
        assert_eq!(error.offset, 10);
        assert!(error.in_pixel_data);
        assert!(
            error
                .to_string()
                .contains("declares 3758096384 value bytes but only 8 remain"),
            "{error}"
        );
    }

    #[test]
    fn undefined_length_sequence_is_walked() {
        // (0008,1115) SQ of undefined length with one item of undefined
        // length holding (0008,1150) UI, then the delimiters.
        let mut bytes = Vec::new();
        bytes.extend([
            0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        bytes.extend(element((0x0008, 0x1150), b"UI", b"1.2\0"));
        bytes.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        bytes.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        bytes.extend(element((0x0008, 0x0060), b"CS", b"CT"));
        assert_eq!(
            check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0),
            Ok(())
        );
        // Cut inside the item: the delimiter is missing.
        let cut = &bytes[..30];
        assert!(check_file(cut, None, Some(Encoding::ExplicitLittle), 0).is_err());
    }

    /// Builds a sequence (0008,1115) of defined length with one
    /// defined-length item that contains `inner`, then Modality.
    fn sequence_with_item(inner: &[u8], explicit: bool) -> Vec<u8> {
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend((inner.len() as u32).to_le_bytes());
        item.extend(inner);
        let mut bytes = if explicit {
            element((0x0008, 0x1115), b"SQ", &item)
        } else {
            let mut header = vec![0x08, 0x00, 0x15, 0x11];
            header.extend((item.len() as u32).to_le_bytes());
            header.extend(&item);
            header
        };
        bytes.extend(element((0x0008, 0x0060), b"CS", b"CT"));
        bytes
    }

    #[test]
    fn lengths_inside_defined_length_items_are_checked() {
        let mut bytes = sequence_with_item(&element((0x0009, 0x1010), b"OB", &[0; 4]), true);
        assert_eq!(
            check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0),
            Ok(())
        );
        // The OB length field starts after the SQ header (12 bytes), the
        // item header (8) and the OB tag, VR and reserved bytes (8).
        bytes[28..32].copy_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert_eq!(error.tag, Tag(0x0009, 0x1010));
        assert_eq!(error.offset, 20);
        assert!(!error.in_pixel_data);
        assert!(error.reason.contains("in its item"), "{error}");
    }

    #[test]
    fn implicit_vr_sequence_items_are_checked() {
        // (0008,1150) in implicit VR: tag, 4-byte length, value.
        let mut inner = vec![0x08, 0x00, 0x50, 0x11];
        inner.extend(4u32.to_le_bytes());
        inner.extend(b"1.2\0");
        let mut bytes = sequence_with_item(&inner, false);
        // (0008,0060) at the end was written as explicit VR; cut it off.
        bytes.truncate(bytes.len() - 10);
        assert_eq!(
            check_file(&bytes, None, Some(Encoding::ImplicitLittle), 0),
            Ok(())
        );
        bytes[20..24].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let error = check_file(&bytes, None, Some(Encoding::ImplicitLittle), 0).unwrap_err();
        assert_eq!(error.tag, Tag(0x0008, 0x1150));
        assert!(error.reason.contains("in its item"), "{error}");
    }

    #[test]
    fn encapsulated_fragments_are_not_read_as_elements() {
        // Pixel Data of undefined length: an empty offset table, then one
        // fragment whose bytes would read as an element with a huge length.
        let mut bytes = vec![
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 0, 0, 0, 0]);
        bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0]);
        bytes.extend([
            0x08, 0x00, 0x60, 0x00, b'O', b'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF,
        ]);
        bytes.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        assert_eq!(
            check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0),
            Ok(())
        );
    }

    #[test]
    fn unknown_vr_has_a_four_byte_length() {
        // `XX` names no VR; dicom-encoding 0.10 reads it as UN, with 2
        // reserved bytes and a 4-byte length.
        let mut bytes = vec![0x09, 0x00, 0x10, 0x10, b'X', b'X', 0, 0];
        bytes.extend(0x7FFF_FFF0u32.to_le_bytes());
        bytes.extend([0; 8]);
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert_eq!(error.tag, Tag(0x0009, 0x1010));
        assert!(
            error.reason.contains("declares 2147483632 value bytes"),
            "{error}"
        );
    }

    #[test]
    fn item_delimiter_outside_items_is_skipped() {
        // dicom-parser 0.10 ignores the length of a stray item delimiter.
        let mut bytes = vec![0xFE, 0xFF, 0x0D, 0xE0, 0xF0, 0xFF, 0xFF, 0x7F];
        bytes.extend(element((0x0008, 0x0060), b"CS", b"CT"));
        assert_eq!(
            check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0),
            Ok(())
        );
    }

    #[test]
    fn data_set_starts_where_the_group_length_ends() {
        // Implicit VR little endian, then Implementation Class UID.
        let syntax = element((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2\0");
        let class = element((0x0002, 0x0012), b"UI", b"1.2.3\0");
        let mut bytes = vec![0; 128];
        bytes.extend(b"DICM");
        let group_length = (syntax.len() + class.len()) as u32;
        bytes.extend(element(
            (0x0002, 0x0000),
            b"UL",
            &group_length.to_le_bytes(),
        ));
        bytes.extend(&syntax);
        let class_at = bytes.len();
        bytes.extend(&class);
        assert_eq!(check_file(&bytes, Some(132), None, 132), Ok(()));
        // A group length that ends before (0002,0012) makes dicom-object
        // read that element as the first of the implicit VR data set, where
        // `UI 06 00` is a 4-byte length of 0x00064955.
        bytes[140..144].copy_from_slice(&(syntax.len() as u32).to_le_bytes());
        let error = check_file(&bytes, Some(132), None, 132).unwrap_err();
        assert_eq!(error.offset, class_at);
        assert!(
            error.reason.contains("declares 411989 value bytes"),
            "{error}"
        );
    }

    /// Builds a Part 10 file with the deflated explicit VR little endian
    /// transfer syntax and `data_set` deflated after the file meta group.
    fn deflated_file(data_set: &[u8]) -> Vec<u8> {
        use std::io::Write;

        let syntax = element((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1.99\0");
        let mut bytes = vec![0; 128];
        bytes.extend(b"DICM");
        bytes.extend(element(
            (0x0002, 0x0000),
            b"UL",
            &(syntax.len() as u32).to_le_bytes(),
        ));
        bytes.extend(&syntax);
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data_set).unwrap();
        bytes.extend(encoder.finish().unwrap());
        bytes
    }

    #[test]
    fn deflated_data_set_is_inflated_and_checked() {
        let mut data_set = element((0x0008, 0x0060), b"CS", b"CT");
        data_set.extend(element((0x0009, 0x1010), b"OB", &[0; 4]));
        assert_eq!(
            check_file(&deflated_file(&data_set), Some(132), None, 132),
            Ok(())
        );
        data_set[18..22].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let error = check_file(&deflated_file(&data_set), Some(132), None, 132).unwrap_err();
        assert_eq!(error.tag, Tag(0x0009, 0x1010));
        assert_eq!(error.offset, 10);
        assert!(error.reason.contains("inflated data set"), "{error}");
    }

    #[test]
    fn partial_binary_value_before_other_elements_is_rejected() {
        // Samples per Pixel written as SL with 2 bytes: dicom-parser 0.10
        // reads no value and leaves both bytes in the stream.
        let mut bytes = element((0x0028, 0x0002), b"SL", &[1, 0]);
        bytes.extend(element((0x0028, 0x0004), b"CS", b"MONOCHROME2 "));
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert_eq!(error.tag, Tag(0x0028, 0x0002));
        assert!(error.reason.contains("not a multiple of 4"), "{error}");
        // The same value as the last element is read correctly.
        let last = element((0x0028, 0x0002), b"SL", &[1, 0]);
        assert_eq!(
            check_file(&last, None, Some(Encoding::ExplicitLittle), 0),
            Ok(())
        );
    }

    #[test]
    fn deeply_nested_defined_length_sequences_are_rejected() {
        // Sequences of defined length, each with one defined-length item,
        // nested from the inside out.
        let mut bytes = element((0x0008, 0x0060), b"CS", b"CT");
        for _ in 0..(MAX_DEPTH + 2) {
            let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
            item.extend((bytes.len() as u32).to_le_bytes());
            item.extend(&bytes);
            bytes = element((0x0008, 0x1115), b"SQ", &item);
        }
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert!(error.reason.contains("nested deeper"), "{error}");
    }

    #[test]
    fn deeply_nested_sequences_are_rejected() {
        let mut bytes = Vec::new();
        for _ in 0..(MAX_DEPTH + 2) {
            bytes.extend([
                0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
            ]);
            bytes.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        }
        let error = check_file(&bytes, None, Some(Encoding::ExplicitLittle), 0).unwrap_err();
        assert!(error.reason.contains("nested deeper"), "{error}");
    }
}
