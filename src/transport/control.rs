//! The control connection as a stream of lines and replies, for both sides.
//!
//! TCP delivers a byte stream, not messages: one `recv` may return half a
//! command or three of them (design questions 1 and 2 in spec/PROTOCOL.md).
//! [`LineReader`] keeps what `recv` returned in a buffer and hands out one
//! complete line at a time through the [`LineDecoder`]; [`write_reply`] and
//! [`write_command`] put each message on the wire with a single `write`.

use std::io::{self, Read, Write};

use crate::limits::{CONTROL_READ_BUFFER, MAX_LINE};
use crate::protocol::reply::{ReplyAssembler, ReplyError};
use crate::protocol::{Command, Frame, LineDecoder, Reply};

/// Reads capped lines from any byte stream.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    decoder: LineDecoder,
}

impl<R: Read> LineReader<R> {
    /// A reader with the project's line cap.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: vec![0; CONTROL_READ_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            decoder: LineDecoder::new(MAX_LINE),
        }
    }

    /// The next frame; `None` at the end of the stream (a partial last line
    /// is dropped: a line is only a line once its LF arrived).
    pub fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.next_buffered() {
                return Ok(Some(frame));
            }
            if self.fill()? == 0 {
                return Ok(None);
            }
        }
    }

    /// The next frame already buffered, without reading: a driver that
    /// waits for more than one thing (poll(2)) takes what is buffered first.
    pub fn next_buffered(&mut self) -> Option<Frame> {
        if self.start < self.end {
            let (used, frame) = self.decoder.decode(&self.buf[self.start..self.end]);
            self.start += used;
            return frame;
        }
        None
    }

    /// One `read` into the buffer, once [`next_buffered`](Self::next_buffered)
    /// has returned `None` (the decoder then holds any partial line itself).
    /// Returns the bytes read; 0 is the end of the stream.
    pub fn fill(&mut self) -> io::Result<usize> {
        self.start = 0;
        self.end = 0;
        if self.buf.is_empty() {
            // Given back by `release_buffer`.
            self.buf = vec![0; CONTROL_READ_BUFFER].into_boxed_slice();
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// True when nothing read is left: no buffered bytes and no partial line.
    /// Frees the read buffer when it holds nothing unread (a line begun
    /// stays in the decoder); the next [`fill`](Self::fill) allocates it
    /// again. For a connection that will wait long for input: a parked
    /// session should not hold a buffer it is not using.
    pub fn release_buffer(&mut self) {
        if !self.has_buffered() {
            self.start = 0;
            self.end = 0;
            self.buf = Box::default();
        }
    }

    pub fn is_drained(&self) -> bool {
        self.start >= self.end && !self.decoder.is_mid_line()
    }

    /// True when bytes of a next line are already buffered (a client that
    /// pipelined commands).
    pub fn has_buffered(&self) -> bool {
        self.start < self.end
    }

    /// Reads one whole reply, single- or multi-line.
    pub fn read_reply(&mut self) -> Result<Reply, ReadReplyError> {
        let mut assembler = ReplyAssembler::default();
        loop {
            match self.read_frame()? {
                None => return Err(ReadReplyError::Closed),
                Some(Frame::Overlong) => return Err(ReadReplyError::Overlong),
                Some(Frame::Line(bytes)) => {
                    // Servers may send names in any encoding; show them lossily.
                    let line = String::from_utf8_lossy(&bytes);
                    if let Some(reply) = assembler.push(&line)? {
                        return Ok(reply);
                    }
                }
            }
        }
    }

    /// The stream beneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream beneath, for writing.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// Why no reply could be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadReplyError {
    #[error("the server closed the control connection")]
    Closed,
    #[error("the server sent a line longer than {MAX_LINE} bytes")]
    Overlong,
    #[error(transparent)]
    NotAReply(#[from] ReplyError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes a reply in one `write` call: one TCP segment for short replies.
pub fn write_reply(mut w: impl Write, reply: &Reply) -> io::Result<()> {
    w.write_all(reply.to_string().as_bytes())
}

/// Writes a command and its CRLF in one `write` call.
pub fn write_command(mut w: impl Write, command: &Command) -> io::Result<()> {
    w.write_all(format!("{command}\r\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ReplyCode;

    /// A reader that returns one byte per `read`, the worst case of TCP.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((b, rest)) if !buf.is_empty() => {
                    buf[0] = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn lines_survive_one_byte_reads() {
        let mut r = LineReader::new(Trickle(b"USER a\r\nPASS b\nrest"));
        assert_eq!(
            r.read_frame().unwrap(),
            Some(Frame::Line(b"USER a".to_vec()))
        );
        assert_eq!(
            r.read_frame().unwrap(),
            Some(Frame::Line(b"PASS b".to_vec()))
        );
        assert_eq!(r.read_frame().unwrap(), None);
    }

    #[test]
    fn multi_line_replies_are_read_whole() {
        let mut r = LineReader::new(Trickle(
            b"211-Features:\r\n EPSV\r\n211 End\r\n220 next\r\n",
        ));
        let reply = r.read_reply().unwrap();
        assert_eq!(reply.code(), ReplyCode::SYSTEM_STATUS);
        assert_eq!(reply.lines().len(), 3);
        assert_eq!(r.read_reply().unwrap().code(), ReplyCode::SERVICE_READY);
        assert!(matches!(r.read_reply(), Err(ReadReplyError::Closed)));
    }
}
