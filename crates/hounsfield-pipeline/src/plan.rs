//! Plans: the inputs cut into deterministic work units, by study or by
//! series, from the file headers alone, so that many machines can convert
//! one archive.
//!
//! A unit holds whole groups (all files of a study or of a series), so a
//! volume never straddles two units. Files whose header gives no group (not
//! DICOM, unreadable, or without the UID) are grouped by their folder, so
//! that the merged manifest still lists them.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use hounsfield_dicom::{attr, open, sniff_file, tags, OpenOptions};
use hounsfield_export::write_atomic;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::discover::{check_inputs, walk, InputFile};
use crate::error::PipelineError;
use crate::ordered::{map_in_order, thread_pool};

/// Format version of plan files.
pub const PLAN_VERSION: u32 = 1;

/// Files whose headers are read in parallel per job before they are grouped
/// in input order.
const FILES_PER_JOB_IN_BATCH: usize = 16;

/// Hex digits of SHA-256 kept in group names.
const GROUP_HASH_DIGITS: usize = 16;

/// The attribute that keeps files in one unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// Series Instance UID (0020,000E).
    #[default]
    Series,
    /// Study Instance UID (0020,000D).
    Study,
}

/// Settings of [`make_plan`].
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Files and folders to plan, as they will be given to `convert`.
    pub inputs: Vec<PathBuf>,
    /// The attribute that keeps files together.
    pub by: Grouping,
    /// Number of units; `None` makes one unit per group. More units than
    /// groups are reduced to the number of groups.
    pub units: Option<usize>,
    /// Worker threads for reading headers; `None` uses all cores.
    pub jobs: Option<usize>,
}

/// One file of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFile {
    /// Index of the input (in [`Plan::inputs`]) that the file is under.
    pub input: usize,
    /// Path relative to that input, with `/` separators, as `convert`
    /// names it; sample keys and PNG names derive from it.
    pub path: String,
    /// Position of the file in the walk of all inputs; the merged manifest
    /// is in this order, like the manifest of a single run.
    pub order: u64,
    /// File size in bytes when planned.
    pub bytes: u64,
}

/// A work unit: whole groups of files, converted together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Position in [`Plan::units`].
    pub index: usize,
    /// Folder name of the unit's outputs, `unit-NNNNNN`.
    pub name: String,
    /// The groups in the unit: `series-HASH`, `study-HASH` (a truncated
    /// SHA-256 of the UID, so the plan holds no UIDs) or `folder-HASH` for
    /// files without one.
    pub groups: Vec<String>,
    /// Total size of the files in bytes.
    pub bytes: u64,
    /// The files in walk order.
    pub files: Vec<PlannedFile>,
}

/// A plan: the inputs and their work units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Format version, [`PLAN_VERSION`].
    pub version: u32,
    /// SHA-256 of the grouping, inputs and units; unit records name the
    /// plan by it.
    pub hash: String,
    /// The attribute that keeps files together.
    pub by: Grouping,
    /// The input paths as given. Workers resolve relative paths against
    /// their working folder.
    pub inputs: Vec<PathBuf>,
    /// Number of files in all units.
    pub files: u64,
    /// Total size of the files in bytes.
    pub bytes: u64,
    /// The units.
    pub units: Vec<Unit>,
}

/// The folder name of unit `index`.
pub fn unit_name(index: usize) -> String {
    format!("unit-{index:06}")
}

fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Plan {
    /// Computes the hash of the plan's content (everything but `hash`).
    fn content_hash(&self) -> Result<String, PipelineError> {
        let content = (self.version, self.by, &self.inputs, &self.units);
        let bytes = serde_json::to_vec(&content)
            .map_err(|error| PipelineError::Plan(format!("cannot encode the plan: {error}")))?;
        Ok(hex_digest(&bytes))
    }

    /// Path of the file of `file` on disk: the input itself when it is a
    /// file, or the relative path under the input folder.
    pub fn file_path(&self, file: &PlannedFile) -> Result<PathBuf, PipelineError> {
        let root = self.inputs.get(file.input).ok_or_else(|| {
            PipelineError::Plan(format!(
                "file {} names input {}, but the plan has {} input(s)",
                file.path,
                file.input,
                self.inputs.len()
            ))
        })?;
        Ok(if root.is_dir() {
            root.join(&file.path)
        } else {
            root.clone()
        })
    }

    /// Reads and checks a plan file.
    ///
    /// # Errors
    /// [`PipelineError::Input`] when the file cannot be read, and
    /// [`PipelineError::Plan`] when it is not a plan of this version or its
    /// content does not match its hash (it was edited).
    pub fn read(path: &Path) -> Result<Self, PipelineError> {
        let bytes = fs::read(path).map_err(|source| PipelineError::Input {
            path: path.to_path_buf(),
            source,
        })?;
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|error| {
            PipelineError::Plan(format!("{} is not a plan file: {error}", path.display()))
        })?;
        if plan.version != PLAN_VERSION {
            return Err(PipelineError::Plan(format!(
                "{} has version {}, this build reads version {PLAN_VERSION}; make the plan again",
                path.display(),
                plan.version
            )));
        }
        let expected = plan.content_hash()?;
        if plan.hash != expected {
            return Err(PipelineError::Plan(format!(
                "{} was changed after it was made (its hash is {}, its content hashes to {expected}); make the plan again",
                path.display(),
                plan.hash
            )));
        }
        Ok(plan)
    }

    /// Writes the plan as pretty JSON, atomically.
    ///
    /// # Errors
    /// [`PipelineError::Output`] when the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), PipelineError> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| PipelineError::Plan(format!("cannot encode the plan: {error}")))?;
        bytes.push(b'\n');
        write_atomic(path, &bytes)?;
        Ok(())
    }

    /// The input files of unit `unit` as `convert` walks them.
    pub fn unit_files(&self, unit: &Unit) -> Result<Vec<InputFile>, PipelineError> {
        unit.files
            .iter()
            .map(|file| {
                Ok(InputFile {
                    path: self.file_path(file)?,
                    relative: file.path.clone(),
                    input_index: file.input,
                })
            })
            .collect()
    }
}

