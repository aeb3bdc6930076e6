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
//! Semantics kept from the old jail: symbolic links that stay inside the
//! root work (`sub/up -> ..` is the root itself); a path that would leave it
//! is [`StorageError::NotFound`], as if it did not exist; nothing is ever
//! clamped at the root. Uploads go to a temporary file named
//! [`TEMP_PREFIX`]`<pid>.<n>` beside their target, created in a handle of
//! the target's directory that the upload keeps, and are renamed (or, for
//! STOU, hard-linked) to the target name in that same handle: renaming the
//! directory meanwhile neither orphans nor misplaces the upload. Names with
//! the prefix are invisible to clients and reserved.
//!
//! What this does not do: a *hard* link inside the root to a file outside it
//! (made by someone with shell access) is an ordinary file to the kernel and
//! is served like one; no path-based check can tell, so keep such links out
//! of the tree. Bind mounts inside the root are followed for the same
//! reason. Per-user permissions are the session's business.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt, ReadDir};
use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::{
    Entries, Entry, Features, Keep, Kind, Metadata, ReadFile, Storage, StorageError, Upload,
    VirtualPath,
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

    /// Copies the part of the current file that a resumed or appending
    /// upload keeps. `io::copy` between files is `copy_file_range(2)`.
    fn copy_kept(&self, v: &VirtualPath, keep: Keep, into: &mut File) -> Result<(), StorageError> {
        let current = match self.open_file(v) {
            Ok(current) => Some(current),
            Err(StorageError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let (file, size) = match (current, keep) {
            (None, Keep::First(0) | Keep::All | Keep::Nothing) => return Ok(()),
            (None, Keep::First(offset)) => {
                return Err(StorageError::BadOffset {
                    path: v.clone(),
                    offset,
                    size: 0,
                })
            }
            (Some(current), _) => current,
        };
        let length = match keep {
            Keep::First(offset) if offset > size => {
                return Err(StorageError::BadOffset {
                    path: v.clone(),
                    offset,
                    size,
                })
            }
            Keep::First(offset) => offset,
            Keep::All => size,
            Keep::Nothing => return Ok(()),
        };
        io::copy(&mut file.take(length), into).map_err(|e| fail(v, e))?;
        Ok(())
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
        Ok(Box::new(LocalFile { file, size }))
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
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let id = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = format!("{TEMP_PREFIX}{}.{id}", std::process::id());
        let file = dir
            .open_with(&temp, OpenOptions::new().write(true).create_new(true))
            .map_err(|e| fail(path, e))?
            .into_std();
        self.active
            .lock()
            .expect("registry lock")
            .insert(id, (Arc::clone(&dir), temp.clone()));
        let mut upload = LocalUpload {
            file: Some(file),
            dir,
            temp,
            name: name.to_string(),
            path: path.clone(),
            no_clobber,
            id,
            active: Arc::clone(&self.active),
        };
        if keep != Keep::Nothing {
            let into = upload.file.as_mut().expect("a fresh upload has its file");
            self.copy_kept(path, keep, into)?;
        }
        Ok(Box::new(upload))
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
        LocalDisk::new_entry(to)?;
        // cap-std opens both parents beneath the root and renames the bare
        // names there (renameat): a link is moved, not followed.
        self.dir
            .rename(from.relative(), &self.dir, to.relative())
            .map_err(|e| match e.kind() {
                // Only `to` can be the cause of these; the rest is `from`'s.
                io::ErrorKind::AlreadyExists
                | io::ErrorKind::DirectoryNotEmpty
                | io::ErrorKind::IsADirectory => fail(to, e),
                _ => fail(from, e),
            })
    }

    fn unique_name(&self, dir: &VirtualPath) -> Result<VirtualPath, StorageError> {
        let handle = self.open_dir(dir)?;
        let stamp = crate::time::mdtm(SystemTime::now());
        // The counter is process-wide, so two sessions choosing at the same
        // moment never pick the same name; the disk check covers names left
        // by earlier runs.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = if n == 0 {
                format!("stou.{stamp}")
            } else {
                format!("stou.{stamp}.{n}")
            };
            if handle.symlink_metadata(&name).is_err() {
                return dir.join(&name);
            }
        }
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

    fn abort_active_uploads(&self) -> usize {
        let active = std::mem::take(&mut *self.active.lock().expect("registry lock"));
        active
            .values()
            .filter(|(dir, temp)| dir.remove_file(temp).is_ok())
            .count()
    }
}

/// A directory being listed: its handle (for reading links) and its entries.
#[derive(Debug)]
struct Listing {
    dir: Dir,
    entries: ReadDir,
    path: VirtualPath,
}

impl Iterator for Listing {
    type Item = Result<Entry, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(fail(&self.path, e))),
            };
            let os_name = entry.file_name();
            if is_temp_name(&os_name) || os_name == "." || os_name == ".." {
                continue;
            }
            // An entry that vanished meanwhile is simply not listed.
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            // The link's text as stored (an absolute target included: it
            // is shown, never followed).
            let link_target = meta
                .is_symlink()
                .then(|| self.dir.read_link_contents(&os_name).ok())
                .flatten()
                .map(|t| t.to_string_lossy().into_owned());
            return Some(Ok(Entry {
                name: os_name.to_string_lossy().into_owned(),
                meta: convert(&meta),
                link_target,
            }));
        }
    }
}

