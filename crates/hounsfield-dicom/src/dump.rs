//! A text listing of a file's attributes in the layout of DCMTK's `dcmdump`.
//!
//! One line per element: `(gggg,eeee) VR value`, padded so that a comment
//! `# length, VM Keyword` starts in the same column on every line. Sequence
//! items are indented by two spaces per level and framed by item and
//! sequence delimitation lines, as `dcmdump` prints them.

use std::io::{self, Write};

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::{HasLength, Header};
use dicom_core::value::{PrimitiveValue, Value};
use dicom_core::{Length, Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::attr::Object;
use crate::open::{DicomFile, Framing};

/// Column at which the `#` comment starts; `dcmdump` uses the same.
const COMMENT_COLUMN: usize = 56;

/// Binary values show at most this many numbers before `...`.
const MAX_BINARY_ITEMS: usize = 16;

/// Options for [`write_dump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpOptions {
    /// Maximum characters of a value's text; longer values are cut and end
    /// with `...`.
    /// `None` shows text values whole (binary values are always cut).
    pub max_value_chars: Option<usize>,
    /// Leave out Pixel Data (7FE0,0010), Float and Double Float Pixel Data and
    /// every top-level element after them, as a read that stops before Pixel
    /// Data would.
    pub skip_pixel_data: bool,
}

impl Default for DumpOptions {
    fn default() -> Self {
        DumpOptions {
            max_value_chars: Some(64),
            skip_pixel_data: true,
        }
    }
}

/// Returns the name of a transfer syntax from the registry, or `unknown`.
pub fn transfer_syntax_name(uid: &str) -> &'static str {
    TransferSyntaxRegistry
        .get(uid.trim_end_matches('\0'))
        .map(|entry| entry.name())
        .unwrap_or("unknown")
}

/// Returns the keyword shown for `tag`: the dictionary keyword, or a
/// description of a private or unknown tag.
pub fn dump_keyword(tag: Tag) -> &'static str {
    if let Some(entry) = StandardDataDictionary.by_tag(tag) {
        return entry.alias();
    }
    if tag.group() % 2 == 1 {
        // PS3.5 7.8.1: (gggg,0010-00FF) of an odd group reserve private blocks.
        if (0x0010..=0x00FF).contains(&tag.element()) {
            return "PrivateCreator";
        }
        return "PrivateTag";
    }
    "UnknownTag"
}

/// Writes the listing of `file`: the File Meta Information (for Part 10
/// files), then the data set.
///
/// # Errors
/// Returns the writer's error.
pub fn write_dump(out: &mut dyn Write, file: &DicomFile, options: &DumpOptions) -> io::Result<()> {
    let transfer_syntax = file.transfer_syntax().trim_end_matches('\0');
    writeln!(out, "# File: {}", file.path.display())?;
    match file.framing {
        Framing::Part10 => {
            writeln!(out, "# File Meta Information")?;
            for element in file.object.meta().to_element_iter() {
                if let Value::Primitive(value) = element.value() {
                    let line = ElementLine {
                        tag: element.tag(),
                        vr: element.vr(),
                        length: element.length(),
                        multiplicity: multiplicity(value, element.vr()),
                        value: value_text(value, element.vr(), options.max_value_chars),
                    };
                    line.write(out, 0)?;
                }
            }
        }
        Framing::MissingFileMeta { .. } => {
            writeln!(out, "# No File Meta Information: {}", file.framing)?;
        }
    }
    writeln!(
        out,
        "# Data Set, transfer syntax {transfer_syntax} ({})",
        transfer_syntax_name(transfer_syntax)
    )?;
    write_object(out, file.dataset(), 0, options)
}

fn is_pixel_data_or_later(tag: Tag) -> bool {
    // Float Pixel Data (7FE0,0008) and Double Float Pixel Data (7FE0,0009)
    // come just before Pixel Data (7FE0,0010).
    tag >= Tag(0x7FE0, 0x0008)
}

fn write_object(
    out: &mut dyn Write,
    object: &Object,
    depth: usize,
    options: &DumpOptions,
) -> io::Result<()> {
    for element in object {
        let tag = element.tag();
        if depth == 0 && options.skip_pixel_data && is_pixel_data_or_later(tag) {
            break;
        }
        let vr = element.vr();
        match element.value() {
            Value::Primitive(value) => {
                let line = ElementLine {
                    tag,
                    vr,
                    length: element.length(),
                    multiplicity: multiplicity(value, vr),
                    value: value_text(value, vr, options.max_value_chars),
                };
                line.write(out, depth)?;
            }
            Value::Sequence(sequence) => {
                let items = sequence.items();
                let line = ElementLine {
                    tag,
                    vr: VR::SQ,
                    length: element.length(),
                    multiplicity: 1,
                    value: format!("(Sequence with {} item(s))", items.len()),
                };
                line.write(out, depth)?;
                for (index, item) in items.iter().enumerate() {
                    write_item(out, item, index, depth + 1, options)?;
                }
                delimiter_line(out, depth, Tag(0xFFFE, 0xE0DD), "SequenceDelimitationItem")?;
            }
            Value::PixelSequence(sequence) => {
                let fragments = sequence.fragments();
                let line = ElementLine {
                    tag,
                    vr,
                    length: element.length(),
                    multiplicity: 1,
                    value: format!(
                        "(Pixel sequence: offset table of {} entries, {} fragment(s))",
                        sequence.offset_table().len(),
                        fragments.len()
                    ),
                };
                line.write(out, depth)?;
            }
        }
    }
    Ok(())
}

