//! Tests of the spatial steps.

use super::*;
use hounsfield_pixel::ModalityTransform;

fn gray(values: Array2<f32>, padding: Option<Array2<bool>>) -> FrameImage {
    FrameImage::Gray(GrayFrame {
        values,
        padding,
        transform: ModalityTransform::Identity,
        monochrome1: false,
        windows: Vec::new(),
    })
}

fn parts(frame: FrameImage) -> (Array2<f32>, Option<Array2<bool>>) {
    match frame {
        FrameImage::Gray(gray) => (gray.values, gray.padding),
        FrameImage::Color(_) => panic!("expected a grayscale frame"),
    }
}

fn step(yaml: &str) -> SpatialStep {
    let step = SpatialStep::from_value(serde_yaml_ng::from_str(yaml).unwrap()).unwrap();
    step.check().unwrap();
    step
}

/// A 64 × 64 CT-like frame: air (-1000 HU) around a 40 × 24 body of 40 HU
/// at rows 10..50 and columns 20..44, a one-pixel table line of 100 HU on
/// row 58 and two isolated noise pixels.
fn synthetic_body() -> Array2<f32> {
    let mut values = Array2::from_elem((64, 64), -1000.0f32);
    values.slice_mut(s![10..50, 20..44]).fill(40.0);
    values.slice_mut(s![58, 5..60]).fill(100.0);
    values[[2, 2]] = 300.0;
    values[[62, 61]] = 300.0;
    values
}

#[test]
fn crop_finds_the_known_body_region() {
    let steps = [step("crop_foreground")];
    let (frame, records) = apply_spatial(&gray(synthetic_body(), None), &steps).unwrap();
    assert_eq!(records[0].found, Some(true));
    assert_eq!(records[0].region, Some([10, 20, 40, 24]));
    let (values, _) = parts(frame);
    assert_eq!(values.dim(), (40, 24));
    assert!(values.iter().all(|&value| value == 40.0));
}

#[test]
fn crop_with_hu_threshold_and_margin() {
    let steps = [step(
        "crop_foreground: { threshold: -500, margin: 3, blur: 0 }",
    )];
    let (_, records) = apply_spatial(&gray(synthetic_body(), None), &steps).unwrap();
    assert_eq!(records[0].threshold, Some(-500.0));
    assert_eq!(records[0].region, Some([7, 17, 46, 30]));
}

#[test]
fn crop_ignores_padding_pixels() {
    // Padding pixels with a bright value must not count as foreground.
    let mut values = synthetic_body();
    values.slice_mut(s![.., 0..4]).fill(3000.0);
    let mut padding = Array2::from_elem((64, 64), false);
    padding.slice_mut(s![.., 0..4]).fill(true);
    let steps = [step("crop_foreground")];
    let (_, records) = apply_spatial(&gray(values, Some(padding)), &steps).unwrap();
    assert_eq!(records[0].region, Some([10, 20, 40, 24]));
}

#[test]
fn crop_of_empty_foreground_keeps_the_frame() {
    let steps = [step("crop_foreground")];
    let frame = gray(Array2::from_elem((8, 8), 5.0), None);
    let (frame, records) = apply_spatial(&frame, &steps).unwrap();
    assert_eq!(records[0].found, Some(false));
    assert_eq!(parts(frame).0.dim(), (8, 8));
}

#[test]
fn pad_to_square_marks_new_pixels_as_padding() {
    let steps = [step("pad_to_square")];
    let frame = gray(Array2::from_elem((2, 4), 7.0), None);
    let (frame, records) = apply_spatial(&frame, &steps).unwrap();
    assert_eq!(records[0].region, Some([1, 0, 2, 4]));
    let (values, padding) = parts(frame);
    let padding = padding.unwrap();
    assert_eq!(values.dim(), (4, 4));
    assert!(padding.row(0).iter().all(|&padded| padded));
    assert!(padding.row(3).iter().all(|&padded| padded));
    assert!(padding.row(1).iter().all(|&padded| !padded));
    assert_eq!(values[[1, 0]], 7.0);
}

