//! Resumed and appending uploads (REST + STOR, APPE): what they keep of the
//! file they replace, when that part is put in their temporary, how many
//! may run at once, and when they may be put in place.
//!
//! Such an upload still goes through a temporary and a rename, so readers
//! never see part of it; but its temporary must start with the kept part
//! of the old file. Three rules bound what that costs and keep it correct:
//!
//! - **Nothing before data.** Beginning the upload only checks the offset
//!   and opens the old file; the kept part goes into the temporary at the
//!   first write (or at commit when no data came, so that an empty APPE
//!   leaves the file as it was). Copying it before the 150 reply let ten
//!   sessions that never open their data connection each hold a copy of a
//!   200 MB file until the data timeout.
//! - **Shared blocks where possible.** The kept part is cloned with
//!   `FICLONE` (btrfs, XFS, bcachefs, overlayfs over those) and then cut to
//!   its length, which costs no data blocks; elsewhere (ext4, tmpfs) it is
//!   copied by the kernel (`copy_file_range(2)`, which `io::copy` between
//!   files uses): one copy of the file while the upload runs. (Recent
//!   kernels often clone within `copy_file_range` too, where they can;
//!   `FICLONE` asks for it outright, in one call for the whole file.)
//! - **One per target.** At most one such upload of a target (its
//!   directory's device and inode, and its name there) runs at a time; a
//!   second one is [`StorageError::Busy`] (450) before any data is
//!   accepted. Two APPEs at once used to both get 226 while the later
//!   rename threw away the other's bytes. Plain STOR is not bounded: it
//!   keeps nothing, and of two concurrent ones the last rename wins whole.
//!
//! And one rule at commit: a resumed or appending upload is put in place
//! only over the very file it started from. If a STOR, RNTO or DELE
//! replaced or removed the target meanwhile, or someone wrote to the old
//! file, the commit fails (451, nothing kept) rather than put the old
//! content plus the appended bytes over the newer file. The check and the
//! rename happen under the lock of the set of targets (held for a `stat`
//! and a `rename`, never while data moves), and a plain upload whose
//! target is being resumed renames under that lock too, so the two never
//! interleave; a rename or delete by another process (or by RNTO and DELE,
//! which do not take the lock) can still slip into the microseconds
//! between the check and the rename.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use cap_std::fs::{Dir, MetadataExt};

use super::{fail, LocalDisk};
use crate::storage::{Keep, StorageError, VirtualPath};

/// Where an upload goes: the device and inode of its directory and its
/// name there. One directory reached by two paths (through a link) is one
/// directory here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Target {
    dev: u64,
    ino: u64,
    name: String,
}

impl Target {
    /// The target `name` in the directory `dir`.
    pub fn of(dir: &Dir, name: &str) -> io::Result<Target> {
        let meta = dir.dir_metadata()?;
        Ok(Target {
            dev: meta.dev(),
            ino: meta.ino(),
            name: name.to_string(),
        })
    }
}

/// The targets with a resumed or appending upload in progress. One set for
/// the process, not one per [`LocalDisk`]: two back ends over one tree
/// still see each other's uploads.
static RESUMING: Mutex<BTreeSet<Target>> = Mutex::new(BTreeSet::new());

/// The set of targets being resumed, locked. Every change to it is one
/// insert or remove, so a panic elsewhere while it was held cannot have
/// left it half-changed: a poisoned lock is used as it is.
pub(super) fn resuming() -> MutexGuard<'static, BTreeSet<Target>> {
    RESUMING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A target's place in [`RESUMING`], held by one upload; freed when
/// dropped.
#[derive(Debug)]
struct Claim(Option<Target>);

impl Claim {
    /// Claims `target`; `None` if another upload holds it.
    fn take(target: &Target) -> Option<Claim> {
        resuming()
            .insert(target.clone())
            .then(|| Claim(Some(target.clone())))
    }

