//! From slice headers to volume plans: screening, grouping, repeated
//! positions, ordering, spacing and tilt.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use hounsfield_dicom::{Finding, Severity};
use serde::Serialize;

use crate::geometry::{even_runs, norm, sub, Orientation, StackGeometry};
use crate::grid::{plan_grid, GridRequest, OutputGrid, Sampling};
use crate::header::{GeometrySource, SliceHeader};
use crate::options::{AssemblyOptions, TiltPolicy, UnevenSpacingPolicy};
use crate::reason::{
    format_numbers, Decision, ExcludedSlice, ExclusionReason, SliceRef, SplitKey, SplitStep,
};
use crate::split::{partition, Group, SPLIT_KEYS};

/// Slice spacing of a single slice without Spacing Between Slices or Slice
/// Thickness, mm.
const DEFAULT_SINGLE_SLICE_SPACING_MM: f64 = 1.0;
/// Gantry/Detector Tilt and the measured tilt may differ by this much,
/// degrees, before a finding reports it.
const TILT_ATTRIBUTE_TOLERANCE_DEGREES: f64 = 0.1;
/// Missing Instance Numbers listed in a finding, at most.
const MAX_LISTED_INSTANCE_NUMBERS: usize = 10;

/// One volume to build: its source slices in stack order and its grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumePlan {
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// Position of this volume among the volumes of its series, 0-based.
    pub index_in_series: usize,
    /// Indices of the source slices in the list given to [`assemble`], in
    /// ascending position along the slice normal.
    pub slices: Vec<usize>,
    /// The measured geometry of the source slices.
    pub geometry: StackGeometry,
    /// The grid of the output tensor.
    pub grid: OutputGrid,
    /// The mapping of output voxels onto the source slices; `None` when the
    /// output grid is the source grid.
    pub sampling: Option<Sampling>,
    /// The steps that divided the volume from the rest of its series.
    pub split: Vec<SplitStep>,
    /// Choices made for this volume.
    pub decisions: Vec<Decision>,
    /// Defects and assumptions.
    pub findings: Vec<Finding>,
}

/// The result of [`assemble`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Assembly {
    /// Volumes, by Series Instance UID and then in split order.
    pub volumes: Vec<VolumePlan>,
    /// Slices in no volume, with the reason.
    pub excluded: Vec<ExcludedSlice>,
    /// Slices that share a position with another slice of their stack and
    /// have no [`pixel_hash`](SliceHeader::pixel_hash). They were kept apart
    /// as different images; set their hashes and assemble again so that exact
    /// duplicates are dropped instead.
    pub needs_pixel_hash: Vec<usize>,
}

/// Groups slices into series and volumes.
///
/// 1. Each slice is screened: localizers and DERIVED or SECONDARY images
///    (unless the options keep them), images without Image Orientation
///    (Patient), Image Position (Patient), Rows, Columns or Pixel Spacing,
///    and multi-frame images without per-frame positions are excluded.
/// 2. Slices are grouped by Series Instance UID. A series is divided
///    wherever one of these differs: Frame of Reference UID, Image Type
///    values 1 to 3, Complex Image Component, Echo Numbers, Echo Time,
///    Temporal Position, Stack ID, Rows and Columns, Pixel Spacing, Image
///    Orientation (Patient).
/// 3. Slices are ordered by their position along the normal `n = r × c` of
///    Image Orientation (Patient) (PS3.3 C.7.6.2.1.1), never by Instance
///    Number or file name. Slices at one position with identical pixel
///    hashes are exact duplicates: the first by SOP Instance UID is kept.
///    Slices at one position with different pixels go to different volumes.
///    Acquisition Number, Trigger Time or Acquisition Time separates them
///    when one of them labels every repetition. Otherwise their order does:
///    Acquisition Number, Trigger Time, Acquisition Time, Instance Number,
///    then SOP Instance UID.
/// 4. Each stack's steps along the normal are checked, all of them, and the
///    line of positions is compared with the normal to find tilt. The
///    options decide what happens to uneven and tilted stacks.
///
/// The result depends on the headers only, not on the order of `slices`.
pub fn assemble(slices: &[SliceHeader], options: &AssemblyOptions) -> Assembly {
    let mut assembler = Assembler {
        slices,
        options,
        assembly: Assembly::default(),
        orientations: vec![None; slices.len()],
        dropped: BTreeMap::new(),
        unverified: BTreeSet::new(),
    };
    let series = assembler.screen();
    for (uid, mut members) in series {
        members.sort_by(|&a, &b| canonical_order(&slices[a], &slices[b]));
        let mut groups = vec![Group {
            series: uid.clone(),
            members,
            split: Vec::new(),
        }];
        for key in SPLIT_KEYS {
            groups = groups
                .into_iter()
                .flat_map(|group| partition(group, key, slices, options.orientation_tolerance))
                .collect();
        }
        let first_volume = assembler.assembly.volumes.len();
        for group in groups {
            assembler.resolve_positions(group);
        }
        for (index, volume) in assembler.assembly.volumes[first_volume..]
            .iter_mut()
            .enumerate()
        {
            volume.index_in_series = index;
        }
    }
    assembler.log_exclusions();
    let mut assembly = assembler.assembly;
    assembly.needs_pixel_hash.sort_unstable();
    assembly.needs_pixel_hash.dedup();
    assembly
}

