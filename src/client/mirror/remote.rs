//! The remote side of a mirror: a walk of a directory into a [`Tree`],
//! one listing per directory.
//!
//! Where FEAT lists MLST, MLSD (RFC 3659 §7) gives exact facts: `type`,
//! `size` and `modify` to the second. Elsewhere (vsftpd) LIST's `ls -l`
//! lines are read: the size column, and a date to the minute for the last
//! six months (`Nov 24 06:05`, the year inferred) or to the day before
//! (`Nov 24  2025`), taken as UTC, which is what vsftpd and pyftpdlib send
//! by default. LIST is asked after CWD into the directory, with `-a` (so
//! that dot files are listed) and no path, since servers read LIST's
//! argument as options or a glob and a name with spaces or brackets would
//! be misread.
//!
//! Links, `.`/`..` and `.NAME.part` files are left out.

use std::time::SystemTime;

use super::tree::{is_part_name, join, FileFacts, Node, Precision, Stamp, Tree};
use crate::client::{Client, ClientError, Result};
use crate::protocol::TimeVal;

/// Every directory and regular file beneath the absolute remote `root`.
/// `Ok(None)` when `root` does not exist (or is no directory).
pub fn walk(client: &mut Client, root: &str) -> Result<Option<Tree>> {
    let mlsd = client.has_feature("MLST")?;
    let home = client.pwd().ok();
    if let Err(e) = client.cwd(root) {
        return match e.reply() {
            Some(r) if r.code().as_u16() == 550 => Ok(None),
            _ => Err(e),
        };
    }
    let now = TimeVal::from_system_time(SystemTime::now());
    let mut tree = Tree::new();
    let mut dirs = vec![String::new()];
    let mut result = Ok(());
    while let Some(rel) = dirs.pop() {
        let dir = join(root, &rel);
        let entries = if mlsd {
            client.mlsd(&dir).map(|text| parse_mlsd(&text))
        } else {
            client
                .cwd(&dir)
                // -a: dot files too (vsftpd hides them otherwise).
                .and_then(|_| client.list(Some("-a"), true))
                .map(|text| parse_list(&text, now))
        };
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        for (name, node) in entries {
            if !acceptable(&name) {
                continue;
            }
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if node == Node::Dir {
                dirs.push(path.clone());
            }
            tree.insert(path, node);
        }
    }
    if let Some(home) = home {
        let _ = client.cwd(&home);
    }
    result.map(|_| Some(tree))
}

/// Whether a listed name may become a path beneath the target: one
/// component, not `.` or `..`, no NUL (a hostile server's `../../x` or
/// `/etc/x` must not reach outside the local directory), and not a part
/// file of a copy in progress.
pub fn acceptable(name: &str) -> bool {
    !(name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\0'])
        || is_part_name(name))
}

