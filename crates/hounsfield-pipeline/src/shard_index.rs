//! The shard index: a JSON list of shard files with their sample counts, in
//! the dataset description format of `wids`, the indexed reader of the
//! WebDataset project (`wids.ShardListDataset`).
//!
//! The format, as read by `wids` 0.1.11, is an object with `"wids_version": 1`
//! and a `shardlist` of `{"url", "nsamples"}` objects. A relative `url` is
//! resolved against the folder of the index file.

use std::fs;
use std::path::Path;

use hounsfield_export::{write_atomic, ShardInfo};
use serde::{Deserialize, Serialize};

use crate::error::PipelineError;

/// File name of the shard index inside a `shards/` folder.
pub const SHARD_INDEX_FILE: &str = "index.json";

/// Version of the `wids` dataset description format that is written.
const WIDS_VERSION: u32 = 1;

/// One shard in a [`ShardIndex`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedShard {
    /// Path of the shard, relative to the folder of the index file.
    pub url: String,
    /// Number of samples in the shard.
    pub nsamples: u64,
    /// Size of the shard file in bytes.
    pub filesize: u64,
}

/// A shard index in the `wids` dataset description format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardIndex {
    /// Format version, always 1.
    pub wids_version: u32,
    /// The shards in sample order.
    pub shardlist: Vec<IndexedShard>,
}

impl ShardIndex {
    /// Creates an index of `shards`.
    pub fn new(shards: Vec<IndexedShard>) -> Self {
        ShardIndex {
            wids_version: WIDS_VERSION,
            shardlist: shards,
        }
    }

    /// Total number of samples of all shards.
    pub fn samples(&self) -> u64 {
        self.shardlist.iter().map(|shard| shard.nsamples).sum()
    }

    /// Writes the index to `path` atomically.
    ///
    /// # Errors
    /// [`PipelineError::Output`] when the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), PipelineError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|source| {
            PipelineError::Output(hounsfield_export::Error::Json {
                what: "shard index".into(),
                source,
            })
        })?;
        bytes.push(b'\n');
        write_atomic(path, &bytes)?;
        Ok(())
    }

    /// Reads an index written by [`ShardIndex::write`].
    ///
    /// # Errors
    /// [`PipelineError::OutputDir`] when the file cannot be read and
    /// [`PipelineError::Plan`] when it is not a shard index.
    pub fn read(path: &Path) -> Result<Self, PipelineError> {
        let bytes = fs::read(path).map_err(|source| PipelineError::OutputDir {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|error| {
            PipelineError::Plan(format!("{} is not a shard index: {error}", path.display()))
        })
    }
}

impl IndexedShard {
    /// Describes a shard that a [`hounsfield_export::ShardWriter`] committed.
    pub fn from_info(info: &ShardInfo) -> Self {
        IndexedShard {
            url: info.file_name.clone(),
            nsamples: info.sample_count as u64,
            filesize: info.size_bytes,
        }
    }

    /// Describes the shard file at `path` by reading its member headers, and
    /// names it `url` in the index.
    ///
    /// # Errors
    /// [`PipelineError::OutputDir`] when the file cannot be read or is not a
    /// tar archive.
    pub fn from_file(path: &Path, url: String) -> Result<Self, PipelineError> {
        let io_error = |source| PipelineError::OutputDir {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::File::open(path).map_err(io_error)?;
        let filesize = file.metadata().map_err(io_error)?.len();
        let mut archive = tar::Archive::new(file);
        let mut nsamples = 0;
        let mut last_key: Option<String> = None;
        // Members of one sample are adjacent, so a sample starts wherever
        // the key (the name up to the first dot) changes.
        for entry in archive.entries_with_seek().map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.path().map_err(io_error)?;
            let name = name.to_string_lossy();
            let key = name.split('.').next().unwrap_or_default();
            if last_key.as_deref() != Some(key) {
                nsamples += 1;
                last_key = Some(key.to_string());
            }
        }
        Ok(IndexedShard {
            url,
            nsamples,
            filesize,
        })
    }
}

/// Removes the index in `shard_dir`, if any, so that an index exists only
/// for a finished run.
///
/// # Errors
/// [`PipelineError::OutputDir`] when the file exists and cannot be removed.
pub fn remove_shard_index(shard_dir: &Path) -> Result<(), PipelineError> {
    let path = shard_dir.join(SHARD_INDEX_FILE);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PipelineError::OutputDir { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use hounsfield_export::{Sample, ShardOptions, ShardWriter};

    use super::*;

    #[test]
    fn shard_file_counts_samples_not_members() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = ShardWriter::new(dir.path(), ShardOptions::default()).unwrap();
        for key in ["a", "b", "c"] {
            let mut sample = Sample::new(key);
            sample.push_member("npy", vec![1, 2, 3]);
            sample.push_member("json", b"{}".to_vec());
            writer.write_sample(&sample).unwrap();
        }
        let infos = writer.finish().unwrap();
        let counted = IndexedShard::from_file(&infos[0].path, "x.tar".into()).unwrap();
        assert_eq!(
            counted,
            IndexedShard::from_info(&infos[0]).with_url("x.tar")
        );
        assert_eq!(counted.nsamples, 3);
    }

    #[test]
    fn index_round_trips_in_wids_format() {
        let dir = tempfile::tempdir().unwrap();
        let index = ShardIndex::new(vec![IndexedShard {
            url: "shard-000000.tar".into(),
            nsamples: 2,
            filesize: 10240,
        }]);
        let path = dir.path().join(SHARD_INDEX_FILE);
        index.write(&path).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(value["wids_version"], 1);
        assert_eq!(value["shardlist"][0]["url"], "shard-000000.tar");
        assert_eq!(value["shardlist"][0]["nsamples"], 2);
        assert_eq!(ShardIndex::read(&path).unwrap(), index);
        assert_eq!(index.samples(), 2);
    }

    impl IndexedShard {
        fn with_url(mut self, url: &str) -> Self {
            self.url = url.into();
            self
        }
    }
}
