//! `convert --volumes`: series assembled into volumes, one sample per
//! volume.
//!
//! The run has four stages. Every file's slice headers are read in
//! parallel, without pixels. [`hounsfield_series::assemble`] groups them
//! into volumes. When slices share a position, their frames are decoded
//! and hashed, and assembly runs again, so that exact duplicates are
//! dropped and other repeats become volumes of their own. Volumes are then
//! built in parallel, `jobs` at a time, and written in plan order: a
//! `(C, D, H, W)` `.npy` with its JSON in the shards, and a `.nii.gz` per
//! volume. Last come `manifest.jsonl` (one line per input file) and
//! `volumes.jsonl` (one line per volume).

mod build;
mod headers;
mod metadata;
mod resample;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hounsfield_dicom::{Finding, Severity};
use hounsfield_export::{write_atomic, Sample, ShardInfo, ShardOptions, ShardWriter};
use hounsfield_series::{
    assemble, Assembly, ExclusionReason, SliceHeader, SplitStep, VolumePlan, VolumeSpec,
};
use serde::Serialize;

use crate::convert::Conversion;
use crate::discover::{check_inputs, walk, InputFile};
use crate::error::PipelineError;
use crate::journal::{remove_shards_from, remove_temporary_files};
use crate::ordered::{map_in_order, thread_pool};
use crate::run::{ConvertOptions, ManifestEntry, Status};

use build::{build_volume, BuiltVolume, VolumeContext};
use headers::{by_file, hash_file_frames, read_file_headers, FileHeaders};
use metadata::{volume_key, DecisionRecord};

/// Files whose headers are read in parallel per job before they are
/// collected in input order.
const FILES_PER_JOB_IN_BATCH: usize = 16;

/// One line of `volumes.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeRecord {
    /// The sample key.
    pub key: String,
    /// `ok`, or `error` when the volume could not be built.
    pub status: Status,
    /// The error message, when `status` is `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Series Instance UID, replaced when the recipe sets
    /// `privacy.uid_key_env`.
    pub series_instance_uid: String,
    /// Tensor shape (C, D, H, W), when built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shape: Option<[usize; 4]>,
    /// Voxel spacing (slice, row, column) in mm.
    pub spacing_mm: [f64; 3],
    /// The source files, in slice order (a multi-frame file once).
    pub sources: Vec<String>,
    /// The shard holding the sample, relative to the output folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The NIfTI file, relative to the output folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nifti: Option<String>,
    /// The steps that divided the volume from the rest of its series.
    pub split: Vec<SplitStep>,
    /// Choices made for the volume, each with its code and sentence.
    pub decisions: Vec<serde_json::Value>,
    /// Defects and assumptions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// Counts and outputs of a finished volume run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeSummary {
    /// Input files found.
    pub files: usize,
    /// Files with at least one slice in a written volume.
    pub files_in_volumes: usize,
    /// Files skipped: not DICOM, not an image, or every slice excluded.
    pub files_skipped: usize,
    /// Files that could not be read, or whose volumes failed.
    pub files_failed: usize,
    /// Volumes written.
    pub volumes: usize,
    /// Volumes that could not be built.
    pub volumes_failed: usize,
    /// Slices excluded from every volume, with a reason in the manifest.
    pub excluded_slices: usize,
    /// Shards written.
    pub shards: Vec<ShardInfo>,
    /// NIfTI files written.
    pub nifti_files: usize,
    /// `manifest.jsonl`.
    pub manifest: PathBuf,
    /// `volumes.jsonl`.
    pub volume_index: PathBuf,
}

/// The outcome of one input file.
#[derive(Debug, Default)]
struct FileState {
    path: String,
    skipped: Option<String>,
    failed: Option<String>,
    /// Indices of the file's slices in the run's slice list.
    slices: Vec<usize>,
    samples: Vec<String>,
    shards: BTreeSet<String>,
    findings: Vec<Finding>,
}

