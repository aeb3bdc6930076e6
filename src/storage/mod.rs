//! The storage seam: every file-system operation the server performs, behind
//! one trait, so that the session never touches `std::fs` and another back
//! end (an object store) can stand where the local disk stands.
//!
//! Paths crossing this seam are [`VirtualPath`]s: absolute, lexically
//! normalized paths in the client's view, whose `/` is the back end's root.
//! A back end decides what lies beneath that root and must never reach
//! anything outside it, whoever renames what meanwhile ([`local`] lets the
//! kernel enforce that with `openat2(RESOLVE_BENEATH)`).
//!
//! Uploads are explicit transactions ([`Upload`]): bytes go somewhere no
//! reader sees, [`Upload::commit`] puts them in place atomically, and
//! dropping an upload without committing discards it. A back end says what
//! it can do through [`Features`], so FEAT and REST answer truthfully.
//!
//! What this seam does not do: permissions per user (the session's), path
//! syntax from clients ([`VirtualPath::join`] does that once, before any
//! back end sees a path), or formatting listings (the server's `listing`).

pub mod local;
mod path;
pub mod s3;

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::SystemTime;

pub use local::LocalDisk;
pub use path::VirtualPath;

/// What a back end supports beyond the basics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// RETR from an offset (REST + RETR).
    pub read_at_offset: bool,
    /// STOR from an offset (REST + STOR) and APPE.
    pub resume_upload: bool,
    /// Setting a file's modification time (MFMT).
    pub set_modified: bool,
}

/// What kind of entry a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: listed, never opened.
    Other,
}

/// What the server needs to know of an entry, whatever the back end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub kind: Kind,
    /// Bytes (for a link: the length of its target string).
    pub len: u64,
    /// Last modification; the epoch when unknown.
    pub modified: SystemTime,
    /// Unix permission bits (`0o644`); back ends without them make some up.
    pub mode: u32,
    /// Hard links to the entry (1 where the back end has none).
    pub nlink: u64,
    /// A stable identity (device and inode), for MLSx `unique`.
    pub unique: Option<(u64, u64)>,
}

impl Metadata {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }

    /// True when nobody may write to the entry by its permission bits.
    pub fn readonly(&self) -> bool {
        self.mode & 0o222 == 0
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, decoded lossily where it is not UTF-8.
    pub name: String,
    /// The entry itself: a link is reported as a link.
    pub meta: Metadata,
    /// Where a link points, as stored in the link.
    pub link_target: Option<String>,
}

/// Entries of a directory, in the back end's order, produced as they are
/// read (a directory of 100,000 entries is never held whole).
pub type Entries = Box<dyn Iterator<Item = Result<Entry, StorageError>> + Send>;

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

/// A file open for reading, positioned at the offset it was opened at.
pub trait ReadFile: Read + Send + fmt::Debug {
    /// The whole file's size when it was opened.
    fn size(&self) -> u64;

    /// The file, as the client named it (for error messages).
    fn path(&self) -> &VirtualPath;

    /// The local file beneath, where there is one: downloads then go
    /// through `sendfile(2)`.
    fn as_local_file(&mut self) -> Option<&mut std::fs::File> {
        None
    }

    /// The file's own buffers, where its bytes arrive in them (an object's
    /// body as the network delivered it): downloads in TYPE I then write
    /// those buffers as they are, without first copying them into one of
    /// the transfer's.
    fn as_chunked(&mut self) -> Option<&mut dyn Chunked> {
        None
    }
}

/// A file read as the buffers it arrives in ([`ReadFile::as_chunked`]).
pub trait Chunked {
    /// Appends the next buffers to `out`, about `max` bytes at most: waits
    /// for the first, then takes those already there without waiting.
    /// Appending nothing means the end of the file.
    fn next_chunks(&mut self, out: &mut Vec<bytes::Bytes>, max: usize) -> io::Result<()>;
}

/// An upload in progress. Written to, then [`commit`](Upload::commit)ted;
/// dropped without a commit, it leaves no trace (the old file, if any, is
/// untouched).
pub trait Upload: Write + Send + fmt::Debug {
    /// Where the upload goes.
    fn path(&self) -> &VirtualPath;

    /// Puts the upload in place of its target, atomically.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// How many bytes the transfer gathers before each write: what this
    /// back end takes best. Few large writes by default (an object store
    /// buffers its parts anyway; see the local disk for file systems).
    fn write_size(&self) -> usize {
        LARGE_WRITE
    }
}

/// [`Upload::write_size`] unless a back end says otherwise.
pub const LARGE_WRITE: usize = 1 << 20;

/// Every file-system operation of the server.
///
/// Every method takes normalized virtual paths and fails with a
/// [`StorageError`] that names the path as the client wrote it; no method
/// reaches anything outside the back end's root.
pub trait Storage: Send + Sync + fmt::Debug {
    /// What this back end supports.
    fn features(&self) -> Features;

