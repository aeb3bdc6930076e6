//! One control connection: the session state machine and command dispatch.
//!
//! States (spec/PROTOCOL.md §"Session state machine"):
//!
//! ```text
//! connected --220--> AwaitUser --USER/331--> AwaitPass --PASS ok/230--> LoggedIn
//!                        ^                       |  PASS bad/530             |
//!                        +-----------------------+---------------------------+ (REIN)
//! ```
//!
//! Before login only USER, PASS, QUIT, NOOP, SYST, FEAT, HELP and OPTS are
//! served; the rest get 530. A transfer command consumes the data-connection
//! plan set up by PASV/EPSV/PORT/EPRT whether it succeeds or not, so a failed
//! command never leaves a half-used data port behind. Transfers run on their
//! own thread ([`transfer`](super::transfer)); this thread keeps reading the
//! control connection, so ABOR works, and joins the transfer before it
//! answers anything else, so replies stay in order.
//!
//! Every failure is answered with a reply that says what failed and why, and
//! the session goes on: only QUIT, the idle timeout, too many failed logins
//! and a lost control connection end it.

use std::io::{self, Seek, SeekFrom, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::Arc;

use super::auth::{is_anonymous, Login};
use super::fs::{FsError, Keep, VirtualPath};
use super::listing::{self, split_flags};
use super::log::{Direction, Log, LogLevel};
use super::mlsx::{self, FactSet};
use super::transfer::{self, Job, Plan, Request, Running};
use super::{help, Shared};
use crate::control::{LineReader, SharedStream};
use crate::data::{canonical_ip, PassiveListener};
use crate::limits::{MAX_LINE, MAX_LOGIN_FAILURES};
use crate::protocol::address::{format_epsv_port, format_host_port};
use crate::protocol::command::{shown_in_logs, EpsvMode};
use crate::protocol::{
    parse_command, Command, CommandError, Frame, Reply, ReplyCode, TransferType,
};
use crate::time::mdtm;

/// Where the session is in the login sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitUser,
    AwaitPass { user: String },
    LoggedIn { user: String },
}

/// Whether the session goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// Runs one session to its end. Errors on the control connection end the
/// session quietly: the peer is gone and there is nobody to tell.
pub(super) fn run(stream: TcpStream, shared: Arc<Shared>) {
    let Ok(peer) = stream.peer_addr() else { return };
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let stream = SharedStream::new(stream);
    let mut session = Session {
        shared: Arc::clone(&shared),
        reader: LineReader::new(stream.clone()),
        writer: stream,
        peer,
        local,
        state: State::AwaitUser,
        failures: 0,
        cwd: VirtualPath::root(),
        transfer_type: TransferType::Ascii,
        plan: None,
        epsv_all: false,
        rest: 0,
        rename_from: None,
        facts: FactSet::default(),
        transfer: None,
    };
    shared.log.event(peer, None, format_args!("connected"));
    let outcome = session.serve();
    // A client that hangs up mid-transfer: cut the transfer too, so its
    // thread, descriptors and temporary file go now.
    if let Some(t) = session.transfer.take() {
        t.abort();
    }
    let user = session.user().map(str::to_string);
    match outcome {
        Ok(()) => shared
            .log
            .event(peer, user.as_deref(), format_args!("disconnected")),
        Err(e) => shared
            .log
            .event(peer, user.as_deref(), format_args!("connection lost: {e}")),
    }
}

struct Session {
    shared: Arc<Shared>,
    reader: LineReader<SharedStream>,
    writer: SharedStream,
    peer: SocketAddr,
    local: SocketAddr,
    state: State,
    failures: u32,
    cwd: VirtualPath,
    transfer_type: TransferType,
    plan: Option<Plan>,
    epsv_all: bool,
    rest: u64,
    rename_from: Option<VirtualPath>,
    facts: FactSet,
    transfer: Option<Running>,
}

impl Session {
    fn user(&self) -> Option<&str> {
        match &self.state {
            State::LoggedIn { user } | State::AwaitPass { user } => Some(user),
            State::AwaitUser => None,
        }
    }

    fn send(&mut self, reply: Reply) -> io::Result<()> {
        let user = self.user().map(str::to_string);
        send_reply(
            &self.shared.log,
            self.peer,
            user.as_deref(),
            &mut self.writer,
            &reply,
        )
    }