/// Orders slices by SOP Instance UID, frame, then path, so that results do
/// not depend on the order of the files.
fn canonical_order(a: &SliceHeader, b: &SliceHeader) -> Ordering {
    a.sop_instance_uid
        .cmp(&b.sop_instance_uid)
        .then(a.frame.cmp(&b.frame))
        .then_with(|| a.path.cmp(&b.path))
}

/// Orders the slices at one repeated position, to tell phases apart when no
/// single attribute labels them.
fn phase_order(a: &SliceHeader, b: &SliceHeader) -> Ordering {
    a.acquisition_number
        .cmp(&b.acquisition_number)
        .then_with(|| {
            let (x, y) = (
                a.trigger_time.unwrap_or(f64::MIN),
                b.trigger_time.unwrap_or(f64::MIN),
            );
            x.total_cmp(&y)
        })
        .then_with(|| a.acquisition_time.cmp(&b.acquisition_time))
        .then(a.instance_number.cmp(&b.instance_number))
        .then_with(|| canonical_order(a, b))
}

/// An attribute that may label the repetitions at repeated positions.
#[derive(Debug, Clone, Copy)]
enum Separator {
    AcquisitionNumber,
    TriggerTime,
    AcquisitionTime,
}

impl Separator {
    const ALL: [Separator; 3] = [
        Separator::AcquisitionNumber,
        Separator::TriggerTime,
        Separator::AcquisitionTime,
    ];

    fn value(self, slice: &SliceHeader) -> Option<String> {
        match self {
            Separator::AcquisitionNumber => slice.acquisition_number.map(|n| n.to_string()),
            Separator::TriggerTime => slice.trigger_time.map(|t| format!("{t}")),
            Separator::AcquisitionTime => slice.acquisition_time.clone(),
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            Separator::AcquisitionNumber => "Acquisition Number (0020,0012)",
            Separator::TriggerTime => "Trigger Time (0018,1060)",
            Separator::AcquisitionTime => "Acquisition Time (0008,0032)",
        }
    }
}

struct Assembler<'a> {
    slices: &'a [SliceHeader],
    options: &'a AssemblyOptions,
    assembly: Assembly,
    /// The orientation of each slice that passed screening.
    orientations: Vec<Option<Orientation>>,
    /// Exact duplicates dropped, by the index of the slice kept.
    dropped: BTreeMap<usize, Vec<SliceRef>>,
    /// Slices kept apart at a repeated position without pixel hashes.
    unverified: BTreeSet<usize>,
}

