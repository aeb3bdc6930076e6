//! Directory listings, generated entry by entry from the storage seam's
//! metadata: LIST in the `ls -l` form, NLST as bare names and MLSD as
//! RFC 3659 §7 facts.
//!
//! LIST has no standard format (RFC 959 §4.1.3 leaves it to the system), so
//! it follows what lftp, curl, FileZilla and browsers parse: the Unix `ls -l`
//! layout, with owner and group shown as `ftp` (numeric ids of the server's
//! accounts are none of the client's business, and vsftpd does the same).
//! Dot files only with `-a`.
//!
//! A [`Listing`] is produced as it is sent: directories of up to
//! [`LISTING_SORT_LIMIT`] entries are sorted by name, larger ones stream in
//! the back end's order, so a directory of 100,000 entries is never held
//! whole in memory.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::SystemTime;

use super::mlsx::{facts, FactSet};
use super::time::ls_date;
use crate::limits::LISTING_SORT_LIMIT;
use crate::protocol::ReplyCode;
use crate::storage::{Entries, Entry, Kind, Metadata, Storage, StorageError, VirtualPath};

/// Options given to LIST/NLST as `ls`-style flags (`-a`, `-l`, `-la`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ListFlags {
    pub all: bool,
}

/// Splits leading `-flags` words off a LIST/NLST argument, as `ls` would.
/// A name that starts with `-` can still be listed as `./-name`.
pub fn split_flags(arg: Option<&str>) -> (ListFlags, Option<&str>) {
    let mut flags = ListFlags::default();
    let Some(mut rest) = arg else {
        return (flags, None);
    };
    while let Some(word) = rest.strip_prefix('-') {
        let (word, after) = word.split_once(' ').unwrap_or((word, ""));
        if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) {
            break;
        }
        flags.all |= word.contains('a');
        rest = after.trim_start();
    }
    (flags, Some(rest).filter(|r| !r.is_empty()))
}

/// Which listing, and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LIST: `ls -l` lines.
    Long(ListFlags),
    /// NLST: names.
    Names(ListFlags),
    /// MLSD: facts; `writable` says whether the session may write.
    Machine { facts: FactSet, writable: bool },
}

impl Format {
    fn shows_dot_files(self) -> bool {
        match self {
            Format::Long(f) | Format::Names(f) => f.all,
            Format::Machine { .. } => true,
        }
    }
}

/// A listing being produced, one line at a time.
pub struct Listing {
    storage: Arc<dyn Storage>,
    dir: VirtualPath,
    format: Format,
    /// Entries read ahead (sorted when the directory was small).
    head: std::vec::IntoIter<Entry>,
    /// The rest of a large directory, streamed.
    rest: Option<Entries>,
    /// Why the directory could not be read to its end.
    error: Option<StorageError>,
}

