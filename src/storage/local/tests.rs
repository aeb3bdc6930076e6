//! LocalDisk's unit tests: containment, atomic uploads, cleanup, listings.

use super::*;
use crate::storage::Entry;
use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::time::Duration;

fn v(s: &str) -> VirtualPath {
    VirtualPath::root().join(s).unwrap()
}

/// Every name under `dir`, recursively, links not followed.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                dirs.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

fn temps_under(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| is_temp_name(p.file_name().unwrap()))
        .collect()
}

fn names(disk: &LocalDisk, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = disk
        .list(&v(dir))
        .unwrap()
        .map(|e| e.unwrap().name)
        .collect();
    names.sort();
    names
}

fn read_all(disk: &LocalDisk, path: &str, offset: u64) -> Vec<u8> {
    let mut f = disk.open_read(&v(path), offset).unwrap();
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).unwrap();
    buf
}

fn upload(disk: &LocalDisk, path: &str, keep: Keep, bytes: &[u8]) {
    let mut up = disk.begin_upload(&v(path), keep, false).unwrap();
    up.write_all(bytes).unwrap();
    up.commit().unwrap();
}

#[test]
fn the_root_must_be_a_directory() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"x").unwrap();
    assert!(LocalDisk::new(&root.path().join("f")).is_err());
    assert!(LocalDisk::new(&root.path().join("missing")).is_err());
    let disk = LocalDisk::new(root.path()).unwrap();
    assert_eq!(disk.root(), std::fs::canonicalize(root.path()).unwrap());
    assert!(disk.stat(&VirtualPath::root()).unwrap().is_dir());
}

#[test]
fn symlinks_out_of_the_root_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"x").unwrap();
    let root = tempfile::tempdir().unwrap();
    symlink(outside.path(), root.path().join("out")).unwrap();
    symlink("inside", root.path().join("in")).unwrap();
    std::fs::write(root.path().join("inside"), b"y").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    assert!(matches!(
        disk.stat(&v("out/secret")),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        disk.begin_upload(&v("out/new"), Keep::Nothing, false),
        Err(StorageError::NotFound(_))
    ));
    assert!(!outside.path().join("new").exists());
    assert_eq!(read_all(&disk, "in", 0), b"y");
}

#[test]
fn links_out_of_the_root_do_not_exist() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    symlink("/etc", root.path().join("etc")).unwrap();
    symlink("..", root.path().join("up")).unwrap();
    symlink("../..", root.path().join("sub/upup")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    for path in [
        "etc",
        "etc/passwd",
        "up",
        "up/x",
        "sub/upup",
        "sub/upup/etc",
    ] {
        let p = v(path);
        assert!(
            matches!(disk.stat(&p), Err(StorageError::NotFound(_))),
            "stat {path}"
        );
        assert!(
            matches!(disk.open_read(&p, 0), Err(StorageError::NotFound(_))),
            "open {path}"
        );
        assert!(
            matches!(disk.list(&p), Err(StorageError::NotFound(_))),
            "list {path}"
        );
        assert!(
            matches!(disk.unique_name(&p, "stou"), Err(StorageError::NotFound(_))),
            "unique_name {path}"
        );
        assert!(
            matches!(
                disk.mkdir(&p.join("new").unwrap()),
                Err(StorageError::NotFound(_))
            ),
            "mkdir in {path}"
        );
    }
    assert!(matches!(
        disk.lstat(&v("etc/passwd")),
        Err(StorageError::NotFound(_))
    ));
    // The links themselves are entries of the root.
    assert_eq!(disk.lstat(&v("etc")).unwrap().kind, Kind::Symlink);
    assert_eq!(disk.lstat(&v("up")).unwrap().kind, Kind::Symlink);
}

#[test]
fn links_inside_the_root_work() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::fs::write(root.path().join("a.txt"), b"aaa").unwrap();
    symlink("..", root.path().join("sub/up")).unwrap();
    symlink("sub", root.path().join("inner")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let top = disk.stat(&VirtualPath::root()).unwrap();
    assert_eq!(disk.stat(&v("sub/up")).unwrap().unique, top.unique);
    assert_eq!(
        disk.stat(&v("inner/up/inner/up")).unwrap().unique,
        top.unique
    );
    assert_eq!(disk.lstat(&v("sub/up")).unwrap().kind, Kind::Symlink);
    assert_eq!(read_all(&disk, "sub/up/a.txt", 1), b"aa");
    assert_eq!(names(&disk, "sub/up"), ["a.txt", "inner", "sub"]);
    upload(&disk, "inner/up/new", Keep::Nothing, b"n");
    assert_eq!(std::fs::read(root.path().join("new")).unwrap(), b"n");
}