fn write_item(
    out: &mut dyn Write,
    item: &Object,
    index: usize,
    depth: usize,
    options: &DumpOptions,
) -> io::Result<()> {
    let element_count = item.iter().count();
    let line = ElementLine {
        tag: Tag(0xFFFE, 0xE000),
        vr: VR::UN,
        length: item.length(),
        multiplicity: 1,
        value: format!("(Item #{} with {element_count} element(s))", index + 1),
    };
    line.write_with_keyword(out, depth, "na", "Item")?;
    write_object(out, item, depth + 1, options)?;
    delimiter_line(out, depth, Tag(0xFFFE, 0xE00D), "ItemDelimitationItem")
}

fn delimiter_line(out: &mut dyn Write, depth: usize, tag: Tag, keyword: &str) -> io::Result<()> {
    let left = format!("{}{tag} na (end)", "  ".repeat(depth));
    writeln!(out, "{}#    0, 0 {keyword}", pad_to_comment(&left))
}

/// One output line before formatting.
struct ElementLine {
    tag: Tag,
    vr: VR,
    length: Length,
    multiplicity: u32,
    value: String,
}

impl ElementLine {
    fn write(&self, out: &mut dyn Write, depth: usize) -> io::Result<()> {
        self.write_with_keyword(out, depth, self.vr.to_string(), dump_keyword(self.tag))
    }

    fn write_with_keyword(
        &self,
        out: &mut dyn Write,
        depth: usize,
        vr: &str,
        keyword: &str,
    ) -> io::Result<()> {
        let left = format!("{}{} {vr} {}", "  ".repeat(depth), self.tag, self.value);
        let length = match self.length.get() {
            Some(bytes) => bytes.to_string(),
            None => "u/l".to_string(),
        };
        writeln!(
            out,
            "{}# {length:>4}, {} {keyword}",
            pad_to_comment(&left),
            self.multiplicity
        )
    }
}

fn pad_to_comment(left: &str) -> String {
    let width = left.chars().count();
    if width < COMMENT_COLUMN {
        format!("{left}{}", " ".repeat(COMMENT_COLUMN - width))
    } else {
        format!("{left} ")
    }
}

/// Counts the values as `dcmdump` does, with 1 for OB, OW and UN.
fn multiplicity(value: &PrimitiveValue, vr: VR) -> u32 {
    match (value, vr) {
        (PrimitiveValue::Empty, _) => 0,
        (_, VR::OB | VR::OW | VR::UN) => 1,
        _ => value.multiplicity(),
    }
}

/// True for the VRs whose values are character strings.
pub(crate) fn is_text_vr(vr: VR) -> bool {
    matches!(
        vr,
        VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT
    )
}

fn value_text(value: &PrimitiveValue, vr: VR, max_chars: Option<usize>) -> String {
    if matches!(value, PrimitiveValue::Empty) {
        return "(no value available)".to_string();
    }
    if is_text_vr(vr) {
        let joined = value
            .to_multi_str()
            .iter()
            .map(|item| item.trim_end_matches([' ', '\0']))
            .collect::<Vec<_>>()
            .join("\\");
        return format!("[{}]", escape_controls(&cut(&joined, max_chars)));
    }
    match vr {
        VR::AT => match value {
            PrimitiveValue::Tags(tags) => join_limited(tags.iter().map(|tag| tag.to_string())),
            other => join_limited(other.to_multi_str().iter().cloned()),
        },
        VR::OB | VR::UN => join_limited(value.to_bytes().iter().map(|byte| format!("{byte:02x}"))),
        VR::OW => match value {
            PrimitiveValue::U16(words) => join_limited(words.iter().map(|w| format!("{w:04x}"))),
            PrimitiveValue::I16(words) => {
                join_limited(words.iter().map(|&w| format!("{:04x}", w as u16)))
            }
            other => join_limited(
                other
                    .to_bytes()
                    .chunks(2)
                    .map(|pair| pair.iter().rev().map(|b| format!("{b:02x}")).collect()),
            ),
        },
        VR::OL => match value {
            PrimitiveValue::U32(words) => join_limited(words.iter().map(|w| format!("{w:08x}"))),
            other => join_limited(other.to_multi_str().iter().cloned()),
        },
        VR::OV => match value {
            PrimitiveValue::U64(words) => join_limited(words.iter().map(|w| format!("{w:016x}"))),
            other => join_limited(other.to_multi_str().iter().cloned()),
        },
        _ => join_limited(value.to_multi_str().iter().cloned()),
    }
}