fn create_dir(path: &Path) -> Result<(), PipelineError> {
    std::fs::create_dir_all(path).map_err(|source| PipelineError::OutputDir {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes `.nii.gz` files that an earlier run left in `dir`.
fn remove_nifti_files(dir: &Path) -> Result<(), PipelineError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_name().to_string_lossy().ends_with(".nii.gz") {
            std::fs::remove_file(entry.path()).map_err(|source| PipelineError::OutputDir {
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Converts every series under the inputs into volumes.
///
/// Files are grouped by Series Instance UID and divided into volumes as
/// [`hounsfield_series::assemble`] describes, with the choices of the
/// recipe's `volumes` section. Each volume becomes one shard sample,
/// `KEY.npy` of shape `(C, D, H, W)` and `KEY.json` with its spacing,
/// affine (LPS and RAS), source slices in order, split steps, decisions
/// and findings, plus `nifti/KEY.nii.gz` unless the recipe turns it off.
/// The recipe's channels are rendered once per volume; its 2-D `spatial`
/// steps and PNG previews do not apply.
///
/// Output does not depend on the order of the files or on the number of
/// threads. `progress` is called once per volume, in output order.
///
/// # Errors
///
/// [`PipelineError::Config`] for `resume` (not supported here) or a recipe
/// with neither shards nor NIfTI output. Errors of output folders and shard
/// writes stop the run too. Errors of single files and volumes go to the
/// manifest instead.
pub fn convert_volumes(
    options: &ConvertOptions,
    mut progress: impl FnMut(&VolumeRecord),
) -> Result<VolumeSummary, PipelineError> {
    let (recipe, render_recipe, spec) = volume_recipes(options)?;
    check_inputs(&options.inputs)?;
    let deidentifier = Conversion::new(recipe.clone(), options.inputs.len())?.deidentifier;
    let pool = thread_pool(options.jobs)?;
    let jobs = pool.current_num_threads().max(1);
    prepare_output(&options.output, &recipe)?;

    let Headers {
        mut files,
        mut slices,
        slice_file,
    } = read_headers(options, &recipe, &pool, jobs)?;
    let assembly = assemble_with_hashes(&mut slices, &spec, &recipe, &pool);
    record_exclusions(&assembly, &mut files, &slice_file);

    let mut shards = match &recipe.export.shards {
        Some(shard_spec) => {
            let shard_dir = options.output.join("shards");
            create_dir(&shard_dir)?;
            let shard_options = ShardOptions {
                max_samples_per_shard: shard_spec.max_samples_per_shard,
                ..ShardOptions::default()
            };
            Some(ShardWriter::new(&shard_dir, shard_options)?)
        }
        None => None,
    };
    let context = VolumeContext {
        recipe: &render_recipe,
        spec: &spec,
        deidentifier: &deidentifier,
        shards: shards.is_some(),
    };
    let nifti_dir = options.output.join("nifti");
    let keys = volume_keys(&assembly, &slices, &deidentifier);
    let mut summary = VolumeSummary {
        files: files.len(),
        excluded_slices: assembly.excluded.len(),
        manifest: options.output.join("manifest.jsonl"),
        volume_index: options.output.join("volumes.jsonl"),
        ..VolumeSummary::default()
    };
    let mut volume_lines = Vec::new();
    map_in_order(
        &pool,
        assembly.volumes.iter().zip(&keys),
        jobs,
        |(plan, key)| (plan, key, build_volume(plan, &slices, key, &context)),
        |(plan, key, built)| -> Result<(), PipelineError> {
            let output = VolumeOutput {
                shards: &mut shards,
                nifti_dir: &nifti_dir,
                deidentifier: &deidentifier,
                summary: &mut summary,
            };
            let record = write_volume(plan, key, built, &slices, output)?;
            for &index in &plan.slices {
                files[slice_file[index]].add_volume(&record);
            }
            volume_lines.push(json_line(&record, "volume record")?);
            progress(&record);
            Ok(())
        },
    )?;

    if let Some(writer) = shards {
        summary.shards = writer.finish()?;
    }
    let mut manifest = Vec::new();
    for state in files {
        let entry = manifest_entry(state, &assembly, &mut summary);
        manifest.extend(json_line(&entry, "manifest line")?);
    }
    write_atomic(&summary.manifest, &manifest)?;
    write_atomic(&summary.volume_index, &volume_lines.concat())?;
    Ok(summary)
}

/// The recipe to write (its `volumes` section filled in), the recipe to
/// render with (no 2-D spatial steps) and the `volumes` section.
type VolumeRecipes = (
    hounsfield_tensor::Recipe,
    hounsfield_tensor::Recipe,
    VolumeSpec,
);

/// Checks the options and returns the recipes of a volume run.
fn volume_recipes(options: &ConvertOptions) -> Result<VolumeRecipes, PipelineError> {
    if options.resume {
        return Err(PipelineError::Config(
            "--resume is not supported with --volumes; rerun without it".into(),
        ));
    }
    let spec = options.recipe.volumes.clone().unwrap_or_default();
    if options.recipe.export.shards.is_none() && !spec.nifti {
        return Err(PipelineError::Config(
            "volume runs write shards, NIfTI files or both, and the recipe turns off both".into(),
        ));
    }
    let mut recipe = options.recipe.clone();
    recipe.volumes = Some(spec.clone());
    if !recipe.spatial.is_empty() {
        tracing::warn!(
            "the recipe's spatial steps apply to 2-D frames and are ignored for volumes; \
             use `volumes.resample` instead"
        );
    }
    if recipe.export.png.is_some() {
        tracing::debug!("PNG previews are not written for volumes");
    }
    let mut render_recipe = recipe.clone();
    render_recipe.spatial = Vec::new();
    Ok((recipe, render_recipe, spec))
}

/// Creates the output folder, removes what an earlier run left in it
/// (temporary files, shards, NIfTI files) and writes `recipe.yaml`.
fn prepare_output(output: &Path, recipe: &hounsfield_tensor::Recipe) -> Result<(), PipelineError> {
    create_dir(output)?;
    let removed = remove_temporary_files(output)?;
    if removed > 0 {
        tracing::info!("removed {removed} temporary file(s) left by an interrupted run");
    }
    remove_shards_from(&output.join("shards"), 0)?;
    remove_nifti_files(&output.join("nifti"))?;
    let recipe_yaml = recipe
        .to_yaml()
        .map_err(|error| PipelineError::Config(error.to_string()))?;
    write_atomic(output.join("recipe.yaml"), recipe_yaml.as_bytes())?;
    Ok(())
}

/// Adds each excluded slice's reason to its file's findings, once per
/// reason.
fn record_exclusions(assembly: &Assembly, files: &mut [FileState], slice_file: &[usize]) {
    for excluded in &assembly.excluded {
        let severity = match excluded.reason {
            ExclusionReason::Localizer { .. } | ExclusionReason::Derived { .. } => Severity::Info,
            _ => Severity::Warning,
        };
        let finding = Finding::new(severity, excluded.reason.code(), excluded.message.clone());
        let state = &mut files[slice_file[excluded.slice]];
        if !state.findings.contains(&finding) {
            state.findings.push(finding);
        }
    }
}

impl FileState {
    /// Records that a volume holding one of this file's slices was written
    /// or failed.
    fn add_volume(&mut self, record: &VolumeRecord) {
        if record.status == Status::Ok {
            if !self.samples.contains(&record.key) {
                self.samples.push(record.key.clone());
            }
            self.shards.extend(record.shard.clone());
        } else {
            let error = record.error.clone().unwrap_or_default();
            self.failed
                .get_or_insert_with(|| format!("volume {}: {error}", record.key));
        }
    }
}

/// The header stage's result.
struct Headers {
    /// Every input file, in walk order.
    files: Vec<FileState>,
    /// Every slice of every file.
    slices: Vec<SliceHeader>,
    /// The index in `files` of each slice's file.
    slice_file: Vec<usize>,
}

/// Reads the slice headers of every file under the inputs, in parallel.
fn read_headers(
    options: &ConvertOptions,
    recipe: &hounsfield_tensor::Recipe,
    pool: &rayon::ThreadPool,
    jobs: usize,
) -> Result<Headers, PipelineError> {
    let mut files = Vec::new();
    let mut slices = Vec::new();
    let mut slice_file = Vec::new();
    map_in_order(
        pool,
        walk(&options.inputs),
        jobs * FILES_PER_JOB_IN_BATCH,
        |entry: Result<InputFile, (PathBuf, String)>| match entry {
            Ok(file) => (
                file.path.display().to_string(),
                read_file_headers(&file, recipe),
            ),
            Err((path, message)) => (
                path.display().to_string(),
                FileHeaders::Failed(format!("{}: cannot read: {message}", path.display())),
            ),
        },
        |(path, headers)| -> Result<(), PipelineError> {
            let mut state = FileState {
                path,
                ..FileState::default()
            };
            match headers {
                FileHeaders::Slices(file_slices) => {
                    for slice in file_slices {
                        state.slices.push(slices.len());
                        slice_file.push(files.len());
                        slices.push(slice);
                    }
                }
                FileHeaders::Skipped(reason) => state.skipped = Some(reason),
                FileHeaders::Failed(error) => {
                    tracing::error!("{error}");
                    state.failed = Some(error);
                }
            }
            files.push(state);
            Ok(())
        },
    )?;
    Ok(Headers {
        files,
        slices,
        slice_file,
    })
}

/// Assembles the slices; when positions repeat, hashes the pixels of the
/// slices concerned and assembles again.
fn assemble_with_hashes(
    slices: &mut [SliceHeader],
    spec: &VolumeSpec,
    recipe: &hounsfield_tensor::Recipe,
    pool: &rayon::ThreadPool,
) -> Assembly {
    let options = spec.assembly_options();
    let assembly = assemble(slices, &options);
    if assembly.needs_pixel_hash.is_empty() {
        return assembly;
    }
    tracing::debug!(
        "hashing the pixels of {} slice(s) at repeated positions",
        assembly.needs_pixel_hash.len()
    );
    let files: Vec<(PathBuf, Vec<(usize, u32)>)> =
        by_file(slices, assembly.needs_pixel_hash.iter().copied())
            .into_iter()
            .collect();
    let hashes: Vec<Vec<(usize, hounsfield_series::PixelHash)>> = pool.install(|| {
        use rayon::prelude::*;
        files
            .par_iter()
            .map(|(path, frames)| hash_file_frames(path, frames, recipe))
            .collect()
    });
    for (index, hash) in hashes.into_iter().flatten() {
        slices[index].pixel_hash = Some(hash);
    }
    assemble(slices, &options)
}

/// Builds the key of every planned volume, made unique by a suffix in the
/// unlikely case that two series hash alike.
fn volume_keys(
    assembly: &Assembly,
    slices: &[SliceHeader],
    deidentifier: &hounsfield_dicom::Deidentifier,
) -> Vec<String> {
    let mut used = BTreeSet::new();
    assembly
        .volumes
        .iter()
        .map(|plan| {
            let series = deidentifier.replace_uid(&plan.series_instance_uid);
            let base = volume_key(plan, &slices[plan.slices[0]], &series);
            let mut key = base.clone();
            let mut suffix = 2;
            while !used.insert(key.clone()) {
                key = format!("{base}-{suffix}");
                suffix += 1;
            }
            key
        })
        .collect()
}

/// The outputs that [`write_volume`] writes to, and the counts it updates.
struct VolumeOutput<'a> {
    shards: &'a mut Option<ShardWriter>,
    nifti_dir: &'a Path,
    deidentifier: &'a hounsfield_dicom::Deidentifier,
    summary: &'a mut VolumeSummary,
}

/// Writes a built volume (shard sample and NIfTI file) and returns its
/// record. A volume that failed to build gives a record with the error.
fn write_volume(
    plan: &VolumePlan,
    key: &str,
    built: Result<BuiltVolume, String>,
    slices: &[SliceHeader],
    output: VolumeOutput<'_>,
) -> Result<VolumeRecord, PipelineError> {
    let VolumeOutput {
        shards,
        nifti_dir,
        deidentifier,
        summary,
    } = output;
    let mut record = volume_record(plan, key, slices, deidentifier);

    let built = match built {
        Ok(built) => built,
        Err(error) => {
            tracing::error!("volume {key}: {error}");
            record.status = Status::Error;
            record.error = Some(error);
            summary.volumes_failed += 1;
            return Ok(record);
        }
    };
    record.shape = Some(built.shape);
    record.findings = built.findings;

    if let Some(bytes) = &built.nifti {
        let relative = format!("nifti/{key}.nii.gz");
        if let Err(error) = write_atomic(nifti_dir.join(format!("{key}.nii.gz")), bytes) {
            let message = hounsfield_dicom::error_chain(&error);
            tracing::error!("volume {key}: {message}");
            record.status = Status::Error;
            record.error = Some(message);
            summary.volumes_failed += 1;
            return Ok(record);
        }
        record.nifti = Some(relative);
        summary.nifti_files += 1;
    }

    if let (Some(writer), Some(npy)) = (shards.as_mut(), built.npy) {
        let mut sample = Sample::new(key.to_string());
        sample.push_member("npy", npy);
        sample.push_member("json", built.json);
        // A failing shard write is fatal: the shard on disk would no longer
        // match the manifest.
        let index = writer.write_sample(&sample)?;
        record.shard = Some(format!("shards/{}", writer.shard_file_name(index)));
    }
    summary.volumes += 1;
    Ok(record)
}

/// Starts the record of a volume from its plan, with status `ok`.
fn volume_record(
    plan: &VolumePlan,
    key: &str,
    slices: &[SliceHeader],
    deidentifier: &hounsfield_dicom::Deidentifier,
) -> VolumeRecord {
    let mut sources: Vec<String> = Vec::new();
    for &index in &plan.slices {
        let path = slices[index].path.display().to_string();
        if !sources.contains(&path) {
            sources.push(path);
        }
    }
    let decisions = plan
        .decisions
        .iter()
        .map(|decision| {
            let record = DecisionRecord {
                decision,
                message: decision.message(),
            };
            serde_json::to_value(record).unwrap_or_default()
        })
        .collect();
    VolumeRecord {
        key: key.to_string(),
        status: Status::Ok,
        error: None,
        series_instance_uid: deidentifier.replace_uid(&plan.series_instance_uid),
        shape: None,
        spacing_mm: plan.grid.spacing_mm,
        sources,
        shard: None,
        nifti: None,
        split: plan.split.clone(),
        decisions,
        findings: plan.findings.clone(),
    }
}

/// Builds the manifest line of one file and counts it in `summary`.
fn manifest_entry(
    state: FileState,
    assembly: &Assembly,
    summary: &mut VolumeSummary,
) -> ManifestEntry {
    let mut entry = ManifestEntry {
        path: state.path,
        status: Status::Ok,
        error: None,
        reason: None,
        samples: state.samples,
        shards: state.shards.into_iter().collect(),
        png: Vec::new(),
        findings: state.findings,
    };
    if !entry.samples.is_empty() {
        summary.files_in_volumes += 1;
    } else if let Some(error) = state.failed {
        entry.status = Status::Error;
        entry.error = Some(error);
        summary.files_failed += 1;
    } else {
        entry.status = Status::Skipped;
        let first_exclusion = assembly
            .excluded
            .iter()
            .find(|excluded| state.slices.contains(&excluded.slice))
            .map(|excluded| excluded.message.clone());
        entry.reason = Some(
            state
                .skipped
                .or(first_exclusion)
                .unwrap_or_else(|| "in no volume".into()),
        );
        summary.files_skipped += 1;
    }
    entry
}

fn json_line<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>, PipelineError> {
    let mut line = serde_json::to_vec(value).map_err(|error| {
        PipelineError::Output(hounsfield_export::Error::Json {
            what: what.into(),
            source: error,
        })
    })?;
    line.push(b'\n');
    Ok(line)
}
