//! How bytes reach the workspace: every path checked against symbolic links first (the
//! guard), text staged to temporary files beside its place and renamed over it, folders made
//! for them remembered so a failed run can take them back, and leftovers of killed runs
//! removed. It decides nothing about which file gets what.

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::Error;
use crate::plan::RelPath;

/// The workspace folder, with what this run learnt about the folders below it: those seen to
/// be folders and not symbolic links, so each is examined once rather than once for every file
/// in it (a thousand services have 32,000 files), and those it created.
pub(super) struct Root<'a> {
    pub(super) path: &'a Path,
    folders: Mutex<HashSet<PathBuf>>,
    created: Mutex<Vec<PathBuf>>,
}

impl<'a> Root<'a> {
    pub(super) fn new(path: &'a Path) -> Self {
        Self {
            path,
            folders: Mutex::default(),
            created: Mutex::default(),
        }
    }

    /// Notes the folders of `target` that do not exist yet: writing it will create them.
    fn remember_created_folders(&self, target: &Path) {
        let missing: Vec<PathBuf> = target
            .ancestors()
            .skip(1)
            .take_while(|folder| *folder != self.path && !self.known_folder(folder) && !folder.exists())
            .map(Path::to_path_buf)
            .collect();
        if !missing.is_empty() {
            self.created
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(missing);
        }
    }

    /// Removes the folders this run created that are empty, deepest first.
    pub(super) fn remove_created_folders(&self) {
        let mut created = std::mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
        created.sort_by_key(|folder| std::cmp::Reverse(folder.components().count()));
        for folder in created {
            let _ = fs::remove_dir(folder);
        }
    }

    fn known_folder(&self, folder: &Path) -> bool {
        self.folders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(folder)
    }

    /// The absolute path of a workspace file, after checking that no existing component
    /// below the root is a symbolic link, so no write or delete can land outside the workspace.
    fn checked(&self, path: &RelPath) -> Result<PathBuf, Error> {
        let full = path
            .as_str()
            .split('/')
            .fold(self.path.to_path_buf(), |acc, seg| acc.join(seg));
        let mut current = self.path.to_path_buf();
        for segment in path.as_str().split('/') {
            current.push(segment);
            let folder = current != full;
            if folder && self.known_folder(&current) {
                continue;
            }
            match fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(Error::UnsafePath(format!(
                        "{path} (`{}` is a symbolic link)",
                        current.display()
                    )));
                }
                Ok(meta) if folder && meta.is_dir() => {
                    self.folders
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(current.clone());
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(full)
    }
}

/// A complete temporary file, renamed over its target by [`Staged::commit`]; deleted if the
/// run stops before that.
pub(super) struct Staged {
    temp: tempfile::TempPath,
    target: PathBuf,
}

impl Staged {
    pub(super) fn commit(self) -> Result<(), Error> {
        self.temp
            .persist(&self.target)
            .map_err(|e| Error::io("replace", &self.target, e.error))
    }
}

/// Writes `text` to a temporary file in the folder of `path`; scripts (a shebang first line)
/// are made executable. The folders it creates are remembered by `root`, so a run that fails
/// before renaming anything can leave the workspace as it found it.
pub(super) fn stage(root: &Root<'_>, path: &RelPath, text: &str) -> Result<Staged, Error> {
    let target = root.checked(path)?;
    root.remember_created_folders(&target);
    let temp = temporary_beside(&target, text.as_bytes(), text.starts_with("#!"))?;
    Ok(Staged { temp, target })
}

/// Reads a workspace file as text, refusing to follow symbolic links out of the workspace.
pub(super) fn read_text(root: &Root<'_>, path: &RelPath) -> Result<Option<String>, Error> {
    let full = root.checked(path)?;
    match fs::read(&full) {
        // Generated files are UTF-8; only a file that is not is copied into a lossy version.
        Ok(bytes) => {
            Ok(Some(String::from_utf8(bytes).unwrap_or_else(|e| {
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            })))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => Err(Error::io(
            "read",
            full,
            std::io::Error::other("a directory stands where a file is generated"),
        )),
        Err(e) => Err(Error::io("read", full, e)),
    }
}

/// Writes through a temporary file in the same directory and a rename, so readers and
/// interrupted runs only ever see the old or the new bytes.
pub(super) fn write_atomic(root: &Root<'_>, path: &RelPath, bytes: &[u8], executable: bool) -> Result<(), Error> {
    let full = root.checked(path)?;
    write_file_atomic(&full, bytes, executable)
}

/// Replaces one file atomically: a temporary file beside it, renamed over it.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn write_file_atomic(full: &Path, bytes: &[u8], executable: bool) -> Result<(), Error> {
    let temp = temporary_beside(full, bytes, executable)?;
    temp.persist(full).map_err(|e| Error::io("replace", full, e.error))?;
    Ok(())
}

/// A complete temporary file in the folder of `full` (created if missing), holding `bytes`,
/// closed, and deleted when dropped unless it is persisted.
fn temporary_beside(full: &Path, bytes: &[u8], executable: bool) -> Result<tempfile::TempPath, Error> {
    let dir = match full.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".fleetwright-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("write", full, without_temporary_name(e)))?;
    // Through the file itself: the temporary's own writer names the temporary in its errors.
    temp.as_file_mut()
        .write_all(bytes)
        .map_err(|e| Error::io("write", full, e))?;
    // No fsync: the rename already guarantees old-or-new against interrupted runs, and a
    // per-file fsync made a 100-service generation ten times slower. Power-loss durability
    // is the filesystem's job, as it is for cargo and every other code generator.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("set permissions of", full, e))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    // Closed now: a thousand services stage tens of thousands of files before any is renamed.
    Ok(temp.into_temp_path())
}

/// tempfile appends the temporary file's name to its errors (`... at path "..."`); the user
/// knows the file being written, not that name, which is gone by the time they read it.
/// tempfile keeps the error's kind but not its OS code, so the text is cut instead.
fn without_temporary_name(error: std::io::Error) -> std::io::Error {
    let text = error.to_string();
    match text.split_once(" at path ") {
        Some((reason, _)) => std::io::Error::new(error.kind(), reason.to_owned()),
        None => error,
    }
}

/// Temporary files a killed run left behind (it had no chance to clean up), in the folders
/// this run wrote to; called after this run's own temporary files are renamed. Best effort:
/// a leftover that cannot be removed is harmless.
pub(super) fn remove_leftover_temporaries<'a>(root: &Path, paths: impl Iterator<Item = &'a RelPath>) {
    let folders: std::collections::BTreeSet<&str> = paths
        .map(|p| p.as_str().rsplit_once('/').map_or("", |(dir, _)| dir))
        .collect();
    for folder in folders {
        let dir = if folder.is_empty() {
            root.to_path_buf()
        } else {
            root.join(folder)
        };
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".fleetwright-") && name.ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Deletes a file, then any directories it leaves empty, up to the workspace root.
pub(super) fn remove(root: &Root<'_>, path: &RelPath) -> Result<(), Error> {
    let full = root.checked(path)?;
    match fs::remove_file(&full) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", full, e)),
    }
    let mut dir = full.parent();
    while let Some(d) = dir {
        if d == root.path || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}
