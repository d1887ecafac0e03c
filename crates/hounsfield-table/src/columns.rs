//! The columns of the table: names, types and how each is read from a row.

use crate::row::RowData;

/// The type of a column, the same in Parquet and in CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Bool,
    /// UTF-8 text.
    Text,
}

/// One value of a row; `Null` for an absent or unparseable attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// An integer, for `Int32` and `Int64` columns.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Null, Into::into)
    }
}

impl From<i64> for Cell {
    fn from(value: i64) -> Self {
        Cell::Int(value)
    }
}

impl From<f64> for Cell {
    fn from(value: f64) -> Self {
        Cell::Float(value)
    }
}

impl From<bool> for Cell {
    fn from(value: bool) -> Self {
        Cell::Bool(value)
    }
}

impl From<String> for Cell {
    fn from(value: String) -> Self {
        Cell::Text(value)
    }
}

impl From<&String> for Cell {
    fn from(value: &String) -> Self {
        Cell::Text(value.clone())
    }
}

type Read = Box<dyn Fn(&RowData) -> Cell + Send + Sync>;

/// A column: its name, its type and the function that reads its value.
pub struct Column {
    /// The column name.
    pub name: String,
    /// The column type.
    pub kind: Kind,
    read: Read,
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Column {
    fn new(
        name: impl Into<String>,
        kind: Kind,
        read: impl Fn(&RowData) -> Cell + Send + Sync + 'static,
    ) -> Self {
        Column {
            name: name.into(),
            kind,
            read: Box::new(read),
        }
    }

    /// Reads this column's value from `row`.
    pub fn value(&self, row: &RowData) -> Cell {
        (self.read)(row)
    }
}

/// Optional columns of a table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnOptions {
    /// A `frame` column (0-based), for one row per frame.
    pub frames: bool,
    /// How many numbered Window Center and Window Width columns to write.
    pub window_columns: usize,
    /// `pixel_min`, `pixel_max`, `pixel_mean`, `pixel_std`, `pixel_count`.
    pub pixel_stats: bool,
    /// A `window_fraction` column.
    pub window_fraction: bool,
    /// The patient-identifying columns.
    pub patient_attributes: bool,
}

fn text(read: fn(&RowData) -> Option<&String>) -> impl Fn(&RowData) -> Cell {
    move |row| read(row).into()
}

/// Returns the columns of a table with `options`, in output order.
pub fn columns(options: &ColumnOptions) -> Vec<Column> {
    let mut columns = vec![Column::new("path", Kind::Text, |row| {
        Cell::Text(row.path.clone())
    })];
    if options.frames {
        columns.push(Column::new("frame", Kind::Int32, |row| {
            row.frame.map(i64::from).into()
        }));
    }
    columns.extend(identity_columns());
    columns.extend(pixel_module_columns());
    columns.extend(geometry_columns());
    columns.extend(window_columns(options.window_columns));
    columns.extend(rescale_and_file_columns());
    if options.pixel_stats {
        columns.extend(statistics_columns());
    }
    if options.window_fraction {
        columns.push(Column::new("window_fraction", Kind::Float64, |r| {
            r.window_fraction.into()
        }));
    }
    if options.patient_attributes {
        columns.extend(patient_columns());
    }
    columns
}

