//! JPEG Baseline colour handling on streams made in memory with
//! `jpeg-encoder`: a solid 16x16 image of RGB (200, 30, 30), encoded with
//! and without the colour transform, with and without JFIF and Adobe
//! markers, and labelled with various Photometric Interpretations.

use std::path::PathBuf;

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, VR};
use dicom_object::meta::FileMetaTableBuilder;
use hounsfield_dicom::attr::Object;
use hounsfield_dicom::{tags, DicomFile, Finding, Framing};
use hounsfield_pixel::{
    decode_frame, to_rgb, DecodeLimits, Photometric, PixelDescription, StoredFrame,
};
use jpeg_encoder::{ColorType, Encoder};
use ndarray::Array3;

const SIZE: u16 = 16;
const RED: [u8; 3] = [200, 30, 30];
const BLUE: [u8; 3] = [20, 40, 220];
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";

fn solid(colour: [u8; 3]) -> Vec<u8> {
    colour.repeat(usize::from(SIZE) * usize::from(SIZE))
}

/// Encodes `data` at quality 95. `ColorType::Rgb` converts to YCbCr first;
/// `ColorType::Ycbcr` stores the samples as given, which is how an RGB
/// stream without a colour transform is made here.
fn encode(data: &[u8], colour_type: ColorType, adobe_transform: Option<u8>) -> Vec<u8> {
    let mut stream = Vec::new();
    let mut encoder = Encoder::new(&mut stream, 95);
    if let Some(transform) = adobe_transform {
        let mut segment = b"Adobe".to_vec();
        segment.extend([0, 100, 0, 0, 0, 0, transform]);
        encoder.add_app_segment(14, segment).expect("APP14 segment");
    }
    encoder
        .encode(data, SIZE, SIZE, colour_type)
        .expect("JPEG encodes");
    stream
}

/// Removes the JFIF APP0 segment that `jpeg-encoder` always writes right
/// after SOI.
fn without_jfif(stream: &[u8]) -> Vec<u8> {
    assert_eq!(&stream[2..4], [0xFF, 0xE0], "APP0 follows SOI");
    let length = usize::from(u16::from_be_bytes([stream[4], stream[5]]));
    [&stream[..2], &stream[4 + length..]].concat()
}

/// Pads a fragment to an even length, as PS3.5 A.4 requires.
fn padded(mut fragment: Vec<u8>) -> Vec<u8> {
    if fragment.len() % 2 == 1 {
        fragment.push(0);
    }
    fragment
}

fn dicom_file(
    photometric: &str,
    samples: u16,
    frames: u32,
    offset_table: Vec<u32>,
    fragments: Vec<Vec<u8>>,
) -> DicomFile {
    let us = |tag, value: u16| DataElement::new(tag, VR::US, PrimitiveValue::from(value));
    let mut elements = vec![
        DataElement::new(tags::SOP_CLASS_UID, VR::UI, "1.2.840.10008.5.1.4.1.1.7"),
        DataElement::new(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            "1.2.826.0.1.3680043.2.1143.1",
        ),
        us(tags::SAMPLES_PER_PIXEL, samples),
        DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric),
        us(tags::ROWS, SIZE),
        us(tags::COLUMNS, SIZE),
        us(tags::BITS_ALLOCATED, 8),
        us(tags::BITS_STORED, 8),
        us(tags::HIGH_BIT, 7),
        us(tags::PIXEL_REPRESENTATION, 0),
        DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            Value::from(PixelFragmentSequence::new(offset_table, fragments)),
        ),
    ];
    if samples == 3 {
        elements.push(us(tags::PLANAR_CONFIGURATION, 0));
    }
    if frames > 1 {
        elements.push(DataElement::new(
            tags::NUMBER_OF_FRAMES,
            VR::IS,
            frames.to_string(),
        ));
    }
    let object = Object::from_element_iter(elements)
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(JPEG_BASELINE))
        .expect("file meta");
    DicomFile {
        path: PathBuf::from("in-memory.dcm"),
        object,
        framing: Framing::Part10,
    }
}

fn decode(file: &DicomFile, frame: u32) -> (PixelDescription, StoredFrame, Vec<Finding>) {
    let mut findings = Vec::new();
    let description = PixelDescription::read(file.dataset(), &mut findings).expect("description");
    let stored = decode_frame(
        file,
        &description,
        frame,
        &DecodeLimits::default(),
        &mut findings,
    )
    .expect("frame decodes");
    (description, stored, findings)
}

fn rgb(file: &DicomFile, frame: u32) -> (Array3<f32>, StoredFrame, Vec<Finding>) {
    let (description, stored, mut findings) = decode(file, frame);
    let rgb = to_rgb(file.dataset(), &description, &stored, &mut findings).expect("RGB");
    (rgb, stored, findings)
}

/// Asserts every pixel is within 4 of `expected` in 8-bit units.
fn assert_solid(rgb: &Array3<f32>, expected: [u8; 3]) {
    for (channel, &value) in expected.iter().enumerate() {
        for &actual in rgb.index_axis(ndarray::Axis(0), channel) {
            let actual = actual * 255.0;
            assert!(
                (actual - f32::from(value)).abs() <= 4.0,
                "channel {channel}: {actual} vs {value}"
            );
        }
    }
}

