//! Atomic file writes: write to a temporary file in the target directory, then rename.
//!
//! A reader that opens the final path gets either the previous file or the
//! complete new one, never a partial write, because `rename` within one
//! directory replaces the name in a single step on POSIX file systems.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// Buffer size of the writer behind [`AtomicFile`].
const BUFFER_CAPACITY: usize = 256 * 1024;

/// Maximum number of temporary names tried before [`AtomicFile::create`] gives up.
const MAX_TEMP_NAME_ATTEMPTS: u32 = 100;

/// Options for [`AtomicFile`] and [`write_atomic_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtomicWriteOptions {
    /// Replace an existing file at the final path. When false, creating or
    /// committing fails with [`Error::AlreadyExists`] if the final path exists.
    /// Default: true.
    pub overwrite: bool,
    /// Call `fsync` on the file before the rename and on its directory after
    /// it, so the new file survives a power loss or kernel crash.
    ///
    /// Default: false. Every `fsync` waits for the storage device, which costs
    /// from milliseconds on a local SSD to far more on network file systems,
    /// and an export writes many files. The rename alone already guarantees
    /// that no process reads a partial file. A crash of the whole machine can
    /// still leave an empty or truncated file under the final name on some
    /// file systems, and a rerun of the export recreates it.
    pub fsync: bool,
}

impl Default for AtomicWriteOptions {
    fn default() -> Self {
        Self {
            overwrite: true,
            fsync: false,
        }
    }
}

/// A file that appears under its final name only after [`AtomicFile::commit`].
///
/// Writes go to `<dir>/.<name>.tmp-<pid>` in the directory of the final path,
/// so the rename never crosses file systems. If that name is taken, by another
/// `AtomicFile` for the same path or by a file left behind by an earlier
/// process with the same id, a suffix `-1`, `-2`, … is appended. Dropping the
/// value without a successful commit removes the temporary file.
///
/// Writes are buffered, so `write` errors may surface only at `flush` or
/// [`commit`](AtomicFile::commit).
#[derive(Debug)]
pub struct AtomicFile {
    /// The open temporary file. `None` once `commit` has taken it.
    writer: Option<BufWriter<File>>,
    temp_path: PathBuf,
    final_path: PathBuf,
    options: AtomicWriteOptions,
    /// Whether the temporary file no longer exists under its own name.
    committed: bool,
}

