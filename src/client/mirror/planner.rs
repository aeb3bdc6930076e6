//! The mirror's decisions, as a pure function of two trees: which
//! directories to make, which files to copy or skip, what to delete.
//! No I/O here, so every rule is a unit test.
//!
//! Rules:
//! - An excluded path (a pattern matches its name, or its whole relative
//!   path when the pattern has a `/`) is neither copied nor deleted, and
//!   neither is anything beneath an excluded directory.
//! - A source directory missing from the target is made; a source file is
//!   copied, unless `only_newer` and the target has a file of the same size
//!   that is not older (at the coarser precision of the two times).
//! - With `delete`, target entries the source lacks are removed: files
//!   first, then directories deepest first, so each is empty when removed.
//! - A path that is a file on one side and a directory on the other is a
//!   conflict: reported, never resolved by deleting data.

use super::tree::{not_older, Node, Tree};
use crate::client::glob::matches;

/// What the planner needs of the options.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub only_newer: bool,
    pub delete: bool,
    pub exclude: Vec<String>,
}

/// One file to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub path: String,
    pub size: u64,
}

/// Everything a run does, in the order it does it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Directories to make, parents first.
    pub mkdirs: Vec<String>,
    /// Files to copy.
    pub copies: Vec<Copy>,
    /// Files left alone by `only_newer`.
    pub skipped: Vec<String>,
    /// Target files to delete.
    pub delete_files: Vec<String>,
    /// Target directories to remove, deepest first.
    pub delete_dirs: Vec<String>,
    /// Paths that are a file on one side and a directory on the other.
    pub conflicts: Vec<String>,
}

/// True when `path` or one of its ancestors is excluded.
pub fn excluded(patterns: &[String], path: &str) -> bool {
    let mut end = 0;
    let parts: Vec<&str> = path.split('/').collect();
    for part in parts {
        end += part.len();
        let prefix = &path[..end];
        end += 1;
        let hit = patterns.iter().any(|p| {
            if p.contains('/') {
                matches(p.trim_start_matches('/'), prefix)
            } else {
                matches(p, part)
            }
        });
        if hit {
            return true;
        }
    }
    false
}