/// The entries of an MLSD listing: `fact=value;...; name` lines.
pub fn parse_mlsd(text: &str) -> Vec<(String, Node)> {
    let mut out = Vec::new();
    for line in text.lines() {
        // Facts never hold a space; the one after them starts the name.
        let Some((facts, name)) = line.split_once(' ') else {
            continue;
        };
        let mut kind = None;
        let mut size = None;
        let mut modified = None;
        for fact in facts.split(';') {
            let Some((key, value)) = fact.split_once('=') else {
                continue;
            };
            match key.to_ascii_lowercase().as_str() {
                "type" => kind = Some(value.to_ascii_lowercase()),
                "size" => size = value.parse::<u64>().ok(),
                "modify" => {
                    modified = TimeVal::parse(value).map(|time| Stamp {
                        time,
                        precision: if time.millis == 0 {
                            Precision::Second
                        } else {
                            Precision::Millisecond
                        },
                    })
                }
                _ => {}
            }
        }
        let node = match kind.as_deref() {
            Some("dir") => Node::Dir,
            Some("file") => Node::File(FileFacts {
                size: size.unwrap_or(0),
                modified,
            }),
            _ => continue,
        };
        out.push((name.to_string(), node));
    }
    out
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// The entries of a LIST listing in `ls -l` form, dated against `now`.
/// Lines in other forms (`total 12`, DOS listings) are left out.
pub fn parse_list(text: &str, now: Option<TimeVal>) -> Vec<(String, Node)> {
    text.lines()
        .filter_map(|line| parse_list_line(line, now))
        .collect()
}

fn parse_list_line(line: &str, now: Option<TimeVal>) -> Option<(String, Node)> {
    // perms links owner group size month day time-or-year name
    let mut rest = line;
    let mut fields = Vec::with_capacity(8);
    for _ in 0..8 {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    // One space separates the date from the name, which may itself start
    // with spaces.
    let name = rest.strip_prefix(' ')?;
    let kind = fields[0].chars().next()?;
    let node = match kind {
        'd' => Node::Dir,
        '-' => Node::File(FileFacts {
            size: fields[4].parse().ok()?,
            modified: list_date(fields[5], fields[6], fields[7], now),
        }),
        _ => return None,
    };
    Some((name.to_string(), node))
}

/// `Nov 24 06:05` (this year, or last if that would be in the future) or
/// `Nov 24 2025`.
fn list_date(month: &str, day: &str, when: &str, now: Option<TimeVal>) -> Option<Stamp> {
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u8 + 1;
    let day: u8 = day.parse().ok()?;
    let (year, hour, minute, precision) = match when.split_once(':') {
        Some((h, m)) => {
            let now = now?;
            let (hour, minute): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
            // More than a day ahead of now: it was last year.
            let ahead = (month, day) > (now.month, now.day.saturating_add(1));
            let year = if ahead { now.year - 1 } else { now.year };
            (year, hour, minute, Precision::Minute)
        }
        None => (when.parse().ok()?, 0, 0, Precision::Day),
    };
    let text = format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}00");
    TimeVal::parse(&text).map(|time| Stamp { time, precision })
}

/// Makes the absolute remote directory `dir` and any missing parents.
pub fn make_dirs(client: &mut Client, dir: &str) -> Result<()> {
    if client.cwd(dir).is_ok() {
        return Ok(());
    }
    let mut path = String::new();
    for part in dir.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        // A parent that exists refuses MKD; only the last one matters.
        let _ = client.mkdir(&path);
    }
    client.cwd(dir).map_err(|e| match e {
        ClientError::Refused { reply, .. } => ClientError::Protocol(format!(
            "could not make the remote directory {dir}: the server answered {} {}",
            reply.code(),
            reply.text()
        )),
        e => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_never_become_paths() {
        for bad in [
            "",
            ".",
            "..",
            "../../etc/x",
            "/etc/passwd",
            "a/b",
            "a\0b",
            ".f.part",
        ] {
            assert!(!acceptable(bad), "{bad:?}");
        }
        for good in ["a b", "..a", "ünï", ".htaccess", "x.part"] {
            assert!(acceptable(good), "{good:?}");
        }
    }

    #[test]
    fn mlsd_lines_give_exact_facts() {
        let text = "type=cdir;modify=20260101000000; .\n\
                    type=dir;modify=20260101000000;perm=el; a dir\n\
                    type=file;size=12;modify=20261124060507;unique=1; a; b ü\n\
                    type=OS.unix=symlink;size=3; link\n";
        let entries = parse_mlsd(text);
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert_eq!(entries[0], ("a dir".to_string(), Node::Dir));
        let Node::File(f) = entries[1].1 else {
            panic!("{entries:?}")
        };
        assert_eq!(entries[1].0, "a; b ü");
        assert_eq!(f.size, 12);
        let m = f.modified.unwrap();
        assert_eq!(m.time.to_string(), "20261124060507");
        assert_eq!(m.precision, Precision::Second);
    }

    #[test]
    fn list_lines_give_size_and_a_coarse_date() {
        let now = TimeVal::parse("20260115120000");
        let text = "total 8\n\
                    drwxr-xr-x    2 0        0            4096 Jan 10 10:00 sub dir\n\
                    -rw-r--r--    1 ftp      ftp            12 Jan 14 06:05  two spaces\n\
                    -rw-r--r--    1 ftp      ftp             0 Dec 31 23:59 last year\n\
                    -rw-r--r--    1 ftp      ftp             5 Nov 24  2024 old\n\
                    lrwxrwxrwx    1 ftp      ftp             3 Nov 24  2024 link -> x\n";
        let entries = parse_list(text, now);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["sub dir", " two spaces", "last year", "old"]);
        let stamp = |i: usize| match entries[i].1 {
            Node::File(f) => f.modified.unwrap(),
            Node::Dir => panic!(),
        };
        assert_eq!(stamp(1).time.to_string(), "20260114060500");
        assert_eq!(stamp(1).precision, Precision::Minute);
        assert_eq!(stamp(2).time.to_string(), "20251231235900");
        assert_eq!(stamp(3).time.to_string(), "20241124000000");
        assert_eq!(stamp(3).precision, Precision::Day);
        assert!(matches!(entries[1].1, Node::File(f) if f.size == 12));
    }
}
