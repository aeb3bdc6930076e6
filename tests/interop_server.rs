#![cfg(feature = "interop")]
//! Real FTP clients against the real `serv` (feature `interop`: lftp, tnftp
//! and curl must be installed): curl resuming a download (REST + RETR) and an
//! upload (SIZE, then APPE); lftp mirroring a tree with subdirectories,
//! empty files and directories, names with spaces and UTF-8 up to the server
//! and back, in passive and in active mode, the trees compared entry by
//! entry; an lftp session with ls, cls, get, put, rm, mkdir and mv; tnftp
//! driven on stdin (put, get, ls) and in its autofetch and upload-URL forms.
//! Every client runs with a deadline and a private HOME.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{
    assert_file_is, assert_same_tree, dir_names, run_curl, run_with_timeout, write_random_file,
    Output, Server, PROCESS_TIMEOUT,
};

/// The settings every lftp run starts with.
const LFTP_SETTINGS: &str = "set net:max-retries 1; set net:timeout 10; \
     set net:reconnect-interval-base 1; set cmd:fail-exit true; \
     set ftp:charset utf-8; set file:charset utf-8";

/// `lftp -c "<settings>; set ftp:passive-mode <passive>; open ...; <commands>"`
/// in `cwd`, with HOME pointing into `cwd` so no user's rc file is read.
fn lftp(server: &Server, cwd: &Path, passive: bool, commands: &str) -> Output {
    let script = format!(
        "{LFTP_SETTINGS}; set ftp:passive-mode {passive}; \
         open -u anonymous,guest@example.org ftp://127.0.0.1:{}; {commands}",
        server.port()
    );
    let home = cwd.join(".home");
    fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("lftp");
    cmd.current_dir(cwd)
        .env("HOME", &home)
        .env("LC_ALL", "C.UTF-8")
        .arg("-c")
        .arg(&script);
    let out = run_with_timeout(cmd, b"", PROCESS_TIMEOUT);
    assert_eq!(
        out.code(),
        0,
        "lftp failed running {script:?}: {out}\n--- server log ---\n{}",
        server.log()
    );
    out
}

/// tnftp with `args` and `stdin`, in `cwd` with a private HOME (no .netrc).
fn tnftp(server: &Server, cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let home = cwd.join(".home");
    fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("tnftp");
    cmd.current_dir(cwd).env("HOME", &home).args(args);
    let out = run_with_timeout(cmd, stdin.as_bytes(), PROCESS_TIMEOUT);
    assert_eq!(
        out.code(),
        0,
        "tnftp {args:?} failed: {out}\n--- server log ---\n{}",
        server.log()
    );
    out
}

fn url(server: &Server, path: &str) -> String {
    format!("ftp://127.0.0.1:{}/{path}", server.port())
}

// ---------------------------------------------------------------------------
// curl

#[test]
fn curl_resumes_a_download() {
    let server = Server::start_with(&["-v"]);
    let data = write_random_file(&server.root().join("big.bin"), 4 * 1024 * 1024 + 5, 31);
    let local = tempfile::tempdir().unwrap();
    // The first part arrived before the connection broke.
    fs::write(local.path().join("out.bin"), &data[..1_234_567]).unwrap();
    let target = url(&server, "big.bin");
    let out = run_curl(local.path(), &["-sS", "-C", "-", "-o", "out.bin", &target]);
    assert_eq!(out.code(), 0, "{out}\n--- server log ---\n{}", server.log());
    assert_file_is(&local.path().join("out.bin"), &data);
    let log = server.log();
    assert!(log.contains("-> REST 1234567"), "{log}");
    assert!(log.contains("-> RETR big.bin"), "{log}");
    // Only the rest was sent.
    assert!(
        log.contains(&format!("({} bytes)", data.len() - 1_234_567)),
        "{log}"
    );
}

#[test]
fn curl_resumes_an_upload() {
    let server = Server::start_with(&["-v"]);
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("up.bin"), 3 * 1024 * 1024 + 9, 32);
    // The server has the first part of an upload that broke off.
    fs::write(server.root().join("up.bin"), &data[..999_999]).unwrap();
    let target = url(&server, "up.bin");
    let out = run_curl(local.path(), &["-sS", "-C", "-", "-T", "up.bin", &target]);
    assert_eq!(out.code(), 0, "{out}\n--- server log ---\n{}", server.log());
    assert_file_is(&server.root().join("up.bin"), &data);
    assert_eq!(dir_names(server.root()), ["up.bin"], "no temporaries left");
    // curl asks for the size, then appends the rest (or restarts STOR at it).
    let log = server.log();
    assert!(log.contains("-> SIZE up.bin"), "{log}");
    assert!(
        log.contains("-> APPE up.bin") || log.contains("-> REST 999999"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// lftp

/// A local tree worth mirroring: subdirectories (one empty), empty files,
/// names with spaces and UTF-8, sizes from 0 to a few MiB.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    fs::create_dir_all(root.join("with space/inner dir")).unwrap();
    fs::create_dir_all(root.join("日本語")).unwrap();
    fs::create_dir_all(root.join("empty dir")).unwrap();
    fs::write(root.join("a.txt"), b"hello\n").unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("one byte"), b"1").unwrap();
    write_random_file(&root.join("sub/big.bin"), 3 * 1024 * 1024 + 1, 41);
    write_random_file(&root.join("sub/deeper/mid.bin"), 100_000, 42);
    fs::write(root.join("sub/deeper/empty too"), b"").unwrap();
    write_random_file(&root.join("with space/naïve ü.txt"), 4097, 43);
    fs::write(root.join("with space/inner dir/two  spaces"), b"x y\n").unwrap();
    write_random_file(&root.join("日本語/ファイル.bin"), 65_536, 44);
    fs::write(root.join("日本語/空"), b"").unwrap();
}

