//! Series assembly on synthetic headers (slice order, spacing, duplicates,
//! tilt) and on the real fixtures under `fixtures/dicom`.

use std::path::{Path, PathBuf};

use hounsfield_dicom::{open, OpenOptions};
use hounsfield_series::{
    assemble, read_slices, Assembly, AssemblyOptions, Decision, ExclusionReason, PixelHash,
    ResampleTarget, SliceHeader, SplitKey, TiltPolicy, UnevenSpacingPolicy,
};

const AXIAL: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
const SAGITTAL: [f64; 6] = [0.0, 1.0, 0.0, 0.0, 0.0, -1.0];

fn slice(name: &str, orientation: [f64; 6], position: [f64; 3]) -> SliceHeader {
    let mut slice = SliceHeader::new(format!("{name}.dcm"), 0);
    slice.series_instance_uid = Some("1.2.826.0.1.3680043.2.1".into());
    slice.sop_instance_uid = Some(format!("1.2.826.0.1.3680043.2.1.{name}"));
    slice.frame_of_reference_uid = Some("1.2.826.0.1.3680043.2.9".into());
    slice.image_type = vec!["ORIGINAL".into(), "PRIMARY".into(), "AXIAL".into()];
    slice.rows = Some(2);
    slice.columns = Some(2);
    slice.pixel_spacing = Some([0.5, 0.5]);
    slice.image_orientation = Some(orientation);
    slice.image_position = Some(position);
    slice
}

fn axial_stack(depths: &[f64]) -> Vec<SliceHeader> {
    depths
        .iter()
        .enumerate()
        .map(|(index, &z)| slice(&format!("{}", 100 + index), AXIAL, [0.0, 0.0, z]))
        .collect()
}

fn hash(value: u8) -> Option<PixelHash> {
    Some(PixelHash([value; 32]))
}

