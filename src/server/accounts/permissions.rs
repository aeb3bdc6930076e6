//! What an account may do, and where: nine permissions, a set of them for
//! the home, and overrides for subtrees of the home (the longest matching
//! path prefix wins, by whole path components).
//!
//! The session checks a permission where it handles a verb, before it asks
//! the storage for anything (spec/SECURITY.md §"Homes and permissions" has
//! the table of verbs and permissions). Paths here are in the user's view:
//! `/` is the user's home.

use std::fmt;

use crate::storage::VirtualPath;

/// One thing an account may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// LIST, NLST, MLSD, MLST, STAT of a path (and SIZE/MDTM, see below).
    List,
    /// RETR (and SIZE/MDTM).
    Download,
    /// STOR of a new name, STOU.
    Upload,
    /// STOR onto an existing name (with `upload`), RNTO onto one, MFMT.
    Overwrite,
    /// APPE and REST + STOR of an existing file, to its end (a new file
    /// needs `upload` too; REST short of the end `overwrite` too).
    Append,
    /// DELE.
    Delete,
    /// RNFR and RNTO (both ends).
    Rename,
    /// MKD.
    Mkdir,
    /// RMD.
    Rmdir,
}

impl Permission {
    /// Every permission, in the order the config file documents them.
    pub const ALL: [Permission; 9] = [
        Permission::List,
        Permission::Download,
        Permission::Upload,
        Permission::Overwrite,
        Permission::Append,
        Permission::Delete,
        Permission::Rename,
        Permission::Mkdir,
        Permission::Rmdir,
    ];

    /// The name used in the config file and in 550 replies.
    pub fn name(self) -> &'static str {
        match self {
            Permission::List => "list",
            Permission::Download => "download",
            Permission::Upload => "upload",
            Permission::Overwrite => "overwrite",
            Permission::Append => "append",
            Permission::Delete => "delete",
            Permission::Rename => "rename",
            Permission::Mkdir => "mkdir",
            Permission::Rmdir => "rmdir",
        }
    }

    /// The permission named `name` (as in the config file).
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct PermissionSet(u16);

impl PermissionSet {
    /// Nothing allowed.
    pub const NONE: PermissionSet = PermissionSet(0);

    /// Everything allowed: the accounts of a server without `--config`.
    pub fn all() -> PermissionSet {
        Permission::ALL.into_iter().collect()
    }

    /// Reading only (`list`, `download`): `--read-only` without `--config`.
    pub fn read() -> PermissionSet {
        [Permission::List, Permission::Download]
            .into_iter()
            .collect()
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// True when the set allows any change to the tree.
    pub fn writes(self) -> bool {
        self.0 & !PermissionSet::read().0 != 0
    }

    /// The permissions in the set, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        PermissionSet(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(Permission::name))
            .finish()
    }
}

impl fmt::Display for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Permission::name).collect();
        write!(f, "[{}]", names.join(", "))
    }
}

/// An operation refused for want of a permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Permission denied: your account lacks the \"{permission}\" permission for {path}.")]
pub struct Denied {
    pub permission: Permission,
    pub path: VirtualPath,
}

/// A rename refused because it would move a subtree that has permissions
/// of its own: renaming `/a` while `/a/secret` has an override would carry
/// what is in `/a/secret` out from under that override (to `/b/secret`,
/// where the home's permissions apply), or carry a directory in under one.
/// Each end of a rename is checked for `rename` at that path only, so the
/// entries beneath would otherwise never be asked about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Permission denied: {path} holds {inner}, which has permissions of its own; renaming {path} \
     would change what may be done inside {inner}. Rename the entries beside it one by one instead."
)]
pub struct CarriesOverride {
    pub path: VirtualPath,
    pub inner: VirtualPath,
}

/// An account's permissions: a set for the home and overrides for
/// subtrees of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    home: PermissionSet,
    /// Overrides, deepest first, so the first prefix that matches is the
    /// longest.
    paths: Vec<(VirtualPath, PermissionSet)>,
}

impl Rules {
    /// `home` everywhere, except where an override's path is a prefix of
    /// the path asked about.
    pub fn new(home: PermissionSet, overrides: Vec<(VirtualPath, PermissionSet)>) -> Rules {
        let mut paths = overrides;
        paths.sort_by_key(|(p, _)| std::cmp::Reverse(p.parts().count()));
        Rules { home, paths }
    }

    /// The same permissions everywhere.
    pub fn uniform(set: PermissionSet) -> Rules {
        Rules::new(set, Vec::new())
    }

