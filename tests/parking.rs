//! Idle sessions without threads (issue 16): a session waiting for its
//! next command gives its thread back and is parked in the server's one
//! epoll set; input, its deadline or the server's stop wakes it, and
//! nothing about it changes on the wire.

mod common;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{eventually, Control, Server};

/// The server process's thread count, from /proc.
fn threads(server: &Server) -> usize {
    let status = fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no thread count in\n{status}"))
}

/// Far fewer threads than sessions: main, signals, the reactor and a few
/// waiting workers.
const FEW_THREADS: usize = 20;

#[test]
fn idle_sessions_hold_no_threads_and_still_answer() {
    let server = Server::start();
    let sessions: Vec<Control> = (0..200).map(|_| server.login()).collect();
    assert!(
        eventually(Duration::from_secs(10), || threads(&server) < FEW_THREADS),
        "{} threads for {} idle sessions",
        threads(&server),
        sessions.len()
    );
    let mut sessions = sessions;
    for c in &mut sessions {
        c.expect("NOOP", 200);
        c.expect("PWD", 257);
    }
    // Every one woke, answered and parked again.
    assert!(
        eventually(Duration::from_secs(10), || threads(&server) < FEW_THREADS),
        "{} threads after the sessions went idle again",
        threads(&server)
    );
}

#[test]
fn a_parked_session_still_times_out() {
    let server = Server::start_with(&["--idle-timeout", "1"]);
    let mut c = server.login();
    let started = Instant::now();
    let reply = c.read_reply();
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text().contains("idle"), "{reply:?}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    c.expect_closed();
}

#[test]
fn a_parked_session_that_never_logs_in_is_closed() {
    let server = Server::start_with(&["--login-timeout", "1"]);
    let mut c = server.connect();
    c.expect_greeting();
    let reply = c.read_reply();
    assert_eq!(reply.code, 421, "{reply:?}");
    c.expect_closed();
}

#[test]
fn a_session_parked_and_woken_many_times_keeps_working() {
    let server = Server::start();
    let content = common::write_random_file(&server.root().join("f.bin"), 300_000, 16);
    let mut c = server.login();
    for round in 0..3 {
        for _ in 0..20 {
            c.expect("NOOP", 200);
            // Time to park between commands.
            std::thread::sleep(Duration::from_millis(5));
        }
        c.expect("CWD /", 250);
        c.expect("TYPE I", 200);
        let port = c.pasv();
        let data = common::connect_with_timeout(port);
        assert_eq!(c.cmd("RETR f.bin").code, 150);
        assert_eq!(common::read_all(data), content, "round {round}");
        assert_eq!(c.read_reply().code, 226);
        // Idle long enough to park for sure.
        std::thread::sleep(Duration::from_millis(200));
        // Pipelined commands after a wake are all answered.
        c.send_raw(b"NOOP\r\nPWD\r\nSYST\r\n");
        assert_eq!(c.read_reply().code, 200);
        assert_eq!(c.read_reply().code, 257);
        assert_eq!(c.read_reply().code, 215);
    }
    c.expect("QUIT", 221);
    c.expect_closed();
}

#[test]
fn a_command_split_across_wakes_is_read_whole() {
    let server = Server::start();
    let mut c = server.login();
    c.send_raw(b"NO");
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(b"OP\r\n");
    assert_eq!(c.read_reply().code, 200);
}

#[test]
fn stopping_the_server_closes_parked_sessions() {
    let mut server = Server::start();
    let mut sessions: Vec<Control> = (0..50).map(|_| server.login()).collect();
    assert!(eventually(Duration::from_secs(10), || threads(&server) < FEW_THREADS));
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(15), || !server.is_running()),
        "serv did not stop with parked sessions; log:\n{}",
        server.log()
    );
    assert!(server.log().contains("stopped"), "{}", server.log());
    // As for a session on a thread: the process ends, its connections
    // close.
    for c in &mut sessions {
        c.expect_closed();
    }
}