#[test]
fn uploads_appear_only_when_committed() {
    let root = tempfile::tempdir().unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    std::fs::write(root.path().join("f"), b"old").unwrap();
    let mut up = disk.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
    up.write_all(b"new").unwrap();
    assert_eq!(up.path(), &v("f"));
    drop(up);
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    upload(&disk, "f", Keep::Nothing, b"new");
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"new");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
}

#[test]
fn resumed_and_appended_uploads_keep_what_they_should() {
    let root = tempfile::tempdir().unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    std::fs::write(root.path().join("f"), b"0123456789").unwrap();
    upload(&disk, "f", Keep::First(4), b"abc");
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123abc");
    upload(&disk, "f", Keep::All, b"!");
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123abc!");
    assert!(matches!(
        disk.begin_upload(&v("f"), Keep::First(99), false),
        Err(StorageError::BadOffset {
            offset: 99,
            size: 8,
            ..
        })
    ));
    assert!(matches!(
        disk.begin_upload(&v("g"), Keep::First(1), false),
        Err(StorageError::BadOffset {
            offset: 1,
            size: 0,
            ..
        })
    ));
    upload(&disk, "g", Keep::All, b"g");
    assert_eq!(std::fs::read(root.path().join("g")).unwrap(), b"g");
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        2,
        "no temporaries left"
    );
}

#[test]
fn no_clobber_uploads_do_not_replace() {
    let root = tempfile::tempdir().unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    std::fs::write(root.path().join("f"), b"old").unwrap();
    let up = disk.begin_upload(&v("f"), Keep::Nothing, true).unwrap();
    assert!(matches!(up.commit(), Err(StorageError::AlreadyExists(_))));
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"old");
    let name = disk
        .unique_name(&VirtualPath::root(), "stou.20260101000000")
        .unwrap();
    assert!(name.as_str().starts_with("/stou."), "{name}");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    let mut up = disk.begin_upload(&name, Keep::Nothing, true).unwrap();
    up.write_all(b"unique").unwrap();
    up.commit().unwrap();
    assert_eq!(read_all(&disk, name.as_str(), 0), b"unique");
    assert_ne!(
        disk.unique_name(&VirtualPath::root(), "stou.20260101000000")
            .unwrap(),
        name
    );
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 2);
}

#[test]
fn active_uploads_are_removed_at_shutdown() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let up = disk.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
    let moved = disk.begin_upload(&v("d/g"), Keep::Nothing, false).unwrap();
    // Removed where its directory is now, not where it was.
    std::fs::rename(root.path().join("d"), root.path().join("e")).unwrap();
    assert_eq!(temps_under(root.path()).len(), 2);
    assert_eq!(disk.abort_active_uploads(), 2);
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    drop(up);
    assert!(moved.commit().is_err());
    assert_eq!(disk.abort_active_uploads(), 0);
}

#[test]
fn stale_temporaries_are_removed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join(".ftp-upload.9.9"), b"x").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("d/e")).unwrap();
    std::fs::write(root.path().join("d").join(".ftp-upload.1.2"), b"x").unwrap();
    std::fs::write(root.path().join("d/e").join(".ftp-upload.1.3"), b"x").unwrap();
    std::fs::create_dir(root.path().join(".ftp-upload.dir")).unwrap();
    std::fs::write(root.path().join("keep"), b"x").unwrap();
    symlink(outside.path(), root.path().join("out")).unwrap();
    symlink(".", root.path().join("loop")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    assert_eq!(disk.remove_stale_uploads().unwrap(), 2);
    assert!(root.path().join("keep").exists());
    assert!(root.path().join(".ftp-upload.dir").is_dir(), "only files");
    assert!(
        outside.path().join(".ftp-upload.9.9").exists(),
        "links are not followed"
    );
    assert_eq!(disk.remove_stale_uploads().unwrap(), 0);
}

