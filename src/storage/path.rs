//! Virtual paths: absolute, normalized paths in the client's view.
//!
//! Client arguments are joined to the session's working directory and
//! normalized lexically (`.` and empty parts dropped, `..` stopping at `/`),
//! once, before any back end sees them: no string can climb above `/`.
//! Symbolic links are the back end's business (see `storage::local`).

use std::fmt;

use super::StorageError;
use crate::limits::MAX_PATH_DEPTH;

const DEPTH_REFUSED: &str = "the path is deeper than 256 directories";

/// An absolute, normalized path in the client's view: `/` or `/a/b`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The virtual root, `/`.
    pub fn root() -> Self {
        VirtualPath("/".to_string())
    }

    /// `arg` resolved against `self`: absolute if it starts with `/`,
    /// relative otherwise; `.` and empty parts dropped, `..` stops at `/`.
    ///
    /// Refused: NUL (no file system takes it), CR and LF (a name holding
    /// one could not be listed or named in a reply without breaking its
    /// line), and paths deeper than [`MAX_PATH_DEPTH`] components (each
    /// component is work for every command that names the path).
    pub fn join(&self, arg: &str) -> Result<VirtualPath, StorageError> {
        if arg.contains('\0') {
            return Err(StorageError::InvalidName("the path contains a NUL byte"));
        }
        if arg.contains(['\r', '\n']) {
            return Err(StorageError::InvalidName(
                "names cannot contain CR or LF: no listing or reply could show them",
            ));
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.parts().collect()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
            if parts.len() > MAX_PATH_DEPTH {
                return Err(StorageError::InvalidName(DEPTH_REFUSED));
            }
        }
        Ok(VirtualPath(format!("/{}", parts.join("/"))))
    }

    /// The components, root first (none for `/`).
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|p| !p.is_empty())
    }

    /// The last component; `None` for `/`.
    pub fn file_name(&self) -> Option<&str> {
        self.parts().last()
    }

    /// The parent directory (`/` for `/`).
    pub fn parent(&self) -> VirtualPath {
        match self.0.rfind('/') {
            Some(0) | None => VirtualPath::root(),
            Some(i) => VirtualPath(self.0[..i].to_string()),
        }
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path relative to the root: `.` for `/`, `a/b` for `/a/b`.
    pub fn relative(&self) -> &str {
        if self.is_root() {
            "."
        } else {
            &self.0[1..]
        }
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path quoted for a 257 reply: RFC 959 doubles embedded quotes.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> VirtualPath {
        VirtualPath::root().join(s).unwrap()
    }

    #[test]
    fn joining_normalizes_and_stops_at_the_root() {
        assert_eq!(v("a/./b//c/").as_str(), "/a/b/c");
        assert_eq!(v("../../x").as_str(), "/x");
        assert_eq!(v("a/b").join("../c").unwrap().as_str(), "/a/c");
        assert_eq!(v("a").join("/z").unwrap().as_str(), "/z");
        assert!(VirtualPath::root().join("a\0b").is_err());
    }

    #[test]
    fn line_ends_and_deep_paths_are_refused() {
        for bad in ["hid\rden", "a\nb", "dir/x\r\n"] {
            assert!(
                matches!(
                    VirtualPath::root().join(bad),
                    Err(StorageError::InvalidName(_))
                ),
                "{bad:?}"
            );
        }
        let deep = "d/".repeat(MAX_PATH_DEPTH);
        let v = VirtualPath::root().join(&deep).unwrap();
        assert_eq!(v.parts().count(), MAX_PATH_DEPTH);
        assert!(matches!(
            v.join("one-more"),
            Err(StorageError::InvalidName(DEPTH_REFUSED))
        ));
        // Depth is counted as the path is walked: `..` first frees a level.
        assert!(v.join("../x").is_ok());
        assert!(v.join("x/..").is_err());
        assert!(DEPTH_REFUSED.contains(&MAX_PATH_DEPTH.to_string()));
    }

    #[test]
    fn parents_names_and_relative_forms() {
        assert_eq!(v("a/b").parent(), v("a"));
        assert_eq!(v("a").parent(), VirtualPath::root());
        assert_eq!(VirtualPath::root().parent(), VirtualPath::root());
        assert_eq!(v("a/b").file_name(), Some("b"));
        assert_eq!(VirtualPath::root().file_name(), None);
        assert_eq!(VirtualPath::root().relative(), ".");
        assert_eq!(v("a/b").relative(), "a/b");
        assert_eq!(v("say \"hi\"").quoted(), "\"/say \"\"hi\"\"\"");
    }
}