/// Returns the z of each slice of each volume.
fn volume_depths(slices: &[SliceHeader], assembly: &Assembly) -> Vec<Vec<f64>> {
    assembly
        .volumes
        .iter()
        .map(|volume| {
            volume
                .slices
                .iter()
                .map(|&index| slices[index].image_position.unwrap()[2])
                .collect()
        })
        .collect()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn order_ignores_instance_number_and_file_order() {
    let depths = [-10.0, -7.5, -5.0, -2.5, 0.0];
    for instance_numbers in [[1, 1, 1, 1, 1], [5, 4, 3, 2, 1]] {
        let mut slices = axial_stack(&depths);
        for (slice, number) in slices.iter_mut().zip(instance_numbers) {
            slice.instance_number = Some(number);
        }
        let permutations: [[usize; 5]; 4] = [
            [0, 1, 2, 3, 4],
            [4, 3, 2, 1, 0],
            [2, 0, 4, 1, 3],
            [3, 4, 0, 2, 1],
        ];
        for permutation in permutations {
            let listed: Vec<SliceHeader> = permutation.iter().map(|&k| slices[k].clone()).collect();
            let assembly = assemble(&listed, &AssemblyOptions::default());
            assert_eq!(assembly.volumes.len(), 1, "{permutation:?}");
            let volume = &assembly.volumes[0];
            assert_eq!(
                volume_depths(&listed, &assembly)[0],
                depths,
                "{permutation:?}"
            );
            assert_eq!(volume.grid.spacing_mm[0], 2.5);
            assert_eq!(volume.grid.shape, [5, 2, 2]);
            assert!(assembly.excluded.is_empty());
        }
    }
}

#[test]
fn sagittal_order_follows_the_normal() {
    let slices: Vec<SliceHeader> = [0.0, -10.0, 5.0, 10.0, -5.0]
        .iter()
        .enumerate()
        .map(|(index, &x)| slice(&format!("{index}"), SAGITTAL, [x, 0.0, 0.0]))
        .collect();
    let assembly = assemble(&slices, &AssemblyOptions::default());
    let volume = &assembly.volumes[0];
    let order: Vec<f64> = volume
        .slices
        .iter()
        .map(|&index| slices[index].image_position.unwrap()[0])
        .collect();
    assert_eq!(order, [10.0, 5.0, 0.0, -5.0, -10.0]);
    assert_eq!(volume.grid.spacing_mm[0], 5.0);
    assert_eq!(volume.grid.affine_column(2), [-5.0, 0.0, 0.0]);
    assert_eq!(volume.grid.affine_column(3), [10.0, 0.0, 0.0]);
}

#[test]
fn uneven_spacing_is_split_by_default() {
    let slices = axial_stack(&[0.0, 2.5, 5.0, 7.5, 15.0, 22.5]);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(
        volume_depths(&slices, &assembly),
        [vec![0.0, 2.5, 5.0, 7.5], vec![15.0, 22.5]]
    );
    let spacings: Vec<f64> = assembly
        .volumes
        .iter()
        .map(|volume| volume.grid.spacing_mm[0])
        .collect();
    assert_eq!(spacings, [2.5, 7.5]);
    let Decision::UnevenSpacingSplit {
        steps_mm,
        part,
        parts,
    } = &assembly.volumes[1].decisions[0]
    else {
        panic!("{:?}", assembly.volumes[1].decisions);
    };
    assert_eq!(steps_mm, &[2.5, 2.5, 2.5, 7.5, 7.5]);
    assert_eq!((*part, *parts), (2, 2));
    assert_eq!(assembly.volumes[1].split[0].key, SplitKey::UnevenSpacing);
}

#[test]
fn uneven_spacing_rejected_lists_the_steps() {
    let slices = axial_stack(&[0.0, 2.5, 5.0, 7.5, 15.0, 22.5]);
    let options = AssemblyOptions {
        uneven_spacing: UnevenSpacingPolicy::Reject,
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &options);
    assert!(assembly.volumes.is_empty());
    assert_eq!(assembly.excluded.len(), 6);
    let ExclusionReason::UnevenSpacing { steps_mm } = &assembly.excluded[0].reason else {
        panic!("{:?}", assembly.excluded[0]);
    };
    assert_eq!(steps_mm, &[2.5, 2.5, 2.5, 7.5, 7.5]);
    assert!(assembly.excluded[0]
        .message
        .contains("[2.5, 2.5, 2.5, 7.5, 7.5]"));
}

#[test]
fn uneven_spacing_resampled_to_the_smallest_step() {
    let slices = axial_stack(&[0.0, 2.5, 5.0, 7.5, 15.0, 22.5]);
    let options = AssemblyOptions {
        uneven_spacing: UnevenSpacingPolicy::Resample,
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &options);
    assert_eq!(assembly.volumes.len(), 1);
    let volume = &assembly.volumes[0];
    assert_eq!(volume.grid.shape[0], 10);
    assert_eq!(volume.grid.spacing_mm[0], 2.5);
    let sampling = volume.sampling.as_ref().unwrap();
    assert_eq!(sampling.slices.len(), 10);
    assert!(matches!(
        volume.decisions[0],
        Decision::UnevenSpacingResampled { spacing_mm, .. } if spacing_mm == 2.5
    ));
}

#[test]
fn instance_number_gap_is_a_warning_only() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0, 7.5, 10.0, 12.5]);
    for (slice, number) in slices.iter_mut().zip([1, 2, 3, 7, 8, 9]) {
        slice.instance_number = Some(number);
    }
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.volumes.len(), 1);
    let findings = &assembly.volumes[0].findings;
    let gap = findings
        .iter()
        .find(|finding| finding.code == "instance-number-gap")
        .expect("an instance-number-gap finding");
    assert!(gap.message.contains("4, 5, 6"), "{}", gap.message);
}

#[test]
fn exact_duplicate_needs_hashes_then_is_dropped() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0, 7.5]);
    let mut copy = slices[2].clone();
    copy.path = PathBuf::from("copy.dcm");
    copy.sop_instance_uid = Some("1.2.826.0.1.3680043.2.1.999".into());
    slices.push(copy);

    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.needs_pixel_hash, [2, 4]);
    assert_eq!(
        assembly.volumes.len(),
        2,
        "kept apart until the pixels are compared"
    );

    for (index, slice) in slices.iter_mut().enumerate() {
        slice.pixel_hash = hash(if index == 4 { 2 } else { index as u8 });
    }
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert!(assembly.needs_pixel_hash.is_empty());
    assert_eq!(assembly.volumes.len(), 1);
    assert_eq!(volume_depths(&slices, &assembly)[0], [0.0, 2.5, 5.0, 7.5]);
    assert_eq!(assembly.excluded.len(), 1);
    assert_eq!(assembly.excluded[0].slice, 4);
    assert_eq!(assembly.excluded[0].reason.code(), "exact-duplicate");
    assert!(matches!(
        &assembly.volumes[0].decisions[0],
        Decision::ExactDuplicatesDropped { dropped } if dropped.len() == 1
    ));
}