    /// What is allowed at `path`: the set of the longest override whose
    /// path is `path` or one of its ancestors, else the home's.
    pub fn at(&self, path: &VirtualPath) -> PermissionSet {
        self.paths
            .iter()
            .find(|(prefix, _)| is_prefix(prefix, path))
            .map_or(self.home, |(_, set)| *set)
    }

    /// `Ok` when `permission` is allowed at `path`.
    pub fn check(&self, path: &VirtualPath, permission: Permission) -> Result<(), Denied> {
        if self.at(path).contains(permission) {
            Ok(())
        } else {
            Err(Denied {
                permission,
                path: path.clone(),
            })
        }
    }

    /// `Ok` when at least one of `any` is allowed at `path`; otherwise the
    /// refusal names the first.
    pub fn check_any(&self, path: &VirtualPath, any: &[Permission]) -> Result<(), Denied> {
        let set = self.at(path);
        match any.iter().find(|p| set.contains(**p)) {
            Some(_) => Ok(()),
            None => Err(Denied {
                permission: any[0],
                path: path.clone(),
            }),
        }
    }

    /// `Ok` when renaming `path` (either end of RNFR/RNTO) moves no
    /// override: no override lies strictly beneath `path`.
    pub fn check_movable(&self, path: &VirtualPath) -> Result<(), CarriesOverride> {
        match self
            .paths
            .iter()
            .find(|(inner, _)| inner != path && is_prefix(path, inner))
        {
            Some((inner, _)) => Err(CarriesOverride {
                path: path.clone(),
                inner: inner.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The home's set and the overrides, for `--check-config`.
    pub fn describe(&self) -> (PermissionSet, &[(VirtualPath, PermissionSet)]) {
        (self.home, &self.paths)
    }
}

/// True when `prefix` is `path` or an ancestor of it, by whole components.
fn is_prefix(prefix: &VirtualPath, path: &VirtualPath) -> bool {
    let mut parts = path.parts();
    prefix.parts().all(|p| parts.next() == Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    fn set(ps: &[Permission]) -> PermissionSet {
        ps.iter().copied().collect()
    }

    #[test]
    fn names_round_trip_and_sets_hold_what_was_put_in() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
        assert_eq!(Permission::from_name("write"), None);
        let s = set(&[Permission::Upload, Permission::List]);
        assert!(s.contains(Permission::Upload) && s.contains(Permission::List));
        assert!(!s.contains(Permission::Download));
        assert_eq!(s.to_string(), "[list, upload]");
        assert!(s.writes());
        assert!(!PermissionSet::read().writes());
        assert_eq!(PermissionSet::all().iter().count(), 9);
    }

    #[test]
    fn the_longest_matching_prefix_wins_by_whole_components() {
        use Permission::*;
        let rules = Rules::new(
            set(&[List, Download]),
            vec![
                (v("/incoming"), set(&[Upload])),
                (v("/incoming/checked"), set(&[List, Download, Delete])),
            ],
        );
        assert_eq!(rules.at(&v("/")), set(&[List, Download]));
        assert_eq!(rules.at(&v("/pub/x")), set(&[List, Download]));
        assert_eq!(rules.at(&v("/incoming")), set(&[Upload]));
        assert_eq!(rules.at(&v("/incoming/x")), set(&[Upload]));
        assert_eq!(
            rules.at(&v("/incoming/checked/y")),
            set(&[List, Download, Delete])
        );
        // A name that merely starts with the prefix is not under it.
        assert_eq!(rules.at(&v("/incomingx")), set(&[List, Download]));
        let denied = rules.check(&v("/incoming/x"), Download).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "Permission denied: your account lacks the \"download\" permission for /incoming/x."
        );
        assert!(rules.check(&v("/incoming/x"), Upload).is_ok());
        assert!(rules
            .check_any(&v("/incoming/x"), &[List, Download])
            .is_err());
        assert!(rules.check_any(&v("/x"), &[List, Download]).is_ok());
    }

    #[test]
    fn only_paths_with_no_override_beneath_may_be_renamed() {
        use Permission::*;
        let rules = Rules::new(set(&[List, Rename]), vec![(v("/a/secret"), set(&[Upload]))]);
        for above in ["/a", "/"] {
            let refused = rules.check_movable(&v(above)).unwrap_err();
            assert_eq!(refused.inner, v("/a/secret"));
        }
        // The override's own directory moves under its own `rename`, and
        // names beside it or merely sharing a prefix are free.
        for free in ["/a/secret", "/a/secret/x", "/a/other", "/ab", "/b"] {
            assert!(rules.check_movable(&v(free)).is_ok(), "{free}");
        }
    }
}
