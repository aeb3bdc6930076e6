//! Property: `VirtualPath::join` always yields a normalized absolute path
//! (starts with `/`; no empty, `.` or `..` component; no trailing `/` except
//! the root itself), joining is idempotent, and `Jail` resolution
//! (`existing`, `directory`, `new_entry`) never returns a real path outside
//! the canonical jail root, even through symbolic links leading out of it.
//!
//! Input layout: UTF-8; up to the first LF is the working directory (joined
//! to `/`), the rest is the client's argument. Without an LF the working
//! directory is `/`.
//!
//! The jail is a fixed directory under the system temp dir, built once per
//! process (idempotently, so parallel `-jobs` share it) with files, subdirs
//! and links out of it (`etc` -> /etc, `sub/up` -> ../.., `abs` -> /),
//! a link inside it (`inner` -> sub), a dangling link and a link loop.
#![no_main]

use std::io;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::OnceLock;

use ftp::server::fs::{Jail, VirtualPath};
use libfuzzer_sys::fuzz_target;

fn ignore_exists(r: io::Result<()>) {
    match r {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => panic!("jail setup: {e}"),
        _ => {}
    }
}

fn jail() -> &'static Jail {
    static JAIL: OnceLock<Jail> = OnceLock::new();
    JAIL.get_or_init(|| {
        let root: PathBuf = std::env::temp_dir().join("ftp-fuzz-path-jail");
        std::fs::create_dir_all(root.join("sub/deeper")).expect("jail dirs");
        std::fs::create_dir_all(root.join("dir with space")).expect("jail dirs");
        for file in ["a.txt", "sub/b.txt", "sub/deeper/c", "dir with space/d"] {
            std::fs::write(root.join(file), b"x").expect("jail file");
        }
        ignore_exists(symlink("/etc", root.join("etc")));
        ignore_exists(symlink("/", root.join("abs")));
        ignore_exists(symlink("../..", root.join("sub/up")));
        ignore_exists(symlink("sub", root.join("inner")));
        ignore_exists(symlink("/nonexistent-ftp-fuzz", root.join("dangling")));
        ignore_exists(symlink("loop", root.join("loop")));
        Jail::new(&root).expect("jail root")
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
        assert!(arg.contains('\0'), "join({arg:?}) failed without a NUL");
        return;
    };
    check_normalized(&v);

    let jail = jail();
    let root = jail.root();
    if let Ok(real) = jail.existing(&v) {
        assert!(real.starts_with(root), "{v} -> {real:?} escapes {root:?}");
    }
    if let Ok(real) = jail.directory(&v) {
        assert!(real.starts_with(root), "{v} -> {real:?} escapes {root:?}");
    }
    if let Ok((dir, name)) = jail.new_entry(&v) {
        assert!(dir.starts_with(root), "{v} -> {dir:?} escapes {root:?}");
        assert!(!matches!(name.as_str(), "" | "." | "..") && !name.contains('/'));
        assert!(dir.join(&name).starts_with(root));
    }
});
