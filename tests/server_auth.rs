//! Logins and write protection of the real `serv`: `--hash-password` prints
//! an argon2id PHC string; a users file made of such hashes lets its users
//! in (230) and refuses wrong passwords and unknown users slowly (530 after
//! about a second), closing the connection with 421 after three failures;
//! with `--users`, anonymous is refused unless `--anonymous` is given too; a
//! malformed users file stops `serv` at startup with the offending line
//! (stray whitespace around a name or hash included), while a byte order
//! mark at its start is skipped; a users file without accounts stops `serv`
//! unless `--anonymous` is given;
//! `--read-only` refuses every command that writes with 550 and changes
//! nothing on disk, while downloads and listings still work.

mod common;

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    connect_with_timeout, read_all, run_serv, run_with_timeout, tree, write_random_file, Control,
    Server,
};

/// `serv --hash-password` with `password` on stdin: the hash it prints.
fn hash(password: &str) -> String {
    let out = run_serv(&["--hash-password"], format!("{password}\n").as_bytes());
    assert_eq!(out.code(), 0, "{out}");
    let line = out.stdout.trim_end_matches('\n');
    assert!(!line.contains('\n'), "one line: {out}");
    line.to_string()
}

/// A users file for alice (`wonderland`) and bob (`builder`), in a fresh
/// directory kept alive by the returned guard.
fn users_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    let text = format!(
        "# accounts of the test\n\nalice:{}\nbob:{}\n",
        hash("wonderland"),
        hash("builder")
    );
    fs::write(&path, text).unwrap();
    (dir, path)
}

/// USER + PASS; returns the PASS reply code and how long PASS took.
fn try_login(c: &mut Control, user: &str, password: &str) -> (u16, Duration) {
    c.expect(&format!("USER {user}"), 331);
    let started = Instant::now();
    let r = c.cmd(&format!("PASS {password}"));
    (r.code, started.elapsed())
}

