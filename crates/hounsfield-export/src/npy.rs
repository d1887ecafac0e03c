//! NumPy `.npy` encoding, format version 1.0.
//!
//! A file is the magic string `\x93NUMPY`, the version bytes `1 0`, a
//! little-endian `u16` header length, and an ASCII header: a Python dict
//! literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`,
//! padded with spaces and ending in `\n`. The raw element data follows.
//!
//! The preamble (magic string through the final newline) is padded to a
//! multiple of 64 bytes, the alignment that NumPy's own writer uses. The data
//! therefore starts 64-byte aligned in the file. Tar members start at 512-byte
//! offsets, so the data is 64-byte aligned inside a shard member too, which
//! lets a reader memory-map it without copying.
//!
//! This encoder is written by hand instead of using `ndarray-npy` 0.10, which
//! does support ndarray 0.17 and 64-byte alignment, for three reasons. It
//! writes an array in Fortran layout with `'fortran_order': True`, while the
//! files here are always C order. Its header dict has no trailing `, ` and so
//! differs from NumPy's own. It also pulls in the `py_literal` parser with
//! `pest` and `num-bigint`, which is more code than this writer.
//!
//! NumPy's writer (checked in NumPy 2.4.6) also adds up to 21 spare spaces so
//! that the header can grow in place when data is appended, and it always pads
//! with at least one space. This encoder pads with 0 to 63 spaces only.
//! `numpy.load` reads both forms, with and without `mmap_mode` (checked in
//! 2.4.6, including a header that needs no padding).

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use ndarray::{ArrayView, Dimension};

use crate::atomic::{AtomicFile, AtomicWriteOptions};
use crate::error::{Error, Result};

/// The magic string at the start of every `.npy` file.
pub const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Alignment in bytes of the data section, relative to the start of the file.
pub const NPY_ALIGNMENT: usize = 64;

/// Length of the magic string, the two version bytes and the `u16` header length.
const PREFIX_LEN: usize = 10;

/// Bytes buffered before a write to the caller's writer.
const CHUNK_LEN: usize = 64 * 1024;

mod sealed {
    pub trait Sealed {}
}

/// An element type that this crate can store in a `.npy` file.
///
/// The trait is sealed because the dtype descriptor and the byte encoding must
/// match exactly. It is implemented for `u8`, `u16`, `i16`, `i32`, `f32` and `f64`.
pub trait NpyElement: Copy + sealed::Sealed {
    /// NumPy dtype descriptor, for example `<f4` for little-endian `f32`.
    const DESCR: &'static str;

    /// Appends the little-endian bytes of `self` to `out`.
    fn extend_le_bytes(self, out: &mut Vec<u8>);

    /// Encodes `values` in little-endian order into `out`, which must hold
    /// exactly `values.len()` elements' bytes.
    ///
    /// # Panics
    /// If the lengths disagree.
    fn encode_le_slice(values: &[Self], out: &mut [u8]);

    /// Appends the little-endian bytes of `values` to `out`: one copy on
    /// little-endian hosts, with no zeroed buffer first.
    fn extend_le_slice(values: &[Self], out: &mut Vec<u8>);
}

macro_rules! impl_npy_element {
    ($ty:ty, $descr:literal) => {
        impl sealed::Sealed for $ty {}

        impl NpyElement for $ty {
            const DESCR: &'static str = $descr;

            fn extend_le_bytes(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }

            fn encode_le_slice(values: &[Self], out: &mut [u8]) {
                const SIZE: usize = std::mem::size_of::<$ty>();
                assert_eq!(out.len(), std::mem::size_of_val(values));
                // Fixed-size chunks let the compiler turn this into a plain
                // copy on little-endian hosts.
                for (bytes, value) in out.chunks_exact_mut(SIZE).zip(values) {
                    bytes.copy_from_slice(&value.to_le_bytes());
                }
            }

            fn extend_le_slice(values: &[Self], out: &mut Vec<u8>) {
                if cfg!(target_endian = "little") {
                    out.extend_from_slice(bytemuck::cast_slice(values));
                } else {
                    values.iter().for_each(|value| value.extend_le_bytes(out));
                }
            }
        }
    };
}

