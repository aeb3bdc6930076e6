//! RETR from an object: the body of one GET (a ranged GET after REST),
//! pulled chunk by chunk as the transfer reads, so a download holds one
//! network chunk at a time however large the object.

use std::fmt;
use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::Receiver;

use crate::storage::{Chunked, ReadFile, VirtualPath};

/// An object being downloaded.
pub struct ObjectReader {
    /// The rest of the body, from the task that reads it
    /// ([`super::runtime::pump`]); `None` when there is nothing more.
    pub body: Option<Receiver<Result<Bytes, String>>>,
    /// What came from the network and was not read yet.
    pub chunk: Bytes,
    pub size: u64,
    pub path: VirtualPath,
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl ObjectReader {
    /// The next chunk, waiting for it only if `wait`; `None` at the end
    /// (or, without waiting, when none is there yet).
    fn next_chunk(&mut self, wait: bool) -> io::Result<Option<Bytes>> {
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        let next = if wait {
            body.blocking_recv()
        } else {
            match body.try_recv() {
                Ok(item) => Some(item),
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => None,
            }
        };
        match next {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(e)) => {
                self.body = None;
                Err(io::Error::other(format!(
                    "reading the object from the store: {e}"
                )))
            }
            None => {
                self.body = None;
                Ok(None)
            }
        }
    }
}

impl Read for ObjectReader {
    /// Waits for the first chunk, then also takes every chunk already
    /// there, so that the transfer writes to the client in large pieces
    /// rather than one HTTP frame (of any size the HTTP client read) per write.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.chunk.is_empty() {
                match self.next_chunk(filled == 0)? {
                    Some(chunk) => self.chunk = chunk,
                    None => break,
                }
                continue;
            }
            let n = (buf.len() - filled).min(self.chunk.len());
            buf[filled..filled + n].copy_from_slice(&self.chunk.split_to(n));
            filled += n;
        }
        Ok(filled)
    }
}

impl ReadFile for ObjectReader {
    fn size(&self) -> u64 {
        self.size
    }

    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn as_chunked(&mut self) -> Option<&mut dyn Chunked> {
        Some(self)
    }
}

impl Chunked for ObjectReader {
    /// The HTTP client's own buffers, handed on: a download is then one
    /// copy fewer (the memcpy into the transfer's buffer was a tenth of
    /// `serv`'s time in a 1 GiB RETR).
    fn next_chunks(&mut self, out: &mut Vec<Bytes>, max: usize) -> io::Result<()> {
        let mut taken = 0;
        if !self.chunk.is_empty() {
            taken = self.chunk.len();
            out.push(std::mem::take(&mut self.chunk));
        }
        while taken < max {
            match self.next_chunk(taken == 0)? {
                Some(chunk) if chunk.is_empty() => continue,
                Some(chunk) => {
                    taken += chunk.len();
                    out.push(chunk);
                }
                None => break,
            }
        }
        Ok(())
    }
}
