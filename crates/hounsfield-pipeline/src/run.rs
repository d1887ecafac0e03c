//! A conversion run: discovery, parallel conversion in bounded batches,
//! ordered writing of shards, PNG files and the manifest.

use std::io::Write;
use std::path::{Path, PathBuf};

use hounsfield_dicom::Finding;
use hounsfield_export::{write_atomic, AtomicFile, Sample, ShardInfo, ShardOptions, ShardWriter};
use hounsfield_tensor::Recipe;
use rayon::prelude::*;
use serde::Serialize;

use crate::convert::{convert_file, Outcome};
use crate::discover::{check_inputs, walk, InputFile};
use crate::error::PipelineError;

/// Files converted in parallel before their outputs are written in order.
/// Memory grows with this batch, not with the number of inputs.
const FILES_PER_JOB_IN_BATCH: usize = 4;

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
    /// The shard file that holds the samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
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
    /// Shards written.
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
    png_dir: PathBuf,
    manifest: AtomicFile,
    summary: RunSummary,
}

impl Writers {
    fn write(
        &mut self,
        file: &InputFile,
        outcome: Outcome,
    ) -> Result<ManifestEntry, PipelineError> {
        let path = file.path.display().to_string();
        let mut entry = ManifestEntry {
            path,
            status: Status::Ok,
            error: None,
            reason: None,
            samples: Vec::new(),
            shard: None,
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
                            write_error = Some(hounsfield_dicom::error_chain(&error));
                            break;
                        }
                    }
                }
                if let Some(shards) = self.shards.as_mut() {
                    for encoded in samples {
                        let mut sample = Sample::new(encoded.key.clone());
                        sample.push_member("npy", encoded.npy);
                        sample.push_member("json", encoded.json);
                        if let Some(png) = encoded.png {
                            sample.push_member("png", png);
                        }
                        // A failing shard write is fatal: the shard on disk
                        // would no longer match the manifest.
                        let index = shards.write_sample(&sample)?;
                        entry.shard = Some(format!("shards/{}", shards.shard_file_name(index)));
                        entry.samples.push(encoded.key);
                    }
                }
                if let Some(error) = write_error {
                    entry.status = Status::Error;
                    entry.error = Some(error);
                    self.summary.failed += 1;
                } else {
                    self.summary.converted += 1;
                }
                self.summary.samples += entry.samples.len();
                self.summary.png_files += entry.png.len();
            }
            Outcome::Skipped { reason } => {
                entry.status = Status::Skipped;
                entry.reason = Some(reason);
                self.summary.skipped += 1;
            }
            Outcome::Failed { error, findings } => {
                tracing::error!("{error}");
                entry.status = Status::Error;
                entry.error = Some(error);
                entry.findings = findings;
                self.summary.failed += 1;
            }
        }
        let mut line = serde_json::to_vec(&entry).map_err(|error| {
            PipelineError::Output(hounsfield_export::Error::Json {
                what: "manifest line".into(),
                source: error,
            })
        })?;
        line.push(b'\n');
        self.manifest
            .write_all(&line)
            .map_err(|source| PipelineError::OutputDir {
                path: self.manifest.path().to_path_buf(),
                source,
            })?;
        Ok(entry)
    }
}

/// Converts every file under the inputs. Failed files are listed in the
/// manifest and do not stop the run; `progress` is called once per file, in
/// input order.
///
/// Output is deterministic: files are visited in sorted order and written in
/// that order whatever the number of threads, so the same inputs and recipe
/// give byte-identical shards.
pub fn convert(
    options: &ConvertOptions,
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
    let shards = match &recipe.export.shards {
        Some(spec) => {
            let dir = options.output.join("shards");
            create_dir(&dir)?;
            Some(ShardWriter::new(
                dir,
                ShardOptions {
                    max_samples_per_shard: spec.max_samples_per_shard,
                    ..ShardOptions::default()
                },
            )?)
        }
        None => None,
    };
    let manifest_path = options.output.join("manifest.jsonl");
    let mut writers = Writers {
        shards,
        png_dir: options.output.join("png"),
        manifest: AtomicFile::create(&manifest_path)?,
        summary: RunSummary {
            manifest: manifest_path,
            ..RunSummary::default()
        },
    };
    if let Ok(yaml) = recipe.to_yaml() {
        write_atomic(options.output.join("recipe.yaml"), yaml.as_bytes())?;
    }
    let inputs = options.inputs.len();
    let batch_size = jobs.max(1) * FILES_PER_JOB_IN_BATCH;
    let mut files = walk(&options.inputs).peekable();
    while files.peek().is_some() {
        let batch: Vec<_> = files.by_ref().take(batch_size).collect();
        let outcomes: Vec<(InputFile, Outcome)> = pool.install(|| {
            batch
                .into_par_iter()
                .map(|item| match item {
                    Ok(file) => {
                        let outcome = convert_file(&file, recipe, inputs);
                        (file, outcome)
                    }
                    Err((path, message)) => (
                        InputFile {
                            relative: path.display().to_string(),
                            path: path.clone(),
                            input_index: 0,
                        },
                        Outcome::Failed {
                            error: format!("{}: cannot read: {message}", path.display()),
                            findings: Vec::new(),
                        },
                    ),
                })
                .collect()
        });
        for (file, outcome) in outcomes {
            let entry = writers.write(&file, outcome)?;
            progress(&entry);
        }
    }
    let Writers {
        shards,
        manifest,
        mut summary,
        ..
    } = writers;
    if let Some(shards) = shards {
        summary.shards = shards.finish()?;
    }
    manifest.commit()?;
    Ok(summary)
}
