//! What both sides use to move bytes: the control connection as lines and
//! replies ([`control`]), the data channel's connections ([`data`]), and the
//! byte streams beneath both ([`Stream`]).
//!
//! [`Stream`] is the transport seam: the session driver, the transfer code
//! and the client read and write a `Stream`, never a `TcpStream` directly,
//! so that TLS (RFC 4217, [`tls`]) stands in without any of them changing.
//! Plain TCP keeps its fast path: a download from a local file goes through
//! `sendfile(2)` ([`sendfile`]); over TLS the bytes must pass through user
//! space to be encrypted, so that path copies instead.

pub mod control;
pub mod data;
pub mod sendfile;
pub mod tls;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use rustls::{ClientConnection, ServerConnection, StreamOwned};

/// Bytes read from a file and encrypted per round on a TLS download.
const TLS_COPY_BUFFER: usize = 256 * 1024;

/// A connected byte stream: a control or a data connection.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (RFC 959).
    Plain(TcpStream),
    /// TLS, this side the server (RFC 4217).
    TlsServer(Box<StreamOwned<ServerConnection, TcpStream>>),
    /// TLS, this side the client.
    TlsClient(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// What TLS protects a stream with, for STAT and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1_3`, `TLSv1_2`.
    pub version: String,
    /// `TLS13_AES_256_GCM_SHA384`, ...
    pub cipher_suite: String,
    /// True when the session was resumed.
    pub resumed: bool,
}

impl Stream {
    /// The TCP socket beneath, for addresses, timeouts and shutdown.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::TlsServer(s) => &s.sock,
            Stream::TlsClient(s) => &s.sock,
        }
    }

    /// True on TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// The TLS version and cipher suite, on TLS.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let common: &rustls::CommonState = match self {
            Stream::Plain(_) => return None,
            Stream::TlsServer(s) => &s.conn,
            Stream::TlsClient(s) => &s.conn,
        };
        let version = common.protocol_version().map(|v| format!("{v:?}"))?;
        let cipher_suite = common
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))?;
        Some(TlsInfo {
            version,
            cipher_suite,
            resumed: common.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        })
    }

    /// True when nothing waits inside the stream: no decrypted input
    /// poll(2) would not see, no TLS output not yet written. Only then may
    /// the connection be watched by readiness alone (parked).
    pub fn is_quiet(&mut self) -> bool {
        let pending_output = match self {
            Stream::Plain(_) => return true,
            Stream::TlsServer(s) => s.conn.wants_write(),
            Stream::TlsClient(s) => s.conn.wants_write(),
        };
        !pending_output && !self.has_buffered_input()
    }

    /// True when TLS holds decrypted bytes not yet read: poll(2) on the
    /// socket would not see them.
    pub fn has_buffered_input(&mut self) -> bool {
        let state = match self {
            Stream::Plain(_) => return false,
            Stream::TlsServer(s) => s.conn.process_new_packets(),
            Stream::TlsClient(s) => s.conn.process_new_packets(),
        };
        state.is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Our own address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().local_addr()
    }

    /// Sets how long a read or a write may block (`None`: forever).
    pub fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)?;
        self.tcp().set_write_timeout(timeout)
    }

    /// Sends the rest of `file`; returns the bytes sent. Plain TCP uses
    /// `sendfile(2)`: no copy through user space; TLS must encrypt, so it
    /// copies in large rounds.
    pub fn send_file(&mut self, file: &mut File) -> io::Result<u64> {
        if let Stream::Plain(s) = self {
            return sendfile::send_all(file, s);
        }
        let mut buf = vec![0; TLS_COPY_BUFFER];
        let mut sent = 0;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(sent),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write_all(&buf[..n])?;
            sent += n as u64;
        }
    }

    /// Sends up to `count` bytes of `file` from its position; returns how
    /// many, 0 at its end. For transfers held to a rate, which move a
    /// chunk at a time: `sendfile(2)` with that count on plain TCP.
    pub fn send_file_chunk(&mut self, file: &mut File, count: usize) -> io::Result<usize> {
        if let Stream::Plain(s) = self {
            match sendfile::send_chunk(s, file, count) {
                Err(e) if sendfile::unsupported(&e) => {}
                sent => return sent,
            }
        }
        let mut buf = vec![0; count.min(TLS_COPY_BUFFER)];
        let n = loop {
            match file.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        self.write_all(&buf[..n])?;
        Ok(n)
    }

    /// Ends our direction of the stream: the peer reads end of file, which
    /// in stream mode is the end of the transfer (RFC 959 §3.4.1). On TLS
    /// a close_notify comes first, so the peer can tell the end from a cut.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        match self {
            Stream::Plain(_) => {}
            Stream::TlsServer(s) => {
                s.conn.send_close_notify();
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut s.sock)?;
                }
            }
            Stream::TlsClient(s) => {
                s.conn.send_close_notify();
                while s.conn.wants_write() {
                    s.conn.write_tls(&mut s.sock)?;
                }
            }
        }
        self.tcp().shutdown(Shutdown::Write)
    }

    /// A handle that can cut this stream from another thread (ABOR).
    pub fn cutter(&self) -> io::Result<socket2::Socket> {
        socket2::SockRef::from(self.tcp()).try_clone()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::TlsServer(s) => s.read(buf),
            Stream::TlsClient(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::TlsServer(s) => s.write(buf),
            Stream::TlsClient(s) => s.write(buf),
        }
    }

    /// `writev(2)` on plain TCP: a download from an object store hands
    /// over the HTTP client's buffers several at a time.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            Stream::TlsServer(s) => s.write_vectored(bufs),
            Stream::TlsClient(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::TlsServer(s) => s.flush(),
            Stream::TlsClient(s) => s.flush(),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp().as_fd()
    }
}
