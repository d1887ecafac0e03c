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

use dicom_core::Tag;

/// Deepest sequence nesting accepted; real objects stay far below it.
const MAX_DEPTH: usize = 64;
const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_DELIMITER: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_DELIMITER: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

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

struct Scanner<'a> {
    bytes: &'a [u8],
}

fn long_length_vr(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
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
    fn header(
        &self,
        at: usize,
        end: usize,
        encoding: Encoding,
    ) -> Result<(Tag, Option<[u8; 2]>, u32, usize), LengthError> {
        let big = encoding == Encoding::ExplicitBig;
        let short = |tag| LengthError {
            tag,
            offset: at,
            reason: format!("the element header is cut off ({} bytes left)", end - at),
            in_pixel_data: false,
        };
        if end - at < 8 {
            return Err(short(Tag(0, 0)));
        }
        let tag = Tag(self.u16_at(at, big), self.u16_at(at + 2, big));
        if tag.0 == 0xFFFE || encoding == Encoding::ImplicitLittle {
            return Ok((tag, None, self.u32_at(at + 4, big), 8));
        }
        let vr = [self.bytes[at + 4], self.bytes[at + 5]];
        if long_length_vr(&vr) {
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
                at = self
                    .items(value, end, inner, depth + 1)
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
            if vr == Some(*b"SQ") && depth < MAX_DEPTH {
                self.items(value, value + length, encoding, depth + 1)?;
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
    /// Pixel Data) starting at `at`, up to the sequence delimiter or `end`.
    fn items(
        &self,
        mut at: usize,
        end: usize,
        encoding: Encoding,
        depth: usize,
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
                    at = value + length;
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

/// Checks a whole file: the file meta group at `meta_start` (Part 10 files;
/// `None` for bare data sets) and the data set in `encoding` after it.
/// Returns `Ok` for deflated data sets, which it cannot check.
pub fn check_file(
    bytes: &[u8],
    meta_start: Option<usize>,
    mut encoding: Option<Encoding>,
    mut start: usize,
) -> Result<(), LengthError> {
    let scanner = Scanner { bytes };
    if let Some(meta) = meta_start {
        // The file meta group is explicit VR little endian (PS3.10 7.1).
        let mut at = meta;
        let mut transfer_syntax = None;
        while bytes.len() - at >= 8 && u16::from_le_bytes([bytes[at], bytes[at + 1]]) == 0x0002 {
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
            if tag == Tag(0x0002, 0x0010) {
                transfer_syntax = std::str::from_utf8(&bytes[value..value + length as usize])
                    .ok()
                    .map(|uid| uid.trim_end_matches(['\0', ' ']).to_string());
            }
            at = value + length as usize;
        }
        start = at;
        encoding = transfer_syntax
            .as_deref()
            .and_then(Encoding::of_transfer_syntax);
    }
    let Some(encoding) = encoding else {
        return Ok(());
    };
    scanner
        .data_set(start, bytes.len(), None, encoding, 0)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(tag.0.to_le_bytes());
        bytes.extend(tag.1.to_le_bytes());
        bytes.extend(vr);
        if long_length_vr(vr) {
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