#[test]
fn repeated_positions_split_by_acquisition_number() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0, 7.5]);
    for (index, slice) in slices.iter_mut().enumerate() {
        slice.acquisition_number = Some(1);
        slice.pixel_hash = hash(index as u8);
    }
    let second: Vec<SliceHeader> = slices
        .iter()
        .enumerate()
        .map(|(index, original)| {
            let mut slice = original.clone();
            slice.path = PathBuf::from(format!("second{index}.dcm"));
            slice.sop_instance_uid = Some(format!("1.2.826.0.1.3680043.2.1.2{index}"));
            slice.acquisition_number = Some(2);
            slice.pixel_hash = hash(100 + index as u8);
            slice
        })
        .collect();
    slices.extend(second);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.volumes.len(), 2);
    assert!(assembly.excluded.is_empty(), "no slice dropped");
    for (volume, acquisition) in assembly.volumes.iter().zip([1, 2]) {
        assert_eq!(volume.slices.len(), 4);
        assert!(volume
            .slices
            .iter()
            .all(|&index| slices[index].acquisition_number == Some(acquisition)));
        assert_eq!(volume.split[0].key, SplitKey::RepeatedPosition);
    }
}

#[test]
fn same_instance_number_and_time_still_stack() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0, 7.5]);
    for slice in &mut slices {
        slice.instance_number = Some(1);
        slice.acquisition_time = Some("101010".into());
    }
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.volumes.len(), 1);
    assert_eq!(assembly.volumes[0].slices.len(), 4);
}

#[test]
fn echoes_split_into_volumes() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0]);
    let mut second = axial_stack(&[0.0, 2.5, 5.0]);
    for (index, slice) in second.iter_mut().enumerate() {
        slice.sop_instance_uid = Some(format!("1.2.826.0.1.3680043.2.1.5{index}"));
        slice.echo_number = Some(2);
    }
    for slice in &mut slices {
        slice.echo_number = Some(1);
    }
    slices.extend(second);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.volumes.len(), 2);
    assert_eq!(assembly.volumes[1].split[0].key, SplitKey::EchoNumber);
    assert_eq!(assembly.volumes[1].split[0].value, "2");
    assert!(assembly.needs_pixel_hash.is_empty());
}

#[test]
fn localizers_and_derived_are_excluded_unless_kept() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0]);
    slices[0].image_type = vec!["ORIGINAL".into(), "PRIMARY".into(), "LOCALIZER".into()];
    slices[1].image_type = vec!["DERIVED".into(), "PRIMARY".into(), "MPR".into()];
    let assembly = assemble(&slices, &AssemblyOptions::default());
    let codes: Vec<&str> = assembly.excluded.iter().map(|e| e.reason.code()).collect();
    assert_eq!(codes, ["localizer", "derived"]);
    assert_eq!(assembly.volumes.len(), 1);

    let options = AssemblyOptions {
        keep_localizers: true,
        keep_derived: true,
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &options);
    assert!(assembly.excluded.is_empty());
    // Image Type values 1 to 3 still divide the series.
    assert_eq!(assembly.volumes.len(), 3);
}

#[test]
fn images_without_geometry_are_2d_only() {
    let mut slices = axial_stack(&[0.0, 2.5]);
    slices[0].image_orientation = None;
    slices[1].pixel_spacing = None;
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert!(assembly.volumes.is_empty());
    assert!(matches!(
        &assembly.excluded[0].reason,
        ExclusionReason::NoPlaneGeometry { missing } if missing == &["ImageOrientationPatient"]
    ));
    assert_eq!(assembly.excluded[1].reason.code(), "no-pixel-grid");
}

#[test]
fn positions_off_a_line_are_excluded() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0, 7.5]);
    slices[2].image_position = Some([3.0, 0.0, 5.0]);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert!(assembly.volumes.is_empty());
    assert_eq!(
        assembly.excluded[0].reason.code(),
        "positions-not-on-a-line"
    );
}