    fn reply(&mut self, code: ReplyCode, text: impl AsRef<str>) -> io::Result<Flow> {
        self.send(Reply::new(code, text))?;
        Ok(Flow::Continue)
    }

    fn serve(&mut self) -> io::Result<()> {
        self.writer
            .get()
            .set_read_timeout(Some(self.shared.idle_timeout))?;
        // A client that never reads its replies must not pin this thread.
        self.writer
            .get()
            .set_write_timeout(Some(self.shared.idle_timeout))?;
        let greeting = if self.shared.auth.anonymous {
            "FTP server ready; log in as anonymous"
        } else {
            "FTP server ready; log in with your user name"
        };
        self.send(Reply::new(ReplyCode::SERVICE_READY, greeting))?;
        loop {
            let frame = match self.reader.read_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // A long transfer is activity, not idleness.
                    if self.transfer.as_ref().is_some_and(|t| !t.is_finished()) {
                        continue;
                    }
                    let secs = self.shared.idle_timeout.as_secs();
                    self.send(Reply::new(
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        format!("idle for {secs} seconds; closing the control connection"),
                    ))?;
                    self.shared
                        .log
                        .event(self.peer, self.user(), format_args!("idle timeout"));
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let flow = match frame {
                Frame::Overlong => {
                    self.settle_transfer();
                    self.reply(
                        ReplyCode::SYNTAX_ERROR,
                        format!("command line too long (the limit is {MAX_LINE} bytes); it was discarded"),
                    )?
                }
                Frame::Line(bytes) => match String::from_utf8(bytes) {
                    Ok(line) => self.line(&line)?,
                    Err(_) => {
                        self.settle_transfer();
                        self.reply(
                            ReplyCode::ARGUMENT_ERROR,
                            "the command line is not valid UTF-8; send names in UTF-8",
                        )?
                    }
                },
            };
            if flow == Flow::Close {
                let _ = self.writer.get().shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }

    /// Waits for a running transfer to send its final reply.
    fn settle_transfer(&mut self) {
        if let Some(t) = self.transfer.take() {
            t.wait();
        }
    }

    fn line(&mut self, line: &str) -> io::Result<Flow> {
        if self.shared.log.level >= LogLevel::Verbose {
            self.shared
                .log
                .dialogue(self.peer, self.user(), "->", shown_in_logs(line));
        }
        let parsed = parse_command(line);
        if !matches!(parsed, Ok(Command::Abor)) {
            self.settle_transfer();
        }
        if line.trim().is_empty() {
            // A person pressing Enter at nc: say what is expected.
            return self.reply(ReplyCode::SYNTAX_ERROR, "empty command line; try HELP");
        }
        match parsed {
            Ok(command) => self.command(command),
            Err(e) => {
                let code = match &e {
                    CommandError::UnknownVerb(_) if e.is_not_implemented() => {
                        ReplyCode::NOT_IMPLEMENTED
                    }
                    CommandError::Syntax | CommandError::UnknownVerb(_) => ReplyCode::SYNTAX_ERROR,
                    CommandError::MissingArgument(_) | CommandError::BadArgument { .. } => {
                        ReplyCode::ARGUMENT_ERROR
                    }
                    CommandError::UnsupportedParameter { .. } => {
                        ReplyCode::PARAMETER_NOT_IMPLEMENTED
                    }
                };
                let text = match code {
                    ReplyCode::NOT_IMPLEMENTED => format!("{e}: not implemented by this server"),
                    _ => e.to_string(),
                };
                self.reply(code, text)
            }
        }
    }

    fn command(&mut self, command: Command) -> io::Result<Flow> {
        use Command::*;
        // REST holds until a transfer command uses or discards it (clients
        // may send it before PASV or TYPE); RNFR applies to the next command
        // only, if that is RNTO.
        let rest = match command {
            Retr(_) | Stor(_) | Appe(_) | Stou | List(_) | Nlst(_) | Mlsd(_) | Rein => {
                std::mem::take(&mut self.rest)
            }
            _ => 0,
        };
        let rename_from = self.rename_from.take();

        let logged_in = matches!(self.state, State::LoggedIn { .. });
        let open_to_all = matches!(
            command,
            User(_) | Pass(_) | Quit | Noop | Syst | Feat | Help(_) | Opts(_)
        );
        if !logged_in && !open_to_all {
            return self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "not logged in: log in with USER and PASS first",
            );
        }
        let writes = matches!(
            command,
            Stor(_) | Stou | Appe(_) | Mkd(_) | Rmd(_) | Dele(_) | Rnfr(_) | Rnto(_)
        );
        if writes && self.shared.read_only {
            // A refused transfer still uses up the data port, like any other.
            if matches!(command, Stor(_) | Stou | Appe(_)) {
                self.plan = None;
            }
            return self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                format!("{} refused: this server is read-only", command.verb()),
            );
        }

        match command {
            User(name) => self.user_command(name),
            Pass(password) => self.pass(&password),
            Acct(_) => self.reply(ReplyCode::SUPERFLUOUS, "ACCT is not needed on this server"),
            Rein => {
                self.state = State::AwaitUser;
                self.cwd = VirtualPath::root();
                self.transfer_type = TransferType::Ascii;
                self.plan = None;
                self.epsv_all = false;
                self.facts = FactSet::default();
                self.reply(ReplyCode::SERVICE_READY, "logged out; ready for a new user")
            }
            Quit => {
                self.send(Reply::new(ReplyCode::CLOSING, "goodbye"))?;
                Ok(Flow::Close)
            }
            Noop => self.reply(ReplyCode::COMMAND_OK, "NOOP ok"),
            Syst => self.reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            Feat => self.feat(),
            Help(verb) => self.help(verb.as_deref()),
            Stat(path) => self.stat(path.as_deref()),
            Opts(option) => self.opts(&option),
            Pwd => {
                let text = format!("{} is the current directory", self.cwd.quoted());
                self.reply(ReplyCode::PATH_CREATED, text)
            }
            Cwd(path) => self.cwd(&path),
            Cdup => self.cwd(".."),
            Type(t) => {
                self.transfer_type = t;
                let text = match t {
                    TransferType::Ascii => "type set to A (ASCII: line ends converted)",
                    TransferType::Image => "type set to I (binary: bytes as stored)",
                };
                self.reply(ReplyCode::COMMAND_OK, text)
            }
            ModeStream => self.reply(ReplyCode::COMMAND_OK, "mode set to S (stream)"),
            StruFile => self.reply(ReplyCode::COMMAND_OK, "structure set to F (file)"),
            Allo => self.reply(ReplyCode::SUPERFLUOUS, "ALLO is not needed on this server"),
            Port(addr) => self.active(SocketAddr::V4(addr), "PORT"),
            Eprt(addr) => self.active(addr, "EPRT"),
            Pasv => self.pasv(),
            Epsv(mode) => self.epsv(mode),
            Rest(offset) => {
                self.rest = offset;
                self.reply(
                    ReplyCode::PENDING,
                    format!("restarting at byte {offset}; send RETR or STOR to resume"),
                )
            }
            Retr(path) => self.retr(&path, rest),
            Stor(path) => {
                let keep = if rest > 0 {
                    Keep::First(rest)
                } else {
                    Keep::Nothing
                };
                self.store(&path, keep, false)
            }
            Appe(path) => self.store(&path, Keep::All, false),
            Stou => self.stou(),
            List(arg) => self.listing(arg.as_deref(), Listing::Long),
            Nlst(arg) => self.listing(arg.as_deref(), Listing::Names),
            Mlsd(arg) => self.listing(arg.as_deref(), Listing::Machine),
            Mlst(arg) => self.mlst(arg.as_deref()),
            Size(path) => self.size(&path),
            Mdtm(path) => self.mdtm(&path),
            Mkd(path) => self.mkd(&path),
            Rmd(path) => self.fs_op(&path, "directory removed", |real| std::fs::remove_dir(real)),
            Dele(path) => self.fs_op(&path, "file deleted", |real| {
                if real.symlink_metadata()?.is_dir() {
                    Err(io::Error::from(io::ErrorKind::IsADirectory))
                } else {
                    std::fs::remove_file(real)
                }
            }),
            Rnfr(path) => self.rnfr(&path),
            Rnto(path) => self.rnto(&path, rename_from),
            Abor => self.abor(),
        }
    }

