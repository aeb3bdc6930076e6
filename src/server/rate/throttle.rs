//! A data connection held to a rate: every read, write and file send first
//! takes its bytes from the user's [`Bucket`], in chunks of the bucket's
//! capacity, and gives back what the system call did not move.

use std::fs::File;
use std::io::{self, Read, Write};

use super::Bucket;
use crate::server::transfer::DataConnection;

/// `inner`, moving no faster than `bucket` allows; a wait ends early once
/// `cancelled` says so (ABOR), with an error.
pub struct Throttled<'a> {
    inner: &'a mut dyn DataConnection,
    bucket: &'a Bucket,
    cancelled: &'a dyn Fn() -> bool,
}

impl<'a> Throttled<'a> {
    pub fn new(
        inner: &'a mut dyn DataConnection,
        bucket: &'a Bucket,
        cancelled: &'a dyn Fn() -> bool,
    ) -> Self {
        Throttled {
            inner,
            bucket,
            cancelled,
        }
    }

    /// Takes up to a chunk of `wanted` bytes; returns how many were taken.
    fn acquire(&self, wanted: usize) -> io::Result<usize> {
        let n = wanted.min(self.bucket.chunk());
        self.bucket.acquire(n, self.cancelled)?;
        Ok(n)
    }

    /// Gives back what of `taken` the call did not move.
    fn settle(&self, taken: usize, moved: &io::Result<usize>) {
        let used = moved.as_ref().map_or(0, |n| *n);
        self.bucket.refund(taken.saturating_sub(used));
    }
}

impl Read for Throttled<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.acquire(buf.len())?;
        let read = self.inner.read(&mut buf[..n]);
        self.settle(n, &read);
        read
    }
}

impl Write for Throttled<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.acquire(buf.len())?;
        let written = self.inner.write(&buf[..n]);
        self.settle(n, &written);
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl DataConnection for Throttled<'_> {
    /// A chunk at a time: `sendfile(2)` with a count of one chunk on plain
    /// TCP, instead of the unthrottled 16 MiB asks.
    fn send_file(&mut self, file: &mut File) -> io::Result<u64> {
        let mut sent = 0u64;
        loop {
            let n = self.acquire(usize::MAX)?;
            let moved = self.inner.send_file_chunk(file, n);
            self.settle(n, &moved);
            match moved? {
                0 => return Ok(sent),
                m => sent += m as u64,
            }
        }
    }

    fn send_file_chunk(&mut self, file: &mut File, count: usize) -> io::Result<usize> {
        let n = self.acquire(count)?;
        let moved = self.inner.send_file_chunk(file, n);
        self.settle(n, &moved);
        moved
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::log::Direction;
    use crate::server::rate::{Limits, Rates};

    /// A connection that records what it was asked to move.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<usize>,
        sent: u64,
    }

    impl Read for Recorder {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(buf.len().min(100))
        }
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes.push(buf.len());
            self.sent += buf.len() as u64;
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl DataConnection for Recorder {
        fn finish(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn bucket(rate: u64) -> std::sync::Arc<Bucket> {
        Rates::new(Limits {
            download: Some(rate),
            upload: None,
        })
        .bucket("u", Direction::Download)
        .unwrap()
    }

    #[test]
    fn writes_and_file_sends_go_in_chunks_of_the_bucket() {
        // 100 MiB/s: chunks of 10 MiB, and nothing here waits long.
        let bucket = bucket(100 << 20);
        let mut inner = Recorder::default();
        let mut conn = Throttled::new(&mut inner, &bucket, &|| false);
        conn.write_all(&vec![0; 25 << 20]).unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![1; 3 << 20]).unwrap();
        io::Seek::rewind(&mut file).unwrap();
        assert_eq!(conn.send_file(&mut file).unwrap(), 3 << 20);
        assert_eq!(inner.sent, (25 << 20) + (3 << 20));
        assert!(
            inner.writes.iter().all(|&n| n <= 10 << 20),
            "{:?}",
            inner.writes
        );
    }

    #[test]
    fn reads_give_back_what_they_did_not_use() {
        let bucket = bucket(1 << 20);
        let mut inner = Recorder::default();
        let mut conn = Throttled::new(&mut inner, &bucket, &|| false);
        let mut buf = vec![0; 1 << 20];
        // Reads of 100 bytes out of asks of a whole chunk: the bucket is
        // charged 100 bytes each, so a thousand reads never wait.
        let started = std::time::Instant::now();
        for _ in 0..1000 {
            assert_eq!(conn.read(&mut buf).unwrap(), 100);
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn an_abort_ends_a_throttled_write_with_an_error() {
        let bucket = bucket(4096);
        let mut inner = Recorder::default();
        let mut conn = Throttled::new(&mut inner, &bucket, &|| true);
        // The first chunk is in the bucket; the second would wait a second.
        let e = conn.write_all(&[0; 3 * 4096]).unwrap_err();
        assert!(e.to_string().contains("aborted"), "{e}");
        assert_eq!(inner.sent, 4096);
    }
}
