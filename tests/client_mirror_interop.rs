//! `mirror`, `mirror -R` and `cli URL` against vsftpd (LIST, two-argument
//! MDTM, no MLSD) and pyftpdlib (MLSD, MFMT): the same tree of nested
//! directories, names with spaces and UTF-8, a dot file, empty files and
//! an empty directory goes up and comes back identical; a second
//! `--only-newer` run transfers nothing; `--delete` removes exactly the
//! extras; `--parallel 4` gives the same tree; `--continue` completes a
//! partial file either way, also after `cli` was killed mid-file; a URL
//! fetches a file.
#![cfg(feature = "interop")]

mod common;
mod peers;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_file_is, assert_same_tree, mirror_summary, run_with_timeout, write_random_file, Output,
    PROCESS_TIMEOUT,
};
use peers::Peer;

fn make_site(root: &Path) {
    fs::create_dir_all(root.join("deep/er/est")).unwrap();
    fs::create_dir_all(root.join("empty dir")).unwrap();
    fs::create_dir_all(root.join("naïve café/文件")).unwrap();
    write_random_file(&root.join("index.html"), 5_000, 1);
    write_random_file(&root.join("a file with spaces.txt"), 1_234, 2);
    fs::write(root.join(".htaccess"), b"deny from all\n").unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("deep/er/est/zero"), b"").unwrap();
    write_random_file(&root.join("deep/er/est/big.bin"), 3 * 1024 * 1024 + 7, 3);
    write_random_file(&root.join("naïve café/文件/ünï cødé.dat"), 70_000, 4);
}

/// `cli -c COMMANDS 127.0.0.1 PORT` in `cwd`.
fn cli(peer: &Peer, cwd: &Path, commands: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(cwd)
        .env_remove("FTP_PASSWORD")
        .env_remove("NETRC")
        .env("HOME", cwd)
        .args(["--timeout", "20", "-c", commands, "127.0.0.1"])
        .arg(peer.port().to_string());
    run_with_timeout(cmd, b"", PROCESS_TIMEOUT)
}

#[track_caller]
fn cli_ok(peer: &Peer, cwd: &Path, commands: &str) -> Output {
    let out = cli(peer, cwd, commands);
    assert_eq!(
        out.code(),
        0,
        "{:?}: {commands:?}: {out}\n--- peer log ---\n{}",
        peer.kind(),
        peer.log()
    );
    out
}

fn remote(peer: &Peer, rel: &str) -> String {
    match peer.remote_work() {
        "/" => format!("/{rel}"),
        w => format!("{w}/{rel}"),
    }
}

fn round_trip(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    make_site(&site);
    let www = remote(&peer, "www");

    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror -R --delete site \"{www}\""),
    );
    assert_eq!(mirror_summary(&out).0, 7, "{out}");
    assert_same_tree(&peer.work().join("www"), &site);

    let out = cli_ok(&peer, work.path(), &format!("mirror \"{www}\" copy"));
    assert_eq!(mirror_summary(&out).0, 7, "{out}");
    assert_same_tree(&work.path().join("copy"), &site);

    // Again with --only-newer: nothing moves either way.
    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror -R --only-newer site \"{www}\""),
    );
    assert_eq!(
        mirror_summary(&out),
        (0, 0, 7, 0, 0),
        "{:?}: {out}",
        peer.kind()
    );
    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror --only-newer \"{www}\" copy"),
    );
    assert_eq!(
        mirror_summary(&out),
        (0, 0, 7, 0, 0),
        "{:?}: {out}",
        peer.kind()
    );

    // --delete removes exactly the extras, on the server and here.
    peer.seed_dir("www/old");
    peer.seed_file("www/old/gone.txt", b"x");
    peer.seed_file("www/extra", b"x");
    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror -R --only-newer --delete site \"{www}\""),
    );
    assert_eq!(mirror_summary(&out), (0, 0, 7, 3, 0), "{out}");
    assert_same_tree(&peer.work().join("www"), &site);
    fs::write(work.path().join("copy/local extra"), b"x").unwrap();
    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror --delete --only-newer \"{www}\" copy"),
    );
    assert_eq!(mirror_summary(&out).3, 1, "{out}");
    assert_same_tree(&work.path().join("copy"), &site);

    // --parallel 4, both ways, into fresh places.
    let www4 = remote(&peer, "www4");
    cli_ok(
        &peer,
        work.path(),
        &format!("mirror -R --parallel 4 site \"{www4}\""),
    );
    assert_same_tree(&peer.work().join("www4"), &site);
    cli_ok(
        &peer,
        work.path(),
        &format!("mirror --parallel 4 \"{www4}\" copy4"),
    );
    assert_same_tree(&work.path().join("copy4"), &site);
}

