//! Hostile clients against resumed and appending uploads (REST + STOR,
//! APPE), over the real `serv` from loopback with anonymous logins:
//!
//! - disk amplification: twenty sessions resume or append to one 20 MiB
//!   file and never open their data connections; the root must not grow
//!   (the kept part is copied only when data comes), one of them may go on
//!   and the rest are refused with 450;
//! - two APPEs of one file at once: the second is 450 before any of its
//!   data is taken, and both appends end up in the file;
//! - an APPE racing a STOR of the same file: the STOR's file stays, and the
//!   APPE ends with 451 rather than put old content over it.
//!
//! Every wait has a deadline (the harness's), and every loop a bound.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use common::{
    assert_file_is, connect_with_timeout, dir_names, pseudo_random, write_random_file, Control,
    Reply, Server,
};

/// The size of the file under attack: a copy of it would show.
const BIG: usize = 20 << 20;
/// Where the REST + STOR sessions resume it.
const HALF: u64 = 10 << 20;
/// Sessions of each kind (APPE, REST + STOR).
const EACH: usize = 10;
/// Long enough that no wait here depends on it running out.
const DATA_TIMEOUT: &str = "30";

/// The bytes of every regular file under `root`, upload temporaries
/// included, walked without following links, and how many of them are
/// temporaries.
fn bytes_under(root: &Path) -> (u64, usize) {
    let (mut bytes, mut temps) = (0, 0);
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            // An upload's temporary may be renamed away as we look.
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".ftp-upload.")
                {
                    temps += 1;
                }
            }
        }
    }
    (bytes, temps)
}

/// The blocks really used under `root` (what `du` counts), in bytes: a
/// clone that shares its blocks counts them again here, so this is for
/// the log, not for assertions.
fn blocks_under(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut used = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let Ok(meta) = fs::symlink_metadata(entry.unwrap().path()) else {
                continue;
            };
            if meta.is_file() {
                used += meta.blocks() * 512;
            }
        }
    }
    used
}

/// Sends `bytes` over a fresh connection to `port`, closes it, and
/// expects nothing back.
fn send_data(port: u16, bytes: &[u8]) {
    let mut data = connect_with_timeout(port);
    data.write_all(bytes).unwrap();
    finish_data(data);
}

/// Ends our side of an upload's data connection and checks the server
/// sent nothing on it.
fn finish_data(mut data: TcpStream) {
    data.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server sent data on an upload");
}

/// Reads the next reply (a transfer's end) and asserts its code.
#[track_caller]
fn expect_reply(c: &mut Control, code: u16) -> Reply {
    let r = c.read_reply();
    assert_eq!(r.code, code, "{r:?}");
    r
}

/// The reply refusing a second resume of a file: 450 and why.
#[track_caller]
fn assert_busy(r: &Reply, what: &str) {
    assert_eq!(r.code, 450, "{what}: {r:?}");
    assert!(
        r.text()
            .contains("another upload is resuming or appending to this file"),
        "{what}: {r:?}"
    );
}

