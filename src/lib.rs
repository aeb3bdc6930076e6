//! A file transfer server and client that speak FTP (RFC 959, with RFC 2389,
//! 2428 and 3659).
//!
//! The architecture in one paragraph (spec/ARCHITECTURE.md has the map):
//! [`protocol`] is what crosses the control channel, as plain data with
//! parsers and serializers and no I/O. [`transport`] moves bytes for both
//! sides: the control connection as capped lines and replies, the data
//! channel's connections, and the [`transport::Stream`] seam beneath them
//! (plain TCP, with `sendfile(2)`). [`storage`] is every file operation
//! behind one trait, with [`storage::LocalDisk`] resolving each path beneath
//! a handle of the root so the kernel keeps clients inside it. [`server`] is
//! the listener, a session state machine with no I/O inside, the drivers
//! that run it (over TCP, or in memory for tests and fuzzing) and the one
//! mapping from failures to replies. [`client`] is a [`client::Client`]
//! library type and the `ftp>` shell built on it. The binaries in
//! `src/bin/` only parse arguments and call these.

#![forbid(unsafe_code)]

pub mod client;
pub mod limits;
pub mod protocol;
pub mod server;
pub mod storage;
pub mod transport;
