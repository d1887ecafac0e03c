//! Recognising DICOM files by content and opening them.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::file::ReadPreamble;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use dicom_transfer_syntax_registry::entries;
use serde::Serialize;

use crate::attr::Object;
use crate::error::{error_chain, Error};
use crate::scan;

/// Bytes read to recognise a file: the 128-byte preamble, `DICM` and the
/// first element header after it.
const SNIFF_LEN: usize = 128 + 4 + 8;

/// How a file's data set is framed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Framing {
    /// A Part 10 file (PS3.10 7.1): preamble, `DICM`, then file meta
    /// information in explicit VR little endian.
    Part10,
    /// A bare data set with no file meta information, at `offset` (0, or
    /// 132 when a preamble and `DICM` precede it), in the encoding guessed
    /// from its first element.
    MissingFileMeta {
        /// Where the data set starts.
        offset: u64,
        /// The transfer syntax guessed from the first element header.
        encoding: BareEncoding,
    },
}

/// The encoding of a data set that came without file meta information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BareEncoding {
    /// Implicit VR little endian, the DICOM default (PS3.5 10.1).
    ImplicitVrLittleEndian,
    /// Explicit VR little endian.
    ExplicitVrLittleEndian,
    /// Explicit VR big endian (retired).
    ExplicitVrBigEndian,
}

impl BareEncoding {
    /// The transfer syntax UID of this encoding.
    pub fn uid(self) -> &'static str {
        match self {
            BareEncoding::ImplicitVrLittleEndian => "1.2.840.10008.1.2",
            BareEncoding::ExplicitVrLittleEndian => "1.2.840.10008.1.2.1",
            BareEncoding::ExplicitVrBigEndian => "1.2.840.10008.1.2.2",
        }
    }
}

impl std::fmt::Display for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Framing::Part10 => f.write_str("Part 10 file"),
            Framing::MissingFileMeta { offset, encoding } => write!(
                f,
                "data set without file meta information at byte {offset}, read as {}",
                encoding.uid()
            ),
        }
    }
}

fn is_vr(bytes: &[u8]) -> bool {
    const VRS: [&[u8; 2]; 34] = [
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"OB",
        b"OD", b"OF", b"OL", b"OV", b"OW", b"PN", b"SH", b"SL", b"SQ", b"SS", b"ST", b"SV", b"TM",
        b"UC", b"UI", b"UL", b"UN", b"UR", b"US", b"UT", b"UV",
    ];
    bytes.len() >= 2 && VRS.iter().any(|vr| vr[..] == bytes[..2])
}

/// Guesses the encoding of a data set from its first element header.
///
/// A data set without file meta information normally starts in group 0008
/// (or with a stray group 0002); anything else is not taken for DICOM.
fn sniff_bare(header: &[u8]) -> Option<BareEncoding> {
    if header.len() < 8 {
        return None;
    }
    let group_le = u16::from_le_bytes([header[0], header[1]]);
    let group_be = u16::from_be_bytes([header[0], header[1]]);
    if matches!(group_le, 0x0002 | 0x0008) {
        if is_vr(&header[4..6]) {
            return Some(BareEncoding::ExplicitVrLittleEndian);
        }
        let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        // An implicit VR element of group 0008 near the start of a file has a
        // short value; a huge length means these bytes are not DICOM.
        return (length < 0x0010_0000).then_some(BareEncoding::ImplicitVrLittleEndian);
    }
    if group_be == 0x0008 && is_vr(&header[4..6]) {
        return Some(BareEncoding::ExplicitVrBigEndian);
    }
    None
}

/// Recognises DICOM content from the first bytes of a file: `DICM` at byte
/// 128 followed by group 0002, or a bare data set (see [`Framing`]).
/// Returns `None` for anything else.
pub fn sniff(head: &[u8]) -> Option<Framing> {
    if head.len() >= 132 && &head[128..132] == b"DICM" {
        if head.len() >= 134 && head[132..134] == [0x02, 0x00] {
            return Some(Framing::Part10);
        }
        return sniff_bare(&head[132..]).map(|encoding| Framing::MissingFileMeta {
            offset: 132,
            encoding,
        });
    }
    sniff_bare(head).map(|encoding| Framing::MissingFileMeta {
        offset: 0,
        encoding,
    })
}