#[test]
fn resumes_that_send_no_data_cost_no_disk() {
    let server = Server::start_with(&["--data-timeout", DATA_TIMEOUT]);
    let root = server.root();
    let big = write_random_file(&root.join("big"), BIG, 11);
    let (before, temps) = bytes_under(root);
    assert_eq!((before, temps), (BIG as u64, 0));
    let blocks_before = blocks_under(root);

    // Twenty sessions, each with a passive data connection announced that
    // it will never open (until the end, for the one allowed to go on).
    let sessions: Vec<(Control, u16, bool)> = (0..2 * EACH)
        .map(|i| {
            let mut c = server.login();
            c.expect("TYPE I", 200);
            let resume = i >= EACH;
            if resume {
                c.expect(&format!("REST {HALF}"), 350);
            }
            let port = c.epsv();
            (c, port, resume)
        })
        .collect();
    // Their transfer commands all at once.
    let barrier = Barrier::new(sessions.len());
    let answered: Vec<(Control, u16, bool, Reply)> = thread::scope(|scope| {
        let workers: Vec<_> = sessions
            .into_iter()
            .map(|(mut c, port, resume)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    let r = c.cmd(if resume { "STOR big" } else { "APPE big" });
                    (c, port, resume, r)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    // While they wait: nothing was copied (the one temporary is empty).
    let mut samples = Vec::new();
    for _ in 0..5 {
        samples.push(bytes_under(root));
        thread::sleep(Duration::from_millis(100));
    }
    let blocks_waiting = blocks_under(root);
    eprintln!(
        "bytes under the root: {before} before, {samples:?} (bytes, temporaries) while \
         20 resumes wait; blocks: {blocks_before} before, {blocks_waiting} while waiting"
    );

    let (mut going, refused): (Vec<_>, Vec<_>) =
        answered.into_iter().partition(|(_, _, _, r)| r.code == 150);
    assert_eq!(going.len(), 1, "exactly one resume may go on");
    for (_, _, resume, r) in &refused {
        assert_busy(r, if *resume { "REST + STOR" } else { "APPE" });
    }
    for (bytes, temps) in &samples {
        assert_eq!(*bytes, before, "the root grew before any data came");
        assert!(*temps <= 1, "{temps} temporaries");
    }

    // The one that goes on sends its data and ends well.
    let (mut c, port, resume, _) = going.pop().unwrap();
    let tail = pseudo_random(300_000, 12);
    send_data(port, &tail);
    let end = c.read_reply();
    assert_eq!(end.code, 226, "{end:?}");
    let mut expected = if resume {
        big[..HALF as usize].to_vec()
    } else {
        big.clone()
    };
    expected.extend_from_slice(&tail);
    assert_file_is(&root.join("big"), &expected);
    let (after, temps) = bytes_under(root);
    eprintln!(
        "after the {} of {} bytes: {after} bytes under the root, {} of blocks",
        if resume { "REST + STOR" } else { "APPE" },
        tail.len(),
        blocks_under(root)
    );
    assert_eq!((after, temps), (expected.len() as u64, 0));
    assert_eq!(dir_names(root), ["big"]);

    // The refused sessions are alive, and the file is free again.
    for (mut c, _, _, _) in refused {
        c.expect("NOOP", 200);
    }
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.epsv();
    let mut data = connect_with_timeout(port);
    c.expect("APPE big", 150);
    data.write_all(b"!").unwrap();
    finish_data(data);
    expect_reply(&mut c, 226);
    expected.push(b'!');
    assert_file_is(&root.join("big"), &expected);
}

#[test]
fn a_second_append_is_refused_before_its_data_and_both_land() {
    let server = Server::start_with(&["--data-timeout", DATA_TIMEOUT]);
    let root = server.root();
    let original = write_random_file(&root.join("log"), 100_000, 21);
    let (first, second) = (pseudo_random(200_000, 22), pseudo_random(50_000, 23));
    let (mut a, mut b) = (server.login(), server.login());
    a.expect("TYPE I", 200);
    b.expect("TYPE I", 200);

    // A begins and sends part of its data.
    let port = a.epsv();
    let mut data_a = connect_with_timeout(port);
    a.expect("APPE log", 150);
    data_a.write_all(&first[..100_000]).unwrap();

    // B connects and pushes its bytes before even asking: none is taken.
    let port = b.epsv();
    let mut data_b = connect_with_timeout(port);
    let _ = data_b.write_all(&second);
    assert_busy(&b.cmd("APPE log"), "the second APPE");
    // Its connection is closed unread (a reset, as data was waiting),
    // within the harness's read deadline.
    let mut buf = [0; 64];
    match data_b.read(&mut buf) {
        Ok(0) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            ) => {}
        Ok(_) => panic!("the server sent data on a refused upload"),
        Err(e) => panic!("the refused data connection was not closed: {e}"),
    }

    // A ends well, with all of its data.
    data_a.write_all(&first[100_000..]).unwrap();
    finish_data(data_a);
    expect_reply(&mut a, 226);
    let mut expected = original.clone();
    expected.extend_from_slice(&first);
    assert_file_is(&root.join("log"), &expected);

    // Now B's APPE goes through, after A's.
    let port = b.epsv();
    let mut data = connect_with_timeout(port);
    b.expect("APPE log", 150);
    data.write_all(&second).unwrap();
    finish_data(data);
    expect_reply(&mut b, 226);
    expected.extend_from_slice(&second);
    assert_file_is(&root.join("log"), &expected);
    assert_eq!(dir_names(root), ["log"], "no temporaries left");
}

#[test]
fn an_append_overtaken_by_a_stor_does_not_undo_it() {
    let server = Server::start_with(&["--data-timeout", DATA_TIMEOUT]);
    let root = server.root();
    write_random_file(&root.join("f"), 50_000, 31);
    let newer = pseudo_random(20_000, 32);
    let (mut a, mut s) = (server.login(), server.login());
    a.expect("TYPE I", 200);
    s.expect("TYPE I", 200);

    let port = a.epsv();
    let mut data_a = connect_with_timeout(port);
    a.expect("APPE f", 150);
    data_a.write_all(&pseudo_random(10_000, 33)).unwrap();

    // A plain STOR is not held back by the APPE, and it completes.
    let port = s.epsv();
    let mut data_s = connect_with_timeout(port);
    s.expect("STOR f", 150);
    data_s.write_all(&newer).unwrap();
    finish_data(data_s);
    expect_reply(&mut s, 226);

    // The APPE would put the old file and its bytes over the STOR's: 451.
    finish_data(data_a);
    let end = a.read_reply();
    assert_eq!(end.code, 451, "{end:?}");
    assert!(end.text().contains("nothing was kept"), "{end:?}");
    assert_file_is(&root.join("f"), &newer);
    assert_eq!(dir_names(root), ["f"], "no temporaries left");
}