    /// Metadata of `path`, following links (which must stay inside).
    fn stat(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;

    /// Metadata of `path` itself: a link is reported as a link.
    fn lstat(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;

    /// The entries of the directory `path` (links followed to reach it),
    /// without the back end's own bookkeeping (upload temporaries), `.` or
    /// `..`. [`StorageError::NotADirectory`] when `path` is not one.
    fn list(&self, path: &VirtualPath) -> Result<Entries, StorageError>;

    /// Opens the regular file `path` for reading from byte `offset`.
    /// An offset past the end is [`StorageError::BadOffset`]; a directory
    /// [`StorageError::IsADirectory`]; a FIFO or device
    /// [`StorageError::NotAFile`] (never opened, so it cannot block).
    fn open_read(&self, path: &VirtualPath, offset: u64)
        -> Result<Box<dyn ReadFile>, StorageError>;

    /// Starts an upload to `path`, keeping what `keep` says of the current
    /// file. With `no_clobber` (STOU) the commit fails with
    /// [`StorageError::AlreadyExists`] rather than replace a file.
    fn begin_upload(
        &self,
        path: &VirtualPath,
        keep: Keep,
        no_clobber: bool,
    ) -> Result<Box<dyn Upload>, StorageError>;

    /// Creates the directory `path` (its parent must exist).
    fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Removes the empty directory `path` (a link to one is not removed).
    fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Removes the file or link `path`; a directory is
    /// [`StorageError::IsADirectory`]. A link is removed, not followed.
    fn delete(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Renames `from` (a link itself, not its target) to `to`, replacing a
    /// file there.
    fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;

    /// A path in the directory `dir` that no entry has yet (STOU): `stem`
    /// itself, or `stem.N`. The caller picks the stem (the session stamps
    /// it with the time), so back ends need no clock.
    fn unique_name(&self, dir: &VirtualPath, stem: &str) -> Result<VirtualPath, StorageError>;

    /// Removes the bookkeeping of uploads that a killed server left behind
    /// (start-up). Returns how many were removed.
    fn remove_stale_uploads(&self) -> Result<usize, StorageError>;

    /// Discards every upload still in progress (shutdown). Returns how many.
    fn abort_active_uploads(&self) -> usize;

    /// Sets the modification time of the file `path` (MFMT). Back ends
    /// that cannot say so in [`Features::set_modified`] and keep this
    /// default.
    fn set_modified(&self, path: &VirtualPath, time: SystemTime) -> Result<(), StorageError> {
        let _ = time;
        Err(StorageError::Unsupported(path.clone()))
    }

    /// The directory `home` as a back end of its own, whose `/` is `home`
    /// and which reaches nothing outside it (a user's home). Back ends
    /// without homes keep this default.
    fn subtree(&self, home: &VirtualPath) -> Result<Arc<dyn Storage>, StorageError> {
        Err(StorageError::Unsupported(home.clone()))
    }
}

/// Why a storage operation failed, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
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
    #[error("{0}: this server's storage does not support that")]
    Unsupported(VirtualPath),
    /// An operation the back end refuses on this entry, for a reason the
    /// client can act on (550), such as renaming a directory of objects.
    #[error("{path}: {reason}")]
    Refused {
        path: VirtualPath,
        reason: &'static str,
    },
    /// A resumed or appending upload (REST + STOR, APPE) of a file that
    /// another one is resuming or appending to right now. Refused before
    /// any data is accepted, so that neither upload loses the other's
    /// bytes; back ends may also bound such uploads this way because each
    /// one may cost a copy of the file.
    #[error("{0}: another upload is resuming or appending to this file; try again when it ends")]
    Busy(VirtualPath),
    #[error("{path}: {source}")]
    Io {
        path: VirtualPath,
        #[source]
        source: io::Error,
    },
}

impl StorageError {
    /// Classifies an I/O error on `path`.
    pub fn from_io(path: &VirtualPath, source: io::Error) -> StorageError {
        let path = path.clone();
        match source.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound(path),
            io::ErrorKind::PermissionDenied => StorageError::PermissionDenied(path),
            io::ErrorKind::NotADirectory => StorageError::NotADirectory(path),
            io::ErrorKind::IsADirectory => StorageError::IsADirectory(path),
            io::ErrorKind::AlreadyExists => StorageError::AlreadyExists(path),
            io::ErrorKind::DirectoryNotEmpty => StorageError::NotEmpty(path),
            io::ErrorKind::InvalidFilename => StorageError::InvalidName("the name is too long"),
            io::ErrorKind::StorageFull => StorageError::NoSpace { path },
            io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
                StorageError::OverQuota { path }
            }
            _ => StorageError::Io { path, source },
        }
    }
}
