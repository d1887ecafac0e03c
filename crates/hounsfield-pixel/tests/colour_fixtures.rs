//! RGB output of the colour fixtures, compared with pydicom.
//!
//! Expected values were computed with pydicom 3.0.2, numpy 2.4.6, pylibjpeg
//! 2.1.0, pylibjpeg-libjpeg 2.5.0, pylibjpeg-openjpeg 2.6.0 and
//! pylibjpeg-rle 2.2.0:
//!
//! ```python
//! ds = pydicom.dcmread(path, force=True)
//! rgb = ds.pixel_array  # default as_rgb: YBR_FULL and YBR_FULL_422 become RGB
//! rgb = pydicom.pixels.apply_color_lut(ds.pixel_array, ds)  # PALETTE COLOR
//! pixel = rgb[row, column]            # rgb[frame, row, column] for multi-frame
//! means = rgb.reshape(-1, 3).mean(axis=0)  # one frame
//! ```
//!
//! `OT-PAL-8-face.dcm` has no file meta information, so pydicom read it with
//! `file_meta.TransferSyntaxUID = "1.2.840.10008.1.2"` set by hand.
//!
//! pydicom's results are integers (it rounds after converting YCbCr), while
//! [`to_rgb`] keeps the float result. Each tolerance is how far apart the
//! two may be, in units of the pydicom integers. For JPEG the two decoders
//! also differ in their IDCT and chroma upsampling.

use std::path::PathBuf;

use hounsfield_dicom::{open, OpenOptions};
use hounsfield_pixel::{
    decode_frame, read_frame, to_rgb, DecodeLimits, FrameImage, Photometric, PixelDescription,
    PixelError,
};

/// One fixture frame and what pydicom gives for it.
struct Case {
    /// Path under `fixtures/`.
    path: &'static str,
    frame: u32,
    /// Bits of pydicom's output integers: 8, or 16 for 16-bit RGB and for
    /// 16-bit palette entries.
    bits: u32,
    /// Largest difference allowed per sample.
    tolerance: f32,
    /// `((row, column), [red, green, blue])`.
    pixels: &'static [((usize, usize), [u32; 3])],
    /// Mean of each channel over the frame.
    means: [f64; 3],
    /// Largest difference allowed per channel mean.
    mean_tolerance: f64,
}

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(path)
}

fn check(case: &Case) {
    let file = open(&fixture(case.path), &OpenOptions::default()).expect("fixture opens");
    let mut findings = Vec::new();
    let description =
        PixelDescription::read(file.dataset(), &mut findings).expect("pixel description");
    let stored = decode_frame(
        &file,
        &description,
        case.frame,
        &DecodeLimits::default(),
        &mut findings,
    )
    .expect("frame decodes");
    let rgb = to_rgb(file.dataset(), &description, &stored, &mut findings).expect("RGB");
    let maximum = ((1u64 << case.bits) - 1) as f32;

    assert_eq!(
        rgb.shape(),
        [3, description.rows as usize, description.columns as usize]
    );
    assert!(
        rgb.iter().all(|value| (0.0..=1.0).contains(value)),
        "{}: values outside [0, 1]",
        case.path
    );
    for &((row, column), expected) in case.pixels {
        for (channel, &value) in expected.iter().enumerate() {
            let actual = rgb[[channel, row, column]] * maximum;
            assert!(
                (actual - value as f32).abs() <= case.tolerance,
                "{} frame {} ({row}, {column}) channel {channel}: {actual} vs pydicom {value}",
                case.path,
                case.frame
            );
        }
    }
    for (channel, &expected) in case.means.iter().enumerate() {
        let plane = rgb.index_axis(ndarray::Axis(0), channel);
        let mean = plane.iter().map(|&v| f64::from(v * maximum)).sum::<f64>() / plane.len() as f64;
        assert!(
            (mean - expected).abs() <= case.mean_tolerance,
            "{} frame {} channel {channel} mean: {mean} vs pydicom {expected}",
            case.path,
            case.frame
        );
    }
}