#[test]
fn an_upload_follows_its_directory_when_renamed() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let mut up = disk.begin_upload(&v("d/f"), Keep::Nothing, false).unwrap();
    up.write_all(b"part one, ").unwrap();
    disk.rename(&v("d"), &v("e")).unwrap();
    up.write_all(b"part two").unwrap();
    up.commit().unwrap();
    assert_eq!(
        std::fs::read(root.path().join("e/f")).unwrap(),
        b"part one, part two"
    );
    assert!(!root.path().join("d").exists());
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
    assert_eq!(disk.abort_active_uploads(), 0);
}

/// The attack of tests/rename_race.rs in-process, where the swaps come
/// far faster than over FTP: `x` is a directory one moment and a link
/// to the root's parent the next, and nothing done through `x` may
/// reach outside.
#[test]
fn swapping_a_directory_and_a_link_never_reaches_outside() {
    let top = tempfile::tempdir().unwrap();
    let (outside, root) = (top.path(), top.path().join("root"));
    std::fs::write(outside.join("secret"), b"OUTSIDE SECRET").unwrap();
    std::fs::write(outside.join("victim"), b"outside victim").unwrap();
    std::fs::create_dir_all(root.join("x")).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("x/secret"), b"inside").unwrap();
    symlink("..", root.join("sub/up")).unwrap();
    let disk = LocalDisk::new(&root).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let deadline = std::time::Instant::now() + Duration::from_millis(1500);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let swaps = [
                ("x", "parked"),
                ("sub/up", "x"),
                ("x", "sub/up"),
                ("parked", "x"),
            ];
            for (from, to) in swaps.iter().cycle().take(2_000_000) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let _ = std::fs::rename(root.join(from), root.join(to));
            }
        });
        // Stops the swapper however this thread leaves, a failed
        // assertion included.
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        for _ in 0..200_000 {
            if std::time::Instant::now() > deadline {
                break;
            }
            if let Ok(meta) = disk.stat(&v("x/secret")) {
                assert_eq!(meta.len, 6, "stat reached the outside secret");
            }
            if let Ok(mut f) = disk.open_read(&v("x/secret"), 0) {
                let mut got = Vec::new();
                f.read_to_end(&mut got).unwrap();
                assert_eq!(got, b"inside", "read the outside secret");
            }
            if let Ok(mut up) = disk.begin_upload(&v("x/planted"), Keep::Nothing, false) {
                up.write_all(b"planted").unwrap();
                let _ = up.commit();
            }
            let _ = disk.delete(&v("x/victim"));
            let _ = disk.rename(&v("x/victim"), &v("x/victim2"));
            let _ = disk.list(&v("x")).map(|l| l.count());
        }
    });
    assert_eq!(
        std::fs::read(outside.join("victim")).unwrap(),
        b"outside victim"
    );
    assert!(std::fs::symlink_metadata(outside.join("planted")).is_err());
    assert!(std::fs::symlink_metadata(outside.join("victim2")).is_err());
    let stray: Vec<PathBuf> = std::fs::read_dir(outside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| is_temp_name(p.file_name().unwrap()))
        .collect();
    assert_eq!(stray, Vec::<PathBuf>::new());
    assert_eq!(temps_under(&root), Vec::<PathBuf>::new());
}

