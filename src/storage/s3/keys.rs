//! Virtual paths as object keys, and object_store's errors as
//! [`StorageError`]s.
//!
//! The mapping: the key of `/a/b` is `PREFIX` + `a/b`; a directory `/a` is
//! the key prefix `PREFIX` + `a/`, and its marker (written by MKD, and by
//! the S3 consoles and rclone) is the zero-byte object of that very key.
//! `/` is `PREFIX` itself. Keys are used as they are, never
//! percent-encoded here (object_store's `Path::parse` keeps them; its
//! `Path::from` would encode `%`, `#`, `?` and others and so name another
//! object than other S3 tools do).

use std::io;

use object_store::path::Path;

use crate::storage::{StorageError, VirtualPath};

const CONTROL_REFUSED: &str = "names with control characters cannot be object keys";

/// Where the served tree lies in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Empty, or the prefix with one trailing `/` (`team/ftp/`).
    prefix: String,
}

impl Keys {
    /// The tree under `prefix` (slashes at either end and doubled ones do
    /// not matter).
    pub fn new(prefix: &str) -> Keys {
        let parts: Vec<&str> = prefix.split('/').filter(|p| !p.is_empty()).collect();
        let mut prefix = parts.join("/");
        if !prefix.is_empty() {
            prefix.push('/');
        }
        Keys { prefix }
    }

    /// The prefix, empty or ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The tree under the directory `home` of this one.
    pub fn subtree(&self, home: &VirtualPath) -> Keys {
        Keys::new(&self.dir_prefix(home))
    }

    /// The key of the file `v` (not `/`).
    pub fn file_key(&self, v: &VirtualPath) -> String {
        format!("{}{}", self.prefix, v.relative())
    }

    /// The key prefix of the directory `v`: what its entries' keys start
    /// with, and its marker's key.
    pub fn dir_prefix(&self, v: &VirtualPath) -> String {
        if v.is_root() {
            self.prefix.clone()
        } else {
            format!("{}{}/", self.prefix, v.relative())
        }
    }

    /// The file `v` as object_store names it.
    pub fn file(&self, v: &VirtualPath) -> Result<Path, StorageError> {
        if v.is_root() {
            return Err(StorageError::IsADirectory(v.clone()));
        }
        Path::parse(self.file_key(v)).map_err(|_| StorageError::InvalidName(CONTROL_REFUSED))
    }

    /// The directory `v` as object_store names it (its marker's key
    /// without the slash, which object_store strips).
    pub fn dir(&self, v: &VirtualPath) -> Result<Path, StorageError> {
        Path::parse(self.dir_prefix(v)).map_err(|_| StorageError::InvalidName(CONTROL_REFUSED))
    }
}

/// The last segment of a listed key or common prefix: an entry's name.
pub fn name_of(location: &Path) -> String {
    location.filename().unwrap_or_default().to_string()
}

/// Classifies an object store error on `v`.
pub fn fail(v: &VirtualPath, e: object_store::Error) -> StorageError {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => StorageError::NotFound(v.clone()),
        E::AlreadyExists { .. } => StorageError::AlreadyExists(v.clone()),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            StorageError::PermissionDenied(v.clone())
        }
        E::Precondition { .. } => StorageError::Io {
            path: v.clone(),
            source: io::Error::other("the object changed while the command ran; try again"),
        },
        other => StorageError::Io {
            path: v.clone(),
            source: io::Error::other(format!("object store: {other}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    #[test]
    fn prefixes_are_normalized_to_one_trailing_slash() {
        assert_eq!(Keys::new("").prefix(), "");
        assert_eq!(Keys::new("/").prefix(), "");
        assert_eq!(Keys::new("ftp").prefix(), "ftp/");
        assert_eq!(Keys::new("/team//ftp/").prefix(), "team/ftp/");
    }

    #[test]
    fn files_and_directories_map_to_keys_under_the_prefix() {
        let bare = Keys::new("");
        assert_eq!(bare.file_key(&v("a/b.txt")), "a/b.txt");
        assert_eq!(bare.dir_prefix(&v("a")), "a/");
        assert_eq!(bare.dir_prefix(&VirtualPath::root()), "");
        let keys = Keys::new("srv");
        assert_eq!(keys.file_key(&v("a/b.txt")), "srv/a/b.txt");
        assert_eq!(keys.dir_prefix(&v("a/b")), "srv/a/b/");
        assert_eq!(keys.dir_prefix(&VirtualPath::root()), "srv/");
        assert_eq!(keys.file(&v("x")).unwrap().as_ref(), "srv/x");
        assert_eq!(keys.dir(&v("d")).unwrap().as_ref(), "srv/d");
        assert!(matches!(
            keys.file(&VirtualPath::root()),
            Err(StorageError::IsADirectory(_))
        ));
    }

    #[test]
    fn keys_are_not_percent_encoded() {
        let keys = Keys::new("p");
        let odd = v("50% off #1 [draft]?.txt");
        assert_eq!(
            keys.file(&odd).unwrap().as_ref(),
            "p/50% off #1 [draft]?.txt"
        );
        assert_eq!(
            name_of(&keys.file(&odd).unwrap()),
            "50% off #1 [draft]?.txt"
        );
    }

    #[test]
    fn control_characters_are_refused_not_encoded() {
        let keys = Keys::new("");
        assert!(matches!(
            keys.file(&v("tab\there")),
            Err(StorageError::InvalidName(CONTROL_REFUSED))
        ));
    }

    #[test]
    fn a_subtree_is_the_prefix_of_its_home() {
        let keys = Keys::new("srv");
        let home = keys.subtree(&v("users/ann"));
        assert_eq!(home.prefix(), "srv/users/ann/");
        assert_eq!(home.file_key(&v("notes")), "srv/users/ann/notes");
        assert_eq!(Keys::new("").subtree(&v("h")).prefix(), "h/");
    }

    #[test]
    fn store_errors_keep_their_kind() {
        let not_found = object_store::Error::NotFound {
            path: "x".into(),
            source: "gone".into(),
        };
        assert!(matches!(
            fail(&v("x"), not_found),
            StorageError::NotFound(_)
        ));
        let generic = object_store::Error::Generic {
            store: "S3",
            source: "boom".into(),
        };
        let e = fail(&v("x"), generic);
        assert!(matches!(e, StorageError::Io { .. }));
        assert!(e.to_string().contains("boom"), "{e}");
    }
}