#[test]
fn jpeg_rgb_without_markers_is_not_transformed() {
    // JPEG Baseline, RGB, no JFIF or Adobe marker, component IDs 0, 1, 2.
    // dicom-pixeldata 0.10.1 converts it from YCbCr, which changes every
    // sample, by up to 137.
    check(&Case {
        path: "dicom/pydicom/SC_jpeg_no_color_transform.dcm",
        frame: 0,
        bits: 8,
        tolerance: 1.0,
        pixels: &[
            ((0, 0), [244, 244, 244]),
            ((128, 128), [244, 244, 244]),
            ((28, 79), [182, 165, 169]),
            ((154, 6), [251, 251, 252]),
            ((255, 255), [244, 244, 244]),
        ],
        means: [243.9765, 243.9776, 243.9644],
        mean_tolerance: 0.05,
    });
}

#[test]
fn jpeg_ybr_full_with_jfif_converts() {
    check(&Case {
        path: "dicom/pydicom/SC_rgb_jpeg_dcmtk.dcm",
        frame: 0,
        bits: 8,
        tolerance: 1.5,
        pixels: &[
            ((0, 0), [254, 0, 0]),
            ((50, 50), [125, 130, 255]),
            ((21, 0), [0, 255, 0]),
            ((90, 0), [255, 255, 255]),
            ((99, 99), [255, 255, 255]),
        ],
        means: [127.72, 127.65, 127.83],
        mean_tolerance: 0.2,
    });
}

// `examples_ybr_color.dcm`: JPEG Baseline, YBR_FULL_422, 30 frames, one
// fragment each. libjpeg and jpeg-decoder upsample chroma differently,
// which moves some edge pixels by up to 3.14.

#[test]
fn jpeg_ybr_full_422_first_frame() {
    check(&Case {
        path: "dicom/pydicom/examples_ybr_color.dcm",
        frame: 0,
        bits: 8,
        tolerance: 3.2,
        pixels: &[
            ((0, 0), [3, 0, 5]),
            ((120, 160), [7, 7, 7]),
            ((20, 190), [73, 143, 119]),
            ((7, 3), [177, 194, 220]),
            ((239, 319), [1, 1, 0]),
        ],
        means: [9.2242, 9.5419, 9.6832],
        mean_tolerance: 0.2,
    });
}

#[test]
fn jpeg_ybr_full_422_last_frame() {
    check(&Case {
        path: "dicom/pydicom/examples_ybr_color.dcm",
        frame: 29,
        bits: 8,
        tolerance: 3.2,
        pixels: &[
            ((0, 0), [3, 0, 5]),
            ((120, 160), [8, 8, 8]),
            ((20, 190), [73, 143, 119]),
            ((7, 3), [177, 194, 220]),
            ((239, 319), [1, 1, 0]),
        ],
        means: [10.3625, 10.6797, 10.7803],
        mean_tolerance: 0.2,
    });
}

#[test]
fn jpeg_ybr_full_422_without_jfif() {
    // No JFIF or Adobe marker: the Photometric Interpretation decides.
    check(&Case {
        path: "dicom/deid-data/ctbrain1.dcm",
        frame: 0,
        bits: 8,
        tolerance: 1.0,
        pixels: &[
            ((0, 0), [255, 255, 255]),
            ((228, 255), [255, 255, 255]),
            ((455, 509), [255, 255, 255]),
        ],
        means: [252.604, 252.604, 252.604],
        mean_tolerance: 0.05,
    });
}

#[test]
fn rle_rgb_8_bit() {
    check(&Case {
        path: "dicom/pydicom/SC_rgb_rle.dcm",
        frame: 0,
        bits: 8,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [255, 0, 0]),
            ((50, 50), [128, 128, 255]),
            ((90, 0), [255, 255, 255]),
            ((99, 99), [255, 255, 255]),
        ],
        means: [127.7, 127.7, 127.7],
        mean_tolerance: 1e-3,
    });
}

#[test]
fn rle_rgb_16_bit() {
    check(&Case {
        path: "dicom/pydicom/SC_rgb_rle_16bit.dcm",
        frame: 0,
        bits: 16,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [65535, 0, 0]),
            ((50, 50), [32896, 32896, 65535]),
            ((90, 0), [65535, 65535, 65535]),
            ((99, 99), [65535, 65535, 65535]),
        ],
        means: [32818.9, 32818.9, 32818.9],
        mean_tolerance: 0.05,
    });
}

#[test]
fn native_rgb_planar_odd_size() {
    // 3x3, Planar Configuration 1.
    check(&Case {
        path: "dicom/pydicom/SC_rgb_small_odd.dcm",
        frame: 0,
        bits: 8,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [166, 141, 52]),
            ((1, 1), [63, 87, 176]),
            ((2, 0), [158, 158, 158]),
            ((2, 2), [158, 158, 158]),
        ],
        means: [129.0, 128.6667, 128.6667],
        mean_tolerance: 1e-3,
    });
}

