//! `hounsfield validate`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use hounsfield_dicom::validate::{SeriesFinding, SeriesReport};
use hounsfield_dicom::{Finding, Severity};
use hounsfield_pipeline::validate::{validate, FileReport, ValidateOptions};
use serde_json::Value;

use crate::EXIT_PARTIAL;

/// The lowest severity shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MinSeverity {
    Info,
    Warning,
    Error,
}

impl MinSeverity {
    fn admits(self, severity: Severity) -> bool {
        let floor = match self {
            MinSeverity::Info => Severity::Info,
            MinSeverity::Warning => Severity::Warning,
            MinSeverity::Error => Severity::Error,
        };
        severity >= floor
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when no error was found, 1 when errors were found, \
2 for usage errors and inputs that do not exist."
)]
pub(crate) struct ValidateArgs {
    /// Files or folders to validate; folders are searched recursively and
    /// their files that are not DICOM are skipped
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Write JSON Lines: one object per finding, with `scope` `file` (and
    /// `path`) or `series` (and `series_instance_uid`, `paths`)
    #[arg(long)]
    json: bool,

    /// Check headers and series only, without decoding CT pixels
    #[arg(long)]
    header_only: bool,

    /// Lowest severity to show; the exit status still counts every error
    #[arg(long, value_enum, default_value = "info")]
    min_severity: MinSeverity,

    /// Worker threads (default: all cores)
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
}

/// Validates the inputs and prints the findings. Returns exit status 1
/// when any finding is an error.
pub(crate) fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let options = ValidateOptions {
        inputs: args.inputs.clone(),
        decode_pixels: !args.header_only,
        jobs: args.jobs.map(usize::from),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut write_error: Option<io::Error> = None;
    let summary = validate(&options, |report| {
        if write_error.is_none() {
            if let Err(error) = write_file_report(&mut out, report, &args) {
                write_error = Some(error);
            }
        }
    })?;
    let result = match write_error {
        Some(error) => Err(error),
        None => write_series_reports(&mut out, &summary.series, &args),
    };
    match result.and_then(|()| out.flush()) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Ok(0),
        Err(error) => return Err(error.into()),
    }

    eprintln!(
        "hounsfield: validated {} DICOM file(s), skipped {} other file(s): {} error(s), {} warning(s), {} info; {} file(s) with errors, {} series with findings",
        summary.files,
        summary.skipped,
        summary.errors,
        summary.warnings,
        summary.infos,
        summary.files_with_errors,
        summary.series.len()
    );
    Ok(if summary.errors > 0 { EXIT_PARTIAL } else { 0 })
}

fn write_series_reports(
    out: &mut impl Write,
    reports: &[SeriesReport],
    args: &ValidateArgs,
) -> io::Result<()> {
    for series in reports {
        let shown: Vec<&SeriesFinding> = series
            .findings
            .iter()
            .filter(|item| args.min_severity.admits(item.finding.severity))
            .collect();
        if shown.is_empty() {
            continue;
        }
        if !args.json {
            writeln!(
                out,
                "series {} ({} file(s))",
                series.series_instance_uid, series.files
            )?;
        }
        for item in shown {
            if args.json {
                let mut line = finding_json(&item.finding);
                line.insert("scope".into(), "series".into());
                line.insert(
                    "series_instance_uid".into(),
                    series.series_instance_uid.clone().into(),
                );
                line.insert("paths".into(), item.paths.clone().into());
                writeln!(out, "{}", Value::Object(line))?;
            } else {
                write_finding(out, &item.finding)?;
                for path in &item.paths {
                    writeln!(out, "    {path}")?;
                }
            }
        }
    }
    Ok(())
}

fn finding_json(finding: &Finding) -> serde_json::Map<String, Value> {
    match serde_json::to_value(finding) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn write_file_report(
    out: &mut impl Write,
    report: &FileReport,
    args: &ValidateArgs,
) -> io::Result<()> {
    let shown: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|finding| args.min_severity.admits(finding.severity))
        .collect();
    if shown.is_empty() {
        return Ok(());
    }
    if args.json {
        for finding in shown {
            let mut line = finding_json(finding);
            line.insert("scope".into(), "file".into());
            line.insert("path".into(), report.path.clone().into());
            writeln!(out, "{}", Value::Object(line))?;
        }
        return Ok(());
    }
    writeln!(out, "{}", report.path)?;
    shown
        .into_iter()
        .try_for_each(|finding| write_finding(out, finding))
}

/// Writes `  severity code keyword (gggg,eeee): message [found ...; expected ...]`.
fn write_finding(out: &mut impl Write, finding: &Finding) -> io::Result<()> {
    let severity = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let attribute = match (finding.keyword, finding.tag.as_deref()) {
        (Some(keyword), Some(tag)) => format!(" {keyword} {tag}"),
        _ => String::new(),
    };
    let mut details = Vec::new();
    if let Some(value) = &finding.value {
        details.push(format!("found `{value}`"));
    }
    if let Some(expected) = &finding.expected {
        details.push(format!("expected {expected}"));
    }
    let details = if details.is_empty() {
        String::new()
    } else {
        format!(" [{}]", details.join("; "))
    };
    writeln!(
        out,
        "  {severity:<7} {}{attribute}: {}{details}",
        finding.code, finding.message
    )
}