#[test]
fn resize_keeps_constants() {
    for filter in [
        "nearest",
        "box",
        "bilinear",
        "hamming",
        "catmull_rom",
        "mitchell",
        "lanczos3",
    ] {
        let steps = [step(&format!(
            "resize: {{ size: [5, 9], filter: {filter} }}"
        ))];
        let frame = gray(Array2::from_elem((16, 12), -300.0), None);
        let (values, padding) = parts(apply_spatial(&frame, &steps).unwrap().0);
        assert_eq!(values.dim(), (5, 9), "{filter}");
        assert!(padding.is_none());
        assert!(
            values.iter().all(|&value| (value + 300.0).abs() < 1e-3),
            "{filter}: {values}"
        );
    }
}

#[test]
fn resize_does_not_blend_padding() {
    // The left half is 10 HU, the right half padding holding 1e6: no valid
    // output value may move towards 1e6.
    let mut values = Array2::from_elem((8, 8), 10.0f32);
    values.slice_mut(s![.., 4..]).fill(1.0e6);
    let mut padding = Array2::from_elem((8, 8), false);
    padding.slice_mut(s![.., 4..]).fill(true);
    let steps = [step("resize: { size: 16, filter: lanczos3 }")];
    let (values, padding) = parts(
        apply_spatial(&gray(values, Some(padding)), &steps)
            .unwrap()
            .0,
    );
    let padding = padding.unwrap();
    assert_eq!(values.dim(), (16, 16));
    assert!(padding.slice(s![.., ..8]).iter().all(|&padded| !padded));
    assert!(padding.slice(s![.., 8..]).iter().all(|&padded| padded));
    for ((row, column), &value) in values.indexed_iter() {
        if !padding[[row, column]] {
            assert!((value - 10.0).abs() < 1e-3, "({row}, {column}) = {value}");
        }
    }
}

#[test]
fn resize_size_is_checked() {
    let error = SpatialStep::from_value(serde_yaml_ng::from_str("resize: { size: 0 }").unwrap())
        .unwrap()
        .check()
        .unwrap_err();
    assert!(error.contains("between 1"), "{error}");
    let error = SpatialStep::from_value(
        serde_yaml_ng::from_str("resize: { size: 8, filter: cubic }").unwrap(),
    )
    .unwrap_err();
    assert!(error.contains("cubic"), "{error}");
}

#[test]
fn volume_resize_keeps_constants_and_masks() {
    let volume = Array4::from_elem((2, 4, 6, 8), 3.0f32);
    let mut padding = Array3::from_elem((4, 6, 8), false);
    padding.slice_mut(s![.., .., 6..]).fill(true);
    let (resized, mask) =
        resize_volume(&volume, Some(&padding), [2, 3, 4], ResizeFilter::Bilinear).unwrap();
    assert_eq!(resized.dim(), (2, 2, 3, 4));
    let mask = mask.unwrap();
    assert_eq!(mask.dim(), (2, 3, 4));
    for ((_, d, r, c), &value) in resized.indexed_iter() {
        if !mask[[d, r, c]] {
            assert!((value - 3.0).abs() < 1e-4);
        }
    }
    assert!(mask.slice(s![.., .., 3]).iter().all(|&padded| padded));
}

#[test]
fn volume_resize_along_depth_interpolates() {
    // Depth slices 0, 10, 20, 30 upsampled to 7 slices by linear
    // interpolation stay between the neighbouring values and increase.
    let volume = Array4::from_shape_fn((1, 4, 2, 2), |(_, d, _, _)| d as f32 * 10.0);
    let (resized, _) = resize_volume(&volume, None, [7, 2, 2], ResizeFilter::Bilinear).unwrap();
    let profile: Vec<f32> = (0..7).map(|d| resized[[0, d, 0, 0]]).collect();
    assert!(
        profile.windows(2).all(|pair| pair[0] <= pair[1]),
        "{profile:?}"
    );
    assert!(profile[0] >= 0.0, "{profile:?}");
    assert!(profile[6] <= 30.0, "{profile:?}");
}

#[test]
fn volume_crop_checks_bounds() {
    let volume = Array4::from_shape_fn((1, 3, 4, 5), |(_, d, r, c)| (d * 100 + r * 10 + c) as f32);
    let cropped = crop_volume(&volume, [1, 1, 2], [2, 2, 3]).unwrap();
    assert_eq!(cropped.dim(), (1, 2, 2, 3));
    assert_eq!(cropped[[0, 0, 0, 0]], 112.0);
    assert!(crop_volume(&volume, [2, 0, 0], [2, 1, 1]).is_err());
    assert!(crop_volume(&volume, [0, 0, 0], [0, 1, 1]).is_err());
}
