//! `hounsfield inspect`.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use hounsfield_dicom::dump::{write_dump, DumpOptions};
use hounsfield_dicom::json::file_to_json;
use hounsfield_dicom::{open, OpenOptions};
use serde_json::json;

use crate::EXIT_PARTIAL;

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// DICOM files to list; each is read up to Pixel Data (7FE0,0010) and
    /// no further, so pixels are never decoded
    #[arg(required = true)]
    files: Vec<PathBuf>,

    /// Write one JSON object per file (JSON Lines): `{"path": ..., "dataset":
    /// ...}` with the attributes in the DICOM JSON model (PS3.18 F.2)
    #[arg(long)]
    json: bool,

    /// Show text values whole instead of cutting them at 64 characters
    #[arg(long, conflicts_with = "json")]
    full_values: bool,
}

/// Lists the attributes of every file. Returns exit status 1 when a file
/// could not be read.
pub(crate) fn run(args: InspectArgs) -> anyhow::Result<u8> {
    let mut out = BufWriter::new(io::stdout().lock());
    match write_all(&args, &mut out).and_then(|failed| out.flush().map(|()| failed)) {
        Ok(0) => Ok(0),
        Ok(_) => Ok(EXIT_PARTIAL),
        // A closed pipe (`| head`) ends the listing quietly.
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        Err(error) => Err(error.into()),
    }
}

/// Writes every listing and returns the number of files that failed.
fn write_all(args: &InspectArgs, out: &mut impl Write) -> io::Result<usize> {
    // NOTE: dicom-object 0.10 cannot stop a bare data set (one without File
    // Meta Information) before Pixel Data, so such a file is parsed whole;
    // the listing still leaves Pixel Data and later elements out.
    let options = OpenOptions {
        stop_before_pixel_data: true,
        lenient_framing: true,
    };
    let dump_options = DumpOptions {
        max_value_chars: if args.full_values { None } else { Some(64) },
        skip_pixel_data: true,
    };
    let mut failed = 0;
    for (index, path) in args.files.iter().enumerate() {
        let file = match open(path, &options) {
            Ok(file) => file,
            Err(error) => {
                failed += 1;
                eprintln!("hounsfield: {}", hounsfield_dicom::error_chain(&error));
                if args.json {
                    let line =
                        json!({"path": path.display().to_string(), "error": error.to_string()});
                    writeln!(out, "{line}")?;
                }
                continue;
            }
        };
        if args.json {
            let line = json!({
                "path": path.display().to_string(),
                "dataset": file_to_json(&file, true),
            });
            writeln!(out, "{line}")?;
        } else {
            if index > 0 {
                writeln!(out)?;
            }
            write_dump(out, &file, &dump_options)?;
            writeln!(
                out,
                "# Reading stopped before Pixel Data (7FE0,0010): pixels and later elements are not listed"
            )?;
        }
    }
    Ok(failed)
}
