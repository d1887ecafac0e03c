//! `hounsfield table`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use hounsfield_table::{write_table, TableOptions, WindowRange};
use indicatif::{ProgressBar, ProgressStyle};

use crate::EXIT_PARTIAL;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Columns: path, [frame], UIDs, modality, manufacturer, model, body part, \
Image Pixel Module, pixel spacing (row, column), slice thickness, image orientation (6) and \
position (3), window_count, window_multi_valued, window_center_N, window_width_N, rescale \
slope/intercept/type, transfer syntax, lossy flag, file size. Numbers are typed (Int32, Int64, \
Float64, Boolean); an absent or unparseable attribute is null (an empty CSV field).\n\n\
Exit status: 0 when every DICOM file gave a row, 1 when some could not be read, 2 for usage \
errors."
)]
pub(crate) struct TableArgs {
    /// Files or folders to read; folders are searched recursively and files
    /// that are not DICOM are skipped
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Output table; the format follows the extension, .parquet or .csv
    #[arg(short, long)]
    output: PathBuf,

    /// Write one row per frame, with a `frame` column (0-based)
    #[arg(long)]
    frames: bool,

    /// Decode the pixels and add the min, max, mean and population standard
    /// deviation of the non-padding modality values (HU for CT)
    #[arg(long)]
    pixel_stats: bool,

    /// Add the share of non-padding modality values inside the window
    /// CENTER,WIDTH (the closed range CENTER ± WIDTH/2, in modality units)
    #[arg(long, value_name = "CENTER,WIDTH", value_parser = parse_window)]
    window_fraction: Option<WindowRange>,

    /// Add patient-identifying columns (names, IDs, birth date, accession
    /// number, institution, physicians); left out by default
    #[arg(long)]
    include_patient_attributes: bool,

    /// Number of window_center_N and window_width_N columns
    #[arg(long, default_value_t = 3)]
    window_columns: usize,

    /// Worker threads (default: all cores)
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

fn parse_window(text: &str) -> Result<WindowRange, String> {
    let (center, width) = text
        .split_once(',')
        .ok_or_else(|| format!("`{text}` is not CENTER,WIDTH, e.g. 40,400"))?;
    let number = |part: &str, name: &str| {
        part.trim()
            .parse::<f64>()
            .ok()
            .filter(|value| value.is_finite())
            .ok_or_else(|| format!("{name} `{part}` is not a number"))
    };
    let window = WindowRange {
        center: number(center, "center")?,
        width: number(width, "width")?,
    };
    if window.width <= 0.0 {
        return Err(format!("width {} must be greater than 0", window.width));
    }
    Ok(window)
}

/// Writes the table. Returns exit status 1 when some DICOM files could not
/// be read.
pub(crate) fn run(args: TableArgs) -> anyhow::Result<u8> {
    let options = TableOptions {
        inputs: args.inputs,
        output: args.output,
        frames: args.frames,
        pixel_stats: args.pixel_stats,
        window_fraction: args.window_fraction,
        patient_attributes: args.include_patient_attributes,
        window_columns: args.window_columns,
        jobs: args.jobs.map(usize::from),
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} files, {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = write_table(&options, |_, rows| {
        bar.inc(1);
        bar.set_message(format!("{rows} rows"));
    })
    .with_context(|| format!("table {}", options.output.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "hounsfield: wrote {} row(s) from {} DICOM file(s) to {}; {} file(s) unreadable, {} other file(s) skipped",
        summary.rows,
        summary.files,
        options.output.display(),
        summary.failed,
        summary.skipped
    );
    Ok(if summary.failed > 0 { EXIT_PARTIAL } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_option_parses_center_and_width() {
        assert_eq!(
            parse_window("40,400"),
            Ok(WindowRange {
                center: 40.0,
                width: 400.0
            })
        );
        assert_eq!(
            parse_window(" -600 , 1500 "),
            Ok(WindowRange {
                center: -600.0,
                width: 1500.0
            })
        );
        assert!(parse_window("40").is_err());
        assert!(parse_window("40,0").is_err());
        assert!(parse_window("40,abc").is_err());
    }
}
