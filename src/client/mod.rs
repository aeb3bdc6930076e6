//! The client library: a [`Client`] holds one logged-in control connection
//! and runs transfers over fresh data connections.
//!
//! This file is the session's core: connecting and the greeting, sending
//! commands and reading replies (RFC 959 §4.2), QUOTE and QUIT. The rest of
//! `impl Client` is spread over child modules, one per theme:
//!
//! - `login`: USER/PASS.
//! - `data_channel`: EPSV/PASV and EPRT/PORT, the client's data listener,
//!   the replies that open and close a transfer, and ABOR.
//! - `files`: remote directory and file commands (CWD, PWD, MKD, SIZE...).
//! - `transfer`: RETR, STOR/APPE, LIST/NLST, resuming, TYPE.
//!
//! TLS (RFC 4217): [`Client::connect_with`] takes a [`Security`]. Explicit
//! TLS sends AUTH TLS after the greeting and runs the handshake on the same
//! socket; a server that refuses AUTH ends the session there, so nothing,
//! above all no password, crosses in clear. Implicit TLS (`ftps://`, port
//! 990) runs the handshake before the greeting. After login, PBSZ 0 and
//! PROT P protect the data connections, each of which is a TLS client
//! that resumes the control connection's session ([`tls`]).
//!
//! Public modules:
//!
//! - [`shell`]: the `ftp>` command loop and batch semantics, built on [`Client`].
//! - [`tls`]: whom to trust, and the TLS configuration of a session.
//! - [`target`]: `HOST`, and `ftp://` and `ftps://` URLs with user,
//!   password and path.
//! - [`netrc`], [`credentials`]: `~/.netrc`, and who to log in as.
//! - [`mirror`]: copying directory trees both ways, over N sessions.
//! - [`copy`]: the data copy loop with progress, Ctrl-C and TYPE A.
//! - [`words`], [`glob`]: command-line words and wildcard patterns.
//! - [`editor`]: line editing, history and completion at a terminal.

pub mod copy;
pub mod credentials;
mod data_channel;
pub mod editor;
mod files;
pub mod glob;
mod login;
pub mod mirror;
pub mod netrc;
pub mod shell;
pub mod target;
pub mod tls;
mod transfer;
pub mod words;

pub use files::parse_257;
pub use target::Target;
pub use tls::{TlsConfig, TlsSetupError, Trust};
pub use transfer::StoreMode;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::command::shown_in_logs;
use crate::protocol::{parse_command, Command, ProtectionLevel, Reply, ReplyCode, TransferType};
use crate::transport::control::{write_command, LineReader, ReadReplyError};
use crate::transport::{Stream, TlsInfo};
use tls::SessionTls;

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
    #[error("TLS with {target}: {reason}")]
    Tls { target: String, reason: String },
    #[error("the server refused AUTH TLS ({} {}): it offers no TLS here, and this client does not go on in clear, so no password was sent", reply.code(), reply.text())]
    TlsRefused { reply: Reply },
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

/// How a session is protected (RFC 4217).
#[derive(Debug, Clone)]
pub enum Security {
    /// Plain FTP (RFC 959): passwords and files cross the network in clear.
    Plain,
    /// AUTH TLS after the greeting (RFC 4217 §4), then PBSZ 0 and PROT P
    /// after login.
    Explicit(TlsConfig),
    /// TLS from the first byte, before the greeting (the `ftps://`
    /// convention, port 990), then PBSZ 0 and PROT P after login.
    Implicit(TlsConfig),
}

/// Which kind of [`Security`], without its configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMode {
    #[default]
    Plain,
    Explicit,
    Implicit,
}

impl TlsMode {
    /// This mode with `config` (unused for [`TlsMode::Plain`]).
    pub fn with(self, config: TlsConfig) -> Security {
        match self {
            TlsMode::Plain => Security::Plain,
            TlsMode::Explicit => Security::Explicit(config),
            TlsMode::Implicit => Security::Implicit(config),
        }
    }

