//! Directory listings: LIST in the `ls -l` form and NLST as bare names.
//!
//! LIST has no standard format (RFC 959 §4.1.3 leaves it to the system), so
//! it follows what lftp, curl, FileZilla and browsers parse: the Unix `ls -l`
//! layout, with owner and group shown as `ftp` (numeric ids of the server's
//! accounts are none of the client's business, and vsftpd does the same).
//! Upload temporaries are never shown; dot files only with `-a`.

use std::fs::{self, Metadata};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::SystemTime;

use super::fs::{is_temp_name, FsError, Jail, VirtualPath};
use crate::time::ls_date;

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

/// One entry to list.
pub(super) struct Entry {
    pub name: String,
    pub meta: Metadata,
    pub link_target: Option<String>,
}

/// The entries of directory `v` (or `v` itself if it is a file), sorted by
/// name, without upload temporaries and, unless `flags.all`, dot files.
pub(super) fn entries(
    jail: &Jail,
    v: &VirtualPath,
    flags: ListFlags,
) -> Result<Vec<Entry>, FsError> {
    let real = jail.existing(v)?;
    let meta = fs::metadata(&real).map_err(|e| FsError::from_io(v, e))?;
    if !meta.is_dir() {
        let name = v.file_name().unwrap_or("/").to_string();
        return Ok(vec![Entry {
            name,
            meta,
            link_target: None,
        }]);
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(&real).map_err(|e| FsError::from_io(v, e))? {
        let entry = entry.map_err(|e| FsError::from_io(v, e))?;
        let os_name = entry.file_name();
        if is_temp_name(&os_name) {
            continue;
        }
        let name = os_name.to_string_lossy().into_owned();
        // A line end inside a name would break the listing's lines; RFC 3659
        // §2.2 allows omitting such names.
        if name.contains(['\r', '\n']) {
            continue;
        }
        if name.starts_with('.') && !flags.all {
            continue;
        }
        // An entry that vanished meanwhile is simply not listed.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let link_target = meta
            .file_type()
            .is_symlink()
            .then(|| link_target(&entry.path()))
            .flatten();
        out.push(Entry {
            name,
            meta,
            link_target,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn link_target(path: &Path) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

/// The `ls -l` permission column: type letter and nine permission bits.
fn mode_string(meta: &Metadata) -> String {
    let kind = meta.file_type();
    let t = if kind.is_dir() {
        'd'
    } else if kind.is_symlink() {
        'l'
    } else {
        '-'
    };
    let mode = meta.permissions().mode();
    let mut s = String::with_capacity(10);
    s.push(t);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// LIST output for `v`: one `ls -l` line per entry, CRLF-terminated.
pub fn list(jail: &Jail, v: &VirtualPath, flags: ListFlags) -> Result<Vec<u8>, FsError> {
    let now = SystemTime::now();
    let mut out = String::new();
    for e in entries(jail, v, flags)? {
        let mtime = e.meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        out.push_str(&format!(
            "{} {:>3} ftp      ftp      {:>12} {} {}",
            mode_string(&e.meta),
            e.meta.nlink(),
            e.meta.len(),
            ls_date(mtime, now),
            e.name,
        ));
        if let Some(target) = e.link_target {
            out.push_str(" -> ");
            out.push_str(&target);
        }
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

/// NLST output for `v`: bare names, CRLF-terminated.
pub fn name_list(jail: &Jail, v: &VirtualPath, flags: ListFlags) -> Result<Vec<u8>, FsError> {
    let mut out = String::new();
    for e in entries(jail, v, flags)? {
        out.push_str(&e.name);
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let jail = Jail::new(root.path()).unwrap();
        let names = name_list(&jail, &VirtualPath::root(), ListFlags::default()).unwrap();
        assert_eq!(String::from_utf8(names).unwrap(), "a file\r\ndir\r\n");
        let all = name_list(&jail, &VirtualPath::root(), ListFlags { all: true }).unwrap();
        assert_eq!(
            String::from_utf8(all).unwrap(),
            ".hidden\r\na file\r\ndir\r\n"
        );
        let long =
            String::from_utf8(list(&jail, &VirtualPath::root(), ListFlags::default()).unwrap())
                .unwrap();
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
    fn a_single_file_lists_as_itself() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("f"), b"x").unwrap();
        let jail = Jail::new(root.path()).unwrap();
        let v = VirtualPath::root().join("f").unwrap();
        assert_eq!(
            name_list(&jail, &v, ListFlags::default()).unwrap(),
            b"f\r\n"
        );
    }
}