#[test]
fn fifos_are_not_files_and_never_block() {
    let root = tempfile::tempdir().unwrap();
    nix::unistd::mkfifo(
        &root.path().join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let d = disk.clone();
    std::thread::spawn(move || {
        let opened = d.open_read(&v("fifo"), 0).map(|_| ());
        let kept = d.begin_upload(&v("fifo"), Keep::All, false).map(|_| ());
        let _ = tx.send((opened, kept));
    });
    let (opened, kept) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("opening a FIFO blocked");
    assert!(
        matches!(opened, Err(StorageError::NotAFile(_))),
        "{opened:?}"
    );
    assert!(matches!(kept, Err(StorageError::NotAFile(_))), "{kept:?}");
    assert_eq!(disk.lstat(&v("fifo")).unwrap().kind, Kind::Other);
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn listings_skip_temporaries_and_give_link_targets() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    std::fs::write(root.path().join("a.txt"), b"12345").unwrap();
    std::fs::write(root.path().join(".ftp-upload.7.7"), b"stale").unwrap();
    std::fs::write(root.path().join(".hidden"), b"").unwrap();
    symlink("a.txt", root.path().join("link")).unwrap();
    symlink("/etc", root.path().join("etc")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let _up = disk.begin_upload(&v("b"), Keep::Nothing, false).unwrap();
    let mut entries: Vec<Entry> = disk
        .list(&VirtualPath::root())
        .unwrap()
        .map(Result::unwrap)
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(&str, Kind, Option<&str>)> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.meta.kind, e.link_target.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (".hidden", Kind::File, None),
            ("a.txt", Kind::File, None),
            ("d", Kind::Dir, None),
            ("etc", Kind::Symlink, Some("/etc")),
            ("link", Kind::Symlink, Some("a.txt")),
        ]
    );
    let a = &entries[1].meta;
    assert_eq!(a.len, 5);
    assert_eq!(a.nlink, 1);
    assert!(a.mode & 0o400 != 0 && a.mode <= 0o7777);
    assert!(a.modified > SystemTime::UNIX_EPOCH);
    assert_eq!(Some(a), disk.stat(&v("link")).ok().as_ref());
    assert!(matches!(
        disk.list(&v("a.txt")),
        Err(StorageError::NotADirectory(_))
    ));
    assert!(matches!(
        disk.list(&v("missing")),
        Err(StorageError::NotFound(_))
    ));
}

#[test]
fn temporary_names_are_invisible_and_reserved() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join(".ftp-upload.1.2"), b"x").unwrap();
    std::fs::create_dir(root.path().join(".ftp-upload.d")).unwrap();
    std::fs::write(root.path().join("f"), b"x").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let temp = v(".ftp-upload.1.2");
    assert!(matches!(disk.stat(&temp), Err(StorageError::NotFound(_))));
    assert!(matches!(disk.lstat(&temp), Err(StorageError::NotFound(_))));
    assert!(matches!(
        disk.open_read(&temp, 0),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        disk.list(&v(".ftp-upload.d")),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(disk.delete(&temp), Err(StorageError::NotFound(_))));
    assert!(matches!(
        disk.rename(&temp, &v("g")),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        disk.begin_upload(&v(".ftp-upload.d/x"), Keep::Nothing, false),
        Err(StorageError::NotFound(_))
    ));
    for reserved in [
        disk.begin_upload(&temp, Keep::Nothing, false).map(|_| ()),
        disk.mkdir(&v(".ftp-upload.new")),
        disk.rename(&v("f"), &v(".ftp-upload.f")),
    ] {
        assert!(
            matches!(reserved, Err(StorageError::InvalidName(m)) if m == RESERVED),
            "{reserved:?}"
        );
    }
    assert!(root.path().join("f").exists());
    assert!(root.path().join(".ftp-upload.1.2").exists());
}

#[test]
fn the_root_cannot_be_replaced() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"x").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let top = VirtualPath::root();
    for refused in [
        disk.begin_upload(&top, Keep::Nothing, false).map(|_| ()),
        disk.mkdir(&top),
        disk.rmdir(&top),
        disk.delete(&top),
        disk.rename(&top, &v("x")),
        disk.rename(&v("f"), &top),
    ] {
        assert!(
            matches!(refused, Err(StorageError::InvalidName(m)) if m == ROOT_FIXED),
            "{refused:?}"
        );
    }
    assert!(root.path().join("f").exists());
}

