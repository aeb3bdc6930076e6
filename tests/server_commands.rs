//! The server's command set, one test per area, against the real `serv`
//! through raw control sessions (made by hand, data connections included)
//! and Python's `ftplib`: TYPE A/I conversion on the wire, REST with RETR
//! and STOR, APPE, STOU, ABOR (during a download, during an upload, while
//! the server waits for the data connection, and with nothing to abort),
//! active mode (PORT from ftplib, EPRT by hand) and its refusals, EPSV ALL,
//! MLSD/MLST facts and OPTS MLST, STAT, HELP, FEAT, SIZE, MDTM, directory
//! and rename commands with their X- aliases, REIN, LIST/NLST forms, UTF-8
//! names, IPv6 (EPSV and EPRT on `::1`), `--pasv-ports`, `--pasv-address`,
//! `--max-sessions` and `--max-per-ip`. Every test checks the replies and
//! what ended up on disk.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    accept_within, assert_file_is, connect_addr_with_timeout, connect_with_timeout, dir_names,
    free_port_range, parse_227, pseudo_random, read_all, run_python, utc_stamp, write_random_file,
    Control, Reply, Server, IO_TIMEOUT,
};

// ---------------------------------------------------------------------------
// Helpers

/// EPSV, then `command` over that data connection: expects 150, reads the
/// data to its end, expects 226. Returns the data and the 150 reply.
fn download(c: &mut Control, command: &str) -> (Vec<u8>, Reply) {
    let port = c.epsv();
    let data = connect_with_timeout(port);
    let opening = c.expect(command, 150);
    let bytes = read_all(data);
    let end = c.read_reply();
    assert_eq!(end.code, 226, "end of {command:?}: {end:?}");
    (bytes, opening)
}

/// EPSV, then `command` (STOR, APPE, STOU) sending `bytes`, in as many
/// writes as `chunks` has parts (with a pause between them, so that they
/// arrive in separate reads). Returns the 150 and the 226 replies.
fn upload_chunks(c: &mut Control, command: &str, chunks: &[&[u8]]) -> (Reply, Reply) {
    let port = c.epsv();
    let mut data = connect_with_timeout(port);
    let opening = c.expect(command, 150);
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            thread::sleep(Duration::from_millis(60));
        }
        data.write_all(chunk).unwrap();
    }
    data.shutdown(Shutdown::Write).unwrap();
    assert!(
        read_all(data).is_empty(),
        "the server sent data on an upload"
    );
    let end = c.read_reply();
    assert_eq!(end.code, 226, "end of {command:?}: {end:?}");
    (opening, end)
}

fn upload(c: &mut Control, command: &str, bytes: &[u8]) -> (Reply, Reply) {
    upload_chunks(c, command, &[bytes])
}

/// The lines of a listing sent over a data connection.
fn lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).expect("listings are UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\r\n"),
        "listing lines end with CRLF: {text:?}"
    );
    text.split_terminator("\r\n").map(str::to_string).collect()
}

/// An MLSx entry `fact=value;...; name` as its facts and its name.
fn parse_entry(entry: &str) -> (BTreeMap<String, String>, String) {
    let (facts, name) = entry
        .split_once(' ')
        .unwrap_or_else(|| panic!("no space before the name in {entry:?}"));
    let facts = facts
        .split(';')
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (k, v) = f
                .split_once('=')
                .unwrap_or_else(|| panic!("fact without '=' in {entry:?}"));
            (k.to_string(), v.to_string())
        })
        .collect();
    (facts, name.to_string())
}

