//! Writes known output for checks with NumPy and the Python `webdataset` package.
//!
//! Run with
//! `HOUNSFIELD_EXPORT_FIXTURE_DIR=/tmp/fixture cargo test -p hounsfield-export -- --ignored write_python_fixture`.
//! The directory then contains:
//!
//! - `npy/*.npy`: one file per array below, named after its dtype and shape.
//! - `shards/shard-00000N.tar`: samples `s0` to `s4`, two per shard. Sample
//!   `sN` has `npy` (f32, shape (2, 3), values `N * 10 + i * 3 + j`),
//!   `json` (`{"index": N, "key": "sN"}`) and `png` (8-bit gray, 2x2,
//!   values `N, N + 1, N + 2, N + 3`).
//! - `manifest.json`: the list returned by `ShardWriter::finish`.

use std::path::PathBuf;

use hounsfield_export::{
    encode_png_gray8, write_json_atomic, write_npy_atomic, AtomicWriteOptions, Sample,
    ShardOptions, ShardWriter,
};
use ndarray::{arr0, Array, Array2, ArrayD, IxDyn};

#[test]
#[ignore = "writes files for a manual NumPy and webdataset check"]
fn write_python_fixture() {
    let Some(dir) = std::env::var_os("HOUNSFIELD_EXPORT_FIXTURE_DIR").map(PathBuf::from) else {
        panic!("set HOUNSFIELD_EXPORT_FIXTURE_DIR to the output directory");
    };
    let options = AtomicWriteOptions::default();
    let npy_dir = dir.join("npy");

    // f32 (2, 3) C order, values 0..6.
    let f32_2x3 = Array::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32);
    write_npy_atomic(npy_dir.join("f32_2x3.npy"), f32_2x3.view(), options).unwrap();
    // The transpose of the above: shape (3, 2), values [[0, 3], [1, 4], [2, 5]].
    write_npy_atomic(npy_dir.join("f32_3x2_transposed.npy"), f32_2x3.t(), options).unwrap();
    write_npy_atomic(npy_dir.join("f64_scalar.npy"), arr0(2.5f64).view(), options).unwrap();
    // u8 (4,), values 0, 1, 254, 255.
    let u8_values = ndarray::arr1(&[0u8, 1, 254, 255]);
    write_npy_atomic(npy_dir.join("u8_4.npy"), u8_values.view(), options).unwrap();
    // u16 (2, 2), values 0, 1, 256, 65535.
    let u16_values = ndarray::arr2(&[[0u16, 1], [256, 65535]]);
    write_npy_atomic(npy_dir.join("u16_2x2.npy"), u16_values.view(), options).unwrap();
    // i16 (3,), values -1024, 0, 3071.
    let i16_values = ndarray::arr1(&[-1024i16, 0, 3071]);
    write_npy_atomic(npy_dir.join("i16_3.npy"), i16_values.view(), options).unwrap();
    // f32 (2, 1, 3, 1, 2), values 0..12 in C order.
    let five_d =
        ArrayD::from_shape_vec(IxDyn(&[2, 1, 3, 1, 2]), (0..12).map(|v| v as f32).collect())
            .unwrap();
    write_npy_atomic(npy_dir.join("f32_5d.npy"), five_d.view(), options).unwrap();
    // f32 (0, 1, ..., 1, 10, 10, 10, 10): the shape tuple is 64 bytes, so the
    // header fills 128 bytes exactly and no space precedes the final newline.
    let mut exact_shape = vec![0usize];
    exact_shape.extend([1; 15]);
    exact_shape.extend([10; 4]);
    let exact_fit = ArrayD::<f32>::zeros(IxDyn(&exact_shape));
    write_npy_atomic(npy_dir.join("f32_exact_fit.npy"), exact_fit.view(), options).unwrap();
    // f32 (0, 4).
    let empty = Array2::<f32>::zeros((0, 4));
    write_npy_atomic(npy_dir.join("f32_0x4.npy"), empty.view(), options).unwrap();

    let mut writer = ShardWriter::new(
        dir.join("shards"),
        ShardOptions {
            max_samples_per_shard: 2,
            ..Default::default()
        },
    )
    .unwrap();
    for n in 0..5u8 {
        let key = format!("s{n}");
        let mut sample = Sample::new(key.clone());
        let values =
            Array::from_shape_fn((2, 3), |(i, j)| f32::from(n) * 10.0 + (i * 3 + j) as f32);
        sample.push_npy("npy", values.view()).unwrap();
        sample
            .push_json("json", &serde_json::json!({"index": n, "key": key}))
            .unwrap();
        let image = Array2::from_shape_fn((2, 2), |(i, j)| n + (i * 2 + j) as u8);
        sample.push_member("png", encode_png_gray8(image.view()).unwrap());
        writer.write_sample(&sample).unwrap();
    }
    let shards = writer.finish().unwrap();
    write_json_atomic(dir.join("manifest.json"), &shards, options).unwrap();
}