// `|` marks a one-byte type, for which byte order does not apply.
impl_npy_element!(u8, "|u1");
impl_npy_element!(u16, "<u2");
impl_npy_element!(i16, "<i2");
impl_npy_element!(i32, "<i4");
impl_npy_element!(f32, "<f4");
impl_npy_element!(f64, "<f8");

/// Builds the preamble of a C-order `.npy` file: magic string, version, header length and header.
///
/// The result length is a multiple of [`NPY_ALIGNMENT`]. Fails with
/// [`Error::NpyHeaderTooLong`] only for arrays with thousands of dimensions.
pub fn npy_header(descr: &str, shape: &[usize]) -> Result<Vec<u8>> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (");
    for (i, len) in shape.iter().enumerate() {
        if i > 0 {
            dict.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(dict, "{len}");
    }
    // Python writes a 1-tuple as `(3,)`.
    if shape.len() == 1 {
        dict.push(',');
    }
    dict.push_str("), }");

    let unpadded_len = PREFIX_LEN + dict.len() + 1;
    let padding = (NPY_ALIGNMENT - unpadded_len % NPY_ALIGNMENT) % NPY_ALIGNMENT;
    let header_len = dict.len() + padding + 1;
    let header_len_field = u16::try_from(header_len).map_err(|_| Error::NpyHeaderTooLong {
        ndim: shape.len(),
        len: header_len,
    })?;

    let mut out = Vec::with_capacity(PREFIX_LEN + header_len);
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&header_len_field.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(out.len() + padding, b' ');
    out.push(b'\n');
    debug_assert_eq!(out.len() % NPY_ALIGNMENT, 0);
    Ok(out)
}

/// Encodes `array` as a `.npy` file in memory.
///
/// Elements are stored in logical C order (last index fastest), whatever the
/// memory layout of the view, and in little-endian byte order on every host.
pub fn encode_npy<T: NpyElement, D: Dimension>(array: ArrayView<'_, T, D>) -> Result<Vec<u8>> {
    let header = npy_header(T::DESCR, array.shape())?;
    let mut out = Vec::with_capacity(header.len() + array.len() * std::mem::size_of::<T>());
    out.extend_from_slice(&header);
    match array.as_slice() {
        // A row-major array is already in C order: encode it in one pass.
        Some(values) => T::extend_le_slice(values, &mut out),
        // `iter` visits elements in logical order for any strides.
        None => {
            for &value in array.iter() {
                value.extend_le_bytes(&mut out);
            }
        }
    }
    Ok(out)
}

/// Writes `array` as a `.npy` file to `writer`.
///
/// The layout is the same as [`encode_npy`]. The data is converted in chunks,
/// so memory use stays small for large arrays. `writer` is not flushed.
pub fn write_npy<T: NpyElement, D: Dimension, W: Write>(
    mut writer: W,
    array: ArrayView<'_, T, D>,
) -> Result<()> {
    let header = npy_header(T::DESCR, array.shape())?;
    writer
        .write_all(&header)
        .map_err(|source| Error::NpyWrite { source })?;

    let mut chunk = Vec::with_capacity(CHUNK_LEN + std::mem::size_of::<T>());
    for &value in array.iter() {
        value.extend_le_bytes(&mut chunk);
        if chunk.len() >= CHUNK_LEN {
            writer
                .write_all(&chunk)
                .map_err(|source| Error::NpyWrite { source })?;
            chunk.clear();
        }
    }
    writer
        .write_all(&chunk)
        .map_err(|source| Error::NpyWrite { source })
}

/// Writes `array` as a `.npy` file to `path` atomically.
pub fn write_npy_atomic<T: NpyElement, D: Dimension>(
    path: impl AsRef<Path>,
    array: ArrayView<'_, T, D>,
    options: AtomicWriteOptions,
) -> Result<()> {
    let mut file = AtomicFile::create_with(path, options)?;
    match write_npy(&mut file, array) {
        Ok(()) => file.commit(),
        Err(Error::NpyWrite { source }) => Err(Error::Write {
            path: file.temp_path().to_path_buf(),
            source,
        }),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, arr1, arr2, Array, ArrayD, IxDyn, ShapeBuilder};

    /// Returns the header dict text, without padding or newline.
    fn header_dict(bytes: &[u8]) -> &str {
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        std::str::from_utf8(&bytes[PREFIX_LEN..PREFIX_LEN + len])
            .unwrap()
            .trim_end_matches('\n')
            .trim_end_matches(' ')
    }

    /// Returns the data section that follows the header.
    fn data_section(bytes: &[u8]) -> &[u8] {
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        &bytes[PREFIX_LEN + len..]
    }

    #[test]
    fn f32_2x3_matches_format_spec() {
        let array = arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);

        let bytes = encode_npy(array.view()).unwrap();

        // Dict: 59 bytes. Prefix 10 + dict 59 + newline 1 = 70, padded to
        // 128, so 58 spaces and HEADER_LEN = 128 - 10 = 118 = 0x76.
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(dict.len(), 59);
        let mut expected = Vec::new();
        expected.extend_from_slice(b"\x93NUMPY\x01\x00\x76\x00");
        expected.extend_from_slice(dict.as_bytes());
        expected.extend_from_slice(&[b' '; 58]);
        expected.push(b'\n');
        assert_eq!(expected.len(), 128);
        for value in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
            expected.extend_from_slice(&value.to_le_bytes());
        }
        assert_eq!(bytes, expected);
    }

    #[test]
    fn data_bytes_little_endian() {
        let array = arr1(&[1.0f32, -2.5]);

        let bytes = encode_npy(array.view()).unwrap();

        // 1.0f32 = 0x3F800000 and -2.5f32 = 0xC0200000, low byte first.
        assert_eq!(data_section(&bytes), &[0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0]);
    }

    #[test]
    fn shape_tuples_use_python_syntax() {
        let cases: Vec<(Vec<usize>, &str)> = vec![
            (vec![], "()"),
            (vec![3], "(3,)"),
            (vec![2, 3], "(2, 3)"),
            (vec![1, 2, 3, 4, 5], "(1, 2, 3, 4, 5)"),
            (vec![0, 4], "(0, 4)"),
        ];
        for (shape, tuple) in cases {
            let header = npy_header("<f4", &shape).unwrap();
            let expected =
                format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
            assert_eq!(header_dict(&header), expected, "shape {shape:?}");
        }
    }

    #[test]
    fn header_aligned_for_many_shapes() {
        let shapes: Vec<Vec<usize>> = vec![
            vec![],
            vec![1],
            vec![7],
            vec![512, 512],
            vec![1, 1, 1, 1, 1],
            vec![2, 3, 4, 5, 6],
            vec![123_456_789, 987_654_321, 5],
            vec![usize::MAX; 8],
        ];
        for shape in shapes {
            for descr in ["|u1", "<u2", "<f4", "<f8"] {
                let header = npy_header(descr, &shape).unwrap();
                let header_len = u16::from_le_bytes([header[8], header[9]]) as usize;
                assert_eq!(header.len() % 64, 0, "shape {shape:?} {descr}");
                assert_eq!(header.len(), PREFIX_LEN + header_len, "shape {shape:?}");
                assert_eq!(header.last(), Some(&b'\n'), "shape {shape:?}");
                assert_eq!(&header[..8], b"\x93NUMPY\x01\x00");
            }
        }
    }

    #[test]
    fn zero_dim_array_encoded() {
        let array = arr0(7.5f64);

        let bytes = encode_npy(array.view()).unwrap();

        // Dict: 55 bytes. Prefix 10 + dict 55 + newline 1 = 66, padded to
        // 128, so 62 spaces and HEADER_LEN = 118.
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
        assert_eq!(dict.len(), 55);
        assert_eq!(header_dict(&bytes), dict);
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 118);
        assert_eq!(&bytes[PREFIX_LEN + 55..127], &[b' '; 62]);
        assert_eq!(bytes[127], b'\n');
        assert_eq!(&bytes[128..], &7.5f64.to_le_bytes());
    }

    #[test]
    fn exact_fit_header_has_no_spaces() {
        // The tuple "(1000, ..., 1000, 10)" is 64 bytes, so the dict is
        // 55 - 2 + 64 = 117 bytes and 10 + 117 + 1 = 128 needs no padding.
        let mut shape = vec![1000; 10];
        shape.push(10);

        let header = npy_header("<f4", &shape).unwrap();

        assert_eq!(header.len(), 128);
        assert_eq!(u16::from_le_bytes([header[8], header[9]]), 118);
        assert!(header.ends_with(b", 1000, 10), }\n"), "{header:?}");
    }

    #[test]
    fn five_dim_array_in_c_order() {
        let array = Array::from_shape_fn((2, 1, 3, 1, 2), |(a, _, c, _, e)| {
            (a * 100 + c * 10 + e) as u16
        });

        let bytes = encode_npy(array.view()).unwrap();

        let dict = header_dict(&bytes);
        assert_eq!(
            dict,
            "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 1, 3, 1, 2), }"
        );
        let data: Vec<u16> = data_section(&bytes)
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        assert_eq!(
            data,
            vec![0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]
        );
    }

    #[test]
    fn transposed_view_written_in_logical_order() {
        let array = arr2(&[[1u8, 2, 3], [4, 5, 6]]);
        let transposed = array.t();

        let bytes = encode_npy(transposed).unwrap();

        assert_eq!(
            header_dict(&bytes),
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2), }"
        );
        assert_eq!(data_section(&bytes), &[1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn fortran_and_strided_views_in_c_order() {
        let fortran =
            Array::from_shape_vec((2, 3).f(), vec![1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0]).unwrap();
        let c_order = arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        let wide = arr2(&[[1i16, 0, 2, 0, 3], [4, 0, 5, 0, 6]]);
        let strided = wide.slice(ndarray::s![.., ..;2]);

        assert_eq!(
            encode_npy(fortran.view()).unwrap(),
            encode_npy(c_order.view()).unwrap()
        );
        let strided_bytes = encode_npy(strided).unwrap();
        let data: Vec<i16> = data_section(&strided_bytes)
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        assert_eq!(data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn descr_per_element_type() {
        assert_eq!(
            header_dict(&encode_npy(arr1(&[1u8]).view()).unwrap())[11..14],
            *"|u1"
        );
        assert_eq!(
            header_dict(&encode_npy(arr1(&[1u16]).view()).unwrap())[11..14],
            *"<u2"
        );
        assert_eq!(
            header_dict(&encode_npy(arr1(&[1i16]).view()).unwrap())[11..14],
            *"<i2"
        );
        assert_eq!(
            header_dict(&encode_npy(arr1(&[1i32]).view()).unwrap())[11..14],
            *"<i4"
        );
        assert_eq!(
            header_dict(&encode_npy(arr1(&[1f32]).view()).unwrap())[11..14],
            *"<f4"
        );
        assert_eq!(
            header_dict(&encode_npy(arr1(&[1f64]).view()).unwrap())[11..14],
            *"<f8"
        );
    }

    #[test]
    fn writer_output_matches_vec() {
        // Larger than one chunk, so the chunked path is exercised.
        let array = Array::from_shape_fn((300, 200), |(i, j)| (i * 200 + j) as f32);

        let mut written = Vec::new();
        write_npy(&mut written, array.t()).unwrap();

        assert_eq!(written, encode_npy(array.t()).unwrap());
        assert_eq!(written.len(), 128 + 300 * 200 * 4);
    }

    #[test]
    fn dynamic_dimension_supported() {
        let array = ArrayD::<f32>::zeros(IxDyn(&[2, 2, 2]));

        let bytes = encode_npy(array.view()).unwrap();

        assert_eq!(
            header_dict(&bytes),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }"
        );
    }

    #[test]
    fn header_too_long_rejected() {
        // 40000 axes of length 1 need about 120000 header bytes.
        let err = npy_header("<f4", &vec![1; 40_000]).unwrap_err();

        assert!(
            matches!(err, Error::NpyHeaderTooLong { ndim: 40_000, .. }),
            "{err}"
        );
    }

    #[test]
    fn atomic_write_produces_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let array = arr1(&[1.0f64, 2.0]);

        write_npy_atomic(&path, array.view(), AtomicWriteOptions::default()).unwrap();

        assert_eq!(
            std::fs::read(&path).unwrap(),
            encode_npy(array.view()).unwrap()
        );
    }
}