    /// The usual control port: 990 for implicit TLS, else 21.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Implicit => IMPLICIT_TLS_PORT,
            _ => FTP_PORT,
        }
    }
}

impl Security {
    /// Which kind this is.
    pub fn mode(&self) -> TlsMode {
        match self {
            Security::Plain => TlsMode::Plain,
            Security::Explicit(_) => TlsMode::Explicit,
            Security::Implicit(_) => TlsMode::Implicit,
        }
    }
}

/// The FTP control port (RFC 959).
pub const FTP_PORT: u16 = 21;
/// The implicit TLS control port (`ftps`, as registered with IANA).
pub const IMPLICIT_TLS_PORT: u16 = 990;

/// A session with an FTP server.
#[derive(Debug)]
pub struct Client {
    /// The control connection: read through the line reader, written
    /// through [`LineReader::get_mut`], one stream for both (a TLS layer
    /// cannot be split into two sockets).
    control: LineReader<Stream>,
    peer: SocketAddr,
    local: SocketAddr,
    timeout: Duration,
    epsv_refused: bool,
    eprt_refused: bool,
    transfer_type: Option<TransferType>,
    /// The session's TLS, when the control connection has it: data
    /// connections are made with the same configuration, so they resume.
    tls: Option<SessionTls>,
    mode: TlsMode,
    /// PROT P is in effect: every data connection is a TLS client.
    data_protected: bool,
    /// What protected the last data connection.
    last_data_tls: Option<TlsInfo>,
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
    /// FEAT's lines, once asked.
    features: Option<Vec<String>>,
    /// How this server sets a file's time, once found out.
    time_setter: TimeSetter,
}

/// How a server takes a file's modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeSetter {
    /// Not tried yet.
    Unknown,
    /// MFMT (draft-somers-ftp-mfxx).
    Mfmt,
    /// `MDTM YYYYMMDDHHMMSS FILE` (vsftpd).
    Mdtm,
    /// Neither works.
    Unsupported,
}