fn codes(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|finding| finding.code).collect()
}

#[test]
fn jfif_ycbcr_stream_converts_once() {
    // Skipping the conversion would give about (81, 99, 213), the YCbCr of
    // the red.
    let stream = encode(&solid(RED), ColorType::Rgb, None);
    let file = dicom_file("YBR_FULL_422", 3, 1, vec![], vec![padded(stream)]);
    let (rgb, stored, findings) = rgb(&file, 0);
    assert_eq!(stored.colour_space, Photometric::YbrFull);
    assert_solid(&rgb, RED);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn jfif_stream_labelled_rgb_converts_and_warns() {
    let stream = encode(&solid(RED), ColorType::Rgb, None);
    let file = dicom_file("RGB", 3, 1, vec![], vec![padded(stream)]);
    let (rgb, stored, findings) = rgb(&file, 0);
    assert_eq!(stored.colour_space, Photometric::YbrFull);
    assert_solid(&rgb, RED);
    assert_eq!(codes(&findings), ["jpeg-colour-space-mismatch"]);
}

#[test]
fn rgb_without_markers_is_not_converted() {
    // The dicom-pixeldata 0.10.1 bug: no JFIF, no APP14, PI RGB.
    let stream = without_jfif(&encode(&solid(RED), ColorType::Ycbcr, None));
    let file = dicom_file("RGB", 3, 1, vec![], vec![padded(stream)]);
    let (rgb, stored, findings) = rgb(&file, 0);
    assert_eq!(stored.colour_space, Photometric::Rgb);
    assert_solid(&rgb, RED);
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn adobe_transform_0_means_rgb() {
    // APP14 transform 0 marks the components as not transformed, and that
    // wins over the Photometric Interpretation.
    let stream = without_jfif(&encode(&solid(RED), ColorType::Ycbcr, Some(0)));
    let file = dicom_file("YBR_FULL_422", 3, 1, vec![], vec![padded(stream)]);
    let (rgb, stored, findings) = rgb(&file, 0);
    assert_eq!(stored.colour_space, Photometric::Rgb);
    assert_solid(&rgb, RED);
    assert_eq!(codes(&findings), ["jpeg-colour-space-mismatch"]);
}

#[test]
fn grayscale_baseline_decodes() {
    let ramp: Vec<u8> = (0..usize::from(SIZE) * usize::from(SIZE))
        .map(|i| (i % 256) as u8)
        .collect();
    let stream = encode(&ramp, ColorType::Luma, None);
    let file = dicom_file("MONOCHROME2", 1, 1, vec![], vec![padded(stream)]);
    let (_, stored, findings) = decode(&file, 0);
    assert_eq!(stored.colour_space, Photometric::Monochrome2);
    assert_eq!(stored.values.shape(), [1, 16, 16]);
    let worst = stored
        .values
        .iter()
        .zip(&ramp)
        .map(|(&decoded, &original)| (decoded - i64::from(original)).abs())
        .max();
    assert!(worst <= Some(8), "largest error {worst:?}");
    assert!(findings.is_empty(), "{findings:?}");
}

/// Two frames, red then blue, each split over two fragments.
fn split_frames() -> (Vec<Vec<u8>>, Vec<u32>) {
    let mut fragments = Vec::new();
    let mut offsets = Vec::new();
    let mut position = 0u32;
    for colour in [RED, BLUE] {
        let stream = encode(&solid(colour), ColorType::Rgb, None);
        let (head, tail) = stream.split_at((stream.len() / 2) & !1);
        offsets.push(position);
        for part in [head.to_vec(), padded(tail.to_vec())] {
            position += 8 + part.len() as u32;
            fragments.push(part);
        }
    }
    (fragments, offsets)
}

#[test]
fn multi_fragment_frames_follow_offset_table() {
    let (fragments, offsets) = split_frames();
    let file = dicom_file("YBR_FULL_422", 3, 2, offsets, fragments);
    assert_solid(&rgb(&file, 0).0, RED);
    assert_solid(&rgb(&file, 1).0, BLUE);
}

#[test]
fn multi_fragment_frames_split_on_soi() {
    // No Basic Offset Table: each fragment that starts with SOI starts a
    // frame.
    let (fragments, _) = split_frames();
    let file = dicom_file("YBR_FULL_422", 3, 2, vec![], fragments);
    assert_solid(&rgb(&file, 0).0, RED);
    assert_solid(&rgb(&file, 1).0, BLUE);
}

#[test]
fn codestream_size_mismatch_is_an_error() {
    let stream = encode(&solid(RED), ColorType::Rgb, None);
    let file = dicom_file("YBR_FULL_422", 3, 1, vec![], vec![padded(stream)]);
    let mut description =
        PixelDescription::read(file.dataset(), &mut Vec::new()).expect("description");
    description.columns = 8;
    let error = decode_frame(
        &file,
        &description,
        0,
        &DecodeLimits::default(),
        &mut Vec::new(),
    )
    .expect_err("16x16 codestream for an 8-column image")
    .to_string();
    assert!(error.contains("16x16"), "{error}");
}