#[test]
fn names_are_made_and_removed_without_following_links() {
    let root = tempfile::tempdir().unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    disk.mkdir(&v("d")).unwrap();
    assert!(matches!(
        disk.mkdir(&v("d")),
        Err(StorageError::AlreadyExists(_))
    ));
    assert!(matches!(
        disk.mkdir(&v("no/d")),
        Err(StorageError::NotFound(_))
    ));
    std::fs::write(root.path().join("d/f"), b"x").unwrap();
    symlink("d", root.path().join("dlink")).unwrap();
    symlink("d/f", root.path().join("flink")).unwrap();

    // A link to a directory is not a directory to remove.
    assert!(disk.rmdir(&v("dlink")).is_err());
    assert!(root.path().join("dlink").exists());
    assert!(matches!(
        disk.rmdir(&v("d")),
        Err(StorageError::NotEmpty(_))
    ));
    assert!(matches!(
        disk.delete(&v("d")),
        Err(StorageError::IsADirectory(_))
    ));
    assert!(matches!(
        disk.begin_upload(&v("d"), Keep::Nothing, false),
        Err(StorageError::IsADirectory(_))
    ));
    assert!(matches!(
        disk.begin_upload(&v("dlink"), Keep::Nothing, false),
        Err(StorageError::IsADirectory(_))
    ));
    assert!(matches!(
        disk.open_read(&v("d"), 0),
        Err(StorageError::IsADirectory(_))
    ));

    // Renaming a link moves the link; deleting one removes the link.
    disk.rename(&v("flink"), &v("d/flink2")).unwrap();
    assert!(std::fs::symlink_metadata(root.path().join("d/flink2"))
        .unwrap()
        .is_symlink());
    assert!(matches!(
        disk.rename(&v("missing"), &v("x")),
        Err(StorageError::NotFound(_))
    ));
    disk.delete(&v("dlink")).unwrap();
    assert!(root.path().join("d/f").exists());
    disk.delete(&v("d/f")).unwrap();
    disk.delete(&v("d/flink2")).unwrap();
    assert!(matches!(
        disk.delete(&v("d/f")),
        Err(StorageError::NotFound(_))
    ));
    disk.rmdir(&v("d")).unwrap();
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[test]
fn reads_start_at_their_offset() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"0123456789").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    assert_eq!(read_all(&disk, "f", 0), b"0123456789");
    assert_eq!(read_all(&disk, "f", 7), b"789");
    assert_eq!(read_all(&disk, "f", 10), b"");
    assert!(matches!(
        disk.open_read(&v("f"), 11),
        Err(StorageError::BadOffset {
            offset: 11,
            size: 10,
            ..
        })
    ));
    let mut f = disk.open_read(&v("f"), 3).unwrap();
    assert_eq!(f.size(), 10);
    let local = f.as_local_file().expect("a local file for sendfile");
    assert_eq!(local.stream_position().unwrap(), 3);
    assert_eq!(
        disk.features(),
        Features {
            read_at_offset: true,
            resume_upload: true,
            set_modified: true,
        }
    );
}

#[test]
fn a_failed_rename_blames_the_side_that_failed() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), b"x").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let err = disk.rename(&v("a.txt"), &v("nodir/x")).unwrap_err();
    assert!(
        matches!(&err, StorageError::NotFound(p) if p.as_str() == "/nodir"),
        "{err}"
    );
    let err = disk.rename(&v("missing"), &v("b")).unwrap_err();
    assert!(
        matches!(&err, StorageError::NotFound(p) if p.as_str() == "/missing"),
        "{err}"
    );
    assert!(root.path().join("a.txt").exists());
}

