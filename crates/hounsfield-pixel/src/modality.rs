//! The Modality LUT (PS3.3 C.11.1): stored values to modality values.

use dicom_core::value::{PrimitiveValue, Value};
use hounsfield_dicom::attr::{self, Object};
use hounsfield_dicom::{tags, Finding, Severity, Tag};
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::describe::PixelDescription;
use crate::error::PixelError;

/// How stored values became modality values for one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModalityTransform {
    /// No Modality LUT attributes: modality values equal stored values.
    Identity,
    /// Rescale Slope and Intercept: `value = stored * slope + intercept`.
    Rescale {
        /// Rescale Slope (0028,1053).
        slope: f64,
        /// Rescale Intercept (0028,1052).
        intercept: f64,
        /// Rescale Type (0028,1054), e.g. `HU`.
        #[serde(skip_serializing_if = "Option::is_none")]
        rescale_type: Option<String>,
        /// Where the values came from: `top_level`, `shared_functional_groups`
        /// or `per_frame_functional_groups`.
        source: &'static str,
    },
    /// A Modality LUT Sequence (0028,3000) item.
    Lut {
        /// Number of entries.
        entries: usize,
        /// The stored value mapped by the first entry.
        first_mapped: i64,
        /// Bits per entry.
        bits: u32,
        /// Modality LUT Type (0028,3004).
        #[serde(skip_serializing_if = "Option::is_none")]
        lut_type: Option<String>,
    },
}

/// A prepared Modality LUT for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ModalityLut {
    /// What the transform is, for the sample's metadata.
    pub transform: ModalityTransform,
    table: Option<Vec<f64>>,
}

fn rescale_in(
    object: &Object,
    source: &'static str,
) -> Result<Option<ModalityTransform>, PixelError> {
    let slope = attr::decimal(object, tags::RESCALE_SLOPE)?;
    let intercept = attr::decimal(object, tags::RESCALE_INTERCEPT)?;
    if slope.is_none() && intercept.is_none() {
        return Ok(None);
    }
    let (Some(slope), Some(intercept)) = (slope, intercept) else {
        let missing = if slope.is_none() {
            tags::RESCALE_SLOPE
        } else {
            tags::RESCALE_INTERCEPT
        };
        return Err(PixelError::invalid(
            missing,
            "(missing)",
            "Rescale Slope and Rescale Intercept must be present together",
        ));
    };
    Ok(Some(ModalityTransform::Rescale {
        slope,
        intercept,
        rescale_type: attr::text(object, tags::RESCALE_TYPE),
        source,
    }))
}

fn sequence_item(object: &Object, tag: Tag, index: usize) -> Option<&Object> {
    object.get(tag)?.items()?.get(index)
}

/// The Pixel Value Transformation item of a functional group item.
fn pixel_value_transformation(group: &Object) -> Option<&Object> {
    sequence_item(group, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE, 0)
}

fn lut_data(object: &Object) -> Option<Vec<u16>> {
    match object.get(tags::LUT_DATA)?.value() {
        Value::Primitive(PrimitiveValue::U16(values)) => Some(values.to_vec()),
        Value::Primitive(PrimitiveValue::I16(values)) => {
            Some(values.iter().map(|&v| v as u16).collect())
        }
        Value::Primitive(PrimitiveValue::U8(bytes)) => Some(
            bytes
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect(),
        ),
        _ => None,
    }
}

fn descriptor(object: &Object, signed: bool) -> Result<(usize, i64, u32), PixelError> {
    let tag = tags::LUT_DESCRIPTOR;
    let values: Vec<i64> = match object.get(tag).map(|e| e.value()) {
        Some(Value::Primitive(PrimitiveValue::U16(v))) => v.iter().map(|&x| i64::from(x)).collect(),
        Some(Value::Primitive(PrimitiveValue::I16(v))) => {
            v.iter().map(|&x| i64::from(x as u16)).collect()
        }
        Some(Value::Primitive(PrimitiveValue::U8(b))) => b
            .chunks_exact(2)
            .map(|pair| i64::from(u16::from_le_bytes([pair[0], pair[1]])))
            .collect(),
        Some(_) => {
            return Err(PixelError::invalid(
                tag,
                "(unreadable)",
                "expected three US or SS values",
            ))
        }
        None => return Err(PixelError::missing(tag)),
    };
    if values.len() != 3 {
        return Err(PixelError::invalid(
            tag,
            format!("{values:?}"),
            "expected three values",
        ));
    }
    // PS3.3 C.11.1.1.1: 0 entries means 65536; the first mapped value is
    // US or SS following Pixel Representation.
    let entries = if values[0] == 0 {
        65536
    } else {
        values[0] as usize
    };
    let first_mapped = if signed && values[1] > 32767 {
        values[1] - 65536
    } else {
        values[1]
    };
    Ok((entries, first_mapped, values[2] as u32))
}