fn mirror_round_trip(passive: bool) {
    let server = Server::start_with(&["-v"]);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src);

    lftp(&server, work.path(), passive, "mirror -R src /up");
    assert_same_tree(&server.root().join("up"), &src);
    lftp(&server, work.path(), passive, "mirror /up back");
    assert_same_tree(&work.path().join("back"), &src);

    let log = server.log();
    let passive_used = log.contains("-> PASV") || log.contains("-> EPSV");
    let active_used = log.contains("-> PORT") || log.contains("-> EPRT");
    assert_eq!(
        (passive_used, active_used),
        (passive, !passive),
        "data connections in the wrong mode:\n{log}"
    );
    assert!(log.contains("-> STOR"), "{log}");
    assert!(log.contains("-> RETR"), "{log}");
}

#[test]
fn lftp_mirror_up_and_back_in_passive_mode_gives_the_same_tree() {
    mirror_round_trip(true);
}

#[test]
fn lftp_mirror_up_and_back_in_active_mode_gives_the_same_tree() {
    mirror_round_trip(false);
}

#[test]
fn lftp_session_with_ls_cls_get_put_rm_mkdir_and_mv() {
    let server = Server::start();
    fs::write(server.root().join("pre.txt"), b"to be removed\n").unwrap();
    fs::write(server.root().join("keep.txt"), b"kept\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = write_random_file(&work.path().join("local.bin"), 777_777, 51);

    let out = lftp(
        &server,
        work.path(),
        true,
        "mkdir newdir; put local.bin -o newdir/remote.bin; \
         ls newdir; echo ==; cls newdir; echo ==; \
         mv newdir/remote.bin newdir/renamed.bin; \
         get newdir/renamed.bin -o got.bin; rm pre.txt; echo ==; cls",
    );
    let parts: Vec<&str> = out.stdout.split("==\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    // ls: the server's LIST line for the uploaded file.
    let ls: Vec<&str> = parts[0].lines().collect();
    assert_eq!(ls.len(), 1, "{out}");
    assert!(ls[0].starts_with("-rw"), "{out}");
    assert!(ls[0].contains(" 777777 "), "{out}");
    assert!(ls[0].ends_with(" remote.bin"), "{out}");
    // cls: names, directories marked with a slash.
    assert_eq!(parts[1].trim(), "newdir/remote.bin", "{out}");
    let after: Vec<&str> = parts[3].lines().collect();
    assert_eq!(after, ["keep.txt", "newdir/"], "{out}");

    assert_file_is(&work.path().join("got.bin"), &data);
    assert_file_is(&server.root().join("newdir/renamed.bin"), &data);
    assert_eq!(dir_names(&server.root().join("newdir")), ["renamed.bin"]);
    assert_eq!(dir_names(server.root()), ["keep.txt", "newdir"]);
    assert_file_is(&server.root().join("keep.txt"), b"kept\n");
}

// ---------------------------------------------------------------------------
// tnftp

#[test]
fn tnftp_puts_gets_and_lists_with_commands_on_stdin() {
    let server = Server::start_with(&["-v"]);
    fs::write(server.root().join("already.txt"), b"already\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = write_random_file(&work.path().join("up.bin"), 1_500_000, 61);
    let script = format!(
        "open 127.0.0.1 {}\nuser anonymous guest@example.org\nbinary\n\
         put up.bin remote.bin\nget remote.bin down.bin\nget already.txt\nls\nquit\n",
        server.port()
    );
    let out = tnftp(&server, work.path(), &["-n"], &script);
    assert_file_is(&server.root().join("remote.bin"), &data);
    assert_file_is(&work.path().join("down.bin"), &data);
    assert_file_is(&work.path().join("already.txt"), b"already\n");
    // `ls` printed the server's LIST, which now has both files.
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(listed, ["already.txt", "remote.bin"], "{out}");
    let log = server.log();
    assert!(log.contains("-> TYPE I"), "{log}");
    assert!(log.contains("-> STOR remote.bin"), "{log}");
    assert!(log.contains("-> QUIT"), "{log}");
}

#[test]
fn tnftp_autofetch_and_upload_urls() {
    let server = Server::start();
    let data = write_random_file(&server.root().join("fetch me.bin"), 2_000_003, 71);
    fs::create_dir(server.root().join("dir")).unwrap();
    let work = tempfile::tempdir().unwrap();

    // -a: anonymous autofetch of a URL (%20 for the space).
    let fetch = url(&server, "fetch%20me.bin");
    tnftp(
        &server,
        work.path(),
        &["-a", "-V", "-o", "got.bin", &fetch],
        "",
    );
    assert_file_is(&work.path().join("got.bin"), &data);

    // -u: upload a file to a URL's directory.
    let up = write_random_file(&work.path().join("sent.bin"), 300_000, 72);
    let target = format!("ftp://anonymous:x@127.0.0.1:{}/dir/", server.port());
    tnftp(&server, work.path(), &["-V", "-u", &target, "sent.bin"], "");
    assert_file_is(&server.root().join("dir/sent.bin"), &up);

    // A missing file makes autofetch fail, and writes nothing.
    let missing = url(&server, "missing.bin");
    let home = work.path().join(".home");
    let mut cmd = Command::new("tnftp");
    cmd.current_dir(work.path()).env("HOME", &home).args([
        "-a",
        "-V",
        "-o",
        "missing.bin",
        &missing,
    ]);
    let out = run_with_timeout(cmd, b"", PROCESS_TIMEOUT);
    assert_ne!(out.code(), 0, "{out}");
    assert!(!work.path().join("missing.bin").exists());
}
