//! A file transfer server and client that speak FTP (RFC 959, with RFC 2428
//! extended addresses).
//!
//! The architecture in one paragraph: [`protocol`] is what crosses the
//! control channel, as plain data with parsers and serializers and no I/O.
//! [`control`] turns a byte stream into capped lines and replies for both
//! sides. [`server`] is the listener, one thread per session running the
//! session state machine, the data channel (a fresh passive listener per
//! transfer) and the file-system jail under `--root`. [`client`] is a
//! [`client::Client`] library type for sessions and transfers and the `ftp>`
//! command loop built on it. The binaries in `src/bin/` only parse arguments
//! and call these. spec/PROTOCOL.md describes the protocol as spoken here.

#![forbid(unsafe_code)]

pub mod client;
pub mod control;
pub mod data;
pub mod limits;
pub mod protocol;
pub mod sendfile;
pub mod server;
pub mod storage;
pub mod time;
