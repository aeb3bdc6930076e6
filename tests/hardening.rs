//! Hostile input, hostile peers and faults (issue 5): every case ends with
//! the session (or the server) still serving, nothing half-written under a
//! real name, and nothing reachable outside the root.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{eventually, Server};

/// A value from /proc/PID/status, in the unit it is given in (kB for memory).
fn proc_status(pid: u32, key: &str) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("reading /proc fds")
        .count()
}

fn temporaries(dir: &Path) -> Vec<String> {
    common::dir_names(dir)
        .into_iter()
        .filter(|n| n.starts_with(".ftp-upload."))
        .collect()
}

#[test]
fn garbage_nul_bytes_and_bad_utf8_get_replies_and_the_session_goes_on() {
    let server = Server::start();
    fs::write(server.root().join("f.txt"), b"data").unwrap();
    let mut bystander = server.login();
    let mut c = server.login();
    c.send_raw(b"RETR a\0b\r\n");
    assert_eq!(c.read_reply().code, 553, "a NUL byte in a path");
    c.send_raw(b"RETR \xc3\x28bad\r\n");
    assert_eq!(c.read_reply().code, 501, "invalid UTF-8");
    // Binary garbage, one line of it per newline: each line gets a 5xx.
    let garbage = common::pseudo_random(4096, 7)
        .into_iter()
        .map(|b| if b == b'\n' || b == 0xff { b'x' } else { b })
        .collect::<Vec<u8>>();
    c.send_raw(&garbage);
    c.send_raw(b"\r\n");
    let r = c.read_reply();
    assert!(
        (500..=504).contains(&r.code),
        "garbage got {} {}",
        r.code,
        r.text()
    );
    c.expect("NOOP", 200);
    c.expect("SIZE f.txt", 213);
    bystander.expect("NOOP", 200);
}

#[test]
fn commands_out_of_order_get_503_or_425() {
    let server = Server::start();
    fs::write(server.root().join("f.txt"), b"data").unwrap();
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("PASS x", 503);
    c.login();
    c.expect("RNTO new", 503);
    c.expect("RETR f.txt", 425);
    c.expect("NOOP", 200);
}

#[test]
fn a_four_mib_line_without_newline_leaves_memory_flat() {
    let server = Server::start();
    let pid = server.pid();
    let mut c = server.login();
    let before = proc_status(pid, "VmRSS");
    let chunk = vec![b'A'; 64 * 1024];
    for _ in 0..64 {
        c.send_raw(&chunk);
    }
    // Give the server time to read all of it before measuring.
    std::thread::sleep(Duration::from_millis(300));
    let after = proc_status(pid, "VmRSS");
    assert!(
        after < before + 1024,
        "RSS grew from {before} kB to {after} kB while a 4 MiB line streamed in"
    );
    c.send_raw(b"\r\n");
    assert_eq!(c.read_reply().code, 500);
    c.expect("NOOP", 200);
}

#[test]
fn a_thief_from_another_address_gets_no_byte_from_a_passive_port() {
    let server = Server::start();
    let content = common::pseudo_random(1 << 20, 11);
    fs::write(server.root().join("secret.bin"), &content).unwrap();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    // The thief connects first, from 127.0.0.2 (all of 127/8 is loopback).
    let thief = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    thief
        .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    thief
        .connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)).into(),
            Duration::from_secs(5),
        )
        .unwrap();
    let mut thief: TcpStream = thief.into();
    thief
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let data = common::connect_with_timeout(port);
    c.cmd("RETR secret.bin");
    let got = common::read_all(data);
    assert_eq!(c.read_reply().code, 226);
    common::assert_same_bytes(&got, &content, "the rightful client's download");
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "the thief got {} bytes", stolen.len());
}

