//! WebDataset shard writer: samples packed into numbered tar files.
//!
//! A WebDataset shard is a plain tar archive. Each sample is a run of adjacent
//! members named `KEY.EXT`, and a reader starts a new sample whenever the key
//! changes. The Python `webdataset` package (checked in version 1.0.2) takes
//! the key to be the member name up to the first `.` of its base name and the
//! rest as the extension, so keys must not contain `.` or `/`. It lower-cases
//! extensions, rejects a sample with a repeated extension, stores members in a
//! dict next to the fields `__key__` and `__url__`, and skips members whose
//! names start and end with `__`. The rules in [`validate_extension`] follow
//! from that.
//!
//! The archives are byte-for-byte reproducible. Every member has a ustar
//! header with mode 0o644, uid and gid 0, empty user and group names and
//! mtime 0, so a rerun on the same samples writes identical shards.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use ndarray::{ArrayView, Dimension};
use serde::Serialize;

use crate::atomic::{AtomicFile, AtomicWriteOptions};
use crate::error::{Error, Result};
use crate::npy::{encode_npy, NpyElement};

/// Tar block size. Headers take one block and member data is padded to whole blocks.
const BLOCK_LEN: u64 = 512;

/// The two zero blocks that end a tar archive.
const TRAILER_LEN: u64 = 2 * BLOCK_LEN;

/// Maximum member name length in a ustar header without a directory prefix.
const MAX_MEMBER_NAME_LEN: usize = 100;

/// Default shard file name pattern.
pub const DEFAULT_NAME_PATTERN: &str = "shard-{:06}.tar";

/// Options for [`ShardWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOptions {
    /// Maximum number of samples in one shard. Must be at least 1.
    ///
    /// Default: 1000, not a tuned value. With one 512x512 `f32` slice per
    /// sample (1 MiB) that gives shards of about 1 GiB. For comparison, the
    /// writer of the Python `webdataset` package (1.0.2) defaults to 100000
    /// samples or 3 GB.
    pub max_samples_per_shard: usize,
    /// Maximum shard file size in bytes, counting tar headers, padding and the
    /// end-of-archive blocks. A sample that does not fit starts a new shard. A
    /// single sample larger than the limit gets a shard of its own, because
    /// samples are never split. Default: no limit.
    pub max_bytes_per_shard: Option<u64>,
    /// File name pattern with one index placeholder: `{}` or `{:0N}` for
    /// zero-padding to N digits. Default: `shard-{:06}.tar`.
    pub name_pattern: String,
    /// Index of the first shard, so a resumed run can continue the numbering
    /// of an earlier one. Default: 0.
    pub first_index: u64,
    /// Replace a shard file that already exists under the same name. Default:
    /// true, so a rerun into the same directory replaces its earlier output.
    pub overwrite: bool,
    /// Call `fsync` on each shard and its directory when it is committed.
    /// Default: false (see [`AtomicWriteOptions::fsync`]).
    pub fsync: bool,
}

impl Default for ShardOptions {
    fn default() -> Self {
        Self {
            max_samples_per_shard: 1000,
            max_bytes_per_shard: None,
            name_pattern: DEFAULT_NAME_PATTERN.to_owned(),
            first_index: 0,
            overwrite: true,
            fsync: false,
        }
    }
}

/// One training sample: a key and its members, stored as `KEY.EXT` in a shard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sample {
    /// Sample key, unique within a run. See [`validate_key`] for the rules.
    pub key: String,
    /// Members as (extension, contents) pairs, written in this order. The
    /// extension has no leading dot, for example `npy`, `json` or `seg.png`.
    pub members: Vec<(String, Vec<u8>)>,
}

