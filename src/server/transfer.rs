//! What a transfer is and how its bytes move, for every driver: the plan
//! for its data connection ([`Plan`]), what flows ([`Job`]), and [`run`],
//! which moves the bytes over a connected [`DataConnection`] and says how
//! it ended ([`Outcome`]). Making the connection, threads and ABOR's cut
//! are the driver's ([`driver::tcp`](super::driver::tcp)).
//!
//! Errors are kept apart by where they happened, because the reply depends
//! on it (RFC 959 §4.2): the network failing is 426, the storage failing
//! mid-upload is 451/452/552 ([`Failure`](super::failure::Failure)).

use std::fs::File;
use std::io::{self, BufWriter, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::failure::TransferError;
use super::listing::Listing;
use crate::protocol::ascii::{FromNetwork, ToNetwork};
use crate::storage::{Chunked, ReadFile, StorageError, Upload, VirtualPath};
use crate::transport::Stream;

/// At most this much of a chunked file's buffers goes into one
/// `writev(2)`.
const CHUNKED_WRITE: usize = 2 << 20;

/// Buffer for TYPE A conversion and listings.
const CONVERT_BUFFER: usize = 64 * 1024;

/// How the data connection is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// PASV/EPSV: the client connects to our listener on this port.
    Passive { port: u16 },
    /// PORT/EPRT: we connect to the client's address (already checked).
    Active(SocketAddr),
}

/// What flows over the data connection.
#[derive(Debug)]
pub enum Job {
    /// RETR: the file, positioned at the REST offset.
    Send(Box<dyn ReadFile>),
    /// STOR/APPE/STOU: into an upload, committed only when complete.
    Receive(Box<dyn Upload>),
    /// LIST/NLST/MLSD: produced as it is sent.
    Listing(Listing),
}

/// A transfer the session asks a driver to run.
#[derive(Debug)]
pub struct Transfer {
    pub plan: Plan,
    pub job: Job,
    /// TYPE A: convert line ends.
    pub ascii: bool,
    /// PROT P: the data connection is TLS, resuming the control session.
    pub protect: bool,
}

/// How a transfer ended.
#[derive(Debug)]
pub struct Outcome {
    /// Bytes that crossed the data connection.
    pub bytes: u64,
    pub elapsed: Duration,
    pub result: Result<(), TransferError>,
}

impl Outcome {
    /// A transfer that ended before any byte moved.
    pub fn failed(error: TransferError) -> Outcome {
        Outcome {
            bytes: 0,
            elapsed: Duration::ZERO,
            result: Err(error),
        }
    }
}

/// A data connection as the transfer code sees it.
pub trait DataConnection: Read + Write {
    /// Sends the rest of `file`; the default copies through user space.
    fn send_file(&mut self, file: &mut File) -> io::Result<u64> {
        io::copy(file, self)
    }

    /// Sends up to `count` bytes of `file` from its position; returns how
    /// many, 0 at its end. A throttled transfer sends a chunk at a time.
    fn send_file_chunk(&mut self, file: &mut File, count: usize) -> io::Result<usize> {
        let copied = io::copy(&mut Read::take(&mut *file, count as u64), self)?;
        Ok(copied as usize)
    }

    /// Ends our direction: the peer reads end of file.
    fn finish(&mut self) -> io::Result<()>;
}

impl DataConnection for Stream {
    fn send_file(&mut self, file: &mut File) -> io::Result<u64> {
        Stream::send_file(self, file)
    }

    fn send_file_chunk(&mut self, file: &mut File, count: usize) -> io::Result<usize> {
        Stream::send_file_chunk(self, file, count)
    }

    fn finish(&mut self) -> io::Result<()> {
        Stream::finish(self)
    }
}

