//! Merging the finished units of a plan into one output: the manifest, the
//! shard index and the recipe.

use std::fs;
use std::path::{Path, PathBuf};

use hounsfield_export::write_atomic;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::PipelineError;
use crate::plan::{Plan, Unit};
use crate::shard_index::{IndexedShard, ShardIndex, SHARD_INDEX_FILE};
use crate::units::{read_record, unit_dir, UnitCounts, UnitRecord, PLAN_FILE};

/// Unfinished units named in the error message before it only counts.
const MISSING_UNITS_SHOWN: usize = 10;

/// Summary of a [`finalize`] call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FinalizeSummary {
    /// Number of units merged.
    pub units: usize,
    /// Counts of all units.
    pub counts: UnitCounts,
    /// Number of shards in the index.
    pub shards: usize,
    /// The merged manifest.
    pub manifest: PathBuf,
    /// The shard index; `None` when the recipe writes no shards.
    pub index: Option<PathBuf>,
}

/// A JSON object with its members in file order and their values as
/// written, so that a manifest line is copied unchanged except for the
/// members that [`MergedEntry::prefix_paths`] rewrites.
#[derive(Debug)]
struct MergedEntry(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for MergedEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;

        impl<'de> serde::de::Visitor<'de> for MembersVisitor {
            type Value = MergedEntry;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<MergedEntry, M::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(MergedEntry(members))
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

impl Serialize for MergedEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl MergedEntry {
    /// Prefixes the paths in the `shards` and `png` members with `prefix`.
    fn prefix_paths(&mut self, prefix: &str) -> Result<(), serde_json::Error> {
        for (name, value) in &mut self.0 {
            if name != "shards" && name != "png" {
                continue;
            }
            let paths: Vec<String> = serde_json::from_str(value.get())?;
            let prefixed: Vec<String> = paths
                .into_iter()
                .map(|path| format!("{prefix}{path}"))
                .collect();
            *value = RawValue::from_string(serde_json::to_string(&prefixed)?)?;
        }
        Ok(())
    }
}

fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::OutputDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the records of every unit and fails, naming the unfinished units,
/// unless all of them are done with this plan and one recipe.
fn finished_records(plan: &Plan, output: &Path) -> Result<Vec<UnitRecord>, PipelineError> {
    let mut records = Vec::with_capacity(plan.units.len());
    let mut unfinished = Vec::new();
    for unit in &plan.units {
        match read_record(output, unit)? {
            Some(record) if record.plan_hash == plan.hash => records.push(record),
            _ => unfinished.push(unit.name.as_str()),
        }
    }
    if !unfinished.is_empty() {
        let shown = unfinished
            .iter()
            .take(MISSING_UNITS_SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        let more = unfinished.len().saturating_sub(MISSING_UNITS_SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        return Err(PipelineError::Plan(format!(
            "{} of {} units are not finished: {shown}{more}; run `hounsfield convert --plan` for them first",
            unfinished.len(),
            plan.units.len()
        )));
    }
    if let Some(first) = records.first() {
        if let Some(other) = records.iter().find(|r| r.recipe_hash != first.recipe_hash) {
            return Err(PipelineError::Plan(format!(
                "{} and {} were converted with different recipes; convert one of them again with the other's recipe",
                first.name, other.name
            )));
        }
    }
    Ok(records)
}

/// Reads a unit's manifest lines, one per planned file, with shard and PNG
/// paths made relative to the output folder.
fn unit_manifest(output: &Path, unit: &Unit) -> Result<Vec<(u64, MergedEntry)>, PipelineError> {
    let path = unit_dir(output, unit).join("manifest.jsonl");
    let text = fs::read_to_string(&path).map_err(output_error(&path))?;
    let lines: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    if lines.len() != unit.files.len() {
        return Err(PipelineError::Plan(format!(
            "{} has {} lines, but the unit has {} files; convert the unit again",
            path.display(),
            lines.len(),
            unit.files.len()
        )));
    }
    let prefix = format!("{}/{}/", crate::units::UNITS_DIR, unit.name);
    let mut entries = Vec::with_capacity(lines.len());
    for (line, file) in lines.into_iter().zip(&unit.files) {
        let invalid =
            |error| PipelineError::Plan(format!("{}: invalid line: {error}", path.display()));
        let mut entry: MergedEntry = serde_json::from_str(line).map_err(invalid)?;
        entry.prefix_paths(&prefix).map_err(invalid)?;
        entries.push((file.order, entry));
    }
    Ok(entries)
}

/// Merges the units of the plan in `output` (written there by `convert
/// --plan`) once every unit is done:
///
/// - `OUT/manifest.jsonl`: the units' lines in the order of a single run over
///   the same inputs, with shard and PNG paths relative to `OUT`;
/// - `OUT/shards/index.json`: every unit's shards in the `wids` format, with
///   URLs relative to `OUT/shards/`;
/// - `OUT/recipe.yaml`: the recipe of the units.
///
/// Shards and PNG files stay in the unit folders.
///
/// # Errors
/// [`PipelineError::Plan`] when the plan is missing, a unit is not finished,
/// or the units used different recipes, and [`PipelineError::OutputDir`] or
/// [`PipelineError::Output`] when a file cannot be read or written.
pub fn finalize(output: &Path) -> Result<FinalizeSummary, PipelineError> {
    let plan_path = output.join(PLAN_FILE);
    if !plan_path.exists() {
        return Err(PipelineError::Plan(format!(
            "{} not found: `hounsfield convert --plan` writes it into the output folder",
            plan_path.display()
        )));
    }
    let plan = Plan::read(&plan_path)?;
    let records = finished_records(&plan, output)?;

    let mut entries = Vec::with_capacity(plan.files as usize);
    for unit in &plan.units {
        entries.extend(unit_manifest(output, unit)?);
    }
    entries.sort_by_key(|(order, _)| *order);
    let mut manifest = Vec::new();
    for (_, entry) in &entries {
        let line = serde_json::to_vec(entry).map_err(|error| {
            PipelineError::Plan(format!("cannot encode a manifest line: {error}"))
        })?;
        manifest.extend_from_slice(&line);
        manifest.push(b'\n');
    }
    let manifest_path = output.join("manifest.jsonl");
    write_atomic(&manifest_path, &manifest)?;

    let mut summary = FinalizeSummary {
        units: records.len(),
        manifest: manifest_path,
        ..FinalizeSummary::default()
    };
    for record in &records {
        summary.counts.add(&record.counts);
    }
    let shards: Vec<IndexedShard> = records
        .iter()
        .flat_map(|record| record.shards.iter().cloned())
        .map(|shard| IndexedShard {
            url: format!("../{}", shard.url),
            ..shard
        })
        .collect();
    summary.shards = shards.len();
    let has_shards = plan
        .units
        .iter()
        .any(|unit| unit_dir(output, unit).join("shards").is_dir());
    if has_shards {
        let shard_dir = output.join("shards");
        fs::create_dir_all(&shard_dir).map_err(output_error(&shard_dir))?;
        let index_path = shard_dir.join(SHARD_INDEX_FILE);
        ShardIndex::new(shards).write(&index_path)?;
        summary.index = Some(index_path);
    }

    if let Some(first) = plan.units.first() {
        let recipe_path = unit_dir(output, first).join("recipe.yaml");
        let recipe = fs::read(&recipe_path).map_err(output_error(&recipe_path))?;
        write_atomic(output.join("recipe.yaml"), &recipe)?;
    }
    Ok(summary)
}