impl Sample {
    /// Creates a sample with no members.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            members: Vec::new(),
        }
    }

    /// Appends a member with the given extension and contents.
    pub fn push_member(&mut self, extension: impl Into<String>, contents: Vec<u8>) {
        self.members.push((extension.into(), contents));
    }

    /// Appends `value` as a compact JSON member.
    pub fn push_json<T: Serialize + ?Sized>(
        &mut self,
        extension: impl Into<String>,
        value: &T,
    ) -> Result<()> {
        let extension = extension.into();
        let contents = serde_json::to_vec(value).map_err(|source| Error::Json {
            what: format!("member {}.{}", self.key, extension),
            source,
        })?;
        self.members.push((extension, contents));
        Ok(())
    }

    /// Appends `array` as a `.npy` member (see [`encode_npy`]).
    pub fn push_npy<T: NpyElement, D: Dimension>(
        &mut self,
        extension: impl Into<String>,
        array: ArrayView<'_, T, D>,
    ) -> Result<()> {
        let contents = encode_npy(array)?;
        self.members.push((extension.into(), contents));
        Ok(())
    }
}

/// A committed shard file, as reported by [`ShardWriter::finish`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardInfo {
    /// Shard index, the number in the file name.
    pub index: u64,
    /// Final path of the shard file.
    pub path: PathBuf,
    /// File name of the shard, without the directory.
    pub file_name: String,
    /// Number of samples in the shard.
    pub sample_count: usize,
    /// Size of the shard file in bytes.
    pub size_bytes: u64,
    /// Keys of the samples in the shard, in write order.
    pub keys: Vec<String>,
}

/// Writes samples into WebDataset tar shards in one directory.
///
/// Each shard is written under a temporary name (see [`AtomicFile`]) and
/// renamed to its final name when it reaches `max_samples_per_shard`, when the
/// next sample would exceed `max_bytes_per_shard`, or at [`finish`]. Dropping
/// the writer without `finish` removes the open shard's temporary file, so no
/// partial shard appears under a final name. Shards committed before the drop
/// remain. A run without samples creates no files.
///
/// After an I/O error while appending or committing, the open shard is
/// discarded and every later call returns [`Error::ShardWriterFailed`].
/// Validation errors such as an invalid key, and errors while creating a new
/// shard file, reject only that sample.
///
/// [`finish`]: ShardWriter::finish
#[derive(Debug)]
pub struct ShardWriter {
    dir: PathBuf,
    options: ShardOptions,
    pattern: NamePattern,
    next_index: u64,
    current: Option<OpenShard>,
    finished: Vec<ShardInfo>,
    /// Every key written in this run, with the index of its shard.
    seen_keys: HashMap<String, u64>,
    failed: bool,
}

/// The shard that currently receives samples.
struct OpenShard {
    index: u64,
    path: PathBuf,
    builder: tar::Builder<AtomicFile>,
    keys: Vec<String>,
    /// Bytes written so far, without the end-of-archive blocks.
    len: u64,
}

