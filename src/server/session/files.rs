//! Commands on the served tree that need no data connection (RFC 959
//! §4.1.1 and §4.1.3, RFC 3659 §3, §4 and §7): CWD, SIZE, MDTM, MKD, RMD,
//! DELE, RNFR/RNTO, MLST and STAT with a path, and MFMT
//! (draft-somers-ftp-mfxx §3). Each resolves its argument
//! against the working directory and asks the storage; failures are
//! answered through [`Failure`](crate::server::failure::Failure).

use super::{Action, Session};
use crate::protocol::{Reply, ReplyCode, TimeVal};
use crate::server::accounts::Permission;
use crate::server::failure::Failure;
use crate::server::listing::{split_flags, Format, Listing, ListingReply};
use crate::server::mlsx;
use crate::server::time::mdtm;
use crate::storage::{Metadata, StorageError, VirtualPath};

impl Session {
    pub(super) fn cwd(&mut self, path: &str) {
        let target = self.resolve(path).and_then(|v| {
            let meta = self.storage().stat(&v)?;
            if meta.is_dir() {
                Ok(v)
            } else {
                Err(StorageError::NotADirectory(v).into())
            }
        });
        match target {
            Ok(v) => {
                let text = format!("directory changed to {v}");
                self.cwd = v;
                self.reply(ReplyCode::FILE_ACTION_OK, text)
            }
            Err(e) => self.fail(e),
        }
    }

    /// The metadata of the regular file `path` (SIZE and MDTM apply to
    /// files only: RFC 3659 §3.1, §4.1). They need `list` or `download`:
    /// a listing shows the same facts, and a download client asks them.
    fn file_meta(&self, path: &str) -> Result<Metadata, Failure> {
        let v = self.resolve(path)?;
        self.allow_any(&v, &[Permission::List, Permission::Download])?;
        let meta = self.storage().stat(&v)?;
        if meta.is_dir() {
            return Err(StorageError::IsADirectory(v).into());
        }
        if !meta.is_file() {
            return Err(StorageError::NotAFile(v).into());
        }
        Ok(meta)
    }

