//! The client's data-connection copy loop: progress, interruption (Ctrl-C
//! sends ABOR) and TYPE A line-end conversion.
//!
//! Sockets are given a short timeout ([`POLL`]) so a blocked read or write
//! wakes up regularly to look at the interrupt flag; the real stall limit is
//! counted across those wake-ups. A large buffer keeps the syscall count
//! low: a 1 GiB transfer is a few thousand reads and writes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::protocol::ascii::{FromNetwork, ToNetwork};
use crate::transport::sendfile;
use crate::transport::Stream;

/// How often a blocked transfer looks at the interrupt flag.
pub const POLL: Duration = Duration::from_millis(200);

/// Size of the copy buffer.
const BUFFER: usize = 1 << 20;

/// What a copy loop reports to, and checks with, its caller.
pub struct Watch<'a> {
    /// Called with the running byte count after each chunk.
    pub progress: &'a mut dyn FnMut(u64),
    /// Set by the Ctrl-C handler.
    pub interrupt: &'a AtomicBool,
    /// No byte either way for this long fails the transfer.
    pub stall: Duration,
}

impl Watch<'_> {
    fn check(&self, idle_since: Instant) -> io::Result<()> {
        if self.interrupt.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "interrupted by Ctrl-C",
            ));
        }
        if idle_since.elapsed() >= self.stall {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no data for {} seconds", self.stall.as_secs()),
            ));
        }
        Ok(())
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads into `buf`, waking every [`POLL`] to check the watch.
fn read_patiently(data: &mut Stream, buf: &mut [u8], watch: &Watch) -> io::Result<usize> {
    let idle_since = Instant::now();
    loop {
        match data.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => {
                watch.check(idle_since)?
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `buf`, waking every [`POLL`] to check the watch.
fn write_patiently(data: &mut Stream, mut buf: &[u8], watch: &Watch) -> io::Result<()> {
    let mut idle_since = Instant::now();
    while !buf.is_empty() {
        match data.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                idle_since = Instant::now();
            }
            Err(e) if would_block(&e) || e.kind() == io::ErrorKind::Interrupted => {
                watch.check(idle_since)?
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Data connection to `sink` (a download). Returns the bytes received.
pub fn receive(
    data: &mut Stream,
    sink: &mut dyn Write,
    ascii: bool,
    watch: &mut Watch,
) -> io::Result<u64> {
    data.tcp().set_read_timeout(Some(POLL))?;
    let mut buf = vec![0; BUFFER];
    let mut converted = Vec::new();
    let mut from = FromNetwork::default();
    let mut total = 0;
    loop {
        watch.check(Instant::now())?;
        let n = read_patiently(data, &mut buf, watch)?;
        if n == 0 {
            break;
        }
        if ascii {
            converted.clear();
            from.convert(&buf[..n], &mut converted);
            sink.write_all(&converted)?;
        } else {
            sink.write_all(&buf[..n])?;
        }
        total += n as u64;
        (watch.progress)(total);
    }
    if ascii {
        converted.clear();
        from.finish(&mut converted);
        sink.write_all(&converted)?;
    }
    Ok(total)
}

/// `source` to the data connection (an upload). Returns the bytes read
/// from `source`.
pub fn send(
    source: &mut dyn Read,
    data: &mut Stream,
    ascii: bool,
    watch: &mut Watch,
) -> io::Result<u64> {
    data.tcp().set_write_timeout(Some(POLL))?;
    let mut buf = vec![0; BUFFER];
    let mut converted = Vec::new();
    let mut to = ToNetwork::default();
    let mut total = 0;
    loop {
        watch.check(Instant::now())?;
        let n = match source.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if ascii {
            converted.clear();
            to.convert(&buf[..n], &mut converted);
            write_patiently(data, &converted, watch)?;
        } else {
            write_patiently(data, &buf[..n], watch)?;
        }
        total += n as u64;
        (watch.progress)(total);
    }
}

/// The rest of `file` to the data connection, unconverted (TYPE I), by
/// `sendfile(2)` in rounds, with the watch checked between them (a round
/// ends early when the socket's 200 ms send timeout passes).
pub fn send_file(file: &mut File, data: &mut Stream, watch: &mut Watch) -> io::Result<u64> {
    // sendfile(2) needs the plain socket: a TLS stream (RFC 4217) will
    // copy through `send` instead.
    let Stream::Plain(socket) = &*data else {
        return send(file, data, false, watch);
    };
    socket.set_write_timeout(Some(POLL))?;
    let mut total = 0u64;
    let mut idle_since = Instant::now();
    loop {
        watch.check(idle_since)?;
        match sendfile::send_chunk(socket, file, sendfile::CHUNK) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                total += n as u64;
                idle_since = Instant::now();
                (watch.progress)(total);
            }
            Err(e) if would_block(&e) => {}
            Err(e) if total == 0 && sendfile::unsupported(&e) => {
                return send(file, data, false, watch)
            }
            Err(e) => return Err(e),
        }
    }
}