/// Replaces control characters (such as the ESC of ISO 2022 code
/// extensions) with `\xNN`, so that a file's text cannot send escape
/// sequences to the terminal.
fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if character.is_control() {
            escaped.push_str(&format!("\\x{:02X}", u32::from(character)));
        } else {
            escaped.push(character);
        }
    }
    escaped
}

fn join_limited(items: impl Iterator<Item = String>) -> String {
    let mut shown: Vec<String> = Vec::new();
    let mut more = false;
    for item in items {
        if shown.len() == MAX_BINARY_ITEMS {
            more = true;
            break;
        }
        shown.push(item);
    }
    let mut text = shown.join("\\");
    if more {
        text.push_str("\\...");
    }
    text
}

fn cut(text: &str, max_chars: Option<usize>) -> String {
    match max_chars {
        Some(limit) if text.chars().count() > limit => {
            let kept: String = text.chars().take(limit.saturating_sub(3)).collect();
            format!("{kept}...")
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::value::DataSetSequence;
    use dicom_core::DataElement;
    use dicom_dictionary_std::tags;

    fn dump_object(object: &Object) -> String {
        let mut out = Vec::new();
        write_object(&mut out, object, 0, &DumpOptions::default()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_values_are_bracketed_and_aligned() {
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::WINDOW_CENTER,
            VR::DS,
            PrimitiveValue::Strs(vec!["40".to_string(), "300 ".to_string()].into()),
        ));
        let text = dump_object(&object);
        let line = text.lines().next().unwrap();
        assert!(line.starts_with("(0028,1050) DS [40\\300]"), "{line}");
        assert_eq!(line.find('#'), Some(COMMENT_COLUMN), "{line}");
        // `40\300 ` is 7 bytes, padded to an even 8.
        assert!(line.ends_with("#    8, 2 WindowCenter"), "{line}");
    }

    #[test]
    fn sequences_are_indented_and_delimited() {
        let mut item = Object::new_empty();
        item.put(DataElement::new(
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3"),
        ));
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            DataSetSequence::from(vec![item]),
        ));
        let text = dump_object(&object);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("(0008,1140) SQ (Sequence with 1 item(s))"));
        assert!(lines[1].starts_with("  (FFFE,E000) na (Item #1 with 1 element(s))"));
        assert!(lines[2].starts_with("    (0008,1155) UI [1.2.3]"));
        assert!(lines[3].starts_with("  (FFFE,E00D) na (end)"));
        assert!(lines[4].starts_with("(FFFE,E0DD) na (end)"));
        assert!(
            lines[2].ends_with("ReferencedSOPInstanceUID"),
            "{}",
            lines[2]
        );
    }

    #[test]
    fn binary_values_are_hex_and_cut() {
        let mut object = Object::new_empty();
        object.put(DataElement::new(
            Tag(0x0029, 0x1010),
            VR::OB,
            PrimitiveValue::U8((0u8..20).collect::<Vec<u8>>().into()),
        ));
        object.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(vec![1u16, 2].into()),
        ));
        let text = dump_object(&object);
        assert!(
            text.starts_with("(0029,1010) OB 00\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\\..."),
            "{text}"
        );
        assert!(text.contains("#   20, 1 PrivateTag"), "{text}");
        assert!(!text.contains("PixelData"), "{text}");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("Test\u{1b}$B;n"), "Test\\x1B$B;n");
        assert_eq!(escape_controls("試験^太郎"), "試験^太郎");
    }

    #[test]
    fn long_text_is_cut_to_the_limit() {
        assert_eq!(cut("abcdefghij", Some(8)), "abcde...");
        assert_eq!(cut("abc", Some(8)), "abc");
        assert_eq!(cut("abcdefghij", None), "abcdefghij");
    }

    #[test]
    fn keywords_of_private_and_unknown_tags() {
        assert_eq!(dump_keyword(tags::ROWS), "Rows");
        assert_eq!(dump_keyword(Tag(0x0029, 0x0010)), "PrivateCreator");
        assert_eq!(dump_keyword(Tag(0x0029, 0x1010)), "PrivateTag");
        assert_eq!(dump_keyword(Tag(0x0028, 0x0000)), "GenericGroupLength");
        assert_eq!(dump_keyword(Tag(0x0028, 0x9999)), "UnknownTag");
    }
}