/// Reads the first bytes of `path` and recognises DICOM content (see [`sniff`]).
pub fn sniff_file(path: &Path) -> Result<Option<Framing>, Error> {
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    sniff_open_file(path, &file)
}

/// [`sniff_file`] on a file that is already open, reading from its current
/// position, which must be the start.
fn sniff_open_file(path: &Path, file: &File) -> Result<Option<Framing>, Error> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    file.take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(sniff(&head))
}

/// Options for [`open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Stop parsing before Pixel Data (7FE0,0010): the fast path for
    /// metadata. The returned object then has no pixel data.
    pub stop_before_pixel_data: bool,
    /// Accept a data set without the Part 10 preamble or file meta
    /// information, guessing its encoding from the first element.
    pub lenient_framing: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            stop_before_pixel_data: false,
            lenient_framing: true,
        }
    }
}

/// An opened DICOM file.
#[derive(Debug)]
pub struct DicomFile {
    /// Where the file was read from.
    pub path: PathBuf,
    /// The data set with its file meta information. For a file without file
    /// meta information, the table is built from the guessed encoding and the
    /// data set's SOP Class and Instance UIDs.
    pub object: DefaultDicomObject,
    /// How the file was framed.
    pub framing: Framing,
}

impl DicomFile {
    /// The data set without file meta information.
    pub fn dataset(&self) -> &Object {
        &self.object
    }

    /// The transfer syntax UID from the file meta information, without
    /// trailing padding.
    pub fn transfer_syntax(&self) -> &str {
        self.object.meta().transfer_syntax()
    }
}

/// Maps a file into memory read-only.
///
/// With `whole_file`, the mapping is populated when it is made (Linux
/// `MAP_POPULATE`), which replaces one page fault per 4 KiB page with one
/// system call. Without it, pages are read on first access, so a
/// header-only read does not load the Pixel Data from disk.
fn map_file(path: &Path, file: &File, whole_file: bool) -> Result<memmap2::Mmap, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = memmap2::MmapOptions::new();
    if whole_file {
        options.populate();
    }
    // SAFETY: the map is read-only and private to this process. Another
    // process truncating the file while it is read would raise SIGBUS; input
    // archives are not expected to change during a run.
    unsafe { options.map(file) }.map_err(io)
}

/// Runs the length check of [`scan`] and turns a failure into
/// [`Error::Parse`]. Header-only reads accept a truncated Pixel Data.
fn check_lengths(
    path: &Path,
    bytes: &[u8],
    meta_start: Option<usize>,
    encoding: Option<scan::Encoding>,
    start: usize,
    options: &OpenOptions,
) -> Result<(), Error> {
    match scan::check_file(bytes, meta_start, encoding, start) {
        Ok(()) => Ok(()),
        Err(error) if error.in_pixel_data && options.stop_before_pixel_data => Ok(()),
        Err(error) => Err(Error::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        }),
    }
}