#[test]
fn orientations_beyond_the_tolerance_split() {
    let mut slices = axial_stack(&[0.0, 2.5, 5.0, 7.5]);
    // The last two slices are rotated by 0.01 rad about z.
    let (sin, cos) = 0.01f64.sin_cos();
    for slice in &mut slices[2..] {
        slice.image_orientation = Some([cos, sin, 0.0, -sin, cos, 0.0]);
    }
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.volumes.len(), 2);
    assert_eq!(assembly.volumes[0].split[0].key, SplitKey::Orientation);
}

#[test]
fn target_spacing_resamples_every_volume() {
    let slices = axial_stack(&[0.0, 2.5, 5.0, 7.5]);
    let options = AssemblyOptions {
        resample: Some(ResampleTarget::Spacing([1.25, 0.25, 0.25])),
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &options);
    let volume = &assembly.volumes[0];
    assert_eq!(volume.grid.shape, [7, 3, 3]);
    assert_eq!(volume.grid.affine_column(0), [0.25, 0.0, 0.0]);
    assert!(volume
        .decisions
        .iter()
        .any(|decision| matches!(decision, Decision::Resampled { .. })));
}

// Real fixtures.

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(relative)
}

fn read_fixtures(paths: &[PathBuf]) -> Vec<SliceHeader> {
    let options = OpenOptions {
        stop_before_pixel_data: true,
        lenient_framing: true,
    };
    paths
        .iter()
        .flat_map(|path| {
            let file = open(path, &options).unwrap();
            read_slices(path, file.dataset()).unwrap()
        })
        .collect()
}

fn ge_ct() -> Vec<PathBuf> {
    (12..=17)
        .map(|n| fixture(&format!("dcm_qa_ct/GE_{n}.dcm")))
        .collect()
}

#[test]
fn ge_tilted_ct_splits_into_two_sheared_stacks() {
    // GE_12..GE_14 step 4.22 mm between positions, GE_15..GE_17 7.38 mm, and
    // GE_14 to GE_15 1.14 mm; Acquisition Number is 12, 13, 14, 15, 15, 16.
    let slices = read_fixtures(&ge_ct());
    let assembly = assemble(&slices, &AssemblyOptions::default());

    assert!(assembly.excluded.is_empty(), "{:?}", assembly.excluded);
    assert_eq!(assembly.volumes.len(), 2);
    let names: Vec<Vec<String>> = assembly
        .volumes
        .iter()
        .map(|volume| {
            volume
                .slices
                .iter()
                .map(|&index| {
                    slices[index]
                        .path
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into()
                })
                .collect()
        })
        .collect();
    assert_eq!(names[0], ["GE_12.dcm", "GE_13.dcm", "GE_14.dcm"]);
    assert_eq!(names[1], ["GE_15.dcm", "GE_16.dcm", "GE_17.dcm"]);

    for (volume, position_step) in assembly.volumes.iter().zip([4.22, 7.38]) {
        let geometry = &volume.geometry;
        assert!(
            close(geometry.tilt_degrees, 18.5, 0.01),
            "{}",
            geometry.tilt_degrees
        );
        assert!(geometry
            .position_steps_mm
            .iter()
            .all(|&step| close(step, position_step, 1e-6)));
        assert!(volume.grid.sheared);
        // The sheared slice step reproduces Image Position (Patient) exactly.
        let step = volume.grid.affine_column(2);
        let first = slices[volume.slices[0]].image_position.unwrap();
        let last = slices[volume.slices[2]].image_position.unwrap();
        for axis in 0..3 {
            assert!(close(first[axis] + 2.0 * step[axis], last[axis], 1e-9));
        }
        assert!(volume
            .decisions
            .iter()
            .any(|decision| matches!(decision, Decision::GantryTiltSheared { .. })));
    }

    let Decision::UnevenSpacingSplit { steps_mm, .. } = &assembly.volumes[0].decisions[0] else {
        panic!("{:?}", assembly.volumes[0].decisions);
    };
    let cos = 18.5f64.to_radians().cos();
    let expected = [4.22, 4.22, 1.14, 7.38, 7.38].map(|step| step * cos);
    for (step, want) in steps_mm.iter().zip(expected) {
        assert!(close(*step, want, 2e-3), "{steps_mm:?}");
    }
}

