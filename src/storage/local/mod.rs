//! The local disk as a [`Storage`]: the tree under `--root`, reached only
//! through an open handle of the root directory.
//!
//! Why handles and not checked strings: the old jail canonicalized a path,
//! checked that it lay under the root and then let the kernel resolve the
//! string again to open, rename or unlink it. Between the two resolutions a
//! client could rename a directory and a symbolic link into each other's
//! places and so read, create and delete files outside the root. Here every
//! path is resolved by cap-std relative to the root's [`Dir`] handle: on
//! Linux with `openat2(RESOLVE_BENEATH)`, so the kernel itself refuses any
//! step above the root *at the moment of use*; where `openat2` is missing (or
//! keeps answering `EAGAIN` while renames happen), cap-std walks the path one
//! component at a time with `O_NOFOLLOW` and its own stack of directory
//! handles, which is race-free too. Operations on a name (unlink, rename,
//! link) open its parent beneath the root and act on the bare name there.
//!
//! Semantics kept from the old jail: relative symbolic links that stay
//! inside the root work (`sub/up -> ..` is the root itself); a path that
//! would leave it is [`StorageError::NotFound`], as if it did not exist;
//! nothing is ever clamped at the root. One change: an *absolute* link
//! (`/srv/ftp/sub`) is refused even when it names a place inside the root,
//! and so is a relative one that climbs above the root and comes back in;
//! the kernel resolves beneath the handle and cannot know that the root has
//! that name outside. Use relative links inside a served tree. Uploads go to a temporary file named
//! [`TEMP_PREFIX`]`<pid>.<n>` beside their target, created in a handle of
//! the target's directory that the upload keeps, and are renamed (or, for
//! STOU, hard-linked) to the target name in that same handle: renaming the
//! directory meanwhile neither orphans nor misplaces the upload. Names with
//! the prefix are invisible to clients and reserved. A resumed or
//! appending upload (REST + STOR, APPE) copies the part of the old file it
//! keeps only when data arrives, by sharing blocks where the file system
//! can, and runs alone on its target (see [`resume`]).
//!
//! What this does not do: a *hard* link inside the root to a file outside it
//! (made by someone with shell access) is an ordinary file to the kernel and
//! is served like one; no path-based check can tell, so keep such links out
//! of the tree. Bind mounts inside the root are followed for the same
//! reason. Per-user permissions are the session's business.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use nix::fcntl::{fcntl, FcntlArg, OFlag};

mod files;
mod resume;

use files::{Listing, LocalFile, LocalUpload};
use resume::{Resume, Target};

use super::{
    Entries, Features, Keep, Kind, Metadata, ReadFile, Storage, StorageError, Upload, VirtualPath,
};

/// Names of uploads in progress start with this; clients never see them.
pub const TEMP_PREFIX: &str = ".ftp-upload.";

const RESERVED: &str = "names starting with .ftp-upload. are reserved for uploads in progress";
const ROOT_FIXED: &str = "the root directory cannot be replaced";

/// Temporaries of uploads in progress, by upload number: the handle of the
/// directory each lives in and its name there, so that shutdown can remove
/// them wherever their directories have moved to.
type Registry = Arc<Mutex<HashMap<u64, (Arc<Dir>, String)>>>;

/// The served directory tree on the local disk.
#[derive(Debug, Clone)]
pub struct LocalDisk {
    /// The authority: nothing is reached except through this handle.
    dir: Arc<Dir>,
    /// The canonical path of the root when it was opened, for messages.
    path: PathBuf,
    active: Registry,
}

impl LocalDisk {
    /// Opens `root`, which must be an existing directory.
    pub fn new(root: &Path) -> io::Result<LocalDisk> {
        let path = std::fs::canonicalize(root)?;
        let dir = Dir::open_ambient_dir(&path, ambient_authority())?;
        if !dir.dir_metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(LocalDisk {
            dir: Arc::new(dir),
            path,
            active: Arc::default(),
        })
    }

