//! A conversion run: discovery, parallel conversion in bounded batches,
//! ordered writing of shards, PNG files and the manifest.

use std::path::{Path, PathBuf};

use hounsfield_dicom::Finding;
use hounsfield_export::{write_atomic, Sample, ShardInfo, ShardOptions, ShardWriter};
use hounsfield_tensor::Recipe;
use serde::Serialize;

use crate::convert::{convert_file, Conversion, Outcome};
use crate::discover::{check_inputs, walk, InputFile};
use crate::error::PipelineError;
use crate::journal::{remove_shards_from, remove_temporary_files, settings_hash, Journal};
use crate::ordered::map_in_order;
use crate::shard_index::{remove_shard_index, IndexedShard, ShardIndex, SHARD_INDEX_FILE};

/// Files per worker thread that are converted or waiting to be written at
/// any time. Memory grows with this window, not with the number of inputs.
const FILES_IN_FLIGHT_PER_JOB: usize = 4;

/// Settings of a conversion run.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Files and folders to convert.
    pub inputs: Vec<PathBuf>,
    /// The output folder.
    pub output: PathBuf,
    /// The recipe.
    pub recipe: Recipe,
    /// Worker threads; `None` uses all cores.
    pub jobs: Option<usize>,
    /// Continue an interrupted run in the same output folder instead of
    /// starting afresh.
    pub resume: bool,
}

/// The status of one input file in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Converted.
    Ok,
    /// Failed; see `error`.
    Error,
    /// Not converted on purpose; see `reason`.
    Skipped,
}

/// One line of `manifest.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestEntry {
    /// The input path.
    pub path: String,
    /// What happened.
    pub status: Status,
    /// The error message, when `status` is `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the file was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keys of the samples written to the shards.
    pub samples: Vec<String>,
    /// The shard files that hold the samples, relative to the output folder.
    pub shards: Vec<String>,
    /// PNG files written, relative to the output folder.
    pub png: Vec<String>,
    /// Defects tolerated and defaults assumed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// Counts and outputs of a finished run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// Files converted.
    pub converted: usize,
    /// Files that failed.
    pub failed: usize,
    /// Files skipped (not DICOM or no image).
    pub skipped: usize,
    /// Samples written to shards.
    pub samples: usize,
    /// PNG files written.
    pub png_files: usize,
    /// Shards of the whole run, including those kept from an interrupted run.
    pub shard_count: u64,
    /// Shards written by this invocation.
    pub shards: Vec<ShardInfo>,
    /// The manifest path.
    pub manifest: PathBuf,
}

fn create_dir(path: &Path) -> Result<(), PipelineError> {
    std::fs::create_dir_all(path).map_err(|source| PipelineError::OutputDir {
        path: path.to_path_buf(),
        source,
    })
}

struct Writers {
    shards: Option<ShardWriter>,
    /// Shards committed before this invocation (kept from an interrupted run).
    first_shard: u64,
    png_dir: PathBuf,
    journal: Journal,
    files_done: usize,
    summary: RunSummary,
}

impl Writers {
    /// Writes the outputs of one file and its manifest line. `skip_samples`
    /// samples are already in committed shards (resumed runs only).
    fn write(
        &mut self,
        file: &InputFile,
        outcome: Outcome,
        skip_samples: usize,
    ) -> Result<ManifestEntry, PipelineError> {
        let mut entry = ManifestEntry {
            path: file.path.display().to_string(),
            status: Status::Ok,
            error: None,
            reason: None,
            samples: Vec::new(),
            shards: Vec::new(),
            png: Vec::new(),
            findings: Vec::new(),
        };
        match outcome {
            Outcome::Converted {
                samples,
                pngs,
                findings,
            } => {
                entry.findings = findings;
                let mut write_error = None;
                for png in pngs {
                    let target = self.png_dir.join(&png.relative);
                    match write_atomic(&target, &png.bytes) {
                        Ok(()) => entry.png.push(format!("png/{}", png.relative)),
                        Err(error) => {
                            let message = hounsfield_dicom::error_chain(&error);
                            write_error = Some(format!("{}: {message}", file.path.display()));
                            break;
                        }
                    }
                }
                match write_error {
                    None => self.write_samples(&mut entry, samples, skip_samples)?,
                    Some(error) => {
                        // A file whose PNG could not be written adds no
                        // samples, so that its `error` status and the shards
                        // agree. Samples committed before a resume stay listed.
                        let committed = samples.into_iter().take(skip_samples).collect();
                        self.write_samples(&mut entry, committed, skip_samples)?;
                        tracing::error!("{error}");
                        entry.status = Status::Error;
                        entry.error = Some(error);
                    }
                }
            }
            Outcome::Skipped { reason } => {
                tracing::info!(path = %file.path.display(), "skipped: {reason}");
                entry.status = Status::Skipped;
                entry.reason = Some(reason);
            }
            Outcome::Failed { error, findings } => {
                tracing::error!("{error}");
                entry.status = Status::Error;
                entry.error = Some(error);
                entry.findings = findings;
            }
        }
        let line = serde_json::to_vec(&entry).map_err(|error| {
            PipelineError::Output(hounsfield_export::Error::Json {
                what: "manifest line".into(),
                source: error,
            })
        })?;
        self.journal.append_manifest(&line)?;
        self.files_done += 1;
        self.summary.count(&entry);
        Ok(entry)
    }

