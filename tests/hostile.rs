//! Hostile clients, round two: cheap attacks that used to cost the server
//! memory, CPU, ports or the truth of its replies, each performed against
//! the real `serv` binary with the bound it must now keep asserted.
//! (Resumed-upload disk amplification and lost appends are in
//! `tests/hostile_uploads.rs`; users-file and start-up mistakes in
//! `tests/server_auth.rs`.)
//!
//! Memory is read from `/proc/<pid>/status` (VmHWM, the peak resident set):
//! a bound on the server's peak, not a timing.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{connect_with_timeout, eventually, read_all, run_serv, Control, Server, IO_TIMEOUT};

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Waits until `check` holds or `timeout` passes; returns whether it held.
/// A directory of `n` entries with long names.
fn big_directory(server: &Server, n: usize) {
    let dir = server.root().join("big");
    fs::create_dir(&dir).unwrap();
    let long = "n".repeat(180);
    for i in 0..n {
        fs::write(dir.join(format!("{long}{i:06}")), b"").unwrap();
    }
}

// ---------------------------------------------------------------------------
// 3. Replies and listings nobody reads

#[test]
fn stat_floods_that_nobody_reads_cost_little_memory_and_are_cut() {
    let server = Server::start_with(&["--stall-timeout", "2"]);
    big_directory(&server, 20_000);
    let before = status_kib(server.pid(), "VmRSS:");
    // Thirty sessions ask for a 5 MB reply each and never read it.
    let mut sessions: Vec<Control> = (0..30)
        .map(|_| {
            let mut c = server.login();
            c.send_line("STAT /big", "\r\n");
            c
        })
        .collect();
    // Every one is cut after the stall timeout, long before the idle one.
    assert!(
        eventually(Duration::from_secs(30), || server
            .log()
            .matches("connection lost")
            .count()
            >= 30),
        "not every non-reading session was cut:\n{}",
        server.log()
    );
    let peak = status_kib(server.pid(), "VmHWM:");
    assert!(
        peak < before + 64 * 1024,
        "peak RSS {peak} KiB against {before} KiB at rest: replies were buffered whole"
    );
    // The server still serves.
    let mut c = server.login();
    let r = c.expect("STAT /big", 213);
    assert_eq!(r.lines.len(), 20_002, "the whole listing for a reader");
    sessions.clear();
}

#[test]
fn a_listing_nobody_reads_is_cut_after_the_stall_timeout() {
    // A data timeout far longer than the test: only the stall timeout can
    // end this.
    let server = Server::start_with(&["--stall-timeout", "2", "--data-timeout", "300"]);
    big_directory(&server, 20_000);
    let mut c = server.login();
    let port = c.epsv();
    let data = connect_with_timeout(port);
    let started = Instant::now();
    c.expect("LIST /big", 150);
    let end = c.read_reply();
    assert_eq!(end.code, 426, "{end:?}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cut after {:?}",
        started.elapsed()
    );
    drop(data);
    c.expect("NOOP", 200);
}

// ---------------------------------------------------------------------------
// 4. Parallel password guessing

/// A users file with one account, hashed by serv itself.
fn users_file(dir: &std::path::Path) -> std::path::PathBuf {
    let hashed = run_serv(&["--hash-password"], b"right horse\n");
    assert_eq!(hashed.code(), 0, "{hashed}");
    let path = dir.join("users");
    fs::write(&path, format!("alice:{}\n", hashed.stdout.trim())).unwrap();
    path
}

