//! The data connection's plan and the commands that use it: PORT/EPRT and
//! PASV/EPSV (RFC 959 §4.1.2, RFC 2428), RETR/STOR/APPE/STOU and
//! LIST/NLST/MLSD (RFC 959 §4.1.3, RFC 3659 §7), REST (RFC 3659 §5) and
//! ABOR, and the final reply of a transfer from its [`Outcome`].
//!
//! A transfer command sends 150 and asks the driver to start the transfer;
//! the driver answers with the outcome, and the session sends the final
//! reply (226, or the failure's code): the session is the only writer of
//! the control connection.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use super::{Action, LogEntry, PassiveRequest, Running, Session};
use crate::protocol::address::{format_epsv_port, format_host_port};
use crate::protocol::command::EpsvMode;
use crate::protocol::{ReplyCode, TransferType};
use crate::server::accounts::Permission;
use crate::server::failure::Failure;
use crate::server::listing::{split_flags, Format, Listing};
use crate::server::log::Direction;
use crate::server::time::mdtm;
use crate::server::transfer::{Job, Outcome, Plan, Transfer};
use crate::storage::{Keep, StorageError, VirtualPath};
use crate::transport::data::{canonical_ip, DataError};

/// Everything a transfer command prepared before its 150.
struct Prepared {
    job: Job,
    path: VirtualPath,
    direction: Direction,
    opening: String,
    note: Option<String>,
}