impl ModalityLut {
    /// Finds the Modality LUT for frame `frame`: a Modality LUT Sequence,
    /// per-frame or shared functional groups (enhanced objects), or the
    /// top-level Rescale Slope and Intercept, in that order. Absent
    /// attributes give the identity and an `info` finding.
    pub fn for_frame(
        object: &Object,
        description: &PixelDescription,
        frame: u32,
        findings: &mut Vec<Finding>,
    ) -> Result<Self, PixelError> {
        if let Some(item) = sequence_item(object, tags::MODALITY_LUT_SEQUENCE, 0) {
            let (entries, first_mapped, bits) = descriptor(item, description.signed)?;
            let data = lut_data(item).ok_or_else(|| PixelError::missing(tags::LUT_DATA))?;
            if data.len() < entries {
                return Err(PixelError::invalid(
                    tags::LUT_DATA,
                    format!("{} entries", data.len()),
                    format!("LUT Descriptor declares {entries} entries"),
                ));
            }
            let table = data[..entries].iter().map(|&v| f64::from(v)).collect();
            return Ok(ModalityLut {
                transform: ModalityTransform::Lut {
                    entries,
                    first_mapped,
                    bits,
                    lut_type: attr::text(item, tags::MODALITY_LUT_TYPE),
                },
                table: Some(table),
            });
        }
        let per_frame = sequence_item(
            object,
            tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
            frame as usize,
        )
        .and_then(pixel_value_transformation);
        let shared = sequence_item(object, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, 0)
            .and_then(pixel_value_transformation);
        let mut transform = None;
        if let Some(item) = per_frame {
            transform = rescale_in(item, "per_frame_functional_groups")?;
        }
        if transform.is_none() {
            if let Some(item) = shared {
                transform = rescale_in(item, "shared_functional_groups")?;
            }
        }
        if transform.is_none() {
            transform = rescale_in(object, "top_level")?;
        }
        let transform = transform.unwrap_or_else(|| {
            findings.push(Finding::new(
                Severity::Info,
                "no-modality-lut",
                "no Rescale Slope/Intercept or Modality LUT Sequence; modality values equal stored values",
            ));
            ModalityTransform::Identity
        });
        Ok(ModalityLut {
            transform,
            table: None,
        })
    }

    /// Applies the LUT to one plane of stored values, in `f64` arithmetic
    /// rounded once to `f32`.
    pub fn apply<S: StoredValue>(&self, stored: ArrayView2<S>) -> Array2<f32> {
        match (&self.transform, &self.table) {
            (ModalityTransform::Lut { first_mapped, .. }, Some(table)) => {
                let last = table.len() as i64 - 1;
                stored.mapv(|sv| {
                    // PS3.3 C.11.1.1.1: values outside the range map to the
                    // first or last entry.
                    let index = (sv.widen() - first_mapped).clamp(0, last);
                    table[index as usize] as f32
                })
            }
            (
                ModalityTransform::Rescale {
                    slope, intercept, ..
                },
                _,
            ) => {
                let (slope, intercept) = (*slope, *intercept);
                stored.mapv(|sv| (sv.to_f64() * slope + intercept) as f32)
            }
            _ => stored.mapv(|sv| sv.to_f64() as f32),
        }
    }
}

/// A stored value type: `i64` fits every stored value, and `i32` fits those
/// of up to 16 bits and converts to floating point in vector registers.
pub trait StoredValue: Copy {
    /// Converts the value to an `i64`.
    fn widen(self) -> i64;
    /// Converts the value to an `f64`, exactly.
    fn to_f64(self) -> f64;
}