impl std::fmt::Debug for OpenShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenShard")
            .field("index", &self.index)
            .field("path", &self.path)
            .field("samples", &self.keys.len())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl ShardWriter {
    /// Creates a writer for shards in `dir`.
    ///
    /// Validates the options. The directory is created with the first shard.
    pub fn new(dir: impl Into<PathBuf>, options: ShardOptions) -> Result<Self> {
        if options.max_samples_per_shard == 0 {
            return Err(Error::InvalidShardOptions {
                reason: "max_samples_per_shard is 0, but it must be at least 1".to_owned(),
            });
        }
        if options.max_bytes_per_shard == Some(0) {
            return Err(Error::InvalidShardOptions {
                reason: "max_bytes_per_shard is Some(0). Set it to None for no limit".to_owned(),
            });
        }
        let pattern = NamePattern::parse(&options.name_pattern)?;
        Ok(Self {
            dir: dir.into(),
            next_index: options.first_index,
            options,
            pattern,
            current: None,
            finished: Vec::new(),
            seen_keys: HashMap::new(),
            failed: false,
        })
    }

    /// Returns the output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the index that the next new shard gets.
    ///
    /// While a shard is open, this is the index after the open shard's.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Returns the shards committed so far.
    pub fn finished_shards(&self) -> &[ShardInfo] {
        &self.finished
    }

    /// Returns the final file name of shard `index`.
    pub fn shard_file_name(&self, index: u64) -> String {
        self.pattern.format(index)
    }

    /// Appends the members of `sample` to the open shard, adjacent and in order.
    ///
    /// Opens a shard first if none is open, and commits a shard that the
    /// sample fills or that has no room for it.
    ///
    /// Rejects, before writing anything, a sample with an invalid key or
    /// extension, a key already written in this run, a repeated extension, or
    /// no members. Duplicate keys are detected within one writer only, not
    /// against shards of an earlier run that a resumed run continues.
    ///
    /// Returns the index of the shard that received the sample.
    pub fn write_sample(&mut self, sample: &Sample) -> Result<u64> {
        if self.failed {
            return Err(Error::ShardWriterFailed {
                dir: self.dir.clone(),
            });
        }
        validate_sample(sample)?;
        if let Some(&index) = self.seen_keys.get(&sample.key) {
            return Err(Error::DuplicateKey {
                key: sample.key.clone(),
                shard: self.dir.join(self.pattern.format(index)),
            });
        }

        let sample_len: u64 = sample
            .members
            .iter()
            .map(|(_, contents)| member_len(contents.len()))
            .sum();
        if let (Some(max_bytes), Some(shard)) = (self.options.max_bytes_per_shard, &self.current) {
            if shard.len + sample_len + TRAILER_LEN > max_bytes {
                self.close_current()?;
            }
        }

        let mut shard = match self.current.take() {
            Some(shard) => shard,
            None => self.open_shard()?,
        };
        if let Err(err) = shard.append(sample, sample_len) {
            tracing::debug!(
                shard = %shard.path.display(),
                samples = shard.keys.len(),
                "discarding shard after a write error"
            );
            // Dropping the shard removes its temporary file.
            drop(shard);
            self.failed = true;
            return Err(err);
        }
        let index = shard.index;
        self.seen_keys.insert(sample.key.clone(), index);
        self.current = Some(shard);

        let full = self
            .current
            .as_ref()
            .is_some_and(|shard| shard.keys.len() >= self.options.max_samples_per_shard);
        if full {
            self.close_current()?;
        }
        Ok(index)
    }

    /// Commits the open shard, if any, and returns every shard committed by this writer.
    ///
    /// The list is in index order and is empty when no sample was written.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>> {
        if self.failed {
            return Err(Error::ShardWriterFailed {
                dir: self.dir.clone(),
            });
        }
        self.close_current()?;
        Ok(std::mem::take(&mut self.finished))
    }

    fn open_shard(&mut self) -> Result<OpenShard> {
        let index = self.next_index;
        let path = self.dir.join(self.pattern.format(index));
        let file = AtomicFile::create_with(
            &path,
            AtomicWriteOptions {
                overwrite: self.options.overwrite,
                fsync: self.options.fsync,
            },
        )?;
        tracing::debug!(shard = %path.display(), temp = %file.temp_path().display(), "opened shard");
        self.next_index += 1;
        Ok(OpenShard {
            index,
            path,
            builder: tar::Builder::new(file),
            keys: Vec::new(),
            len: 0,
        })
    }

    /// Writes the end-of-archive blocks of the open shard and renames it to its final name.
    fn close_current(&mut self) -> Result<()> {
        let Some(shard) = self.current.take() else {
            return Ok(());
        };
        let result = commit_shard(shard);
        match result {
            Ok(info) => {
                tracing::info!(
                    shard = %info.path.display(),
                    samples = info.sample_count,
                    bytes = info.size_bytes,
                    "wrote shard"
                );
                self.finished.push(info);
                Ok(())
            }
            Err(err) => {
                self.failed = true;
                Err(err)
            }
        }
    }
}

impl OpenShard {
    /// Appends the members of a validated sample.
    fn append(&mut self, sample: &Sample, sample_len: u64) -> Result<()> {
        for (extension, contents) in &sample.members {
            let name = format!("{}.{}", sample.key, extension);
            let header =
                member_header(&name, contents.len() as u64).map_err(|err| Error::InvalidKey {
                    key: sample.key.clone(),
                    reason: format!("cannot store member name {name:?} in a tar header: {err}"),
                })?;
            self.builder
                .append(&header, contents.as_slice())
                .map_err(|source| Error::Write {
                    path: self.builder.get_ref().temp_path().to_path_buf(),
                    source,
                })?;
        }
        self.len += sample_len;
        self.keys.push(sample.key.clone());
        Ok(())
    }
}