impl Session {
    /// PORT/EPRT. RFC 2577 §"Protecting Against the Bounce Attack": the
    /// server connects only to the control peer's own address and never to
    /// a privileged port, or it could be made to attack a third host.
    pub(super) fn active(&mut self, addr: SocketAddr, verb: &str) {
        self.set_plan(None);
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "EPSV ALL was given: only EPSV may set up data connections",
            );
        }
        let peer = canonical_ip(self.peer.ip());
        if canonical_ip(addr.ip()) != peer {
            return self.reply(
                ReplyCode::ARGUMENT_ERROR,
                format!(
                    "{verb} refused: data connections go only to your own address {peer}, not {}",
                    addr.ip()
                ),
            );
        }
        if addr.port() < 1024 {
            return self.reply(
                ReplyCode::ARGUMENT_ERROR,
                format!(
                    "{verb} refused: port {} is below 1024; use a port from 1024 up",
                    addr.port()
                ),
            );
        }
        self.set_plan(Some(Plan::Active(addr)));
        self.reply(
            ReplyCode::COMMAND_OK,
            format!("{verb} ok: the data connection will go to {addr}"),
        )
    }

    pub(super) fn pasv(&mut self) {
        self.set_plan(None);
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "EPSV ALL was given: only EPSV may set up data connections",
            );
        }
        let announced =
            match (self.config.pasv_address, canonical_ip(self.local.ip())) {
                (Some(ip), _) => ip,
                (None, IpAddr::V4(ip)) => ip,
                (None, IpAddr::V6(_)) => return self.reply(
                    ReplyCode::CANT_OPEN_DATA,
                    "PASV can only describe IPv4 addresses and this connection is IPv6: use EPSV",
                ),
            };
        self.passive_request = Some(PassiveRequest::Pasv(announced));
        self.act(Action::OpenPassive);
    }

    pub(super) fn epsv(&mut self, mode: EpsvMode) {
        self.set_plan(None);
        let family = if canonical_ip(self.local.ip()).is_ipv4() {
            1
        } else {
            2
        };
        match mode {
            EpsvMode::All => {
                self.epsv_all = true;
                return self.reply(ReplyCode::COMMAND_OK, "EPSV ALL ok: only EPSV from now on");
            }
            EpsvMode::Family(f) if f != family => {
                return self.reply(
                    ReplyCode::PROTOCOL_NOT_SUPPORTED,
                    format!("this connection can only use network protocol ({family})"),
                );
            }
            _ => {}
        }
        self.passive_request = Some(PassiveRequest::Epsv);
        self.act(Action::OpenPassive);
    }

    /// The driver opened (or could not open) the passive listener.
    pub(super) fn passive_opened(&mut self, result: Result<u16, DataError>) {
        let Some(request) = self.passive_request.take() else {
            return;
        };
        let port = match result {
            Ok(port) => port,
            Err(e) => return self.fail(e),
        };
        self.plan = Some(Plan::Passive { port });
        self.plan_expires = self.instant.map(|t| t + self.config.data_timeout);
        match request {
            PassiveRequest::Pasv(ip) => {
                let hp = format_host_port(SocketAddrV4::new(ip, port));
                self.reply(
                    ReplyCode::ENTERING_PASSIVE,
                    format!("Entering Passive Mode ({hp})."),
                )
            }
            PassiveRequest::Epsv => self.reply(
                ReplyCode::ENTERING_EXTENDED_PASSIVE,
                format!("Entering Extended Passive Mode {}", format_epsv_port(port)),
            ),
        }
    }

    fn mode_name(&self) -> &'static str {
        match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    }

    /// Uses up the plan: sends 150 and starts the transfer, or answers why
    /// not. A command that fails before its 150 still discards the plan, so
    /// no data port outlives the command meant to use it.
    fn begin(&mut self, prepared: Result<Prepared, Failure>) {
        if self.refuse_clear_data() {
            // Refused like any failed transfer command: the plan goes too.
            return self.set_plan(None);
        }
        let plan = self.plan.take();
        self.plan_expires = None;
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.plan = plan;
                self.set_plan(None);
                return self.fail(e);
            }
        };
        let Some(plan) = plan else {
            return self.reply(
                ReplyCode::CANT_OPEN_DATA,
                "no data connection: send PASV or EPSV (or PORT/EPRT) first",
            );
        };
        self.reply(ReplyCode::FILE_STATUS_OK, prepared.opening);
        self.running = Some(Running {
            path: prepared.path,
            direction: prepared.direction,
            note: prepared.note,
            abors: 0,
        });
        self.act(Action::StartTransfer(Box::new(Transfer {
            plan,
            job: prepared.job,
            ascii: self.transfer_type == TransferType::Ascii,
            protect: self.tls.protects_data(),
        })));
    }

    pub(super) fn retr(&mut self, path: &str, rest: u64) {
        let prepared = self.resolve(path).and_then(|v| {
            self.allow(&v, Permission::Download)?;
            let file = self.storage().open_read(&v, rest)?;
            let opening = format!(
                "opening {} mode data connection for {v} ({} bytes)",
                self.mode_name(),
                file.size() - rest
            );
            Ok(Prepared {
                job: Job::Send(file),
                path: v,
                direction: Direction::Download,
                opening,
                note: None,
            })
        });
        self.begin(prepared)
    }

    /// STOR, APPE, REST + STOR and STOU (`stou`: a fresh name).
    fn upload(&mut self, path: &str, keep: Keep, stou: bool) {
        let prepared = self.resolve(path).and_then(|v| {
            let no_clobber = self.may_not_replace(&v, keep)? || stou;
            let upload = self.storage().begin_upload(&v, keep, no_clobber)?;
            let (opening, note) = if stou {
                // RFC 1123 §4.1.2.9: the 150 reply to STOU names the file.
                let name = v.file_name().unwrap_or_default().to_string();
                (format!("FILE: {name}"), Some(format!("stored as {name}")))
            } else {
                (
                    format!("opening {} mode data connection for {v}", self.mode_name()),
                    None,
                )
            };
            Ok(Prepared {
                job: Job::Receive(upload),
                path: v,
                direction: Direction::Upload,
                opening,
                note,
            })
        });
        self.begin(prepared)
    }

    /// Checks the permissions of an upload to `v`: `append` to keep any of
    /// the old file (APPE, REST + STOR; with `upload` too when there is no
    /// old file, and `overwrite` too when REST stops short of its end),
    /// `upload` for a new name, and `overwrite` too for an existing one. True when the account may not
    /// replace a file there: the upload is then made no-clobber, so that
    /// a file created by someone else after this check is not replaced
    /// either (the commit fails instead).
    fn may_not_replace(&self, v: &VirtualPath, keep: Keep) -> Result<bool, Failure> {
        if keep != Keep::Nothing {
            self.allow(v, Permission::Append)?;
            match (self.storage().stat(v), keep) {
                // APPE or REST + STOR of a name that is not there makes a
                // new file: that is an upload, whatever it is called.
                (Err(_), _) => self.allow(v, Permission::Upload)?,
                // REST n + STOR short of the end rewrites the bytes after
                // n: that is an overwrite, not an append.
                (Ok(meta), Keep::First(n)) if n < meta.len => {
                    self.allow(v, Permission::Overwrite)?
                }
                _ => {}
            }
            return Ok(false);
        }
        self.allow(v, Permission::Upload)?;
        let exists = self.storage().lstat(v).is_ok();
        if exists {
            self.allow(v, Permission::Overwrite)?;
        }
        Ok(self.allow(v, Permission::Overwrite).is_err())
    }

    pub(super) fn stor(&mut self, path: &str, rest: u64) {
        let keep = if rest > 0 {
            Keep::First(rest)
        } else {
            Keep::Nothing
        };
        self.upload(path, keep, false)
    }

    pub(super) fn appe(&mut self, path: &str) {
        self.upload(path, Keep::All, false)
    }

    pub(super) fn stou(&mut self) {
        let stem = format!("stou.{}", mdtm(self.now));
        match self.storage().unique_name(&self.cwd, &stem) {
            Ok(v) => self.upload(v.as_str(), Keep::Nothing, true),
            Err(e) => self.begin(Err(e.into())),
        }
    }

    fn listing(&mut self, path: Option<&str>, format: Format) {
        let prepared = self.resolve(path.unwrap_or(".")).and_then(|v| {
            self.allow(&v, Permission::List)?;
            let listing = match Listing::open(self.storage(), &v, format) {
                Err(StorageError::NotADirectory(v)) if matches!(format, Format::Machine { .. }) => {
                    return Err(Failure::MlsdOfAFile(v));
                }
                other => other?,
            };
            Ok(Prepared {
                job: Job::Listing(listing),
                opening: format!("here comes the listing of {v}"),
                path: v,
                direction: Direction::Listing,
                note: None,
            })
        });
        self.begin(prepared)
    }

    pub(super) fn list(&mut self, arg: Option<&str>) {
        let (flags, path) = split_flags(arg);
        self.listing(path, Format::Long(flags))
    }

    pub(super) fn nlst(&mut self, arg: Option<&str>) {
        let (flags, path) = split_flags(arg);
        self.listing(path, Format::Names(flags))
    }

    pub(super) fn mlsd(&mut self, arg: Option<&str>) {
        let dir = self.resolve(arg.unwrap_or("."));
        let writable = dir.is_ok_and(|v| self.writable(&v));
        let format = Format::Machine {
            facts: self.facts,
            writable,
        };
        self.listing(arg, format)
    }

    pub(super) fn abor(&mut self) {
        match self.running.as_mut() {
            Some(running) => {
                // The transfer's own reply (426, or 226 if it completed
                // first) comes with its outcome, then ABOR's.
                running.abors += 1;
                if running.abors == 1 {
                    self.act(Action::AbortTransfer);
                }
            }
            None => {
                self.set_plan(None);
                self.reply(ReplyCode::DATA_OPEN, "no transfer to abort")
            }
        }
    }

    /// The final reply of the running transfer, and ABOR's if it was asked.
    pub(super) fn transfer_done(&mut self, outcome: Outcome) {
        let Some(running) = self.running.take() else {
            return;
        };
        let path = running.path.as_str().to_string();
        let (bytes, result_text, reply) = match outcome.result {
            Ok(()) => {
                let note = running.note.map(|n| format!("; {n}")).unwrap_or_default();
                let secs = outcome.elapsed.as_secs_f64();
                let text = format!(
                    "transfer complete: {} bytes in {secs:.3} s{note}",
                    outcome.bytes
                );
                (
                    outcome.bytes,
                    "ok".to_string(),
                    crate::protocol::Reply::new(ReplyCode::TRANSFER_COMPLETE, text),
                )
            }
            Err(error) => {
                let text = error.log_text();
                let failure = Failure::Transfer {
                    path: running.path,
                    error,
                };
                (0, text, failure.reply())
            }
        };
        let aborted = reply.code() == ReplyCode::TRANSFER_ABORTED;
        let user = self.user().map(str::to_string);
        self.act(Action::Log(Box::new(LogEntry::Transfer {
            user,
            direction: running.direction,
            path,
            bytes,
            elapsed: outcome.elapsed,
            result: result_text,
        })));
        self.send(reply);
        // One reply per ABOR: the first says what became of the transfer,
        // any further one that there is nothing left to abort.
        for n in 0..running.abors {
            if n == 0 && aborted {
                self.reply(
                    ReplyCode::TRANSFER_COMPLETE,
                    "ABOR ok: the transfer was aborted",
                )
            } else if n == 0 {
                self.reply(
                    ReplyCode::DATA_OPEN,
                    "no transfer to abort: it had already finished",
                )
            } else {
                self.reply(ReplyCode::DATA_OPEN, "no transfer to abort")
            }
        }
    }
}