    fn abor(&mut self) -> io::Result<Flow> {
        match self.transfer.take() {
            Some(t) if !t.is_finished() => {
                // The transfer thread answers 426 for the transfer itself.
                t.abort();
                self.reply(
                    ReplyCode::TRANSFER_COMPLETE,
                    "ABOR ok: the transfer was aborted",
                )
            }
            Some(t) => {
                t.wait();
                self.reply(
                    ReplyCode::DATA_OPEN,
                    "no transfer to abort: it had already finished",
                )
            }
            None => {
                self.plan = None;
                self.reply(ReplyCode::DATA_OPEN, "no transfer to abort")
            }
        }
    }

    fn user_command(&mut self, name: String) -> io::Result<Flow> {
        if matches!(self.state, State::LoggedIn { .. }) {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "already logged in; send REIN first to log in as someone else",
            );
        }
        if is_anonymous(&name) && !self.shared.auth.anonymous {
            self.state = State::AwaitUser;
            return self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "anonymous login is disabled on this server; log in with your user name",
            );
        }
        let text = if is_anonymous(&name) {
            "anonymous login ok; send any password (your e-mail address, by custom)".to_string()
        } else {
            format!("password required for {name}")
        };
        self.state = State::AwaitPass { user: name };
        self.reply(ReplyCode::NEED_PASSWORD, text)
    }

    fn pass(&mut self, password: &str) -> io::Result<Flow> {
        let user = match &self.state {
            State::AwaitPass { user } => user.clone(),
            State::AwaitUser => {
                return self.reply(ReplyCode::BAD_SEQUENCE, "send USER before PASS")
            }
            State::LoggedIn { .. } => {
                return self.reply(ReplyCode::BAD_SEQUENCE, "already logged in")
            }
        };
        match self.shared.auth.login(&user, password) {
            Login::Anonymous => {
                self.state = State::LoggedIn {
                    user: "anonymous".to_string(),
                };
                self.shared
                    .log
                    .event(self.peer, self.user(), format_args!("logged in"));
                self.reply(ReplyCode::LOGGED_IN, "logged in as anonymous")
            }
            Login::User(name) => {
                self.state = State::LoggedIn { user: name.clone() };
                self.shared
                    .log
                    .event(self.peer, self.user(), format_args!("logged in"));
                self.reply(ReplyCode::LOGGED_IN, format!("logged in as {name}"))
            }
            Login::Refused => {
                // Slow down password guessing (RFC 2577 §"Protecting Against Brute Force").
                std::thread::sleep(self.shared.failed_login_delay);
                self.state = State::AwaitUser;
                self.failures += 1;
                self.shared.log.event(
                    self.peer,
                    Some(&user),
                    format_args!("login refused ({} of {MAX_LOGIN_FAILURES})", self.failures),
                );
                self.send(Reply::new(
                    ReplyCode::NOT_LOGGED_IN,
                    "login incorrect: wrong user name or password",
                ))?;
                if self.failures >= MAX_LOGIN_FAILURES {
                    self.send(Reply::new(
                        ReplyCode::SERVICE_NOT_AVAILABLE,
                        format!("{MAX_LOGIN_FAILURES} failed logins; closing the connection"),
                    ))?;
                    return Ok(Flow::Close);
                }
                Ok(Flow::Continue)
            }
        }
    }

    fn feat(&mut self) -> io::Result<Flow> {
        let mlst = self.facts.feat();
        let lines = [
            "Features:",
            " EPRT",
            " EPSV",
            " MDTM",
            &mlst,
            " PASV",
            " REST STREAM",
            " SIZE",
            " TVFS",
            " UTF8",
            "End",
        ];
        self.send(Reply::multi(ReplyCode::SYSTEM_STATUS, lines))?;
        Ok(Flow::Continue)
    }

    fn help(&mut self, verb: Option<&str>) -> io::Result<Flow> {
        match verb {
            None => {
                self.send(Reply::multi(ReplyCode::HELP, help::overview()))?;
                Ok(Flow::Continue)
            }
            Some(verb) => match help::command(verb) {
                Some(text) => self.reply(ReplyCode::HELP, text),
                None => self.reply(
                    ReplyCode::ARGUMENT_ERROR,
                    format!("HELP: unknown command {verb:?}"),
                ),
            },
        }
    }

    fn stat(&mut self, path: Option<&str>) -> io::Result<Flow> {
        let Some(arg) = path else {
            let user = self.user().unwrap_or("nobody").to_string();
            let data = match &self.plan {
                None => "none set up".to_string(),
                Some(Plan::Passive(l)) => format!("passive, port {}", l.port()),
                Some(Plan::Active(a)) => format!("active, to {a}"),
            };
            let ty = match self.transfer_type {
                TransferType::Ascii => "ASCII",
                TransferType::Image => "BINARY",
            };
            let lines = [
                "FTP server status:".to_string(),
                format!(" Connected from {}", self.peer),
                format!(" Logged in as {user}"),
                format!(" TYPE: {ty}; MODE: stream; STRU: file"),
                format!(" Data connection: {data}"),
                format!(
                    " Idle timeout: {} seconds",
                    self.shared.idle_timeout.as_secs()
                ),
                "End of status".to_string(),
            ];
            self.send(Reply::multi(ReplyCode::SYSTEM_STATUS, lines))?;
            return Ok(Flow::Continue);
        };
        let (flags, path) = split_flags(Some(arg));
        let built = self
            .cwd
            .join(path.unwrap_or("."))
            .and_then(|v| Ok((listing::list(&self.shared.jail, &v, flags)?, v)));
        match built {
            Ok((bytes, v)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines = vec![format!("Status of {v}:")];
                lines.extend(text.lines().map(|l| format!(" {l}")));
                lines.push("End of status".to_string());
                self.send(Reply::multi(ReplyCode::FILE_STATUS, lines))?;
                Ok(Flow::Continue)
            }
            Err(e) => self.fs_failure(e),
        }
    }

    fn opts(&mut self, option: &str) -> io::Result<Flow> {
        let (name, value) = option.trim().split_once(' ').unwrap_or((option.trim(), ""));
        match (
            name.to_ascii_uppercase().as_str(),
            value.trim().to_ascii_uppercase().as_str(),
        ) {
            ("UTF8", "ON" | "") => self.reply(ReplyCode::COMMAND_OK, "UTF-8 is always on"),
            ("UTF8", _) => self.reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "UTF-8 cannot be turned off: names are UTF-8",
            ),
            ("MLST", _) => {
                self.facts = FactSet::parse(value);
                let selected = self.facts.selected();
                self.reply(ReplyCode::COMMAND_OK, format!("MLST OPTS {selected}"))
            }
            _ => self.reply(
                ReplyCode::ARGUMENT_ERROR,
                format!("unknown option {option:?}; try UTF8 ON or MLST"),
            ),
        }
    }

    /// Answers a file-system failure with its code and reason.
    fn fs_failure(&mut self, e: FsError) -> io::Result<Flow> {
        self.reply(fs_failure_code(&e), e.to_string())
    }

    fn resolve(&self, path: &str) -> Result<VirtualPath, FsError> {
        self.cwd.join(path)
    }

    fn cwd(&mut self, path: &str) -> io::Result<Flow> {
        let target = match self
            .resolve(path)
            .and_then(|v| self.shared.jail.directory(&v).map(|_| v))
        {
            Ok(v) => v,
            Err(e) => return self.fs_failure(e),
        };
        let text = format!("directory changed to {target}");
        self.cwd = target;
        self.reply(ReplyCode::FILE_ACTION_OK, text)
    }

    fn size(&mut self, path: &str) -> io::Result<Flow> {
        match self
            .resolve(path)
            .and_then(|v| self.shared.jail.open_file(&v))
        {
            Ok((_, len)) => self.reply(ReplyCode::FILE_STATUS, len.to_string()),
            Err(e) => self.fs_failure(e),
        }
    }

    fn mdtm(&mut self, path: &str) -> io::Result<Flow> {
        let result = self.resolve(path).and_then(|v| {
            let (file, _) = self.shared.jail.open_file(&v)?;
            file.metadata()
                .and_then(|m| m.modified())
                .map_err(|e| FsError::from_io(&v, e))
        });
        match result {
            Ok(t) => self.reply(ReplyCode::FILE_STATUS, mdtm(t)),
            Err(e) => self.fs_failure(e),
        }
    }

    fn mkd(&mut self, path: &str) -> io::Result<Flow> {
        let result = self.resolve(path).and_then(|v| {
            let (dir, name) = self.shared.jail.new_entry(&v)?;
            std::fs::create_dir(dir.join(name)).map_err(|e| FsError::from_io(&v, e))?;
            Ok(v)
        });
        match result {
            Ok(v) => self.reply(ReplyCode::PATH_CREATED, format!("{} created", v.quoted())),
            Err(e) => self.fs_failure(e),
        }
    }

    /// An operation on an existing entry, answered 250 on success. The entry
    /// is named by its parent's canonical path and its own name, so a
    /// symbolic link is removed or renamed rather than followed.
    fn fs_op(
        &mut self,
        path: &str,
        done: &str,
        op: impl FnOnce(&std::path::Path) -> io::Result<()>,
    ) -> io::Result<Flow> {
        let result = self.resolve(path).and_then(|v| {
            let (dir, name) = self.shared.jail.new_entry(&v)?;
            op(&dir.join(name)).map_err(|e| FsError::from_io(&v, e))?;
            Ok(v)
        });
        match result {
            Ok(v) => self.reply(ReplyCode::FILE_ACTION_OK, format!("{v}: {done}")),
            Err(e) => self.fs_failure(e),
        }
    }

    fn rnfr(&mut self, path: &str) -> io::Result<Flow> {
        let result = self.resolve(path).and_then(|v| {
            let (dir, name) = self.shared.jail.new_entry(&v)?;
            dir.join(name)
                .symlink_metadata()
                .map_err(|e| FsError::from_io(&v, e))?;
            Ok(v)
        });
        match result {
            Ok(v) => {
                let text = format!("{v} exists; send RNTO with the new name");
                self.rename_from = Some(v);
                self.reply(ReplyCode::PENDING, text)
            }
            Err(e) => self.fs_failure(e),
        }
    }

    fn rnto(&mut self, path: &str, from: Option<VirtualPath>) -> io::Result<Flow> {
        let Some(from) = from else {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "send RNFR first to name the file to rename",
            );
        };
        let jail = &self.shared.jail;
        let result = self.resolve(path).and_then(|to| {
            let (from_dir, from_name) = jail.new_entry(&from)?;
            let (to_dir, to_name) = jail.new_entry(&to)?;
            std::fs::rename(from_dir.join(from_name), to_dir.join(to_name))
                .map_err(|e| FsError::from_io(&to, e))?;
            Ok(to)
        });
        match result {
            Ok(to) => self.reply(ReplyCode::FILE_ACTION_OK, format!("renamed {from} to {to}")),
            Err(e) => self.fs_failure(e),
        }
    }

    /// PORT/EPRT. RFC 2577 §"Protecting Against the Bounce Attack": the
    /// server connects only to the control peer's own address and never to
    /// a privileged port, or it could be made to attack a third host.
    fn active(&mut self, addr: SocketAddr, verb: &str) -> io::Result<Flow> {
        self.plan = None;
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "EPSV ALL was given: only EPSV may set up data connections",
            );
        }
        if canonical_ip(addr.ip()) != canonical_ip(self.peer.ip()) {
            return self.reply(
                ReplyCode::ARGUMENT_ERROR,
                format!(
                    "{verb} refused: data connections go only to your own address {}, not {}",
                    canonical_ip(self.peer.ip()),
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
        self.plan = Some(Plan::Active(addr));
        self.reply(
            ReplyCode::COMMAND_OK,
            format!("{verb} ok: the data connection will go to {addr}"),
        )
    }

    fn pasv(&mut self) -> io::Result<Flow> {
        self.plan = None;
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "EPSV ALL was given: only EPSV may set up data connections",
            );
        }
        let announced =
            match (self.shared.pasv_address, canonical_ip(self.local.ip())) {
                (Some(ip), _) => ip,
                (None, IpAddr::V4(ip)) => ip,
                (None, IpAddr::V6(_)) => return self.reply(
                    ReplyCode::CANT_OPEN_DATA,
                    "PASV can only describe IPv4 addresses and this connection is IPv6: use EPSV",
                ),
            };
        match self.open_passive() {
            Ok(port) => {
                let hp = format_host_port(SocketAddrV4::new(announced, port));
                self.reply(
                    ReplyCode::ENTERING_PASSIVE,
                    format!("Entering Passive Mode ({hp})."),
                )
            }
            Err(flow) => flow,
        }
    }

    fn epsv(&mut self, mode: EpsvMode) -> io::Result<Flow> {
        self.plan = None;
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
        match self.open_passive() {
            Ok(port) => self.reply(
                ReplyCode::ENTERING_EXTENDED_PASSIVE,
                format!("Entering Extended Passive Mode {}", format_epsv_port(port)),
            ),
            Err(flow) => flow,
        }
    }

    /// Opens a fresh passive listener as the session's data plan.
    fn open_passive(&mut self) -> Result<u16, io::Result<Flow>> {
        match PassiveListener::open(
            self.local.ip(),
            self.peer.ip(),
            self.shared.pasv_ports.as_ref(),
        ) {
            Ok(listener) => {
                let port = listener.port();
                self.plan = Some(Plan::Passive(listener));
                Ok(port)
            }
            Err(e) => Err(self.reply(ReplyCode::CANT_OPEN_DATA, e.to_string())),
        }
    }

    fn mode_name(&self) -> &'static str {
        match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    }

    /// Sends 150 and hands the transfer to its thread, which makes the
    /// data connection and sends the final reply.
    fn start_transfer(
        &mut self,
        plan: Option<Plan>,
        job: Job,
        path: VirtualPath,
        direction: Direction,
        opening: String,
        note: Option<String>,
    ) -> io::Result<Flow> {
        let Some(plan) = plan else {
            return self.reply(
                ReplyCode::CANT_OPEN_DATA,
                "no data connection: send PASV or EPSV (or PORT/EPRT) first",
            );
        };
        let control = self.writer.clone();
        self.send(Reply::new(ReplyCode::FILE_STATUS_OK, opening))?;
        let request = Request {
            plan,
            job,
            transfer_type: self.transfer_type,
            path,
            direction,
            control,
            local: self.local.ip(),
            peer: self.peer,
            user: self.user().map(str::to_string),
            note,
            shared: Arc::clone(&self.shared),
        };
        match transfer::start(request) {
            Ok(running) => {
                self.transfer = Some(running);
                Ok(Flow::Continue)
            }
            Err(e) => self.reply(
                ReplyCode::LOCAL_ERROR,
                format!("cannot start the transfer: {e}"),
            ),
        }
    }

    fn retr(&mut self, path: &str, rest: u64) -> io::Result<Flow> {
        let plan = self.plan.take();
        let opened = self.resolve(path).and_then(|v| {
            let (file, size) = self.shared.jail.open_file(&v)?;
            Ok((v, file, size))
        });
        let (v, mut file, size) = match opened {
            Ok(x) => x,
            Err(e) => return self.fs_failure(e),
        };
        if rest > size {
            return self.fs_failure(FsError::BadOffset {
                path: v,
                offset: rest,
                size,
            });
        }
        if let Err(e) = file.seek(SeekFrom::Start(rest)) {
            return self.fs_failure(FsError::from_io(&v, e));
        }
        let opening = format!(
            "opening {} mode data connection for {v} ({} bytes)",
            self.mode_name(),
            size - rest
        );
        self.start_transfer(plan, Job::Send(file), v, Direction::Download, opening, None)
    }

    fn store(&mut self, path: &str, keep: Keep, no_clobber: bool) -> io::Result<Flow> {
        let plan = self.plan.take();
        let begun = self
            .resolve(path)
            .and_then(|v| self.shared.jail.begin_upload(&v, keep, no_clobber));
        let upload = match begun {
            Ok(u) => u,
            Err(e) => return self.fs_failure(e),
        };
        let v = upload.path().clone();
        let (opening, note) = if no_clobber {
            // RFC 1123 §4.1.2.9: the 150 reply to STOU names the file.
            let name = v.file_name().unwrap_or_default().to_string();
            (format!("FILE: {name}"), Some(format!("stored as {name}")))
        } else {
            (
                format!("opening {} mode data connection for {v}", self.mode_name()),
                None,
            )
        };
        self.start_transfer(
            plan,
            Job::Receive(upload),
            v,
            Direction::Upload,
            opening,
            note,
        )
    }

    fn stou(&mut self) -> io::Result<Flow> {
        match self.shared.jail.unique_name(&self.cwd) {
            Ok(v) => self.store(v.as_str(), Keep::Nothing, true),
            Err(e) => {
                self.plan = None;
                self.fs_failure(e)
            }
        }
    }

    fn listing(&mut self, arg: Option<&str>, kind: Listing) -> io::Result<Flow> {
        let plan = self.plan.take();
        let (flags, path) = match kind {
            Listing::Machine => (Default::default(), arg),
            _ => split_flags(arg),
        };
        let writable = !self.shared.read_only;
        let built = self.resolve(path.unwrap_or(".")).and_then(|v| {
            let jail = &self.shared.jail;
            let bytes = match kind {
                Listing::Long => listing::list(jail, &v, flags)?,
                Listing::Names => listing::name_list(jail, &v, flags)?,
                Listing::Machine => mlsx::mlsd(jail, &v, self.facts, writable)?,
            };
            Ok((v, bytes))
        });
        let (v, bytes) = match built {
            Ok(x) => x,
            Err(FsError::NotADirectory(v)) if kind == Listing::Machine => {
                // RFC 3659 §7.2.1: MLSD of a non-directory is a 501.
                return self.reply(
                    ReplyCode::ARGUMENT_ERROR,
                    format!("MLSD lists directories and {v} is not one; use MLST for a file"),
                );
            }
            Err(e) => return self.fs_failure(e),
        };
        let opening = format!("here comes the listing of {v}");
        self.start_transfer(
            plan,
            Job::Listing(bytes),
            v,
            Direction::Listing,
            opening,
            None,
        )
    }

    fn mlst(&mut self, arg: Option<&str>) -> io::Result<Flow> {
        let writable = !self.shared.read_only;
        let entry = self
            .resolve(arg.unwrap_or("."))
            .and_then(|v| mlsx::mlst(&self.shared.jail, &v, self.facts, writable).map(|e| (v, e)));
        match entry {
            Ok((v, entry)) => {
                let lines = [
                    format!("Listing {v}"),
                    format!(" {entry}"),
                    "End".to_string(),
                ];
                self.send(Reply::multi(ReplyCode::FILE_ACTION_OK, lines))?;
                Ok(Flow::Continue)
            }
            Err(e) => self.fs_failure(e),
        }
    }
}

