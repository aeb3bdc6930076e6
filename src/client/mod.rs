//! The client library: a [`Client`] holds one logged-in control connection
//! and runs transfers over fresh data connections.
//!
//! - [`shell`]: the `ftp>` command loop and batch semantics, built on [`Client`].
//! - [`words`]: splitting a command line into words, with quotes.
//!
//! Data connections are passive: EPSV first (RFC 2428, works over IPv4 and
//! IPv6 and through NAT), PASV when the server answers EPSV with an error.
//! The address in a 227 reply is not trusted; the data connection goes to
//! the control connection's peer (as curl does), which defeats a server
//! that would point the client at a third host and works behind NAT.

pub mod shell;
pub mod words;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::control::{write_command, LineReader, ReadReplyError};
use crate::protocol::address::{find_epsv_port, find_host_port};
use crate::protocol::command::EpsvMode;
use crate::protocol::{Command, Reply, ReplyCode, TransferType};

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
}

impl ClientError {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClientError {
        let context = context.into();
        move |source| ClientError::Io { context, source }
    }
}

type Result<T> = std::result::Result<T, ClientError>;

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
    reader: LineReader<TcpStream>,
    writer: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
    epsv_refused: bool,
    transfer_type: Option<TransferType>,
    /// Print the control dialogue on stderr.
    pub verbose: bool,
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
        let peer = stream
            .peer_addr()
            .map_err(ClientError::io("control connection"))?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(ClientError::io("control connection"))?;
        let reader = stream
            .try_clone()
            .map_err(ClientError::io("control connection"))?;
        let mut client = Client {
            reader: LineReader::new(reader),
            writer: stream,
            peer,
            timeout,
            epsv_refused: false,
            transfer_type: None,
            verbose: false,
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

    /// Sends `command` and returns the first reply to it.
    pub fn send(&mut self, command: &Command) -> Result<Reply> {
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

    /// Logs in; an empty password is sent as `PASS ` when the server asks.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
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

    /// Asks for a passive data port: EPSV, then PASV if the server refuses
    /// EPSV. Returns where to connect.
    fn passive(&mut self) -> Result<SocketAddr> {
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
        if !matches!(self.peer.ip(), IpAddr::V4(_)) && !is_mapped(self.peer.ip()) {
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

    /// Opens a data connection, sends `command` and checks its preliminary
    /// reply. Returns the connection to read or write.
    fn start_transfer(&mut self, command: &Command) -> Result<TcpStream> {
        let addr = self.passive()?;
        let data =
            TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| ClientError::Connect {
                target: format!("the data port {addr}"),
                reason: connect_reason(&e),
            })?;
        data.set_read_timeout(Some(self.timeout))
            .and_then(|_| data.set_write_timeout(Some(self.timeout)))
            .map_err(ClientError::io("data connection"))?;
        let reply = self.send(command)?;
        if !reply.code().is_preliminary() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
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

    /// Downloads `remote` into `sink`; returns the number of bytes.
    pub fn retrieve(&mut self, remote: &str, sink: &mut impl Write) -> Result<u64> {
        self.set_type(TransferType::Image)?;
        let command = Command::Retr(remote.to_string());
        let mut data = self.start_transfer(&command)?;
        let copied = io::copy(&mut data, sink);
        drop(data);
        // Read the final reply even after a local failure, so the session
        // stays in step.
        let finished = self.finish_transfer(&command);
        let n = copied.map_err(ClientError::io(format!("receiving {remote}")))?;
        finished?;
        Ok(n)
    }

    /// Uploads everything `source` yields as `remote`; returns the bytes sent.
    pub fn store(&mut self, source: &mut impl Read, remote: &str) -> Result<u64> {
        self.set_type(TransferType::Image)?;
        let command = Command::Stor(remote.to_string());
        let mut data = self.start_transfer(&command)?;
        let copied = io::copy(source, &mut data);
        // The close of the data connection is the end of the file.
        let closed = data.shutdown(Shutdown::Write);
        drop(data);
        let finished = self.finish_transfer(&command);
        let n = copied.map_err(ClientError::io(format!("sending {remote}")))?;
        closed.map_err(ClientError::io(format!("closing the upload of {remote}")))?;
        finished?;
        Ok(n)
    }

    /// LIST (`long`) or NLST of `path`, as text.
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
        let copied = data.read_to_end(&mut bytes);
        drop(data);
        let finished = self.finish_transfer(&command);
        copied.map_err(ClientError::io("receiving the listing"))?;
        finished?;
        Ok(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
    }

    /// Downloads `remote` to the local file `local`, atomically: the data
    /// goes to a temporary file beside it, renamed into place on success.
    pub fn get_file(&mut self, remote: &str, local: &Path) -> Result<u64> {
        let temp = temp_path(local);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(ClientError::io(format!("creating {}", temp.display())))?;
        let mut sink = BufWriter::with_capacity(1 << 20, file);
        let result = self.retrieve(remote, &mut sink).and_then(|n| {
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

    /// Uploads the local file `local` as `remote`.
    pub fn put_file(&mut self, local: &Path, remote: &str) -> Result<u64> {
        let mut file =
            File::open(local).map_err(ClientError::io(format!("opening {}", local.display())))?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(ClientError::Protocol(format!(
                "{} is a directory, not a file",
                local.display()
            )));
        }
        self.store(&mut file, remote)
    }

    /// Ends the session politely.
    pub fn quit(mut self) -> Result<()> {
        let reply = self.send(&Command::Quit);
        let _ = self.writer.shutdown(Shutdown::Both);
        reply.map(drop)
    }
}

fn is_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
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
