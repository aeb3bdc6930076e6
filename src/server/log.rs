//! The server's log on stderr: one line per session event and per transfer,
//! the control dialogue with `-v`, errors only with `-q`.
//!
//! Each line is written with one locked `eprintln!`, so lines from
//! concurrent sessions never interleave.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::time::rfc3339;

/// How much the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum LogLevel {
    /// Errors only.
    Quiet,
    /// Session events and transfers.
    #[default]
    Normal,
    /// Also every command and reply.
    Verbose,
}

/// Direction of a transfer, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// RETR: server to client.
    Download,
    /// STOR: client to server.
    Upload,
    /// LIST/NLST.
    Listing,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
            Direction::Listing => "listing",
        })
    }
}

/// The log sink, shared by all sessions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Log {
    pub level: LogLevel,
}

impl Log {
    fn line(&self, peer: SocketAddr, user: Option<&str>, what: fmt::Arguments) {
        let user = user.unwrap_or("-");
        let line = format!("{} {peer} {user} {what}", rfc3339(SystemTime::now()));
        eprintln!("{}", clean(&line));
    }

    /// A session event: connect, login, disconnect.
    pub fn event(&self, peer: SocketAddr, user: Option<&str>, what: fmt::Arguments) {
        if self.level >= LogLevel::Normal {
            self.line(peer, user, what);
        }
    }

    /// Something went wrong; logged at every level.
    pub fn error(&self, peer: SocketAddr, user: Option<&str>, what: fmt::Arguments) {
        self.line(peer, user, format_args!("error: {what}"));
    }

    /// One line of the control dialogue (`-v`).
    pub fn dialogue(&self, peer: SocketAddr, user: Option<&str>, arrow: &str, text: &str) {
        if self.level >= LogLevel::Verbose {
            self.line(peer, user, format_args!("{arrow} {text}"));
        }
    }

    /// One finished or failed transfer.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer(
        &self,
        peer: SocketAddr,
        user: Option<&str>,
        direction: Direction,
        path: &str,
        bytes: u64,
        elapsed: Duration,
        result: &str,
    ) {
        if self.level >= LogLevel::Normal || result != "ok" {
            self.line(
                peer,
                user,
                format_args!(
                    "{direction} {path:?} {bytes} bytes in {:.3}s: {result}",
                    elapsed.as_secs_f64()
                ),
            );
        }
    }
}

/// User names and command lines come from clients: no line ends or
/// terminal escapes of theirs reach the log (one event, one line).
fn clean(line: &str) -> String {
    line.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_cannot_forge_log_lines_or_drive_the_terminal() {
        assert_eq!(
            clean("x evil\n2026-01-01T00:00:00Z 1.2.3.4:5 root logged in\u{1b}[2J"),
            "x evil?2026-01-01T00:00:00Z 1.2.3.4:5 root logged in?[2J"
        );
        assert_eq!(clean("naïve 日本"), "naïve 日本");
    }
}