#[test]
fn native_rgb_big_endian() {
    check(&Case {
        path: "dicom/pydicom/ExplVR_BigEnd.dcm",
        frame: 0,
        bits: 8,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [171, 171, 171]),
            ((30, 40), [255, 255, 0]),
            ((0, 7), [255, 255, 255]),
            ((59, 79), [255, 232, 0]),
        ],
        means: [250.9588, 248.0525, 15.7212],
        mean_tolerance: 1e-3,
    });
}

/// The same 100x100 image as native `YBR_FULL` and `YBR_FULL_422`: pydicom
/// rounds the converted values, this crate does not, so they differ by up
/// to 0.5.
const YBR_NATIVE_PIXELS: &[((usize, usize), [u32; 3])] = &[
    ((0, 0), [254, 0, 0]),
    ((50, 50), [125, 130, 255]),
    ((21, 0), [0, 255, 0]),
    ((90, 0), [255, 255, 255]),
    ((99, 99), [255, 255, 255]),
];

#[test]
fn native_ybr_full() {
    check(&Case {
        path: "dicom/pydicom-data/SC_ybr_full_uncompressed.dcm",
        frame: 0,
        bits: 8,
        tolerance: 0.5,
        pixels: YBR_NATIVE_PIXELS,
        means: [127.72, 127.65, 127.83],
        mean_tolerance: 0.1,
    });
}

#[test]
fn native_ybr_full_422_upsamples_chroma() {
    check(&Case {
        path: "dicom/pydicom/SC_ybr_full_422_uncompressed.dcm",
        frame: 0,
        bits: 8,
        tolerance: 0.5,
        pixels: YBR_NATIVE_PIXELS,
        means: [127.72, 127.65, 127.83],
        mean_tolerance: 0.1,
    });
}

#[test]
fn native_ybr_full_422_decodes_as_ybr_full() {
    let file = open(
        &fixture("dicom/pydicom/SC_ybr_full_422_uncompressed.dcm"),
        &OpenOptions::default(),
    )
    .expect("fixture opens");
    let mut findings = Vec::new();
    let description = PixelDescription::read(file.dataset(), &mut findings).expect("description");
    let stored = decode_frame(
        &file,
        &description,
        0,
        &DecodeLimits::default(),
        &mut findings,
    )
    .expect("frame decodes");
    assert_eq!(stored.colour_space, Photometric::YbrFull);
    assert_eq!(stored.values.shape(), [3, 100, 100]);
    // Chroma is shared by the two pixels of each pair.
    assert_eq!(stored.values[[1, 7, 10]], stored.values[[1, 7, 11]]);
    assert_eq!(stored.values[[2, 7, 10]], stored.values[[2, 7, 11]]);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn palette_16_bit_entries() {
    // The tables contain 8-bit values in the high byte (full intensity is
    // 65280), and both pydicom and this crate keep them as they are.
    check(&Case {
        path: "dicom/pydicom/examples_palette.dcm",
        frame: 0,
        bits: 16,
        tolerance: 0.01,
        pixels: &[
            ((0, 0), [9472, 15872, 24064]),
            ((175, 400), [256, 256, 256]),
            ((96, 789), [23040, 52480, 65280]),
            ((9, 689), [65280, 65280, 65280]),
            ((349, 799), [0, 0, 0]),
        ],
        means: [4080.5166, 5148.4379, 6509.6969],
        mean_tolerance: 0.05,
    });
}

#[test]
fn palette_without_file_meta() {
    check(&Case {
        path: "dicom/pydicom-data/OT-PAL-8-face.dcm",
        frame: 0,
        bits: 16,
        tolerance: 0.01,
        pixels: &[
            ((0, 0), [0, 0, 0]),
            ((240, 320), [27904, 27904, 27904]),
            ((1, 198), [60160, 31232, 8192]),
            ((150, 256), [65280, 65280, 65280]),
            ((479, 639), [18688, 24320, 0]),
        ],
        means: [32812.9658, 23705.4342, 20276.3942],
        mean_tolerance: 0.05,
    });
}

#[test]
fn jpeg_2000_ybr_rct_arrives_as_rgb() {
    check(&Case {
        path: "dicom/pydicom-data/US1_J2KR.dcm",
        frame: 0,
        bits: 8,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [0, 0, 0]),
            ((240, 320), [12, 12, 12]),
            ((153, 18), [255, 255, 0]),
            ((25, 569), [255, 255, 255]),
            ((479, 639), [0, 0, 0]),
        ],
        means: [40.3721, 34.5021, 28.7122],
        mean_tolerance: 1e-3,
    });
}