/// The bytes of every regular file under `dir` (temporaries included),
/// links not followed: what a copy of a file would show in.
fn bytes_under(dir: &Path) -> u64 {
    walk(dir)
        .iter()
        .map(|p| std::fs::symlink_metadata(p).unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// `len` bytes that differ from one offset to the next (no block repeats).
fn varied(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn resumed_uploads_cost_no_disk_until_data_comes() {
    let root = tempfile::tempdir().unwrap();
    let old = varied(1 << 20);
    std::fs::write(root.path().join("big"), &old).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let before = bytes_under(root.path());
    assert_eq!(before, 1 << 20);

    let mut up = disk.begin_upload(&v("big"), Keep::All, false).unwrap();
    assert_eq!(bytes_under(root.path()), before, "nothing copied yet");
    assert_eq!(temps_under(root.path()).len(), 1, "an empty temporary");
    up.write_all(b"tail").unwrap();
    // The kept part is in the temporary now (cloned or copied: either way
    // its size shows).
    assert_eq!(bytes_under(root.path()), 2 * before + 4);
    up.commit().unwrap();
    let mut expected = old.clone();
    expected.extend_from_slice(b"tail");
    assert_eq!(std::fs::read(root.path().join("big")).unwrap(), expected);
    assert_eq!(bytes_under(root.path()), before + 4);

    // REST + STOR the same way; dropped before any data, it left nothing.
    let up = disk
        .begin_upload(&v("big"), Keep::First(1000), false)
        .unwrap();
    assert_eq!(bytes_under(root.path()), before + 4);
    drop(up);
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
    assert_eq!(std::fs::read(root.path().join("big")).unwrap(), expected);
}

#[test]
fn one_resumed_upload_per_target_at_a_time() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    symlink("..", root.path().join("sub/up")).unwrap();
    std::fs::write(root.path().join("f"), b"0123456789").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let mut first = disk.begin_upload(&v("f"), Keep::All, false).unwrap();

    let busy = disk.begin_upload(&v("f"), Keep::All, false).unwrap_err();
    assert!(
        matches!(&busy, StorageError::Busy(p) if p == &v("f")),
        "{busy:?}"
    );
    assert_eq!(
        busy.to_string(),
        "/f: another upload is resuming or appending to this file; try again when it ends"
    );
    for refused in [
        disk.begin_upload(&v("f"), Keep::First(3), false),
        // The same directory by another path is the same target.
        disk.begin_upload(&v("sub/up/f"), Keep::All, false),
        // So is the same tree through another back end.
        LocalDisk::new(root.path())
            .unwrap()
            .begin_upload(&v("f"), Keep::All, false),
    ] {
        assert!(matches!(refused, Err(StorageError::Busy(_))), "{refused:?}");
    }
    // Other targets, and plain STOR (which keeps nothing), are not bounded.
    drop(disk.begin_upload(&v("g"), Keep::All, false).unwrap());
    drop(disk.begin_upload(&v("sub/f"), Keep::All, false).unwrap());
    drop(disk.begin_upload(&v("f"), Keep::Nothing, false).unwrap());

    first.write_all(b"!").unwrap();
    first.commit().unwrap();
    // Committed: the target is free again; dropped: free again too.
    let second = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    drop(second);
    upload(&disk, "sub/up/f", Keep::All, b"?");
    assert_eq!(
        std::fs::read(root.path().join("f")).unwrap(),
        b"0123456789!?"
    );
    // A refused begin (a bad offset) does not keep the target either.
    assert!(matches!(
        disk.begin_upload(&v("f"), Keep::First(99), false),
        Err(StorageError::BadOffset { .. })
    ));
    upload(&disk, "f", Keep::First(2), b"ab");
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"01ab");
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_resume_without_data_keeps_the_old_part() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"0123456789").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    // An empty APPE leaves the file as it was.
    let up = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    up.commit().unwrap();
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123456789");
    // REST 4 + an empty STOR keeps the first four bytes.
    let up = disk.begin_upload(&v("f"), Keep::First(4), false).unwrap();
    up.commit().unwrap();
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"0123");
    // An empty APPE of a new file creates it empty.
    let up = disk.begin_upload(&v("g"), Keep::All, false).unwrap();
    up.commit().unwrap();
    assert_eq!(std::fs::read(root.path().join("g")).unwrap(), b"");
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn resumed_uploads_keep_the_right_bytes_across_writes() {
    let root = tempfile::tempdir().unwrap();
    let old = varied(3 << 20);
    std::fs::write(root.path().join("f"), &old).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let cut = 1_000_001;
    let mut up = disk
        .begin_upload(&v("f"), Keep::First(cut as u64), false)
        .unwrap();
    up.write_all(b"first, ").unwrap();
    up.write_all(b"").unwrap();
    up.write_all(b"second").unwrap();
    up.commit().unwrap();
    let mut expected = old[..cut].to_vec();
    expected.extend_from_slice(b"first, second");
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), expected);

    let mut up = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    for chunk in old.chunks(700_000) {
        up.write_all(chunk).unwrap();
    }
    up.commit().unwrap();
    expected.extend_from_slice(&old);
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), expected);
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_resume_is_not_put_over_a_file_that_changed_meanwhile() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"old").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let changed = |e: StorageError| match e {
        StorageError::Io { path, source } => {
            assert_eq!(path, v("f"));
            assert!(source.to_string().contains("nothing was kept"), "{source}");
        }
        other => panic!("not the error of a changed file: {other:?}"),
    };

    // A STOR that commits while an APPE runs wins; the APPE fails rather
    // than put "old" plus its bytes over the newer file.
    let mut appe = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    appe.write_all(b"+appended").unwrap();
    upload(&disk, "f", Keep::Nothing, b"newer");
    changed(appe.commit().unwrap_err());
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"newer");

    // The same when the STOR commits before the APPE's first write.
    let mut appe = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    upload(&disk, "f", Keep::Nothing, b"newest");
    appe.write_all(b"+appended").unwrap();
    changed(appe.commit().unwrap_err());
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"newest");

    // Deleted meanwhile: not brought back.
    let appe = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    disk.delete(&v("f")).unwrap();
    changed(appe.commit().unwrap_err());
    assert!(!root.path().join("f").exists());

    // Created meanwhile by someone else: not replaced by an APPE that
    // began when there was no file.
    let mut appe = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    upload(&disk, "f", Keep::Nothing, b"created");
    appe.write_all(b"appended").unwrap();
    changed(appe.commit().unwrap_err());
    assert_eq!(std::fs::read(root.path().join("f")).unwrap(), b"created");

    // Written to in place (by another program) meanwhile.
    let mut appe = disk.begin_upload(&v("f"), Keep::All, false).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(root.path().join("f"))
        .unwrap()
        .write_all(b" and more")
        .unwrap();
    appe.write_all(b"!").unwrap();
    changed(appe.commit().unwrap_err());
    assert_eq!(
        std::fs::read(root.path().join("f")).unwrap(),
        b"created and more"
    );

    // Unchanged: the append lands.
    upload(&disk, "f", Keep::All, b"!");
    assert_eq!(
        std::fs::read(root.path().join("f")).unwrap(),
        b"created and more!"
    );
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
}

