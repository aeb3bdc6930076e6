//! What both sides use to move bytes: the control connection as lines and
//! replies ([`control`]), the data channel's connections ([`data`]), and the
//! byte streams beneath both ([`Stream`]).
//!
//! [`Stream`] is the transport seam: the session driver and the transfer
//! code read and write a `Stream`, never a `TcpStream` directly, so that a
//! TLS layer (RFC 4217) can stand in without either of them changing. Plain
//! TCP keeps its fast path: a download from a local file goes through
//! `sendfile(2)` ([`sendfile`]); over TLS the bytes must pass through user
//! space to be encrypted, so that path falls back to a copy.

pub mod control;
pub mod data;
pub mod sendfile;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

/// A connected byte stream: a control or a data connection.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (RFC 959).
    Plain(TcpStream),
}

impl Stream {
    /// The TCP socket beneath, for addresses, timeouts and shutdown.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
        }
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
    /// `sendfile(2)`: no copy through user space.
    pub fn send_file(&mut self, file: &mut File) -> io::Result<u64> {
        match self {
            Stream::Plain(s) => sendfile::send_all(file, s),
        }
    }

    /// Ends our direction of the stream: the peer reads end of file, which
    /// in stream mode is the end of the transfer (RFC 959 §3.4.1).
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
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
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp().as_fd()
    }
}