impl StoredValue for i64 {
    fn widen(self) -> i64 {
        self
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl StoredValue for i32 {
    fn widen(self) -> i64 {
        i64::from(self)
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

/// Pixel Padding Value (0028,0120) and Pixel Padding Range Limit (0028,0121),
/// compared with stored values before the Modality LUT (PS3.3 C.7.5.1.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Padding {
    /// Lowest padded stored value.
    pub low: i64,
    /// Highest padded stored value (equal to `low` without a range limit).
    pub high: i64,
}

impl Padding {
    /// Reads the padding attributes with the sign Pixel Representation gives them.
    pub fn read(object: &Object, signed: bool) -> Result<Option<Self>, PixelError> {
        let Some(value) = attr::us_or_ss(object, tags::PIXEL_PADDING_VALUE, signed)? else {
            return Ok(None);
        };
        let limit =
            attr::us_or_ss(object, tags::PIXEL_PADDING_RANGE_LIMIT, signed)?.unwrap_or(value);
        Ok(Some(Padding {
            low: value.min(limit),
            high: value.max(limit),
        }))
    }

    /// Marks the padded stored values; `true` means padding.
    pub fn mask(&self, stored: ArrayView2<i64>) -> Array2<bool> {
        // Two comparisons without a branch, which `RangeInclusive::contains`
        // does not compile to.
        stored.mapv(|sv| (self.low <= sv) & (sv <= self.high))
    }

    /// [`Padding::mask`] for `i32` stored values, compared as `i32`.
    pub fn mask_narrow(&self, stored: ArrayView2<i32>) -> Array2<bool> {
        let (min, max) = (i64::from(i32::MIN), i64::from(i32::MAX));
        if self.high < min || self.low > max {
            return Array2::from_elem(stored.raw_dim(), false);
        }
        // Clamping keeps the test exact: every i32 value lies inside the
        // clamped part of the range exactly when it lies inside the range.
        let (low, high) = (self.low.max(min) as i32, self.high.min(max) as i32);
        stored.mapv(|sv| (low <= sv) & (sv <= high))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rescale_uses_float_not_the_stored_type() {
        // GOTCHAS G-06 slice 3: slope 2, intercept -2048; SVs
        // [0, 1024, 1536, 4095] give [-2048, 0, 1024, 6142].
        let lut = ModalityLut {
            transform: ModalityTransform::Rescale {
                slope: 2.0,
                intercept: -2048.0,
                rescale_type: None,
                source: "top_level",
            },
            table: None,
        };
        let out = lut.apply(array![[0, 1024], [1536, 4095]].view());
        assert_eq!(out, array![[-2048.0, 0.0], [1024.0, 6142.0]]);
    }

    #[test]
    fn lut_clamps_outside_its_range() {
        // PS3.3 C.11.1.1.1: first mapped 10, 4 entries [100, 200, 300, 400];
        // SV 5 -> first entry, 12 -> entry 2, 99 -> last entry.
        let lut = ModalityLut {
            transform: ModalityTransform::Lut {
                entries: 4,
                first_mapped: 10,
                bits: 16,
                lut_type: None,
            },
            table: Some(vec![100.0, 200.0, 300.0, 400.0]),
        };
        let out = lut.apply(array![[5, 12, 99]].view());
        assert_eq!(out, array![[100.0, 300.0, 400.0]]);
    }

    #[test]
    fn narrow_padding_mask_at_i32_limits() {
        let stored = array![[i32::MIN, -1, 0, 1, 65535, i32::MAX]];
        let wide = stored.mapv(i64::from);
        let limits = [
            i64::MIN,
            -(1 << 40),
            i64::from(i32::MIN),
            -1,
            0,
            1,
            65535,
            i64::from(i32::MAX),
            1 << 40,
            i64::MAX,
        ];
        for &low in &limits {
            for &high in &limits {
                let padding = Padding { low, high };
                assert_eq!(
                    padding.mask_narrow(stored.view()),
                    padding.mask(wide.view()),
                    "[{low}, {high}]"
                );
            }
        }
    }

    #[test]
    fn padding_range_is_inclusive_in_either_order() {
        let padding = Padding { low: 0, high: 10 };
        let mask = padding.mask(array![[-1, 0, 10, 11]].view());
        assert_eq!(mask, array![[false, true, true, false]]);
    }
}
