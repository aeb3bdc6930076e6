//! The jail: virtual paths as clients see them, mapped to real paths that
//! never leave `--root`.
//!
//! A session works in a *virtual* namespace whose `/` is the root directory.
//! Client arguments are joined to the virtual working directory and
//! normalized lexically first (`.` dropped, `..` clamped at `/`), so no string
//! can climb above the root. Symbolic links are the second way out: every
//! real path is canonicalized (all links resolved) and must still lie under
//! the canonical root, or the request is refused as if the file were missing
//! from the client's view. Clients only ever see virtual paths.
//!
//! Uploads are written beside their target under a temporary name beginning
//! with [`TEMP_PREFIX`], then renamed into place: a reader never sees half a
//! file under the real name, and a failed upload leaves the old file intact.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Names of uploads in progress start with this; listings hide them.
pub const TEMP_PREFIX: &str = ".ftp-upload.";

/// An absolute, normalized path in the client's view: `/` or `/a/b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The virtual root, `/`.
    pub fn root() -> Self {
        VirtualPath("/".to_string())
    }

    /// `arg` resolved against `self`: absolute if it starts with `/`,
    /// relative otherwise; `.` and empty parts dropped, `..` stops at `/`.
    pub fn join(&self, arg: &str) -> Result<VirtualPath, FsError> {
        if arg.contains('\0') {
            return Err(FsError::InvalidName("the path contains a NUL byte"));
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.parts().collect()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        Ok(VirtualPath(format!("/{}", parts.join("/"))))
    }

    fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|p| !p.is_empty())
    }

    /// The last component; `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        self.parts().last()
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path quoted for a 257 reply: RFC 959 doubles embedded quotes.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a file operation failed, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{0}: no such file or directory")]
    NotFound(VirtualPath),
    #[error("{0}: permission denied")]
    PermissionDenied(VirtualPath),
    #[error("{0}: not a directory")]
    NotADirectory(VirtualPath),
    #[error("{0}: is a directory")]
    IsADirectory(VirtualPath),
    #[error("{0}: not a regular file")]
    NotAFile(VirtualPath),
    #[error("bad file name: {0}")]
    InvalidName(&'static str),
    #[error("{path}: no space left on the server's disk")]
    NoSpace { path: VirtualPath },
    #[error("{path}: over the disk quota or the file-size limit")]
    OverQuota { path: VirtualPath },
    #[error("{0}: already exists")]
    AlreadyExists(VirtualPath),
    #[error("{0}: directory not empty")]
    NotEmpty(VirtualPath),
    #[error("cannot restart {path} at byte {offset}: it has only {size} bytes")]
    BadOffset {
        path: VirtualPath,
        offset: u64,
        size: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: VirtualPath,
        #[source]
        source: io::Error,
    },
}

impl FsError {
    /// Classifies an I/O error on `path`.
    pub fn from_io(path: &VirtualPath, source: io::Error) -> FsError {
        let path = path.clone();
        match source.kind() {
            io::ErrorKind::NotFound => FsError::NotFound(path),
            io::ErrorKind::PermissionDenied => FsError::PermissionDenied(path),
            io::ErrorKind::NotADirectory => FsError::NotADirectory(path),
            io::ErrorKind::IsADirectory => FsError::IsADirectory(path),
            io::ErrorKind::AlreadyExists => FsError::AlreadyExists(path),
            io::ErrorKind::DirectoryNotEmpty => FsError::NotEmpty(path),
            io::ErrorKind::InvalidFilename => FsError::InvalidName("the name is too long"),
            io::ErrorKind::StorageFull => FsError::NoSpace { path },
            io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
                FsError::OverQuota { path }
            }
            _ => FsError::Io { path, source },
        }
    }
}

/// What an upload keeps of the file it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// STOR: nothing; the upload is the whole new content.
    Nothing,
    /// REST n + STOR: the first n bytes; the upload continues from there.
    First(u64),
    /// APPE: everything; the upload is appended.
    All,
}

/// The served directory tree.
#[derive(Debug, Clone)]
pub struct Jail {
    root: PathBuf,
    /// Temporary files of uploads in progress, removed at shutdown.
    active: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Jail {
    /// A jail at `root`, which must be an existing directory.
    pub fn new(root: &Path) -> io::Result<Jail> {
        let root = fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        Ok(Jail {
            root,
            active: Arc::default(),
        })
    }

    /// The canonical real root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real path of `v`, with links not yet resolved.
    fn lexical(&self, v: &VirtualPath) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(v.parts());
        p
    }

    /// Resolves links in `real` and checks the result stays inside the root.
    fn contain(&self, v: &VirtualPath, real: &Path) -> Result<PathBuf, FsError> {
        let canonical = fs::canonicalize(real).map_err(|e| FsError::from_io(v, e))?;
        if canonical.starts_with(&self.root) {
            Ok(canonical)
        } else {
            // A link out of the jail: to the client it does not exist.
            Err(FsError::NotFound(v.clone()))
        }
    }

