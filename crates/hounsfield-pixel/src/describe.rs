//! The Image Pixel Module (PS3.3 C.7.6.3): how stored values are laid out.

use hounsfield_dicom::attr::{self, Object};
use hounsfield_dicom::{tags, Finding, Severity, Tag};
use serde::Serialize;

use crate::error::PixelError;

/// Photometric Interpretation (0028,0004), PS3.3 C.7.6.3.1.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Photometric {
    /// Grayscale, minimum value shown as white.
    Monochrome1,
    /// Grayscale, minimum value shown as black.
    Monochrome2,
    /// Indices into the Red, Green and Blue palette LUTs.
    PaletteColor,
    /// Red, green and blue samples.
    Rgb,
    /// Full-range YCbCr.
    YbrFull,
    /// Full-range YCbCr with Cb and Cr subsampled horizontally by two.
    YbrFull422,
    /// Irreversible colour transform of JPEG 2000.
    YbrIct,
    /// Reversible colour transform of JPEG 2000.
    YbrRct,
    /// YCbCr 4:2:0 of MPEG.
    YbrPartial420,
    /// Any other term, kept as written.
    Other(String),
}

impl Photometric {
    /// Parses a defined term.
    pub fn parse(term: &str) -> Self {
        match term.trim() {
            "MONOCHROME1" => Photometric::Monochrome1,
            "MONOCHROME2" => Photometric::Monochrome2,
            "PALETTE COLOR" => Photometric::PaletteColor,
            "RGB" => Photometric::Rgb,
            "YBR_FULL" => Photometric::YbrFull,
            "YBR_FULL_422" => Photometric::YbrFull422,
            "YBR_ICT" => Photometric::YbrIct,
            "YBR_RCT" => Photometric::YbrRct,
            "YBR_PARTIAL_420" => Photometric::YbrPartial420,
            other => Photometric::Other(other.to_string()),
        }
    }

    /// The defined term.
    pub fn as_str(&self) -> &str {
        match self {
            Photometric::Monochrome1 => "MONOCHROME1",
            Photometric::Monochrome2 => "MONOCHROME2",
            Photometric::PaletteColor => "PALETTE COLOR",
            Photometric::Rgb => "RGB",
            Photometric::YbrFull => "YBR_FULL",
            Photometric::YbrFull422 => "YBR_FULL_422",
            Photometric::YbrIct => "YBR_ICT",
            Photometric::YbrRct => "YBR_RCT",
            Photometric::YbrPartial420 => "YBR_PARTIAL_420",
            Photometric::Other(term) => term,
        }
    }

    /// True for MONOCHROME1 and MONOCHROME2.
    pub fn is_monochrome(&self) -> bool {
        matches!(self, Photometric::Monochrome1 | Photometric::Monochrome2)
    }
}

impl From<Photometric> for String {
    fn from(value: Photometric) -> Self {
        value.as_str().to_string()
    }
}

/// The attributes that say how Pixel Data encodes one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PixelDescription {
    /// Rows (0028,0010).
    pub rows: u32,
    /// Columns (0028,0011).
    pub columns: u32,
    /// Samples per Pixel (0028,0002): 1 or 3.
    pub samples_per_pixel: u32,
    /// Bits Allocated (0028,0100): 1, 8, 16 or 32.
    pub bits_allocated: u32,
    /// Bits Stored (0028,0101).
    pub bits_stored: u32,
    /// High Bit (0028,0102).
    pub high_bit: u32,
    /// Pixel Representation (0028,0103) is 1: two's complement samples.
    pub signed: bool,
    /// Photometric Interpretation (0028,0004).
    pub photometric: Photometric,
    /// Planar Configuration (0028,0006) is 1: colour planes one after the
    /// other instead of interleaved samples.
    pub planar: bool,
    /// Number of Frames (0028,0008), 1 when absent.
    pub frames: u32,
}

fn required(object: &Object, tag: Tag) -> Result<i64, PixelError> {
    attr::integer(object, tag)?.ok_or_else(|| PixelError::missing(tag))
}

fn in_range(tag: Tag, value: i64, low: i64, high: i64) -> Result<u32, PixelError> {
    if (low..=high).contains(&value) {
        Ok(value as u32)
    } else {
        Err(PixelError::invalid(
            tag,
            value,
            format!("must be between {low} and {high}"),
        ))
    }
}