/// UIDs, modality and equipment.
fn identity_columns() -> Vec<Column> {
    use Kind::{Int64, Text};
    vec![
        Column::new(
            "sop_instance_uid",
            Text,
            text(|r| r.metadata.sop_instance_uid.as_ref()),
        ),
        Column::new(
            "sop_class_uid",
            Text,
            text(|r| r.metadata.sop_class_uid.as_ref()),
        ),
        Column::new(
            "study_instance_uid",
            Text,
            text(|r| r.metadata.study_instance_uid.as_ref()),
        ),
        Column::new(
            "series_instance_uid",
            Text,
            text(|r| r.metadata.series_instance_uid.as_ref()),
        ),
        Column::new(
            "frame_of_reference_uid",
            Text,
            text(|r| r.metadata.frame_of_reference_uid.as_ref()),
        ),
        Column::new("modality", Text, text(|r| r.metadata.modality.as_ref())),
        Column::new(
            "manufacturer",
            Text,
            text(|r| r.metadata.manufacturer.as_ref()),
        ),
        Column::new(
            "manufacturer_model_name",
            Text,
            text(|r| r.metadata.manufacturer_model_name.as_ref()),
        ),
        Column::new(
            "body_part_examined",
            Text,
            text(|r| r.metadata.body_part_examined.as_ref()),
        ),
        Column::new("instance_number", Int64, |r| {
            r.metadata.instance_number.into()
        }),
    ]
}

/// The Image Pixel Module.
fn pixel_module_columns() -> Vec<Column> {
    use Kind::{Int32, Text};
    vec![
        Column::new("rows", Int32, |r| r.pixel.rows.into()),
        Column::new("columns", Int32, |r| r.pixel.columns.into()),
        Column::new("number_of_frames", Int32, |r| {
            r.pixel.number_of_frames.into()
        }),
        Column::new("samples_per_pixel", Int32, |r| {
            r.pixel.samples_per_pixel.into()
        }),
        Column::new("bits_allocated", Int32, |r| r.pixel.bits_allocated.into()),
        Column::new("bits_stored", Int32, |r| r.pixel.bits_stored.into()),
        Column::new("high_bit", Int32, |r| r.pixel.high_bit.into()),
        Column::new("pixel_representation", Int32, |r| {
            r.pixel.pixel_representation.into()
        }),
        Column::new(
            "photometric_interpretation",
            Text,
            text(|r| r.pixel.photometric_interpretation.as_ref()),
        ),
    ]
}

/// Pixel spacing, slice thickness, orientation (6 columns) and position (3).
fn geometry_columns() -> Vec<Column> {
    use Kind::Float64;
    let mut columns = vec![
        Column::new("pixel_spacing_row", Float64, |r| {
            r.geometry.pixel_spacing.map(|s| s[0]).into()
        }),
        Column::new("pixel_spacing_column", Float64, |r| {
            r.geometry.pixel_spacing.map(|s| s[1]).into()
        }),
        Column::new("slice_thickness", Float64, |r| {
            r.geometry.slice_thickness.into()
        }),
    ];
    let axes = [
        "row_x", "row_y", "row_z", "column_x", "column_y", "column_z",
    ];
    for (index, axis) in axes.into_iter().enumerate() {
        columns.push(Column::new(
            format!("image_orientation_{axis}"),
            Float64,
            move |r| r.geometry.image_orientation.map(|v| v[index]).into(),
        ));
    }
    for (index, axis) in ["x", "y", "z"].into_iter().enumerate() {
        columns.push(Column::new(
            format!("image_position_{axis}"),
            Float64,
            move |r| r.geometry.image_position.map(|v| v[index]).into(),
        ));
    }
    columns
}

/// `window_count`, `window_multi_valued`, then `count` numbered Window
/// Center columns and as many Window Width columns.
fn window_columns(count: usize) -> Vec<Column> {
    let mut columns = vec![
        Column::new("window_count", Kind::Int32, |r| {
            let count = r.windows.centers.len().max(r.windows.widths.len());
            (count > 0).then_some(count as i64).into()
        }),
        Column::new("window_multi_valued", Kind::Bool, |r| {
            Cell::Bool(r.windows.centers.len().max(r.windows.widths.len()) > 1)
        }),
    ];
    for index in 0..count {
        columns.push(Column::new(
            format!("window_center_{}", index + 1),
            Kind::Float64,
            move |r| r.windows.centers.get(index).copied().into(),
        ));
    }
    for index in 0..count {
        columns.push(Column::new(
            format!("window_width_{}", index + 1),
            Kind::Float64,
            move |r| r.windows.widths.get(index).copied().into(),
        ));
    }
    columns
}