impl Client {
    /// Resolves `host`, tries each of its addresses in turn and reads the
    /// greeting: plain FTP, nothing encrypted.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Client> {
        Client::connect_with(host, port, timeout, &Security::Plain)
    }

    /// Like [`Client::connect`], protected as `security` says. With TLS,
    /// the server's certificate must be valid for `host` as given (a DNS
    /// name or an IP address).
    ///
    /// TLS 1.2 is tried first, then, if the server cannot speak it with
    /// this client, TLS 1.3 on a new connection (unless the configuration
    /// offers TLS 1.3 from the start): see [`tls`] for why.
    pub fn connect_with(
        host: &str,
        port: u16,
        timeout: Duration,
        security: &Security,
    ) -> Result<Client> {
        let config = match security {
            Security::Plain => {
                let stream = connect_tcp(host, port, timeout)?;
                return Client::from_stream_with(stream, timeout, host, security);
            }
            Security::Explicit(config) | Security::Implicit(config) => config,
        };
        let attempts = config.attempts();
        for (i, versions) in attempts.iter().enumerate() {
            let stream = connect_tcp(host, port, timeout)?;
            let session = config
                .session(host, *versions)
                .map_err(|reason| ClientError::Tls {
                    target: host.to_string(),
                    reason,
                })?;
            match Client::establish(stream, timeout, security.mode(), Some(session)) {
                Ok(client) => return Ok(client),
                // A server that has no TLS 1.2 this client can speak
                // (vsftpd's default ciphers are 3DES only): try TLS 1.3.
                Err(failed) if failed.incompatible && i + 1 < attempts.len() => {}
                Err(failed) => return Err(failed.error),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// A client over an already connected control stream, in plain FTP.
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> Result<Client> {
        Client::from_stream_with(stream, timeout, "", &Security::Plain)
    }

    /// A client over an already connected control stream to `host`,
    /// protected as `security` says: the implicit handshake before the
    /// greeting, or AUTH TLS and the handshake after it. One attempt, with
    /// the versions the configuration offers first (there is no second
    /// connection to try others on).
    pub fn from_stream_with(
        stream: TcpStream,
        timeout: Duration,
        host: &str,
        security: &Security,
    ) -> Result<Client> {
        let tls = match security {
            Security::Plain => None,
            Security::Explicit(config) | Security::Implicit(config) => Some(
                config
                    .session(host, config.attempts()[0])
                    .map_err(|reason| ClientError::Tls {
                        target: host.to_string(),
                        reason,
                    })?,
            ),
        };
        Client::establish(stream, timeout, security.mode(), tls).map_err(|failed| failed.error)
    }

    /// The greeting, and TLS as `mode` says with `tls`: the handshake
    /// before the greeting (implicit) or AUTH TLS after it (explicit).
    fn establish(
        stream: TcpStream,
        timeout: Duration,
        mode: TlsMode,
        tls: Option<SessionTls>,
    ) -> std::result::Result<Client, Failed> {
        let context = "setting up the control connection";
        let peer = stream.peer_addr().map_err(ClientError::io(context))?;
        let local = stream.local_addr().map_err(ClientError::io(context))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(ClientError::io(context))?;
        let stream = match (mode, &tls) {
            (TlsMode::Implicit, Some(tls)) => tls
                .connect(stream, timeout)
                .map_err(|e| Failed::handshake(peer, e))?,
            _ => Stream::Plain(stream),
        };
        let mut client = Client {
            control: LineReader::new(stream),
            peer,
            local,
            timeout,
            epsv_refused: false,
            eprt_refused: false,
            transfer_type: None,
            tls: None,
            mode: TlsMode::Plain,
            data_protected: false,
            last_data_tls: None,
            verbose: false,
            passive: true,
            ascii: false,
            interrupt: Arc::default(),
            greeting: Reply::new(ReplyCode::SERVICE_READY, ""),
            features: None,
            time_setter: TimeSetter::Unknown,
        };
        client.read_greeting()?;
        if let (TlsMode::Explicit, Some(tls)) = (mode, &tls) {
            client.start_tls(tls)?;
        }
        client.mode = if tls.is_some() { mode } else { TlsMode::Plain };
        client.tls = tls;
        Ok(client)
    }

    fn read_greeting(&mut self) -> Result<()> {
        let mut greeting = self.read_reply("reading the server's greeting")?;
        // 120: "service ready in nnn minutes"; the 220 follows.
        while greeting.code().is_preliminary() {
            greeting = self.read_reply("reading the server's greeting")?;
        }
        if greeting.code() != ReplyCode::SERVICE_READY {
            return Err(ClientError::Refused {
                command: "connecting".into(),
                reply: greeting,
            });
        }
        self.greeting = greeting;
        Ok(())
    }

    /// AUTH TLS (RFC 4217 §4): the server must answer 234, then the
    /// handshake runs on the same socket. Anything else ends the session.
    fn start_tls(&mut self, tls: &SessionTls) -> std::result::Result<(), Failed> {
        let reply = self.send(&Command::Auth("TLS".into()))?;
        if reply.code() != ReplyCode::AUTH_OK {
            return Err(ClientError::TlsRefused { reply }.into());
        }
        // Bytes after the 234 and before the handshake came in clear: a
        // man in the middle injecting replies (the STARTTLS injection of
        // CVE-2011-0411). Nothing legitimate is there.
        if self.control.has_buffered() {
            return Err(ClientError::Protocol(
                "the server sent more in clear after accepting AUTH TLS; giving up (someone may be tampering with the connection)".into(),
            ).into());
        }
        // A second descriptor of the socket for the TLS stream; the plain
        // stream it replaces is dropped, which closes only its own.
        let tcp = self
            .control
            .get_ref()
            .tcp()
            .try_clone()
            .map_err(ClientError::io("starting TLS"))?;
        let stream = tls
            .connect(tcp, self.timeout)
            .map_err(|e| Failed::handshake(self.peer, e))?;
        *self.control.get_mut() = stream;
        Ok(())
    }

    /// PBSZ 0 and PROT P (RFC 4217 §8, §9): data connections protected.
    /// The server must accept both.
    fn protect_data(&mut self) -> Result<()> {
        self.expect_completion(&Command::Pbsz(0))?;
        self.expect_completion(&Command::Prot(ProtectionLevel::Private))?;
        self.data_protected = true;
        Ok(())
    }

    /// Sends `command` and fails unless the reply is 2yz.
    fn expect_completion(&mut self, command: &Command) -> Result<Reply> {
        let reply = self.send(command)?;
        if !reply.code().is_completion() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
        Ok(reply)
    }

    /// The TLS of the control connection: version, cipher suite.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.control.get_ref().tls_info()
    }

    /// How the session was opened: plain, explicit or implicit TLS.
    pub fn tls_mode(&self) -> TlsMode {
        self.mode
    }

    /// True when data connections are protected by TLS (PROT P).
    pub fn data_protected(&self) -> bool {
        self.data_protected
    }

    /// The TLS of the last protected data connection (whether it resumed
    /// the control connection's session, above all).
    pub fn last_data_tls(&self) -> Option<&TlsInfo> {
        self.last_data_tls.as_ref()
    }
}

/// Why a session could not be set up, and whether another TLS version
/// might do.
struct Failed {
    error: ClientError,
    /// The handshake failed on versions or cipher suites.
    incompatible: bool,
}

impl Failed {
    fn handshake(peer: SocketAddr, e: tls::HandshakeError) -> Failed {
        Failed {
            error: ClientError::Tls {
                target: peer.to_string(),
                reason: e.reason,
            },
            incompatible: e.incompatible,
        }
    }
}

impl From<ClientError> for Failed {
    fn from(error: ClientError) -> Failed {
        Failed {
            error,
            incompatible: false,
        }
    }
}

/// A TCP connection to `host`: each of its addresses in turn.
fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
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
            Ok(stream) => return Ok(stream),
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

impl Client {
    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    fn read_reply(&mut self, context: &str) -> Result<Reply> {
        let reply = self
            .control
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
        self.control
            .get_mut()
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
        write_command(self.control.get_mut(), command)
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
        // AUTH would leave the server waiting for a handshake this client
        // does not start: the session would hang.
        if matches!(parse_command(line), Ok(Command::Auth(_))) {
            return Err(ClientError::Protocol(
                "AUTH cannot be sent raw: connect with TLS instead (--tls, --implicit-tls or ftps://)"
                    .into(),
            ));
        }
        // A raw TYPE, REIN or USER changes state this client caches.
        self.transfer_type = None;
        self.write_line(line, format!("{line}\r\n").as_bytes())?;
        let mut replies = vec![self.read_reply("waiting for the reply")?];
        while replies.last().is_some_and(|r| r.code().is_preliminary()) {
            replies.push(self.read_reply("waiting for the reply")?);
        }
        // A raw PROT changes how data connections must be made.
        let accepted = replies.last().is_some_and(|r| r.code().is_completion());
        if let (true, Ok(Command::Prot(level))) = (accepted, parse_command(line)) {
            self.data_protected = level == ProtectionLevel::Private && self.tls.is_some();
        }
        Ok(replies)
    }

    /// Ends the session politely (on TLS with a close_notify after QUIT's
    /// reply, so the server can tell the end from a cut).
    pub fn quit(mut self) -> Result<()> {
        let reply = self.send(&Command::Quit);
        let _ = self.control.get_mut().finish();
        let _ = self.control.get_ref().tcp().shutdown(Shutdown::Both);
        reply.map(drop)
    }
}

/// How a command is named in error messages (never with a password).
fn describe(command: &Command) -> String {
    match command {
        Command::Pass(_) => "PASS".to_string(),
        c => c.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
