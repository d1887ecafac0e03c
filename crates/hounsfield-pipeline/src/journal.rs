//! The run journal that makes `convert --resume` possible.
//!
//! While a run goes on, `OUT/.hounsfield-run/` holds the manifest written so
//! far (`manifest.partial.jsonl`, one line per finished input file) and, after
//! every committed shard, `checkpoint.json`: how many shards are final, how
//! many manifest lines (and bytes) belong to the files before them, and how
//! many samples of the next file are already in those shards. A resumed run
//! cuts the manifest back to the checkpoint, deletes shards after it, skips
//! the finished files and continues, so its output is identical to an
//! uninterrupted run. At the end the manifest is renamed to `OUT/manifest.jsonl`
//! and the journal is removed.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use hounsfield_export::write_atomic;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::PipelineError;

/// Folder of the journal inside the output folder.
pub const JOURNAL_DIR: &str = ".hounsfield-run";
const CHECKPOINT: &str = "checkpoint.json";
const PARTIAL_MANIFEST: &str = "manifest.partial.jsonl";
const CHECKPOINT_VERSION: u32 = 1;

/// The state of a run at its last committed shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version of this file.
    pub version: u32,
    /// SHA-256 of the recipe YAML and the input list; a resume with other
    /// settings is rejected.
    pub settings_hash: String,
    /// Shards with final names: `shard-000000.tar` up to this count.
    pub shards_committed: u64,
    /// Input files whose manifest lines are complete.
    pub files_done: usize,
    /// Bytes of those manifest lines.
    pub manifest_bytes: u64,
    /// Samples of the next input file that are already in committed shards.
    pub samples_of_next_file: usize,
}

/// Hashes the settings that must not change between a run and its resume.
pub fn settings_hash(recipe_yaml: &str, inputs: &[PathBuf]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(recipe_yaml.as_bytes());
    for input in inputs {
        hasher.update([0]);
        hasher.update(input.to_string_lossy().as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::OutputDir {
        path: path.to_path_buf(),
        source,
    }
}

/// The journal of one run.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    manifest: BufWriter<File>,
    manifest_bytes: u64,
    settings_hash: String,
}

impl Journal {
    /// Starts a new journal, discarding any earlier one.
    pub fn start(output: &Path, settings_hash: String) -> Result<Self, PipelineError> {
        let dir = output.join(JOURNAL_DIR);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
        }
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let path = dir.join(PARTIAL_MANIFEST);
        let file = File::create(&path).map_err(io_error(&path))?;
        let mut journal = Journal {
            dir,
            manifest: BufWriter::new(file),
            manifest_bytes: 0,
            settings_hash,
        };
        // A checkpoint from the start records the settings, so a resume
        // with other settings is rejected even before the first shard.
        journal.checkpoint(0, 0, 0)?;
        Ok(journal)
    }

    /// Reopens the journal of an interrupted run at its last checkpoint and
    /// returns the checkpoint with the manifest lines kept. Without a
    /// journal, starts afresh and returns the default checkpoint.
    pub fn resume(
        output: &Path,
        settings_hash: String,
    ) -> Result<(Self, Checkpoint, Vec<String>), PipelineError> {
        let dir = output.join(JOURNAL_DIR);
        let checkpoint_path = dir.join(CHECKPOINT);
        let manifest_path = dir.join(PARTIAL_MANIFEST);
        if !manifest_path.exists() {
            tracing::info!(
                "no interrupted run in {}; starting afresh",
                output.display()
            );
            return Ok((
                Journal::start(output, settings_hash)?,
                Checkpoint::default(),
                Vec::new(),
            ));
        }
        let checkpoint = match fs::read(&checkpoint_path) {
            Ok(bytes) => serde_json::from_slice::<Checkpoint>(&bytes).map_err(|error| {
                PipelineError::Resume(format!(
                    "{} is unreadable: {error}",
                    checkpoint_path.display()
                ))
            })?,
            Err(error) => return Err(io_error(&checkpoint_path)(error)),
        };
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(PipelineError::Resume(format!(
                "the interrupted run used journal version {}, this build writes {CHECKPOINT_VERSION}",
                checkpoint.version
            )));
        }
        if checkpoint.settings_hash != settings_hash {
            return Err(PipelineError::Resume(
                "the recipe or the inputs differ from the interrupted run; rerun without --resume"
                    .into(),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&manifest_path)
            .map_err(io_error(&manifest_path))?;
        file.set_len(checkpoint.manifest_bytes)
            .map_err(io_error(&manifest_path))?;
        let kept = fs::read_to_string(&manifest_path).map_err(io_error(&manifest_path))?;
        let lines: Vec<String> = kept.lines().map(str::to_string).collect();
        if lines.len() != checkpoint.files_done {
            return Err(PipelineError::Resume(format!(
                "{} has {} lines, the checkpoint expects {}",
                manifest_path.display(),
                lines.len(),
                checkpoint.files_done
            )));
        }
        let file = OpenOptions::new()
            .append(true)
            .open(&manifest_path)
            .map_err(io_error(&manifest_path))?;
        Ok((
            Journal {
                dir,
                manifest: BufWriter::new(file),
                manifest_bytes: checkpoint.manifest_bytes,
                settings_hash,
            },
            checkpoint,
            lines,
        ))
    }

    /// Appends one manifest line (without its newline).
    pub fn append_manifest(&mut self, line: &[u8]) -> Result<(), PipelineError> {
        let path = self.dir.join(PARTIAL_MANIFEST);
        self.manifest.write_all(line).map_err(io_error(&path))?;
        self.manifest.write_all(b"\n").map_err(io_error(&path))?;
        self.manifest_bytes += line.len() as u64 + 1;
        Ok(())
    }

    /// Records that `shards_committed` shards are final, after `files_done`
    /// complete files and `samples_of_next_file` samples of the next one.
    pub fn checkpoint(
        &mut self,
        shards_committed: u64,
        files_done: usize,
        samples_of_next_file: usize,
    ) -> Result<(), PipelineError> {
        let path = self.dir.join(PARTIAL_MANIFEST);
        self.manifest.flush().map_err(io_error(&path))?;
        let checkpoint = Checkpoint {
            version: CHECKPOINT_VERSION,
            settings_hash: self.settings_hash.clone(),
            shards_committed,
            files_done,
            manifest_bytes: self.manifest_bytes,
            samples_of_next_file,
        };
        let bytes = serde_json::to_vec_pretty(&checkpoint).map_err(|error| {
            PipelineError::Resume(format!("cannot encode the checkpoint: {error}"))
        })?;
        write_atomic(self.dir.join(CHECKPOINT), &bytes)?;
        Ok(())
    }

    /// Moves the manifest to its final name and removes the journal.
    pub fn finish(mut self, manifest: &Path) -> Result<(), PipelineError> {
        let partial = self.dir.join(PARTIAL_MANIFEST);
        self.manifest.flush().map_err(io_error(&partial))?;
        drop(self.manifest);
        fs::rename(&partial, manifest).map_err(io_error(manifest))?;
        fs::remove_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        Ok(())
    }
}

/// Whether `name` is a temporary file of an atomic write
/// (`.NAME.tmp-PID` or `.NAME.tmp-PID-N`).
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.contains(".tmp-")
}

