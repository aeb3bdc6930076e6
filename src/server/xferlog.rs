//! `--xferlog FILE`: one line per file transfer in the wu-ftpd `xferlog`
//! format that vsftpd and ProFTPD also write and log analyzers read
//! (`man 5 xferlog`):
//!
//! ```text
//! Tue Dec  1 18:41:53 2026 3 127.0.0.1 2097152 /pub/big.iso b _ o a anonymous ftp 0 * c
//! ```
//!
//! current-time (ctime form, **UTC**), transfer-time (whole seconds, at
//! least 1, as vsftpd writes), remote-host (the client's address, not
//! resolved), file-size (bytes moved), filename (the path as the client
//! sees it, spaces replaced by `_` as vsftpd does, so the line keeps its
//! field count; control characters become `?`), transfer-type (`a` ASCII,
//! `b` binary), special-action-flag (`_`, none), direction (`o` outgoing,
//! `i` incoming), access-mode (`a` anonymous, `r` real user), username
//! (the login name; for anonymous, the password given as identification,
//! as vsftpd does), service-name `ftp`, authentication-method `0`,
//! authenticated-user-id `*`, completion-status (`c` complete, `i`
//! incomplete). Listings are not logged.
//!
//! The file is opened with `O_APPEND` and each line is one `write(2)`, so
//! lines of concurrent sessions never interleave; [`TransferLog::reopen`]
//! (SIGHUP) opens the path again, for logrotate.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::log::Direction;
use super::time::civil;

const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One finished (or cut) transfer.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// When it ended.
    pub when: SystemTime,
    pub elapsed: Duration,
    pub remote: IpAddr,
    pub bytes: u64,
    pub path: &'a str,
    pub ascii: bool,
    /// Download or upload (listings are not logged).
    pub direction: Direction,
    pub anonymous: bool,
    /// The user name, or an anonymous user's identification.
    pub user: &'a str,
    pub complete: bool,
}

/// `Tue Dec  1 18:41:53 2026`, as ctime(3) writes it, in UTC.
pub fn ctime(t: SystemTime) -> String {
    let c = civil(t);
    let days = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(c.month - 1) as usize],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// A field of the line: never empty, no blank or control character.
fn field(text: &str) -> String {
    if text.is_empty() {
        return "*".to_string();
    }
    text.chars()
        .map(|c| match c {
            ' ' | '\t' => '_',
            c if c.is_control() || c.is_whitespace() => '?',
            c => c,
        })
        .collect()
}

/// The line for `entry`, with its newline.
pub fn line(entry: &Entry) -> String {
    format!(
        "{} {} {} {} {} {} _ {} {} {} ftp 0 * {}\n",
        ctime(entry.when),
        entry.elapsed.as_secs().max(1),
        entry.remote,
        entry.bytes,
        field(entry.path),
        if entry.ascii { 'a' } else { 'b' },
        if entry.direction == Direction::Upload {
            'i'
        } else {
            'o'
        },
        if entry.anonymous { 'a' } else { 'r' },
        field(entry.user),
        if entry.complete { 'c' } else { 'i' },
    )
}

/// The open transfer log.
#[derive(Debug)]
pub struct TransferLog {
    path: PathBuf,
    file: Mutex<File>,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl TransferLog {
    /// Opens (creates) `path` for appending.
    pub fn open(path: &Path) -> io::Result<TransferLog> {
        Ok(TransferLog {
            path: path.to_path_buf(),
            file: Mutex::new(open(path)?),
        })
    }

    /// Where it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the path again (after logrotate moved the file away). On
    /// failure the old file stays in use.
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open(&self.path)?;
        *self.file.lock().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// Appends one line, in one write.
    pub fn record(&self, entry: &Entry) -> io::Result<()> {
        let line = line(entry);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry<'_> {
        Entry {
            // 2026-12-01T18:41:53Z, a Tuesday.
            when: UNIX_EPOCH + Duration::from_secs(1_796_150_513),
            elapsed: Duration::from_millis(200),
            remote: "127.0.0.1".parse().unwrap(),
            bytes: 2048,
            path,
            ascii: false,
            direction: Direction::Download,
            anonymous: true,
            user: "me@example.org",
            complete: true,
        }
    }

    #[test]
    fn a_line_has_the_fields_of_the_format() {
        assert_eq!(
            line(&entry("/pub/a file.txt")),
            "Tue Dec  1 18:41:53 2026 1 127.0.0.1 2048 /pub/a_file.txt b _ o a me@example.org ftp 0 * c\n"
        );
        let mut e = entry("/up/x\nforged line");
        e.direction = Direction::Upload;
        e.anonymous = false;
        e.user = "alice";
        e.complete = false;
        e.ascii = true;
        e.elapsed = Duration::from_secs(12);
        let l = line(&e);
        assert_eq!(l.split_whitespace().count(), 18, "{l}");
        assert!(
            l.ends_with(" 12 127.0.0.1 2048 /up/x?forged_line a _ i r alice ftp 0 * i\n"),
            "{l}"
        );
    }

    #[test]
    fn ctime_pads_the_day_with_a_space() {
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        assert_eq!(
            ctime(UNIX_EPOCH + Duration::from_secs(1_796_150_513)),
            "Tue Dec  1 18:41:53 2026"
        );
    }

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xferlog");
        let log = TransferLog::open(&path).unwrap();
        log.record(&entry("/one")).unwrap();
        std::fs::rename(&path, dir.path().join("xferlog.1")).unwrap();
        log.reopen().unwrap();
        log.record(&entry("/two")).unwrap();
        let old = std::fs::read_to_string(dir.path().join("xferlog.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(old.contains("/one") && !old.contains("/two"));
        assert!(new.contains("/two") && !new.contains("/one"));
    }
}