#[test]
fn concurrent_appends_all_land_or_are_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("log"), b"").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let landed: Vec<u8> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8u8)
            .map(|i| {
                let disk = &disk;
                scope.spawn(move || {
                    let mut landed = Vec::new();
                    for _ in 0..50 {
                        let mut up = match disk.begin_upload(&v("log"), Keep::All, false) {
                            Ok(up) => up,
                            Err(StorageError::Busy(_)) => {
                                std::thread::yield_now();
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        };
                        up.write_all(&[b'a' + i]).unwrap();
                        up.commit().unwrap();
                        landed.push(b'a' + i);
                    }
                    landed
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut on_disk = std::fs::read(root.path().join("log")).unwrap();
    let mut landed = landed;
    on_disk.sort();
    landed.sort();
    assert!(!landed.is_empty());
    assert_eq!(on_disk, landed, "every committed append is in the file");
}

/// A user's home as a back end: `/` is the home, and a link inside the
/// home pointing elsewhere in the served root (another user's home, the
/// root itself) leads nowhere, for every kind of operation.
#[test]
fn a_subtree_never_leaves_its_home_even_by_a_link_into_the_root() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("home/alice")).unwrap();
    std::fs::create_dir_all(r.join("home/bob")).unwrap();
    std::fs::write(r.join("home/bob/secret"), b"bob's").unwrap();
    std::fs::write(r.join("top"), b"root's").unwrap();
    std::fs::write(r.join("home/alice/mine"), b"alice's").unwrap();
    // The attack: links that stay inside the served root but leave the home.
    symlink("../bob", r.join("home/alice/tobob")).unwrap();
    symlink("../..", r.join("home/alice/toroot")).unwrap();
    symlink("mine", r.join("home/alice/ok")).unwrap();
    let disk = LocalDisk::new(r).unwrap();
    let home = disk.subtree(&v("home/alice")).unwrap();

    assert_eq!(read_all_dyn(home.as_ref(), "mine"), b"alice's");
    assert_eq!(read_all_dyn(home.as_ref(), "ok"), b"alice's");
    let names: Vec<String> = home
        .list(&VirtualPath::root())
        .unwrap()
        .map(|e| e.unwrap().name)
        .collect();
    assert!(names.contains(&"mine".to_string()), "{names:?}");
    for path in [
        "tobob/secret",
        "toroot/top",
        "toroot/home/bob/secret",
        "../bob/secret",
    ] {
        let p = VirtualPath::root().join(path).unwrap();
        assert!(
            matches!(home.stat(&p), Err(StorageError::NotFound(_))),
            "{path}"
        );
        assert!(home.open_read(&p, 0).is_err(), "{path}");
    }
    assert!(matches!(
        home.list(&v("tobob")),
        Err(StorageError::NotFound(_))
    ));
    assert!(home
        .begin_upload(&v("tobob/planted"), Keep::Nothing, false)
        .is_err());
    assert!(home.mkdir(&v("toroot/made")).is_err());
    assert!(home.delete(&v("tobob/secret")).is_err());
    assert!(home.rename(&v("mine"), &v("tobob/stolen")).is_err());
    assert!(home.rename(&v("tobob/secret"), &v("got")).is_err());
    assert_eq!(std::fs::read(r.join("home/bob/secret")).unwrap(), b"bob's");
    assert!(!r.join("home/bob/planted").exists());
    assert!(!r.join("home/bob/stolen").exists());
    assert!(!r.join("made").exists());
    assert!(!r.join("home/alice/got").exists());

    // What the home itself holds works as on any back end.
    let mut up = home.begin_upload(&v("new"), Keep::Nothing, false).unwrap();
    up.write_all(b"fresh").unwrap();
    up.commit().unwrap();
    assert_eq!(std::fs::read(r.join("home/alice/new")).unwrap(), b"fresh");
}

#[test]
fn a_subtree_shares_the_uploads_in_progress_with_its_root() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("home/a")).unwrap();
    std::fs::write(root.path().join("home/a/f"), b"abc").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let home = disk.subtree(&v("home/a")).unwrap();
    // One resume per target, whichever view began it.
    let first = home.begin_upload(&v("f"), Keep::All, false).unwrap();
    assert!(matches!(
        disk.begin_upload(&v("home/a/f"), Keep::All, false),
        Err(StorageError::Busy(_))
    ));
    let _second = home.begin_upload(&v("g"), Keep::Nothing, false).unwrap();
    // Shutdown goes through the root's disk and still finds both.
    assert_eq!(disk.abort_active_uploads(), 2);
    assert_eq!(temps_under(root.path()), Vec::<PathBuf>::new());
    drop(first);
}

