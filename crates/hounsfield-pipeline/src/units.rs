//! Converting the work units of a plan, one worker's share at a time.
//!
//! Unit `unit-NNNNNN` writes its shards, PNG files, manifest and recipe to
//! `OUT/units/unit-NNNNNN/`, exactly as `convert` writes an output folder,
//! and then `OUT/units/unit-NNNNNN/DONE.json`. That record is written last,
//! so a unit without it is unfinished: a rerun continues it (from its last
//! committed shard) and skips every unit whose record matches the plan and
//! the recipe.

use std::fs;
use std::path::{Path, PathBuf};

use hounsfield_export::write_atomic;
use hounsfield_tensor::Recipe;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::PipelineError;
use crate::plan::{Plan, Unit};
use crate::run::{convert_files, ConvertOptions, ManifestEntry, RunSummary};
use crate::shard_index::{IndexedShard, ShardIndex, SHARD_INDEX_FILE};

/// File name of the plan copied into the output folder.
pub const PLAN_FILE: &str = "plan.json";

/// Folder of the unit outputs inside the output folder.
pub const UNITS_DIR: &str = "units";

/// File name of a unit's completion record.
pub const DONE_FILE: &str = "DONE.json";

/// Format version of unit records.
const RECORD_VERSION: u32 = 1;

/// The units of a plan that one worker converts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitSelection {
    /// Every unit.
    All,
    /// The units of worker `index` out of `count`, assigned round-robin:
    /// unit `u` goes to worker `u % count`. Neighbouring units (often from
    /// one folder of similar files) thus land on different workers.
    Shard {
        /// This worker, 0-based.
        index: usize,
        /// Number of workers.
        count: usize,
    },
    /// The units with these indices.
    Units(Vec<usize>),
}

/// Settings of [`convert_units`].
#[derive(Debug, Clone)]
pub struct UnitRunOptions {
    /// The plan.
    pub plan: Plan,
    /// The output folder shared by all workers.
    pub output: PathBuf,
    /// The recipe; every worker must use the same one.
    pub recipe: Recipe,
    /// Worker threads of this process; `None` uses all cores.
    pub jobs: Option<usize>,
    /// The units to convert.
    pub selection: UnitSelection,
}

/// Counts of the files of a unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitCounts {
    /// Files converted.
    pub converted: usize,
    /// Files that failed.
    pub failed: usize,
    /// Files skipped.
    pub skipped: usize,
    /// Samples written to shards.
    pub samples: usize,
    /// PNG files written.
    pub png_files: usize,
}

impl UnitCounts {
    fn from_summary(summary: &RunSummary) -> Self {
        UnitCounts {
            converted: summary.converted,
            failed: summary.failed,
            skipped: summary.skipped,
            samples: summary.samples,
            png_files: summary.png_files,
        }
    }

    /// Adds the counts of another unit.
    pub fn add(&mut self, other: &UnitCounts) {
        self.converted += other.converted;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.samples += other.samples;
        self.png_files += other.png_files;
    }
}

/// `DONE.json`: the record that a unit is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitRecord {
    /// Format version of this record.
    pub version: u32,
    /// Hash of the plan the unit belongs to.
    pub plan_hash: String,
    /// SHA-256 of the recipe YAML, with every default filled in.
    pub recipe_hash: String,
    /// Index of the unit in the plan.
    pub unit: usize,
    /// Folder name of the unit.
    pub name: String,
    /// Counts of the unit's files.
    pub counts: UnitCounts,
    /// The unit's shards; each `url` is relative to the output folder.
    pub shards: Vec<IndexedShard>,
}

/// Summary of a [`convert_units`] call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnitsSummary {
    /// Units converted by this call.
    pub converted_units: Vec<String>,
    /// Units skipped because an earlier run had finished them.
    pub finished_before: Vec<String>,
    /// Counts of all units selected, including those finished before.
    pub counts: UnitCounts,
}

