//! Machine-readable listings, RFC 3659 §7: the facts of MLSD lines (see
//! [`listing`](super::listing)) and MLST (one entry over the control
//! connection), from the storage seam's metadata.
//!
//! Facts offered: `type`, `size`, `modify`, `perm` and `unique` (device and
//! inode where the back end has them). `OPTS MLST` selects which are sent.
//! Entries are `fact=value;...; name`, one per line, CRLF-terminated.

use super::time::mdtm;
use crate::storage::{Metadata, Storage, StorageError, VirtualPath};

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
pub fn facts(meta: &Metadata, set: FactSet, writable: bool) -> String {
    let is_dir = meta.is_dir();
    let mut out = String::new();
    let [t, size, modify, perm, unique] = set.0;
    if t {
        out.push_str(if is_dir { "type=dir;" } else { "type=file;" });
    }
    if size && !is_dir {
        out.push_str(&format!("size={};", meta.len));
    }
    if modify {
        out.push_str(&format!("modify={};", mdtm(meta.modified)));
    }
    if perm {
        let w = writable && !meta.readonly();
        let p = match (is_dir, w) {
            (true, true) => "cdeflmp",
            (true, false) => "el",
            (false, true) => "adfrw",
            (false, false) => "r",
        };
        out.push_str(&format!("perm={p};"));
    }
    if let (true, Some((dev, ino))) = (unique, meta.unique) {
        out.push_str(&format!("unique={dev:x}g{ino:x};"));
    }
    out.push(' ');
    out
}

/// The MLST entry line for `v` (without the leading space of the reply).
pub fn mlst(
    storage: &dyn Storage,
    v: &VirtualPath,
    set: FactSet,
    writable: bool,
) -> Result<String, StorageError> {
    let meta = storage.stat(v)?;
    Ok(format!("{}{}", facts(&meta, set, writable), v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::listing::{Format, Listing};
    use crate::storage::LocalDisk;
    use std::sync::Arc;

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
        let storage: Arc<dyn Storage> = Arc::new(LocalDisk::new(root.path()).unwrap());
        let format = Format::Machine {
            facts: FactSet::default(),
            writable: true,
        };
        let mut out = Vec::new();
        Listing::open(&storage, &VirtualPath::root(), format)
            .unwrap()
            .write_to(&mut out, std::time::SystemTime::now())
            .unwrap();
        let text = String::from_utf8(out).unwrap();
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
            storage.as_ref(),
            &VirtualPath::root().join("a b").unwrap(),
            FactSet::parse("size"),
            false,
        )
        .unwrap();
        assert_eq!(one, "size=3; /a b");
    }
}