/// `connections` clients at once, each sending `tries` wrong passwords.
fn guess_in_parallel(server: &Server, connections: usize, tries: usize) {
    let addr = server.addr();
    let guessers: Vec<_> = (0..connections)
        .map(|i| {
            thread::spawn(move || {
                let Ok(stream) = TcpStream::connect_timeout(&addr, IO_TIMEOUT) else {
                    return;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                for t in 0..tries {
                    let guess = format!("USER alice\r\nPASS guess-{i}-{t}\r\n");
                    if stream.write_all(guess.as_bytes()).is_err() {
                        return;
                    }
                    // 331, then 530 (and 421 after the last).
                    let _ = stream.read(&mut buf);
                    let _ = stream.read(&mut buf);
                }
            })
        })
        .collect();
    for g in guessers {
        g.join().unwrap();
    }
}

#[test]
fn a_hundred_parallel_guessers_do_not_multiply_argon2_memory() {
    let accounts = tempfile::tempdir().unwrap();
    let users = users_file(accounts.path());
    // No ban: every guess is verified, as many at once as the clients ask.
    let server = Server::start_with(&["--users", users.to_str().unwrap(), "--ban-failures", "0"]);
    let before = status_kib(server.pid(), "VmHWM:");
    guess_in_parallel(&server, 100, 3);
    let peak = status_kib(server.pid(), "VmHWM:");
    // One argon2 verification needs 19 MiB; a hundred at once needed 2 GB
    // and more. Verifications are bounded by the number of cores.
    let cores = thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bound = before + (cores + 2) * 20 * 1024 + 64 * 1024;
    assert!(
        peak < bound,
        "peak RSS {peak} KiB (at rest {before} KiB, bound {bound} KiB)"
    );
    assert!(server.log().contains("login refused"), "{}", server.log());
}

#[test]
fn an_address_that_keeps_failing_is_banned_across_connections() {
    let accounts = tempfile::tempdir().unwrap();
    let users = users_file(accounts.path());
    let server = Server::start_with(&[
        "--users",
        users.to_str().unwrap(),
        "--ban-failures",
        "6",
        "--ban-window",
        "600",
        "--ban-time",
        "600",
    ]);
    // Three connections with two wrong passwords each: six failures.
    guess_in_parallel(&server, 3, 2);
    assert!(
        server.wait_for_log(
            "banned 127.0.0.1 for 600 s after 6 failed logins",
            IO_TIMEOUT
        ),
        "{}",
        server.log()
    );
    // The next connection is refused at once, even with the right password.
    let mut c = server.connect();
    let r = c.read_reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().contains("too many failed logins"), "{r:?}");
    c.expect_closed();
}

// ---------------------------------------------------------------------------
// 5. Connections that never log in

#[test]
fn a_connection_that_never_logs_in_is_closed_at_the_login_deadline() {
    let server = Server::start_with(&["--login-timeout", "2"]);
    let mut c = server.connect();
    c.expect_greeting();
    let started = Instant::now();
    // Commands before login do not extend the deadline.
    let mut closed_by = None;
    for _ in 0..40 {
        c.send_line("NOOP", "\r\n");
        let r = c.read_reply();
        if r.code == 421 {
            closed_by = Some(r);
            break;
        }
        thread::sleep(Duration::from_millis(250));
    }
    let r = closed_by.expect("never closed");
    assert!(r.text().contains("not logged in within 2 seconds"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(8));
    // Logged-in sessions are not held to it.
    let mut ok = server.login();
    thread::sleep(Duration::from_millis(2500));
    ok.expect("NOOP", 200);
}

#[test]
fn idle_connections_that_never_log_in_cannot_fill_max_sessions() {
    let server = Server::start_with(&["--max-sessions", "4"]);
    // Four connections that never log in: as many as --max-sessions.
    let mut idle: Vec<Control> = (0..4)
        .map(|_| {
            let mut c = server.connect();
            c.expect_greeting();
            c
        })
        .collect();
    // Past the login grace (2 s) they are idle waiters. A real client
    // still gets in, and the connection that waited longest makes room.
    thread::sleep(Duration::from_millis(2500));
    let mut a = server.login();
    a.expect("NOOP", 200);
    let r = idle[0].read_reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().contains("waited longest"), "{r:?}");
    idle[0].expect_closed();
    let mut b = server.login();
    b.expect("PWD", 257);
    // A logged-in session is never the one that makes room.
    a.expect("NOOP", 200);
    idle.clear();
}

#[cfg(feature = "soak")]
#[test]
fn a_burst_of_a_thousand_logins_from_one_address_succeeds() {
    let server = Server::start();
    let addr = server.addr();
    let clients: Vec<_> = (0..1000)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Control::connect_to(addr);
                c.expect_greeting();
                c.login();
                c.expect("NOOP", 200);
                c.expect("QUIT", 221);
            })
        })
        .collect();
    let failed = clients
        .into_iter()
        .map(|c| c.join())
        .filter(Result::is_err)
        .count();
    assert_eq!(failed, 0, "logins failed");
}

// ---------------------------------------------------------------------------
// 6. Passive ports

/// True if something accepts connections on 127.0.0.1:port.
fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok()
}

#[test]
fn a_failed_transfer_closes_its_passive_listener() {
    let server = Server::start_with(&["--data-timeout", "1"]);
    fs::write(server.root().join("f"), b"x").unwrap();
    let mut c = server.login();
    let port = c.epsv();
    c.expect("RETR f", 150);
    let r = c.read_reply();
    assert_eq!(r.code, 425, "nobody connected: {r:?}");
    assert!(!listening(port), "port {port} still accepts after 425");
}

#[test]
fn an_unused_passive_port_goes_back_to_the_pool() {
    let (low, _) = common::free_port_range(1);
    let range = format!("{low}-{low}");
    let server = Server::start_with(&["--pasv-ports", &range, "--data-timeout", "1"]);
    let mut hog = server.login();
    assert_eq!(hog.epsv(), low);
    let mut other = server.login();
    let r = other.cmd("EPSV");
    assert_eq!(r.code, 425, "the only port is taken: {r:?}");
    // The hog never uses it: after the data timeout it is free again.
    assert!(
        eventually(Duration::from_secs(10), || !listening(low)),
        "the unused listener was never closed"
    );
    assert_eq!(other.epsv(), low);
    hog.expect("NOOP", 200);
}