fn resume(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let data = write_random_file(&peer.work().join("big.bin"), 1_000_000, 5);
    peer.seed_file("big.bin", &data);
    peer.seed_dir("in");
    let remote_in = remote(&peer, "in");
    // A download interrupted after 300000 bytes.
    fs::create_dir(work.path().join("copy")).unwrap();
    fs::write(work.path().join("copy/.big.bin.part"), &data[..300_000]).unwrap();
    let src = peer.remote_work();
    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror --continue --exclude in \"{src}\" copy"),
    );
    assert_eq!(mirror_summary(&out).1, 700_000, "{out}");
    assert_file_is(&work.path().join("copy/big.bin"), &data);
    assert!(!work.path().join("copy/.big.bin.part").exists());
    // An upload interrupted after 400000 bytes.
    peer.seed_file("in/.big.bin.part", &data[..400_000]);
    let out = cli_ok(
        &peer,
        work.path(),
        &format!("mirror -R --continue copy \"{remote_in}\""),
    );
    assert_eq!(mirror_summary(&out).1, 600_000, "{out}");
    assert_file_is(&peer.work().join("in/big.bin"), &data);
    assert!(!peer.work().join("in/.big.bin.part").exists());
}

fn url(peer: Peer) {
    let here = tempfile::tempdir().unwrap();
    let data = write_random_file(&here.path().join("x"), 123_456, 8);
    fs::remove_file(here.path().join("x")).unwrap();
    peer.seed_dir("a dir");
    peer.seed_file("a dir/file é.iso", &data);
    let path = remote(&peer, "a%20dir/file%20%C3%A9.iso");
    let url = format!(
        "ftp://anonymous:guest@127.0.0.1:{}/%2F{}",
        peer.port(),
        &path[1..]
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(here.path())
        .env("HOME", here.path())
        .env_remove("NETRC")
        .arg(&url);
    let out = run_with_timeout(cmd, b"", PROCESS_TIMEOUT);
    assert_eq!(out.code(), 0, "{url}: {out}");
    assert_file_is(&here.path().join("file é.iso"), &data);
}

/// Starts `cli -c COMMANDS`, kills it once `part` holds some bytes, and
/// returns how many it held.
fn kill_when_part_grows(peer: &Peer, cwd: &Path, commands: &str, part: &Path, size: u64) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cli"))
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("NETRC")
        .args(["-c", commands, "127.0.0.1"])
        .arg(peer.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::metadata(part).is_ok_and(|m| m.len() > 0) {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            part.display()
        );
        thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let had = fs::metadata(part).unwrap().len();
    assert!(had > 0 && had < size, "killed mid-file: {had} of {size}");
    had
}

/// A mirror killed mid-file, each way, completed by `--continue`.
fn killed(peer: Peer) {
    let work = tempfile::tempdir().unwrap();
    let size = 256 * 1024 * 1024;
    peer.seed_dir("src");
    let data = write_random_file(&peer.work().join("src/big.iso"), size, 6);
    peer.seed_file("src/big.iso", &data);
    drop(data);
    let src = remote(&peer, "src");
    let part = work.path().join("copy/.big.iso.part");
    kill_when_part_grows(
        &peer,
        work.path(),
        &format!("mirror {src} copy"),
        &part,
        size as u64,
    );
    cli_ok(&peer, work.path(), &format!("mirror --continue {src} copy"));
    assert_same_tree(&work.path().join("copy"), &peer.work().join("src"));
    assert!(!part.exists());

    let dst = remote(&peer, "dst");
    let part = peer.work().join("dst/.big.iso.part");
    kill_when_part_grows(
        &peer,
        work.path(),
        &format!("mirror -R copy {dst}"),
        &part,
        size as u64,
    );
    cli_ok(
        &peer,
        work.path(),
        &format!("mirror -R --continue copy {dst}"),
    );
    assert_same_tree(&peer.work().join("dst"), &work.path().join("copy"));
    assert!(!part.exists());
}

#[test]
fn vsftpd_mirror_killed_and_continued() {
    killed(Peer::vsftpd());
}

#[test]
fn pyftpdlib_mirror_killed_and_continued() {
    killed(Peer::pyftpdlib());
}

#[test]
fn vsftpd_mirror_round_trip() {
    round_trip(Peer::vsftpd());
}

#[test]
fn pyftpdlib_mirror_round_trip() {
    round_trip(Peer::pyftpdlib());
}

#[test]
fn vsftpd_mirror_continue() {
    resume(Peer::vsftpd());
}

#[test]
fn pyftpdlib_mirror_continue() {
    resume(Peer::pyftpdlib());
}

#[test]
fn vsftpd_url_fetch() {
    url(Peer::vsftpd());
}

#[test]
fn pyftpdlib_url_fetch() {
    url(Peer::pyftpdlib());
}
