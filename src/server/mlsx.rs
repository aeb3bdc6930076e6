//! Machine-readable listings, RFC 3659 §7: MLSD (over the data connection)
//! and MLST (one entry over the control connection).
//!
//! Facts offered: `type`, `size`, `modify`, `perm` and `unique` (device and
//! inode, cheap from `stat`). `OPTS MLST` selects which are sent. Entries
//! are `fact=value;...; name`, one per line, CRLF-terminated.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

use super::fs::{FsError, Jail, VirtualPath};
use super::listing::{entries, ListFlags};
use crate::time::mdtm;

/// The facts this server can send, in FEAT order.
pub const FACTS: [&str; 5] = ["type", "size", "modify", "perm", "unique"];

/// Which facts a session asked for (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactSet([bool; 5]);

impl Default for FactSet {
    fn default() -> Self {
        FactSet([true; 5])
    }
}

impl FactSet {
    /// Parses the argument of `OPTS MLST`: `type;size;` (unknown facts are
    /// ignored, as RFC 3659 §7.9 says).
    pub fn parse(list: &str) -> FactSet {
        let mut set = [false; 5];
        for fact in list.split(';').map(str::trim) {
            if let Some(i) = FACTS.iter().position(|f| f.eq_ignore_ascii_case(fact)) {
                set[i] = true;
            }
        }
        FactSet(set)
    }

    /// The selected facts as `type;size;` (the reply to OPTS MLST).
    pub fn selected(&self) -> String {
        FACTS
            .iter()
            .zip(self.0)
            .filter(|(_, on)| *on)
            .map(|(f, _)| format!("{f};"))
            .collect()
    }

    /// The FEAT line: every fact, selected ones marked with `*`.
    pub fn feat(&self) -> String {
        let facts: String = FACTS
            .iter()
            .zip(self.0)
            .map(|(f, on)| format!("{f}{};", if on { "*" } else { "" }))
            .collect();
        format!(" MLST {facts}")
    }
}

/// The facts of one entry, as `type=file;size=3;... ` (with the space).
fn facts(meta: &Metadata, set: FactSet, writable: bool) -> String {
    let is_dir = meta.is_dir();
    let mut out = String::new();
    let [t, size, modify, perm, unique] = set.0;
    if t {
        out.push_str(if is_dir { "type=dir;" } else { "type=file;" });
    }
    if size && !is_dir {
        out.push_str(&format!("size={};", meta.len()));
    }
    if modify {
        let m = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        out.push_str(&format!("modify={};", mdtm(m)));
    }
    if perm {
        let w = writable && !meta.permissions().readonly();
        let p = match (is_dir, w) {
            (true, true) => "cdeflmp",
            (true, false) => "el",
            (false, true) => "adfrw",
            (false, false) => "r",
        };
        out.push_str(&format!("perm={p};"));
    }
    if unique {
        out.push_str(&format!("unique={:x}g{:x};", meta.dev(), meta.ino()));
    }
    out.push(' ');
    out
}

/// MLSD output for the directory `v`.
pub fn mlsd(
    jail: &Jail,
    v: &VirtualPath,
    set: FactSet,
    writable: bool,
) -> Result<Vec<u8>, FsError> {
    jail.directory(v)?;
    let mut out = String::new();
    for e in entries(jail, v, ListFlags { all: true })? {
        // MLSD shows what a link points to, not the link itself.
        let meta = if e.meta.file_type().is_symlink() {
            match jail
                .existing(&v.join(&e.name)?)
                .and_then(|p| std::fs::metadata(&p).map_err(|err| FsError::from_io(v, err)))
            {
                Ok(m) => m,
                Err(_) => continue,
            }
        } else {
            e.meta
        };
        out.push_str(&facts(&meta, set, writable));
        out.push_str(&e.name);
        out.push_str("\r\n");
    }
    Ok(out.into_bytes())
}

/// The MLST entry line for `v` (without the leading space of the reply).
pub fn mlst(jail: &Jail, v: &VirtualPath, set: FactSet, writable: bool) -> Result<String, FsError> {
    let real = jail.existing(v)?;
    let meta = std::fs::metadata(&real).map_err(|e| FsError::from_io(v, e))?;
    Ok(format!("{}{}", facts(&meta, set, writable), v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_sets() {
        let set = FactSet::parse("Type;size;bogus;");
        assert_eq!(set.selected(), "type;size;");
        assert_eq!(set.feat(), " MLST type*;size*;modify;perm;unique;");
        assert_eq!(
            FactSet::default().selected(),
            "type;size;modify;perm;unique;"
        );
    }

    #[test]
    fn entries_carry_their_facts() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a b"), b"123").unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        let jail = Jail::new(root.path()).unwrap();
        let text =
            String::from_utf8(mlsd(&jail, &VirtualPath::root(), FactSet::default(), true).unwrap())
                .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("type=file;size=3;modify=") && lines[0].ends_with("; a b"),
            "{text}"
        );
        assert!(lines[0].contains("perm=adfrw;"), "{text}");
        assert!(
            lines[1].starts_with("type=dir;modify=") && lines[1].ends_with("; d"),
            "{text}"
        );
        let one = mlst(
            &jail,
            &VirtualPath::root().join("a b").unwrap(),
            FactSet::parse("size"),
            false,
        )
        .unwrap();
        assert_eq!(one, "size=3; /a b");
    }
}
