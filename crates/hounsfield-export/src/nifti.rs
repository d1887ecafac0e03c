//! NIfTI-1 volumes (`.nii.gz`): a 348-byte header with qform and sform,
//! then float32 voxels, gzip-compressed.
//!
//! The header is the NIfTI-1 single-file form: little-endian fields at the
//! offsets of nibabel 5.4's `Nifti1Header`, `vox_offset` 352 after four zero
//! extension bytes, magic `n+1`. Voxel `(i, j, k)` is
//! stored with `i` fastest, which is the C order of an array indexed
//! `[k][j][i]`, so a `(C, D, H, W)` tensor is written as it lies in memory
//! with `i` = W, `j` = H, `k` = D.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;
use ndarray::ArrayView4;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};

/// Size of the NIfTI-1 header in bytes.
pub const NIFTI1_HEADER_LEN: usize = 348;
/// Offset of the voxel data in a single `.nii` file: the header and the
/// four extension bytes (all zero: no extensions).
const VOX_OFFSET: usize = 352;
/// `NIFTI_TYPE_FLOAT32`.
const DATATYPE_FLOAT32: i16 = 16;
/// `NIFTI_XFORM_SCANNER_ANAT`: coordinates in the scanner's RAS space, as
/// DICOM patient coordinates are once their first two axes are negated.
const XFORM_SCANNER_ANAT: i16 = 1;
/// `NIFTI_INTENT_VECTOR`: each voxel contains a vector along dimension 5.
const INTENT_VECTOR: i16 = 1007;
/// `NIFTI_UNITS_MM`.
const UNITS_MM: u8 = 2;

/// A 4x4 matrix, row by row.
pub type Affine = [[f64; 4]; 4];

/// The qform of a NIfTI-1 header: a rotation stored as a unit quaternion
/// `(b, c, d)` (with `a ≥ 0` implied), the voxel spacing, the sign of the
/// third axis (`qfac`) and the offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Qform {
    /// Quaternion components b, c, d.
    pub quaternion: [f64; 3],
    /// `pixdim[0]`: 1, or -1 when the axes form a left-handed system.
    pub qfac: f64,
    /// `pixdim[1..=3]`: spacing along i, j and k, in mm. The k spacing is
    /// measured along the normal of the (i, j) plane.
    pub spacing: [f64; 3],
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`: position of voxel (0, 0, 0).
    pub offset: [f64; 3],
}

fn column(affine: &Affine, axis: usize) -> [f64; 3] {
    [affine[0][axis], affine[1][axis], affine[2][axis]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn unit(vector: [f64; 3], name: &str) -> Result<[f64; 3]> {
    let length = dot(vector, vector).sqrt();
    if !(length > 1e-12 && length.is_finite()) {
        return Err(Error::InvalidAffine {
            reason: format!("the {name} axis has length {length}"),
        });
    }
    Ok(vector.map(|x| x / length))
}

/// Converts a proper rotation matrix (columns are the axes) into a unit
/// quaternion `(a, b, c, d)` with `a ≥ 0`.
fn quaternion(rotation: [[f64; 3]; 3]) -> [f64; 4] {
    let r = |row: usize, col: usize| rotation[row][col];
    let trace = r(0, 0) + r(1, 1) + r(2, 2);
    let q = if trace > 0.0 {
        let s = 0.5 / (trace + 1.0).sqrt();
        [
            0.25 / s,
            (r(2, 1) - r(1, 2)) * s,
            (r(0, 2) - r(2, 0)) * s,
            (r(1, 0) - r(0, 1)) * s,
        ]
    } else if r(0, 0) >= r(1, 1) && r(0, 0) >= r(2, 2) {
        let s = 2.0 * (1.0 + r(0, 0) - r(1, 1) - r(2, 2)).sqrt();
        [
            (r(2, 1) - r(1, 2)) / s,
            0.25 * s,
            (r(0, 1) + r(1, 0)) / s,
            (r(0, 2) + r(2, 0)) / s,
        ]
    } else if r(1, 1) >= r(2, 2) {
        let s = 2.0 * (1.0 + r(1, 1) - r(0, 0) - r(2, 2)).sqrt();
        [
            (r(0, 2) - r(2, 0)) / s,
            (r(0, 1) + r(1, 0)) / s,
            0.25 * s,
            (r(1, 2) + r(2, 1)) / s,
        ]
    } else {
        let s = 2.0 * (1.0 + r(2, 2) - r(0, 0) - r(1, 1)).sqrt();
        [
            (r(1, 0) - r(0, 1)) / s,
            (r(0, 2) + r(2, 0)) / s,
            (r(1, 2) + r(2, 1)) / s,
            0.25 * s,
        ]
    };
    let norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let sign = if q[0] < 0.0 { -1.0 } else { 1.0 };
    q.map(|x| sign * x / norm)
}

impl Qform {
    /// Derives the qform of an affine in RAS.
    ///
    /// A qform contains a rotation and per-axis spacing only. The i axis keeps
    /// its direction, the j axis is made perpendicular to it, and the k axis
    /// is the normal of the (i, j) plane on the side of the affine's third
    /// column, with the spacing of that column along the normal. For an
    /// affine with a shear (a tilted CT stack) the qform therefore differs
    /// from the affine; the sform keeps the affine exactly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAffine`] when an axis has zero length or the third
    /// column lies in the plane of the first two.
    pub fn from_affine(affine: &Affine) -> Result<Self> {
        let (i_axis, j_axis, k_axis) = (column(affine, 0), column(affine, 1), column(affine, 2));

        let u0 = unit(i_axis, "i")?;
        let u1 = unit(
            {
                let along = dot(j_axis, u0);
                [
                    j_axis[0] - along * u0[0],
                    j_axis[1] - along * u0[1],
                    j_axis[2] - along * u0[2],
                ]
            },
            "j",
        )?;
        let normal = cross(u0, u1);

        let k_spacing = dot(k_axis, normal);
        if k_spacing.abs() < 1e-12 {
            return Err(Error::InvalidAffine {
                reason: "the k axis lies in the plane of the i and j axes".into(),
            });
        }
        // The k axis is `normal` when the affine is right-handed. Otherwise it
        // is `-normal`, which NIfTI stores as qfac = -1 with the rotation's
        // third column left as `normal`.
        let qfac = if k_spacing > 0.0 { 1.0 } else { -1.0 };
        let rotation = [
            [u0[0], u1[0], normal[0]],
            [u0[1], u1[1], normal[1]],
            [u0[2], u1[2], normal[2]],
        ];
        let [_, b, c, d] = quaternion(rotation);

        Ok(Qform {
            quaternion: [b, c, d],
            qfac,
            spacing: [
                dot(i_axis, i_axis).sqrt(),
                dot(j_axis, j_axis).sqrt(),
                k_spacing.abs(),
            ],
            offset: [affine[0][3], affine[1][3], affine[2][3]],
        })
    }

    /// Returns the affine this qform describes, as NIfTI readers compute it.
    pub fn to_affine(&self) -> Affine {
        let [b, c, d] = self.quaternion;
        let a = (1.0 - b * b - c * c - d * d).max(0.0).sqrt();
        let rotation = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - b * b - c * c,
            ],
        ];
        let scales = [
            self.spacing[0],
            self.spacing[1],
            self.qfac * self.spacing[2],
        ];
        let mut affine = [[0.0; 4]; 4];
        for row in 0..3 {
            for axis in 0..3 {
                affine[row][axis] = rotation[row][axis] * scales[axis];
            }
            affine[row][3] = self.offset[row];
        }
        affine[3][3] = 1.0;
        affine
    }
}