// ---------------------------------------------------------------------------
// 7. ABOR against the commit

#[test]
fn abor_racing_a_commit_never_lies() {
    let server = Server::start();
    let target = server.root().join("t");
    fs::write(&target, b"round 0").unwrap();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let (mut aborted, mut committed) = (0, 0);
    for round in 1..=150 {
        let before = fs::read(&target).unwrap();
        let port = c.epsv();
        let mut data = connect_with_timeout(port);
        c.expect("STOR t", 150);
        let content = format!("round {round}");
        data.write_all(content.as_bytes()).unwrap();
        // The upload is complete and the ABOR races its commit.
        data.shutdown(Shutdown::Write).unwrap();
        c.send_line("ABOR", "\r\n");
        let first = c.read_reply();
        let second = c.read_reply();
        drop(data);
        let now = fs::read(&target).unwrap();
        match (first.code, second.code) {
            (426, 226) => {
                assert_eq!(now, before, "round {round}: 426 but the upload was kept");
                aborted += 1;
            }
            (226, 225) => {
                assert_eq!(now, content.as_bytes(), "round {round}: 226 for lost data");
                committed += 1;
            }
            other => panic!("round {round}: replies {other:?}: {first:?} {second:?}"),
        }
    }
    assert_eq!(aborted + committed, 150);
    let temps = fs::read_dir(server.root())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".ftp-upload.")
        })
        .count();
    assert_eq!(temps, 0, "temporaries left behind");
}

// ---------------------------------------------------------------------------
// 8. Deep directory chains

#[test]
fn paths_deeper_than_the_cap_are_refused_with_553() {
    let server = Server::start();
    let mut deep = server.root().to_path_buf();
    for _ in 0..300 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    let mut c = server.login();
    let at = |n: usize| vec!["d"; n].join("/");
    c.expect(&format!("CWD {}", at(256)), 250);
    c.expect("CWD /", 250);
    let r = c.expect(&format!("CWD {}", at(257)), 553);
    assert!(r.text().contains("deeper than 256"), "{r:?}");
    c.expect(&format!("SIZE {}/x", at(2000)), 553);
    c.expect(&format!("MKD {}", at(257)), 553);
    c.expect("NOOP", 200);
}

// ---------------------------------------------------------------------------
// 9. Names with CR or LF, and link targets

#[test]
fn names_with_line_ends_cannot_be_created_and_listings_stay_one_line_per_entry() {
    let server = Server::start();
    fs::write(server.root().join("plain"), b"x").unwrap();
    std::os::unix::fs::symlink(
        "x\r\n-rw-r--r--   1 ftp ftp 1 Jan  1 2026 forged",
        server.root().join("link"),
    )
    .unwrap();
    let mut c = server.login();
    let port = c.epsv();
    let data = connect_with_timeout(port);
    c.send_raw(b"STOR hid\rden\r\n");
    let r = c.read_reply();
    assert_eq!(r.code, 553, "{r:?}");
    drop(data);
    c.send_raw(b"MKD a\rb\r\n");
    assert_eq!(c.read_reply().code, 553);
    c.expect("RNFR plain", 350);
    c.send_raw(b"RNTO p\rq\r\n");
    assert_eq!(c.read_reply().code, 553);
    assert_eq!(
        common::dir_names(server.root()),
        ["link", "plain"],
        "nothing was created"
    );
    for verb in ["LIST", "NLST", "MLSD"] {
        let port = c.epsv();
        let data = connect_with_timeout(port);
        c.expect(verb, 150);
        let listing = read_all(data);
        c.expect_code_after_transfer(verb);
        let text = String::from_utf8(listing).unwrap();
        assert!(
            !text.replace("\r\n", "").contains(['\r', '\n']),
            "{verb} has a raw line end inside an entry: {text:?}"
        );
        // One line per entry at most (MLSD leaves out a link that leads
        // nowhere): the link's text forged no line of its own.
        assert!(text.matches("\r\n").count() <= 2, "{verb}: {text:?}");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("-rw-r--r--   1 ftp ftp")),
            "{verb}: {text:?}"
        );
    }
}

/// Reads the 226 that ends a transfer.
trait TransferEnd {
    fn expect_code_after_transfer(&mut self, verb: &str);
}

impl TransferEnd for Control {
    fn expect_code_after_transfer(&mut self, verb: &str) {
        let r = self.read_reply();
        assert_eq!(r.code, 226, "end of {verb}: {r:?}");
    }
}