    /// The canonical path of the root (for messages: never for access).
    pub fn root(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `v` (links followed beneath the root).
    fn open_dir(&self, v: &VirtualPath) -> Result<Dir, StorageError> {
        visible(v)?;
        self.dir.open_dir(v.relative()).map_err(|e| fail(v, e))
    }

    /// Where a new entry named by `v` goes: its parent directory's path and
    /// its own name, refused for the root and reserved names.
    fn new_entry(v: &VirtualPath) -> Result<(VirtualPath, &str), StorageError> {
        let name = v.file_name().ok_or(StorageError::InvalidName(ROOT_FIXED))?;
        if is_temp_name(OsStr::new(name)) {
            return Err(StorageError::InvalidName(RESERVED));
        }
        let parent = v.parent();
        visible(&parent)?;
        Ok((parent, name))
    }

    /// `v` itself as an existing entry that may be removed or renamed.
    fn existing_entry(v: &VirtualPath) -> Result<(), StorageError> {
        if v.is_root() {
            return Err(StorageError::InvalidName(ROOT_FIXED));
        }
        visible(v)
    }

    /// Opens the regular file `v` for reading: a FIFO or device is refused
    /// by its type before it is opened, and the open itself never blocks
    /// (`O_NONBLOCK`) in case one was swapped in meanwhile; the type is
    /// checked again on the open descriptor.
    fn open_file(&self, v: &VirtualPath) -> Result<(File, u64), StorageError> {
        visible(v)?;
        let rel = v.relative();
        let meta = self.dir.metadata(rel).map_err(|e| fail(v, e))?;
        if meta.is_dir() {
            return Err(StorageError::IsADirectory(v.clone()));
        }
        if !meta.is_file() {
            return Err(StorageError::NotAFile(v.clone()));
        }
        let mut options = OpenOptions::new();
        options
            .read(true)
            .custom_flags(OFlag::O_NONBLOCK.bits() | OFlag::O_NOCTTY.bits());
        let file = self
            .dir
            .open_with(rel, &options)
            .map_err(|e| fail(v, e))?
            .into_std();
        let meta = file.metadata().map_err(|e| fail(v, e))?;
        if meta.is_dir() {
            return Err(StorageError::IsADirectory(v.clone()));
        }
        if !meta.is_file() {
            return Err(StorageError::NotAFile(v.clone()));
        }
        // Back to blocking reads: O_NONBLOCK was only for the open.
        let flags = fcntl(&file, FcntlArg::F_GETFL).map_err(|e| fail(v, e.into()))?;
        let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
        fcntl(&file, FcntlArg::F_SETFL(flags)).map_err(|e| fail(v, e.into()))?;
        Ok((file, meta.len()))
    }
}

/// Refuses paths through upload temporaries: to clients they do not exist,
/// even under a guessed name.
fn visible(v: &VirtualPath) -> Result<(), StorageError> {
    if v.parts().any(|p| is_temp_name(OsStr::new(p))) {
        return Err(StorageError::NotFound(v.clone()));
    }
    Ok(())
}

/// True for the names of uploads in progress.
fn is_temp_name(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// True for cap-std's refusal of a path that would leave the root. cap-std
/// reports it as `PermissionDenied` ("a path led outside of the
/// filesystem", from `openat2`'s `EXDEV` or its own walk) with no OS error
/// code, unlike a real `EACCES`/`EPERM`, which carries one.
fn is_escape(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied && e.raw_os_error().is_none()
}

/// Classifies an I/O error on `v`; a path out of the root does not exist.
fn fail(v: &VirtualPath, e: io::Error) -> StorageError {
    if is_escape(&e) {
        StorageError::NotFound(v.clone())
    } else {
        StorageError::from_io(v, e)
    }
}

/// What the seam knows of an entry, from what cap-std read.
fn convert(m: &cap_std::fs::Metadata) -> Metadata {
    let t = m.file_type();
    let kind = if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    Metadata {
        kind,
        len: m.len(),
        modified: m
            .modified()
            .map(|t| t.into_std())
            .unwrap_or(SystemTime::UNIX_EPOCH),
        mode: m.mode() & 0o7777,
        nlink: m.nlink(),
        unique: Some((m.dev(), m.ino())),
    }
}

impl Storage for LocalDisk {
    fn features(&self) -> Features {
        Features {
            read_at_offset: true,
            resume_upload: true,
            set_modified: true,
        }
    }

    fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        visible(path)?;
        let meta = self
            .dir
            .metadata(path.relative())
            .map_err(|e| fail(path, e))?;
        Ok(convert(&meta))
    }

    fn lstat(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        visible(path)?;
        let meta = self
            .dir
            .symlink_metadata(path.relative())
            .map_err(|e| fail(path, e))?;
        Ok(convert(&meta))
    }

    fn list(&self, path: &VirtualPath) -> Result<Entries, StorageError> {
        let dir = self.open_dir(path)?;
        let entries = dir.entries().map_err(|e| fail(path, e))?;
        Ok(Box::new(Listing {
            dir,
            entries,
            path: path.clone(),
        }))
    }

    fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<Box<dyn ReadFile>, StorageError> {
        let (mut file, size) = self.open_file(path)?;
        if offset > size {
            return Err(StorageError::BadOffset {
                path: path.clone(),
                offset,
                size,
            });
        }
        if offset > 0 {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| fail(path, e))?;
        }
        Ok(Box::new(LocalFile {
            file,
            size,
            path: path.clone(),
        }))
    }

