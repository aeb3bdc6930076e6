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
//! served; the rest get 530. A transfer command consumes the passive listener
//! set up by PASV/EPSV whether it succeeds or not, so a failed command never
//! leaves a half-used data port behind.
//!
//! Every failure is answered with a reply that says what failed and why, and
//! the session goes on: only QUIT, the idle timeout and a lost control
//! connection end it.

use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::time::Instant;

use super::data::{canonical_ip, PassiveListener};
use super::fs::{FsError, VirtualPath};
use super::listing::{self, split_flags};
use super::log::Direction;
use super::Shared;
use crate::control::{write_reply, LineReader};
use crate::protocol::address::{format_epsv_port, format_host_port};
use crate::protocol::ascii::{FromNetwork, ToNetwork};
use crate::protocol::command::EpsvMode;
use crate::protocol::{
    parse_command, Command, CommandError, Frame, Reply, ReplyCode, TransferType,
};
use crate::time::mdtm;

/// Size of the buffer for TYPE A conversion and for uploads to disk: large
/// enough that a 1 GiB upload costs few thousand write calls.
const TRANSFER_BUFFER: usize = 1 << 20;

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
pub(super) fn run(stream: TcpStream, shared: &Shared) {
    let Ok(peer) = stream.peer_addr() else { return };
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let Ok(reader) = stream.try_clone() else {
        return;
    };
    let mut session = Session {
        shared,
        reader: LineReader::new(reader),
        writer: stream,
        peer,
        local,
        state: State::AwaitUser,
        cwd: VirtualPath::root(),
        transfer_type: TransferType::Ascii,
        passive: None,
        epsv_all: false,
        rest: 0,
        rename_from: None,
    };
    shared.log.event(peer, None, format_args!("connected"));
    let outcome = session.serve();
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

struct Session<'a> {
    shared: &'a Shared,
    reader: LineReader<TcpStream>,
    writer: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    state: State,
    cwd: VirtualPath,
    transfer_type: TransferType,
    passive: Option<PassiveListener>,
    epsv_all: bool,
    rest: u64,
    rename_from: Option<VirtualPath>,
}