impl AtomicFile {
    /// Creates the temporary file for `path` with default options.
    ///
    /// Missing parent directories are created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::create_with(path, AtomicWriteOptions::default())
    }

    /// Creates the temporary file for `path` with the given options.
    ///
    /// Missing parent directories are created. With `overwrite: false`, an
    /// existing final path is rejected here already, before any data is
    /// written, and checked again at commit.
    pub fn create_with(path: impl AsRef<Path>, options: AtomicWriteOptions) -> Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        let file_name = final_path
            .file_name()
            .ok_or_else(|| Error::NoFileName {
                path: final_path.clone(),
            })?
            .to_os_string();
        let dir = parent_dir(&final_path);

        fs::create_dir_all(&dir).map_err(|source| Error::CreateDir {
            path: dir.clone(),
            source,
        })?;
        if !options.overwrite && final_path.exists() {
            return Err(Error::AlreadyExists { path: final_path });
        }

        let (file, temp_path) = create_temp_file(&dir, &file_name)?;
        tracing::trace!(temp = %temp_path.display(), "created temporary file");
        Ok(Self {
            writer: Some(BufWriter::with_capacity(BUFFER_CAPACITY, file)),
            temp_path,
            final_path,
            options,
            committed: false,
        })
    }

    /// Returns the path that the file gets on commit.
    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// Returns the path of the temporary file that receives the writes.
    pub fn temp_path(&self) -> &Path {
        &self.temp_path
    }

    /// Flushes the data, optionally syncs it, and renames the temporary file
    /// onto the final path.
    ///
    /// On error the temporary file is removed and the final path is left as it
    /// was, except when only the directory `fsync` after the rename fails.
    pub fn commit(mut self) -> Result<()> {
        let Some(writer) = self.writer.take() else {
            // Only `commit` takes the writer, and it consumes `self`.
            unreachable!("AtomicFile::commit called twice");
        };
        let file = writer.into_inner().map_err(|err| Error::Write {
            path: self.temp_path.clone(),
            source: err.into_error(),
        })?;
        if self.options.fsync {
            file.sync_data().map_err(|source| Error::Sync {
                path: self.temp_path.clone(),
                source,
            })?;
        }
        drop(file);

        if self.options.overwrite {
            fs::rename(&self.temp_path, &self.final_path).map_err(|source| Error::Rename {
                from: self.temp_path.clone(),
                to: self.final_path.clone(),
                source,
            })?;
            self.committed = true;
        } else {
            self.link_without_replacing()?;
        }

        if self.options.fsync {
            sync_dir(&parent_dir(&self.final_path))?;
        }
        tracing::trace!(path = %self.final_path.display(), "committed file");
        Ok(())
    }

    /// Moves the temporary file to the final path unless that path exists.
    ///
    /// `hard_link` fails with `AlreadyExists` atomically, unlike a check
    /// followed by `rename`. Some file systems (FAT, some network mounts) do
    /// not support hard links, and there the fallback is that check and rename.
    fn link_without_replacing(&mut self) -> Result<()> {
        match fs::hard_link(&self.temp_path, &self.final_path) {
            Ok(()) => {
                self.committed = true;
                if let Err(err) = fs::remove_file(&self.temp_path) {
                    tracing::warn!(
                        temp = %self.temp_path.display(),
                        error = %err,
                        "failed to remove temporary name after linking the final file"
                    );
                }
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
                path: self.final_path.clone(),
            }),
            Err(err) => {
                tracing::debug!(
                    path = %self.final_path.display(),
                    error = %err,
                    "hard link failed, falling back to an existence check and rename"
                );
                // NOTE: another process can create the final path between this
                // check and the rename, and the rename then replaces it.
                if self.final_path.exists() {
                    return Err(Error::AlreadyExists {
                        path: self.final_path.clone(),
                    });
                }
                fs::rename(&self.temp_path, &self.final_path).map_err(|source| Error::Rename {
                    from: self.temp_path.clone(),
                    to: self.final_path.clone(),
                    source,
                })?;
                self.committed = true;
                Ok(())
            }
        }
    }

    fn writer_mut(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("AtomicFile is already committed"))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer_mut()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer_mut()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer_mut()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Close the handle first so the removal also works on Windows.
        drop(self.writer.take());
        match fs::remove_file(&self.temp_path) {
            Ok(()) => {
                tracing::debug!(temp = %self.temp_path.display(), "removed uncommitted temporary file");
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => tracing::warn!(
                temp = %self.temp_path.display(),
                error = %err,
                "failed to remove uncommitted temporary file"
            ),
        }
    }
}

/// Writes `bytes` to `path` atomically with default options.
///
/// Missing parent directories are created and an existing file is replaced.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, AtomicWriteOptions::default())
}

/// Writes `bytes` to `path` atomically with the given options.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    bytes: &[u8],
    options: AtomicWriteOptions,
) -> Result<()> {
    let mut file = AtomicFile::create_with(path, options)?;
    file.write_all(bytes).map_err(|source| Error::Write {
        path: file.temp_path().to_path_buf(),
        source,
    })?;
    file.commit()
}

/// Writes `value` as pretty-printed JSON with a final newline to `path` atomically.
///
/// Meant for small metadata files such as a shard manifest.
pub fn write_json_atomic<T: Serialize + ?Sized>(
    path: impl AsRef<Path>,
    value: &T,
    options: AtomicWriteOptions,
) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        what: path.display().to_string(),
        source,
    })?;
    bytes.push(b'\n');
    write_atomic_with(path, &bytes, options)
}

