//! The local side of a mirror: a walk of a directory into a [`Tree`].
//!
//! Links are not followed (a link to a directory could loop, and a link
//! is not the file a mirror should copy); FIFOs, sockets and devices are
//! left out, as are the `.NAME.part` files of downloads in progress.

use std::fs;
use std::path::Path;

use super::tree::{is_part_name, FileFacts, Node, Precision, Stamp, Tree};
use crate::protocol::TimeVal;

/// Every directory and regular file beneath `root`. A missing root is an
/// empty tree (a download makes it).
pub fn walk(root: &Path) -> Result<Tree, String> {
    let mut tree = Tree::new();
    if !root.exists() {
        return Ok(tree);
    }
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let entries = fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                eprintln!(
                    "mirror: skipping {}: the name is not UTF-8",
                    entry.path().display()
                );
                continue;
            };
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry
                .metadata()
                .map_err(|e| format!("reading {}: {e}", entry.path().display()))?;
            if meta.is_dir() {
                tree.insert(path.clone(), Node::Dir);
                dirs.push(path);
            } else if meta.is_file() && !is_part_name(&name) {
                tree.insert(path, Node::File(facts(&meta)));
            }
        }
    }
    Ok(tree)
}

/// A local file's size and time, to the millisecond.
pub fn facts(meta: &fs::Metadata) -> FileFacts {
    FileFacts {
        size: meta.len(),
        modified: meta
            .modified()
            .ok()
            .and_then(TimeVal::from_system_time)
            .map(|time| Stamp {
                time,
                precision: Precision::Millisecond,
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_files_and_directories_but_not_parts_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        fs::create_dir_all(root.join("a b/empty")).unwrap();
        fs::write(root.join("a b/ü.txt"), b"abc").unwrap();
        fs::write(root.join("a b/.ü.txt.part"), b"a").unwrap();
        std::os::unix::fs::symlink("a b", root.join("link")).unwrap();
        let tree = walk(&root).unwrap();
        let names: Vec<&str> = tree.keys().map(String::as_str).collect();
        assert_eq!(names, ["a b", "a b/empty", "a b/ü.txt"]);
        assert!(matches!(tree["a b/ü.txt"], Node::File(f) if f.size == 3));
        assert!(walk(&dir.path().join("missing")).unwrap().is_empty());
    }
}
