//! Rules across the files of one series, grouped by Series Instance UID:
//! one image size, orientation and pixel spacing per series, no SOP
//! Instance UID twice, and no two images at the same position.

use std::collections::BTreeMap;

use dicom_dictionary_std::tags;
use serde::Serialize;

use crate::attr::{self, Object};
use crate::finding::{Finding, Severity};

/// Two Image Position (Patient) values are the same position when they
/// round to the same micrometre (0.001 mm) in every coordinate.
const POSITION_GRID_MM: f64 = 0.001;
/// Largest difference of a direction cosine between files of one series
/// before their Image Orientation (Patient) counts as different.
const ORIENTATION_TOLERANCE: f64 = 1e-4;
/// Largest difference of Pixel Spacing, in mm, between files of one series
/// before it counts as different.
const SPACING_TOLERANCE_MM: f64 = 1e-4;

/// What the series rules need from one file.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesEntry {
    /// The file, as shown in reports.
    pub path: String,
    /// SOP Instance UID (0008,0018).
    pub sop_instance_uid: Option<String>,
    /// Rows (0028,0010) and Columns (0028,0011).
    pub size: Option<(i64, i64)>,
    /// Pixel Spacing (0028,0030) in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Image Orientation (Patient) (0020,0037).
    pub image_orientation: Option<[f64; 6]>,
    /// Image Position (Patient) (0020,0032) in mm.
    pub image_position: Option<[f64; 3]>,
    /// Presentation Intent Type (0008,0068).
    pub presentation_intent_type: Option<String>,
}

fn fixed<const N: usize>(object: &Object, tag: dicom_core::Tag) -> Option<[f64; N]> {
    attr::decimals(object, tag).ok().flatten()?.try_into().ok()
}

impl SeriesEntry {
    /// Reads the entry of one file; values that are absent or cannot be
    /// parsed are `None` (the file rules report them).
    pub fn read(path: impl Into<String>, object: &Object) -> Self {
        let integer = |tag| attr::integer(object, tag).ok().flatten();
        SeriesEntry {
            path: path.into(),
            sop_instance_uid: attr::text(object, tags::SOP_INSTANCE_UID),
            size: integer(tags::ROWS).zip(integer(tags::COLUMNS)),
            pixel_spacing: fixed(object, tags::PIXEL_SPACING),
            image_orientation: fixed(object, tags::IMAGE_ORIENTATION_PATIENT),
            image_position: fixed(object, tags::IMAGE_POSITION_PATIENT),
            presentation_intent_type: attr::text(object, tags::PRESENTATION_INTENT_TYPE),
        }
    }
}

/// A finding about several files of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// The files it concerns.
    pub paths: Vec<String>,
}

/// The findings of one series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesReport {
    /// Series Instance UID (0020,000E).
    pub series_instance_uid: String,
    /// Files in the series.
    pub files: usize,
    /// Findings across its files.
    pub findings: Vec<SeriesFinding>,
}

/// Files collected by series, checked by [`SeriesIndex::reports`].
///
/// It keeps one small [`SeriesEntry`] per file (a path, a UID and a few
/// numbers), so its memory grows with the number of files validated.
#[derive(Debug, Default)]
pub struct SeriesIndex {
    series: BTreeMap<String, Vec<SeriesEntry>>,
}

impl SeriesIndex {
    /// Creates an empty index.
    pub fn new() -> Self {
        SeriesIndex::default()
    }

    /// Adds a file to its series.
    pub fn add(&mut self, series_instance_uid: String, entry: SeriesEntry) {
        self.series
            .entry(series_instance_uid)
            .or_default()
            .push(entry);
    }

    /// Checks every series and returns those with findings, by Series
    /// Instance UID.
    pub fn reports(&self) -> Vec<SeriesReport> {
        self.series
            .iter()
            .filter_map(|(uid, entries)| {
                let findings = check_series(entries);
                (!findings.is_empty()).then(|| SeriesReport {
                    series_instance_uid: uid.clone(),
                    files: entries.len(),
                    findings,
                })
            })
            .collect()
    }
}