/// Decides what makes `target` a copy of `source`.
pub fn plan(source: &Tree, target: &Tree, rules: &Rules) -> Plan {
    let mut plan = Plan::default();
    let mut conflicted: Vec<&str> = Vec::new();
    let under_conflict = |c: &[&str], p: &str| {
        c.iter()
            .any(|d| p.starts_with(d) && p[d.len()..].starts_with('/'))
    };
    for (path, node) in source {
        if excluded(&rules.exclude, path) || under_conflict(&conflicted, path) {
            continue;
        }
        match (node, target.get(path)) {
            (Node::Dir, None) => plan.mkdirs.push(path.clone()),
            (Node::Dir, Some(Node::Dir)) => {}
            (Node::File(f), None) => plan.copies.push(Copy {
                path: path.clone(),
                size: f.size,
            }),
            (Node::File(f), Some(Node::File(t))) => {
                let same = rules.only_newer
                    && f.size == t.size
                    && match (t.modified, f.modified) {
                        (Some(t), Some(s)) => not_older(t, s),
                        _ => false,
                    };
                if same {
                    plan.skipped.push(path.clone());
                } else {
                    plan.copies.push(Copy {
                        path: path.clone(),
                        size: f.size,
                    });
                }
            }
            (Node::Dir, Some(Node::File(_))) | (Node::File(_), Some(Node::Dir)) => {
                plan.conflicts.push(path.clone());
                conflicted.push(path);
            }
        }
    }
    if rules.delete {
        for (path, node) in target {
            if source.contains_key(path) || excluded(&rules.exclude, path) {
                continue;
            }
            match node {
                Node::File(_) => plan.delete_files.push(path.clone()),
                Node::Dir => plan.delete_dirs.push(path.clone()),
            }
        }
        // Children sort after their parents: reversed, deepest first.
        plan.delete_dirs.reverse();
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::super::tree::{FileFacts, Precision, Stamp};
    use super::*;
    use crate::protocol::TimeVal;

    fn file(size: u64, time: &str, precision: Precision) -> Node {
        Node::File(FileFacts {
            size,
            modified: Some(Stamp {
                time: TimeVal::parse(time).unwrap(),
                precision,
            }),
        })
    }

    fn tree(entries: &[(&str, Node)]) -> Tree {
        entries.iter().map(|(p, n)| (p.to_string(), *n)).collect()
    }

    fn paths(copies: &[Copy]) -> Vec<&str> {
        copies.iter().map(|c| c.path.as_str()).collect()
    }

    const T: &str = "20261124060500";
    const MS: Precision = Precision::Millisecond;

    #[test]
    fn a_fresh_target_gets_everything_parents_first() {
        let source = tree(&[
            ("a b", Node::Dir),
            ("a b/ü.txt", file(3, T, MS)),
            ("empty", Node::Dir),
            ("zero", file(0, T, MS)),
        ]);
        let p = plan(&source, &Tree::new(), &Rules::default());
        assert_eq!(p.mkdirs, ["a b", "empty"]);
        assert_eq!(paths(&p.copies), ["a b/ü.txt", "zero"]);
        assert!(p.skipped.is_empty() && p.delete_files.is_empty());
    }

    #[test]
    fn only_newer_skips_same_size_not_older_targets() {
        let source = tree(&[
            ("same", file(5, "20261124060559.500", MS)),
            ("older", file(5, "20261124060559", MS)),
            ("resized", file(6, T, MS)),
            ("untimed", file(1, T, MS)),
        ]);
        let target = tree(&[
            // LIST's minute covers 06:05:59.500.
            ("same", file(5, "20261124060500", Precision::Minute)),
            ("older", file(5, "20261124060558", Precision::Second)),
            ("resized", file(5, "20991124060500", Precision::Second)),
            (
                "untimed",
                Node::File(FileFacts {
                    size: 1,
                    modified: None,
                }),
            ),
        ]);
        let rules = Rules {
            only_newer: true,
            ..Rules::default()
        };
        let p = plan(&source, &target, &rules);
        assert_eq!(p.skipped, ["same"]);
        assert_eq!(paths(&p.copies), ["older", "resized", "untimed"]);
        // Without only_newer everything is copied again.
        let p = plan(&source, &target, &Rules::default());
        assert_eq!(p.copies.len(), 4);
    }

    #[test]
    fn delete_removes_exactly_the_extras_deepest_first() {
        let source = tree(&[("keep", Node::Dir), ("keep/f", file(1, T, MS))]);
        let target = tree(&[
            ("keep", Node::Dir),
            ("keep/f", file(1, T, MS)),
            ("keep/extra", file(1, T, MS)),
            ("old", Node::Dir),
            ("old/deep", Node::Dir),
            ("old/deep/x", file(1, T, MS)),
            ("skip.log", file(1, T, MS)),
        ]);
        let rules = Rules {
            delete: true,
            exclude: vec!["*.log".into()],
            ..Rules::default()
        };
        let p = plan(&source, &target, &rules);
        assert_eq!(p.delete_files, ["keep/extra", "old/deep/x"]);
        assert_eq!(p.delete_dirs, ["old/deep", "old"]);
        // Without delete nothing goes.
        let p = plan(&source, &target, &Rules::default());
        assert!(p.delete_files.is_empty() && p.delete_dirs.is_empty());
    }

    #[test]
    fn excludes_cover_names_paths_and_subtrees() {
        let patterns = vec!["*.tmp".to_string(), "cache".into(), "a/b*".into()];
        assert!(excluded(&patterns, "x/y.tmp"));
        assert!(excluded(&patterns, "cache/deep/file"));
        assert!(excluded(&patterns, "a/big/file"));
        assert!(!excluded(&patterns, "b/a/big"));
        assert!(!excluded(&patterns, "y.tmpx"));
        let source = tree(&[
            ("cache", Node::Dir),
            ("cache/f", file(1, T, MS)),
            ("f.tmp", file(1, T, MS)),
            ("g", file(1, T, MS)),
        ]);
        let rules = Rules {
            exclude: patterns,
            ..Rules::default()
        };
        let p = plan(&source, &Tree::new(), &rules);
        assert!(p.mkdirs.is_empty());
        assert_eq!(paths(&p.copies), ["g"]);
    }

    #[test]
    fn a_file_against_a_directory_is_a_conflict_not_a_deletion() {
        let source = tree(&[
            ("x", Node::Dir),
            ("x/f", file(1, T, MS)),
            ("y", file(1, T, MS)),
        ]);
        let target = tree(&[
            ("x", file(1, T, MS)),
            ("y", Node::Dir),
            ("y/g", file(1, T, MS)),
        ]);
        let rules = Rules {
            delete: true,
            ..Rules::default()
        };
        let p = plan(&source, &target, &rules);
        assert_eq!(p.conflicts, ["x", "y"]);
        assert!(p.copies.is_empty() && p.mkdirs.is_empty());
        // The source has no y/g, so --delete removes it; y itself stays
        // and is reported.
        assert_eq!(p.delete_files, ["y/g"]);
    }
}