impl std::fmt::Debug for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing")
            .field("dir", &self.dir)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Listing {
    /// Starts listing `v`: a directory's entries, or a file as itself
    /// (LIST and NLST only; MLSD of a file is
    /// [`StorageError::NotADirectory`]).
    pub fn open(
        storage: &Arc<dyn Storage>,
        v: &VirtualPath,
        format: Format,
    ) -> Result<Listing, StorageError> {
        let meta = storage.stat(v)?;
        let mut listing = Listing {
            storage: Arc::clone(storage),
            dir: v.clone(),
            format,
            head: Vec::new().into_iter(),
            rest: None,
            error: None,
        };
        if !meta.is_dir() {
            if matches!(format, Format::Machine { .. }) {
                return Err(StorageError::NotADirectory(v.clone()));
            }
            let name = v.file_name().unwrap_or("/").to_string();
            listing.dir = v.parent();
            listing.head = vec![Entry {
                name,
                meta,
                link_target: None,
            }]
            .into_iter();
            return Ok(listing);
        }
        let mut entries = storage.list(v)?;
        let mut head = Vec::new();
        for entry in entries.by_ref() {
            // A directory that cannot be read is refused before 150.
            let entry = entry?;
            if entry.name.starts_with('.') && !format.shows_dot_files() {
                continue;
            }
            head.push(entry);
            if head.len() > LISTING_SORT_LIMIT {
                listing.rest = Some(entries);
                break;
            }
        }
        if listing.rest.is_none() {
            head.sort_by(|a, b| a.name.cmp(&b.name));
        }
        listing.head = head.into_iter();
        Ok(listing)
    }

    fn next_entry(&mut self) -> Option<Entry> {
        if let Some(e) = self.head.next() {
            return Some(e);
        }
        let shows_dots = self.format.shows_dot_files();
        let rest = self.rest.as_mut()?;
        for entry in rest.by_ref() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    // A read error ends the listing where it happened; the
                    // transfer then fails rather than pass for complete.
                    self.error = Some(e);
                    break;
                }
            };
            if entry.name.starts_with('.') && !shows_dots {
                continue;
            }
            return Some(entry);
        }
        self.rest = None;
        None
    }

    /// The next line, CRLF-terminated; `now` decides the `ls -l` date form.
    pub fn next_line(&mut self, now: SystemTime) -> Option<String> {
        loop {
            let e = self.next_entry()?;
            // A line end inside a name would break the listing's lines;
            // RFC 3659 §2.2 allows omitting such names.
            if e.name.contains(['\r', '\n']) {
                continue;
            }
            let line = match self.format {
                Format::Long(_) => long_line(&e, now),
                Format::Names(_) => format!("{}\r\n", e.name),
                Format::Machine {
                    facts: set,
                    writable,
                } => {
                    // MLSD shows what a link points to, not the link itself.
                    let meta = if e.meta.kind == Kind::Symlink {
                        let Ok(target) = self.dir.join(&e.name).and_then(|p| self.storage.stat(&p))
                        else {
                            continue;
                        };
                        target
                    } else {
                        e.meta
                    };
                    format!("{}{}\r\n", facts(&meta, set, writable), e.name)
                }
            };
            return Some(line);
        }
    }

    /// Why the directory could not be read to its end, once the listing
    /// has been produced.
    pub fn take_error(&mut self) -> Option<StorageError> {
        self.error.take()
    }

    /// Writes the whole listing to `out`; returns the bytes written.
    pub fn write_to(&mut self, out: &mut impl Write, now: SystemTime) -> io::Result<u64> {
        let mut sent = 0;
        while let Some(line) = self.next_line(now) {
            out.write_all(line.as_bytes())?;
            sent += line.len() as u64;
        }
        Ok(sent)
    }
}

/// A multi-line reply whose middle is a listing (STAT with a path, RFC 959
/// §4.1.3), written as it is produced: a directory of 20,000 entries is
/// never held whole, and a client that does not read its replies holds up
/// only a small buffer.
#[derive(Debug)]
pub struct ListingReply {
    pub code: ReplyCode,
    /// The first line's text (`Status of /dir:`).
    pub first: String,
    pub listing: Listing,
    /// The last line's text (`End of status`).
    pub last: String,
}

impl ListingReply {
    /// Writes the whole reply to `out`; returns the number of lines.
    pub fn write_to(mut self, out: &mut impl Write, now: SystemTime) -> io::Result<usize> {
        let code = self.code;
        write!(out, "{code}-{}\r\n", self.first)?;
        let mut lines = 2;
        while let Some(line) = self.listing.next_line(now) {
            // Indented: no middle line can read as the reply's end.
            write!(out, " {}\r\n", line.trim_end())?;
            lines += 1;
        }
        match self.listing.take_error() {
            Some(e) => write!(
                out,
                "{code} {}; the listing stopped early: {e}\r\n",
                self.last
            )?,
            None => write!(out, "{code} {}\r\n", self.last)?,
        }
        out.flush()?;
        Ok(lines)
    }
}