impl Drop for ShardWriter {
    fn drop(&mut self) {
        if let Some(shard) = &self.current {
            tracing::warn!(
                shard = %shard.path.display(),
                samples = shard.keys.len(),
                "shard writer dropped without finish, so the open shard is discarded"
            );
        }
    }
}

fn commit_shard(shard: OpenShard) -> Result<ShardInfo> {
    let OpenShard {
        index,
        path,
        builder,
        keys,
        len,
    } = shard;
    let temp_path = builder.get_ref().temp_path().to_path_buf();
    // `into_inner` writes the end-of-archive blocks. On error the builder has
    // already been consumed and the `AtomicFile` inside it removes its file.
    let file = builder.into_inner().map_err(|source| Error::Write {
        path: temp_path,
        source,
    })?;
    file.commit()?;
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ShardInfo {
        index,
        path,
        file_name,
        sample_count: keys.len(),
        size_bytes: len + TRAILER_LEN,
        keys,
    })
}

/// Returns the bytes that a member with `data_len` bytes of data takes in a tar file.
fn member_len(data_len: usize) -> u64 {
    BLOCK_LEN + (data_len as u64).div_ceil(BLOCK_LEN) * BLOCK_LEN
}

/// Builds a reproducible ustar header for a regular file.
fn member_header(name: &str, size: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(name)?;
    header.set_size(size);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_username("")?;
    header.set_groupname("")?;
    header.set_cksum();
    Ok(header)
}