/// Opens a DICOM file, recognised by content.
///
/// # Errors
/// [`Error::NotDicom`] when the bytes are not DICOM, [`Error::NotPart10`] for
/// a bare data set when `lenient_framing` is off, [`Error::Parse`] when the
/// data set is malformed, [`Error::Io`] when the file cannot be read.
pub fn open(path: &Path, options: &OpenOptions) -> Result<DicomFile, Error> {
    // One open file for the sniff and the map, which saves a system call
    // pair per file on large metadata scans.
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let framing = sniff_open_file(path, &file)?.ok_or_else(|| Error::NotDicom {
        path: path.to_path_buf(),
        reason: "no `DICM` marker at byte 128 and no data set header at byte 0".into(),
    })?;
    let parse_error = |error: &dyn std::error::Error| Error::Parse {
        path: path.to_path_buf(),
        message: error_chain(error),
    };
    let object = match framing {
        Framing::Part10 => {
            let bytes = map_file(path, &file, !options.stop_before_pixel_data)?;
            check_lengths(path, &bytes, Some(132), None, 132, options)?;
            let mut open_options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
            if options.stop_before_pixel_data {
                open_options = open_options.read_until(tags::PIXEL_DATA);
            }
            open_options
                .from_reader(&bytes[128..])
                .map_err(|error| parse_error(&error))?
        }
        Framing::MissingFileMeta { offset, encoding } => {
            if !options.lenient_framing {
                return Err(Error::NotPart10 {
                    path: path.to_path_buf(),
                    framing: framing.to_string(),
                });
            }
            tracing::warn!(
                path = %path.display(),
                "no file meta information; reading the data set as {}",
                encoding.uid()
            );
            let bytes = map_file(path, &file, !options.stop_before_pixel_data)?;
            let start = offset as usize;
            let scan_encoding = match encoding {
                BareEncoding::ImplicitVrLittleEndian => scan::Encoding::ImplicitLittle,
                BareEncoding::ExplicitVrLittleEndian => scan::Encoding::ExplicitLittle,
                BareEncoding::ExplicitVrBigEndian => scan::Encoding::ExplicitBig,
            };
            check_lengths(path, &bytes, None, Some(scan_encoding), start, options)?;
            let reader = &bytes[start..];
            let syntax = match encoding {
                BareEncoding::ImplicitVrLittleEndian => entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
                BareEncoding::ExplicitVrLittleEndian => entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
                BareEncoding::ExplicitVrBigEndian => entries::EXPLICIT_VR_BIG_ENDIAN.erased(),
            };
            let dataset = Object::read_dataset_with_ts(reader, &syntax)
                .map_err(|error| parse_error(&error))?;
            dataset
                .with_meta(FileMetaTableBuilder::new().transfer_syntax(encoding.uid()))
                .map_err(|error| parse_error(&error))?
        }
    };
    Ok(DicomFile {
        path: path.to_path_buf(),
        object,
        framing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_part10() {
        let mut head = vec![0u8; 140];
        head[128..132].copy_from_slice(b"DICM");
        head[132..134].copy_from_slice(&[0x02, 0x00]);
        assert_eq!(sniff(&head), Some(Framing::Part10));
    }

    #[test]
    fn sniff_bare_implicit_and_explicit() {
        // (0008,0005) implicit VR LE with length 10.
        let implicit = [0x08, 0x00, 0x05, 0x00, 10, 0, 0, 0];
        assert_eq!(
            sniff(&implicit),
            Some(Framing::MissingFileMeta {
                offset: 0,
                encoding: BareEncoding::ImplicitVrLittleEndian
            })
        );
        let explicit = [0x08, 0x00, 0x05, 0x00, b'C', b'S', 10, 0];
        assert_eq!(
            sniff(&explicit),
            Some(Framing::MissingFileMeta {
                offset: 0,
                encoding: BareEncoding::ExplicitVrLittleEndian
            })
        );
        let big_endian = [0x00, 0x08, 0x00, 0x05, b'C', b'S', 0, 10];
        assert_eq!(
            sniff(&big_endian),
            Some(Framing::MissingFileMeta {
                offset: 0,
                encoding: BareEncoding::ExplicitVrBigEndian
            })
        );
    }

    #[test]
    fn sniff_rejects_text_and_short_input() {
        assert_eq!(sniff(b"hello, this is a text file, not DICOM at all"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(
            sniff(&[0x08, 0x00, 0x05, 0x00, 0xff, 0xff, 0xff, 0x7f]),
            None
        );
    }

    #[test]
    fn sniff_preamble_without_meta_group() {
        let mut head = vec![0u8; 140];
        head[128..132].copy_from_slice(b"DICM");
        head[132..140].copy_from_slice(&[0x08, 0x00, 0x05, 0x00, 10, 0, 0, 0]);
        assert_eq!(
            sniff(&head),
            Some(Framing::MissingFileMeta {
                offset: 132,
                encoding: BareEncoding::ImplicitVrLittleEndian
            })
        );
    }
}