    /// The real path of an existing file or directory. Uploads in progress
    /// do not exist for clients, even under a guessed temporary name.
    pub fn existing(&self, v: &VirtualPath) -> Result<PathBuf, FsError> {
        if v.parts().any(|p| p.starts_with(TEMP_PREFIX)) {
            return Err(FsError::NotFound(v.clone()));
        }
        self.contain(v, &self.lexical(v))
    }

    /// The real path of an existing directory.
    pub fn directory(&self, v: &VirtualPath) -> Result<PathBuf, FsError> {
        let real = self.existing(v)?;
        if real.is_dir() {
            Ok(real)
        } else {
            Err(FsError::NotADirectory(v.clone()))
        }
    }

    /// Where a new entry named by `v` goes: its canonical parent directory
    /// (which must exist inside the root) and its file name.
    pub fn new_entry(&self, v: &VirtualPath) -> Result<(PathBuf, String), FsError> {
        let name = v
            .file_name()
            .ok_or(FsError::InvalidName(
                "the root directory cannot be replaced",
            ))?
            .to_string();
        if name.starts_with(TEMP_PREFIX) {
            return Err(FsError::InvalidName(
                "names starting with .ftp-upload. are reserved for uploads in progress",
            ));
        }
        let parent = v.join("..")?;
        let dir = self.directory(&parent)?;
        Ok((dir, name))
    }

    /// Opens an existing regular file for reading.
    pub fn open_file(&self, v: &VirtualPath) -> Result<(File, u64), FsError> {
        let real = self.existing(v)?;
        // Check the type before opening: opening a FIFO would block.
        let meta = fs::metadata(&real).map_err(|e| FsError::from_io(v, e))?;
        if meta.is_dir() {
            return Err(FsError::IsADirectory(v.clone()));
        }
        if !meta.is_file() {
            return Err(FsError::NotAFile(v.clone()));
        }
        let file = File::open(&real).map_err(|e| FsError::from_io(v, e))?;
        let meta = file.metadata().map_err(|e| FsError::from_io(v, e))?;
        if meta.is_dir() {
            return Err(FsError::IsADirectory(v.clone()));
        }
        if !meta.is_file() {
            return Err(FsError::NotAFile(v.clone()));
        }
        Ok((file, meta.len()))
    }

