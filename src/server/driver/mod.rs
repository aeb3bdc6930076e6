//! Drivers run the sans-I/O [`Session`](super::session::Session): they own
//! the I/O the state machine asks for and feed it what happens.
//!
//! - [`tcp`]: a real control connection, run on a worker thread while it
//!   has something to do and parked without one while idle ([`reactor`],
//!   [`pool`]), a thread per transfer ([`data`]), `poll(2)` to wait for the
//!   next command and the transfer's end at once. The only writer of the
//!   control connection.
//! - [`memory`]: everything in memory and synchronous, for unit tests and
//!   the `session` fuzz target.

pub mod data;
pub mod memory;
pub(in crate::server) mod pool;
pub(in crate::server) mod reactor;
pub mod tcp;
