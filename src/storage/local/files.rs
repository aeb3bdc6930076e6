//! What LocalDisk hands out: a directory listing streamed from its handle,
//! a file open for reading, and an upload in progress in a handle of its
//! directory (what a resumed one keeps is in [`super::resume`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;

use cap_std::fs::{Dir, ReadDir};

use super::resume::{commit_plain, Resume, Target};
use super::{convert, fail, is_temp_name, Registry};
use crate::storage::{Entry, ReadFile, StorageError, Upload, VirtualPath, LARGE_WRITE};

/// A directory being listed: its handle (for reading links) and its entries.
#[derive(Debug)]
pub(super) struct Listing {
    pub dir: Dir,
    pub entries: ReadDir,
    pub path: VirtualPath,
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
pub(super) struct LocalFile {
    pub file: File,
    pub size: u64,
    pub path: VirtualPath,
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

    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn as_local_file(&mut self) -> Option<&mut File> {
        Some(&mut self.file)
    }
}

/// An upload in progress: a temporary file in a handle of its directory.
/// Dropped without [`commit`](Upload::commit), it removes the temporary.
#[derive(Debug)]
pub(super) struct LocalUpload {
    /// `None` once committed or aborted.
    pub file: Option<File>,
    /// The target's directory, wherever it is renamed to meanwhile.
    pub dir: Arc<Dir>,
    pub temp: String,
    pub name: String,
    pub path: VirtualPath,
    pub no_clobber: bool,
    pub id: u64,
    pub active: Registry,
    /// The target as a key of the set of targets being resumed.
    pub target: Target,
    /// REST + STOR and APPE: what is kept of the old file, put in the
    /// temporary at the first write or at commit.
    pub resume: Option<Resume>,
    /// See [`write_size_for`].
    pub write_size: usize,
}

/// Small writes on tmpfs, large ones elsewhere. Measured with curl and
/// lftp uploading 1 GiB (bench/RESULTS.md, issue 16): on tmpfs, 64 KiB
/// writes went 1.1-1.7x faster than 1 MiB ones and cost the sending
/// client less CPU (probably because the socket is read more often, so its
/// queue stays short and in cache); on ext4, 1 MiB writes went about twice
/// as fast as 64 KiB ones for uploads back to back and level with a pause
/// between them. Where the file system cannot be told, large writes.
pub(super) fn write_size_for(file: &File) -> usize {
    use nix::sys::statfs::{fstatfs, TMPFS_MAGIC};
    match fstatfs(file) {
        Ok(fs) if fs.filesystem_type() == TMPFS_MAGIC => SMALL_WRITE,
        _ => LARGE_WRITE,
    }
}

/// What pyftpdlib reads and writes at a time, too.
const SMALL_WRITE: usize = 64 << 10;

impl LocalUpload {
    pub(super) fn deregister(&self) {
        self.active.lock().expect("registry lock").remove(&self.id);
    }

    /// Renames (or, for STOU, links) the temporary to the target's name.
    fn place(&self) -> io::Result<()> {
        let dir = &self.dir;
        if self.no_clobber {
            // link(2) fails if the name exists: no race with another upload.
            dir.hard_link(&self.temp, dir, &self.name)
                .and_then(|()| dir.remove_file(&self.temp))
        } else {
            dir.rename(&self.temp, dir, &self.name)
        }
    }
}

fn finished() -> io::Error {
    io::Error::other("the upload is finished")
}

impl Write for LocalUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().ok_or_else(finished)?;
        if let Some(resume) = &mut self.resume {
            // Data has come: now the kept part costs its blocks.
            resume.fill(file)?;
        }
        file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().ok_or_else(finished)?.flush()
    }
}

impl Upload for LocalUpload {
    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn write_size(&self) -> usize {
        self.write_size
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| fail(&self.path, finished()))?;
        let mut resume = self.resume.take();
        // An upload that received nothing keeps the old part all the same:
        // an empty APPE leaves the file as it was.
        let filled = match &mut resume {
            Some(resume) => resume.fill(&mut file),
            None => Ok(()),
        };
        drop(file);
        let placed = filled.and_then(|()| match resume {
            Some(resume) => resume.commit(&self.dir, &self.name, || self.place()),
            None => commit_plain(&self.target, || self.place()),
        });
        self.deregister();
        placed.map_err(|e| {
            let _ = self.dir.remove_file(&self.temp);
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