    /// Starts an atomic upload to `v`: a temporary file in the target's
    /// directory, holding what `keep` says of the current file, renamed over
    /// the target by [`Upload::commit`]. With `no_clobber` (STOU) the commit
    /// fails rather than replace an existing file.
    pub fn begin_upload(
        &self,
        v: &VirtualPath,
        keep: Keep,
        no_clobber: bool,
    ) -> Result<Upload, FsError> {
        let (dir, name) = self.new_entry(v)?;
        let target = dir.join(&name);
        if target.is_dir() {
            return Err(FsError::IsADirectory(v.clone()));
        }
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let temp = dir.join(format!(
            "{TEMP_PREFIX}{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| FsError::from_io(v, e))?;
        self.active
            .lock()
            .expect("registry lock")
            .insert(temp.clone());
        let mut upload = Upload {
            file: Some(file),
            temp,
            target,
            virtual_path: v.clone(),
            no_clobber,
            active: Arc::clone(&self.active),
        };
        if keep != Keep::Nothing {
            self.copy_kept(v, keep, upload.file())?;
        }
        Ok(upload)
    }

    /// Copies the part of the current file that a resumed or appending
    /// upload keeps. `io::copy` between files is `copy_file_range(2)`.
    fn copy_kept(&self, v: &VirtualPath, keep: Keep, into: &mut File) -> Result<(), FsError> {
        let current = match self.open_file(v) {
            Ok((file, size)) => Some((file, size)),
            Err(FsError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let (file, size) = match (current, keep) {
            (None, Keep::First(0) | Keep::All | Keep::Nothing) => return Ok(()),
            (None, Keep::First(offset)) => {
                return Err(FsError::BadOffset {
                    path: v.clone(),
                    offset,
                    size: 0,
                })
            }
            (Some(current), _) => current,
        };
        let length = match keep {
            Keep::First(offset) if offset > size => {
                return Err(FsError::BadOffset {
                    path: v.clone(),
                    offset,
                    size,
                })
            }
            Keep::First(offset) => offset,
            _ => size,
        };
        io::copy(&mut file.take(length), into).map_err(|e| FsError::from_io(v, e))?;
        Ok(())
    }

    /// A name in `dir` that no entry has yet, for STOU.
    pub fn unique_name(&self, dir: &VirtualPath) -> Result<VirtualPath, FsError> {
        let real = self.directory(dir)?;
        let stamp = crate::time::mdtm(std::time::SystemTime::now());
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
            if real.join(&name).symlink_metadata().is_err() {
                return dir.join(&name);
            }
        }
    }

    /// Removes the temporary files of uploads still in progress (shutdown).
    pub fn remove_active_uploads(&self) -> usize {
        let active = std::mem::take(&mut *self.active.lock().expect("registry lock"));
        active.iter().filter(|p| fs::remove_file(p).is_ok()).count()
    }

    /// Removes upload temporaries left by a server that was killed mid-upload.
    pub fn remove_stale_uploads(&self) -> io::Result<usize> {
        let mut removed = 0;
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    dirs.push(entry.path());
                } else if kind.is_file() && is_temp_name(&entry.file_name()) {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// True for the names of uploads in progress.
pub fn is_temp_name(name: &OsStr) -> bool {
    name.as_encoded_bytes().starts_with(TEMP_PREFIX.as_bytes())
}

/// An upload in progress; dropped without [`commit`](Upload::commit), it
/// removes its temporary file.
#[derive(Debug)]
pub struct Upload {
    file: Option<File>,
    temp: PathBuf,
    target: PathBuf,
    virtual_path: VirtualPath,
    no_clobber: bool,
    active: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Upload {
    /// The temporary file to write into.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("upload not yet committed")
    }

    /// Where the upload goes, as the client named it.
    pub fn path(&self) -> &VirtualPath {
        &self.virtual_path
    }

    /// Puts the finished upload in place of its target.
    pub fn commit(mut self) -> Result<(), FsError> {
        drop(self.file.take());
        let placed = if self.no_clobber {
            // link(2) fails if the name exists: no race with another upload.
            fs::hard_link(&self.temp, &self.target).and_then(|_| fs::remove_file(&self.temp))
        } else {
            fs::rename(&self.temp, &self.target)
        };
        self.active
            .lock()
            .expect("registry lock")
            .remove(&self.temp);
        placed.map_err(|e| {
            let _ = fs::remove_file(&self.temp);
            FsError::from_io(&self.virtual_path, e)
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
            self.active
                .lock()
                .expect("registry lock")
                .remove(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    #[test]
    fn dot_dot_never_climbs_above_the_root() {
        assert_eq!(v("../../etc/passwd").as_str(), "/etc/passwd");
        assert_eq!(v("/a/b/../../../..").as_str(), "/");
        assert_eq!(v("a//./b/").as_str(), "/a/b");
        assert_eq!(v("a").join("../b").unwrap().as_str(), "/b");
        assert!(VirtualPath::root().join("a\0b").is_err());
        assert_eq!(v("a\"b").quoted(), "\"/a\"\"b\"");
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink("inside", root.path().join("in")).unwrap();
        std::fs::write(root.path().join("inside"), b"y").unwrap();
        let jail = Jail::new(root.path()).unwrap();
        assert!(matches!(
            jail.existing(&v("out/secret")),
            Err(FsError::NotFound(_))
        ));
        assert!(matches!(
            jail.begin_upload(&v("out/new"), Keep::Nothing, false),
            Err(FsError::NotFound(_))
        ));
        assert!(jail.open_file(&v("in")).is_ok());
    }

    #[test]
    fn uploads_appear_only_when_committed() {
        use std::io::Write;
        let root = tempfile::tempdir().unwrap();
        let jail = Jail::new(root.path()).unwrap();
        std::fs::write(root.path().join("f"), b"old").unwrap();
        let mut up = jail.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
        up.file().write_all(b"new").unwrap();
        drop(up);
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        let mut up = jail.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
        up.file().write_all(b"new").unwrap();
        up.commit().unwrap();
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn resumed_and_appended_uploads_keep_what_they_should() {
        use std::io::Write;
        let root = tempfile::tempdir().unwrap();
        let jail = Jail::new(root.path()).unwrap();
        std::fs::write(root.path().join("f"), b"0123456789").unwrap();
        let mut up = jail.begin_upload(&v("f"), Keep::First(4), false).unwrap();
        up.file().write_all(b"abc").unwrap();
        up.commit().unwrap();
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123abc");
        let mut up = jail.begin_upload(&v("f"), Keep::All, false).unwrap();
        up.file().write_all(b"!").unwrap();
        up.commit().unwrap();
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123abc!");
        assert!(matches!(
            jail.begin_upload(&v("f"), Keep::First(99), false),
            Err(FsError::BadOffset {
                offset: 99,
                size: 8,
                ..
            })
        ));
        assert_eq!(
            std::fs::read_dir(root.path()).unwrap().count(),
            1,
            "no temporaries left"
        );
    }

    #[test]
    fn no_clobber_uploads_do_not_replace() {
        let root = tempfile::tempdir().unwrap();
        let jail = Jail::new(root.path()).unwrap();
        std::fs::write(root.path().join("f"), b"old").unwrap();
        let up = jail.begin_upload(&v("f"), Keep::Nothing, true).unwrap();
        assert!(matches!(up.commit(), Err(FsError::AlreadyExists(_))));
        assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
        let name = jail.unique_name(&VirtualPath::root()).unwrap();
        assert!(name.as_str().starts_with("/stou."));
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn active_uploads_are_removed_at_shutdown() {
        let root = tempfile::tempdir().unwrap();
        let jail = Jail::new(root.path()).unwrap();
        let up = jail.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
        assert_eq!(jail.remove_active_uploads(), 1);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
        drop(up);
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d").join(".ftp-upload.1.2"), b"x").unwrap();
        std::fs::write(root.path().join("keep"), b"x").unwrap();
        let jail = Jail::new(root.path()).unwrap();
        assert_eq!(jail.remove_stale_uploads().unwrap(), 1);
        assert!(root.path().join("keep").exists());
    }
}
