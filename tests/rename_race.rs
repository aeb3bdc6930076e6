//! The rename race against the root: a client swaps a directory and a
//! symbolic link into the same name while another session reads, writes,
//! deletes and renames through that name. A jail that checks a path string
//! and then lets the kernel resolve the string again is fooled when the swap
//! lands between the two; one that resolves every path beneath an open
//! handle of the root (the kernel enforcing it) never reaches outside.
//!
//! Layout: `<outside>/secret` and `<outside>/victim` lie outside the root;
//! the root holds a directory `x` (with its own harmless `secret` and
//! `victim`) and `sub/up -> ..`, a link that points at the root from where
//! it stands, but at `<outside>` once moved to the root as `x`. Two sessions
//! cycle `x -> parked`, `sub/up -> x`, `x -> sub/up`, `parked -> x` with
//! RNFR/RNTO; a third loops SIZE, RETR, STOR, DELE and RNFR/RNTO through
//! `x/...` for a few seconds. To give a checked-then-reresolved jail a
//! wider window, `x` also holds a secret [`DEPTH`] directories down
//! (mirrored outside), and the cheap commands are pipelined (sent together,
//! then every reply read), which multiplies the attempts.
//!
//! Any reply is acceptable, 550 to everything included; what must never
//! happen is a byte or the size of the outside secret reaching the client,
//! or a file created, deleted, renamed or left behind (an upload temporary)
//! outside the root. Every loop is bounded in time and count, and every
//! read has a deadline. Against the old string-checked jail this fails
//! within a second or two; resolving beneath a root handle it cannot.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{parse_229, Control, Server, IO_TIMEOUT};

/// How long the attack runs.
const ATTACK_TIME: Duration = Duration::from_secs(4);
/// Bounds on the loops besides time, so a very fast server cannot spin
/// them forever.
const MAX_ATTACK_ROUNDS: usize = 20_000;
const MAX_SWAP_ROUNDS: usize = 200_000;
/// The swappers stop by themselves at the latest this long after the start,
/// even if the attacking thread died without telling them.
const SWAP_HARD_STOP: Duration = Duration::from_secs(30);
/// How deep the second secret lies in `x` (and outside): every component
/// after `x` widens the gap between a string check and the reuse of the
/// string.
const DEPTH: usize = 16;
/// Rounds of cheap commands sent together before reading their replies.
const PIPELINE: usize = 4;

const MARKER: &[u8] = b"OUTSIDE-SECRET-MARKER-";
const INSIDE_SECRET: &[u8] = b"an inside secret, harmless to read\n";
const OUTSIDE_VICTIM: &[u8] = b"the outside victim, which must stay\n";
const PLANTED: &[u8] = b"PLANTED-BY-THE-RENAME-RACE\n";

/// The swap cycle: the directory out of the way, the link in, the link
/// back, the directory back. Run by two sessions at once, out of step.
const SWAPS: [(&str, &str); 4] = [
    ("x", "parked"),
    ("sub/up", "x"),
    ("x", "sub/up"),
    ("parked", "x"),
];

fn outside_secret() -> Vec<u8> {
    let mut s = Vec::new();
    while s.len() < 4096 {
        s.extend_from_slice(MARKER);
        s.extend_from_slice(format!("{:06}\n", s.len()).as_bytes());
    }
    s
}

/// A passive data connection (EPSV), or `None` if the server refused one
/// or it could not be reached; a data command is only sent once connected,
/// so the server never waits for a connection that will not come.
fn data_connection(c: &mut Control) -> Option<TcpStream> {
    let r = c.cmd("EPSV");
    if r.code != 229 {
        return None;
    }
    let port = parse_229(&r.text())?;
    let s =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), IO_TIMEOUT).ok()?;
    s.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(IO_TIMEOUT)).ok()?;
    Some(s)
}

