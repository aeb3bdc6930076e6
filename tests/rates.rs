//! `--download-rate` and `--upload-rate`: a transfer held to its user's
//! rate takes at least what the rate says (lower bounds only: a loaded
//! machine is slower, never faster), one user's concurrent transfers share
//! the rate, and ABOR still cuts a throttled transfer promptly. The speed
//! itself is measured in bench/rates.py, not here.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{connect_with_timeout, read_all, write_random_file, Control, Server};

const MIB: usize = 1 << 20;

#[test]
fn a_download_at_one_mib_per_second_takes_its_time_and_arrives_whole() {
    let server = Server::start_with(&["--download-rate", "1MiB"]);
    let content = write_random_file(&server.root().join("two.bin"), 2 * MIB, 14);
    let mut c = Control::connect(server.port());
    c.expect_greeting();
    c.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let started = Instant::now();
    c.expect("RETR two.bin", 150);
    let got = read_all(connect_with_timeout(port));
    let elapsed = started.elapsed();
    eprintln!("2 MiB at 1 MiB/s: {elapsed:?}");
    assert_eq!(c.read_reply().code, 226);
    assert_eq!(got, content);
    // 2 MiB at 1 MiB/s with a bucket of 0.1 s: about 1.9 s. More than one
    // second for sure; a limiter that did nothing takes milliseconds.
    assert!(
        elapsed > Duration::from_millis(1300),
        "2 MiB at 1 MiB/s took only {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}

#[test]
fn an_upload_is_held_to_the_upload_rate_and_downloads_stay_free() {
    let server = Server::start_with(&["--upload-rate", "1MiB"]);
    write_random_file(&server.root().join("free.bin"), 8 * MIB, 1);
    let mut c = Control::connect(server.port());
    c.expect_greeting();
    c.login();
    c.expect("TYPE I", 200);
    // Downloads have no limit here: 8 MiB would take 8 s at the upload's
    // rate; unlimited, it takes milliseconds (4 s leaves room for a
    // loaded machine).
    let port = c.pasv();
    let started = Instant::now();
    c.expect("RETR free.bin", 150);
    assert_eq!(read_all(connect_with_timeout(port)).len(), 8 * MIB);
    assert_eq!(c.read_reply().code, 226);
    let unlimited = started.elapsed();
    assert!(unlimited < Duration::from_secs(4), "{unlimited:?}");

    let data = common::pseudo_random(2 * MIB, 7);
    let port = c.pasv();
    let started = Instant::now();
    c.expect("STOR up.bin", 150);
    let mut conn = connect_with_timeout(port);
    conn.write_all(&data).unwrap();
    drop(conn);
    // The final reply comes once the server has read the last byte.
    assert_eq!(c.read_reply().code, 226);
    let elapsed = started.elapsed();
    assert!(
        elapsed > Duration::from_millis(1300),
        "2 MiB up at 1 MiB/s took only {elapsed:?}"
    );
    common::assert_file_is(&server.root().join("up.bin"), &data);
}

/// Reads a download into a counter until it ends or `stop` is set.
fn count_download(port: u16, counter: Arc<AtomicU64>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut conn = connect_with_timeout(port);
        let mut buf = vec![0; 64 * 1024];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    counter.fetch_add(n as u64, Ordering::SeqCst);
                }
            }
        }
    })
}

#[test]
fn two_downloads_of_one_user_share_the_rate() {
    let server = Server::start_with(&["--download-rate", "1MiB"]);
    write_random_file(&server.root().join("a.bin"), 8 * MIB, 1);
    write_random_file(&server.root().join("b.bin"), 8 * MIB, 2);
    let mut sessions = Vec::new();
    let mut readers = Vec::new();
    let counters: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::default()).collect();
    // Two sessions, one user: anonymous logins all count as `anonymous`.
    for (file, counter) in ["a.bin", "b.bin"].iter().zip(&counters) {
        let mut c = Control::connect(server.port());
        c.expect_greeting();
        c.login();
        c.expect("TYPE I", 200);
        let port = c.pasv();
        c.expect(&format!("RETR {file}"), 150);
        readers.push(count_download(port, Arc::clone(counter)));
        sessions.push(c);
    }
    let started = Instant::now();
    thread::sleep(Duration::from_secs(3));
    let counts: Vec<u64> = counters.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    let elapsed = started.elapsed().as_secs_f64();
    let total = counts.iter().sum::<u64>() as f64;
    eprintln!("after {elapsed:.2} s: {counts:?}");
    // Together about 1 MiB/s (plus the first bucket); two unshared
    // limits would give about twice that.
    assert!(
        total < 1.6 * MIB as f64 * elapsed,
        "{counts:?} in {elapsed:.1} s: more than one rate"
    );
    for &n in &counts {
        assert!(
            n as f64 > 0.25 * total && n as f64 > 0.0,
            "uneven shares {counts:?}"
        );
    }
    // ABOR each: the throttled transfers end at once, not after 8 MiB.
    for c in &mut sessions {
        let started = Instant::now();
        c.send_line("ABOR", "\r\n");
        assert_eq!(c.read_reply().code, 426);
        assert_eq!(c.read_reply().code, 226);
        let took = started.elapsed();
        eprintln!("ABOR answered in {took:?}");
        assert!(took < Duration::from_secs(3), "ABOR took {took:?}");
    }
    for r in readers {
        r.join().unwrap();
    }
}
