//! Reading files: the header up to Pixel Data, and pixel decoding to stored
//! values for each transfer syntax.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hounsfield_dicom::{open, ImageMetadata, OpenOptions};
use hounsfield_pixel::{decode_frame, DecodeLimits};

use common::{describe, fixture, open_fixture, CT_SLICE};

/// Fixtures decoded by the `decode` group: (bench name, file). The MR_small
/// files hold one 64 x 64 16-bit image in four encodings, so their figures
/// compare the codecs on the same pixels.
const DECODE_CASES: [(&str, &str); 10] = [
    ("native/ct_512x512x16", CT_SLICE),
    ("native/mr_64x64x16", "pydicom/MR_small.dcm"),
    (
        "native/mr_10_frames_64x64x16",
        "pydicom-data/emri_small.dcm",
    ),
    ("rle/mr_64x64x16", "pydicom/MR_small_RLE.dcm"),
    (
        "jpeg_ls/mr_64x64x16",
        "pydicom/MR_small_jpeg_ls_lossless.dcm",
    ),
    (
        "j2k_lossless/mr_64x64x16",
        "pydicom/MR_small_jp2klossless.dcm",
    ),
    ("j2k_lossy/1024x256x16", "pydicom/JPEG2000.dcm"),
    ("jpeg_lossless/1024x256x16", "pydicom-data/JPEG-LL.dcm"),
    (
        "jpeg_lossless/768x1024x8",
        "pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm",
    ),
    (
        "jpeg_baseline/rgb_256x256x8",
        "pydicom/SC_jpeg_no_color_transform.dcm",
    ),
];

fn metadata(c: &mut Criterion) {
    let mut group = c.benchmark_group("metadata");
    group.throughput(Throughput::Elements(1));
    let path = fixture(CT_SLICE);
    for (name, stop_before_pixel_data) in [("header_only", true), ("with_pixel_data", false)] {
        let options = OpenOptions {
            stop_before_pixel_data,
            lenient_framing: true,
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let file = open(black_box(&path), &options).expect("the fixture opens");
                let mut findings = Vec::new();
                let metadata =
                    ImageMetadata::read(file.dataset(), file.transfer_syntax(), &mut findings);
                black_box(metadata)
            })
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let limits = DecodeLimits::default();
    for (name, relative) in DECODE_CASES {
        let file = open_fixture(relative);
        let description = describe(&file);
        let pixels = description.pixels_per_frame() as u64 * u64::from(description.frames);
        group.throughput(Throughput::Elements(pixels));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut findings = Vec::new();
                for frame in 0..description.frames {
                    let stored = decode_frame(&file, &description, frame, &limits, &mut findings)
                        .expect("the fixture decodes");
                    black_box(stored);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, metadata, decode);
criterion_main!(benches);
