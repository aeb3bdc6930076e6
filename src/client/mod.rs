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
//! Public modules:
//!
//! - [`shell`]: the `ftp>` command loop and batch semantics, built on [`Client`].
//! - [`copy`]: the data copy loop with progress, Ctrl-C and TYPE A.
//! - [`words`], [`glob`]: command-line words and wildcard patterns.
//! - [`editor`]: line editing, history and completion at a terminal.

pub mod copy;
mod data_channel;
pub mod editor;
mod files;
pub mod glob;
mod login;
pub mod shell;
mod transfer;
pub mod words;

pub use files::parse_257;
pub use transfer::StoreMode;

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::command::shown_in_logs;
use crate::protocol::{Command, Reply, ReplyCode, TransferType};
use crate::transport::control::{write_command, LineReader, ReadReplyError};
use crate::transport::Stream;

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
        let mut client = Client {
            control: LineReader::new(Stream::Plain(stream)),
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
        // A raw TYPE, REIN or USER changes state this client caches.
        self.transfer_type = None;
        self.write_line(line, format!("{line}\r\n").as_bytes())?;
        let mut replies = vec![self.read_reply("waiting for the reply")?];
        while replies.last().is_some_and(|r| r.code().is_preliminary()) {
            replies.push(self.read_reply("waiting for the reply")?);
        }
        Ok(replies)
    }

    /// Ends the session politely.
    pub fn quit(mut self) -> Result<()> {
        let reply = self.send(&Command::Quit);
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