    fn write_samples(
        &mut self,
        entry: &mut ManifestEntry,
        samples: Vec<crate::convert::EncodedSample>,
        skip_samples: usize,
    ) -> Result<(), PipelineError> {
        let first_shard = self.first_shard;
        let Some(shards) = self.shards.as_mut() else {
            return Ok(());
        };
        let shard_dir =
            |index: u64, writer: &ShardWriter| format!("shards/{}", writer.shard_file_name(index));
        if skip_samples > 0 && first_shard > 0 {
            // The skipped samples end in the last shard kept from the
            // interrupted run.
            entry.shards.push(shard_dir(first_shard - 1, shards));
        }
        for (position, encoded) in samples.into_iter().enumerate() {
            if position < skip_samples {
                entry.samples.push(encoded.key);
                continue;
            }
            let mut sample = Sample::new(encoded.key.clone());
            sample.push_member("npy", encoded.npy);
            sample.push_member("json", encoded.json);
            if let Some(png) = encoded.png {
                sample.push_member("png", png);
            }
            let committed_before = shards.finished_shards().len();
            // A failing shard write is fatal: the shard on disk would no
            // longer match the manifest.
            let index = shards.write_sample(&sample)?;
            let name = shard_dir(index, shards);
            if entry.shards.last() != Some(&name) {
                entry.shards.push(name);
            }
            entry.samples.push(encoded.key);
            if shards.finished_shards().len() > committed_before {
                let committed = first_shard + shards.finished_shards().len() as u64;
                self.journal
                    .checkpoint(committed, self.files_done, position + 1)?;
            }
        }
        Ok(())
    }
}

impl RunSummary {
    fn count(&mut self, entry: &ManifestEntry) {
        match entry.status {
            Status::Ok => self.converted += 1,
            Status::Error => self.failed += 1,
            Status::Skipped => self.skipped += 1,
        }
        self.samples += entry.samples.len();
        self.png_files += entry.png.len();
    }

    /// Adds a manifest line kept from an interrupted run.
    fn count_kept_line(&mut self, line: &str) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        match value["status"].as_str() {
            Some("ok") => self.converted += 1,
            Some("skipped") => self.skipped += 1,
            _ => self.failed += 1,
        }
        self.samples += value["samples"].as_array().map_or(0, Vec::len);
        self.png_files += value["png"].as_array().map_or(0, Vec::len);
    }
}

fn failed_walk_entry(path: PathBuf, message: String) -> (InputFile, Outcome) {
    (
        InputFile {
            relative: path.display().to_string(),
            path: path.clone(),
            input_index: 0,
        },
        Outcome::Failed {
            error: format!("{}: cannot read: {message}", path.display()),
            findings: Vec::new(),
        },
    )
}

/// Converts every file under the inputs. Failed files are listed in the
/// manifest and do not stop the run; `progress` is called once per file, in
/// input order.
///
/// Output is deterministic: files are visited in sorted order and written in
/// that order whatever the number of threads, so the same inputs and recipe
/// give byte-identical shards. With `resume`, a run killed in the same output
/// folder continues from its last committed shard and ends with the same
/// output as an uninterrupted run.
pub fn convert(
    options: &ConvertOptions,
    progress: impl FnMut(&ManifestEntry),
) -> Result<RunSummary, PipelineError> {
    convert_files(options, walk(&options.inputs), progress)
}