/// Moves the job's bytes over `conn`. `cancelled` tells whether ABOR asked
/// to stop: an upload is committed only if it arrived whole and ABOR had
/// not been asked before the commit, and the outcome says what really
/// happened (a committed upload is a success, whenever ABOR arrives).
pub fn run(
    job: Job,
    conn: &mut dyn DataConnection,
    ascii: bool,
    cancelled: &dyn Fn() -> bool,
) -> Outcome {
    let started = Instant::now();
    let (bytes, result) = match job {
        Job::Send(mut file) => send(file.as_mut(), conn, ascii),
        Job::Listing(mut listing) => {
            let mut out = BufWriter::with_capacity(CONVERT_BUFFER, &mut *conn);
            let sent = listing
                .write_to(&mut out, SystemTime::now())
                .and_then(|n| out.flush().map(|_| n));
            drop(out);
            match (sent, listing.take_error()) {
                // A directory that could not be read to its end is a failed
                // listing, not a short one.
                (Ok(n), Some(e)) => (n, Err(TransferError::Storage(e))),
                (Ok(n), None) => (n, Ok(())),
                (Err(e), _) => (0, Err(TransferError::Network(e))),
            }
        }
        Job::Receive(mut upload) => {
            let (n, received) = receive(conn, upload.as_mut(), ascii);
            let result = match received {
                // The commit is the upload's truth: once it is done, an
                // ABOR that cuts the connection afterwards changes nothing.
                Ok(()) if !cancelled() => {
                    let committed = upload.commit().map_err(TransferError::Commit);
                    let _ = conn.finish();
                    return Outcome {
                        bytes: n,
                        elapsed: started.elapsed(),
                        result: committed,
                    };
                }
                // Dropped uncommitted: the upload leaves no trace.
                Ok(()) => Err(TransferError::Aborted),
                Err(e) => Err(e),
            };
            (n, result)
        }
    };
    // The client must see the end of the data before the final reply.
    let finished = conn.finish().map_err(TransferError::Network);
    let result = result.and(finished);
    // A transfer that failed because ABOR cut it was aborted, whatever
    // error the cut produced; one that completed first stays a success.
    let result = match result {
        Err(_) if cancelled() => Err(TransferError::Aborted),
        other => other,
    };
    Outcome {
        bytes,
        elapsed: started.elapsed(),
        result,
    }
}

/// File to connection. In TYPE I from a local file this is `sendfile(2)`
/// on plain TCP; TYPE A converts LF to CRLF.
fn send(
    file: &mut dyn ReadFile,
    conn: &mut dyn DataConnection,
    ascii: bool,
) -> (u64, Result<(), TransferError>) {
    if !ascii {
        if let Some(local) = file.as_local_file() {
            return match conn.send_file(local) {
                Ok(n) => (n, Ok(())),
                Err(e) => (0, Err(TransferError::Network(e))),
            };
        }
        let path = file.path().clone();
        if let Some(chunked) = file.as_chunked() {
            return send_chunks(chunked, &path, conn);
        }
    }
    let mut buf = vec![0; CONVERT_BUFFER];
    let mut out = Vec::with_capacity(2 * CONVERT_BUFFER);
    let mut to = ToNetwork::default();
    let mut sent = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return (sent, Ok(())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let error = StorageError::from_io(file.path(), e);
                return (sent, Err(TransferError::Storage(error)));
            }
        };
        let chunk = if ascii {
            out.clear();
            to.convert(&buf[..n], &mut out);
            &out[..]
        } else {
            &buf[..n]
        };
        if let Err(e) = conn.write_all(chunk) {
            return (sent, Err(TransferError::Network(e)));
        }
        sent += chunk.len() as u64;
    }
}

/// A chunked file to the connection: its buffers go out as they are, a
/// few at a time through one `writev(2)`.
fn send_chunks(
    file: &mut dyn Chunked,
    path: &VirtualPath,
    conn: &mut dyn DataConnection,
) -> (u64, Result<(), TransferError>) {
    let mut chunks = Vec::new();
    let mut sent = 0;
    loop {
        chunks.clear();
        if let Err(e) = file.next_chunks(&mut chunks, CHUNKED_WRITE) {
            let error = StorageError::from_io(path, e);
            return (sent, Err(TransferError::Storage(error)));
        }
        if chunks.is_empty() {
            return (sent, Ok(()));
        }
        if let Err(e) = write_all_vectored(conn, &chunks) {
            return (sent, Err(TransferError::Network(e)));
        }
        sent += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
    }
}

/// Writes every byte of `chunks`, as few `write_vectored` calls as the
/// connection takes (`Write::write_all_vectored` is not stable).
fn write_all_vectored(conn: &mut dyn DataConnection, chunks: &[Bytes]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| IoSlice::new(c))
        .collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match conn.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The disk side of an upload, remembering whether a failure was its own:
