//! `--xferlog FILE`: one line per file transfer in the wu-ftpd/vsftpd
//! format (`man 5 xferlog`), which log analyzers parse by field count;
//! the values are those of the transfer; SIGHUP reopens the file.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{connect_with_timeout, read_all, write_random_file, Control, Server};

/// The lines of the log once it has `n` of them.
fn lines(path: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + common::IO_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || Instant::now() > deadline {
            assert_eq!(lines.len(), n, "{text}");
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The 18 fields of a line: five of the date, thirteen more.
fn fields(line: &str) -> Vec<&str> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 18, "{line:?}");
    // `Tue Dec  1 18:41:53 2026`
    assert_eq!(fields[0].len(), 3, "{line:?}");
    assert_eq!(fields[1].len(), 3, "{line:?}");
    assert!(fields[2].parse::<u32>().is_ok(), "{line:?}");
    assert_eq!(fields[3].len(), 8, "{line:?}");
    assert!(fields[4].parse::<u32>().is_ok(), "{line:?}");
    assert!(fields[5].parse::<u64>().unwrap() >= 1, "{line:?}");
    assert_eq!(fields[6], "127.0.0.1");
    assert_eq!(&fields[10..11], ["_"]);
    assert_eq!(&fields[14..17], ["ftp", "0", "*"]);
    fields
}

#[test]
fn each_transfer_is_one_line_with_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("xferlog");
    let log_arg = log.to_str().unwrap();
    let server = Server::start_with(&["--xferlog", log_arg]);
    write_random_file(&server.root().join("a file.bin"), 12_345, 1);
    let mut c = Control::connect(server.port());
    c.expect_greeting();
    c.expect("USER anonymous", 331);
    c.expect("PASS me@example.org", 230);

    // A binary download of a name with a space.
    c.expect("TYPE I", 200);
    let port = c.pasv();
    c.expect("RETR a file.bin", 150);
    assert_eq!(read_all(connect_with_timeout(port)).len(), 12_345);
    assert_eq!(c.read_reply().code, 226);
    // An ASCII upload.
    c.expect("TYPE A", 200);
    let port = c.pasv();
    c.expect("STOR notes.txt", 150);
    let mut data = connect_with_timeout(port);
    data.write_all(b"one\r\ntwo\r\n").unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    // An aborted upload.
    c.expect("TYPE I", 200);
    let port = c.pasv();
    c.expect("STOR cut.bin", 150);
    let data = connect_with_timeout(port);
    c.send_line("ABOR", "\r\n");
    assert_eq!(c.read_reply().code, 426);
    assert_eq!(c.read_reply().code, 226);
    drop(data);
    // Listings are not logged.
    let port = c.pasv();
    c.expect("LIST", 150);
    read_all(connect_with_timeout(port));
    assert_eq!(c.read_reply().code, 226);
    c.expect("QUIT", 221);

    let lines = lines(&log, 3);
    let down = fields(&lines[0]);
    assert_eq!(
        &down[7..],
        [
            "12345",
            "/a_file.bin",
            "b",
            "_",
            "o",
            "a",
            "me@example.org",
            "ftp",
            "0",
            "*",
            "c"
        ]
    );
    let up = fields(&lines[1]);
    assert_eq!(&up[7..10], ["10", "/notes.txt", "a"]);
    assert_eq!(&up[11..14], ["i", "a", "me@example.org"]);
    assert_eq!(up[17], "c");
    let cut = fields(&lines[2]);
    assert_eq!(&cut[7..9], ["0", "/cut.bin"]);
    assert_eq!(cut[11], "i", "incoming");
    assert_eq!(cut[17], "i", "an aborted transfer is incomplete");
}

#[test]
fn a_user_is_a_real_login_and_sighup_reopens_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let hash = common::run_serv(&["--hash-password"], b"secret\n");
    assert_eq!(hash.code(), 0, "{}", hash.stderr);
    std::fs::write(&users, format!("alice:{}\n", hash.stdout.trim())).unwrap();
    let log = dir.path().join("xferlog");
    let server = Server::start_with(&[
        "--users",
        users.to_str().unwrap(),
        "--xferlog",
        log.to_str().unwrap(),
    ]);
    write_random_file(&server.root().join("f"), 10, 1);
    let mut c = Control::connect(server.port());
    c.expect_greeting();
    c.expect("USER alice", 331);
    c.expect("PASS secret", 230);
    let retr = |c: &mut Control| {
        let port = c.pasv();
        c.expect("RETR f", 150);
        read_all(connect_with_timeout(port));
        assert_eq!(c.read_reply().code, 226);
    };
    retr(&mut c);
    let first = lines(&log, 1);
    let f = fields(&first[0]);
    assert_eq!(&f[12..14], ["r", "alice"]);

    // logrotate: move the file away, SIGHUP, and the next line goes to a
    // new file at the old name.
    let rotated = dir.path().join("xferlog.1");
    std::fs::rename(&log, &rotated).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        server.wait_for_log("SIGHUP: reopened", common::IO_TIMEOUT),
        "{}",
        server.log()
    );
    retr(&mut c);
    assert_eq!(lines(&log, 1).len(), 1);
    assert_eq!(lines(&rotated, 1).len(), 1);
}

#[test]
fn a_log_that_cannot_be_opened_stops_the_start() {
    let out = common::run_serv(
        &[
            "--xferlog",
            "/nonexistent/dir/xferlog",
            "--bind",
            "127.0.0.1",
            "0",
        ],
        b"",
    );
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr
            .contains("cannot open the transfer log /nonexistent/dir/xferlog"),
        "{}",
        out.stderr
    );
}