#[test]
fn a_stalled_upload_times_out_and_leaves_the_old_file_and_no_temporary() {
    let server = Server::start_with(&["--data-timeout", "2"]);
    fs::write(server.root().join("keep.txt"), b"old content").unwrap();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let mut data = common::connect_with_timeout(port);
    let r = c.cmd("STOR keep.txt");
    assert_eq!(r.code, 150);
    data.write_all(&[b'n'; 1000]).unwrap();
    // ...and then silence, with the connection open.
    let started = Instant::now();
    let r = c.read_reply();
    assert_eq!(r.code, 426, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(
        fs::read(server.root().join("keep.txt")).unwrap(),
        b"old content"
    );
    assert!(temporaries(server.root()).is_empty());
    c.expect("NOOP", 200);
    drop(data);
}

#[test]
fn a_client_that_hangs_up_mid_download_frees_its_thread_and_descriptors() {
    let server = Server::start();
    let pid = server.pid();
    fs::write(
        server.root().join("big.bin"),
        common::pseudo_random(32 << 20, 3),
    )
    .unwrap();
    let baseline_fds = open_fds(pid);
    let baseline_threads = proc_status(pid, "Threads");
    for _ in 0..10 {
        let mut c = server.login();
        c.expect("TYPE I", 200);
        let port = c.pasv();
        let mut data = common::connect_with_timeout(port);
        assert_eq!(c.cmd("RETR big.bin").code, 150);
        let mut buf = vec![0; 64 * 1024];
        data.read_exact(&mut buf).unwrap();
        drop(data);
        drop(c);
    }
    assert!(
        eventually(Duration::from_secs(10), || open_fds(pid) <= baseline_fds
            && proc_status(pid, "Threads") <= baseline_threads),
        "fds {} (was {baseline_fds}), threads {} (was {baseline_threads})",
        open_fds(pid),
        proc_status(pid, "Threads")
    );
}

#[test]
fn an_upload_past_the_file_size_limit_gets_552_and_the_session_goes_on() {
    // prlimit --fsize: writes past 64 KiB fail with EFBIG (the server
    // handles SIGXFSZ instead of dying).
    let server = Server::start_wrapped(&["prlimit", "--fsize=65536", "--"], &[]);
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let mut data = common::connect_with_timeout(port);
    assert_eq!(c.cmd("STOR big.bin").code, 150);
    let _ = data.write_all(&common::pseudo_random(1 << 20, 5));
    drop(data);
    let r = c.read_reply();
    assert_eq!(r.code, 552, "{}", r.text());
    assert!(!server.root().join("big.bin").exists());
    assert!(temporaries(server.root()).is_empty());
    c.expect("NOOP", 200);
    let port = c.pasv();
    let mut data = common::connect_with_timeout(port);
    assert_eq!(c.cmd("STOR small.bin").code, 150);
    data.write_all(b"small").unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    assert_eq!(fs::read(server.root().join("small.bin")).unwrap(), b"small");
}

#[test]
fn a_server_killed_mid_upload_leaves_temporaries_that_the_next_start_removes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("keep.txt"), b"old").unwrap();
    {
        let mut server = Server::start_in(&root, &[], &[]);
        let mut c = server.login();
        c.expect("TYPE I", 200);
        let port = c.pasv();
        let mut data = common::connect_with_timeout(port);
        assert_eq!(c.cmd("STOR keep.txt").code, 150);
        data.write_all(&[b'x'; 100_000]).unwrap();
        assert!(eventually(Duration::from_secs(5), || !temporaries(&root).is_empty()));
        server.kill();
    }
    assert_eq!(fs::read(root.join("keep.txt")).unwrap(), b"old");
    let left = common::dir_names(&root);
    assert!(
        left.iter()
            .all(|n| n == "keep.txt" || n.starts_with(".ftp-upload.")),
        "unexpected files after the kill: {left:?}"
    );
    let _server = Server::start_in(&root, &[], &[]);
    assert_eq!(common::dir_names(&root), ["keep.txt"]);
}

#[test]
fn sigterm_lets_the_server_stop_and_removes_unfinished_uploads() {
    let mut server = Server::start();
    fs::write(server.root().join("keep.txt"), b"old").unwrap();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let mut data = common::connect_with_timeout(port);
    assert_eq!(c.cmd("STOR keep.txt").code, 150);
    data.write_all(&[b'x'; 10_000]).unwrap();
    assert!(eventually(Duration::from_secs(5), || !temporaries(
        server.root()
    )
    .is_empty()));
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(15), || !server.is_running()),
        "serv did not stop after SIGTERM; log:\n{}",
        server.log()
    );
    assert!(
        temporaries(server.root()).is_empty(),
        "{:?}",
        common::dir_names(server.root())
    );
    assert_eq!(fs::read(server.root().join("keep.txt")).unwrap(), b"old");
    assert!(server.log().contains("stopped"), "{}", server.log());
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "still accepting after SIGTERM"
    );
    drop(data);
}

/// ENOSPC needs a small file system: a 1 MiB tmpfs, which needs root (as CI
/// has), so this runs with the `faults` feature.
#[cfg(feature = "faults")]
#[test]
fn a_full_disk_answers_452_removes_what_it_wrote_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&root)
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a tmpfs needs root");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&root);
    fs::write(root.join("keep.txt"), b"old").unwrap();
    let server = Server::start_in(&root, &[], &[]);
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let mut data = common::connect_with_timeout(port);
    assert_eq!(c.cmd("STOR keep.txt").code, 150);
    let _ = data.write_all(&common::pseudo_random(3 << 20, 9));
    drop(data);
    let r = c.read_reply();
    assert_eq!(r.code, 452, "{}", r.text());
    assert_eq!(fs::read(root.join("keep.txt")).unwrap(), b"old");
    assert!(temporaries(&root).is_empty());
    c.expect("NOOP", 200);
    let port = c.pasv();
    let mut data = common::connect_with_timeout(port);
    assert_eq!(c.cmd("STOR small.txt").code, 150);
    data.write_all(b"fits").unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    drop(server);
}