/// One file after its header was read.
struct HeaderRead {
    file: PlannedFile,
    group: String,
}

/// Reads the grouping UID of one file, or `None` when the file is not
/// DICOM, cannot be read or has no such UID.
fn grouping_uid(path: &Path, by: Grouping) -> Option<String> {
    match sniff_file(path) {
        Ok(Some(_)) => {}
        Ok(None) | Err(_) => return None,
    }
    let options = OpenOptions {
        stop_before_pixel_data: true,
        lenient_framing: true,
    };
    let file = match open(path, &options) {
        Ok(file) => file,
        Err(error) => {
            tracing::debug!(path = %path.display(), "no group from the header: {error}");
            return None;
        }
    };
    let tag = match by {
        Grouping::Series => tags::SERIES_INSTANCE_UID,
        Grouping::Study => tags::STUDY_INSTANCE_UID,
    };
    attr::text(file.dataset(), tag).filter(|uid| !uid.is_empty())
}

fn read_header(input: &InputFile, order: u64, by: Grouping) -> HeaderRead {
    let bytes = fs::metadata(&input.path).map_or(0, |metadata| metadata.len());
    let group = match grouping_uid(&input.path, by) {
        Some(uid) => {
            let prefix = match by {
                Grouping::Series => "series",
                Grouping::Study => "study",
            };
            let digest = hex_digest(uid.as_bytes());
            format!("{prefix}-{}", &digest[..GROUP_HASH_DIGITS])
        }
        None => {
            let folder = input
                .relative
                .rsplit_once('/')
                .map_or("", |(folder, _)| folder);
            let digest = hex_digest(format!("{}\0{folder}", input.input_index).as_bytes());
            format!("folder-{}", &digest[..GROUP_HASH_DIGITS])
        }
    };
    HeaderRead {
        file: PlannedFile {
            input: input.input_index,
            path: input.relative.clone(),
            order,
            bytes,
        },
        group,
    }
}

/// The files of one group, in walk order.
struct Group {
    name: String,
    files: Vec<PlannedFile>,
    bytes: u64,
}