#[test]
fn jpeg_12_bit_is_reported_unsupported() {
    // JPEG Extended with SamplePrecision 12: neither jpeg-decoder 0.3.2 nor
    // zune-jpeg 0.5.16-rc3 decodes 12-bit DCT samples.
    let file = open(
        &fixture("dicom/pydicom/JPGExtended.dcm"),
        &OpenOptions::default(),
    )
    .expect("fixture opens");
    let mut findings = Vec::new();
    let description = PixelDescription::read(file.dataset(), &mut findings).expect("description");
    let error = decode_frame(
        &file,
        &description,
        0,
        &DecodeLimits::default(),
        &mut findings,
    )
    .expect_err("12-bit JPEG is not decoded")
    .to_string();
    assert!(
        error.starts_with(
            "unsupported: 12-bit JPEG extended (1.2.840.10008.1.2.4.51) is not decoded by this build"
        ),
        "{error}"
    );
}

// Hand-made fixtures under `fixtures/synthetic/`, written by its generate.py.

#[test]
fn palette_black_red_green_white() {
    // 2x2, indices [0, 1, 2, 3], descriptors [4, 0, 16].
    check(&Case {
        path: "synthetic/g11_palette.dcm",
        frame: 0,
        bits: 16,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [0, 0, 0]),
            ((0, 1), [65535, 0, 0]),
            ((1, 0), [0, 65535, 0]),
            ((1, 1), [65535, 65535, 65535]),
        ],
        means: [32767.5, 32767.5, 16383.75],
        mean_tolerance: 0.01,
    });
}

#[test]
fn palette_first_mapped_10_clamps() {
    // Indices [5, 10, 13, 20] with first mapped 10 use entries [0, 0, 3, 3].
    check(&Case {
        path: "synthetic/g11_palette_first_mapped_10.dcm",
        frame: 0,
        bits: 16,
        tolerance: 0.0,
        pixels: &[
            ((0, 0), [0, 0, 0]),
            ((0, 1), [0, 0, 0]),
            ((1, 0), [65535, 65535, 65535]),
            ((1, 1), [65535, 65535, 65535]),
        ],
        means: [32767.5, 32767.5, 32767.5],
        mean_tolerance: 0.01,
    });
}

#[test]
fn palette_ignored_for_monochrome2() {
    // The same indices and tables with MONOCHROME2: no lookup, the image is
    // grayscale and to_rgb rejects it.
    let file = open(
        &fixture("synthetic/g11_monochrome2_with_palette.dcm"),
        &OpenOptions::default(),
    )
    .expect("fixture opens");
    let mut findings = Vec::new();
    let description = PixelDescription::read(file.dataset(), &mut findings).expect("description");
    let limits = DecodeLimits::default();
    let image = read_frame(&file, &description, 0, &limits, &mut findings).expect("frame");
    let FrameImage::Gray(gray) = image else {
        panic!("MONOCHROME2 must give a grayscale frame");
    };
    assert_eq!(gray.values, ndarray::array![[5.0, 10.0], [13.0, 20.0]]);

    let stored = decode_frame(&file, &description, 0, &limits, &mut findings).expect("frame");
    let result = to_rgb(file.dataset(), &description, &stored, &mut findings);
    assert!(
        matches!(result, Err(PixelError::UnsupportedPhotometric { .. })),
        "{result:?}"
    );
}

#[test]
fn rgb_planar_matches_interleaved() {
    let pixels: &[((usize, usize), [u32; 3])] = &[
        ((0, 0), [255, 0, 0]),
        ((0, 1), [0, 255, 0]),
        ((1, 0), [0, 0, 255]),
        ((1, 1), [255, 255, 255]),
    ];
    for path in [
        "synthetic/g09_rgb_planar_0.dcm",
        "synthetic/g09_rgb_planar_1.dcm",
    ] {
        check(&Case {
            path,
            frame: 0,
            bits: 8,
            tolerance: 0.0,
            pixels,
            means: [127.5, 127.5, 127.5],
            mean_tolerance: 1e-3,
        });
    }
}