/// Converts the files of `files`, which must come from `options.inputs`
/// (their `relative` path and `input_index` name the outputs), in the order
/// given. [`convert`] passes every file under the inputs; a work unit of a
/// plan passes its own files. Everything else is as in [`convert`].
pub fn convert_files(
    options: &ConvertOptions,
    files: impl Iterator<Item = Result<InputFile, (PathBuf, String)>>,
    mut progress: impl FnMut(&ManifestEntry),
) -> Result<RunSummary, PipelineError> {
    check_inputs(&options.inputs)?;
    create_dir(&options.output)?;
    let recipe = &options.recipe;
    let jobs = options
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|error| PipelineError::ThreadPool {
            jobs,
            message: error.to_string(),
        })?;
    let recipe_yaml = recipe
        .to_yaml()
        .map_err(|error| PipelineError::Resume(error.to_string()))?;
    let hash = settings_hash(&recipe_yaml, &options.inputs);
    let shard_dir = options.output.join("shards");
    let manifest_path = options.output.join("manifest.jsonl");
    // The index is written last, so one left from an earlier run would
    // describe shards that this run replaces.
    remove_shard_index(&shard_dir)?;
    let removed = remove_temporary_files(&options.output)?;
    if removed > 0 {
        tracing::info!("removed {removed} temporary file(s) left by an interrupted run");
    }
    let (journal, checkpoint, kept_lines) = if options.resume {
        Journal::resume(&options.output, hash)?
    } else {
        (
            Journal::start(&options.output, hash)?,
            Default::default(),
            Vec::new(),
        )
    };
    // Shards after the checkpoint (all of them for a fresh run) are stale.
    remove_shards_from(&shard_dir, checkpoint.shards_committed)?;
    if !options.resume && manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(|source| PipelineError::OutputDir {
            path: manifest_path.clone(),
            source,
        })?;
    }
    let shards = match &recipe.export.shards {
        Some(spec) => {
            create_dir(&shard_dir)?;
            Some(ShardWriter::new(
                &shard_dir,
                ShardOptions {
                    max_samples_per_shard: spec.max_samples_per_shard,
                    first_index: checkpoint.shards_committed,
                    ..ShardOptions::default()
                },
            )?)
        }
        None => None,
    };
    let mut summary = RunSummary {
        manifest: manifest_path.clone(),
        ..RunSummary::default()
    };
    for line in &kept_lines {
        summary.count_kept_line(line);
    }
    let mut writers = Writers {
        shards,
        first_shard: checkpoint.shards_committed,
        png_dir: options.output.join("png"),
        journal,
        files_done: kept_lines.len(),
        summary,
    };
    write_atomic(options.output.join("recipe.yaml"), recipe_yaml.as_bytes())?;

    let conversion = Conversion::new(recipe.clone(), options.inputs.len())?;
    let window = jobs.max(1) * FILES_IN_FLIGHT_PER_JOB;
    let mut files = files;
    for kept in &kept_lines {
        let kept_path = serde_json::from_str::<serde_json::Value>(kept)
            .ok()
            .and_then(|value| value["path"].as_str().map(str::to_string));
        let next = match files.next() {
            Some(Ok(file)) => Some(file.path.display().to_string()),
            Some(Err((path, _))) => Some(path.display().to_string()),
            None => None,
        };
        if next.is_none() || next != kept_path {
            return Err(PipelineError::Resume(format!(
                "the input files changed since the interrupted run: expected {}, found {}",
                kept_path.unwrap_or_default(),
                next.unwrap_or_else(|| "no more files".into())
            )));
        }
    }
    let mut skip_samples = checkpoint.samples_of_next_file;
    let convert_item = |item: Result<InputFile, (PathBuf, String)>| match item {
        Ok(file) => {
            let outcome = convert_file(&file, &conversion);
            (file, outcome)
        }
        Err((path, message)) => failed_walk_entry(path, message),
    };
    // This thread writes the outputs in input order while the pool
    // converts the next files.
    map_in_order(&pool, files, window, convert_item, |(file, outcome)| {
        let entry = writers.write(&file, outcome, std::mem::take(&mut skip_samples))?;
        progress(&entry);
        Ok::<(), PipelineError>(())
    })?;
    let Writers {
        shards,
        first_shard,
        journal,
        mut summary,
        ..
    } = writers;
    let kept_shard_names: Vec<String> = match &shards {
        Some(writer) => (0..first_shard)
            .map(|index| writer.shard_file_name(index))
            .collect(),
        None => Vec::new(),
    };
    let has_shards = shards.is_some();
    if let Some(shards) = shards {
        summary.shards = shards.finish()?;
    }
    summary.shard_count = first_shard + summary.shards.len() as u64;
    journal.finish(&manifest_path)?;
    if has_shards {
        write_run_shard_index(&shard_dir, &kept_shard_names, &summary.shards)?;
    }
    Ok(summary)
}

/// Writes `shards/index.json` for the shards kept from an interrupted run
/// (counted from their files) and those written by this invocation.
fn write_run_shard_index(
    shard_dir: &Path,
    kept: &[String],
    written: &[ShardInfo],
) -> Result<(), PipelineError> {
    let mut entries = Vec::with_capacity(kept.len() + written.len());
    for name in kept {
        entries.push(IndexedShard::from_file(
            &shard_dir.join(name),
            name.clone(),
        )?);
    }
    entries.extend(written.iter().map(IndexedShard::from_info));
    ShardIndex::new(entries).write(&shard_dir.join(SHARD_INDEX_FILE))
}