impl Assembler<'_> {
    fn exclude(&mut self, slice: usize, reason: ExclusionReason) {
        let header = &self.slices[slice];
        tracing::debug!(path = %header.path.display(), frame = header.frame, "excluded: {reason}");
        self.assembly.excluded.push(ExcludedSlice {
            slice,
            source: SliceRef::of(header),
            series_instance_uid: header.series_instance_uid.clone(),
            message: reason.to_string(),
            reason,
        });
    }

    /// Checks every slice on its own and returns the remaining ones by
    /// Series Instance UID.
    fn screen(&mut self) -> BTreeMap<String, Vec<usize>> {
        let mut series: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, slice) in self.slices.iter().enumerate() {
            match self.screen_slice(slice) {
                Ok(orientation) => {
                    self.orientations[index] = Some(orientation);
                    let uid = slice.series_instance_uid.clone().unwrap_or_default();
                    series.entry(uid).or_default().push(index);
                }
                Err(reason) => self.exclude(index, reason),
            }
        }
        series
    }

    fn screen_slice(&self, slice: &SliceHeader) -> Result<Orientation, ExclusionReason> {
        if slice.geometry_source == GeometrySource::FramesWithoutPositions {
            return Err(ExclusionReason::FramesWithoutPositions {
                number_of_frames: slice.number_of_frames,
            });
        }
        if slice.series_instance_uid.is_none() {
            return Err(ExclusionReason::NoSeriesInstanceUid);
        }
        self.screen_image_type(slice)?;
        let mut missing = Vec::new();
        if slice.image_orientation.is_none() {
            missing.push("ImageOrientationPatient");
        }
        if slice.image_position.is_none() {
            missing.push("ImagePositionPatient");
        }
        if !missing.is_empty() {
            return Err(ExclusionReason::NoPlaneGeometry { missing });
        }
        screen_pixel_grid(slice)?;
        let cosines = slice.image_orientation.unwrap_or_default();
        Orientation::from_cosines(&cosines).map_err(|problem| ExclusionReason::InvalidOrientation {
            orientation: cosines,
            problem,
        })
    }

    /// Excludes localizers (value 3 or later is `LOCALIZER`, PS3.3
    /// C.8.2.1.1.1) and DERIVED or SECONDARY images (values 1 and 2, PS3.3
    /// C.7.6.1.1.2), unless the options keep them.
    fn screen_image_type(&self, slice: &SliceHeader) -> Result<(), ExclusionReason> {
        let value = |index: usize| {
            slice
                .image_type
                .get(index)
                .map(|value| value.to_ascii_uppercase())
        };
        let localizer = slice
            .image_type
            .iter()
            .skip(2)
            .any(|value| value.eq_ignore_ascii_case("LOCALIZER"));
        if localizer && !self.options.keep_localizers {
            return Err(ExclusionReason::Localizer {
                image_type: slice.image_type.clone(),
            });
        }
        let derived =
            value(0).as_deref() == Some("DERIVED") || value(1).as_deref() == Some("SECONDARY");
        if derived && !self.options.keep_derived {
            return Err(ExclusionReason::Derived {
                image_type: slice.image_type.clone(),
            });
        }
        Ok(())
    }

    fn along_normal(&self, orientation: &Orientation, slice: usize) -> f64 {
        orientation.along_normal(self.slices[slice].image_position.unwrap_or_default())
    }

    /// Sorts a group along its normal, drops exact duplicates, and divides
    /// it where positions repeat, until every stack has one slice per
    /// position.
    fn resolve_positions(&mut self, mut group: Group) {
        let Some(orientation) = group
            .members
            .first()
            .and_then(|&first| self.orientations[first])
        else {
            return;
        };
        let tolerance = self.options.spacing_tolerance_mm;
        let slices = self.slices;
        group.members.sort_by(|&a, &b| {
            self.along_normal(&orientation, a)
                .total_cmp(&self.along_normal(&orientation, b))
                .then_with(|| canonical_order(&slices[a], &slices[b]))
        });

        let mut clusters: Vec<Vec<usize>> = Vec::new();
        for &member in &group.members {
            let depth = self.along_normal(&orientation, member);
            match clusters.last_mut() {
                Some(cluster)
                    if depth - self.along_normal(&orientation, cluster[0]) <= tolerance =>
                {
                    cluster.push(member)
                }
                _ => clusters.push(vec![member]),
            }
        }
        let clusters: Vec<Vec<usize>> = clusters
            .into_iter()
            .map(|cluster| self.drop_exact_duplicates(cluster))
            .collect();
        group.members = clusters.iter().flatten().copied().collect();
        let repeated: Vec<&Vec<usize>> = clusters.iter().filter(|c| c.len() > 1).collect();
        if repeated.is_empty() {
            self.build_stack(group, orientation);
            return;
        }

        let max_repeats = repeated
            .iter()
            .map(|cluster| cluster.len())
            .max()
            .unwrap_or(1);
        tracing::warn!(
            series = %group.series,
            "{} position(s) hold up to {max_repeats} different images; \
             splitting them into separate volumes",
            repeated.len()
        );
        for separator in Separator::ALL {
            if let Some(parts) = self.separate_by(&group, &repeated, max_repeats, separator) {
                for part in parts {
                    self.resolve_positions(part);
                }
                return;
            }
        }
        for part in self.separate_by_order(&group, &clusters, max_repeats) {
            self.resolve_positions(part);
        }
    }

    /// Keeps the first slice of each set of exact duplicates in `cluster`
    /// (same position, equal pixel hashes). Slices without a hash are kept
    /// and listed in `needs_pixel_hash`.
    fn drop_exact_duplicates(&mut self, cluster: Vec<usize>) -> Vec<usize> {
        if cluster.len() < 2 {
            return cluster;
        }
        let mut ordered = cluster;
        ordered.sort_by(|&a, &b| canonical_order(&self.slices[a], &self.slices[b]));
        let mut kept: Vec<usize> = Vec::new();
        for member in ordered {
            let slice = &self.slices[member];
            let Some(hash) = slice.pixel_hash else {
                self.assembly.needs_pixel_hash.push(member);
                self.unverified.insert(member);
                kept.push(member);
                continue;
            };
            let position = slice.image_position.unwrap_or_default();
            let original = kept.iter().copied().find(|&other| {
                let other_slice = &self.slices[other];
                other_slice.pixel_hash == Some(hash)
                    && norm(sub(
                        other_slice.image_position.unwrap_or_default(),
                        position,
                    )) <= self.options.spacing_tolerance_mm
            });
            match original {
                Some(original) => {
                    let kept_ref = SliceRef::of(&self.slices[original]);
                    tracing::warn!(
                        path = %slice.path.display(),
                        "exact duplicate of {kept_ref}: same position and identical pixels; dropped"
                    );
                    self.dropped
                        .entry(original)
                        .or_default()
                        .push(SliceRef::of(slice));
                    self.exclude(member, ExclusionReason::ExactDuplicate { kept: kept_ref });
                }
                None => kept.push(member),
            }
        }
        kept
    }

    /// Divides `group` by an attribute that labels the repetitions: every
    /// slice has a value, the slices at each repeated position have
    /// different values, and there are as many values as the most
    /// repetitions of a position.
    fn separate_by(
        &self,
        group: &Group,
        repeated: &[&Vec<usize>],
        max_repeats: usize,
        separator: Separator,
    ) -> Option<Vec<Group>> {
        let mut values: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &member in &group.members {
            let value = separator.value(&self.slices[member])?;
            values.entry(value).or_default().push(member);
        }
        if values.len() != max_repeats {
            return None;
        }
        for cluster in repeated {
            let distinct: BTreeSet<Option<String>> = cluster
                .iter()
                .map(|&member| separator.value(&self.slices[member]))
                .collect();
            if distinct.len() != cluster.len() {
                return None;
            }
        }
        let parts = values.len();
        let groups = values
            .into_iter()
            .map(|(value, members)| {
                let mut split = group.split.clone();
                split.push(SplitStep {
                    key: SplitKey::RepeatedPosition,
                    message: format!(
                        "positions repeat with different pixels; {} tells the {parts} \
                         repetitions apart and this volume has `{value}`",
                        separator.attribute()
                    ),
                    value: format!("{} {value}", separator.attribute()),
                    parts,
                });
                Group {
                    series: group.series.clone(),
                    members,
                    split,
                }
            })
            .collect();
        Some(groups)
    }

    /// Divides `group` by the rank of each slice among the slices at its
    /// position: the first at every position form one volume, the second
    /// another, and so on.
    fn separate_by_order(
        &self,
        group: &Group,
        clusters: &[Vec<usize>],
        max_repeats: usize,
    ) -> Vec<Group> {
        let mut phases: Vec<Vec<usize>> = vec![Vec::new(); max_repeats];
        for cluster in clusters {
            let mut ordered = cluster.clone();
            ordered.sort_by(|&a, &b| phase_order(&self.slices[a], &self.slices[b]));
            for (rank, member) in ordered.into_iter().enumerate() {
                phases[rank].push(member);
            }
        }
        phases
            .into_iter()
            .enumerate()
            .map(|(rank, members)| {
                let mut split = group.split.clone();
                split.push(SplitStep {
                    key: SplitKey::RepeatedPosition,
                    value: format!("repetition {} of {max_repeats}", rank + 1),
                    parts: max_repeats,
                    message: format!(
                        "positions repeat with different pixels and no attribute labels the \
                         repetitions; this volume holds repetition {} of {max_repeats} at each \
                         position, in the order of Acquisition Number, Trigger Time, \
                         Acquisition Time, Instance Number and SOP Instance UID",
                        rank + 1
                    ),
                });
                Group {
                    series: group.series.clone(),
                    members,
                    split,
                }
            })
            .collect()
    }

    fn stack_geometry(&self, members: &[usize], orientation: Orientation) -> StackGeometry {
        let pixel_spacing = self.slices[members[0]].pixel_spacing.unwrap_or([1.0, 1.0]);
        let positions = members
            .iter()
            .map(|&member| self.slices[member].image_position.unwrap_or_default())
            .collect();
        StackGeometry::measure(
            orientation,
            pixel_spacing,
            positions,
            self.options.spacing_tolerance_mm,
        )
    }

    /// Checks the spacing and line of a stack with one slice per position,
    /// and plans its volume or volumes.
    fn build_stack(&mut self, group: Group, orientation: Orientation) {
        let geometry = self.stack_geometry(&group.members, orientation);
        let tolerance = self.options.spacing_tolerance_mm;
        if geometry.line_deviation_mm > tolerance {
            tracing::warn!(
                series = %group.series,
                "slice positions are {:.3} mm off a line; stack excluded",
                geometry.line_deviation_mm
            );
            let reason = ExclusionReason::PositionsNotOnALine {
                max_deviation_mm: geometry.line_deviation_mm,
            };
            for &member in &group.members {
                self.exclude(member, reason.clone());
            }
            return;
        }
        if geometry.evenly_spaced {
            self.plan_volume(group, geometry, Vec::new(), None);
            return;
        }

        let steps = geometry.steps_mm.clone();
        tracing::warn!(
            series = %group.series,
            "uneven slice spacing, steps along the normal [{}] mm; `uneven_spacing: {}`",
            format_numbers(&steps),
            self.options.uneven_spacing
        );
        match self.options.uneven_spacing {
            UnevenSpacingPolicy::Reject => {
                let reason = ExclusionReason::UnevenSpacing { steps_mm: steps };
                for &member in &group.members {
                    self.exclude(member, reason.clone());
                }
            }
            UnevenSpacingPolicy::Resample => {
                let smallest = steps.iter().copied().fold(f64::INFINITY, f64::min);
                let spacing = self.options.even_spacing_mm.unwrap_or(smallest);
                let decision = Decision::UnevenSpacingResampled {
                    steps_mm: steps,
                    spacing_mm: spacing,
                };
                self.plan_volume(group, geometry, vec![decision], Some(spacing));
            }
            UnevenSpacingPolicy::Split => self.split_uneven(group, &geometry),
        }
    }

    /// Splits an unevenly spaced stack into maximal evenly spaced parts and
    /// plans a volume for each.
    fn split_uneven(&mut self, group: Group, geometry: &StackGeometry) {
        let steps = &geometry.steps_mm;
        let runs = even_runs(&geometry.along_normal_mm, self.options.spacing_tolerance_mm);
        let parts = runs.len();
        for (part, run) in runs.into_iter().enumerate() {
            let members = group.members[run].to_vec();
            let mut split = group.split.clone();
            split.push(SplitStep {
                key: SplitKey::UnevenSpacing,
                value: format!("part {} of {parts}", part + 1),
                parts,
                message: format!(
                    "uneven slice spacing, steps [{}] mm: evenly spaced part {} of {parts}",
                    format_numbers(steps),
                    part + 1
                ),
            });
            let decision = Decision::UnevenSpacingSplit {
                steps_mm: steps.clone(),
                part: part + 1,
                parts,
            };
            let part_geometry = self.stack_geometry(&members, geometry.orientation);
            let part_group = Group {
                series: group.series.clone(),
                members,
                split,
            };
            self.plan_volume(part_group, part_geometry, vec![decision], None);
        }
    }

    /// Plans one volume from an evenly spaced stack, or from an uneven one
    /// that `even_spacing_mm` resamples.
    fn plan_volume(
        &mut self,
        group: Group,
        geometry: StackGeometry,
        mut decisions: Vec<Decision>,
        even_spacing_mm: Option<f64>,
    ) {
        let Some(correct_tilt) = self.tilt_decision(&group, &geometry, &mut decisions) else {
            return;
        };

        let first = &self.slices[group.members[0]];
        let mut single_slice_spacing_mm = DEFAULT_SINGLE_SLICE_SPACING_MM;
        if geometry.len() == 1 {
            let decision = single_slice_decision(first);
            if let Decision::SingleSlice { spacing_mm, .. } = decision {
                single_slice_spacing_mm = spacing_mm;
            }
            decisions.push(decision);
        }

        let request = GridRequest {
            correct_tilt,
            even_spacing_mm,
            target: self.options.resample,
            single_slice_spacing_mm,
        };
        let rows = first.rows.unwrap_or(0) as usize;
        let columns = first.columns.unwrap_or(0) as usize;
        let (grid, sampling, resampled) = plan_grid(&geometry, rows, columns, request);
        decisions.extend(resampled);

        let dropped: Vec<SliceRef> = group
            .members
            .iter()
            .filter_map(|member| self.dropped.get(member))
            .flatten()
            .cloned()
            .collect();
        if !dropped.is_empty() {
            decisions.insert(0, Decision::ExactDuplicatesDropped { dropped });
        }
        let findings = self.findings(&group.members, &geometry);

        for decision in &decisions {
            tracing::debug!(series = %group.series, "{}", decision.message());
        }
        self.assembly.volumes.push(VolumePlan {
            series_instance_uid: group.series,
            index_in_series: 0,
            slices: group.members,
            geometry,
            grid,
            sampling,
            split: group.split,
            decisions,
            findings,
        });
    }

    /// Applies the tilt policy to a tilted stack. Returns whether to correct
    /// the tilt by resampling, or `None` when the stack was excluded.
    fn tilt_decision(
        &mut self,
        group: &Group,
        geometry: &StackGeometry,
        decisions: &mut Vec<Decision>,
    ) -> Option<bool> {
        if !geometry.tilted {
            return Some(false);
        }
        let degrees = geometry.tilt_degrees;
        tracing::warn!(
            series = %group.series,
            "stack tilted by {degrees:.2} degrees; `gantry_tilt: {}`",
            self.options.gantry_tilt
        );
        match self.options.gantry_tilt {
            TiltPolicy::Reject => {
                let reason = ExclusionReason::GantryTilt { degrees };
                for &member in &group.members {
                    self.exclude(member, reason.clone());
                }
                None
            }
            TiltPolicy::Shear => {
                decisions.push(Decision::GantryTiltSheared { degrees });
                Some(false)
            }
            TiltPolicy::Resample => {
                decisions.push(Decision::GantryTiltResampled { degrees });
                Some(true)
            }
        }
    }

    /// Findings about a planned volume that change nothing in it.
    fn findings(&self, members: &[usize], geometry: &StackGeometry) -> Vec<Finding> {
        let mut findings = Vec::new();
        let headers: Vec<&SliceHeader> = members.iter().map(|&m| &self.slices[m]).collect();
        let unverified = members
            .iter()
            .filter(|m| self.unverified.contains(m))
            .count();
        if unverified > 0 {
            findings.push(Finding::new(
                Severity::Warning,
                "repeated-position-unverified",
                format!(
                    "{unverified} slice(s) share a position with another image and were kept \
                     apart without comparing pixels; exact duplicates may remain"
                ),
            ));
        }
        instance_number_gaps(&headers, &mut findings);
        if let Some(step) = geometry.mean_step_mm() {
            let declared = headers[0].spacing_between_slices;
            let consistent = headers
                .iter()
                .all(|header| header.spacing_between_slices == declared);
            if let (Some(declared), true) = (declared, consistent) {
                if (declared - step).abs() > self.options.spacing_tolerance_mm {
                    let message = format!(
                        "Spacing Between Slices is {declared} mm but the positions step \
                         {step:.4} mm along the normal; the positions were used"
                    );
                    findings.push(Finding::about(
                        Severity::Info,
                        "spacing-between-slices-differs",
                        hounsfield_dicom::tags::SPACING_BETWEEN_SLICES,
                        message,
                    ));
                }
            }
        }
        if let Some(nominal) = headers[0].gantry_detector_tilt {
            if geometry.len() > 1
                && (nominal.abs() - geometry.tilt_degrees).abs() > TILT_ATTRIBUTE_TOLERANCE_DEGREES
            {
                findings.push(Finding::about(
                    Severity::Info,
                    "gantry-tilt-attribute-differs",
                    hounsfield_dicom::tags::GANTRY_DETECTOR_TILT,
                    format!(
                        "Gantry/Detector Tilt is {nominal} degrees but the positions are tilted by \
                         {:.2} degrees; the positions were used",
                        geometry.tilt_degrees
                    ),
                ));
            }
        }
        findings
    }

    /// Logs one line per series and exclusion code, with the count.
    fn log_exclusions(&self) {
        let mut counts: BTreeMap<(String, &'static str), (usize, String)> = BTreeMap::new();
        for excluded in &self.assembly.excluded {
            let key = (
                excluded.series_instance_uid.clone().unwrap_or_default(),
                excluded.reason.code(),
            );
            let entry = counts.entry(key).or_insert((0, excluded.message.clone()));
            entry.0 += 1;
        }
        for ((series, code), (count, message)) in counts {
            tracing::info!(series = %series, code, "{count} slice(s) excluded: {message}");
        }
    }
}

