//! Walking the inputs in a deterministic order.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::error::PipelineError;

/// One file found under an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The path to open.
    pub path: PathBuf,
    /// The path relative to its input folder (the file name for a file
    /// given directly), with `/` separators; output names derive from it.
    pub relative: String,
    /// Which input argument it came from (0-based).
    pub input_index: usize,
}

/// Checks that every input exists.
pub fn check_inputs(inputs: &[PathBuf]) -> Result<(), PipelineError> {
    for input in inputs {
        std::fs::metadata(input).map_err(|source| PipelineError::Input {
            path: input.clone(),
            source,
        })?;
    }
    Ok(())
}

fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        parts.join("/")
    }
}

/// Streams the regular files under `inputs`, sorted by name within each
/// folder, so the order depends only on the names on disk. Unreadable
/// entries are returned as errors with their path and do not stop the walk.
pub fn walk(inputs: &[PathBuf]) -> impl Iterator<Item = Result<InputFile, (PathBuf, String)>> + '_ {
    inputs.iter().enumerate().flat_map(|(input_index, root)| {
        let base = if root.is_dir() {
            root.clone()
        } else {
            root.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        WalkDir::new(root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_map(move |entry| match entry {
                Ok(entry) if entry.file_type().is_file() => Some(Ok(InputFile {
                    relative: relative_name(&base, entry.path()),
                    path: entry.into_path(),
                    input_index,
                })),
                Ok(_) => None,
                Err(error) => {
                    let path = error
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    Some(Err((path, error.to_string())))
                }
            })
    })
}