    pub(super) fn size(&mut self, path: &str) {
        match self.file_meta(path) {
            Ok(meta) => self.reply(ReplyCode::FILE_STATUS, meta.len.to_string()),
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn mdtm(&mut self, path: &str) {
        match self.file_meta(path) {
            Ok(meta) => self.reply(ReplyCode::FILE_STATUS, mdtm(meta.modified)),
            Err(e) => self.fail(e),
        }
    }

    /// MFMT: sets the modification time of the regular file `path` and
    /// answers `213 Modify=TIME; PATH` (draft-somers-ftp-mfxx §3.2). A
    /// directory or a missing file is 550, as pyftpdlib answers; a bad
    /// time never reaches here (the parser answers 501). A write: the
    /// verb table refuses it on a read-only server, and the account needs
    /// `overwrite` there (checked before the file is looked at, so it
    /// tells nothing to an account without it).
    pub(super) fn mfmt(&mut self, time: TimeVal, path: &str) {
        let done = self.resolve(path).and_then(|v| {
            self.allow(&v, Permission::Overwrite)?;
            let meta = self.storage().stat(&v)?;
            if meta.is_dir() {
                return Err(StorageError::IsADirectory(v).into());
            }
            if !meta.is_file() {
                return Err(StorageError::NotAFile(v).into());
            }
            self.storage().set_modified(&v, time.to_system_time())?;
            Ok(())
        });
        match done {
            Ok(()) => self.reply(ReplyCode::FILE_STATUS, format!("Modify={time}; {path}")),
            Err(e) => self.fail(e),
        }
    }

    /// Runs a storage operation on `path` if the account has `permission`
    /// there, answering `ok(path)` on success.
    fn on_path(
        &mut self,
        path: &str,
        permission: Permission,
        op: impl FnOnce(&Self, &VirtualPath) -> Result<(), Failure>,
        ok: impl FnOnce(&VirtualPath) -> Reply,
    ) {
        let done = self.resolve(path).and_then(|v| {
            self.allow(&v, permission)?;
            op(self, &v).map(|_| v)
        });
        match done {
            Ok(v) => self.send(ok(&v)),
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn mkd(&mut self, path: &str) {
        self.on_path(
            path,
            Permission::Mkdir,
            |s, v| Ok(s.storage().mkdir(v)?),
            |v| Reply::new(ReplyCode::PATH_CREATED, format!("{} created", v.quoted())),
        )
    }

    pub(super) fn rmd(&mut self, path: &str) {
        self.on_path(
            path,
            Permission::Rmdir,
            |s, v| Ok(s.storage().rmdir(v)?),
            |v| Reply::new(ReplyCode::FILE_ACTION_OK, format!("{v}: directory removed")),
        )
    }

    pub(super) fn dele(&mut self, path: &str) {
        self.on_path(
            path,
            Permission::Delete,
            |s, v| Ok(s.storage().delete(v)?),
            |v| Reply::new(ReplyCode::FILE_ACTION_OK, format!("{v}: file deleted")),
        )
    }

    pub(super) fn rnfr(&mut self, path: &str) {
        let named = self.resolve(path).and_then(|v| {
            if v.is_root() {
                return Err(
                    StorageError::InvalidName("the root directory cannot be replaced").into(),
                );
            }
            self.allow(&v, Permission::Rename)?;
            self.movable(&v)?;
            // The entry itself: a link is renamed, not followed.
            self.storage().lstat(&v)?;
            Ok(v)
        });
        match named {
            Ok(v) => {
                let text = format!("{v} exists; send RNTO with the new name");
                self.rename_from = Some(v);
                self.reply(ReplyCode::PENDING, text)
            }
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn rnto(&mut self, path: &str, from: Option<VirtualPath>) {
        let Some(from) = from else {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "send RNFR first to name the file to rename",
            );
        };
        self.on_path(
            path,
            Permission::Rename,
            |s, to| {
                s.movable(to)?;
                // Renaming onto an existing name destroys what was there,
                // as STOR onto it would.
                if s.storage().lstat(to).is_ok() {
                    s.allow(to, Permission::Overwrite)?;
                }
                Ok(s.storage().rename(&from, to)?)
            },
            |to| Reply::new(ReplyCode::FILE_ACTION_OK, format!("renamed {from} to {to}")),
        )
    }

    pub(super) fn mlst(&mut self, arg: Option<&str>) {
        let entry = self.resolve(arg.unwrap_or(".")).and_then(|v| {
            self.allow(&v, Permission::List)?;
            let writable = self.writable(&v);
            let entry = mlsx::mlst(self.storage().as_ref(), &v, self.facts, writable)?;
            Ok((v, entry))
        });
        match entry {
            Ok((v, entry)) => {
                let lines = [
                    format!("Listing {v}"),
                    format!(" {entry}"),
                    "End".to_string(),
                ];
                self.send(Reply::multi(ReplyCode::FILE_ACTION_OK, lines))
            }
            Err(e) => self.fail(e),
        }
    }

    /// STAT with a path: the LIST lines, on the control connection,
    /// written by the driver as they are produced.
    pub(super) fn stat_path(&mut self, arg: &str) {
        let (flags, path) = split_flags(Some(arg));
        let listed = self.resolve(path.unwrap_or(".")).and_then(|v| {
            self.allow(&v, Permission::List)?;
            let listing = Listing::open(self.storage(), &v, Format::Long(flags))?;
            Ok(ListingReply {
                code: ReplyCode::FILE_STATUS,
                first: format!("Status of {v}:"),
                listing,
                last: "End of status".to_string(),
            })
        });
        match listed {
            Ok(reply) => self.act(Action::ReplyListing(Box::new(reply))),
            Err(e) => self.fail(e),
        }
    }
}