/// Chooses the slice spacing of a single-slice volume, which has no position
/// step to measure: Spacing Between Slices, else Slice Thickness, else 1 mm.
fn single_slice_decision(slice: &SliceHeader) -> Decision {
    let (spacing_mm, source) = match (slice.spacing_between_slices, slice.slice_thickness) {
        (Some(spacing), _) if spacing > 0.0 => (spacing, "SpacingBetweenSlices"),
        (_, Some(thickness)) if thickness > 0.0 => (thickness, "SliceThickness"),
        _ => (DEFAULT_SINGLE_SLICE_SPACING_MM, "default"),
    };
    Decision::SingleSlice { spacing_mm, source }
}

/// Excludes a slice without Rows, Columns or a positive Pixel Spacing.
fn screen_pixel_grid(slice: &SliceHeader) -> Result<(), ExclusionReason> {
    let mut missing = Vec::new();
    if slice.rows.is_none() {
        missing.push("Rows");
    }
    if slice.columns.is_none() {
        missing.push("Columns");
    }
    match slice.pixel_spacing {
        None => missing.push("PixelSpacing"),
        Some([row, column]) if !(row > 0.0 && column > 0.0) => {
            missing.push("PixelSpacing (a positive value)")
        }
        Some(_) => {}
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ExclusionReason::NoPixelGrid { missing })
    }
}