/// The `ls -l` permission column: type letter and nine permission bits.
fn mode_string(meta: &Metadata) -> String {
    let t = match meta.kind {
        Kind::Dir => 'd',
        Kind::Symlink => 'l',
        Kind::File | Kind::Other => '-',
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    for shift in [6, 3, 0] {
        let bits = (meta.mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// One LIST line.
fn long_line(e: &Entry, now: SystemTime) -> String {
    let mut line = format!(
        "{} {:>3} ftp      ftp      {:>12} {} {}",
        mode_string(&e.meta),
        e.meta.nlink,
        e.meta.len,
        ls_date(e.meta.modified, now),
        e.name,
    );
    if let Some(target) = &e.link_target {
        line.push_str(" -> ");
        // A link's text is anyone's to write (`ln -s $'x\r\nforged' l`):
        // a line end in it would forge a listing line, so control
        // characters are shown as `?`, as `ls` shows them.
        line.extend(target.chars().map(|c| if c.is_control() { '?' } else { c }));
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalDisk;
    use std::fs;

    fn text(storage: &Arc<dyn Storage>, path: &str, format: Format) -> String {
        let v = VirtualPath::root().join(path).unwrap();
        let mut out = Vec::new();
        Listing::open(storage, &v, format)
            .unwrap()
            .write_to(&mut out, SystemTime::now())
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn disk(root: &std::path::Path) -> Arc<dyn Storage> {
        Arc::new(LocalDisk::new(root).unwrap())
    }

    #[test]
    fn flags_are_split_off() {
        assert_eq!(split_flags(None), (ListFlags::default(), None));
        assert_eq!(split_flags(Some("-la")), (ListFlags { all: true }, None));
        assert_eq!(
            split_flags(Some("-l dir x")),
            (ListFlags::default(), Some("dir x"))
        );
        assert_eq!(
            split_flags(Some("-a -l sub")),
            (ListFlags { all: true }, Some("sub"))
        );
        assert_eq!(
            split_flags(Some("./-x")),
            (ListFlags::default(), Some("./-x"))
        );
    }

    #[test]
    fn listings_show_files_and_hide_temporaries_and_dot_files() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("a file"), b"12345").unwrap();
        fs::create_dir(root.path().join("dir")).unwrap();
        fs::write(root.path().join(".hidden"), b"").unwrap();
        fs::write(root.path().join(".ftp-upload.1.1"), b"").unwrap();
        let storage = disk(root.path());
        let names = text(&storage, "/", Format::Names(ListFlags::default()));
        assert_eq!(names, "a file\r\ndir\r\n");
        let all = text(&storage, "/", Format::Names(ListFlags { all: true }));
        assert_eq!(all, ".hidden\r\na file\r\ndir\r\n");
        let long = text(&storage, "/", Format::Long(ListFlags::default()));
        let lines: Vec<&str> = long.lines().collect();
        assert!(lines[0].starts_with("-rw"), "{long}");
        assert!(
            lines[0].contains("            5 ") && lines[0].ends_with("a file"),
            "{long}"
        );
        assert!(
            lines[1].starts_with("drwx") && lines[1].ends_with(" dir"),
            "{long}"
        );
    }

    #[test]
    fn no_line_end_reaches_a_listing_from_a_name_or_a_link_target() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("hid\rden"), b"").unwrap();
        fs::write(root.path().join("two\nlines"), b"").unwrap();
        std::os::unix::fs::symlink(
            "x\r\n-rw-r--r-- 1 ftp ftp 0 Jan 1 2026 forged",
            root.path().join("l"),
        )
        .unwrap();
        let storage = disk(root.path());
        for format in [
            Format::Long(ListFlags::default()),
            Format::Names(ListFlags::default()),
            Format::Machine {
                facts: FactSet::default(),
                writable: true,
            },
        ] {
            let listing = text(&storage, "/", format);
            let lines: Vec<&str> = listing.split("\r\n").filter(|l| !l.is_empty()).collect();
            assert!(
                lines.iter().all(|l| !l.contains(['\r', '\n'])),
                "{format:?}: {listing:?}"
            );
            assert!(
                !listing.contains("hid") && !listing.contains("two"),
                "{listing:?}"
            );
        }
        let long = text(&storage, "/", Format::Long(ListFlags::default()));
        assert_eq!(
            long.matches("\r\n").count(),
            1,
            "one entry, one line: {long:?}"
        );
        assert!(long.contains(" -> x??-rw-r--r--"), "{long:?}");
    }

    #[test]
    fn a_single_file_lists_as_itself() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("f"), b"x").unwrap();
        let storage = disk(root.path());
        assert_eq!(
            text(&storage, "f", Format::Names(ListFlags::default())),
            "f\r\n"
        );
    }

    #[test]
    fn small_directories_are_sorted_and_large_ones_streamed_whole() {
        let root = tempfile::tempdir().unwrap();
        for i in (0..50).rev() {
            fs::write(root.path().join(format!("f{i:03}")), b"").unwrap();
        }
        let storage = disk(root.path());
        let small = text(&storage, "/", Format::Names(ListFlags::default()));
        let names: Vec<&str> = small.lines().collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for i in 50..LISTING_SORT_LIMIT + 300 {
            fs::write(root.path().join(format!("f{i:05}")), b"").unwrap();
        }
        let large = text(&storage, "/", Format::Names(ListFlags::default()));
        let mut got: Vec<&str> = large.lines().collect();
        assert_eq!(got.len(), LISTING_SORT_LIMIT + 300, "every entry, once");
        got.sort();
        got.dedup();
        assert_eq!(got.len(), LISTING_SORT_LIMIT + 300);
    }
}