/// Checks the files of one series.
pub fn check_series(entries: &[SeriesEntry]) -> Vec<SeriesFinding> {
    let mut findings = Vec::new();
    duplicate_sop_instance_uids(entries, &mut findings);
    duplicate_positions(entries, &mut findings);
    inconsistent(
        entries,
        |entry| entry.size,
        |a, b| a == b,
        |(rows, columns)| format!("{rows}x{columns}"),
        ("inconsistent-rows-columns", tags::ROWS, "Rows and Columns"),
        &mut findings,
    );
    inconsistent(
        entries,
        |entry| entry.image_orientation,
        |a, b| {
            a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= ORIENTATION_TOLERANCE)
        },
        |values| format_numbers(&values),
        (
            "inconsistent-image-orientation",
            tags::IMAGE_ORIENTATION_PATIENT,
            "Image Orientation (Patient)",
        ),
        &mut findings,
    );
    inconsistent(
        entries,
        |entry| entry.pixel_spacing,
        |a, b| {
            a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= SPACING_TOLERANCE_MM)
        },
        |values| format_numbers(&values),
        (
            "inconsistent-pixel-spacing",
            tags::PIXEL_SPACING,
            "Pixel Spacing",
        ),
        &mut findings,
    );
    inconsistent(
        entries,
        |entry| entry.presentation_intent_type.clone(),
        |a, b| a == b,
        |value| value,
        (
            "mixed-presentation-intent",
            tags::PRESENTATION_INTENT_TYPE,
            "Presentation Intent Type",
        ),
        &mut findings,
    );
    findings
}

fn format_numbers(values: &[f64]) -> String {
    values
        .iter()
        .map(|value| value.to_string())
        .collect::<Vec<_>>()
        .join("\\")
}

fn duplicate_sop_instance_uids(entries: &[SeriesEntry], findings: &mut Vec<SeriesFinding>) {
    let mut by_uid: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for entry in entries {
        if let Some(uid) = entry.sop_instance_uid.as_deref() {
            by_uid.entry(uid).or_default().push(&entry.path);
        }
    }
    for (uid, paths) in by_uid.into_iter().filter(|(_, paths)| paths.len() > 1) {
        findings.push(SeriesFinding {
            finding: Finding::about(
                Severity::Error,
                "duplicate-sop-instance-uid",
                tags::SOP_INSTANCE_UID,
                format!(
                    "{} files share the SOP Instance UID {uid}, which must identify one instance",
                    paths.len()
                ),
            )
            .with_value(uid)
            .expecting("a different SOP Instance UID in every file"),
            paths: paths.into_iter().map(str::to_string).collect(),
        });
    }
}

fn duplicate_positions(entries: &[SeriesEntry], findings: &mut Vec<SeriesFinding>) {
    let mut by_position: BTreeMap<[i64; 3], Vec<&SeriesEntry>> = BTreeMap::new();
    for entry in entries {
        if let Some(position) = entry.image_position {
            let key = position.map(|mm| (mm / POSITION_GRID_MM).round() as i64);
            by_position.entry(key).or_default().push(entry);
        }
    }
    for same in by_position.into_values().filter(|same| same.len() > 1) {
        let position = same[0]
            .image_position
            .map(|p| format_numbers(&p))
            .unwrap_or_default();
        findings.push(SeriesFinding {
            finding: Finding::about(
                Severity::Warning,
                "duplicate-image-position",
                tags::IMAGE_POSITION_PATIENT,
                format!(
                    "{} files share Image Position (Patient) {position}: duplicates, or images of another phase, echo or acquisition that belong in their own volume",
                    same.len()
                ),
            )
            .with_value(position)
            .expecting("one image per position in a volume"),
            paths: same.iter().map(|entry| entry.path.clone()).collect(),
        });
    }
}