impl Session<'_> {
    fn user(&self) -> Option<&str> {
        match &self.state {
            State::LoggedIn { user } | State::AwaitPass { user } => Some(user),
            State::AwaitUser => None,
        }
    }

    fn send(&mut self, reply: Reply) -> io::Result<()> {
        if self.shared.log.level >= super::log::LogLevel::Verbose {
            let text = reply.to_string();
            self.shared
                .log
                .dialogue(self.peer, self.user(), "<-", text.trim_end());
        }
        write_reply(&mut self.writer, &reply)
    }

    fn reply(&mut self, code: ReplyCode, text: impl AsRef<str>) -> io::Result<Flow> {
        self.send(Reply::new(code, text))?;
        Ok(Flow::Continue)
    }

    fn serve(&mut self) -> io::Result<()> {
        self.writer
            .set_read_timeout(Some(self.shared.idle_timeout))?;
        self.send(Reply::new(
            ReplyCode::SERVICE_READY,
            "FTP server ready; log in as anonymous",
        ))?;
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
                Frame::Overlong => self.reply(
                    ReplyCode::SYNTAX_ERROR,
                    format!(
                        "command line too long (the limit is {} bytes); it was discarded",
                        crate::limits::MAX_LINE
                    ),
                )?,
                Frame::Line(bytes) => match String::from_utf8(bytes) {
                    Ok(line) => self.line(&line)?,
                    Err(_) => self.reply(
                        ReplyCode::ARGUMENT_ERROR,
                        "the command line is not valid UTF-8; send names in UTF-8",
                    )?,
                },
            };
            if flow == Flow::Close {
                let _ = self.writer.shutdown(Shutdown::Both);
                return Ok(());
            }
        }
    }

    fn line(&mut self, line: &str) -> io::Result<Flow> {
        if self.shared.log.level >= super::log::LogLevel::Verbose {
            let shown = if line.len() >= 4 && line[..4].eq_ignore_ascii_case("PASS") {
                "PASS ****"
            } else {
                line
            };
            self.shared
                .log
                .dialogue(self.peer, self.user(), "->", shown);
        }
        if line.trim().is_empty() {
            // A person pressing Enter at nc: say what is expected.
            return self.reply(ReplyCode::SYNTAX_ERROR, "empty command line; try HELP");
        }
        match parse_command(line) {
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
        // REST applies to the next command only; RNFR to the next if it is RNTO.
        let rest = if matches!(command, Retr(_)) {
            std::mem::take(&mut self.rest)
        } else {
            0
        };
        if !matches!(command, Rest(_)) {
            self.rest = 0;
        }
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

        match command {
            User(name) => self.user_command(name),
            Pass(password) => self.pass(&password),
            Acct(_) => self.reply(ReplyCode::SUPERFLUOUS, "ACCT is not needed on this server"),
            Quit => {
                self.send(Reply::new(ReplyCode::CLOSING, "goodbye"))?;
                Ok(Flow::Close)
            }
            Noop => self.reply(ReplyCode::COMMAND_OK, "NOOP ok"),
            Syst => self.reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            Feat => self.feat(),
            Help(_) => self.help(),
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
            Pasv => self.pasv(),
            Epsv(mode) => self.epsv(mode),
            Rest(offset) => {
                self.rest = offset;
                self.reply(
                    ReplyCode::PENDING,
                    format!("restarting at byte {offset}; send RETR to resume"),
                )
            }
            Retr(path) => self.retr(&path, rest),
            Stor(path) => self.stor(&path),
            List(arg) => self.listing(arg.as_deref(), Direction::Listing, true),
            Nlst(arg) => self.listing(arg.as_deref(), Direction::Listing, false),
            Size(path) => self.size(&path),
            Mdtm(path) => self.mdtm(&path),
            Mkd(path) => self.mkd(&path),
            Rmd(path) => self.fs_op(&path, "directory removed", |real| std::fs::remove_dir(real)),
            Dele(path) => self.fs_op(&path, "file deleted", |real| {
                if real.is_dir() {
                    Err(io::Error::from(io::ErrorKind::IsADirectory))
                } else {
                    std::fs::remove_file(real)
                }
            }),
            Rnfr(path) => self.rnfr(&path),
            Rnto(path) => self.rnto(&path, rename_from),
            Abor => self.reply(ReplyCode::DATA_OPEN, "no transfer to abort"),
            Rein | Stat(_) | Port(_) | Eprt(_) | Stou | Appe(_) | Mlsd(_) | Mlst(_) => {
                let verb = command.verb();
                self.reply(
                    ReplyCode::NOT_IMPLEMENTED,
                    format!("{verb} is not implemented by this server yet"),
                )
            }
        }
    }

    fn user_command(&mut self, name: String) -> io::Result<Flow> {
        if matches!(self.state, State::LoggedIn { .. }) {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "already logged in; QUIT and reconnect to change user",
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

    fn pass(&mut self, _password: &str) -> io::Result<Flow> {
        let user = match &self.state {
            State::AwaitPass { user } => user.clone(),
            State::AwaitUser => {
                return self.reply(ReplyCode::BAD_SEQUENCE, "send USER before PASS")
            }
            State::LoggedIn { .. } => {
                return self.reply(ReplyCode::BAD_SEQUENCE, "already logged in")
            }
        };
        if is_anonymous(&user) {
            self.state = State::LoggedIn {
                user: "anonymous".to_string(),
            };
            self.shared
                .log
                .event(self.peer, self.user(), format_args!("logged in"));
            return self.reply(ReplyCode::LOGGED_IN, "logged in as anonymous");
        }
        // Slow down password guessing (RFC 2577 §"Protecting Against Brute Force").
        std::thread::sleep(self.shared.failed_login_delay);
        self.state = State::AwaitUser;
        self.shared
            .log
            .event(self.peer, Some(&user), format_args!("login refused"));
        self.reply(
            ReplyCode::NOT_LOGGED_IN,
            "login incorrect: this server only accepts anonymous logins (USER anonymous)",
        )
    }

    fn feat(&mut self) -> io::Result<Flow> {
        let reply = Reply::multi(
            ReplyCode::SYSTEM_STATUS,
            [
                "Features:",
                " EPSV",
                " MDTM",
                " PASV",
                " REST STREAM",
                " SIZE",
                " TVFS",
                " UTF8",
                "End",
            ],
        );
        self.send(reply)?;
        Ok(Flow::Continue)
    }

    fn help(&mut self) -> io::Result<Flow> {
        let reply = Reply::multi(
            ReplyCode::HELP,
            [
                "The following commands are recognized:",
                " USER PASS ACCT QUIT NOOP SYST FEAT HELP OPTS",
                " PWD CWD CDUP MKD RMD DELE RNFR RNTO SIZE MDTM",
                " TYPE MODE STRU ALLO PASV EPSV REST RETR STOR LIST NLST ABOR",
                "Help OK",
            ],
        );
        self.send(reply)?;
        Ok(Flow::Continue)
    }

    fn opts(&mut self, option: &str) -> io::Result<Flow> {
        let words: Vec<String> = option
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["UTF8", "ON"] | ["UTF8"] => self.reply(ReplyCode::COMMAND_OK, "UTF-8 is always on"),
            ["UTF8", "OFF"] => self.reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "UTF-8 cannot be turned off: names are UTF-8",
            ),
            _ => self.reply(
                ReplyCode::ARGUMENT_ERROR,
                format!("unknown option {option:?}"),
            ),
        }
    }

    /// Answers a file-system failure with its code and reason.
    fn fs_failure(&mut self, e: FsError) -> io::Result<Flow> {
        let code = match &e {
            FsError::InvalidName(_) => ReplyCode::BAD_FILE_NAME,
            FsError::NoSpace { .. } => ReplyCode::INSUFFICIENT_STORAGE,
            FsError::Io { .. } => ReplyCode::LOCAL_ERROR,
            _ => ReplyCode::FILE_UNAVAILABLE,
        };
        self.reply(code, e.to_string())
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
            std::fs::create_dir(dir.join(name)).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => FsError::Io {
                    path: v.clone(),
                    source: io::Error::new(io::ErrorKind::AlreadyExists, "already exists"),
                },
                _ => FsError::from_io(&v, e),
            })?;
            Ok(v)
        });
        match result {
            Ok(v) => self.reply(ReplyCode::PATH_CREATED, format!("{} created", v.quoted())),
            Err(FsError::Io { path, source }) if source.kind() == io::ErrorKind::AlreadyExists => {
                self.reply(
                    ReplyCode::FILE_UNAVAILABLE,
                    format!("{path}: already exists"),
                )
            }
            Err(e) => self.fs_failure(e),
        }
    }

    /// An operation on an existing entry, answered 250 on success. The entry
    /// itself is named by its parent's canonical path and its own name, so a
    /// symbolic link is removed rather than followed.
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

    fn pasv(&mut self) -> io::Result<Flow> {
        if self.epsv_all {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "EPSV ALL was given: only EPSV may set up data connections",
            );
        }
        let IpAddr::V4(local) = canonical_ip(self.local.ip()) else {
            return self.reply(
                ReplyCode::CANT_OPEN_DATA,
                "PASV can only describe IPv4 addresses and this connection is IPv6: use EPSV",
            );
        };
        match self.open_passive() {
            Ok(port) => {
                let hp = format_host_port(SocketAddrV4::new(local, port));
                self.reply(
                    ReplyCode::ENTERING_PASSIVE,
                    format!("Entering Passive Mode ({hp})."),
                )
            }
            Err(flow) => flow,
        }
    }

    fn epsv(&mut self, mode: EpsvMode) -> io::Result<Flow> {
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

    /// Opens a fresh passive listener, replacing any earlier one.
    fn open_passive(&mut self) -> Result<u16, io::Result<Flow>> {
        self.passive = None;
        match PassiveListener::open(self.local.ip(), self.peer.ip()) {
            Ok(listener) => {
                let port = listener.port();
                self.passive = Some(listener);
                Ok(port)
            }
            Err(e) => Err(self.reply(ReplyCode::CANT_OPEN_DATA, e.to_string())),
        }
    }

    /// Sends 150 and waits for the data connection set up by PASV/EPSV.
    fn data_connection(
        &mut self,
        listener: Option<PassiveListener>,
        opening: String,
    ) -> Result<TcpStream, io::Result<Flow>> {
        let Some(listener) = listener else {
            return Err(self.reply(
                ReplyCode::CANT_OPEN_DATA,
                "no data connection: send PASV or EPSV first",
            ));
        };
        if let Err(e) = self.send(Reply::new(ReplyCode::FILE_STATUS_OK, opening)) {
            return Err(Err(e));
        }
        listener
            .accept(self.shared.data_timeout)
            .map_err(|e| self.reply(ReplyCode::CANT_OPEN_DATA, e.to_string()))
    }

    fn mode_name(&self) -> &'static str {
        match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    }

    /// Closes the data connection, then answers 226 or the failure: the
    /// client must see the end of the data before the final reply.
    #[allow(clippy::too_many_arguments)]
    fn finish_transfer(
        &mut self,
        data: TcpStream,
        result: io::Result<u64>,
        direction: Direction,
        path: &VirtualPath,
        started: Instant,
        on_failure: ReplyCode,
    ) -> io::Result<Flow> {
        let closed = data.shutdown(Shutdown::Write);
        drop(data);
        let result = result.and_then(|n| closed.map(|_| n));
        let elapsed = started.elapsed();
        let user = self.user().map(str::to_string);
        match result {
            Ok(bytes) => {
                self.shared.log.transfer(
                    self.peer,
                    user.as_deref(),
                    direction,
                    path.as_str(),
                    bytes,
                    elapsed,
                    "ok",
                );
                self.reply(
                    ReplyCode::TRANSFER_COMPLETE,
                    format!(
                        "transfer complete: {bytes} bytes in {:.3} s",
                        elapsed.as_secs_f64()
                    ),
                )
            }
            Err(e) => {
                let why = transfer_error_text(&e);
                self.shared.log.transfer(
                    self.peer,
                    user.as_deref(),
                    direction,
                    path.as_str(),
                    0,
                    elapsed,
                    &why,
                );
                let code = match e.kind() {
                    io::ErrorKind::StorageFull => ReplyCode::INSUFFICIENT_STORAGE,
                    io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
                        ReplyCode::EXCEEDED_STORAGE
                    }
                    _ => on_failure,
                };
                self.reply(code, format!("transfer of {path} failed: {why}"))
            }
        }
    }

    fn retr(&mut self, path: &str, rest: u64) -> io::Result<Flow> {
        let listener = self.passive.take();
        let opened = self.resolve(path).and_then(|v| {
            let (file, size) = self.shared.jail.open_file(&v)?;
            Ok((v, file, size))
        });
        let (v, mut file, size) = match opened {
            Ok(x) => x,
            Err(e) => return self.fs_failure(e),
        };
        if rest > size {
            return self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                format!("cannot restart at byte {rest}: {v} has only {size} bytes"),
            );
        }
        if let Err(e) = file.seek(SeekFrom::Start(rest)) {
            return self.fs_failure(FsError::from_io(&v, e));
        }
        let opening = format!(
            "opening {} mode data connection for {v} ({} bytes)",
            self.mode_name(),
            size - rest
        );
        let mut data = match self.data_connection(listener, opening) {
            Ok(d) => d,
            Err(flow) => return flow,
        };
        let started = Instant::now();
        let result = send_file(&mut file, &mut data, self.transfer_type);
        self.finish_transfer(
            data,
            result,
            Direction::Download,
            &v,
            started,
            ReplyCode::TRANSFER_ABORTED,
        )
    }

    fn stor(&mut self, path: &str) -> io::Result<Flow> {
        let listener = self.passive.take();
        let begun = self.resolve(path).and_then(|v| {
            let upload = self.shared.jail.begin_upload(&v)?;
            Ok((v, upload))
        });
        let (v, mut upload) = match begun {
            Ok(x) => x,
            Err(e) => return self.fs_failure(e),
        };
        let opening = format!("opening {} mode data connection for {v}", self.mode_name());
        let mut data = match self.data_connection(listener, opening) {
            Ok(d) => d,
            Err(flow) => return flow,
        };
        let started = Instant::now();
        let mut result = receive_file(&mut data, upload.file(), self.transfer_type);
        if result.is_ok() {
            // Only a complete upload replaces the target; `upload` removes
            // its temporary file when dropped uncommitted.
            if let Err(e) = upload.commit() {
                result = Err(io::Error::other(e.to_string()));
            }
        }
        self.finish_transfer(
            data,
            result,
            Direction::Upload,
            &v,
            started,
            ReplyCode::TRANSFER_ABORTED,
        )
    }

    fn listing(&mut self, arg: Option<&str>, direction: Direction, long: bool) -> io::Result<Flow> {
        let listener = self.passive.take();
        let (flags, path) = split_flags(arg);
        let built = self.resolve(path.unwrap_or(".")).and_then(|v| {
            let jail = &self.shared.jail;
            let bytes = if long {
                listing::list(jail, &v, flags)?
            } else {
                listing::name_list(jail, &v, flags)?
            };
            Ok((v, bytes))
        });
        let (v, bytes) = match built {
            Ok(x) => x,
            Err(e) => return self.fs_failure(e),
        };
        let opening = format!("here comes the listing of {v}");
        let mut data = match self.data_connection(listener, opening) {
            Ok(d) => d,
            Err(flow) => return flow,
        };
        let started = Instant::now();
        let result = data.write_all(&bytes).map(|_| bytes.len() as u64);
        self.finish_transfer(
            data,
            result,
            direction,
            &v,
            started,
            ReplyCode::TRANSFER_ABORTED,
        )
    }
}

fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

/// Words for a failed transfer that a user can act on.
fn transfer_error_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "the data connection stalled and timed out".to_string()
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => {
            "the data connection was closed by the client before the end".to_string()
        }
        io::ErrorKind::StorageFull => {
            "no space left on the server's disk; nothing was kept".to_string()
        }
        io::ErrorKind::QuotaExceeded => "the disk quota is exceeded; nothing was kept".to_string(),
        _ => e.to_string(),
    }
}

/// File to socket. In TYPE I this is `std::io::copy`, which Linux turns into
/// `sendfile(2)`: no copy through user space. TYPE A converts LF to CRLF.
fn send_file(file: &mut std::fs::File, data: &mut TcpStream, ty: TransferType) -> io::Result<u64> {
    match ty {
        TransferType::Image => io::copy(file, data),
        TransferType::Ascii => {
            let mut buf = vec![0; 64 * 1024];
            let mut out = Vec::with_capacity(128 * 1024);
            let mut to = ToNetwork::default();
            let mut sent = 0;
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => return Ok(sent),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                out.clear();
                to.convert(&buf[..n], &mut out);
                data.write_all(&out)?;
                sent += out.len() as u64;
            }
        }
    }
}

/// Socket to file. In TYPE I, `std::io::copy` into a large `BufWriter`
/// reads straight into the writer's buffer (few, large syscalls). TCP flow
/// control does the rest: when we write to disk slowly, our receive window
/// fills and the sender waits; nothing overflows (design question 8).
fn receive_file(
    data: &mut TcpStream,
    file: &mut std::fs::File,
    ty: TransferType,
) -> io::Result<u64> {
    let mut sink = BufWriter::with_capacity(TRANSFER_BUFFER, file);
    let received = match ty {
        TransferType::Image => io::copy(data, &mut sink)?,
        TransferType::Ascii => {
            let mut buf = vec![0; 64 * 1024];
            let mut out = Vec::with_capacity(64 * 1024);
            let mut from = FromNetwork::default();
            let mut received = 0;
            loop {
                let n = match data.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                out.clear();
                from.convert(&buf[..n], &mut out);
                sink.write_all(&out)?;
                received += n as u64;
            }
            out.clear();
            from.finish(&mut out);
            sink.write_all(&out)?;
            received
        }
    };
    sink.flush()?;
    Ok(received)
}