/// the reply depends on it (451/452/552 for the disk, 426 for the network).
struct DiskSide<'a> {
    upload: &'a mut dyn Upload,
    failed: bool,
}

impl Write for DiskSide<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.upload.write(buf).inspect_err(|_| self.failed = true)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.upload.flush().inspect_err(|_| self.failed = true)
    }
}

/// Connection to upload, through a buffer of the upload's
/// [`write_size`](Upload::write_size): the storage sees writes of that size
/// however small the segments that arrive. In TYPE I this is `io::copy`
/// into a `BufWriter`, which reads straight into the writer's buffer (no
/// second copy, reads of up to the buffer's size). TCP flow control
/// does the rest: when the disk is slower than the network, our receive
/// window fills and the sender waits; nothing overflows (design question 8
/// in spec/PROTOCOL.md).
fn receive(
    conn: &mut dyn DataConnection,
    upload: &mut dyn Upload,
    ascii: bool,
) -> (u64, Result<(), TransferError>) {
    let path = upload.path().clone();
    let mut sink = BufWriter::with_capacity(
        upload.write_size(),
        DiskSide {
            upload,
            failed: false,
        },
    );
    let copied = if ascii {
        receive_ascii(conn, &mut sink)
    } else {
        io::copy(conn, &mut sink).map(|n| (n, Ok(())))
    };
    let (received, result) = match copied.and_then(|(n, r)| sink.flush().map(|_| (n, r))) {
        Ok((n, result)) => (n, result),
        Err(e) => (0, Err(e)),
    };
    let disk_failed = sink.get_ref().failed;
    let result = result.map_err(|e| {
        if disk_failed {
            TransferError::Storage(StorageError::from_io(&path, e))
        } else {
            TransferError::Network(e)
        }
    });
    (received, result)
}

