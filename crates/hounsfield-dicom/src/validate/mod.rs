//! Conformance rules for one file's header and for the files of a series.
//!
//! [`check_file`] applies the rules that need only the data set, and
//! [`SeriesIndex`] the rules across files. Rules that need decoded pixels
//! (implausible modality values, wrapped 12-bit CT) live in
//! `hounsfield-pipeline`, which can decode. Every finding names its rule by
//! a stable code:
//!
//! | code | severity | rule |
//! |---|---|---|
//! | `no-image` | info | no Pixel Data and no Rows or Columns: image rules skipped |
//! | `missing-file-meta` | warning | no File Meta Information; the encoding was guessed (PS3.10 7.1) |
//! | `missing-attribute` | error | a Type 1 Image Pixel Module attribute is absent (PS3.3 C.7.6.3) |
//! | `invalid-dimension`, `invalid-number-of-frames` | error | Rows, Columns or Number of Frames below 1 |
//! | `invalid-bits-allocated` | error | Bits Allocated is not 1 or a multiple of 8 (PS3.5 8.1.1) |
//! | `unsupported-bits-allocated` | warning | Bits Allocated other than 1, 8, 16, 32 |
//! | `bits-stored-out-of-range` | error | Bits Stored is not in 1..=Bits Allocated |
//! | `high-bit-out-of-range` | error | High Bit is outside the container or below Bits Stored - 1 |
//! | `unusual-high-bit` | warning | High Bit is not Bits Stored - 1 |
//! | `invalid-pixel-representation` | error | Pixel Representation is not 0 or 1 |
//! | `invalid-samples-per-pixel` | error | Samples per Pixel is not 1 or 3 |
//! | `unknown-photometric-interpretation` | error | not a defined term (PS3.3 C.7.6.3.1.2) |
//! | `retired-photometric-interpretation` | warning | HSV, ARGB, CMYK or YBR_PARTIAL_422 |
//! | `photometric-samples-mismatch` | error | Samples per Pixel does not suit the photometric interpretation |
//! | `missing-planar-configuration` | warning | colour without Planar Configuration (Type 1C) |
//! | `unexpected-planar-configuration` | warning | Planar Configuration with 1 sample per pixel |
//! | `invalid-planar-configuration` | error | Planar Configuration is not 0 or 1 |
//! | `planar-configuration-not-interleaved` | warning | YBR_FULL_422 with Planar Configuration 1 |
//! | `missing-pixel-data` | error | an image without Pixel Data |
//! | `float-pixel-data` | info | Float or Double Float Pixel Data, not decoded |
//! | `pixel-data-too-short` | error | native Pixel Data shorter than the attributes need (PS3.5 8.1.1) |
//! | `pixel-data-excess` | warning | more bytes than needed, beyond the one pad byte |
//! | `pixel-data-odd-length` | warning | odd length without the pad byte (PS3.5 7.1.1) |
//! | `ybr-full-422-not-subsampled` | warning | YBR_FULL_422 with the length of 3 samples per pixel |
//! | `too-few-fragments`, `offset-table-frame-count` | error, warning | encapsulated fragments or offsets do not match Number of Frames (PS3.5 A.4) |
//! | `malformed-ds`, `malformed-is` | error or warning | a DS or IS value is not a number (PS3.5 6.2); an error for the attributes Hounsfield uses |
//! | `malformed-ui` | warning | a UID breaks PS3.5 9.1 |
//! | `value-too-long` | warning | a DS value over 16 bytes or an IS value over 12 |
//! | `window-count-mismatch` | warning | Window Center and Window Width counts differ (PS3.3 C.11.2.1.2) |
//! | `window-explanation-count-mismatch` | info | explanation count differs from the window count |
//! | `invalid-window-width` | warning | a width the VOI LUT Function cannot use |
//! | `unknown-voi-lut-function` | warning | not LINEAR, LINEAR_EXACT or SIGMOID |
//! | `incomplete-rescale`, `zero-rescale-slope` | error | Rescale Slope without Intercept or the reverse, or slope 0 |
//! | `rescale-type-not-hu` | warning | a CT image whose Rescale Type is not HU (PS3.3 C.8.2.1) |
//! | `modality-lut-and-rescale` | warning | both a Modality LUT Sequence and a rescale (PS3.3 C.11.1) |
//! | `monochrome1` | info | MONOCHROME1: display values are inverted after the window |
//! | `lossy-image-compression` | warning | Lossy Image Compression is `01` (PS3.3 C.7.6.1.1.5) |
//! | `lossy-transfer-syntax` | warning | a lossy transfer syntax without Lossy Image Compression `01` |
//! | `invalid-lossy-image-compression` | warning | a value other than `00` or `01` |
//! | `for-presentation`, `for-processing` | info, warning | Presentation Intent Type (PS3.3 C.8.11.1.1.1) |
//! | `invalid-presentation-intent-type` | warning | another Presentation Intent Type |
//! | `burned-in-annotation`, `invalid-burned-in-annotation` | warning | Burned In Annotation is YES, or neither YES nor NO |
//! | `duplicate-sop-instance-uid` | error | files of a series share a SOP Instance UID |
//! | `duplicate-image-position` | warning | files of a series share an Image Position (Patient) |
//! | `inconsistent-rows-columns`, `inconsistent-image-orientation`, `inconsistent-pixel-spacing` | warning | files of a series disagree |
//! | `mixed-presentation-intent` | warning | a series mixes FOR PRESENTATION and FOR PROCESSING |

mod header;
mod pixel_module;
mod series;
mod values;

pub use series::{check_series, SeriesEntry, SeriesFinding, SeriesIndex, SeriesReport};

use crate::finding::{Finding, Severity};
use crate::open::{DicomFile, Framing};

/// Applies every header rule to `file`. `pixel_data_read` is false when the
/// file was read only up to Pixel Data, so that its absence from the data
/// set is no defect.
pub fn check_file(file: &DicomFile, pixel_data_read: bool) -> Vec<Finding> {
    let object = file.dataset();
    let transfer_syntax = file.transfer_syntax().trim_end_matches('\0');
    let mut findings = Vec::new();
    if let Framing::MissingFileMeta { .. } = file.framing {
        findings.push(Finding::new(
            Severity::Warning,
            "missing-file-meta",
            format!("{} (PS3.10 7.1); the encoding was guessed", file.framing),
        ));
    }
    pixel_module::check(object, pixel_data_read, &mut findings);
    values::check(object, &mut findings);
    header::check(object, transfer_syntax, &mut findings);
    findings
}

/// Returns true when the data set contains pixels or declares an image
/// (Rows or Columns).
pub fn declares_image(file: &DicomFile) -> bool {
    pixel_module::declares_image(file.dataset())
}