fn put_i16(header: &mut [u8], offset: usize, value: i16) {
    header[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_i32(header: &mut [u8], offset: usize, value: i32) {
    header[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_f32(header: &mut [u8], offset: usize, value: f64) {
    header[offset..offset + 4].copy_from_slice(&(value as f32).to_le_bytes());
}

fn put_text(header: &mut [u8], offset: usize, capacity: usize, text: &str) {
    // Keep the last byte zero so the field stays a C string.
    let bytes = text.as_bytes();
    let length = bytes.len().min(capacity - 1);
    header[offset..offset + length].copy_from_slice(&bytes[..length]);
}

/// Builds the NIfTI-1 header of a float32 volume of shape `(C, D, H, W)`
/// whose affine in RAS maps `(i, j, k)` = (W index, H index, D index).
///
/// One channel gives a 3-D image (`dim = [3, W, H, D]`). Several channels
/// give `dim = [5, W, H, D, 1, C]` with intent `NIFTI_INTENT_VECTOR`, the
/// NIfTI-1 form of a vector per voxel. The qform contains the rotation part of
/// the affine (see [`Qform::from_affine`]) and the sform the affine itself;
/// both have code 1 (scanner anatomical).
///
/// # Errors
///
/// [`Error::InvalidImageShape`] when a dimension is 0 or above 32767, and
/// [`Error::InvalidAffine`] when the affine has no orientation.
pub fn nifti_header(
    shape: [usize; 4],
    affine_ras: &Affine,
    description: &str,
) -> Result<[u8; NIFTI1_HEADER_LEN]> {
    let [channels, depth, rows, columns] = shape;
    let invalid = |reason: &str| Error::InvalidImageShape {
        shape: shape.to_vec(),
        kind: "NIfTI-1 volume",
        reason: reason.into(),
    };
    if shape.contains(&0) {
        return Err(invalid("every dimension must be at least 1"));
    }
    let size =
        |value: usize| i16::try_from(value).map_err(|_| invalid("a dimension exceeds 32767"));
    let qform = Qform::from_affine(affine_ras)?;

    let mut header = [0u8; NIFTI1_HEADER_LEN];
    put_i32(&mut header, 0, NIFTI1_HEADER_LEN as i32);
    header[38] = b'r';
    let mut dim = [1i16; 8];
    if channels == 1 {
        dim[0] = 3;
    } else {
        dim[0] = 5;
        dim[5] = size(channels)?;
        put_i16(&mut header, 68, INTENT_VECTOR);
    }
    dim[1] = size(columns)?;
    dim[2] = size(rows)?;
    dim[3] = size(depth)?;
    for (index, value) in dim.iter().enumerate() {
        put_i16(&mut header, 40 + 2 * index, *value);
    }
    put_i16(&mut header, 70, DATATYPE_FLOAT32);
    put_i16(&mut header, 72, 32);
    let pixdim = [
        qform.qfac,
        qform.spacing[0],
        qform.spacing[1],
        qform.spacing[2],
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    for (index, value) in pixdim.iter().enumerate() {
        put_f32(&mut header, 76 + 4 * index, *value);
    }
    put_f32(&mut header, 108, VOX_OFFSET as f64);
    put_f32(&mut header, 112, 1.0);
    header[123] = UNITS_MM;
    put_text(&mut header, 148, 80, description);
    put_i16(&mut header, 252, XFORM_SCANNER_ANAT);
    put_i16(&mut header, 254, XFORM_SCANNER_ANAT);
    for (index, value) in qform.quaternion.iter().chain(&qform.offset).enumerate() {
        put_f32(&mut header, 256 + 4 * index, *value);
    }
    for (row, values) in affine_ras.iter().take(3).enumerate() {
        for (axis, value) in values.iter().enumerate() {
            put_f32(&mut header, 280 + 16 * row + 4 * axis, *value);
        }
    }
    header[344..348].copy_from_slice(b"n+1\0");
    Ok(header)
}

/// Encodes a `(C, D, H, W)` float32 volume as a gzip-compressed single-file
/// NIfTI-1 image (`.nii.gz`). See [`nifti_header`] for the header.
///
/// The gzip header carries no time stamp or file name, so equal input gives
/// equal bytes.
///
/// # Errors
///
/// The errors of [`nifti_header`], and [`Error::NiftiEncode`] when
/// compression fails.
pub fn encode_nifti_gz(
    volume: ArrayView4<'_, f32>,
    affine_ras: &Affine,
    description: &str,
) -> Result<Vec<u8>> {
    let (channels, depth, rows, columns) = volume.dim();
    let header = nifti_header([channels, depth, rows, columns], affine_ras, description)?;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    let encode = |source| Error::NiftiEncode { source };
    encoder.write_all(&header).map_err(encode)?;
    encoder
        .write_all(&[0u8; VOX_OFFSET - NIFTI1_HEADER_LEN])
        .map_err(encode)?;
    let mut chunk = Vec::with_capacity(1 << 16);
    // `iter` visits elements in logical C order for any strides.
    for &value in volume.iter() {
        chunk.extend_from_slice(&value.to_le_bytes());
        if chunk.len() >= 1 << 16 {
            encoder.write_all(&chunk).map_err(encode)?;
            chunk.clear();
        }
    }
    encoder.write_all(&chunk).map_err(encode)?;
    encoder.finish().map_err(encode)
}

/// Encodes a volume as with [`encode_nifti_gz`] and writes it to `path`
/// atomically.
///
/// # Errors
///
/// The errors of [`encode_nifti_gz`] and of [`write_atomic`].
pub fn write_nifti_gz_atomic(
    path: impl AsRef<Path>,
    volume: ArrayView4<'_, f32>,
    affine_ras: &Affine,
    description: &str,
) -> Result<()> {
    let bytes = encode_nifti_gz(volume, affine_ras, description)?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use std::io::Read;

    fn close(a: &Affine, b: &Affine, tolerance: f64) -> bool {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .all(|(x, y)| (x - y).abs() <= tolerance)
    }

    fn rotation_z(angle: f64) -> [[f64; 3]; 3] {
        let (sin, cos) = angle.sin_cos();
        [[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]
    }

    fn affine_from(rotation: [[f64; 3]; 3], spacing: [f64; 3], offset: [f64; 3]) -> Affine {
        let mut affine = [[0.0; 4]; 4];
        for row in 0..3 {
            for axis in 0..3 {
                affine[row][axis] = rotation[row][axis] * spacing[axis];
            }
            affine[row][3] = offset[row];
        }
        affine[3][3] = 1.0;
        affine
    }

    #[test]
    fn qform_round_trips_rotations() {
        // Axial LPS seen in RAS: a 180 degree turn about z. Then oblique
        // turns, and a left-handed axis set (qfac -1).
        let cases = [
            affine_from(
                rotation_z(std::f64::consts::PI),
                [0.5, 0.5, 2.5],
                [10.0, -4.0, 3.0],
            ),
            affine_from(rotation_z(0.3), [0.7, 0.8, 3.0], [1.0, 2.0, 3.0]),
            affine_from(
                [[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]],
                [1.0, 1.0, 5.0],
                [0.0; 3],
            ),
            affine_from(
                [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]],
                [0.39, 0.39, 10.0],
                [-99.5, 301.5, -149.0],
            ),
        ];
        for affine in cases {
            let qform = Qform::from_affine(&affine).unwrap();
            assert!(
                close(&qform.to_affine(), &affine, 1e-9),
                "{affine:?} -> {:?}",
                qform.to_affine()
            );
        }
    }

    #[test]
    fn sheared_qform_keeps_normal_spacing() {
        // The k column steps 4 mm along z and 1.34 mm along y.
        let affine = [
            [-0.5, 0.0, 0.0, 0.0],
            [0.0, -0.5, -1.34, 0.0],
            [0.0, 0.0, 4.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let qform = Qform::from_affine(&affine).unwrap();
        assert!((qform.spacing[2] - 4.0).abs() < 1e-12);
        let back = qform.to_affine();
        assert!(back[1][2].abs() < 1e-12, "{back:?}");
        assert!((back[2][2] - 4.0).abs() < 1e-12, "{back:?}");
    }

    #[test]
    fn header_fields_are_at_their_offsets() {
        let affine = affine_from(rotation_z(0.0), [0.5, 0.25, 2.0], [1.0, 2.0, 3.0]);
        let header = nifti_header([1, 5, 3, 4], &affine, "test").unwrap();
        let i16_at = |offset: usize| i16::from_le_bytes([header[offset], header[offset + 1]]);
        let f32_at =
            |offset: usize| f32::from_le_bytes(header[offset..offset + 4].try_into().unwrap());
        assert_eq!(i32::from_le_bytes(header[0..4].try_into().unwrap()), 348);
        assert_eq!(
            [i16_at(40), i16_at(42), i16_at(44), i16_at(46)],
            [3, 4, 3, 5]
        );
        assert_eq!(i16_at(70), 16);
        assert_eq!(f32_at(108), 352.0);
        assert_eq!([f32_at(80), f32_at(84), f32_at(88)], [0.5, 0.25, 2.0]);
        assert_eq!([i16_at(252), i16_at(254)], [1, 1]);
        assert_eq!(f32_at(280 + 12), 1.0);
        assert_eq!(f32_at(296 + 4), 0.25);
        assert_eq!(&header[344..348], b"n+1\0");
        assert_eq!(&header[148..152], b"test");
    }

    #[test]
    fn channels_become_a_vector_dimension() {
        let affine = affine_from(rotation_z(0.0), [1.0; 3], [0.0; 3]);
        let header = nifti_header([3, 2, 2, 2], &affine, "").unwrap();
        let i16_at = |offset: usize| i16::from_le_bytes([header[offset], header[offset + 1]]);
        assert_eq!(i16_at(40), 5);
        assert_eq!(i16_at(50), 3);
        assert_eq!(i16_at(68), INTENT_VECTOR);
    }

    #[test]
    fn volume_decompresses_to_header_and_c_order_data() {
        let volume =
            Array4::from_shape_fn((1, 2, 2, 3), |(_, k, j, i)| (k * 100 + j * 10 + i) as f32);
        let affine = affine_from(rotation_z(0.0), [1.0; 3], [0.0; 3]);
        let bytes = encode_nifti_gz(volume.view(), &affine, "").unwrap();
        assert_eq!(bytes, encode_nifti_gz(volume.view(), &affine, "").unwrap());
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len(), 352 + 12 * 4);
        let values: Vec<f32> = raw[352..]
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap()))
            .collect();
        assert_eq!(&values[..4], [0.0, 1.0, 2.0, 10.0]);
        assert_eq!(values[6], 100.0);
    }

    #[test]
    fn zero_axes_are_rejected() {
        let mut affine = affine_from(rotation_z(0.0), [1.0; 3], [0.0; 3]);
        affine[2][2] = 0.0;
        assert!(matches!(
            nifti_header([1, 1, 1, 1], &affine, ""),
            Err(Error::InvalidAffine { .. })
        ));
        assert!(nifti_header(
            [1, 0, 1, 1],
            &affine_from(rotation_z(0.0), [1.0; 3], [0.0; 3]),
            ""
        )
        .is_err());
    }
}