/// RETR `path`: the bytes received, if the transfer started at all.
fn retr(c: &mut Control, path: &str) -> Option<Vec<u8>> {
    let mut data = data_connection(c)?;
    let r = c.cmd(&format!("RETR {path}"));
    if !(100..200).contains(&r.code) {
        return None;
    }
    let mut got = Vec::new();
    // A transfer cut short keeps what arrived; the error itself is fine.
    let _ = data.read_to_end(&mut got);
    drop(data);
    c.read_reply();
    Some(got)
}

/// STOR `path` with `bytes`; true if the server took them.
fn stor(c: &mut Control, path: &str, bytes: &[u8]) -> bool {
    let Some(mut data) = data_connection(c) else {
        return false;
    };
    let r = c.cmd(&format!("STOR {path}"));
    if !(100..200).contains(&r.code) {
        return false;
    }
    let _ = data.write_all(bytes);
    let _ = data.shutdown(Shutdown::Write);
    // Wait for the server's side to close before reading the final reply.
    let _ = data.read_to_end(&mut Vec::new());
    c.read_reply().code == 226
}

/// Sends `lines` at once, then reads one reply to each.
fn pipeline(c: &mut Control, lines: &[String]) -> Vec<common::Reply> {
    let mut batch = String::new();
    for line in lines {
        batch.push_str(line);
        batch.push_str("\r\n");
    }
    c.send_raw(batch.as_bytes());
    lines.iter().map(|_| c.read_reply()).collect()
}

/// RNFR `from` + RNTO `to`; true if renamed.
fn rename(c: &mut Control, from: &str, to: &str) -> bool {
    c.cmd(&format!("RNFR {from}")).code == 350 && c.cmd(&format!("RNTO {to}")).code == 250
}

/// Upload temporaries under `dir`, not descending into `skip` (the root:
/// temporaries of uploads in progress may lie there) nor through links.
fn temporaries_outside(dir: &Path, skip: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == skip {
                continue;
            }
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(".ftp-upload.")
            {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            }
        }
    }
    found
}