impl PixelDescription {
    /// Reads and checks the Image Pixel Module attributes. Tolerated defects
    /// are added to `findings`.
    pub fn read(object: &Object, findings: &mut Vec<Finding>) -> Result<Self, PixelError> {
        let rows = in_range(tags::ROWS, required(object, tags::ROWS)?, 1, 65535)?;
        let columns = in_range(tags::COLUMNS, required(object, tags::COLUMNS)?, 1, 65535)?;
        let samples_per_pixel = match attr::integer(object, tags::SAMPLES_PER_PIXEL)? {
            Some(value) => value,
            None => {
                findings.push(Finding::about(
                    Severity::Warning,
                    "missing-attribute",
                    tags::SAMPLES_PER_PIXEL,
                    "Samples per Pixel is missing; assuming 1",
                ));
                1
            }
        };
        if samples_per_pixel != 1 && samples_per_pixel != 3 {
            return Err(PixelError::invalid(
                tags::SAMPLES_PER_PIXEL,
                samples_per_pixel,
                "must be 1 or 3",
            ));
        }
        let bits_allocated = required(object, tags::BITS_ALLOCATED)?;
        if !matches!(bits_allocated, 1 | 8 | 16 | 32) {
            return Err(PixelError::invalid(
                tags::BITS_ALLOCATED,
                bits_allocated,
                "must be 1, 8, 16 or 32",
            ));
        }
        let bits_allocated = bits_allocated as u32;
        let bits_stored = match attr::integer(object, tags::BITS_STORED)? {
            Some(value) => in_range(tags::BITS_STORED, value, 1, i64::from(bits_allocated))?,
            None => {
                findings.push(Finding::about(
                    Severity::Warning,
                    "missing-attribute",
                    tags::BITS_STORED,
                    format!("Bits Stored is missing; assuming Bits Allocated ({bits_allocated})"),
                ));
                bits_allocated
            }
        };
        let high_bit = match attr::integer(object, tags::HIGH_BIT)? {
            Some(value) => in_range(tags::HIGH_BIT, value, 0, i64::from(bits_allocated) - 1)?,
            None => {
                findings.push(Finding::about(
                    Severity::Warning,
                    "missing-attribute",
                    tags::HIGH_BIT,
                    "High Bit is missing; assuming Bits Stored - 1",
                ));
                bits_stored - 1
            }
        };
        if high_bit + 1 < bits_stored {
            return Err(PixelError::invalid(
                tags::HIGH_BIT,
                high_bit,
                format!("High Bit + 1 must be at least Bits Stored ({bits_stored})"),
            ));
        }
        if high_bit != bits_stored - 1 {
            findings.push(Finding::about(
                Severity::Warning,
                "unusual-high-bit",
                tags::HIGH_BIT,
                format!(
                    "High Bit is {high_bit}, not Bits Stored - 1 ({})",
                    bits_stored - 1
                ),
            ));
        }
        let signed = match attr::integer(object, tags::PIXEL_REPRESENTATION)? {
            Some(0) => false,
            Some(1) => true,
            Some(other) => {
                return Err(PixelError::invalid(
                    tags::PIXEL_REPRESENTATION,
                    other,
                    "must be 0 (unsigned) or 1 (two's complement)",
                ))
            }
            None => {
                findings.push(Finding::about(
                    Severity::Warning,
                    "missing-attribute",
                    tags::PIXEL_REPRESENTATION,
                    "Pixel Representation is missing; assuming 0 (unsigned)",
                ));
                false
            }
        };
        let photometric = match attr::text(object, tags::PHOTOMETRIC_INTERPRETATION) {
            Some(term) => Photometric::parse(&term),
            None if samples_per_pixel == 1 => {
                findings.push(Finding::about(
                    Severity::Warning,
                    "missing-attribute",
                    tags::PHOTOMETRIC_INTERPRETATION,
                    "Photometric Interpretation is missing; assuming MONOCHROME2",
                ));
                Photometric::Monochrome2
            }
            None => return Err(PixelError::missing(tags::PHOTOMETRIC_INTERPRETATION)),
        };
        let expected_samples = match photometric {
            Photometric::Monochrome1 | Photometric::Monochrome2 | Photometric::PaletteColor => 1,
            Photometric::Other(_) => samples_per_pixel,
            _ => 3,
        };
        if samples_per_pixel != expected_samples {
            return Err(PixelError::invalid(
                tags::SAMPLES_PER_PIXEL,
                samples_per_pixel,
                format!(
                    "{} needs {expected_samples} sample(s) per pixel",
                    photometric.as_str()
                ),
            ));
        }
        let planar = match attr::integer(object, tags::PLANAR_CONFIGURATION)? {
            Some(1) if samples_per_pixel == 3 => true,
            Some(0) | None => false,
            Some(1) => false,
            Some(other) => {
                return Err(PixelError::invalid(
                    tags::PLANAR_CONFIGURATION,
                    other,
                    "must be 0 (interleaved) or 1 (by plane)",
                ))
            }
        };
        let frames = match attr::integer(object, tags::NUMBER_OF_FRAMES)? {
            Some(value) => in_range(tags::NUMBER_OF_FRAMES, value, 1, i64::from(i32::MAX))?,
            None => 1,
        };
        Ok(PixelDescription {
            rows,
            columns,
            samples_per_pixel: samples_per_pixel as u32,
            bits_allocated,
            bits_stored,
            high_bit,
            signed,
            photometric,
            planar,
            frames,
        })
    }

    /// Pixels in one frame.
    pub fn pixels_per_frame(&self) -> usize {
        self.rows as usize * self.columns as usize
    }

    /// Bytes of one native (uncompressed) frame; for Bits Allocated 1 the
    /// bits of consecutive frames run on without padding, so this rounds up.
    pub fn native_frame_bits(&self) -> u64 {
        self.pixels_per_frame() as u64
            * u64::from(self.samples_per_pixel)
            * u64::from(self.bits_allocated)
    }

    /// Bytes of all native frames (PS3.5 8.1.1), rounded up to whole bytes.
    ///
    /// NOTE: native `YBR_FULL_422` Pixel Data contains two thirds of this, 2
    /// samples per pixel (PS3.3 C.7.6.3.1.2), which [`crate::decode_frame`]
    /// accounts for.
    pub fn native_length(&self) -> u64 {
        (self.native_frame_bits() * u64::from(self.frames)).div_ceil(8)
    }

    /// The dimensions as text for messages, e.g. `512x512, 1 sample, 16 bits, 3 frames`.
    pub fn summary(&self) -> String {
        format!(
            "{}x{} pixels, {} sample(s) of {} bits, {} frame(s)",
            self.rows, self.columns, self.samples_per_pixel, self.bits_allocated, self.frames
        )
    }
}
