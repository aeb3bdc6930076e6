//! Property: `VirtualPath::join` always yields a normalized absolute path
//! (starts with `/`; no empty, `.` or `..` component; no trailing `/` except
//! the root itself), joining is idempotent, and nothing that `LocalDisk`
//! hands back (`stat`, `lstat`, `list`, `open_read`, `unique_name`) lies
//! outside the root, even through symbolic links leading out of it.
//!
//! "Inside" is checked by identity, not by path: before fuzzing, the real
//! root is walked with `std::fs` without following links, and the device
//! and inode of every entry in it (the root included) are recorded. Every
//! entry the back end reports, and every file it opens, must be one of
//! those; `/etc`, `/` or the root's parent never are.
//!
//! Input layout: UTF-8; up to the first LF is the working directory (joined
//! to `/`), the rest is the client's argument. Without an LF the working
//! directory is `/`.
//!
//! The root is a fixed directory under the system temp dir, built once per
//! process (idempotently, so parallel `-jobs` share it) with files, subdirs
//! and links out of it (`etc` -> /etc, `sub/up` -> ../.., `abs` -> /,
//! `up` -> ..), links inside it (`inner` -> sub, `sub/deeper/top` -> ../..),
//! a dangling link and a link loop. The target only reads: the tree never
//! changes, so the inode set stays true.
#![no_main]

use std::collections::HashSet;
use std::io;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ftp::storage::{LocalDisk, Storage, VirtualPath};
use libfuzzer_sys::fuzz_target;

/// Entries of one listing checked at most (the fixture's are small).
const MAX_ENTRIES: usize = 64;

fn ignore_exists(r: io::Result<()>) {
    match r {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => panic!("jail setup: {e}"),
        _ => {}
    }
}

/// Device and inode of everything really inside `root`, links not followed.
fn inodes_inside(root: &Path) -> HashSet<(u64, u64)> {
    let mut seen = HashSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let meta = std::fs::symlink_metadata(&dir).expect("jail walk");
        seen.insert((meta.dev(), meta.ino()));
        for entry in std::fs::read_dir(&dir).expect("jail walk") {
            let path = entry.expect("jail walk").path();
            let meta = std::fs::symlink_metadata(&path).expect("jail walk");
            if meta.is_dir() {
                dirs.push(path);
            } else {
                seen.insert((meta.dev(), meta.ino()));
            }
        }
    }
    seen
}

struct Fixture {
    disk: LocalDisk,
    inside: HashSet<(u64, u64)>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let root: PathBuf = std::env::temp_dir().join("ftp-fuzz-path-jail");
        std::fs::create_dir_all(root.join("sub/deeper")).expect("jail dirs");
        std::fs::create_dir_all(root.join("dir with space")).expect("jail dirs");
        for file in ["a.txt", "sub/b.txt", "sub/deeper/c", "dir with space/d"] {
            std::fs::write(root.join(file), b"x").expect("jail file");
        }
        ignore_exists(symlink("/etc", root.join("etc")));
        ignore_exists(symlink("/", root.join("abs")));
        ignore_exists(symlink("..", root.join("up")));
        ignore_exists(symlink("../..", root.join("sub/up")));
        ignore_exists(symlink("../..", root.join("sub/deeper/top")));
        ignore_exists(symlink("sub", root.join("inner")));
        ignore_exists(symlink("/nonexistent-ftp-fuzz", root.join("dangling")));
        ignore_exists(symlink("loop", root.join("loop")));
        Fixture {
            disk: LocalDisk::new(&root).expect("jail root"),
            inside: inodes_inside(&root),
        }
    })
}

fn check_normalized(v: &VirtualPath) {
    let s = v.as_str();
    assert!(s.starts_with('/'), "{s:?} is not absolute");
    if s != "/" {
        for part in s[1..].split('/') {
            assert!(!matches!(part, "" | "." | ".."), "{s:?} has part {part:?}");
        }
    }
    // Normalized paths are fixed points of joining.
    assert_eq!(VirtualPath::root().join(s).as_ref().ok(), Some(v));
    assert_eq!(v.join(".").as_ref().ok(), Some(v));
    assert_eq!(v.join("").as_ref().ok(), Some(v));
}

fn assert_inside(f: &Fixture, what: &str, v: &VirtualPath, unique: Option<(u64, u64)>) {
    let unique = unique.unwrap_or_else(|| panic!("{what} {v}: the local disk has inodes"));
    assert!(
        f.inside.contains(&unique),
        "{what} {v} reached {unique:?}, which is not inside the root"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (cwd, arg) = input.split_once('\n').unwrap_or(("", input));
    let Ok(cwd) = VirtualPath::root().join(cwd) else {
        return;
    };
    check_normalized(&cwd);
    let Ok(v) = cwd.join(arg) else {
        // Refused only for NUL, CR or LF, or a walk deeper than the cap.
        assert!(
            arg.contains(['\0', '\r', '\n'])
                || cwd.parts().count() + arg.split('/').count() > ftp::limits::MAX_PATH_DEPTH,
            "join({arg:?}) failed without a reason"
        );
        return;
    };
    check_normalized(&v);

    let f = fixture();
    let disk = &f.disk;
    if let Ok(meta) = disk.stat(&v) {
        assert_inside(f, "stat", &v, meta.unique);
    }
    if let Ok(meta) = disk.lstat(&v) {
        assert_inside(f, "lstat", &v, meta.unique);
    }
    if let Ok(entries) = disk.list(&v) {
        let dir = disk.stat(&v).expect("a listed directory has metadata");
        assert!(dir.is_dir(), "listed {v}, which is not a directory");
        for entry in entries.take(MAX_ENTRIES).flatten() {
            let name = &entry.name;
            assert!(!matches!(name.as_str(), "" | "." | "..") && !name.contains('/'));
            assert_inside(f, "list", &v, entry.meta.unique);
        }
    }
    if let Ok(mut file) = disk.open_read(&v, 0) {
        let local = file.as_local_file().expect("the local disk opens local files");
        let meta = local.metadata().expect("fstat of an open file");
        assert_inside(f, "open_read", &v, Some((meta.dev(), meta.ino())));
    }
    // The stem as the session makes it; the name is the stem or stem.N.
    if let Ok(name) = disk.unique_name(&v, "stou.20260101000000") {
        assert_eq!(name.parent(), v, "unique_name({v}) = {name}");
        assert!(name
            .file_name()
            .is_some_and(|n| n.starts_with("stou.20260101000000")));
    }
});