/// What escaped so far, judged from the outside directory.
fn escapes_on_disk(outside: &Path, root: &Path) -> Vec<String> {
    let mut seen = Vec::new();
    if std::fs::symlink_metadata(outside.join("planted")).is_ok() {
        seen.push("STOR created <outside>/planted".to_string());
    }
    match std::fs::read(outside.join("victim")) {
        Ok(bytes) if bytes == OUTSIDE_VICTIM => {}
        Ok(_) => seen.push("<outside>/victim was changed".to_string()),
        Err(_) => seen.push("<outside>/victim was deleted or moved".to_string()),
    }
    if std::fs::symlink_metadata(outside.join("victim2")).is_ok() {
        seen.push("RNTO made <outside>/victim2".to_string());
    }
    let temps = temporaries_outside(outside, root);
    if !temps.is_empty() {
        seen.push(format!(
            "upload temporaries left outside the root: {temps:?}"
        ));
    }
    seen
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[derive(Default, Debug)]
struct Tally {
    rounds: usize,
    size_ok: usize,
    retr_ok: usize,
    stor_ok: usize,
    dele_ok: usize,
    rename_ok: usize,
}

#[test]
fn swapping_a_directory_and_a_link_never_reaches_outside_the_root() {
    let server = Server::start();
    let outside = server.outside().to_path_buf();
    let root = server.root().to_path_buf();
    let secret = outside_secret();
    std::fs::write(outside.join("secret"), &secret).unwrap();
    std::fs::write(outside.join("victim"), OUTSIDE_VICTIM).unwrap();
    std::fs::create_dir(root.join("x")).unwrap();
    std::fs::write(root.join("x/secret"), INSIDE_SECRET).unwrap();
    std::fs::write(root.join("x/victim"), b"inside victim\n").unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    let deep_dirs = "d/".repeat(DEPTH);
    std::fs::create_dir_all(root.join("x").join(&deep_dirs)).unwrap();
    std::fs::write(
        root.join("x").join(&deep_dirs).join("secret"),
        INSIDE_SECRET,
    )
    .unwrap();
    std::fs::create_dir_all(outside.join(&deep_dirs)).unwrap();
    std::fs::write(outside.join(&deep_dirs).join("secret"), &secret).unwrap();
    let secrets = ["x/secret".to_string(), format!("x/{deep_dirs}secret")];

    let mut attacker = server.login();
    // Binary: what arrives is byte for byte what the file holds.
    attacker.expect("TYPE I", 200);
    for path in &secrets {
        let r = attacker.cmd(&format!("SIZE {path}"));
        assert_eq!(
            r.text(),
            format!("213 {}", INSIDE_SECRET.len()),
            "the layout is served"
        );
    }
    // The cheap half of a round, pipelined: SIZE of both secrets, DELE and
    // RNFR/RNTO of the victim.
    let mut cheap = Vec::new();
    for _ in 0..PIPELINE {
        cheap.extend(secrets.iter().map(|p| format!("SIZE {p}")));
        cheap.push("DELE x/victim".to_string());
        cheap.push("RNFR x/victim".to_string());
        cheap.push("RNTO x/victim2".to_string());
    }

    let stop = AtomicBool::new(false);
    let swaps = AtomicUsize::new(0);
    let start = Instant::now();
    // What reached the client from outside, and how often.
    let mut leaks: BTreeMap<String, usize> = BTreeMap::new();
    let mut first_escape: Option<(Duration, String)> = None;
    let mut tally = Tally::default();

    std::thread::scope(|scope| {
        for offset in 0..2 {
            let mut swapper = server.login();
            let (stop, swaps) = (&stop, &swaps);
            scope.spawn(move || {
                for round in 0..MAX_SWAP_ROUNDS {
                    if stop.load(Ordering::Relaxed) || start.elapsed() > SWAP_HARD_STOP {
                        break;
                    }
                    let (from, to) = SWAPS[(round + offset * 2) % SWAPS.len()];
                    if rename(&mut swapper, from, to) {
                        swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }

        // Tell the swappers to stop however this thread leaves the scope.
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);

        let size_leak = format!("213 {}", secret.len());
        while tally.rounds < MAX_ATTACK_ROUNDS && start.elapsed() < ATTACK_TIME {
            tally.rounds += 1;
            let mut note = |what: &str, leaks: &mut BTreeMap<String, usize>| {
                if first_escape.is_none() {
                    first_escape = Some((start.elapsed(), what.to_string()));
                }
                *leaks.entry(what.to_string()).or_default() += 1;
            };

            for (line, r) in cheap.iter().zip(pipeline(&mut attacker, &cheap)) {
                match (line.split_once(' ').map_or("", |(verb, _)| verb), r.code) {
                    ("SIZE", 213) => tally.size_ok += 1,
                    ("DELE", 250) => tally.dele_ok += 1,
                    ("RNTO", 250) => tally.rename_ok += 1,
                    _ => {}
                }
                if line.starts_with("SIZE") && r.text() == size_leak {
                    note("SIZE gave the outside secret's size", &mut leaks);
                }
            }
            if let Some(got) = retr(&mut attacker, &secrets[tally.rounds % 2]) {
                tally.retr_ok += 1;
                if contains(&got, MARKER) || !INSIDE_SECRET.starts_with(&got) {
                    note("RETR received bytes of the outside secret", &mut leaks);
                }
            }
            if stor(&mut attacker, "x/planted", PLANTED) {
                tally.stor_ok += 1;
            }
            if first_escape.is_none() {
                if let Some(what) = escapes_on_disk(&outside, &root).into_iter().next() {
                    first_escape = Some((start.elapsed(), what));
                }
            }
        }
    });

    let swaps = swaps.into_inner();
    eprintln!(
        "rename race: {:?} over {:?}, {swaps} swaps; first escape: {first_escape:?}",
        tally,
        start.elapsed()
    );
    assert!(
        swaps > 0,
        "no RNFR/RNTO swap ever succeeded: the race did not run"
    );
    for what in escapes_on_disk(&outside, &root) {
        leaks.insert(what, 1);
    }
    assert!(
        leaks.is_empty(),
        "the rename race reached outside the root (first after {:?}): {leaks:#?}",
        first_escape.map(|(t, _)| t)
    );
}