/// Sets the modification time of `path`.
fn set_mtime(path: &std::path::Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

/// ftplib script runner: `connect()` logs in as anonymous; argv[1] is the port.
const PRELUDE: &str = r#"
import ftplib, io, socket, sys, time

port = int(sys.argv[1])

def connect():
    ftp = ftplib.FTP()
    ftp.connect('127.0.0.1', port, timeout=20)
    assert ftp.getwelcome().startswith('220'), ftp.getwelcome()
    resp = ftp.login()
    assert resp.startswith('230'), resp
    return ftp
"#;

fn python(server: &Server, body: &str, args: &[&str]) -> String {
    let script = format!("{PRELUDE}\n{body}\nprint('script ok')\n");
    let port = server.port().to_string();
    let mut all = vec![port.as_str()];
    all.extend_from_slice(args);
    let out = run_python(&script, &all);
    assert_eq!(
        out.code(),
        0,
        "python script failed: {out}\n--- server log ---\n{}",
        server.log()
    );
    assert!(out.stdout.ends_with("script ok\n"), "{out}");
    out.stdout
}

// ---------------------------------------------------------------------------
// Representation types

#[test]
fn type_a_converts_line_ends_on_the_wire_and_type_i_is_exact() {
    let server = Server::start();
    let text = b"one\ntwo\r\nthree\n\nlast";
    fs::write(server.root().join("text.txt"), text).unwrap();
    let mut c = server.login();

    // TYPE A is the default (RFC 959): LF goes out as CRLF, an existing
    // CRLF is not doubled.
    let (bytes, opening) = download(&mut c, "RETR text.txt");
    assert_eq!(bytes, b"one\r\ntwo\r\nthree\r\n\r\nlast", "default type");
    assert!(opening.text().contains("ASCII"), "{opening:?}");
    c.expect("TYPE A", 200);
    let (bytes, _) = download(&mut c, "RETR text.txt");
    assert_eq!(bytes, b"one\r\ntwo\r\nthree\r\n\r\nlast", "TYPE A");

    // Uploads in TYPE A: CRLF becomes LF, a lone CR stays, and a CRLF split
    // between two reads is still one line end.
    let (opening, _) = upload(&mut c, "STOR up.txt", b"a\r\nb\r\n\r\nc\rd\ne");
    assert!(opening.text().contains("ASCII"), "{opening:?}");
    assert_file_is(&server.root().join("up.txt"), b"a\nb\n\nc\rd\ne");
    upload_chunks(&mut c, "STOR split.txt", &[b"x\r", b"\ny\r\n"]);
    assert_file_is(&server.root().join("split.txt"), b"x\ny\n");

    // TYPE I: every byte as it is, both ways.
    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.extend_from_slice(b"\r\n\n\r\r\n");
    binary.extend(pseudo_random(100_000, 3));
    fs::write(server.root().join("bin"), &binary).unwrap();
    c.expect("TYPE I", 200);
    let (bytes, opening) = download(&mut c, "RETR bin");
    assert_eq!(bytes, binary);
    assert!(opening.text().contains("BINARY"), "{opening:?}");
    upload(&mut c, "STOR bin.up", &binary);
    assert_file_is(&server.root().join("bin.up"), &binary);

    // TYPE L 8 is TYPE I.
    c.expect("TYPE A", 200);
    c.expect("TYPE L 8", 200);
    let (bytes, _) = download(&mut c, "RETR text.txt");
    assert_eq!(bytes, text, "TYPE L 8 sends the bytes as stored");
}

// ---------------------------------------------------------------------------
// REST, APPE, STOU

#[test]
fn rest_then_retr_resumes_a_download() {
    let server = Server::start();
    let data = write_random_file(&server.root().join("big.bin"), 300_000, 21);
    let local = tempfile::tempdir().unwrap();
    let part = local.path().join("part.bin");
    // A download that broke off after 111,111 bytes, resumed with ftplib.
    fs::write(&part, &data[..111_111]).unwrap();
    let body = r#"
import os
ftp = connect()
ftp.voidcmd('TYPE I')
have = os.path.getsize(sys.argv[2])
with open(sys.argv[2], 'ab') as f:
    resp = ftp.retrbinary('RETR big.bin', f.write, rest=have)
assert resp.startswith('226'), resp
ftp.quit()
"#;
    python(&server, body, &[part.to_str().unwrap()]);
    assert_file_is(&part, &data);

    // The same by hand. REST holds until a transfer command takes it, so
    // it may come before TYPE and EPSV.
    let mut c = server.login();
    let r = c.expect("REST 299990", 350);
    assert!(r.text().contains("299990"), "{r:?}");
    c.expect("TYPE I", 200);
    let (bytes, opening) = download(&mut c, "RETR big.bin");
    assert_eq!(bytes, &data[299_990..]);
    assert!(opening.text().contains("(10 bytes)"), "{opening:?}");
    // The offset was used up: the next RETR is whole.
    let (bytes, _) = download(&mut c, "RETR big.bin");
    assert_eq!(bytes.len(), data.len());
    // At the very end: nothing to send, still a transfer.
    c.expect("REST 300000", 350);
    let (bytes, _) = download(&mut c, "RETR big.bin");
    assert!(bytes.is_empty());
    // Beyond the end: 550, and the session goes on.
    c.expect("REST 300001", 350);
    let r = c.expect("RETR big.bin", 550);
    assert!(r.text().contains("300001"), "{r:?}");
    c.expect("REST -1", 501);
    c.expect("REST abc", 501);
    c.expect("NOOP", 200);
}

#[test]
fn rest_then_stor_writes_from_the_offset_keeping_the_first_bytes() {
    let server = Server::start();
    let path = server.root().join("r.bin");
    let old = write_random_file(&path, 10_000, 1);
    let new = pseudo_random(3_000, 2);
    let mut c = server.login();
    c.expect("TYPE I", 200);

    c.expect("REST 4000", 350);
    upload(&mut c, "STOR r.bin", &new);
    let mut expected = old[..4000].to_vec();
    expected.extend_from_slice(&new);
    assert_file_is(&path, &expected);

    // REST at the current end continues the file.
    c.expect("REST 7000", 350);
    upload(&mut c, "STOR r.bin", b"tail");
    expected.extend_from_slice(b"tail");
    assert_file_is(&path, &expected);

    // An offset beyond the end is refused and changes nothing; so is an
    // offset into a file that does not exist.
    c.expect("REST 7005", 350);
    let r = c.expect("STOR r.bin", 550);
    assert!(r.text().contains("7005"), "{r:?}");
    assert_file_is(&path, &expected);
    c.expect("REST 5", 350);
    c.expect("STOR missing.bin", 550);
    assert!(!server.root().join("missing.bin").exists());

    // Without REST (or after REST 0), STOR replaces the whole file.
    c.expect("REST 0", 350);
    upload(&mut c, "STOR r.bin", b"short");
    assert_file_is(&path, b"short");
    assert_eq!(dir_names(server.root()), ["r.bin"], "no temporaries left");
}

#[test]
fn appe_creates_and_then_appends() {
    let server = Server::start();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let first = pseudo_random(70_000, 5);
    let second = pseudo_random(30_000, 6);
    upload(&mut c, "APPE log.bin", &first);
    assert_file_is(&server.root().join("log.bin"), &first);
    upload(&mut c, "APPE log.bin", &second);
    let mut both = first.clone();
    both.extend_from_slice(&second);
    assert_file_is(&server.root().join("log.bin"), &both);
    // In TYPE A the appended part is converted like any upload.
    fs::write(server.root().join("notes.txt"), b"line 1\n").unwrap();
    c.expect("TYPE A", 200);
    upload(&mut c, "APPE notes.txt", b"line 2\r\nline 3\r\n");
    assert_file_is(
        &server.root().join("notes.txt"),
        b"line 1\nline 2\nline 3\n",
    );
    // A directory cannot be appended to.
    fs::create_dir(server.root().join("dir")).unwrap();
    c.expect("APPE dir", 550);
    assert_eq!(dir_names(server.root()), ["dir", "log.bin", "notes.txt"]);
}

#[test]
fn stou_stores_under_a_new_unique_name_and_never_overwrites() {
    let server = Server::start();
    // Occupy the names STOU would pick from the clock now and in the next
    // seconds: `stou.YYYYMMDDHHMMSS`.
    let now = SystemTime::now();
    let mut taken = Vec::new();
    for s in 0..30u64 {
        let name = format!(
            "stou.{}",
            utc_stamp(now - Duration::from_secs(2) + Duration::from_secs(s))
        );
        fs::write(server.root().join(&name), b"old").unwrap();
        taken.push(name);
    }
    let mut c = server.login();
    c.expect("TYPE I", 200);

    let mut stored = Vec::new();
    for i in 0..3u64 {
        let content = pseudo_random(10_000 + i as usize, 40 + i);
        let (opening, end) = upload(&mut c, "STOU", &content);
        // RFC 1123 §4.1.2.9: `150 FILE: name`.
        let name = opening
            .text()
            .strip_prefix("150 FILE: ")
            .unwrap_or_else(|| panic!("150 reply to STOU names the file: {opening:?}"))
            .to_string();
        assert!(
            end.text().contains(&format!("stored as {name}")),
            "226 names the file too: {end:?}"
        );
        assert!(!name.contains('/'), "a bare name: {name:?}");
        assert!(!taken.contains(&name), "STOU picked a taken name {name}");
        assert!(!stored.contains(&name), "STOU picked {name} twice");
        assert_file_is(&server.root().join(&name), &content);
        stored.push(name);
    }
    for name in &taken {
        assert_file_is(&server.root().join(name), b"old");
    }
    assert_eq!(dir_names(server.root()).len(), taken.len() + stored.len());

    // STOU works in a subdirectory too, and the name is relative to it.
    fs::create_dir(server.root().join("sub")).unwrap();
    c.expect("CWD sub", 250);
    let (opening, _) = upload(&mut c, "STOU", b"in sub");
    let name = opening
        .text()
        .strip_prefix("150 FILE: ")
        .unwrap()
        .to_string();
    assert_file_is(&server.root().join("sub").join(&name), b"in sub");
}

// ---------------------------------------------------------------------------
// ABOR

#[test]
fn abor_cuts_a_large_download_quickly_and_the_session_goes_on() {
    let server = Server::start_with(&["-v"]);
    // 64 MiB, sparse: the server cannot have sent it all before ABOR.
    let big = fs::File::create(server.root().join("big.bin")).unwrap();
    big.set_len(64 << 20).unwrap();
    drop(big);

    let body = r#"
def start(ftp):
    conn = ftp.transfercmd('RETR big.bin')
    got = 0
    while got < 1 << 20:
        chunk = conn.recv(65536)
        assert chunk, 'the download ended after %d bytes' % got
        got += len(chunk)
    return conn

ftp = connect()
ftp.voidcmd('TYPE I')

# ftplib's abort(): ABOR sent as urgent (MSG_OOB) data.
conn = start(ftp)
t0 = time.monotonic()
resp = ftp.abort()
assert resp[:3] == '426', 'first reply to ABOR: ' + resp
resp = ftp.getmultiline()
assert resp[:3] == '226', 'second reply to ABOR: ' + resp
elapsed = time.monotonic() - t0
assert elapsed < 10, 'ABOR took %.1f s' % elapsed
conn.close()
assert ftp.voidcmd('NOOP').startswith('200')

# The Telnet way (RFC 959 4.1.3): IAC IP, then Synch (IAC DM, urgent).
conn = start(ftp)
t0 = time.monotonic()
ftp.sock.sendall(b'\xff\xf4\xff', socket.MSG_OOB)
ftp.sock.sendall(b'\xf2ABOR\r\n')
first = ftp.getmultiline()
second = ftp.getmultiline()
assert (first[:3], second[:3]) == ('426', '226'), (first, second)
assert time.monotonic() - t0 < 10
conn.close()
assert ftp.voidcmd('NOOP').startswith('200')

# Nothing to abort: 225.
resp = ftp.sendcmd('ABOR')
assert resp.startswith('225'), resp

# The session still transfers.
assert ftp.size('big.bin') == 64 << 20
lines = []
ftp.retrlines('LIST', lines.append)
assert len(lines) == 1 and lines[0].endswith(' big.bin'), lines
ftp.quit()
"#;
    let started = Instant::now();
    python(&server, body, &[]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let log = server.log();
    assert_eq!(log.matches("<- 426 ").count(), 2, "{log}");
    assert!(log.contains("aborted by ABOR"), "{log}");
}

#[test]
fn abor_without_a_transfer_gets_225_and_abor_cuts_the_wait_for_a_data_connection() {
    let server = Server::start();
    fs::write(server.root().join("f"), b"x").unwrap();
    let mut c = server.login();
    let r = c.expect("ABOR", 225);
    assert!(r.text().contains("no transfer"), "{r:?}");
    c.epsv();
    c.expect("ABOR", 225);
    // The passive port set up before ABOR is gone.
    let stat = c.expect("STAT", 211);
    assert!(stat.text().contains("Data connection: none"), "{stat:?}");
    c.expect("RETR f", 425);

    // ABOR while the server waits for the data connection: the wait is cut
    // at once (not after the 60 s accept timeout), 426 then 226.
    let port = c.epsv();
    c.expect("RETR f", 150);
    let started = Instant::now();
    c.send_line("ABOR", "\r\n");
    let first = c.read_reply();
    let second = c.read_reply();
    assert_eq!(
        (first.code, second.code),
        (426, 226),
        "{first:?} {second:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The listener is gone: nobody accepts on the port any more.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the passive port still accepts after ABOR"
    );
    c.expect("NOOP", 200);
}

#[test]
fn abor_during_an_upload_keeps_nothing_and_leaves_the_old_file() {
    let server = Server::start();
    fs::write(server.root().join("old.bin"), b"old content").unwrap();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    for name in ["old.bin", "new.bin"] {
        let port = c.epsv();
        let mut data = connect_with_timeout(port);
        c.expect(&format!("STOR {name}"), 150);
        data.write_all(&pseudo_random(2 * 1024 * 1024, 12)).unwrap();
        // The data connection stays open: only ABOR ends the upload.
        thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        c.send_line("ABOR", "\r\n");
        let first = c.read_reply();
        let second = c.read_reply();
        assert_eq!(
            (first.code, second.code),
            (426, 226),
            "{first:?} {second:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(data);
        c.expect("NOOP", 200);
    }
    assert_file_is(&server.root().join("old.bin"), b"old content");
    assert_eq!(
        dir_names(server.root()),
        ["old.bin"],
        "an aborted upload leaves no file and no temporary"
    );
}

// ---------------------------------------------------------------------------
// Active mode

#[test]
fn active_mode_with_ftplib_uses_port_for_retr_stor_and_list() {
    let server = Server::start_with(&["-v"]);
    fs::write(server.root().join("there.txt"), b"already there\n").unwrap();
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up.bin");
    let down = local.path().join("down.bin");
    let data = write_random_file(&up, 2 * 1024 * 1024 + 3, 77);
    let body = r#"
ftp = connect()
ftp.set_pasv(False)
with open(sys.argv[2], 'rb') as f:
    resp = ftp.storbinary('STOR up.bin', f)
assert resp.startswith('226'), resp
with open(sys.argv[3], 'wb') as f:
    resp = ftp.retrbinary('RETR up.bin', f.write)
assert resp.startswith('226'), resp
lines = []
resp = ftp.retrlines('LIST', lines.append)
assert resp.startswith('226'), resp
assert [l.split()[-1] for l in lines] == ['there.txt', 'up.bin'], lines
assert ftp.nlst() == ['there.txt', 'up.bin'], ftp.nlst()
chunks = []
ftp.retrlines('RETR there.txt', chunks.append)
assert chunks == ['already there'], chunks
ftp.quit()
"#;
    python(
        &server,
        body,
        &[up.to_str().unwrap(), down.to_str().unwrap()],
    );
    assert_file_is(&server.root().join("up.bin"), &data);
    assert_file_is(&down, &data);
    let log = server.log();
    assert_eq!(log.matches("-> PORT 127,0,0,1,").count(), 5, "{log}");
    assert_eq!(log.matches("<- 200 PORT ok").count(), 5, "{log}");
    assert!(
        !log.contains("-> PASV") && !log.contains("-> EPSV"),
        "{log}"
    );
}

#[test]
fn eprt_to_our_own_listener_carries_retr_stor_and_list() {
    let server = Server::start();
    let content = write_random_file(&server.root().join("f.bin"), 500_000, 8);
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = listener.local_addr().unwrap().port();
    let eprt = format!("EPRT |1|127.0.0.1|{lport}|");

    let r = c.expect(&eprt, 200);
    assert!(r.text().contains(&format!("127.0.0.1:{lport}")), "{r:?}");
    c.expect("RETR f.bin", 150);
    let data = accept_within(&listener, IO_TIMEOUT).expect("the server connected for RETR");
    assert_eq!(
        data.peer_addr().unwrap().ip().to_string(),
        "127.0.0.1",
        "the data connection comes from the control connection's address"
    );
    assert_eq!(read_all(data), content);
    assert_eq!(c.read_reply().code, 226);

    c.expect(&eprt, 200);
    c.expect("STOR g.bin", 150);
    let mut data = accept_within(&listener, IO_TIMEOUT).expect("the server connected for STOR");
    let up = pseudo_random(123_456, 9);
    data.write_all(&up).unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    assert_file_is(&server.root().join("g.bin"), &up);

    // EPRT to a port where nobody listens: accepted, then 425 for the
    // transfer, quickly (the connection is refused), and nothing is stored.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    c.expect(&format!("EPRT |1|127.0.0.1|{closed}|"), 200);
    let started = Instant::now();
    c.expect("STOR h.bin", 150);
    let r = c.read_reply();
    assert_eq!(r.code, 425, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!server.root().join("h.bin").exists());

    // PORT to the same listener works as well.
    let port_arg = format!("PORT 127,0,0,1,{},{}", lport >> 8, lport & 0xff);
    c.expect(&port_arg, 200);
    c.expect("NLST", 150);
    let data = accept_within(&listener, IO_TIMEOUT).expect("the server connected for NLST");
    assert_eq!(read_all(data), b"f.bin\r\ng.bin\r\n");
    assert_eq!(c.read_reply().code, 226);
}

#[test]
fn port_and_eprt_to_another_host_or_a_low_port_are_refused_without_connecting() {
    let server = Server::start();
    fs::write(server.root().join("f"), b"x").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = listener.local_addr().unwrap().port();
    let (p1, p2) = (lport >> 8, lport & 0xff);
    let mut c = server.login();

    // Only the parse and the check happen: the server connects nowhere.
    for (command, why) in [
        (format!("PORT 10,0,0,1,{p1},{p2}"), "your own address"),
        (format!("EPRT |1|10.0.0.1|{lport}|"), "your own address"),
        (format!("EPRT |2|::1|{lport}|"), "your own address"),
        ("PORT 127,0,0,1,0,21".to_string(), "below 1024"),
        ("EPRT |1|127.0.0.1|1023|".to_string(), "below 1024"),
    ] {
        let r = c.cmd(&command);
        assert!(
            (500..600).contains(&r.code),
            "{command} must be refused: {r:?}"
        );
        assert!(r.text().contains(why), "{command}: {r:?}");
        let stat = c.expect("STAT", 211);
        assert!(
            stat.text().contains("Data connection: none set up"),
            "{command} left a plan: {stat:?}"
        );
        // So a transfer has no data connection.
        c.expect("RETR f", 425);
    }
    // Malformed arguments are 501 as well.
    c.expect("PORT 127,0,0,1,300,1", 501);
    c.expect("PORT 127,0,0,1", 501);
    c.expect("EPRT |3|127.0.0.1|2000|", 501);
    c.expect("EPRT |1|::1|2000|", 501);
    assert!(
        accept_within(&listener, Duration::from_millis(300)).is_none(),
        "a refused PORT/EPRT made a connection"
    );
    // A good PORT then works: the check above was not vacuous.
    c.expect(&format!("PORT 127,0,0,1,{p1},{p2}"), 200);
    c.expect("RETR f", 150);
    let data = accept_within(&listener, IO_TIMEOUT).expect("the server connected");
    assert_eq!(read_all(data), b"x");
    assert_eq!(c.read_reply().code, 226);
}

#[test]
fn after_epsv_all_only_epsv_sets_up_data_connections() {
    let server = Server::start();
    fs::write(server.root().join("f"), b"content").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let lport = listener.local_addr().unwrap().port();
    let mut c = server.login();
    c.expect("EPSV ALL", 200);
    let r = c.expect("PASV", 503);
    assert!(r.text().contains("EPSV ALL"), "{r:?}");
    c.expect(
        &format!("PORT 127,0,0,1,{},{}", lport >> 8, lport & 0xff),
        503,
    );
    c.expect(&format!("EPRT |1|127.0.0.1|{lport}|"), 503);
    c.expect("RETR f", 425);
    assert!(accept_within(&listener, Duration::from_millis(200)).is_none());
    // EPSV still works, for files and listings.
    let (bytes, _) = download(&mut c, "RETR f");
    assert_eq!(bytes, b"content");
    let (bytes, _) = download(&mut c, "NLST");
    assert_eq!(bytes, b"f\r\n");
    // REIN starts a fresh session state: PASV works again after it.
    c.expect("REIN", 220);
    c.login();
    c.pasv();
}

// ---------------------------------------------------------------------------
// MLSD, MLST, STAT, HELP, FEAT, SIZE, MDTM

#[test]
fn mlsd_and_mlst_send_the_selected_facts() {
    let server = Server::start();
    let when = UNIX_EPOCH + Duration::from_secs(1_614_834_367); // 2021-03-04 05:06:07 UTC
    fs::write(server.root().join("file one"), b"12345").unwrap();
    set_mtime(&server.root().join("file one"), when);
    fs::create_dir(server.root().join("dir")).unwrap();
    fs::write(server.root().join(".dot"), b"").unwrap();
    let mut c = server.login();

    // Every fact by default.
    let (bytes, _) = download(&mut c, "MLSD");
    let entries: BTreeMap<String, BTreeMap<String, String>> = lines(&bytes)
        .iter()
        .map(|l| {
            let (facts, name) = parse_entry(l);
            (name, facts)
        })
        .collect();
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        [".dot", "dir", "file one"],
        "MLSD lists every entry, dot files too"
    );
    let file = &entries["file one"];
    assert_eq!(
        file.keys().collect::<Vec<_>>(),
        ["modify", "perm", "size", "type", "unique"],
        "{file:?}"
    );
    assert_eq!(file["type"], "file");
    assert_eq!(file["size"], "5");
    assert_eq!(file["modify"], "20210304050607");
    assert_eq!(file["perm"], "adfrw");
    let dir = &entries["dir"];
    assert_eq!(dir["type"], "dir");
    assert!(!dir.contains_key("size"), "{dir:?}");
    assert_eq!(dir["perm"], "cdeflmp");
    let uniques: std::collections::BTreeSet<&String> =
        entries.values().map(|f| &f["unique"]).collect();
    assert_eq!(uniques.len(), 3, "unique facts differ: {entries:?}");

    // MLST of a file: 250 multi-line, the entry line starts with a space
    // and names the full path.
    let r = c.expect("MLST file one", 250);
    assert_eq!(r.lines.len(), 3, "{r:?}");
    assert!(r.lines[0].starts_with("250-"), "{r:?}");
    assert!(r.lines[1].starts_with(' '), "{r:?}");
    let (facts, name) = parse_entry(&r.lines[1][1..]);
    assert_eq!(name, "/file one");
    assert_eq!(&facts, file, "MLST and MLSD agree");
    assert!(r.lines[2].starts_with("250 "), "{r:?}");
    c.expect("MLST missing", 550);

    // OPTS MLST narrows the facts, and FEAT marks the selection.
    let r = c.expect("OPTS MLST type;size;", 200);
    assert_eq!(r.text(), "200 MLST OPTS type;size;");
    let feat = c.expect("FEAT", 211);
    assert!(
        feat.lines
            .iter()
            .any(|l| l == " MLST type*;size*;modify;perm;unique;"),
        "{feat:?}"
    );
    let (bytes, _) = download(&mut c, "MLSD");
    assert_eq!(
        lines(&bytes),
        [
            "type=file;size=0; .dot",
            "type=dir; dir",
            "type=file;size=5; file one"
        ]
    );
    let r = c.expect("MLST /dir", 250);
    assert_eq!(r.lines[1], " type=dir; /dir");
    // Unknown facts are ignored; names are case-insensitive.
    let r = c.expect("OPTS MLST Modify;bogus;", 200);
    assert_eq!(r.text(), "200 MLST OPTS modify;");
    let r = c.expect("MLST file one", 250);
    assert_eq!(r.lines[1], " modify=20210304050607; /file one");
}

#[test]
fn stat_reports_the_session_and_stat_path_lists_over_control() {
    let server = Server::start();
    fs::write(server.root().join("a.txt"), vec![b'a'; 4321]).unwrap();
    fs::create_dir(server.root().join("sub")).unwrap();
    fs::write(server.root().join("sub").join("inner"), b"").unwrap();
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("STAT", 530);
    c.login();

    let r = c.expect("STAT", 211);
    assert!(r.lines.len() > 2, "{r:?}");
    assert!(r.lines[0].starts_with("211-"), "{r:?}");
    assert!(r.lines.last().unwrap().starts_with("211 "), "{r:?}");
    let text = r.text();
    assert!(text.contains("Logged in as anonymous"), "{r:?}");
    assert!(text.contains("TYPE: ASCII"), "{r:?}");
    assert!(text.contains("Data connection: none set up"), "{r:?}");
    c.expect("TYPE I", 200);
    let port = c.epsv();
    let text = c.expect("STAT", 211).text();
    assert!(text.contains("TYPE: BINARY"), "{text}");
    assert!(
        text.contains(&format!("Data connection: passive, port {port}")),
        "{text}"
    );

    // STAT path: a listing on the control connection, 213.
    let r = c.expect("STAT /", 213);
    assert!(r.lines[0].starts_with("213-"), "{r:?}");
    assert!(r.lines.last().unwrap().starts_with("213 "), "{r:?}");
    let listed: Vec<&String> = r.lines[1..r.lines.len() - 1].iter().collect();
    assert_eq!(listed.len(), 2, "{r:?}");
    assert!(
        listed[0].contains(" 4321 ") && listed[0].ends_with(" a.txt"),
        "{r:?}"
    );
    assert!(
        listed[1].trim_start().starts_with('d') && listed[1].ends_with(" sub"),
        "{r:?}"
    );
    let r = c.expect("STAT sub", 213);
    assert_eq!(r.lines.len(), 3, "{r:?}");
    assert!(r.lines[1].ends_with(" inner"), "{r:?}");
    let r = c.expect("STAT a.txt", 213);
    assert_eq!(r.lines.len(), 3, "one line for a file: {r:?}");
    c.expect("STAT nothing", 550);
    // The passive port survives STAT: no data connection was used.
    let data = connect_with_timeout(port);
    c.expect("NLST", 150);
    assert_eq!(read_all(data), b"a.txt\r\nsub\r\n");
    assert_eq!(c.read_reply().code, 226);
}

#[test]
fn help_lists_the_commands_and_help_command_gives_its_syntax() {
    let server = Server::start();
    let mut c = server.connect();
    c.expect_greeting();
    // HELP is open before login.
    let r = c.expect("HELP", 214);
    assert!(r.lines.len() > 2, "{r:?}");
    assert!(r.lines[0].starts_with("214-"), "{r:?}");
    assert!(r.lines.last().unwrap().starts_with("214 "), "{r:?}");
    let verbs: Vec<&str> = r.lines[1..r.lines.len() - 1]
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    for verb in [
        "USER", "PASS", "REIN", "STAT", "FEAT", "MLSD", "MLST", "EPRT", "EPSV", "STOU", "APPE",
        "REST", "ABOR", "SIZE", "MDTM",
    ] {
        assert!(verbs.contains(&verb), "HELP omits {verb}: {r:?}");
    }
    let r = c.expect("HELP RETR", 214);
    assert_eq!(r.lines.len(), 1, "{r:?}");
    assert!(r.text().contains("RETR <path>"), "{r:?}");
    let r = c.expect("help xpwd", 214);
    assert!(r.text().contains("PWD"), "{r:?}");
    c.expect("HELP FROB", 501);
    c.login();
    c.expect("HELP STOU", 214);
}

#[test]
fn feat_lists_the_extensions_and_opts_utf8_is_on() {
    let server = Server::start();
    let mut c = server.connect();
    c.expect_greeting();
    let feat = c.expect("FEAT", 211);
    let features: Vec<&str> = feat.lines[1..feat.lines.len() - 1]
        .iter()
        .map(|l| {
            assert!(
                l.starts_with(' '),
                "feature lines start with a space: {feat:?}"
            );
            l.trim()
        })
        .collect();
    for f in [
        "EPRT",
        "EPSV",
        "MDTM",
        "PASV",
        "REST STREAM",
        "SIZE",
        "TVFS",
        "UTF8",
    ] {
        assert!(features.contains(&f), "FEAT omits {f}: {feat:?}");
    }
    assert!(
        features.contains(&"MLST type*;size*;modify*;perm*;unique*;"),
        "{feat:?}"
    );
    c.expect("OPTS UTF8 ON", 200);
    c.expect("OPTS UTF8 OFF", 504);
    c.expect("OPTS FROB", 501);
}

#[test]
fn size_and_mdtm_report_the_file_on_disk() {
    let server = Server::start();
    let old = server.root().join("old.bin");
    write_random_file(&old, 98_765, 4);
    set_mtime(&old, UNIX_EPOCH + Duration::from_secs(1_614_834_367));
    let fresh = server.root().join("fresh.txt");
    fs::write(&fresh, b"just written").unwrap();
    let fresh_mtime = fs::metadata(&fresh).unwrap().modified().unwrap();
    fs::create_dir(server.root().join("dir")).unwrap();
    let mut c = server.login();
    // In TYPE I, SIZE is the number of bytes RETR sends: the size on disk.
    c.expect("TYPE I", 200);

    assert_eq!(c.expect("SIZE old.bin", 213).text(), "213 98765");
    assert_eq!(c.expect("SIZE /fresh.txt", 213).text(), "213 12");
    assert_eq!(c.expect("MDTM old.bin", 213).text(), "213 20210304050607");
    let r = c.expect("MDTM fresh.txt", 213);
    assert_eq!(r.text(), format!("213 {}", utc_stamp(fresh_mtime)));
    for bad in ["SIZE missing", "MDTM missing", "SIZE dir", "MDTM dir"] {
        c.expect(bad, 550);
    }
}

// ---------------------------------------------------------------------------
// Directories, deletion, renaming, REIN

#[test]
fn directory_delete_and_rename_commands_and_their_x_aliases() {
    let server = Server::start();
    let root = server.root().to_path_buf();
    let mut c = server.login();

    let r = c.expect("MKD a", 257);
    assert!(r.text().starts_with("257 \"/a\""), "{r:?}");
    assert!(root.join("a").is_dir());
    let r = c.expect("XMKD a/b", 257);
    assert!(r.text().starts_with("257 \"/a/b\""), "{r:?}");
    assert!(root.join("a/b").is_dir());
    c.expect("MKD a", 550);
    // Quotes in a name are doubled in the 257 reply (RFC 959).
    let r = c.expect("MKD q\"uote", 257);
    assert!(r.text().starts_with("257 \"/q\"\"uote\""), "{r:?}");
    assert!(root.join("q\"uote").is_dir());

    // Moving around, with the aliases.
    c.expect("CWD a", 250);
    assert!(c.expect("XPWD", 257).text().starts_with("257 \"/a\""));
    c.expect("XCWD b", 250);
    assert!(c.expect("PWD", 257).text().starts_with("257 \"/a/b\""));
    c.expect("CDUP", 250);
    assert!(c.expect("PWD", 257).text().starts_with("257 \"/a\""));
    c.expect("XCUP", 250);
    assert!(c.expect("PWD", 257).text().starts_with("257 \"/\""));
    c.expect("CDUP", 250);
    assert!(c.expect("PWD", 257).text().starts_with("257 \"/\""));

    // RMD refuses a directory that is not empty.
    fs::write(root.join("a/b/file"), b"data").unwrap();
    c.expect("RMD a/b", 550);
    assert!(root.join("a/b/file").exists());
    // DELE: files only.
    c.expect("DELE a/b", 550);
    assert!(root.join("a/b").is_dir());
    c.expect("DELE a/b/file", 250);
    assert!(!root.join("a/b/file").exists());
    c.expect("DELE a/b/file", 550);
    c.expect("XRMD a/b", 250);
    assert!(!root.join("a/b").exists());
    c.expect("RMD a", 250);
    c.expect("RMD a", 550);
    c.expect("RMD q\"uote", 250);
    assert!(dir_names(&root).is_empty(), "{:?}", dir_names(&root));

    // RNFR/RNTO, into another directory too.
    fs::write(root.join("f"), b"content").unwrap();
    fs::create_dir(root.join("d")).unwrap();
    let r = c.expect("RNFR f", 350);
    assert!(r.text().contains("RNTO"), "{r:?}");
    c.expect("RNTO g", 250);
    assert!(!root.join("f").exists());
    assert_file_is(&root.join("g"), b"content");
    c.expect("RNFR g", 350);
    c.expect("RNTO d/h", 250);
    assert_file_is(&root.join("d/h"), b"content");
    // A directory can be renamed as well.
    c.expect("RNFR d", 350);
    c.expect("RNTO e", 250);
    assert_file_is(&root.join("e/h"), b"content");
    // RNTO without RNFR, or not right after it: 503.
    let r = c.expect("RNTO x", 503);
    assert!(r.text().contains("RNFR"), "{r:?}");
    c.expect("RNFR e/h", 350);
    c.expect("NOOP", 200);
    c.expect("RNTO x", 503);
    c.expect("RNFR missing", 550);
    c.expect("RNTO x", 503);
    assert!(!root.join("x").exists());
    assert_eq!(dir_names(&root), ["e"]);
}

#[test]
fn rein_logs_out_and_a_new_login_starts_afresh() {
    let server = Server::start();
    fs::create_dir(server.root().join("sub")).unwrap();
    let mut c = server.login();
    c.expect("CWD sub", 250);
    c.expect("TYPE I", 200);
    c.expect("OPTS MLST type;", 200);
    let r = c.expect("REIN", 220);
    assert!(r.text().contains("logged out"), "{r:?}");
    for command in ["PWD", "LIST", "CWD /", "EPSV"] {
        c.expect(command, 530);
    }
    c.login();
    assert!(c.expect("PWD", 257).text().starts_with("257 \"/\""));
    assert!(c.expect("STAT", 211).text().contains("TYPE: ASCII"));
    let feat = c.expect("FEAT", 211);
    assert!(
        feat.lines
            .iter()
            .any(|l| l == " MLST type*;size*;modify*;perm*;unique*;"),
        "{feat:?}"
    );
    // ACCT is superfluous, ALLO too.
    c.expect("ACCT x", 202);
    c.expect("ALLO 1000", 202);
    c.expect("MODE S", 200);
    c.expect("STRU F", 200);
    c.expect("QUIT", 221);
    c.expect_closed();
}

// ---------------------------------------------------------------------------
// Listings and names

#[test]
fn list_forms_and_nlst_bare_names() {
    let server = Server::start();
    fs::write(server.root().join("visible.txt"), vec![b'v'; 777]).unwrap();
    fs::write(server.root().join(".hidden"), b"h").unwrap();
    fs::create_dir(server.root().join("sub")).unwrap();
    fs::write(server.root().join("sub").join("x"), b"").unwrap();
    fs::write(server.root().join("sub").join("y"), b"").unwrap();
    let mut c = server.login();

    let names = |bytes: &[u8]| -> Vec<String> {
        lines(bytes)
            .iter()
            .map(|l| l.split_whitespace().last().unwrap().to_string())
            .collect()
    };
    let (bytes, _) = download(&mut c, "LIST");
    assert_eq!(names(&bytes), ["sub", "visible.txt"]);
    let (bytes, _) = download(&mut c, "LIST -la");
    assert_eq!(names(&bytes), [".hidden", "sub", "visible.txt"]);
    for l in lines(&bytes) {
        assert_eq!(l.split_whitespace().count(), 9, "ls -l columns: {l:?}");
    }
    let (bytes, _) = download(&mut c, "LIST -a sub");
    assert_eq!(names(&bytes), ["x", "y"]);

    // A single file lists as one line about itself.
    let (bytes, _) = download(&mut c, "LIST visible.txt");
    let one = lines(&bytes);
    assert_eq!(one.len(), 1, "{one:?}");
    let cols: Vec<&str> = one[0].split_whitespace().collect();
    assert!(cols[0].starts_with('-'), "{one:?}");
    assert_eq!(cols[4], "777");
    assert_eq!(cols[8], "visible.txt");

    // NLST: bare names, no attributes.
    let (bytes, _) = download(&mut c, "NLST");
    assert_eq!(bytes, b"sub\r\nvisible.txt\r\n");
    let (bytes, _) = download(&mut c, "NLST -a");
    assert_eq!(bytes, b".hidden\r\nsub\r\nvisible.txt\r\n");
    let (bytes, _) = download(&mut c, "NLST sub");
    assert_eq!(bytes, b"x\r\ny\r\n");
    let (bytes, _) = download(&mut c, "NLST visible.txt");
    assert_eq!(bytes, b"visible.txt\r\n");
    // An empty directory: an empty listing, still 150 and 226.
    fs::create_dir(server.root().join("empty")).unwrap();
    let (bytes, _) = download(&mut c, "LIST empty");
    assert!(bytes.is_empty());
    c.expect("LIST missing", 550);
}

#[test]
fn utf8_and_space_names_round_trip_through_stor_nlst_and_retr() {
    let server = Server::start();
    let body = r#"
names = ['naïve file ü.txt', '日本語.txt', 'two  spaces.txt', 'émoji 🙂']
ftp = connect()
assert ftp.sendcmd('OPTS UTF8 ON').startswith('200')
for n in names:
    resp = ftp.storbinary('STOR ' + n, io.BytesIO((n * 3).encode('utf-8')))
    assert resp.startswith('226'), resp
assert sorted(ftp.nlst()) == sorted(names), ftp.nlst()
for n in names:
    chunks = []
    ftp.retrbinary('RETR ' + n, chunks.append)
    assert b''.join(chunks) == (n * 3).encode('utf-8'), n
    assert ftp.size(n) == len((n * 3).encode('utf-8')), n
lines = []
ftp.retrlines('LIST', lines.append)
for n in names:
    assert any(l.endswith(' ' + n) for l in lines), (n, lines)
d = 'répertoire ñ'
assert ftp.mkd(d) == '/' + d
ftp.cwd(d)
assert ftp.pwd() == '/' + d, ftp.pwd()
ftp.storbinary('STOR ü', io.BytesIO(b'inner'))
ftp.rename('ü', '../Ü moved')
ftp.quit()
"#;
    python(&server, body, &[]);
    let names = [
        "naïve file ü.txt",
        "日本語.txt",
        "two  spaces.txt",
        "émoji 🙂",
    ];
    for n in names {
        assert_file_is(&server.root().join(n), n.repeat(3).as_bytes());
    }
    assert_file_is(&server.root().join("Ü moved"), b"inner");
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.push("Ü moved".to_string());
    expected.push("répertoire ñ".to_string());
    expected.sort();
    assert_eq!(dir_names(server.root()), expected);
    assert!(dir_names(&server.root().join("répertoire ñ")).is_empty());
}

// ---------------------------------------------------------------------------
// IPv6

#[test]
fn ipv6_transfers_over_epsv_and_eprt() {
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    // This machine has ::1; if it did not, this fails here, loudly.
    TcpListener::bind((lo6, 0)).expect("the IPv6 loopback ::1 must be usable for this test");
    let server = Server::start_on("::1", &["-v"]);
    assert_eq!(server.addr().ip(), lo6);
    let mut c = server.login();
    c.expect("TYPE I", 200);

    // STOR over EPSV.
    let content = pseudo_random(700_000, 66);
    let port = c.epsv();
    let mut data = connect_addr_with_timeout(SocketAddr::new(lo6, port));
    c.expect("STOR six.bin", 150);
    data.write_all(&content).unwrap();
    data.shutdown(Shutdown::Write).unwrap();
    assert!(read_all(data).is_empty());
    assert_eq!(c.read_reply().code, 226);
    assert_file_is(&server.root().join("six.bin"), &content);
    // EPSV 2 is this connection's family, EPSV 1 is not.
    c.expect("EPSV 2", 229);
    c.expect("EPSV 1", 522);

    // RETR over EPRT |2|::1|port|.
    let listener = TcpListener::bind((lo6, 0)).unwrap();
    let lport = listener.local_addr().unwrap().port();
    c.expect(&format!("EPRT |2|::1|{lport}|"), 200);
    c.expect("RETR six.bin", 150);
    let data = accept_within(&listener, IO_TIMEOUT).expect("the server connected over IPv6");
    assert_eq!(data.peer_addr().unwrap().ip(), lo6);
    assert_eq!(read_all(data), content);
    assert_eq!(c.read_reply().code, 226);

    // PASV and PORT describe IPv4 only.
    let r = c.expect("PASV", 425);
    assert!(r.text().contains("EPSV"), "{r:?}");
    c.expect(&format!("EPRT |1|127.0.0.1|{lport}|"), 501);
    assert!(accept_within(&listener, Duration::from_millis(200)).is_none());

    // A listing over EPSV, and the log shows the IPv6 peer.
    let port = c.epsv();
    let mut data = connect_addr_with_timeout(SocketAddr::new(lo6, port));
    c.expect("NLST", 150);
    let mut names = Vec::new();
    data.read_to_end(&mut names).unwrap();
    assert_eq!(names, b"six.bin\r\n");
    assert_eq!(c.read_reply().code, 226);
    assert!(server.log().contains("::1"), "{}", server.log());
}

// ---------------------------------------------------------------------------
// Passive ports and addresses, session limits

#[test]
fn pasv_ports_come_from_the_range_and_running_out_gets_425() {
    let (low, high) = free_port_range(3);
    let range = format!("{low}-{high}");
    let server = Server::start_with(&["--pasv-ports", &range]);

    // Each session holds the port of its pending EPSV/PASV.
    let mut holders = Vec::new();
    let mut ports = Vec::new();
    for i in 0..3 {
        let mut c = server.login();
        let port = if i % 2 == 0 { c.epsv() } else { c.pasv() };
        assert!(
            (low..=high).contains(&port),
            "passive port {port} outside {range}"
        );
        ports.push(port);
        holders.push(c);
    }
    let mut sorted = ports.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "three sessions, three ports: {ports:?}");

    let mut late = server.login();
    let started = Instant::now();
    let r = late.expect("PASV", 425);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "425 took {:?}",
        started.elapsed()
    );
    assert!(r.text().contains(&range), "{r:?}");
    late.expect("EPSV", 425);

    // A held port is a working data port.
    let data = connect_with_timeout(ports[1]);
    holders[1].expect("NLST", 150);
    assert!(read_all(data).is_empty());
    assert_eq!(holders[1].read_reply().code, 226);

    // A port whose transfer is over is free again at once, although the
    // closed data connection leaves it in TIME_WAIT (SO_REUSEADDR).
    let r = late.expect("EPSV", 229);
    assert_eq!(common::parse_229(&r.text()), Some(ports[1]), "{r:?}");

    // A session that ends gives its port back.
    holders[0].expect("QUIT", 221);
    holders[0].expect_closed();
    let mut later = server.login();
    let deadline = Instant::now() + Duration::from_secs(5);
    let port = loop {
        let r = later.cmd("EPSV");
        if r.code == 229 {
            break common::parse_229(&r.text()).unwrap();
        }
        assert_eq!(r.code, 425, "{r:?}");
        assert!(
            Instant::now() < deadline,
            "the port of a closed session was not given back: {r:?}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(port, ports[0]);
}

#[test]
fn pasv_address_is_announced_in_227() {
    let server = Server::start_with(&["--pasv-address", "203.0.113.7"]);
    fs::write(server.root().join("f"), b"x").unwrap();
    let mut c = server.login();
    let r = c.expect("PASV", 227);
    let (host, port) = parse_227(&r.text()).unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(host, "203.0.113.7", "{r:?}");
    assert!(r.text().contains("(203,0,113,7,"), "{r:?}");
    // Only announced: the port listens on the control address (here the
    // loopback, as behind a NAT that forwards it), so a local client works.
    let data = connect_with_timeout(port);
    c.expect("RETR f", 150);
    assert_eq!(read_all(data), b"x");
    assert_eq!(c.read_reply().code, 226);
    // EPSV carries no address.
    let r = c.expect("EPSV", 229);
    assert!(!r.text().contains("203"), "{r:?}");
}

/// Connects until the server greets with 220 again (a closed session's slot
/// is given back when its thread ends, just after the close).
fn greeted_within(server: &Server, timeout: Duration) -> Control {
    let deadline = Instant::now() + timeout;
    loop {
        let mut c = server.connect();
        let r = c.read_reply();
        if r.code == 220 {
            return c;
        }
        assert_eq!(r.code, 421, "{r:?}");
        assert!(Instant::now() < deadline, "no slot was given back: {r:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn max_sessions_refuses_the_next_connection_with_421() {
    let server = Server::start_with(&["--max-sessions", "2"]);
    let mut a = server.login();
    let mut b = server.connect();
    b.expect_greeting();
    let mut c = server.connect();
    let r = c.read_reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().contains("too many sessions"), "{r:?}");
    c.expect_closed();
    // The two sessions are unaffected.
    a.expect("NOOP", 200);
    b.expect("NOOP", 200);
    a.expect("QUIT", 221);
    a.expect_closed();
    let mut again = greeted_within(&server, Duration::from_secs(5));
    again.login();
    again.expect("PWD", 257);
    let mut d = server.connect();
    assert_eq!(d.read_reply().code, 421);
}

#[test]
fn max_per_ip_refuses_a_second_connection_from_the_address() {
    let server = Server::start_with(&["--max-per-ip", "1"]);
    let mut a = server.login();
    let mut b = server.connect();
    let r = b.read_reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().contains("127.0.0.1"), "{r:?}");
    b.expect_closed();
    a.expect("NOOP", 200);
    a.expect("QUIT", 221);
    a.expect_closed();
    let mut again = greeted_within(&server, Duration::from_secs(5));
    again.login();
    let mut c = server.connect();
    assert_eq!(c.read_reply().code, 421);
}