/// Returns the directory that contains `path`, using `.` for a bare file name.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates a new temporary file for `file_name` in `dir` and returns it with its path.
fn create_temp_file(dir: &Path, file_name: &std::ffi::OsStr) -> Result<(File, PathBuf)> {
    let pid = std::process::id();
    let mut temp_path = PathBuf::new();
    for attempt in 0..MAX_TEMP_NAME_ATTEMPTS {
        let mut temp_name = OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".tmp-{pid}"));
        if attempt > 0 {
            temp_name.push(format!("-{attempt}"));
        }
        temp_path = dir.join(temp_name);

        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
        {
            Ok(file) => return Ok((file, temp_path)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(Error::CreateTemp {
                    path: temp_path,
                    source,
                })
            }
        }
    }
    Err(Error::CreateTemp {
        path: temp_path,
        source: io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "all {MAX_TEMP_NAME_ATTEMPTS} temporary names are taken. \
                 Remove stale .*.tmp-* files from the directory"
            ),
        ),
    })
}

/// Syncs a directory so that a rename inside it is durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| Error::Sync {
            path: dir.to_path_buf(),
            source,
        })
}

/// Does nothing, because Windows cannot open a directory as a file to sync it.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists the names in `dir`, sorted.
    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn write_atomic_creates_parents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.bin");

        write_atomic(&path, b"hello").unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(dir_entries(&dir.path().join("a/b")), vec!["out.bin"]);
    }

    #[test]
    fn temp_name_is_hidden_sibling() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");

        let file = AtomicFile::create(&path).unwrap();

        let expected = dir
            .path()
            .join(format!(".out.bin.tmp-{}", std::process::id()));
        assert_eq!(file.temp_path(), expected);
        assert!(expected.exists());
        assert!(!path.exists());
        file.commit().unwrap();
        assert!(!expected.exists());
        assert!(path.exists());
    }

    #[test]
    fn drop_without_commit_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");

        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"partial").unwrap();
        drop(file);

        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn overwrite_replaces_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");

        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(dir_entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn no_overwrite_rejects_existing_at_create() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomic(&path, b"old").unwrap();
        let options = AtomicWriteOptions {
            overwrite: false,
            ..Default::default()
        };

        let err = write_atomic_with(&path, b"new", options).unwrap_err();

        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(dir_entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn no_overwrite_rejects_existing_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let options = AtomicWriteOptions {
            overwrite: false,
            ..Default::default()
        };

        let mut file = AtomicFile::create_with(&path, options).unwrap();
        file.write_all(b"new").unwrap();
        fs::write(&path, b"raced").unwrap();
        let err = file.commit().unwrap_err();

        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"raced");
        assert_eq!(dir_entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn no_overwrite_writes_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let options = AtomicWriteOptions {
            overwrite: false,
            fsync: true,
        };

        write_atomic_with(&path, b"data", options).unwrap();

        assert_eq!(fs::read(&path).unwrap(), b"data");
        assert_eq!(dir_entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn taken_temp_name_gets_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");

        let first = AtomicFile::create(&path).unwrap();
        let second = AtomicFile::create(&path).unwrap();

        let expected = dir
            .path()
            .join(format!(".out.bin.tmp-{}-1", std::process::id()));
        assert_eq!(second.temp_path(), expected);
        drop(first);
        drop(second);
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn path_without_file_name_rejected() {
        let err = AtomicFile::create("/").unwrap_err();

        assert!(matches!(err, Error::NoFileName { .. }), "{err}");
    }

    #[test]
    fn failed_rename_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory under the final name makes the rename fail.
        let path = dir.path().join("out.bin");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inner"), b"x").unwrap();

        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"data").unwrap();
        let err = file.commit().unwrap_err();

        assert!(matches!(err, Error::Rename { .. }), "{err}");
        assert_eq!(dir_entries(dir.path()), vec!["out.bin"]);
    }

    #[test]
    fn json_written_pretty_with_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let value = serde_json::json!({"shards": 2});

        write_json_atomic(&path, &value, AtomicWriteOptions::default()).unwrap();

        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\n  \"shards\": 2\n}\n"
        );
    }
}