/// Reports a series whose files disagree on a value that must be the same
/// in one volume. The most common value counts as the series' own; the
/// paths listed are those of the other files.
fn inconsistent<T: Clone>(
    entries: &[SeriesEntry],
    read: impl Fn(&SeriesEntry) -> Option<T>,
    same: impl Fn(&T, &T) -> bool,
    show: impl Fn(T) -> String,
    (code, tag, name): (&'static str, dicom_core::Tag, &str),
    findings: &mut Vec<SeriesFinding>,
) {
    // Groups of equal values, each with the files that have it.
    let mut groups: Vec<(T, Vec<&str>)> = Vec::new();
    for entry in entries {
        let Some(value) = read(entry) else {
            continue;
        };
        match groups.iter_mut().find(|(known, _)| same(known, &value)) {
            Some((_, paths)) => paths.push(&entry.path),
            None => groups.push((value, vec![entry.path.as_str()])),
        }
    }
    if groups.len() < 2 {
        return;
    }
    // The most common value first; ties keep the order of first appearance.
    groups.sort_by_key(|(_, paths)| std::cmp::Reverse(paths.len()));
    let summary = groups
        .iter()
        .map(|(value, paths)| format!("{} ({} file(s))", show(value.clone()), paths.len()))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = show(groups[0].0.clone());
    let others: Vec<String> = groups[1..]
        .iter()
        .flat_map(|(_, paths)| paths.iter().map(|path| path.to_string()))
        .collect();
    findings.push(SeriesFinding {
        finding: Finding::about(
            Severity::Warning,
            code,
            tag,
            format!(
                "files of the series disagree on {name}: {summary}; they cannot form one volume"
            ),
        )
        .with_value(summary)
        .expecting(format!("{expected} in every file")),
        paths: others,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, uid: &str, z: f64) -> SeriesEntry {
        SeriesEntry {
            path: path.to_string(),
            sop_instance_uid: Some(uid.to_string()),
            size: Some((2, 2)),
            pixel_spacing: Some([0.5, 0.5]),
            image_orientation: Some([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            image_position: Some([0.0, 0.0, z]),
            presentation_intent_type: None,
        }
    }

    fn codes(findings: &[SeriesFinding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.finding.code).collect()
    }

    #[test]
    fn consistent_series_has_no_findings() {
        let entries = [entry("a", "1.1", 0.0), entry("b", "1.2", 2.5)];
        assert!(check_series(&entries).is_empty());
    }

    #[test]
    fn duplicate_sop_instance_uid_is_an_error() {
        let entries = [
            entry("a", "1.1", 0.0),
            entry("b", "1.1", 2.5),
            entry("c", "1.3", 5.0),
        ];
        let findings = check_series(&entries);
        assert_eq!(codes(&findings), ["duplicate-sop-instance-uid"]);
        assert_eq!(findings[0].finding.severity, Severity::Error);
        assert_eq!(findings[0].paths, ["a", "b"]);
    }

    #[test]
    fn duplicate_position_rounds_to_micrometres() {
        let entries = [
            entry("a", "1.1", 0.0),
            entry("b", "1.2", 0.0001),
            entry("c", "1.3", 2.5),
        ];
        let findings = check_series(&entries);
        assert_eq!(codes(&findings), ["duplicate-image-position"]);
        assert_eq!(findings[0].paths, ["a", "b"]);
    }

    #[test]
    fn inconsistent_geometry_lists_the_odd_files() {
        let mut odd = entry("c", "1.3", 5.0);
        odd.size = Some((4, 4));
        odd.pixel_spacing = Some([0.7, 0.7]);
        odd.image_orientation = Some([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
        let entries = [entry("a", "1.1", 0.0), entry("b", "1.2", 2.5), odd];
        let findings = check_series(&entries);
        assert_eq!(
            codes(&findings),
            [
                "inconsistent-rows-columns",
                "inconsistent-image-orientation",
                "inconsistent-pixel-spacing"
            ]
        );
        assert_eq!(findings[0].paths, ["c"]);
        assert_eq!(
            findings[0].finding.value.as_deref(),
            Some("2x2 (2 file(s)), 4x4 (1 file(s))")
        );
        assert_eq!(
            findings[0].finding.expected.as_deref(),
            Some("2x2 in every file")
        );
    }

    #[test]
    fn mixed_presentation_intent_is_a_warning() {
        let mut first = entry("a", "1.1", 0.0);
        first.presentation_intent_type = Some("FOR PRESENTATION".into());
        let mut second = entry("b", "1.2", 2.5);
        second.presentation_intent_type = Some("FOR PROCESSING".into());
        assert_eq!(
            codes(&check_series(&[first, second])),
            ["mixed-presentation-intent"]
        );
    }

    #[test]
    fn index_reports_only_series_with_findings() {
        let mut index = SeriesIndex::new();
        index.add("9.1".into(), entry("a", "1.1", 0.0));
        index.add("9.2".into(), entry("b", "2.1", 0.0));
        index.add("9.2".into(), entry("c", "2.1", 2.5));
        let reports = index.reports();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].series_instance_uid, "9.2");
        assert_eq!(reports[0].files, 2);
    }
}
