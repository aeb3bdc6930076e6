//! What crosses the control channel, as data: no sockets and no files here.
//!
//! - [`line`]: framing. Bytes become capped lines (CRLF or bare LF, Telnet IAC
//!   sequences skipped); the parsers below only ever see one complete line.
//! - [`command`]: [`Command`], its nom parser and its serializer (`Display`).
//! - [`reply`]: [`Reply`] and [`ReplyCode`], single- and multi-line parsers and
//!   the serializer.
//! - [`address`]: the host-port forms of PASV/PORT (`h1,h2,h3,h4,p1,p2`) and
//!   EPSV/EPRT (`(|||port|)`, `|af|addr|port|`).
//! - [`ascii`]: TYPE A line-end conversion, as pure functions on buffers.
//! - [`time_val`]: RFC 3659 `YYYYMMDDHHMMSS` times (MDTM, MLSx, MFMT).
//!
//! Server and client both build on this module; it depends on nothing of theirs.

pub mod address;
pub mod ascii;
pub mod command;
pub mod line;
pub mod reply;
pub mod time_val;

pub use command::{parse_command, Command, CommandError, ProtectionLevel, TransferType};
pub use line::{Frame, LineDecoder};
pub use reply::{parse_reply, Reply, ReplyCode};
pub use time_val::TimeVal;