    /// Frees the target in the set the caller has locked already.
    fn release_in(mut self, set: &mut BTreeSet<Target>) {
        if let Some(target) = self.0.take() {
            set.remove(&target);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(target) = self.0.take() {
            resuming().remove(&target);
        }
    }
}

/// The old file as it was when the upload began.
#[derive(Debug)]
struct Base {
    /// Open from the start, so that the kept bytes come from the file that
    /// was checked, whatever happens to its name meanwhile.
    file: File,
    len: u64,
    modified: Option<SystemTime>,
}

/// What a resumed or appending upload keeps of the file it replaces, and
/// what that file was.
#[derive(Debug)]
pub(super) struct Resume {
    claim: Claim,
    /// The target's entry (device, inode) when the upload began, a link
    /// being itself; `None` when there was none.
    entry: Option<(u64, u64)>,
    /// The old file; `None` when the target did not exist (APPE creates).
    base: Option<Base>,
    /// How many of its first bytes the upload keeps.
    keep: u64,
    /// Whether those bytes are in the temporary yet.
    placed: bool,
}

impl Resume {
    /// Claims `target` for the upload to `path` and checks what `keep`
    /// asks of the current file (an offset past its end is
    /// [`StorageError::BadOffset`]), copying nothing.
    pub fn begin(
        disk: &LocalDisk,
        dir: &Dir,
        target: &Target,
        path: &VirtualPath,
        keep: Keep,
    ) -> Result<Resume, StorageError> {
        let claim = Claim::take(target).ok_or_else(|| StorageError::Busy(path.clone()))?;
        // The entry is looked at before the file is opened: if the two are
        // swapped in between, the commit sees another entry and refuses,
        // rather than accept the new entry with the old file's bytes.
        let entry = entry_of(dir, &target.name).map_err(|e| fail(path, e))?;
        let base = match disk.open_file(path) {
            Ok((file, len)) => {
                let modified = file.metadata().and_then(|m| m.modified()).ok();
                Some(Base {
                    file,
                    len,
                    modified,
                })
            }
            Err(StorageError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let size = base.as_ref().map_or(0, |b| b.len);
        let keep = match keep {
            Keep::Nothing => 0,
            Keep::All => size,
            Keep::First(offset) if offset <= size => offset,
            Keep::First(offset) => {
                return Err(StorageError::BadOffset {
                    path: path.clone(),
                    offset,
                    size,
                })
            }
        };
        Ok(Resume {
            claim,
            entry,
            base,
            keep,
            placed: false,
        })
    }

    /// Puts the kept part in the temporary `temp` and positions it after
    /// that part, the first time it is called. A failed attempt is undone
    /// by the next one, which starts over from an empty temporary.
    pub fn fill(&mut self, temp: &mut File) -> io::Result<()> {
        if self.placed {
            return Ok(());
        }
        temp.set_len(0)?;
        if let Some(base) = &self.base {
            if self.keep > 0 {
                copy_start(&base.file, self.keep, temp)?;
            }
        }
        temp.seek(SeekFrom::Start(self.keep))?;
        self.placed = true;
        Ok(())
    }

    /// Whether `name` in `dir` is still the file this upload started from:
    /// the same entry under that name, and the old file not written to
    /// since.
    fn unchanged(&self, dir: &Dir, name: &str) -> io::Result<bool> {
        if entry_of(dir, name)? != self.entry {
            return Ok(false);
        }
        let Some(base) = &self.base else {
            return Ok(true);
        };
        let now = base.file.metadata()?;
        Ok(now.len() == base.len && now.modified().ok() == base.modified)
    }

    /// Puts the upload in place with `place` (the rename of its temporary)
    /// if its target is unchanged, and frees the target, as one step under
    /// the lock of [`RESUMING`].
    pub fn commit(
        self,
        dir: &Dir,
        name: &str,
        place: impl FnOnce() -> io::Result<()>,
    ) -> io::Result<()> {
        let mut set = resuming();
        let placed = match self.unchanged(dir, name) {
            Ok(true) => place(),
            Ok(false) => Err(changed()),
            Err(e) => Err(e),
        };
        let Resume { claim, .. } = self;
        claim.release_in(&mut set);
        placed
    }
}

/// Puts a plain upload (which keeps nothing) to `target` in place with
/// `place`. If `target` is being resumed, the rename happens under the
/// lock, so that the resumed upload's check and rename come wholly before
/// or wholly after it (and after it, see that its file was replaced).
pub(super) fn commit_plain(
    target: &Target,
    place: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let set = resuming();
    if set.contains(target) {
        return place();
    }
    // Nobody resumes it: one that begins after this point opens the file
    // that is there now, and its own commit will notice the rename.
    drop(set);
    place()
}

/// The device and inode of the entry `name` in `dir` (a link itself, not
/// its target); `None` if there is none.
fn entry_of(dir: &Dir, name: &str) -> io::Result<Option<(u64, u64)>> {
    match dir.symlink_metadata(name) {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The error of a resumed upload whose file changed under it.
fn changed() -> io::Error {
    io::Error::other(
        "the file was replaced, removed or written to while this upload resumed or appended \
         to it; nothing was kept",
    )
}

/// The first `len` bytes of `source` into the empty `into`: shared blocks
/// where the file system can clone them, else copied in the kernel.
fn copy_start(source: &File, len: u64, into: &mut File) -> io::Result<()> {
    if source.metadata()?.len() < len {
        return Err(changed());
    }
    // FICLONE shares the whole file's blocks (a range clone would need
    // block-aligned ends); cutting the clone to `len` drops the rest. It
    // fails with EOPNOTSUPP on ext4 and tmpfs, EXDEV across file systems:
    // then the bytes are copied.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if rustix::fs::ioctl_ficlone(&*into, source).is_ok() {
        into.set_len(len)?;
        return Ok(());
    }
    // `&File` is read from its own offset, which nothing else moves; from
    // one file to another `io::copy` is copy_file_range(2).
    let mut from = source;
    from.seek(SeekFrom::Start(0))?;
    let copied = io::copy(&mut from.take(len), into)?;
    if copied < len {
        return Err(changed());
    }
    Ok(())
}