/// Reports Instance Numbers missing between the smallest and largest of a
/// stack. Order is decided by position, so a gap changes nothing, but it
/// often means a file is missing from the export.
fn instance_number_gaps(headers: &[&SliceHeader], findings: &mut Vec<Finding>) {
    let numbers: Option<BTreeSet<i64>> = headers.iter().map(|h| h.instance_number).collect();
    let Some(numbers) = numbers else {
        return;
    };
    if numbers.len() != headers.len() || numbers.len() < 2 {
        return;
    }
    let (Some(&low), Some(&high)) = (numbers.first(), numbers.last()) else {
        return;
    };
    let missing: Vec<i64> = (low..=high).filter(|n| !numbers.contains(n)).collect();
    if missing.is_empty() {
        return;
    }
    let listed: Vec<String> = missing
        .iter()
        .take(MAX_LISTED_INSTANCE_NUMBERS)
        .map(ToString::to_string)
        .collect();
    let more = if missing.len() > MAX_LISTED_INSTANCE_NUMBERS {
        format!(" and {} more", missing.len() - MAX_LISTED_INSTANCE_NUMBERS)
    } else {
        String::new()
    };
    findings.push(Finding::about(
        Severity::Warning,
        "instance-number-gap",
        hounsfield_dicom::tags::INSTANCE_NUMBER,
        format!(
            "Instance Numbers {low} to {high} lack {}{more}; a file may be missing from the \
             export (the slice order comes from the positions)",
            listed.join(", ")
        ),
    ));
}
