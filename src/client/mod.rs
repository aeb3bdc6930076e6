//! The client library: a [`Client`] holds one logged-in control connection
//! and runs transfers over fresh data connections.
//!
//! - [`shell`]: the `ftp>` command loop and batch semantics, built on [`Client`].
//! - [`copy`]: the data copy loop with progress, Ctrl-C and TYPE A.
//! - [`words`], [`glob`]: command-line words and wildcard patterns.
//! - [`editor`]: line editing, history and completion at a terminal.
//!
//! Passive mode (the default): EPSV first (RFC 2428, works over IPv4 and
//! IPv6 and through NAT), PASV when the server refuses EPSV with 5xx. The
//! address in a 227 reply is not trusted: the data connection goes to the
//! control connection's peer (as curl does), which defeats a server that
//! would point the client at a third host and works behind NAT. Active mode:
//! EPRT, then PORT; the listener accepts only the server's address.

pub mod copy;
pub mod editor;
pub mod glob;
pub mod shell;
pub mod words;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::control::{write_command, LineReader, ReadReplyError};
use crate::data::{canonical_ip, PassiveListener};
use crate::protocol::address::{find_epsv_port, find_host_port};
use crate::protocol::command::{shown_in_logs, EpsvMode};
use crate::protocol::{Command, Reply, ReplyCode, TransferType};
use copy::Watch;

/// What went wrong, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error("could not connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("{command} failed: the server answered {} {}", reply.code(), reply.text())]
    Refused { command: String, reply: Reply },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Reply {
        context: String,
        #[source]
        source: ReadReplyError,
    },
    #[error("{0}")]
    Protocol(String),
    #[error("{0}: interrupted; the transfer was aborted")]
    Interrupted(String),
}

impl ClientError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClientError {
        let context = context.into();
        move |source| ClientError::Io { context, source }
    }

    /// The server's reply, when the server refused.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            ClientError::Refused { reply, .. } => Some(reply),
            _ => None,
        }
    }
}

/// The result type of the client library.
pub type Result<T> = std::result::Result<T, ClientError>;

/// Words for a failed connection, as `could not connect to HOST:PORT: ...`.
fn connect_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        _ => e.to_string(),
    }
}

/// How an upload treats the remote file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR: replace it.
    Replace,
    /// REST n + STOR: keep its first n bytes, write from there.
    Resume(u64),
    /// APPE: append.
    Append,
}

/// A data connection being set up.
enum Pending {
    Passive(TcpStream),
    Active(PassiveListener),
}

/// A session with an FTP server.
#[derive(Debug)]
pub struct Client {
    reader: LineReader<TcpStream>,
    writer: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    timeout: Duration,
    epsv_refused: bool,
    eprt_refused: bool,
    transfer_type: Option<TransferType>,
    /// Print the control dialogue on stderr.
    pub verbose: bool,
    /// Passive (default) or active data connections.
    pub passive: bool,
    /// Transfer files in TYPE A (line ends converted) instead of TYPE I.
    pub ascii: bool,
    /// Set by a Ctrl-C handler: the running transfer is aborted.
    pub interrupt: Arc<AtomicBool>,
    /// The server's greeting.
    pub greeting: Reply,
}