#[test]
fn hash_password_prints_an_argon2id_phc_string() {
    let first = hash("correct horse");
    assert!(first.starts_with("$argon2id$"), "{first}");
    // PHC: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    let parts: Vec<&str> = first.split('$').collect();
    assert_eq!(parts.len(), 6, "{first}");
    assert!(parts[2].starts_with("v="), "{first}");
    assert!(
        parts[3].contains("m=") && parts[3].contains("t="),
        "{first}"
    );
    // A fresh salt each time.
    let second = hash("correct horse");
    assert!(second.starts_with("$argon2id$"));
    assert_ne!(first, second, "the same password hashes differently (salt)");
    // An empty password is refused.
    let out = run_serv(&["--hash-password"], b"\n");
    assert_ne!(out.code(), 0, "an empty password is refused: {out}");
    assert!(out.stderr.contains("empty"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn users_log_in_and_wrong_passwords_are_refused_slowly() {
    let (_guard, users) = users_file();
    let server = Server::start_with(&["--users", users.to_str().unwrap()]);

    let mut c = server.connect();
    let greeting = c.expect_greeting();
    assert!(greeting.text().contains("user name"), "{greeting:?}");
    let (code, _) = try_login(&mut c, "alice", "wonderland");
    assert_eq!(code, 230);
    c.expect("PWD", 257);
    c.expect("QUIT", 221);

    let mut c = server.connect();
    c.expect_greeting();
    // A wrong password, then an unknown user: 530, each after about a second.
    let (code, took) = try_login(&mut c, "bob", "wonderland");
    assert_eq!(code, 530);
    assert!(took >= Duration::from_millis(800), "refused after {took:?}");
    c.expect("PWD", 530);
    let (code, took) = try_login(&mut c, "mallory", "builder");
    assert_eq!(code, 530);
    assert!(took >= Duration::from_millis(800), "refused after {took:?}");
    // Two failures leave the connection open: the right password works.
    let (code, _) = try_login(&mut c, "bob", "builder");
    assert_eq!(code, 230);
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
    // Passwords are never written to the log.
    let log = server.log();
    for secret in ["wonderland", "builder"] {
        assert!(!log.contains(secret), "the log shows a password: {log}");
    }
}

#[test]
fn three_failed_logins_close_the_connection_with_421() {
    let (_guard, users) = users_file();
    let server = Server::start_with(&["--users", users.to_str().unwrap()]);
    let mut c = server.connect();
    c.expect_greeting();
    for round in 1..=2 {
        let (code, _) = try_login(&mut c, "alice", "guess");
        assert_eq!(code, 530, "failure {round}");
    }
    c.expect("USER alice", 331);
    let r = c.cmd("PASS guess");
    assert_eq!(r.code, 530, "{r:?}");
    let bye = c.read_reply();
    assert_eq!(bye.code, 421, "{bye:?}");
    assert!(bye.text().contains("3 failed logins"), "{bye:?}");
    c.expect_closed();
    // The count is per connection: a new one may log in at once.
    let mut c = server.connect();
    c.expect_greeting();
    let (code, _) = try_login(&mut c, "alice", "wonderland");
    assert_eq!(code, 230);
}

#[test]
fn anonymous_needs_the_anonymous_flag_when_there_is_a_users_file() {
    let (_guard, users) = users_file();
    let users = users.to_str().unwrap();

    let server = Server::start_with(&["--users", users]);
    let mut c = server.connect();
    c.expect_greeting();
    for name in ["anonymous", "ftp", "ANONYMOUS"] {
        let r = c.expect(&format!("USER {name}"), 530);
        assert!(r.text().contains("anonymous"), "{r:?}");
        c.expect("PASS guest@example.org", 503);
        c.expect("PWD", 530);
    }
    let (code, _) = try_login(&mut c, "alice", "wonderland");
    assert_eq!(code, 230, "the refusals did not count as failed logins");

    let server = Server::start_with(&["--users", users, "--anonymous"]);
    let mut c = server.connect();
    let greeting = c.expect_greeting();
    assert!(greeting.text().contains("anonymous"), "{greeting:?}");
    c.login();
    c.expect("PWD", 257);
    c.expect("REIN", 220);
    let (code, _) = try_login(&mut c, "alice", "wonderland");
    assert_eq!(code, 230);
    c.expect("REIN", 220);
    let (code, _) = try_login(&mut c, "alice", "builder");
    assert_eq!(code, 530);
}

/// Runs `serv --users FILE 0` expecting it to exit at once.
fn serv_with_users(text: &str) -> common::Output {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    fs::write(&users, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serv"));
    cmd.arg("--root")
        .arg(dir.path())
        .args(["--bind", "127.0.0.1", "--users"])
        .arg(&users)
        .arg("0");
    run_with_timeout(cmd, b"", Duration::from_secs(20))
}

#[test]
fn a_malformed_users_file_stops_serv_naming_the_line() {
    let good = hash("pw");
    for (text, words) in [
        (
            format!("# ok\nalice:{good}\nthis line has no colon\n"),
            vec!["line 3", "name:HASH"],
        ),
        (
            format!("alice:{good}\nbob:plaintext-password\n"),
            vec!["line 2", "bob"],
        ),
        (format!("\n:{good}\n"), vec!["line 2", "empty"]),
        (
            format!("alice:{good}\nalice:{good}\n"),
            vec!["line 2", "twice"],
        ),
        (
            "carol:$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n".to_string(),
            vec!["line 1", "argon2id"],
        ),
    ] {
        let out = serv_with_users(&text);
        assert_ne!(out.code(), 0, "serv started with {text:?}: {out}");
        assert!(
            !out.stdout.contains("listening on"),
            "serv listened with {text:?}: {out}"
        );
        for w in words {
            assert!(out.stderr.contains(w), "{w:?} missing for {text:?}: {out}");
        }
    }
    // A users file that does not exist is named too.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-users");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serv"));
    cmd.arg("--root")
        .arg(dir.path())
        .args(["--bind", "127.0.0.1", "--users"])
        .arg(&missing)
        .arg("0");
    let out = run_with_timeout(cmd, b"", Duration::from_secs(20));
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("no-such-users"), "{out}");
}

#[test]
fn stray_whitespace_in_the_users_file_stops_serv_naming_the_line() {
    // Each of these used to start, with a user nobody can name ("alice ")
    // or, for the leading space, silently trimmed.
    let good = hash("pw");
    for (line, words) in [
        (
            format!("alice :{good}"),
            vec!["line 2", "ends with whitespace"],
        ),
        (
            format!(" alice:{good}"),
            vec!["line 2", "starts with whitespace"],
        ),
        (
            format!("alice: {good}"),
            vec!["line 2", "whitespace around"],
        ),
        (
            format!("alice:{good} "),
            vec!["line 2", "whitespace around"],
        ),
        (
            format!("al\u{1b}ice:{good}"),
            vec!["line 2", "control character"],
        ),
    ] {
        let text = format!("bob:{good}\n{line}\n");
        let out = serv_with_users(&text);
        assert_ne!(out.code(), 0, "serv started with {line:?}: {out}");
        assert!(!out.stdout.contains("listening on"), "{out}");
        for w in words {
            assert!(out.stderr.contains(w), "{w:?} missing for {line:?}: {out}");
        }
    }
}

#[test]
fn a_users_file_saved_with_a_byte_order_mark_still_lets_its_first_user_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users");
    // As Notepad saves UTF-8: a BOM, CRLF line ends.
    let text = format!(
        "\u{feff}alice:{}\r\nbob:{}\r\n",
        hash("wonderland"),
        hash("builder")
    );
    fs::write(&path, text).unwrap();
    let server = Server::start_with(&["--users", path.to_str().unwrap()]);
    let mut c = server.connect();
    c.expect_greeting();
    let (code, _) = try_login(&mut c, "alice", "wonderland");
    assert_eq!(code, 230, "the first account works");
    c.expect("REIN", 220);
    let (code, _) = try_login(&mut c, "bob", "builder");
    assert_eq!(code, 230);
}

#[test]
fn a_users_file_without_accounts_stops_serv_unless_anonymous() {
    for text in ["", "# accounts: none yet\n\n"] {
        let out = serv_with_users(text);
        assert_ne!(out.code(), 0, "serv started with {text:?}: {out}");
        assert!(!out.stdout.contains("listening on"), "{out}");
        for w in [
            "users",
            "no accounts",
            "nobody could log in",
            "name:HASH",
            "--hash-password",
            "--anonymous",
        ] {
            assert!(out.stderr.contains(w), "{w:?} missing for {text:?}: {out}");
        }
    }
    // The message names the file.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-users");
    fs::write(&empty, "").unwrap();
    let out = run_serv(
        &[
            "--bind",
            "127.0.0.1",
            "--users",
            empty.to_str().unwrap(),
            "0",
        ],
        b"",
    );
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains(empty.to_str().unwrap()), "{out}");

    // With --anonymous it serves anonymous users only.
    let server = Server::start_with(&["--users", empty.to_str().unwrap(), "--anonymous"]);
    let mut c = server.connect();
    c.expect_greeting();
    c.login();
    c.expect("PWD", 257);
}

#[test]
fn read_only_refuses_every_write_and_serves_reads() {
    let server = Server::start_with(&["--read-only"]);
    let content = write_random_file(&server.root().join("f.bin"), 100_000, 3);
    fs::create_dir(server.root().join("empty")).unwrap();
    fs::create_dir(server.root().join("full")).unwrap();
    fs::write(server.root().join("full").join("inner.txt"), b"inner\n").unwrap();
    let before = tree(server.root());

    let mut c = server.login();
    c.expect("TYPE I", 200);
    for command in [
        "STOR new.bin",
        "STOR f.bin",
        "STOU",
        "APPE f.bin",
        "APPE new.bin",
        "MKD newdir",
        "XMKD newdir",
        "RMD empty",
        "XRMD empty",
        "DELE f.bin",
        "DELE full/inner.txt",
        "RNFR f.bin",
        "RNTO g.bin",
    ] {
        let r = c.expect(command, 550);
        assert!(r.text().contains("read-only"), "{command}: {r:?}");
    }
    // With a data connection ready, a refused upload still gets 550 (no 150).
    let port = c.epsv();
    let data = connect_with_timeout(port);
    let r = c.cmd("STOR over.bin");
    assert_eq!(r.code, 550, "{r:?}");
    drop(data);
    c.expect("NOOP", 200);
    assert_eq!(tree(server.root()), before, "read-only changed the disk");

    // Reads work.
    let port = c.epsv();
    let data = connect_with_timeout(port);
    c.expect("RETR f.bin", 150);
    assert_eq!(read_all(data), content);
    assert_eq!(c.read_reply().code, 226);
    let port = c.epsv();
    let data = connect_with_timeout(port);
    c.expect("LIST", 150);
    let listing = String::from_utf8(read_all(data)).unwrap();
    assert_eq!(c.read_reply().code, 226);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(names, ["empty", "f.bin", "full"], "{listing}");
    c.expect("SIZE f.bin", 213);
    c.expect("CWD full", 250);
    c.expect("CDUP", 250);
    // MLSx permissions tell a client that nothing is writable.
    let r = c.expect("MLST f.bin", 250);
    assert!(r.lines[1].contains("perm=r;"), "{r:?}");
    let r = c.expect("MLST full", 250);
    assert!(r.lines[1].contains("perm=el;"), "{r:?}");
    assert_eq!(tree(server.root()), before);
}