#[test]
fn ge_tilted_ct_rejected_or_corrected_on_request() {
    let slices = read_fixtures(&ge_ct());
    let reject = AssemblyOptions {
        gantry_tilt: TiltPolicy::Reject,
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &reject);
    assert!(assembly.volumes.is_empty());
    assert!(assembly
        .excluded
        .iter()
        .all(|excluded| excluded.reason.code() == "gantry-tilt"));

    let resample = AssemblyOptions {
        gantry_tilt: TiltPolicy::Resample,
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &resample);
    let volume = &assembly.volumes[0];
    assert!(!volume.grid.sheared);
    let sampling = volume.sampling.as_ref().unwrap();
    // Each 4.22 mm step between positions moves 4.22 sin(18.5 deg) = 1.34 mm
    // in plane, against the column direction, so output row j of slice 1
    // reads its source row j + 2.74 (rows of 0.488 mm).
    let shift = sampling.shifts[1][0];
    assert!(
        close(shift, 4.22 * 18.5f64.to_radians().sin() / 0.4882812, 1e-3),
        "{shift}"
    );
    assert_eq!(sampling.shifts[0], [0.0, 0.0]);
}

#[test]
fn mr_repeated_position_is_a_second_volume() {
    let mut paths: Vec<PathBuf> = ["00001", "00002", "00003", "00016"]
        .iter()
        .map(|n| {
            fixture(&format!(
                "dcm_qa_nih/mr_0004/axial_epi_fmri_interleaved_i_to_s-{n}.dcm"
            ))
        })
        .collect();
    paths.extend(
        ["IM0001", "IM0002", "IM0003"]
            .map(|name| fixture(&format!("pacs-export/STUDY1/SERIES4/{name}"))),
    );
    let mut slices = read_fixtures(&paths);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    // Instance 1 and 16 share a position: their pixels must be compared.
    assert_eq!(assembly.needs_pixel_hash, [0, 3]);

    for (index, slice) in slices.iter_mut().enumerate() {
        slice.pixel_hash = hash(index as u8);
    }
    let assembly = assemble(&slices, &AssemblyOptions::default());

    assert_eq!(assembly.volumes.len(), 2);
    let first = &assembly.volumes[0];
    let instances: Vec<i64> = first
        .slices
        .iter()
        .map(|&index| slices[index].instance_number.unwrap())
        .collect();
    assert_eq!(instances, [1, 2, 3, 4, 5, 6]);
    assert!(close(first.grid.spacing_mm[0], 5.0, 1e-4));
    assert_eq!(first.grid.shape, [6, 64, 64]);

    let second = &assembly.volumes[1];
    assert_eq!(second.slices.len(), 1);
    assert_eq!(slices[second.slices[0]].instance_number, Some(16));
    assert!(matches!(
        second.decisions[0],
        Decision::SingleSlice {
            source: "SpacingBetweenSlices",
            ..
        }
    ));
}

#[test]
fn enhanced_ct_frames_sorted_by_functional_groups() {
    let slices = read_fixtures(&[fixture("pydicom-data/eCT_Supplemental.dcm")]);
    assert_eq!(slices.len(), 2);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert_eq!(assembly.excluded.len(), 2, "DERIVED by default");
    assert_eq!(assembly.excluded[0].reason.code(), "derived");

    let options = AssemblyOptions {
        keep_derived: true,
        ..AssemblyOptions::default()
    };
    let assembly = assemble(&slices, &options);
    let volume = &assembly.volumes[0];
    // IOP -1\0\0\0\1\0 gives n = (0, 0, -1): frame 1 (z = -149) comes first.
    assert_eq!(volume.slices, [1, 0]);
    assert_eq!(volume.grid.spacing_mm[0], 10.0);
    assert_eq!(volume.grid.affine_column(2), [0.0, 0.0, -10.0]);
    assert_eq!(volume.grid.affine_column(3), [99.5, -301.5, -149.0]);
}

#[test]
fn enhanced_mr_without_functional_groups_is_2d_only() {
    let slices = read_fixtures(&[fixture("pydicom-data/emri_small.dcm")]);
    let assembly = assemble(&slices, &AssemblyOptions::default());
    assert!(assembly.volumes.is_empty());
    assert!(assembly
        .excluded
        .iter()
        .all(|excluded| excluded.reason.code() == "frames-without-positions"));
}