    fn begin_upload(
        &self,
        path: &VirtualPath,
        keep: Keep,
        no_clobber: bool,
    ) -> Result<Box<dyn Upload>, StorageError> {
        let (parent, name) = LocalDisk::new_entry(path)?;
        let dir = Arc::new(self.open_dir(&parent)?);
        // A link to a directory counts as one, as in the old jail: an
        // upload never replaces a way into a directory with a file.
        match self.dir.metadata(path.relative()) {
            Ok(meta) if meta.is_dir() => return Err(StorageError::IsADirectory(path.clone())),
            _ => {}
        }
        let target = Target::of(&dir, name).map_err(|e| fail(path, e))?;
        // REST + STOR and APPE: one at a time per target, and nothing of
        // the old file copied until data comes (see `resume`).
        let resume = match keep {
            Keep::Nothing => None,
            Keep::First(_) | Keep::All => Some(Resume::begin(self, &dir, &target, path, keep)?),
        };
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let id = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = format!("{TEMP_PREFIX}{}.{id}", std::process::id());
        let file = dir
            .open_with(&temp, OpenOptions::new().write(true).create_new(true))
            .map_err(|e| fail(path, e))?
            .into_std();
        let write_size = files::write_size_for(&file);
        self.active
            .lock()
            .expect("registry lock")
            .insert(id, (Arc::clone(&dir), temp.clone()));
        Ok(Box::new(LocalUpload {
            file: Some(file),
            dir,
            temp,
            name: name.to_string(),
            path: path.clone(),
            no_clobber,
            id,
            active: Arc::clone(&self.active),
            target,
            resume,
            write_size,
        }))
    }

    fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (parent, name) = LocalDisk::new_entry(path)?;
        self.open_dir(&parent)?
            .create_dir(name)
            .map_err(|e| fail(path, e))
    }

    fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        LocalDisk::existing_entry(path)?;
        // unlinkat(AT_REMOVEDIR) on the bare name: a link, even to a
        // directory, is not one (ENOTDIR) and stays.
        self.dir
            .remove_dir(path.relative())
            .map_err(|e| fail(path, e))
    }

    fn delete(&self, path: &VirtualPath) -> Result<(), StorageError> {
        LocalDisk::existing_entry(path)?;
        // unlinkat on the bare name removes a link, not its target; Linux
        // answers EISDIR for a directory.
        self.dir
            .remove_file(path.relative())
            .map_err(|e| fail(path, e))
    }

    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        LocalDisk::existing_entry(from)?;
        let (to_parent, to_name) = LocalDisk::new_entry(to)?;
        let from_name = from
            .file_name()
            .ok_or(StorageError::InvalidName(ROOT_FIXED))?;
        // Both parents are opened beneath the root, each failure blamed on
        // its own side ("/nodir: no such file or directory" for a missing
        // target directory, not the source); the bare names are then
        // renamed between the two handles (renameat): a link is moved, not
        // followed.
        let from_dir = self.open_dir(&from.parent())?;
        let to_dir = self.open_dir(&to_parent)?;
        from_dir
            .rename(from_name, &to_dir, to_name)
            .map_err(|e| match e.kind() {
                // Only `to` can be the cause of these; the rest is `from`'s.
                io::ErrorKind::AlreadyExists
                | io::ErrorKind::DirectoryNotEmpty
                | io::ErrorKind::IsADirectory
                | io::ErrorKind::NotADirectory => fail(to, e),
                _ => fail(from, e),
            })
    }

    fn unique_name(&self, dir: &VirtualPath, stem: &str) -> Result<VirtualPath, StorageError> {
        let handle = self.open_dir(dir)?;
        // The counter is process-wide, so two sessions choosing at the same
        // moment never pick the same name; the disk check covers names left
        // by earlier runs.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = if n == 0 {
                stem.to_string()
            } else {
                format!("{stem}.{n}")
            };
            if handle.symlink_metadata(&name).is_err() {
                return dir.join(&name);
            }
        }
    }

    fn set_modified(&self, path: &VirtualPath, time: SystemTime) -> Result<(), StorageError> {
        // futimens(2) on a descriptor opened beneath the root, never
        // utimes on a path: the file set is the file checked.
        let (file, _) = self.open_file(path)?;
        file.set_modified(time).map_err(|e| fail(path, e))
    }

    fn remove_stale_uploads(&self) -> Result<usize, StorageError> {
        let mut removed = 0;
        // Depth first, one handle per level: subdirectories are opened by
        // name in their parent's handle, never by a path string.
        let mut stack = vec![(
            self.dir
                .try_clone()
                .map_err(|e| fail(&VirtualPath::root(), e))?,
            VirtualPath::root(),
        )];
        while let Some((dir, at)) = stack.pop() {
            let Ok(entries) = dir.entries() else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    // Not a link (lstat said so); and the handle opened must
                    // be that very directory, in case a link was swapped in.
                    let Ok(sub) = dir.open_dir(&name) else {
                        continue;
                    };
                    match sub.dir_metadata() {
                        Ok(m) if (m.dev(), m.ino()) == (meta.dev(), meta.ino()) => {}
                        _ => continue,
                    }
                    let sub_at = at
                        .join(&name.to_string_lossy())
                        .unwrap_or_else(|_| at.clone());
                    stack.push((sub, sub_at));
                } else if meta.is_file() && is_temp_name(&name) {
                    dir.remove_file(&name).map_err(|e| {
                        let v = at
                            .join(&name.to_string_lossy())
                            .unwrap_or_else(|_| at.clone());
                        fail(&v, e)
                    })?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The home opened as a directory handle beneath this root, which
    /// then is the authority for everything the subtree reaches: paths are
    /// resolved beneath *it* (`RESOLVE_BENEATH` relative to the home), so
    /// a link inside the home that points elsewhere in the root is refused
    /// like one pointing out of the root. The subtree shares this disk's
    /// registry of uploads in progress, so shutdown still removes every
    /// one, and the process-wide set of resumed targets (see [`resume`]),
    /// so the one-resume-per-target rule holds across homes that overlap.
    fn subtree(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, StorageError> {
        let dir = self.open_dir(home)?;
        Ok(Arc::new(LocalDisk {
            dir: Arc::new(dir),
            path: self.path.join(home.relative()),
            active: Arc::clone(&self.active),
        }))
    }

    fn abort_active_uploads(&self) -> usize {
        let active = std::mem::take(&mut *self.active.lock().expect("registry lock"));
        active
            .values()
            .filter(|(dir, temp)| dir.remove_file(temp).is_ok())
            .count()
    }
}

#[cfg(test)]
mod tests;