/// Hashes a recipe's YAML, so that units converted with another recipe are
/// recognised.
pub fn recipe_hash(recipe: &Recipe) -> Result<String, PipelineError> {
    let yaml = recipe
        .to_yaml()
        .map_err(|error| PipelineError::Config(error.to_string()))?;
    Ok(Sha256::digest(yaml.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Reads the worker index and count that a job scheduler sets, for
/// `convert --plan` without `--shard-index`/`--num-shards`.
///
/// The index is `SLURM_ARRAY_TASK_ID` minus `SLURM_ARRAY_TASK_MIN` (0 when
/// unset) in a Slurm job array, or `JOB_COMPLETION_INDEX` in a Kubernetes
/// Indexed Job. The count is `SLURM_ARRAY_TASK_COUNT` in a Slurm job array;
/// Kubernetes sets no count, so it must be given.
///
/// # Errors
/// [`PipelineError::Config`] when a variable is set but is not a number.
pub fn shard_from_env() -> Result<(Option<usize>, Option<usize>), PipelineError> {
    let number = |name: &str| -> Result<Option<usize>, PipelineError> {
        match std::env::var(name) {
            Ok(value) => value.trim().parse::<usize>().map(Some).map_err(|_| {
                PipelineError::Config(format!(
                    "environment variable {name} is `{value}`, expected a number"
                ))
            }),
            Err(_) => Ok(None),
        }
    };
    let index = match number("SLURM_ARRAY_TASK_ID")? {
        Some(task) => {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            Some(task.checked_sub(min).ok_or_else(|| {
                PipelineError::Config(format!(
                    "SLURM_ARRAY_TASK_ID {task} is below SLURM_ARRAY_TASK_MIN {min}"
                ))
            })?)
        }
        None => number("JOB_COMPLETION_INDEX")?,
    };
    Ok((index, number("SLURM_ARRAY_TASK_COUNT")?))
}

/// Returns the indices of the units that `selection` names, in order.
///
/// # Errors
/// [`PipelineError::Config`] for a worker index outside `0..count` or a unit
/// index outside the plan.
pub fn select_units(plan: &Plan, selection: &UnitSelection) -> Result<Vec<usize>, PipelineError> {
    let total = plan.units.len();
    match selection {
        UnitSelection::All => Ok((0..total).collect()),
        UnitSelection::Shard { index, count } => {
            if *count == 0 || index >= count {
                return Err(PipelineError::Config(format!(
                    "shard index {index} is outside 0..{count}: the index counts from 0 and must be below the number of shards"
                )));
            }
            Ok((0..total).filter(|unit| unit % count == *index).collect())
        }
        UnitSelection::Units(units) => {
            if let Some(bad) = units.iter().find(|&&unit| unit >= total) {
                return Err(PipelineError::Config(format!(
                    "unit {bad} does not exist: the plan has {total} unit(s)"
                )));
            }
            Ok(units.clone())
        }
    }
}

/// Returns the output folder of unit `unit`.
pub fn unit_dir(output: &Path, unit: &Unit) -> PathBuf {
    output.join(UNITS_DIR).join(&unit.name)
}

/// Reads a unit's `DONE.json`; `None` when it does not exist.
///
/// # Errors
/// [`PipelineError::Plan`] when the record exists but cannot be read.
pub fn read_record(output: &Path, unit: &Unit) -> Result<Option<UnitRecord>, PipelineError> {
    let path = unit_dir(output, unit).join(DONE_FILE);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|error| {
            PipelineError::Plan(format!("{} is unreadable: {error}", path.display()))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(PipelineError::Plan(format!(
            "{} is unreadable: {error}",
            path.display()
        ))),
    }
}

/// Copies the plan into the output folder, or checks that the copy already
/// there is the same plan.
fn claim_output(plan: &Plan, output: &Path) -> Result<(), PipelineError> {
    fs::create_dir_all(output).map_err(|source| PipelineError::OutputDir {
        path: output.to_path_buf(),
        source,
    })?;
    let path = output.join(PLAN_FILE);
    if path.exists() {
        let existing = Plan::read(&path)?;
        if existing.hash != plan.hash {
            return Err(PipelineError::Plan(format!(
                "{} contains the outputs of another plan ({}); use a new output folder for plan {}",
                output.display(),
                existing.hash,
                plan.hash
            )));
        }
        return Ok(());
    }
    // Workers that start together write the same bytes, each atomically.
    plan.write(&path)
}

/// Converts the selected units of a plan into `OUT/units/`, skipping units
/// that an earlier run finished with the same plan and recipe. `progress` is
/// called once per file with the unit's name.
///
/// # Errors
/// [`PipelineError::Plan`] when the output folder belongs to another plan,
/// [`PipelineError::Config`] for a bad selection, and every fatal error of
/// [`crate::convert`].
pub fn convert_units(
    options: &UnitRunOptions,
    mut progress: impl FnMut(&str, &ManifestEntry),
) -> Result<UnitsSummary, PipelineError> {
    let plan = &options.plan;
    let selected = select_units(plan, &options.selection)?;
    claim_output(plan, &options.output)?;
    let recipe_hash = recipe_hash(&options.recipe)?;
    let mut summary = UnitsSummary::default();

    for index in selected {
        let unit = &plan.units[index];
        if let Some(record) = read_record(&options.output, unit)? {
            if record.plan_hash == plan.hash && record.recipe_hash == recipe_hash {
                tracing::info!(unit = %unit.name, "finished by an earlier run; skipped");
                summary.counts.add(&record.counts);
                summary.finished_before.push(unit.name.clone());
                continue;
            }
            tracing::warn!(
                unit = %unit.name,
                "DONE.json is from another plan or recipe; converting the unit again"
            );
        }
        let record = convert_unit(options, unit, &recipe_hash, &mut progress)?;
        summary.counts.add(&record.counts);
        summary.converted_units.push(unit.name.clone());
    }
    Ok(summary)
}

/// Converts one unit and writes its `DONE.json`.
fn convert_unit(
    options: &UnitRunOptions,
    unit: &Unit,
    recipe_hash: &str,
    progress: &mut impl FnMut(&str, &ManifestEntry),
) -> Result<UnitRecord, PipelineError> {
    let plan = &options.plan;
    let dir = unit_dir(&options.output, unit);
    let done_path = dir.join(DONE_FILE);
    if done_path.exists() {
        fs::remove_file(&done_path).map_err(|source| PipelineError::OutputDir {
            path: done_path.clone(),
            source,
        })?;
    }
    let files = plan.unit_files(unit)?;
    let mut convert_options = ConvertOptions {
        inputs: plan.inputs.clone(),
        output: dir.clone(),
        recipe: options.recipe.clone(),
        jobs: options.jobs,
        resume: true,
    };
    tracing::info!(unit = %unit.name, files = files.len(), "converting");
    let mut on_file = |entry: &ManifestEntry| progress(&unit.name, entry);
    let run = convert_files(
        &convert_options,
        files.clone().into_iter().map(Ok),
        &mut on_file,
    );
    let summary = match run {
        Err(PipelineError::Resume(reason)) => {
            tracing::warn!(unit = %unit.name, "cannot continue the unit ({reason}); starting it afresh");
            convert_options.resume = false;
            convert_files(&convert_options, files.into_iter().map(Ok), &mut on_file)?
        }
        other => other?,
    };

    let shard_dir = dir.join("shards");
    let index_path = shard_dir.join(SHARD_INDEX_FILE);
    let shards = if index_path.exists() {
        let prefix = format!("{UNITS_DIR}/{}/shards/", unit.name);
        ShardIndex::read(&index_path)?
            .shardlist
            .into_iter()
            .map(|shard| IndexedShard {
                url: format!("{prefix}{}", shard.url),
                ..shard
            })
            .collect()
    } else {
        Vec::new()
    };
    let record = UnitRecord {
        version: RECORD_VERSION,
        plan_hash: plan.hash.clone(),
        recipe_hash: recipe_hash.to_string(),
        unit: unit.index,
        name: unit.name.clone(),
        counts: UnitCounts::from_summary(&summary),
        shards,
    };
    let mut bytes = serde_json::to_vec_pretty(&record)
        .map_err(|error| PipelineError::Plan(format!("cannot encode {DONE_FILE}: {error}")))?;
    bytes.push(b'\n');
    write_atomic(&done_path, &bytes)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Grouping, PLAN_VERSION};

    fn plan_with_units(count: usize) -> Plan {
        Plan {
            version: PLAN_VERSION,
            hash: "h".into(),
            by: Grouping::Series,
            inputs: Vec::new(),
            files: 0,
            bytes: 0,
            units: (0..count)
                .map(|index| Unit {
                    index,
                    name: crate::plan::unit_name(index),
                    groups: Vec::new(),
                    bytes: 0,
                    files: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn shards_take_units_round_robin() {
        let plan = plan_with_units(7);
        let share = |index| select_units(&plan, &UnitSelection::Shard { index, count: 3 }).unwrap();
        assert_eq!(share(0), [0, 3, 6]);
        assert_eq!(share(1), [1, 4]);
        assert_eq!(share(2), [2, 5]);
    }

    #[test]
    fn shard_index_outside_count_is_rejected() {
        let plan = plan_with_units(2);
        let error = select_units(&plan, &UnitSelection::Shard { index: 3, count: 3 }).unwrap_err();
        assert!(error.to_string().contains("outside 0..3"), "{error}");
        let error = select_units(&plan, &UnitSelection::Units(vec![2])).unwrap_err();
        assert!(error.to_string().contains("2 unit(s)"), "{error}");
    }

    #[test]
    fn more_shards_than_units_leave_workers_idle() {
        let plan = plan_with_units(2);
        let share = select_units(&plan, &UnitSelection::Shard { index: 4, count: 5 }).unwrap();
        assert!(share.is_empty());
    }
}