/// Splits `groups` (in walk order of their first file) into `units`
/// contiguous runs of about equal bytes, none of them empty.
fn pack(groups: Vec<Group>, units: usize) -> Vec<Vec<Group>> {
    // One extra byte per group keeps groups of empty files from weighing 0.
    let weight = |group: &Group| u128::from(group.bytes) + 1;
    let total: u128 = groups.iter().map(weight).sum();
    let count = groups.len();
    let mut packed = Vec::with_capacity(units);
    let mut current = Vec::new();
    let mut cumulative = 0u128;
    for (position, group) in groups.into_iter().enumerate() {
        cumulative += weight(&group);
        current.push(group);
        let units_left = units - packed.len() - 1;
        if units_left == 0 {
            continue;
        }
        let groups_left = count - position - 1;
        let target = total * (packed.len() as u128 + 1) / units as u128;
        if cumulative >= target || groups_left == units_left {
            packed.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        packed.push(current);
    }
    packed
}

/// Makes a plan: walks the inputs like `convert`, reads each file's header
/// up to Pixel Data, groups the files and cuts the groups into units.
///
/// The plan depends only on the names and headers on disk: the same inputs
/// give the same plan, whatever the number of threads.
///
/// # Errors
/// [`PipelineError::Input`] when an input does not exist,
/// [`PipelineError::ThreadPool`] when the threads cannot start, and
/// [`PipelineError::Plan`] when `units` is 0.
pub fn make_plan(options: &PlanOptions) -> Result<Plan, PipelineError> {
    check_inputs(&options.inputs)?;
    if options.units == Some(0) {
        return Err(PipelineError::Plan(
            "the number of units must be at least 1".into(),
        ));
    }
    let pool = thread_pool(options.jobs)?;
    let batch = pool.current_num_threads() * FILES_PER_JOB_IN_BATCH;
    let by = options.by;

    let mut groups: Vec<Group> = Vec::new();
    let mut group_position: HashMap<String, usize> = HashMap::new();
    let numbered = walk(&options.inputs).enumerate().map(|(order, item)| {
        let order = order as u64;
        match item {
            Ok(input) => (input, order),
            // An unreadable entry still goes to a unit, where the
            // conversion reports it in the manifest.
            Err((path, _)) => (unreadable_entry(&options.inputs, path), order),
        }
    });
    let work = |(input, order): (InputFile, u64)| read_header(&input, order, by);
    map_in_order(&pool, numbered, batch, work, |read| {
        let position = *group_position.entry(read.group.clone()).or_insert_with(|| {
            groups.push(Group {
                name: read.group.clone(),
                files: Vec::new(),
                bytes: 0,
            });
            groups.len() - 1
        });
        let group = &mut groups[position];
        group.bytes += read.file.bytes;
        group.files.push(read.file);
        Ok::<(), PipelineError>(())
    })?;

    let unit_count = match options.units {
        Some(requested) if requested > groups.len() => {
            tracing::warn!(
                "{requested} units requested, but the inputs have only {} group(s); making {}",
                groups.len(),
                groups.len()
            );
            groups.len()
        }
        Some(requested) => requested,
        None => groups.len(),
    };
    let units: Vec<Unit> = pack(groups, unit_count.max(1))
        .into_iter()
        .enumerate()
        .map(|(index, groups)| Unit {
            index,
            name: unit_name(index),
            groups: groups.iter().map(|group| group.name.clone()).collect(),
            bytes: groups.iter().map(|group| group.bytes).sum(),
            files: groups.into_iter().flat_map(|group| group.files).collect(),
        })
        .map(|mut unit| {
            unit.files.sort_by_key(|file| file.order);
            unit
        })
        .collect();
    let mut plan = Plan {
        version: PLAN_VERSION,
        hash: String::new(),
        by,
        inputs: options.inputs.clone(),
        files: units.iter().map(|unit| unit.files.len() as u64).sum(),
        bytes: units.iter().map(|unit| unit.bytes).sum(),
        units,
    };
    plan.hash = plan.content_hash()?;
    Ok(plan)
}

/// An [`InputFile`] for a walk entry that could not be read, named like
/// `convert` names the files of that input.
fn unreadable_entry(inputs: &[PathBuf], path: PathBuf) -> InputFile {
    let found = inputs
        .iter()
        .enumerate()
        .find_map(|(index, root)| path.strip_prefix(root).ok().map(|rest| (index, rest)));
    let (input_index, relative) = match found {
        Some((index, rest)) => (index, rest.to_string_lossy().replace('\\', "/")),
        None => (0, path.display().to_string()),
    };
    InputFile {
        path,
        relative,
        input_index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, bytes: u64) -> Group {
        Group {
            name: name.into(),
            files: Vec::new(),
            bytes,
        }
    }

    fn names(packed: &[Vec<Group>]) -> Vec<Vec<&str>> {
        packed
            .iter()
            .map(|unit| unit.iter().map(|group| group.name.as_str()).collect())
            .collect()
    }

    #[test]
    fn pack_balances_bytes_in_order() {
        let groups = vec![
            group("a", 10),
            group("b", 10),
            group("c", 10),
            group("d", 10),
        ];
        assert_eq!(names(&pack(groups, 2)), [["a", "b"], ["c", "d"]]);
    }

    #[test]
    fn pack_never_leaves_a_unit_empty() {
        let groups = vec![group("big", 1000), group("b", 1), group("c", 1)];
        let packed = pack(groups, 3);
        assert_eq!(names(&packed), [vec!["big"], vec!["b"], vec!["c"]]);
    }

    #[test]
    fn pack_one_unit_takes_everything() {
        let groups = vec![group("a", 5), group("b", 0)];
        assert_eq!(names(&pack(groups, 1)), [["a", "b"]]);
    }

    #[test]
    fn edited_plan_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = Plan {
            version: PLAN_VERSION,
            hash: String::new(),
            by: Grouping::Series,
            inputs: vec![PathBuf::from("in")],
            files: 0,
            bytes: 0,
            units: Vec::new(),
        };
        plan.hash = plan.content_hash().unwrap();
        let path = dir.path().join("plan.json");
        plan.write(&path).unwrap();
        assert_eq!(Plan::read(&path).unwrap(), plan);

        plan.inputs.push(PathBuf::from("other"));
        let mut edited = serde_json::to_vec(&plan).unwrap();
        edited.push(b'\n');
        fs::write(&path, edited).unwrap();
        let error = Plan::read(&path).unwrap_err();
        assert!(error.to_string().contains("changed"), "{error}");
    }
}