/// Rescale, transfer syntax, lossy flag and file size.
fn rescale_and_file_columns() -> Vec<Column> {
    use Kind::{Bool, Float64, Int64, Text};
    vec![
        Column::new("rescale_slope", Float64, |r| r.rescale.slope.into()),
        Column::new("rescale_intercept", Float64, |r| r.rescale.intercept.into()),
        Column::new(
            "rescale_type",
            Text,
            text(|r| r.rescale.rescale_type.as_ref()),
        ),
        Column::new("transfer_syntax_uid", Text, |r| {
            Cell::Text(r.metadata.transfer_syntax_uid.clone())
        }),
        Column::new("lossy_image_compression", Bool, |r| {
            r.metadata.lossy_image_compression.into()
        }),
        Column::new("file_size", Int64, |r| {
            i64::try_from(r.file_size).ok().into()
        }),
    ]
}

/// Statistics of the non-padding modality values.
fn statistics_columns() -> Vec<Column> {
    use Kind::{Float64, Int64};
    vec![
        Column::new("pixel_min", Float64, |r| r.stats.map(|s| s.min).into()),
        Column::new("pixel_max", Float64, |r| r.stats.map(|s| s.max).into()),
        Column::new("pixel_mean", Float64, |r| r.stats.map(|s| s.mean).into()),
        Column::new("pixel_std", Float64, |r| r.stats.map(|s| s.std).into()),
        Column::new("pixel_count", Int64, |r| {
            r.stats.map(|s| s.count as i64).into()
        }),
    ]
}

fn patient_columns() -> Vec<Column> {
    fn patient(
        name: &str,
        read: fn(&hounsfield_dicom::PatientAttributes) -> Option<&String>,
    ) -> Column {
        Column::new(name, Kind::Text, move |r| {
            r.patient.as_ref().and_then(read).into()
        })
    }
    vec![
        patient("patient_name", |p| p.patient_name.as_ref()),
        patient("patient_id", |p| p.patient_id.as_ref()),
        patient("patient_birth_date", |p| p.patient_birth_date.as_ref()),
        patient("patient_sex", |p| p.patient_sex.as_ref()),
        patient("patient_age", |p| p.patient_age.as_ref()),
        patient("accession_number", |p| p.accession_number.as_ref()),
        patient("study_date", |p| p.study_date.as_ref()),
        patient("institution_name", |p| p.institution_name.as_ref()),
        patient("referring_physician_name", |p| {
            p.referring_physician_name.as_ref()
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(options: &ColumnOptions) -> Vec<String> {
        columns(options).into_iter().map(|c| c.name).collect()
    }

    fn plain() -> ColumnOptions {
        ColumnOptions {
            frames: false,
            window_columns: 3,
            pixel_stats: false,
            window_fraction: false,
            patient_attributes: false,
        }
    }

    #[test]
    fn no_patient_columns_by_default() {
        let names = names(&plain());
        for identifying in [
            "patient_name",
            "patient_id",
            "patient_birth_date",
            "accession_number",
            "institution_name",
            "referring_physician_name",
        ] {
            assert!(!names.iter().any(|n| n == identifying), "{identifying}");
        }
        assert!(names.contains(&"window_center_3".to_string()));
        assert!(!names.contains(&"window_center_4".to_string()));
        assert!(!names.contains(&"frame".to_string()));
    }

    #[test]
    fn options_add_columns() {
        let options = ColumnOptions {
            frames: true,
            window_columns: 1,
            pixel_stats: true,
            window_fraction: true,
            patient_attributes: true,
        };
        let names = names(&options);
        assert_eq!(names[1], "frame");
        for added in [
            "pixel_mean",
            "pixel_std",
            "window_fraction",
            "patient_name",
            "patient_birth_date",
        ] {
            assert!(names.iter().any(|n| n == added), "{added}");
        }
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "duplicate column names");
    }
}
