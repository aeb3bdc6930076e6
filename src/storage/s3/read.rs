//! RETR from an object: the body of one GET (a ranged GET after REST),
//! pulled chunk by chunk as the transfer reads, so a download holds one
//! network chunk at a time however large the object.

use std::fmt;
use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc::Receiver;

use crate::storage::{ReadFile, VirtualPath};

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

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(body) = self.body.as_mut() else {
                return Ok(0);
            };
            match body.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    self.body = None;
                    return Err(io::Error::other(format!(
                        "reading the object from the store: {e}"
                    )));
                }
                None => self.body = None,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl ReadFile for ObjectReader {
    fn size(&self) -> u64 {
        self.size
    }

    fn path(&self) -> &VirtualPath {
        &self.path
    }
}