/// Removes temporary files that a killed run left under `dir`.
pub fn remove_temporary_files(dir: &Path) -> Result<usize, PipelineError> {
    if !dir.exists() {
        return Ok(0);
    }
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_file() && is_temporary(&name) {
            fs::remove_file(entry.path()).map_err(io_error(entry.path()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes shard files `shard-NNNNNN.tar` with an index of at least `from`.
pub fn remove_shards_from(dir: &Path, from: u64) -> Result<(), PipelineError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let index = name
            .strip_prefix("shard-")
            .and_then(|rest| rest.strip_suffix(".tar"))
            .and_then(|digits| digits.parse::<u64>().ok());
        if index.is_some_and(|index| index >= from) {
            fs::remove_file(entry.path()).map_err(io_error(&entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised() {
        assert!(is_temporary(".shard-000001.tar.tmp-1234"));
        assert!(is_temporary(".CT_small.dcm.png.tmp-99-2"));
        assert!(!is_temporary("shard-000001.tar"));
        assert!(!is_temporary(".hidden"));
    }

    #[test]
    fn resume_cuts_the_manifest_back_to_the_checkpoint() {
        let out = tempfile::tempdir().unwrap();
        let hash = settings_hash("channels: [modality]", &[PathBuf::from("in")]);
        let mut journal = Journal::start(out.path(), hash.clone()).unwrap();
        journal.append_manifest(b"{\"path\":\"a\"}").unwrap();
        journal.checkpoint(1, 1, 2).unwrap();
        journal.append_manifest(b"{\"path\":\"b\"}").unwrap();
        journal.manifest.flush().unwrap();
        drop(journal);
        let (_, checkpoint, lines) = Journal::resume(out.path(), hash.clone()).unwrap();
        assert_eq!(checkpoint.shards_committed, 1);
        assert_eq!(checkpoint.samples_of_next_file, 2);
        assert_eq!(lines, vec!["{\"path\":\"a\"}".to_string()]);
        let error = Journal::resume(out.path(), "other".into()).unwrap_err();
        assert!(error.to_string().contains("differ"), "{error}");
    }
}