/// Checks that `key` can be used as a WebDataset sample key.
///
/// A key must be non-empty and must not contain `.`, `/`, `\`, NUL or any
/// other control character. WebDataset readers take everything up to the
/// first `.` of a member's base name as the key, so a dot would split the key,
/// and a slash would make a directory.
pub fn validate_key(key: &str) -> Result<()> {
    let reject = |reason: String| {
        Err(Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return reject("the key is empty".to_owned());
    }
    for ch in key.chars() {
        match ch {
            '.' => {
                return reject(
                    "it contains '.', which WebDataset readers take as the start of the extension"
                        .to_owned(),
                )
            }
            '/' | '\\' => return reject(format!("it contains the path separator {ch:?}")),
            ch if ch.is_control() => {
                return reject(format!(
                    "it contains the control character U+{:04X}",
                    u32::from(ch)
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `extension` can be used as a member extension of sample `key`.
///
/// An extension is one or more parts separated by `.`, for example `npy` or
/// `seg.png`. Each part consists of ASCII letters, digits, `_` and `-`, and
/// starts and ends with a letter or digit. That excludes names such as
/// `__key__`, which WebDataset readers reserve for metadata.
pub fn validate_extension(key: &str, extension: &str) -> Result<()> {
    let reject = |reason: &str| {
        Err(Error::InvalidExtension {
            key: key.to_owned(),
            extension: extension.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if extension.is_empty() {
        return reject("the extension is empty");
    }
    if extension.split('.').any(str::is_empty) {
        return reject("it starts or ends with '.' or contains '..'");
    }
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-');
    if !extension.chars().all(allowed) {
        return reject("only ASCII letters, digits, '.', '_' and '-' are allowed");
    }
    let edges_alphanumeric = |part: &str| {
        part.starts_with(|ch: char| ch.is_ascii_alphanumeric())
            && part.ends_with(|ch: char| ch.is_ascii_alphanumeric())
    };
    if !extension.split('.').all(edges_alphanumeric) {
        return reject("each '.'-separated part must start and end with an ASCII letter or digit");
    }
    Ok(())
}

/// Checks the key, the extensions and the member list of `sample`.
fn validate_sample(sample: &Sample) -> Result<()> {
    validate_key(&sample.key)?;
    if sample.members.is_empty() {
        return Err(Error::EmptySample {
            key: sample.key.clone(),
        });
    }
    for (i, (extension, _)) in sample.members.iter().enumerate() {
        validate_extension(&sample.key, extension)?;

        // WebDataset readers lower-case extensions by default, so `PNG` and
        // `png` would collide there.
        let repeated = sample.members[..i]
            .iter()
            .any(|(earlier, _)| earlier.eq_ignore_ascii_case(extension));
        if repeated {
            return Err(Error::InvalidExtension {
                key: sample.key.clone(),
                extension: extension.clone(),
                reason: "the sample already has a member with this extension \
                         (compared ignoring ASCII case)"
                    .to_owned(),
            });
        }

        let name_len = sample.key.len() + 1 + extension.len();
        if name_len > MAX_MEMBER_NAME_LEN {
            return Err(Error::InvalidKey {
                key: sample.key.clone(),
                reason: format!(
                    "member name {}.{} is {name_len} bytes, but a ustar header holds \
                     at most {MAX_MEMBER_NAME_LEN}. Use a shorter key",
                    sample.key, extension
                ),
            });
        }
    }
    Ok(())
}

/// A parsed shard file name pattern: prefix, index, suffix.
#[derive(Debug, Clone)]
struct NamePattern {
    prefix: String,
    /// Minimum number of digits, padded with zeros.
    width: usize,
    suffix: String,
}

impl NamePattern {
    fn parse(pattern: &str) -> Result<Self> {
        let reject = |reason: &str| {
            Err(Error::InvalidNamePattern {
                pattern: pattern.to_owned(),
                reason: reason.to_owned(),
            })
        };
        let Some(open) = pattern.find('{') else {
            return reject("it has no index placeholder. Use {} or {:06}");
        };
        let Some(close_offset) = pattern[open..].find('}') else {
            return reject("the placeholder has no closing '}'");
        };
        let close = open + close_offset;
        let prefix = &pattern[..open];
        let spec = &pattern[open + 1..close];
        let suffix = &pattern[close + 1..];

        let width = if spec.is_empty() {
            0
        } else {
            let digits = spec.strip_prefix(":0").unwrap_or_default();
            let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            if !all_digits {
                return reject("the placeholder must be {} or {:0N}, for example {:06}");
            }
            // u64::MAX has 20 digits, so a wider field would only add zeros.
            match digits.parse::<usize>() {
                Ok(width) if width <= 20 => width,
                _ => return reject("the zero-padding width must be at most 20"),
            }
        };
        if prefix.contains(['{', '}']) || suffix.contains(['{', '}']) {
            return reject("it must contain exactly one placeholder and no other braces");
        }
        let literal = format!("{prefix}{suffix}");
        if literal.contains(['/', '\\']) || literal.chars().any(char::is_control) {
            return reject(
                "it must be a plain file name without path separators or control characters",
            );
        }
        if prefix.starts_with('.') {
            return reject("it must not start with '.', which marks temporary files");
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            width,
            suffix: suffix.to_owned(),
        })
    }

    fn format(&self, index: u64) -> String {
        format!(
            "{}{:0width$}{}",
            self.prefix,
            index,
            self.suffix,
            width = self.width
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_default_formats_six_digits() {
        let pattern = NamePattern::parse(DEFAULT_NAME_PATTERN).unwrap();

        assert_eq!(pattern.format(0), "shard-000000.tar");
        assert_eq!(pattern.format(42), "shard-000042.tar");
        assert_eq!(pattern.format(1_234_567), "shard-1234567.tar");
    }

    #[test]
    fn pattern_plain_placeholder() {
        let pattern = NamePattern::parse("train-{}.tar").unwrap();

        assert_eq!(pattern.format(7), "train-7.tar");
    }

    #[test]
    fn pattern_invalid_rejected() {
        let cases = [
            "shard.tar",
            "shard-{:06.tar",
            "shard-{:6}.tar",
            "shard-{:x}.tar",
            "shard-{:0}.tar",
            "shard-{}-{}.tar",
            "dir/shard-{}.tar",
            ".shard-{}.tar",
            "shard-{:021}.tar",
        ];
        for pattern in cases {
            let result = NamePattern::parse(pattern);
            assert!(
                matches!(result, Err(Error::InvalidNamePattern { .. })),
                "pattern {pattern:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn member_len_rounds_to_blocks() {
        assert_eq!(member_len(0), 512);
        assert_eq!(member_len(1), 1024);
        assert_eq!(member_len(512), 1024);
        assert_eq!(member_len(513), 1536);
    }
}
