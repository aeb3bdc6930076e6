//! `--metrics`: after a scripted run, every counter says exactly what the
//! run did; counts stay exact with many sessions at once; the endpoint
//! serves `GET /metrics` and nothing else.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{connect_with_timeout, read_all, write_random_file, Control, Server, IO_TIMEOUT};

/// One HTTP request; returns the status code and the body.
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connecting to /metrics");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn scrape(server: &Server) -> String {
    let (status, body) = http(server.metrics_addr(), "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of one series (`name{labels}`), which must be there.
fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Waits until `series` reads `expected` (a session's end is counted when
/// its thread notices the client left).
fn eventually(server: &Server, series: &str, expected: u64) {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let text = scrape(server);
        if value(&text, series) == expected || Instant::now() > deadline {
            assert_eq!(value(&text, series), expected, "{series} in\n{text}");
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn download(c: &mut Control, name: &str) -> usize {
    let port = c.pasv();
    c.expect(&format!("RETR {name}"), 150);
    let n = read_all(connect_with_timeout(port)).len();
    assert_eq!(c.read_reply().code, 226);
    n
}

#[test]
fn counters_match_a_scripted_run_exactly() {
    let server = Server::start_with(&["--metrics", "127.0.0.1:0", "--ban-failures", "5"]);
    write_random_file(&server.root().join("one.bin"), 100_000, 1);
    write_random_file(&server.root().join("two.bin"), 23_456, 2);
    let text = scrape(&server);
    assert_eq!(value(&text, "ftp_sessions_total"), 0);

    // Session 1: a failed login, then a good one; two downloads, one upload.
    let mut a = Control::connect(server.port());
    a.expect_greeting();
    a.expect("USER nobody", 331);
    a.expect("PASS wrong", 530);
    a.login();
    a.expect("TYPE I", 200);
    assert_eq!(download(&mut a, "one.bin"), 100_000);
    assert_eq!(download(&mut a, "two.bin"), 23_456);
    let port = a.pasv();
    a.expect("STOR up.bin", 150);
    let mut data = connect_with_timeout(port);
    data.write_all(&[7; 5000]).unwrap();
    drop(data);
    assert_eq!(a.read_reply().code, 226);

    // Session 2: a login and an upload aborted before any byte.
    let mut b = Control::connect(server.port());
    b.expect_greeting();
    b.login();
    b.expect("TYPE I", 200);
    let port = b.pasv();
    // A passive port open and unused counts as in use.
    assert_eq!(value(&scrape(&server), "ftp_passive_ports_in_use"), 1);
    b.expect("STOR cut.bin", 150);
    let data = connect_with_timeout(port);
    b.send_line("ABOR", "\r\n");
    assert_eq!(b.read_reply().code, 426);
    assert_eq!(b.read_reply().code, 226);
    drop(data);

    let text = scrape(&server);
    for (series, expected) in [
        ("ftp_sessions_total", 2),
        ("ftp_sessions_active", 2),
        ("ftp_logins_total{result=\"ok\"}", 2),
        ("ftp_logins_total{result=\"failed\"}", 1),
        (
            "ftp_transfers_total{direction=\"download\",result=\"ok\"}",
            2,
        ),
        (
            "ftp_transfers_total{direction=\"download\",result=\"failed\"}",
            0,
        ),
        (
            "ftp_transfers_total{direction=\"download\",result=\"aborted\"}",
            0,
        ),
        ("ftp_transfers_total{direction=\"upload\",result=\"ok\"}", 1),
        (
            "ftp_transfers_total{direction=\"upload\",result=\"failed\"}",
            0,
        ),
        (
            "ftp_transfers_total{direction=\"upload\",result=\"aborted\"}",
            1,
        ),
        ("ftp_transfer_bytes_total{direction=\"download\"}", 123_456),
        ("ftp_transfer_bytes_total{direction=\"upload\"}", 5000),
        ("ftp_bans_total", 0),
        ("ftp_passive_ports_in_use", 0),
    ] {
        assert_eq!(value(&text, series), expected, "{series} in\n{text}");
    }
    // Listings are not file transfers.
    let port = a.pasv();
    a.expect("LIST", 150);
    read_all(connect_with_timeout(port));
    assert_eq!(a.read_reply().code, 226);
    let text = scrape(&server);
    assert_eq!(
        value(
            &text,
            "ftp_transfers_total{direction=\"download\",result=\"ok\"}"
        ),
        2
    );
    // No user name, address or path is exposed.
    for private in ["anonymous", "nobody", "127.0.0.1", "one.bin"] {
        assert!(!text.contains(private), "{private} in\n{text}");
    }
    a.expect("QUIT", 221);
    b.expect("QUIT", 221);
    eventually(&server, "ftp_sessions_active", 0);
}

#[test]
fn a_ban_is_counted() {
    let server = Server::start_with(&["--metrics", "127.0.0.1:0", "--ban-failures", "1"]);
    let mut c = Control::connect(server.port());
    c.expect_greeting();
    c.expect("USER nobody", 331);
    c.expect("PASS wrong", 530);
    let text = scrape(&server);
    assert_eq!(value(&text, "ftp_bans_total"), 1);
    assert_eq!(value(&text, "ftp_logins_total{result=\"failed\"}"), 1);
}

#[test]
fn concurrent_sessions_are_counted_exactly() {
    let server = Server::start_with(&["--metrics", "127.0.0.1:0"]);
    let port = server.port();
    let held: Vec<Control> = thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(move || {
                    let mut c = Control::connect(port);
                    c.expect_greeting();
                    c.login();
                    c
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let text = scrape(&server);
    assert_eq!(value(&text, "ftp_sessions_total"), 16);
    assert_eq!(value(&text, "ftp_sessions_active"), 16);
    assert_eq!(value(&text, "ftp_logins_total{result=\"ok\"}"), 16);
    let mut open = Vec::new();
    for (i, mut c) in held.into_iter().enumerate() {
        if i % 2 == 0 {
            c.expect("QUIT", 221);
        } else {
            open.push(c);
        }
    }
    eventually(&server, "ftp_sessions_active", 8);
    assert_eq!(value(&scrape(&server), "ftp_sessions_total"), 16);
    drop(open);
    eventually(&server, "ftp_sessions_active", 0);
}

#[test]
fn the_endpoint_serves_get_metrics_and_nothing_else() {
    let server = Server::start_with(&["--metrics", "127.0.0.1:0"]);
    let addr = server.metrics_addr();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    let (status, body) = http(addr, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE ftp_sessions counter"), "{body}");
    assert!(body.contains("# TYPE ftp_sessions_active gauge"), "{body}");
    assert_eq!(http(addr, "GET", "/").0, 404);
    assert_eq!(http(addr, "GET", "/metrics/../etc/passwd").0, 404);
    assert_eq!(http(addr, "GET", "/other").0, 404);
    assert_eq!(http(addr, "POST", "/metrics").0, 405);
    assert_eq!(http(addr, "DELETE", "/metrics").0, 405);
    // A query string is no different path.
    assert_eq!(http(addr, "GET", "/metrics?x=1").0, 200);
}

#[test]
fn a_metrics_address_that_cannot_be_bound_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = common::run_serv(&["--metrics", &addr, "--bind", "127.0.0.1", "0"], b"");
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("cannot serve metrics on"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_transfer_cut_by_the_client_leaving_is_still_counted() {
    let server = Server::start_with(&["--metrics", "127.0.0.1:0", "--download-rate", "64KiB"]);
    write_random_file(&server.root().join("big.bin"), 1 << 20, 3);
    let mut c = Control::connect(server.port());
    c.expect_greeting();
    c.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    c.expect("RETR big.bin", 150);
    let data = connect_with_timeout(port);
    // The client vanishes mid-download (1 MiB at 64 KiB/s takes 16 s).
    thread::sleep(Duration::from_millis(300));
    c.shutdown();
    drop(data);
    eventually(&server, "ftp_sessions_active", 0);
    let text = scrape(&server);
    let done: u64 = ["ok", "failed", "aborted"]
        .iter()
        .map(|r| {
            value(
                &text,
                &format!("ftp_transfers_total{{direction=\"download\",result=\"{r}\"}}"),
            )
        })
        .sum();
    assert_eq!(done, 1, "{text}");
    assert_eq!(
        value(
            &text,
            "ftp_transfers_total{direction=\"download\",result=\"ok\"}"
        ),
        0
    );
}

/// Hostile clients of the endpoint: a hundred connections that send half
/// a request line and wait (each used to cost a thread of the process), and
/// one that pipelines thousands of requests and never reads an answer (its
/// answers used to fill the socket and block the endpoint for good). The
/// threads stay as they were, and a scrape and an FTP login still work.
#[test]
fn hostile_metrics_clients_take_no_threads_and_block_nothing_for_good() {
    let server = Server::start_with(&["--metrics", "127.0.0.1:0"]);
    let addr = server.metrics_addr();
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .unwrap()
            .count()
    };
    let before = threads();
    // Fewer than the listen backlog, so that every connect completes at
    // once: the workers take them one by one, each for up to its deadline.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
            s.write_all(b"GET /met").unwrap();
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    let during = threads();
    assert!(
        during < before + 10,
        "{before} threads before, {during} with 100 idle metrics connections"
    );
    drop(idle);

    let mut hog = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    hog.set_nonblocking(true).unwrap();
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20_000);
    let mut sent = 0;
    let until = Instant::now() + Duration::from_secs(2);
    while sent < request.len() && Instant::now() < until {
        match hog.write(&request[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10))
            }
            Err(_) => break,
        }
    }
    // The scrape's read timeout (IO_TIMEOUT) is the bound: it used to wait
    // forever behind the hog.
    let text = scrape(&server);
    assert!(text.contains("ftp_sessions_active"), "{text}");
    let mut c = server.login();
    c.expect("NOOP", 200);
    drop(hog);

    // A head longer than any scrape's is refused, not buffered.
    let mut big = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    big.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let filler = format!("X-Filler: {}\r\n", "x".repeat(100)).repeat(100);
    let _ = write!(big, "GET /metrics HTTP/1.1\r\n{filler}\r\n");
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
}
