//! Framing of the control connection: bytes in, complete capped lines out.
//!
//! RFC 959 §4.1.3 ends every line with Telnet end-of-line (CRLF) and runs the
//! control connection over the Telnet protocol (RFC 854). People typing into
//! `nc` send bare LF and clients such as telnet send IAC sequences (IAC IP,
//! IAC DM before ABOR, option negotiation), so this decoder:
//!
//! - ends a line at LF, dropping one CR before it;
//! - skips Telnet commands: `IAC x` for two-byte commands, `IAC WILL/WONT/DO/DONT
//!   opt` for negotiation; `IAC IAC` stands for a literal 0xFF byte;
//! - caps a line at [`MAX_LINE`](crate::limits::MAX_LINE) bytes: a longer line
//!   is discarded *as it streams in* (memory stays flat whatever its length)
//!   and reported once as [`Frame::Overlong`] when its LF finally arrives.
//!
//! It holds no I/O: [`LineDecoder::decode`] is fed whatever bytes a `recv`
//! returned, which may be half a line or several lines (design questions 1
//! and 2 of spec/PROTOCOL.md), and keeps its state across calls.

const IAC: u8 = 255;
const WILL: u8 = 251;
const DONT: u8 = 254;

/// One event of the framing layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its line end and without Telnet commands.
    Line(Vec<u8>),
    /// A line longer than the cap arrived and was discarded.
    Overlong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    /// After IAC: the next byte is a Telnet command.
    Command,
    /// After IAC WILL/WONT/DO/DONT: the next byte is the option code.
    Option,
}

/// Incremental line decoder; see the module documentation.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    line: Vec<u8>,
    cap: usize,
    overlong: bool,
    telnet: Telnet,
}

impl LineDecoder {
    /// A decoder that accepts lines of at most `cap` bytes (line end excluded).
    pub fn new(cap: usize) -> Self {
        LineDecoder {
            line: Vec::new(),
            cap,
            overlong: false,
            telnet: Telnet::Data,
        }
    }

    /// Feeds `input`; returns how many bytes were consumed and the frame that
    /// they completed, if any. Bytes after a completed frame are not consumed:
    /// call again with the rest.
    pub fn decode(&mut self, input: &[u8]) -> (usize, Option<Frame>) {
        for (i, &byte) in input.iter().enumerate() {
            if let Some(frame) = self.byte(byte) {
                return (i + 1, Some(frame));
            }
        }
        (input.len(), None)
    }

    /// True when the decoder holds part of a line.
    pub fn is_mid_line(&self) -> bool {
        !self.line.is_empty() || self.overlong
    }

    fn byte(&mut self, byte: u8) -> Option<Frame> {
        match self.telnet {
            Telnet::Command => {
                self.telnet = Telnet::Data;
                match byte {
                    IAC => self.push(IAC),
                    WILL..=DONT => self.telnet = Telnet::Option,
                    // IP, DM, AYT, NOP, ...: a signal to the session, not data.
                    _ => {}
                }
                None
            }
            Telnet::Option => {
                self.telnet = Telnet::Data;
                None
            }
            Telnet::Data => match byte {
                IAC => {
                    self.telnet = Telnet::Command;
                    None
                }
                b'\n' => Some(self.finish()),
                _ => {
                    self.push(byte);
                    None
                }
            },
        }
    }

    fn push(&mut self, byte: u8) {
        if self.overlong {
            return;
        }
        // One byte of slack for the CR of a CRLF that may follow.
        if self.line.len() > self.cap {
            self.overlong = true;
            self.line = Vec::new();
        } else {
            self.line.push(byte);
        }
    }

    fn finish(&mut self) -> Frame {
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        if std::mem::take(&mut self.overlong) || self.line.len() > self.cap {
            self.line.clear();
            Frame::Overlong
        } else {
            Frame::Line(std::mem::take(&mut self.line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(decoder: &mut LineDecoder, mut input: &[u8]) -> Vec<Frame> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let (n, frame) = decoder.decode(input);
            out.extend(frame);
            input = &input[n..];
        }
        out
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn crlf_and_bare_lf_end_lines() {
        let mut d = LineDecoder::new(100);
        assert_eq!(
            frames(&mut d, b"USER a\r\nPASS b\nNOOP\r\n"),
            vec![line("USER a"), line("PASS b"), line("NOOP")]
        );
    }

    #[test]
    fn a_line_split_across_reads_is_reassembled() {
        let mut d = LineDecoder::new(100);
        assert!(frames(&mut d, b"RE").is_empty());
        assert!(d.is_mid_line());
        assert!(frames(&mut d, b"TR a b\r").is_empty());
        assert_eq!(frames(&mut d, b"\n"), vec![line("RETR a b")]);
    }

    #[test]
    fn telnet_sequences_are_skipped() {
        let mut d = LineDecoder::new(100);
        // IAC IP, IAC DM (as sent before ABOR), IAC DO ECHO, IAC IAC = 0xFF.
        let input = b"\xff\xf4\xff\xf2AB\xff\xfd\x01OR\xff\xffx\r\n";
        assert_eq!(
            frames(&mut d, input),
            vec![Frame::Line(b"ABOR\xffx".to_vec())]
        );
    }

    #[test]
    fn a_line_at_the_cap_is_accepted_and_one_over_is_not() {
        let mut d = LineDecoder::new(8);
        assert_eq!(frames(&mut d, b"12345678\r\n"), vec![line("12345678")]);
        assert_eq!(frames(&mut d, b"123456789\n"), vec![Frame::Overlong]);
        assert_eq!(frames(&mut d, b"123456789\r\n"), vec![Frame::Overlong]);
        assert_eq!(frames(&mut d, b"NOOP\n"), vec![line("NOOP")]);
    }

    #[test]
    fn an_endless_line_does_not_grow_memory() {
        let mut d = LineDecoder::new(4096);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..64 {
            assert!(frames(&mut d, &chunk).is_empty());
            assert!(d.line.capacity() <= 8192);
        }
        assert_eq!(
            frames(&mut d, b"\r\nNOOP\r\n"),
            vec![Frame::Overlong, line("NOOP")]
        );
    }
}