/// TYPE A: line ends converted as the bytes arrive. Returns the bytes read
/// and, apart, a read error (so the count survives it).
fn receive_ascii(
    conn: &mut dyn DataConnection,
    sink: &mut impl Write,
) -> io::Result<(u64, io::Result<()>)> {
    let mut buf = vec![0; CONVERT_BUFFER];
    let mut out = Vec::new();
    let mut from = FromNetwork::default();
    let mut received = 0;
    loop {
        let n = match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok((received, Err(e))),
        };
        received += n as u64;
        out.clear();
        from.convert(&buf[..n], &mut out);
        sink.write_all(&out)?;
    }
    out.clear();
    from.finish(&mut out);
    sink.write_all(&out)?;
    Ok((received, Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::VirtualPath;

    /// A client that delivers an upload in 1460-byte segments, one per
    /// read, as a WAN link does.
    struct Segments {
        left: usize,
        sent: Vec<u8>,
    }

    impl Read for Segments {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.left.min(1460).min(buf.len());
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    impl Write for Segments {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.sent.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl DataConnection for Segments {
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An upload that counts the writes that reach it.
    #[derive(Debug)]
    struct Counting {
        path: VirtualPath,
        writes: usize,
        bytes: usize,
        largest: usize,
        /// What it answers to `write_size`; None: the trait's default.
        asks: Option<usize>,
    }

    impl Counting {
        fn new(asks: Option<usize>) -> Self {
            Counting {
                path: VirtualPath::root(),
                writes: 0,
                bytes: 0,
                largest: 0,
                asks,
            }
        }
    }

    impl Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            self.bytes += buf.len();
            self.largest = self.largest.max(buf.len());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Upload for Counting {
        fn path(&self) -> &VirtualPath {
            &self.path
        }

        fn commit(self: Box<Self>) -> Result<(), StorageError> {
            Ok(())
        }

        fn write_size(&self) -> usize {
            self.asks.unwrap_or(crate::storage::LARGE_WRITE)
        }
    }

    #[test]
    fn small_segments_reach_the_disk_in_large_writes() {
        let mut conn = Segments {
            left: 3 << 20,
            sent: Vec::new(),
        };
        let mut upload = Counting::new(None);
        let (n, result) = receive(&mut conn, &mut upload, false);
        assert!(result.is_ok());
        assert_eq!((n, upload.bytes), (3 << 20, 3 << 20));
        // 3 MiB through a 1 MiB buffer: a handful of writes, not one per
        // 1460-byte segment (2,155 of them).
        assert!(upload.writes <= 4, "{} writes", upload.writes);
    }

    #[test]
    fn uploads_are_written_in_the_size_the_storage_asks_for() {
        let mut conn = Segments {
            left: 3 << 20,
            sent: Vec::new(),
        };
        let mut upload = Counting::new(Some(64 << 10));
        let (n, result) = receive(&mut conn, &mut upload, false);
        assert!(result.is_ok());
        assert_eq!((n, upload.bytes), (3 << 20, 3 << 20));
        assert!(
            upload.largest <= 64 << 10,
            "a {}-byte write",
            upload.largest
        );
        // Still gathered: nowhere near one write per segment.
        assert!(upload.writes <= 64, "{} writes", upload.writes);
    }

    /// A file handed out in buffers of its own, failing after them if told.
    #[derive(Debug)]
    struct Pieces {
        path: VirtualPath,
        left: std::collections::VecDeque<Bytes>,
        fail_at_end: bool,
        calls: usize,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut chunk) = self.left.pop_front() else {
                return Ok(0);
            };
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk.split_to(n));
            if !chunk.is_empty() {
                self.left.push_front(chunk);
            }
            Ok(n)
        }
    }

    impl ReadFile for Pieces {
        fn size(&self) -> u64 {
            self.left.iter().map(|c| c.len() as u64).sum()
        }

        fn path(&self) -> &VirtualPath {
            &self.path
        }

        fn as_chunked(&mut self) -> Option<&mut dyn Chunked> {
            Some(self)
        }
    }

    impl Chunked for Pieces {
        fn next_chunks(&mut self, out: &mut Vec<Bytes>, _max: usize) -> io::Result<()> {
            self.calls += 1;
            // Two at a time, so that several calls and several buffers per
            // call are both exercised.
            out.extend(self.left.drain(..self.left.len().min(2)));
            if out.is_empty() && self.fail_at_end {
                return Err(io::Error::other("the store went away"));
            }
            Ok(())
        }
    }

    /// A connection that takes at most 3 bytes per call, so that every
    /// vectored write is a short one.
    #[derive(Default)]
    struct Trickle {
        sent: Vec<u8>,
    }

    impl Read for Trickle {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.sent.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut room = 3;
            for b in bufs {
                let n = b.len().min(room);
                self.sent.extend_from_slice(&b[..n]);
                room -= n;
            }
            Ok(3 - room)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl DataConnection for Trickle {
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn pieces(parts: &[&'static [u8]], fail_at_end: bool) -> Pieces {
        Pieces {
            path: VirtualPath::root(),
            left: parts.iter().map(|p| Bytes::from_static(p)).collect(),
            fail_at_end,
            calls: 0,
        }
    }

    #[test]
    fn a_chunked_file_is_sent_whole_through_short_vectored_writes() {
        let mut file = pieces(&[b"hello", b"", b" wor", b"ld, ", b"in pieces"], false);
        let mut conn = Trickle::default();
        let (n, result) = send(&mut file, &mut conn, false);
        assert!(result.is_ok());
        assert_eq!(conn.sent, b"hello world, in pieces");
        assert_eq!(n, 22);
        assert_eq!(
            file.calls, 4,
            "three calls with buffers, one that says the end"
        );
    }

    #[test]
    fn a_chunked_file_that_fails_is_a_storage_error_after_what_was_sent() {
        let mut file = pieces(&[b"abc", b"def"], true);
        let mut conn = Trickle::default();
        let (n, result) = send(&mut file, &mut conn, false);
        assert_eq!(n, 6);
        assert!(
            matches!(result, Err(TransferError::Storage(_))),
            "{result:?}"
        );
    }

    #[test]
    fn type_a_reads_a_chunked_file_through_its_conversion() {
        let mut file = pieces(&[b"a\nb", b"\nc"], false);
        let mut conn = Trickle::default();
        let (n, result) = send(&mut file, &mut conn, true);
        assert!(result.is_ok());
        assert_eq!(conn.sent, b"a\r\nb\r\nc");
        assert_eq!(n, 7);
        assert_eq!(file.calls, 0, "TYPE A converts in its own buffer");
    }
}