/// A regular file open for reading.
#[derive(Debug)]
struct LocalFile {
    file: File,
    size: u64,
}

impl Read for LocalFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl ReadFile for LocalFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn as_local_file(&mut self) -> Option<&mut File> {
        Some(&mut self.file)
    }
}

/// An upload in progress: a temporary file in a handle of its directory.
/// Dropped without [`commit`](Upload::commit), it removes the temporary.
#[derive(Debug)]
struct LocalUpload {
    /// `None` once committed or aborted.
    file: Option<File>,
    /// The target's directory, wherever it is renamed to meanwhile.
    dir: Arc<Dir>,
    temp: String,
    name: String,
    path: VirtualPath,
    no_clobber: bool,
    id: u64,
    active: Registry,
}

impl LocalUpload {
    fn file(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the upload is finished"))
    }

    fn deregister(&self) {
        self.active.lock().expect("registry lock").remove(&self.id);
    }
}

impl Write for LocalUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

impl Upload for LocalUpload {
    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        drop(self.file.take());
        let dir = &self.dir;
        let placed = if self.no_clobber {
            // link(2) fails if the name exists: no race with another upload.
            dir.hard_link(&self.temp, dir, &self.name)
                .and_then(|()| dir.remove_file(&self.temp))
        } else {
            dir.rename(&self.temp, dir, &self.name)
        };
        self.deregister();
        placed.map_err(|e| {
            let _ = dir.remove_file(&self.temp);
            fail(&self.path, e)
        })
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = self.dir.remove_file(&self.temp);
            self.deregister();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    fn v(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    /// Every name under `dir`, recursively, links not followed.
    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    dirs.push(p.clone());
                }
                out.push(p);
            }
        }
        out
    }

    fn temps_under(dir: &Path) -> Vec<PathBuf> {
        walk(dir)
            .into_iter()
            .filter(|p| is_temp_name(p.file_name().unwrap()))
            .collect()
    }

    fn names(disk: &LocalDisk, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = disk
            .list(&v(dir))
            .unwrap()
            .map(|e| e.unwrap().name)
            .collect();
        names.sort();
        names
    }

    fn read_all(disk: &LocalDisk, path: &str, offset: u64) -> Vec<u8> {
        let mut f = disk.open_read(&v(path), offset).unwrap();
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).unwrap();
        buf
    }

    fn upload(disk: &LocalDisk, path: &str, keep: Keep, bytes: &[u8]) {
        let mut up = disk.begin_upload(&v(path), keep, false).unwrap();
        up.write_all(bytes).unwrap();
        up.commit().unwrap();
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), b"x").unwrap();
        assert!(LocalDisk::new(&root.path().join("f")).is_err());
        assert!(LocalDisk::new(&root.path().join("missing")).is_err());
        let disk = LocalDisk::new(root.path()).unwrap();
        assert_eq!(disk.root(), std::fs::canonicalize(root.path()).unwrap());
        assert!(disk.stat(&VirtualPath::root()).unwrap().is_dir());
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("out")).unwrap();
        symlink("inside", root.path().join("in")).unwrap();
        std::fs::write(root.path().join("inside"), b"y").unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        assert!(matches!(
            disk.stat(&v("out/secret")),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            disk.begin_upload(&v("out/new"), Keep::Nothing, false),
            Err(StorageError::NotFound(_))
        ));
        assert!(!outside.path().join("new").exists());
        assert_eq!(read_all(&disk, "in", 0), b"y");
    }

    #[test]
    fn links_out_of_the_root_do_not_exist() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        symlink("/etc", root.path().join("etc")).unwrap();
        symlink("..", root.path().join("up")).unwrap();
        symlink("../..", root.path().join("sub/upup")).unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        for path in [
            "etc",
            "etc/passwd",
            "up",
            "up/x",
            "sub/upup",
            "sub/upup/etc",
        ] {
            let p = v(path);
            assert!(
                matches!(disk.stat(&p), Err(StorageError::NotFound(_))),
                "stat {path}"
            );
            assert!(
                matches!(disk.open_read(&p, 0), Err(StorageError::NotFound(_))),
                "open {path}"
            );
            assert!(
                matches!(disk.list(&p), Err(StorageError::NotFound(_))),
                "list {path}"
            );
            assert!(
                matches!(disk.unique_name(&p), Err(StorageError::NotFound(_))),
                "unique_name {path}"
            );
            assert!(
                matches!(
                    disk.mkdir(&p.join("new").unwrap()),
                    Err(StorageError::NotFound(_))
                ),
                "mkdir in {path}"
            );
        }
        assert!(matches!(
            disk.lstat(&v("etc/passwd")),
            Err(StorageError::NotFound(_))
        ));
        // The links themselves are entries of the root.
        assert_eq!(disk.lstat(&v("etc")).unwrap().kind, Kind::Symlink);
        assert_eq!(disk.lstat(&v("up")).unwrap().kind, Kind::Symlink);
    }

    #[test]
    fn links_inside_the_root_work() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("a.txt"), b"aaa").unwrap();
        symlink("..", root.path().join("sub/up")).unwrap();
        symlink("sub", root.path().join("inner")).unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let top = disk.stat(&VirtualPath::root()).unwrap();
        assert_eq!(disk.stat(&v("sub/up")).unwrap().unique, top.unique);
        assert_eq!(
            disk.stat(&v("inner/up/inner/up")).unwrap().unique,
            top.unique
        );
        assert_eq!(disk.lstat(&v("sub/up")).unwrap().kind, Kind::Symlink);
        assert_eq!(read_all(&disk, "sub/up/a.txt", 1), b"aa");
        assert_eq!(names(&disk, "sub/up"), ["a.txt", "inner", "sub"]);
        upload(&disk, "inner/up/new", Keep::Nothing, b"n");
        assert_eq!(std::fs::read(root.path().join("new")).unwrap(), b"n");
    }

    #[test]
    fn uploads_appear_only_when_committed() {
        let root = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        std::fs::write(root.path().join("f"), b"old").unwrap();
        let mut up = disk.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
        up.write_all(b"new").unwrap();
        assert_eq!(up.path(), &v("f"));
        drop(up);
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        upload(&disk, "f", Keep::Nothing, b"new");
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn resumed_and_appended_uploads_keep_what_they_should() {
        let root = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        std::fs::write(root.path().join("f"), b"0123456789").unwrap();
        upload(&disk, "f", Keep::First(4), b"abc");
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123abc");
        upload(&disk, "f", Keep::All, b"!");
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123abc!");
        assert!(matches!(
            disk.begin_upload(&v("f"), Keep::First(99), false),
            Err(StorageError::BadOffset {
                offset: 99,
                size: 8,
                ..
            })
        ));
        assert!(matches!(
            disk.begin_upload(&v("g"), Keep::First(1), false),
            Err(StorageError::BadOffset {
                offset: 1,
                size: 0,
                ..
            })
        ));
        upload(&disk, "g", Keep::All, b"g");
        assert_eq!(std::fs::read(root.path().join("g")).unwrap(), b"g");
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            2,
            "no temporaries left"
        );
    }

    #[test]
    fn no_clobber_uploads_do_not_replace() {
        let root = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        std::fs::write(root.path().join("f"), b"old").unwrap();
        let up = disk.begin_upload(&v("f"), Keep::Nothing, true).unwrap();
        assert!(matches!(up.commit(), Err(StorageError::AlreadyExists(_))));
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
        let name = disk.unique_name(&VirtualPath::root()).unwrap();
        assert!(name.as_str().starts_with("/stou."), "{name}");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        let mut up = disk.begin_upload(&name, Keep::Nothing, true).unwrap();
        up.write_all(b"unique").unwrap();
        up.commit().unwrap();
        assert_eq!(read_all(&disk, name.as_str(), 0), b"unique");
        assert_ne!(disk.unique_name(&VirtualPath::root()).unwrap(), name);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 2);
    }

    #[test]
    fn active_uploads_are_removed_at_shutdown() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let up = disk.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
        let moved = disk.begin_upload(&v("d/g"), Keep::Nothing, false).unwrap();
        // Removed where its directory is now, not where it was.
        std::fs::rename(root.path().join("d"), root.path().join("e")).unwrap();
        assert_eq!(temps_under(root.path()).len(), 2);
        assert_eq!(disk.abort_active_uploads(), 2);
        assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        drop(up);
        assert!(moved.commit().is_err());
        assert_eq!(disk.abort_active_uploads(), 0);
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join(".ftp-upload.9.9"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("d/e")).unwrap();
        std::fs::write(root.path().join("d").join(".ftp-upload.1.2"), b"x").unwrap();
        std::fs::write(root.path().join("d/e").join(".ftp-upload.1.3"), b"x").unwrap();
        std::fs::create_dir(root.path().join(".ftp-upload.dir")).unwrap();
        std::fs::write(root.path().join("keep"), b"x").unwrap();
        symlink(outside.path(), root.path().join("out")).unwrap();
        symlink(".", root.path().join("loop")).unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        assert_eq!(disk.remove_stale_uploads().unwrap(), 2);
        assert!(root.path().join("keep").exists());
        assert!(root.path().join(".ftp-upload.dir").is_dir(), "only files");
        assert!(
            outside.path().join(".ftp-upload.9.9").exists(),
            "links are not followed"
        );
        assert_eq!(disk.remove_stale_uploads().unwrap(), 0);
    }

    #[test]
    fn an_upload_follows_its_directory_when_renamed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let mut up = disk.begin_upload(&v("d/f"), Keep::Nothing, false).unwrap();
        up.write_all(b"part one, ").unwrap();
        disk.rename(&v("d"), &v("e")).unwrap();
        up.write_all(b"part two").unwrap();
        up.commit().unwrap();
        assert_eq!(
            std::fs::read(root.path().join("e/f")).unwrap(),
            b"part one, part two"
        );
        assert!(!root.path().join("d").exists());
        assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
        assert_eq!(disk.abort_active_uploads(), 0);
    }

    /// The attack of tests/rename_race.rs in-process, where the swaps come
    /// far faster than over FTP: `x` is a directory one moment and a link
    /// to the root's parent the next, and nothing done through `x` may
    /// reach outside.
    #[test]
    fn swapping_a_directory_and_a_link_never_reaches_outside() {
        let top = tempfile::tempdir().unwrap();
        let (outside, root) = (top.path(), top.path().join("root"));
        std::fs::write(outside.join("secret"), b"OUTSIDE SECRET").unwrap();
        std::fs::write(outside.join("victim"), b"outside victim").unwrap();
        std::fs::create_dir_all(root.join("x")).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("x/secret"), b"inside").unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        let disk = LocalDisk::new(&root).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let deadline = std::time::Instant::now() + Duration::from_millis(1500);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let swaps = [
                    ("x", "parked"),
                    ("sub/up", "x"),
                    ("x", "sub/up"),
                    ("parked", "x"),
                ];
                for (from, to) in swaps.iter().cycle().take(2_000_000) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let _ = std::fs::rename(root.join(from), root.join(to));
                }
            });
            // Stops the swapper however this thread leaves, a failed
            // assertion included.
            struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, Ordering::Relaxed);
                }
            }
            let _stop = Stop(&stop);
            for _ in 0..200_000 {
                if std::time::Instant::now() > deadline {
                    break;
                }
                if let Ok(meta) = disk.stat(&v("x/secret")) {
                    assert_eq!(meta.len, 6, "stat reached the outside secret");
                }
                if let Ok(mut f) = disk.open_read(&v("x/secret"), 0) {
                    let mut got = Vec::new();
                    f.read_to_end(&mut got).unwrap();
                    assert_eq!(got, b"inside", "read the outside secret");
                }
                if let Ok(mut up) = disk.begin_upload(&v("x/planted"), Keep::Nothing, false) {
                    up.write_all(b"planted").unwrap();
                    let _ = up.commit();
                }
                let _ = disk.delete(&v("x/victim"));
                let _ = disk.rename(&v("x/victim"), &v("x/victim2"));
                let _ = disk.list(&v("x")).map(|l| l.count());
            }
        });
        assert_eq!(
            std::fs::read(outside.join("victim")).unwrap(),
            b"outside victim"
        );
        assert!(std::fs::symlink_metadata(outside.join("planted")).is_err());
        assert!(std::fs::symlink_metadata(outside.join("victim2")).is_err());
        let stray: Vec<PathBuf> = std::fs::read_dir(outside)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| is_temp_name(p.file_name().unwrap()))
            .collect();
        assert_eq!(stray, Vec::<PathBuf>::new());
        assert_eq!(temps_under(&root), Vec::<PathBuf>::new());
    }

    #[test]
    fn fifos_are_not_files_and_never_block() {
        let root = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &root.path().join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d = disk.clone();
        std::thread::spawn(move || {
            let opened = d.open_read(&v("fifo"), 0).map(|_| ());
            let kept = d.begin_upload(&v("fifo"), Keep::All, false).map(|_| ());
            let _ = tx.send((opened, kept));
        });
        let (opened, kept) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("opening a FIFO blocked");
        assert!(
            matches!(opened, Err(StorageError::NotAFile(_))),
            "{opened:?}"
        );
        assert!(matches!(kept, Err(StorageError::NotAFile(_))), "{kept:?}");
        assert_eq!(disk.lstat(&v("fifo")).unwrap().kind, Kind::Other);
        assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
    }

    #[test]
    fn listings_skip_temporaries_and_give_link_targets() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("a.txt"), b"12345").unwrap();
        std::fs::write(root.path().join(".ftp-upload.7.7"), b"stale").unwrap();
        std::fs::write(root.path().join(".hidden"), b"").unwrap();
        symlink("a.txt", root.path().join("link")).unwrap();
        symlink("/etc", root.path().join("etc")).unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let _up = disk.begin_upload(&v("b"), Keep::Nothing, false).unwrap();
        let mut entries: Vec<Entry> = disk
            .list(&VirtualPath::root())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let got: Vec<(&str, Kind, Option<&str>)> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.meta.kind, e.link_target.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (".hidden", Kind::File, None),
                ("a.txt", Kind::File, None),
                ("d", Kind::Dir, None),
                ("etc", Kind::Symlink, Some("/etc")),
                ("link", Kind::Symlink, Some("a.txt")),
            ]
        );
        let a = &entries[1].meta;
        assert_eq!(a.len, 5);
        assert_eq!(a.nlink, 1);
        assert!(a.mode & 0o400 != 0 && a.mode <= 0o7777);
        assert!(a.modified > SystemTime::UNIX_EPOCH);
        assert_eq!(Some(a), disk.stat(&v("link")).ok().as_ref());
        assert!(matches!(
            disk.list(&v("a.txt")),
            Err(StorageError::NotADirectory(_))
        ));
        assert!(matches!(
            disk.list(&v("missing")),
            Err(StorageError::NotFound(_))
        ));
    }

    #[test]
    fn temporary_names_are_invisible_and_reserved() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(".ftp-upload.1.2"), b"x").unwrap();
        std::fs::create_dir(root.path().join(".ftp-upload.d")).unwrap();
        std::fs::write(root.path().join("f"), b"x").unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let temp = v(".ftp-upload.1.2");
        assert!(matches!(disk.stat(&temp), Err(StorageError::NotFound(_))));
        assert!(matches!(disk.lstat(&temp), Err(StorageError::NotFound(_))));
        assert!(matches!(
            disk.open_read(&temp, 0),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            disk.list(&v(".ftp-upload.d")),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(disk.delete(&temp), Err(StorageError::NotFound(_))));
        assert!(matches!(
            disk.rename(&temp, &v("g")),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            disk.begin_upload(&v(".ftp-upload.d/x"), Keep::Nothing, false),
            Err(StorageError::NotFound(_))
        ));
        for reserved in [
            disk.begin_upload(&temp, Keep::Nothing, false).map(|_| ()),
            disk.mkdir(&v(".ftp-upload.new")),
            disk.rename(&v("f"), &v(".ftp-upload.f")),
        ] {
            assert!(
                matches!(reserved, Err(StorageError::InvalidName(m)) if m == RESERVED),
                "{reserved:?}"
            );
        }
        assert!(root.path().join("f").exists());
        assert!(root.path().join(".ftp-upload.1.2").exists());
    }

    #[test]
    fn the_root_cannot_be_replaced() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), b"x").unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        let top = VirtualPath::root();
        for refused in [
            disk.begin_upload(&top, Keep::Nothing, false).map(|_| ()),
            disk.mkdir(&top),
            disk.rmdir(&top),
            disk.delete(&top),
            disk.rename(&top, &v("x")),
            disk.rename(&v("f"), &top),
        ] {
            assert!(
                matches!(refused, Err(StorageError::InvalidName(m)) if m == ROOT_FIXED),
                "{refused:?}"
            );
        }
        assert!(root.path().join("f").exists());
    }

    #[test]
    fn names_are_made_and_removed_without_following_links() {
        let root = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        disk.mkdir(&v("d")).unwrap();
        assert!(matches!(
            disk.mkdir(&v("d")),
            Err(StorageError::AlreadyExists(_))
        ));
        assert!(matches!(
            disk.mkdir(&v("no/d")),
            Err(StorageError::NotFound(_))
        ));
        std::fs::write(root.path().join("d/f"), b"x").unwrap();
        symlink("d", root.path().join("dlink")).unwrap();
        symlink("d/f", root.path().join("flink")).unwrap();

        // A link to a directory is not a directory to remove.
        assert!(disk.rmdir(&v("dlink")).is_err());
        assert!(root.path().join("dlink").exists());
        assert!(matches!(
            disk.rmdir(&v("d")),
            Err(StorageError::NotEmpty(_))
        ));
        assert!(matches!(
            disk.delete(&v("d")),
            Err(StorageError::IsADirectory(_))
        ));
        assert!(matches!(
            disk.begin_upload(&v("d"), Keep::Nothing, false),
            Err(StorageError::IsADirectory(_))
        ));
        assert!(matches!(
            disk.begin_upload(&v("dlink"), Keep::Nothing, false),
            Err(StorageError::IsADirectory(_))
        ));
        assert!(matches!(
            disk.open_read(&v("d"), 0),
            Err(StorageError::IsADirectory(_))
        ));

        // Renaming a link moves the link; deleting one removes the link.
        disk.rename(&v("flink"), &v("d/flink2")).unwrap();
        assert!(std::fs::symlink_metadata(root.path().join("d/flink2"))
            .unwrap()
            .is_symlink());
        assert!(matches!(
            disk.rename(&v("missing"), &v("x")),
            Err(StorageError::NotFound(_))
        ));
        disk.delete(&v("dlink")).unwrap();
        assert!(root.path().join("d/f").exists());
        disk.delete(&v("d/f")).unwrap();
        disk.delete(&v("d/flink2")).unwrap();
        assert!(matches!(
            disk.delete(&v("d/f")),
            Err(StorageError::NotFound(_))
        ));
        disk.rmdir(&v("d")).unwrap();
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn reads_start_at_their_offset() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), b"0123456789").unwrap();
        let disk = LocalDisk::new(root.path()).unwrap();
        assert_eq!(read_all(&disk, "f", 0), b"0123456789");
        assert_eq!(read_all(&disk, "f", 7), b"789");
        assert_eq!(read_all(&disk, "f", 10), b"");
        assert!(matches!(
            disk.open_read(&v("f"), 11),
            Err(StorageError::BadOffset {
                offset: 11,
                size: 10,
                ..
            })
        ));
        let mut f = disk.open_read(&v("f"), 3).unwrap();
        assert_eq!(f.size(), 10);
        let local = f.as_local_file().expect("a local file for sendfile");
        assert_eq!(local.stream_position().unwrap(), 3);
        assert_eq!(
            disk.features(),
            Features {
                read_at_offset: true,
                resume_upload: true
            }
        );
    }
}