#[test]
fn a_subtree_must_be_an_existing_directory_inside() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"x").unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), root.path().join("out")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    assert!(matches!(
        disk.subtree(&v("missing")),
        Err(StorageError::NotFound(_))
    ));
    assert!(matches!(
        disk.subtree(&v("f")),
        Err(StorageError::NotADirectory(_))
    ));
    assert!(matches!(
        disk.subtree(&v("out")),
        Err(StorageError::NotFound(_))
    ));
}

fn read_all_dyn(storage: &dyn Storage, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    storage
        .open_read(&VirtualPath::root().join(path).unwrap(), 0)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn set_modified_reaches_files_beneath_the_root_only() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"x").unwrap();
    let victim_time = std::fs::metadata(&victim).unwrap().modified().unwrap();
    std::fs::write(root.path().join("f"), b"x").unwrap();
    symlink(outside.path(), root.path().join("out")).unwrap();
    std::fs::create_dir(root.path().join("d")).unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();

    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_614_834_367);
    disk.set_modified(&v("f"), when).unwrap();
    assert_eq!(disk.stat(&v("f")).unwrap().modified, when);
    // Through a link out of the root: refused, and the file outside keeps
    // its time.
    assert!(matches!(
        disk.set_modified(&v("out/victim"), when),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(
        std::fs::metadata(&victim).unwrap().modified().unwrap(),
        victim_time
    );
    assert!(matches!(
        disk.set_modified(&v("d"), when),
        Err(StorageError::IsADirectory(_))
    ));
    assert!(matches!(
        disk.set_modified(&v("missing"), when),
        Err(StorageError::NotFound(_))
    ));
}

#[test]
fn uploads_to_tmpfs_ask_for_small_writes() {
    // /dev/shm is tmpfs on Linux; what lands there is written 64 KiB at a
    // time (see `files::write_size_for`).
    let root = tempfile::tempdir_in("/dev/shm").unwrap();
    let disk = LocalDisk::new(root.path()).unwrap();
    let up = disk.begin_upload(&v("f"), Keep::Nothing, false).unwrap();
    assert_eq!(up.write_size(), 64 << 10);
}