/// Writes `reply` in one `write` call and, with `-v`, logs it: the one way
/// the server answers, from the session and from transfer threads.
pub(super) fn send_reply(
    log: &Log,
    peer: SocketAddr,
    user: Option<&str>,
    mut writer: impl Write,
    reply: &Reply,
) -> io::Result<()> {
    let wire = reply.to_string();
    if log.level >= LogLevel::Verbose {
        log.dialogue(peer, user, "<-", wire.trim_end());
    }
    writer.write_all(wire.as_bytes())
}

/// Which listing a data transfer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names.
    Names,
    /// MLSD: RFC 3659 facts.
    Machine,
}

/// The one place where file-system failures become reply codes.
fn fs_failure_code(e: &FsError) -> ReplyCode {
    match e {
        FsError::InvalidName(_) => ReplyCode::BAD_FILE_NAME,
        FsError::NoSpace { .. } => ReplyCode::INSUFFICIENT_STORAGE,
        FsError::OverQuota { .. } => ReplyCode::EXCEEDED_STORAGE,
        FsError::BadOffset { .. } => ReplyCode::FILE_UNAVAILABLE,
        FsError::Io { .. } => ReplyCode::LOCAL_ERROR,
        FsError::NotFound(_)
        | FsError::PermissionDenied(_)
        | FsError::NotADirectory(_)
        | FsError::IsADirectory(_)
        | FsError::NotAFile(_)
        | FsError::AlreadyExists(_)
        | FsError::NotEmpty(_) => ReplyCode::FILE_UNAVAILABLE,
    }
}