impl Client {
    /// Resolves `host`, tries each of its addresses in turn and reads the
    /// greeting.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Client> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|source| ClientError::Resolve {
                host: host.to_string(),
                source,
            })?
            .collect();
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, timeout) {
                Ok(stream) => return Client::from_stream(stream, timeout),
                Err(e) => last = Some(e),
            }
        }
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let reason = last.map_or_else(
            || "the name has no addresses".to_string(),
            |e| connect_reason(&e),
        );
        Err(ClientError::Connect { target, reason })
    }

    /// A client over an already connected control stream.
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> Result<Client> {
        let context = "setting up the control connection";
        let peer = stream.peer_addr().map_err(ClientError::io(context))?;
        let local = stream.local_addr().map_err(ClientError::io(context))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(ClientError::io(context))?;
        let reader = stream.try_clone().map_err(ClientError::io(context))?;
        let mut client = Client {
            reader: LineReader::new(reader),
            writer: stream,
            peer,
            local,
            timeout,
            epsv_refused: false,
            eprt_refused: false,
            transfer_type: None,
            verbose: false,
            passive: true,
            ascii: false,
            interrupt: Arc::default(),
            greeting: Reply::new(ReplyCode::SERVICE_READY, ""),
        };
        let mut greeting = client.read_reply("reading the server's greeting")?;
        // 120: "service ready in nnn minutes"; the 220 follows.
        while greeting.code().is_preliminary() {
            greeting = client.read_reply("reading the server's greeting")?;
        }
        if greeting.code() != ReplyCode::SERVICE_READY {
            return Err(ClientError::Refused {
                command: "connecting".into(),
                reply: greeting,
            });
        }
        client.greeting = greeting;
        Ok(client)
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn read_reply(&mut self, context: &str) -> Result<Reply> {
        let reply = self
            .reader
            .read_reply()
            .map_err(|source| ClientError::Reply {
                context: context.to_string(),
                source,
            })?;
        if self.verbose {
            for line in reply.to_string().lines() {
                eprintln!("<- {line}");
            }
        }
        Ok(reply)
    }

    fn write_line(&mut self, shown: &str, wire: &[u8]) -> Result<()> {
        if self.verbose {
            eprintln!("-> {}", shown_in_logs(shown));
        }
        self.writer
            .write_all(wire)
            .map_err(ClientError::io(format!("sending {shown}")))
    }

    /// Sends `command` and returns the first reply to it.
    pub fn send(&mut self, command: &Command) -> Result<Reply> {
        // A name with a line end (a local file called "a\nDELE b") would
        // smuggle a second command onto the control connection.
        if command.to_string().contains(['\r', '\n']) {
            return Err(ClientError::Protocol(format!(
                "cannot send {}: the name contains a line end",
                command.verb()
            )));
        }
        if self.verbose {
            match command {
                Command::Pass(_) => eprintln!("-> PASS ****"),
                c => eprintln!("-> {c}"),
            }
        }
        write_command(&mut self.writer, command)
            .map_err(ClientError::io(format!("sending {}", command.verb())))?;
        self.read_reply(&format!("waiting for the reply to {}", command.verb()))
    }

    /// Sends `command` and fails unless the reply is 2yz or 3yz.
    pub fn expect_ok(&mut self, command: &Command) -> Result<Reply> {
        let reply = self.send(command)?;
        if reply.code().is_failure() || reply.code().is_preliminary() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
        Ok(reply)
    }

    /// Sends a raw line (QUOTE) and returns every reply up to the first
    /// that is not preliminary.
    pub fn quote(&mut self, line: &str) -> Result<Vec<Reply>> {
        if line.contains(['\r', '\n']) {
            return Err(ClientError::Protocol(
                "a command line cannot contain line ends".into(),
            ));
        }
        // A raw TYPE, REIN or USER changes state this client caches.
        self.transfer_type = None;
        self.write_line(line, format!("{line}\r\n").as_bytes())?;
        let mut replies = vec![self.read_reply("waiting for the reply")?];
        while replies.last().is_some_and(|r| r.code().is_preliminary()) {
            replies.push(self.read_reply("waiting for the reply")?);
        }
        Ok(replies)
    }

    /// Logs in; the password is sent only if the server asks for one.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        // A new login (after REIN) starts from the server's defaults.
        self.transfer_type = None;
        let reply = self.expect_ok(&Command::User(user.to_string()))?;
        if reply.code().is_intermediate() {
            let reply = self.expect_ok(&Command::Pass(password.to_string()))?;
            if reply.code().is_intermediate() {
                return Err(ClientError::Protocol(format!(
                    "login failed: the server asks for an account (ACCT), which this client does not send: {} {}",
                    reply.code(),
                    reply.text()
                )));
            }
        }
        Ok(())
    }

    /// Sets the transfer type unless it is already set.
    pub fn set_type(&mut self, ty: TransferType) -> Result<()> {
        if self.transfer_type != Some(ty) {
            self.expect_ok(&Command::Type(ty))?;
            self.transfer_type = Some(ty);
        }
        Ok(())
    }

    fn file_type(&self) -> TransferType {
        if self.ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        }
    }

    /// The current remote directory, from PWD's 257 reply.
    pub fn pwd(&mut self) -> Result<String> {
        let reply = self.expect_ok(&Command::Pwd)?;
        parse_257(&reply.text()).ok_or_else(|| {
            ClientError::Protocol(format!(
                "could not read a directory name in the reply {:?}",
                reply.text()
            ))
        })
    }

    /// Changes the remote directory.
    pub fn cwd(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Cwd(path.to_string())).map(drop)
    }

    /// Goes to the parent of the remote directory.
    pub fn cdup(&mut self) -> Result<()> {
        self.expect_ok(&Command::Cdup).map(drop)
    }

    /// Makes a remote directory.
    pub fn mkdir(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Mkd(path.to_string())).map(drop)
    }

    /// Removes an empty remote directory.
    pub fn rmdir(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Rmd(path.to_string())).map(drop)
    }

    /// Deletes a remote file.
    pub fn delete(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Dele(path.to_string())).map(drop)
    }

    /// Renames a remote file or directory.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.expect_ok(&Command::Rnfr(from.to_string()))?;
        self.expect_ok(&Command::Rnto(to.to_string())).map(drop)
    }

    /// The size of a remote file in bytes (SIZE, in TYPE I).
    pub fn size(&mut self, path: &str) -> Result<u64> {
        self.set_type(TransferType::Image)?;
        let reply = self.expect_ok(&Command::Size(path.to_string()))?;
        reply.text().trim().parse().map_err(|_| {
            ClientError::Protocol(format!("the SIZE reply {:?} is not a number", reply.text()))
        })
    }

    /// The modification time of a remote file, as `YYYYMMDDHHMMSS` (UTC).
    pub fn mdtm(&mut self, path: &str) -> Result<String> {
        let reply = self.expect_ok(&Command::Mdtm(path.to_string()))?;
        Ok(reply.text().trim().to_string())
    }

    /// Sets up a data connection (EPSV/PASV or EPRT/PORT).
    fn prepare_data(&mut self) -> Result<Pending> {
        if self.passive {
            let addr = self.passive_address()?;
            let data = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| {
                ClientError::Connect {
                    target: format!("the data port {addr}"),
                    reason: connect_reason(&e),
                }
            })?;
            Ok(Pending::Passive(data))
        } else {
            self.active_listener().map(Pending::Active)
        }
    }

    /// Asks for a passive data port: EPSV, then PASV if the server refuses
    /// EPSV with 5xx. Returns where to connect.
    fn passive_address(&mut self) -> Result<SocketAddr> {
        if !self.epsv_refused {
            let reply = self.send(&Command::Epsv(EpsvMode::Any))?;
            if reply.code() == ReplyCode::ENTERING_EXTENDED_PASSIVE {
                let port = find_epsv_port(&reply.text()).ok_or_else(|| {
                    ClientError::Protocol(format!(
                        "could not read a port in the EPSV reply {:?}",
                        reply.text()
                    ))
                })?;
                return Ok(SocketAddr::new(self.peer.ip(), port));
            }
            if reply.code().as_u16() < 500 {
                // 4xx: a passing failure (no free port), not a missing feature.
                return Err(ClientError::Refused {
                    command: "EPSV".into(),
                    reply,
                });
            }
            // 500/502 and friends: an older server; remember and use PASV.
            self.epsv_refused = true;
        }
        if !canonical_ip(self.peer.ip()).is_ipv4() {
            return Err(ClientError::Protocol(
                "the server refused EPSV and PASV cannot work over IPv6".into(),
            ));
        }
        let reply = self.expect_ok(&Command::Pasv)?;
        let addr = find_host_port(&reply.text()).ok_or_else(|| {
            ClientError::Protocol(format!(
                "could not read an address in the PASV reply {:?}",
                reply.text()
            ))
        })?;
        Ok(SocketAddr::new(self.peer.ip(), addr.port()))
    }

    /// Active mode: a listener on our side of the control connection,
    /// announced with EPRT, or PORT if the server refuses EPRT.
    fn active_listener(&mut self) -> Result<PassiveListener> {
        let listener = PassiveListener::open(self.local.ip(), self.peer.ip(), None)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let addr = SocketAddr::new(canonical_ip(self.local.ip()), listener.port());
        if !self.eprt_refused {
            let reply = self.send(&Command::Eprt(addr))?;
            if reply.code().is_completion() {
                return Ok(listener);
            }
            if reply.code().as_u16() < 500 {
                return Err(ClientError::Refused {
                    command: "EPRT".into(),
                    reply,
                });
            }
            self.eprt_refused = true;
        }
        let SocketAddr::V4(v4) = addr else {
            return Err(ClientError::Protocol(
                "the server refused EPRT and PORT cannot work over IPv6".into(),
            ));
        };
        self.expect_ok(&Command::Port(v4))?;
        Ok(listener)
    }

    /// Opens the data connection, sends `command` and checks its
    /// preliminary reply. Returns the connection to read or write.
    fn start_transfer(&mut self, command: &Command) -> Result<TcpStream> {
        let pending = self.prepare_data()?;
        let reply = self.send(command)?;
        if !reply.code().is_preliminary() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
        let data = match pending {
            Pending::Passive(data) => data,
            Pending::Active(listener) => match listener.accept(self.timeout) {
                Ok(data) => data,
                Err(e) => {
                    // The server will answer the failed transfer (425 or
                    // so): read it, or the next command gets it instead.
                    let _ = self.read_reply("waiting for the end of the failed transfer");
                    return Err(ClientError::Protocol(e.to_string()));
                }
            },
        };
        Ok(data)
    }

    /// Reads the reply that ends a transfer; it must be 2yz.
    fn finish_transfer(&mut self, command: &Command) -> Result<Reply> {
        let reply = self.read_reply(&format!("waiting for the end of {}", command.verb()))?;
        if !reply.code().is_completion() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
        Ok(reply)
    }

    /// Aborts the running transfer (RFC 959 §4.1.3): Telnet IP and Synch,
    /// then ABOR; reads the transfer's reply and ABOR's.
    fn abort(&mut self, data: TcpStream) -> Result<()> {
        drop(data);
        // IAC IP, then IAC DM sent as urgent data: servers such as vsftpd
        // only notice a command during a transfer through SIGURG.
        let _ = self.writer.write_all(&[0xff, 0xf4, 0xff]);
        let _ = socket2::SockRef::from(&self.writer).send_out_of_band(&[0xf2]);
        self.write_line("ABOR", b"ABOR\r\n")?;
        let first = self.read_reply("waiting for the reply to ABOR")?;
        // 426 (transfer aborted) is followed by ABOR's own 226; a transfer
        // that had just finished gives its 226 and then ABOR's 225 or 226.
        let _ = self.writer.set_read_timeout(Some(Duration::from_secs(2)));
        let second = if first.code().is_failure() {
            Some(self.read_reply("waiting for the reply to ABOR"))
        } else {
            self.reader.read_reply().ok().map(Ok)
        };
        let _ = self.writer.set_read_timeout(Some(self.timeout));
        if let Some(second) = second {
            second?;
        }
        Ok(())
    }

    /// Downloads `remote` from byte `offset` into `sink`; returns the bytes
    /// received. `progress` gets the running count.
    pub fn retrieve(
        &mut self,
        remote: &str,
        sink: &mut dyn Write,
        offset: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.set_type(self.file_type())?;
        if offset > 0 {
            self.expect_ok(&Command::Rest(offset))?;
        }
        let command = Command::Retr(remote.to_string());
        let mut data = self.start_transfer(&command)?;
        let interrupt = Arc::clone(&self.interrupt);
        let mut watch = Watch {
            progress,
            interrupt: &interrupt,
            stall: self.timeout,
        };
        let copied = copy::receive(&mut data, sink, self.ascii, &mut watch);
        match copied {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.abort(data)?;
                Err(ClientError::Interrupted(format!("get {remote}")))
            }
            copied => {
                drop(data);
                // Read the final reply even after a local failure, so the
                // session stays in step.
                let finished = self.finish_transfer(&command);
                let n = copied.map_err(ClientError::io(format!("receiving {remote}")))?;
                finished?;
                Ok(n)
            }
        }
    }

    /// Uploads what `source` yields as `remote`; returns the bytes sent.
    pub fn store(
        &mut self,
        source: &mut dyn Read,
        remote: &str,
        mode: StoreMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.store_with(remote, mode, progress, |data, ascii, watch| {
            copy::send(source, data, ascii, watch)
        })
    }

    /// Uploads the rest of `file` (from its current position) as `remote`.
    /// In TYPE I the data goes by `sendfile(2)`, without a copy through
    /// this process.
    pub fn store_file(
        &mut self,
        file: &mut File,
        remote: &str,
        mode: StoreMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.store_with(remote, mode, progress, |data, ascii, watch| {
            if ascii {
                copy::send(file, data, true, watch)
            } else {
                copy::send_file(file, data, watch)
            }
        })
    }

    /// STOR/REST+STOR/APPE with `send` filling the data connection.
    fn store_with(
        &mut self,
        remote: &str,
        mode: StoreMode,
        progress: &mut dyn FnMut(u64),
        send: impl FnOnce(&mut TcpStream, bool, &mut Watch) -> io::Result<u64>,
    ) -> Result<u64> {
        self.set_type(self.file_type())?;
        let command = match mode {
            StoreMode::Replace => Command::Stor(remote.to_string()),
            StoreMode::Resume(offset) => {
                self.expect_ok(&Command::Rest(offset))?;
                Command::Stor(remote.to_string())
            }
            StoreMode::Append => Command::Appe(remote.to_string()),
        };
        let mut data = self.start_transfer(&command)?;
        let interrupt = Arc::clone(&self.interrupt);
        let mut watch = Watch {
            progress,
            interrupt: &interrupt,
            stall: self.timeout,
        };
        let copied = send(&mut data, self.ascii, &mut watch);
        if matches!(&copied, Err(e) if e.kind() == io::ErrorKind::Interrupted) {
            self.abort(data)?;
            return Err(ClientError::Interrupted(format!("put {remote}")));
        }
        // The close of the data connection is the end of the file.
        let closed = data.shutdown(Shutdown::Write);
        drop(data);
        let finished = self.finish_transfer(&command);
        let n = copied.map_err(ClientError::io(format!("sending {remote}")))?;
        closed.map_err(ClientError::io(format!("closing the upload of {remote}")))?;
        finished?;
        Ok(n)
    }

    /// LIST (`long`) or NLST of `path`, as text with LF line ends.
    pub fn list(&mut self, path: Option<&str>, long: bool) -> Result<String> {
        self.set_type(TransferType::Ascii)?;
        let path = path.map(str::to_string);
        let command = if long {
            Command::List(path)
        } else {
            Command::Nlst(path)
        };
        let mut data = self.start_transfer(&command)?;
        let mut bytes = Vec::new();
        // Through the copy loop: a silent server times out and Ctrl-C works.
        let interrupt = Arc::clone(&self.interrupt);
        let mut watch = Watch {
            progress: &mut |_| {},
            interrupt: &interrupt,
            stall: self.timeout,
        };
        let copied = copy::receive(&mut data, &mut bytes, false, &mut watch);
        if matches!(&copied, Err(e) if e.kind() == io::ErrorKind::Interrupted) {
            self.abort(data)?;
            return Err(ClientError::Interrupted("the listing".into()));
        }
        drop(data);
        let finished = self.finish_transfer(&command);
        copied.map_err(ClientError::io("receiving the listing"))?;
        finished?;
        Ok(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
    }

    /// Bare names in `dir` (NLST). Servers that answer an empty directory
    /// with 550 (as vsftpd and others do) give an empty list.
    pub fn names(&mut self, dir: Option<&str>) -> Result<Vec<String>> {
        match self.list(dir, false) {
            Ok(text) => Ok(text
                .lines()
                .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
                .filter(|l| !l.is_empty() && l != "." && l != "..")
                .collect()),
            Err(ClientError::Refused { reply, .. })
                if matches!(reply.code().as_u16(), 450 | 550) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Downloads `remote` to the local file `local`, atomically: the data
    /// goes to a temporary file beside it, renamed into place on success.
    pub fn get_file(
        &mut self,
        remote: &str,
        local: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let temp = temp_path(local);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(ClientError::io(format!("creating {}", temp.display())))?;
        let mut sink = BufWriter::with_capacity(1 << 20, file);
        let result = self.retrieve(remote, &mut sink, 0, progress).and_then(|n| {
            sink.flush()
                .map_err(ClientError::io(format!("writing {}", temp.display())))?;
            fs::rename(&temp, local)
                .map_err(ClientError::io(format!("renaming to {}", local.display())))?;
            Ok(n)
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Completes a partial download: appends to `local` from its current
    /// size (REST + RETR). Returns the bytes received.
    pub fn reget_file(
        &mut self,
        remote: &str,
        local: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let have = fs::metadata(local).map(|m| m.len()).unwrap_or(0);
        let size = self.size(remote)?;
        if !still_to_send(
            have,
            size,
            || format!("{}", local.display()),
            || format!("the remote {remote}"),
        )? {
            return Ok(0);
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(local)
            .map_err(ClientError::io(format!("opening {}", local.display())))?;
        let mut sink = BufWriter::with_capacity(1 << 20, file);
        let n = self.retrieve(remote, &mut sink, have, progress)?;
        sink.flush()
            .map_err(ClientError::io(format!("writing {}", local.display())))?;
        Ok(n)
    }

    /// Uploads the local file `local` as `remote`.
    pub fn put_file(
        &mut self,
        local: &Path,
        remote: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut file = open_local(local)?;
        self.store_file(&mut file, remote, StoreMode::Replace, progress)
    }

    /// Completes a partial upload from the remote size: REST + STOR, or
    /// APPE when the server refuses REST for uploads.
    pub fn reput_file(
        &mut self,
        local: &Path,
        remote: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut file = open_local(local)?;
        let len = file
            .metadata()
            .map_err(ClientError::io(format!("reading {}", local.display())))?
            .len();
        let have = match self.size(remote) {
            Ok(n) => n,
            Err(ClientError::Refused { reply, .. }) if reply.code().as_u16() == 550 => 0,
            Err(e) => return Err(e),
        };
        if !still_to_send(
            have,
            len,
            || format!("the remote {remote}"),
            || format!("{}", local.display()),
        )? {
            return Ok(0);
        }
        file.seek(SeekFrom::Start(have))
            .map_err(ClientError::io(format!("reading {}", local.display())))?;
        match self.store_file(&mut file, remote, StoreMode::Resume(have), progress) {
            Err(ClientError::Refused { command, reply })
                if command.starts_with("REST") && reply.code().as_u16() >= 500 =>
            {
                self.store_file(&mut file, remote, StoreMode::Append, progress)
            }
            other => other,
        }
    }

    /// Ends the session politely.
    pub fn quit(mut self) -> Result<()> {
        let reply = self.send(&Command::Quit);
        let _ = self.writer.shutdown(Shutdown::Both);
        reply.map(drop)
    }
}

/// Whether a resumed transfer has bytes left: `have` bytes of `partial`
/// are there out of `total` in `whole`. More than the whole means the
/// partial copy is of another file, an error rather than a resume.
fn still_to_send(
    have: u64,
    total: u64,
    partial: impl FnOnce() -> String,
    whole: impl FnOnce() -> String,
) -> Result<bool> {
    if have > total {
        return Err(ClientError::Protocol(format!(
            "{} has {have} bytes, more than {} ({total}): not a partial copy",
            partial(),
            whole()
        )));
    }
    Ok(have < total)
}

fn open_local(local: &Path) -> Result<File> {
    let file =
        File::open(local).map_err(ClientError::io(format!("opening {}", local.display())))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(ClientError::Protocol(format!(
            "{} is a directory, not a file",
            local.display()
        )));
    }
    Ok(file)
}

/// How a command is named in error messages (never with a password).
fn describe(command: &Command) -> String {
    match command {
        Command::Pass(_) => "PASS".to_string(),
        c => c.to_string(),
    }
}

/// The temporary name of a download in progress: hidden, beside the target.
fn temp_path(local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    local.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

/// The directory in a 257 reply: `"/a ""b"" c" is current` gives `/a "b" c`.
pub fn parse_257(text: &str) -> Option<String> {
    let start = text.find('"')? + 1;
    let mut out = String::new();
    let mut chars = text[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwd_replies_are_unquoted() {
        assert_eq!(
            parse_257("\"/a \"\"b\"\" c\" is the current directory"),
            Some("/a \"b\" c".into())
        );
        assert_eq!(parse_257("\"/\""), Some("/".into()));
        assert_eq!(parse_257("no quotes"), None);
        assert_eq!(parse_257("\"unterminated"), None);
    }

    #[test]
    fn downloads_go_to_a_hidden_temporary_beside_the_target() {
        let t = temp_path(Path::new("/tmp/dir/file.bin"));
        assert_eq!(t.parent(), Some(Path::new("/tmp/dir")));
        assert!(t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".file.bin.part-"));
    }

    #[test]
    fn connection_refused_is_reported_plainly() {
        // Bind then drop: the port is free and nobody listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = Client::connect("127.0.0.1", port, Duration::from_secs(5)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("could not connect to 127.0.0.1:{port}: connection refused")
        );
    }
}
