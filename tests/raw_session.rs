//! Raw control sessions over a plain TCP socket, as a person typing into nc
//! or a hostile peer would send them: lowercase verbs with bare LF, the reply
//! codes for commands before login, unknown, unimplemented, malformed and
//! out-of-sequence commands, an overlong line, Telnet IAC bytes; PASV and
//! EPSV data connections made by hand for LIST, NLST, RETR and STOR; an
//! upload whose data connection is reset mid-way (no file, no temporary,
//! the old file intact, the temporary gone by the time 426 arrives); paths
//! and symbolic links that try to leave the root; QUIT closing the
//! connection; the idle timeout's 421.

mod common;

use std::fs;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use common::{
    assert_file_is, connect_with_timeout, dir_names, pseudo_random, read_all, Control, Reply,
    Server,
};

/// Sends `command` over a data connection made to `port` beforehand:
/// expects 150, reads the data to its end, expects 226.
fn download(c: &mut Control, port: u16, command: &str) -> Vec<u8> {
    let data = connect_with_timeout(port);
    c.expect(command, 150);
    let bytes = read_all(data);
    let end = c.read_reply();
    assert_eq!(end.code, 226, "end of {command:?}: {end:?}");
    bytes
}

#[test]
fn lowercase_verbs_with_bare_lf_as_typed_into_nc() {
    let server = Server::start();
    let mut c = server.connect();
    let greeting = c.expect_greeting();
    assert!(greeting.text().starts_with("220 "), "{greeting:?}");

    let typed = |c: &mut Control, line: &str| -> Reply {
        c.send_line(line, "\n");
        c.read_reply()
    };
    assert_eq!(typed(&mut c, "user anonymous").code, 331);
    assert_eq!(typed(&mut c, "pass x").code, 230);
    let syst = typed(&mut c, "syst");
    assert_eq!(syst.code, 215);
    assert!(syst.text().contains("UNIX Type: L8"), "{syst:?}");
    let pwd = typed(&mut c, "pwd");
    assert_eq!(pwd.code, 257);
    assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
    assert_eq!(typed(&mut c, "noop").code, 200);
    // Mixed case and CRLF work just as well.
    assert_eq!(c.cmd("NoOp").code, 200);
    assert_eq!(typed(&mut c, "quit").code, 221);
    c.expect_closed();
}

#[test]
fn feat_is_a_multi_line_reply_naming_epsv_and_pasv() {
    let server = Server::start();
    let mut c = server.connect();
    c.expect_greeting();
    let feat = c.expect("FEAT", 211);
    assert!(feat.lines.len() > 2, "{feat:?}");
    assert!(feat.lines[0].starts_with("211-"), "{feat:?}");
    assert!(feat.lines.last().unwrap().starts_with("211 "), "{feat:?}");
    assert!(feat.lines.iter().any(|l| l.trim() == "EPSV"), "{feat:?}");
    assert!(feat.lines.iter().any(|l| l.trim() == "PASV"), "{feat:?}");
    // The reply was read whole: the next reply is the next command's.
    c.expect("NOOP", 200);
}

#[test]
fn commands_before_login_get_530() {
    let server = Server::start();
    fs::write(server.root().join("f"), b"x").unwrap();
    let mut c = server.connect();
    c.expect_greeting();
    for line in [
        "PWD", "CWD /", "RETR f", "STOR g", "LIST", "NLST", "PASV", "EPSV", "MKD d",
    ] {
        let r = c.cmd(line);
        assert_eq!(r.code, 530, "{line} before login: {r:?}");
    }
    assert!(!server.root().join("g").exists());
    assert!(!server.root().join("d").exists());
    // What is open to all still works, and so does logging in afterwards.
    c.expect("NOOP", 200);
    c.expect("SYST", 215);
    c.login();
    c.expect("PWD", 257);
}

#[test]
fn pass_before_user_gets_503() {
    let server = Server::start();
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("PASS secret", 503);
    // Still not logged in.
    c.expect("PWD", 530);
    c.login();
    c.expect("PWD", 257);
}

#[test]
fn bad_commands_get_their_codes_and_the_session_goes_on() {
    let server = Server::start();
    let mut c = server.login();
    c.expect("hello world", 500);
    c.expect("SITE X", 502);
    c.expect("RETR", 501);
    c.expect("TYPE E", 504);
    c.expect("TYPE I", 200);
    c.expect("TYPE a", 200);
    c.expect("", 500);
    c.expect("NOOP", 200);
}

#[test]
fn an_overlong_line_gets_one_500_and_the_next_command_works() {
    let server = Server::start();
    let mut c = server.login();
    c.send_raw(&vec![b'A'; 10 * 1024]);
    // Let the server take the first part before the line ends.
    thread::sleep(Duration::from_millis(50));
    c.send_raw(b"\r\n");
    let r = c.read_reply();
    assert_eq!(r.code, 500, "{r:?}");
    assert!(r.text().contains("too long"), "{r:?}");
    // Exactly one reply for the long line: the next one answers NOOP.
    c.expect("NOOP", 200);
    // The same with a bare LF and the next command in the same packet.
    let mut burst = vec![b'B'; 10 * 1024];
    burst.extend_from_slice(b"\nNOOP\n");
    c.send_raw(&burst);
    assert_eq!(c.read_reply().code, 500);
    assert_eq!(c.read_reply().code, 200);
    c.expect("PWD", 257);
}

#[test]
fn telnet_iac_bytes_before_a_command_are_skipped() {
    let server = Server::start();
    let mut c = server.connect();
    c.expect_greeting();
    // IAC IP, IAC DM, as telnet sends before an urgent command.
    c.send_raw(b"\xff\xf4\xff\xf2NOOP\r\n");
    let r = c.read_reply();
    assert_eq!(r.code, 200, "{r:?}");
    c.login();
    c.send_raw(b"\xff\xf4\xff\xf2PWD\r\n");
    assert_eq!(c.read_reply().code, 257);
}

#[test]
fn a_missing_retr_after_pasv_gets_550_and_the_session_goes_on() {
    let server = Server::start();
    fs::write(server.root().join("here.txt"), b"here\n").unwrap();
    let mut c = server.login();
    c.pasv();
    let r = c.expect("RETR missing", 550);
    assert!(r.text().contains("missing"), "{r:?}");
    c.expect("NOOP", 200);
    // The failed RETR used up the passive port: a transfer needs a new one.
    c.expect("RETR here.txt", 425);
    c.expect("TYPE I", 200);
    let port = c.pasv();
    assert_eq!(download(&mut c, port, "RETR here.txt"), b"here\n");
}

#[test]
fn list_over_pasv_sends_150_the_listing_and_226() {
    let server = Server::start();
    fs::write(server.root().join("one.txt"), vec![b'1'; 321]).unwrap();
    fs::create_dir(server.root().join("dir")).unwrap();
    let mut c = server.login();
    let port = c.pasv();
    assert_ne!(port, c.port(), "the data port is not the control port");
    let listing = String::from_utf8(download(&mut c, port, "LIST")).unwrap();
    assert!(listing.ends_with("\r\n"), "{listing:?}");
    let lines: Vec<&str> = listing.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 2, "{listing:?}");
    assert!(
        lines[0].starts_with('d') && lines[0].ends_with(" dir"),
        "{listing:?}"
    );
    let file: Vec<&str> = lines[1].split_whitespace().collect();
    assert!(file[0].starts_with('-'), "{listing:?}");
    assert_eq!(file[4], "321", "{listing:?}");
    assert_eq!(file[8], "one.txt", "{listing:?}");
}

#[test]
fn nlst_over_epsv_gives_bare_names() {
    let server = Server::start();
    fs::write(server.root().join("b"), b"").unwrap();
    fs::write(server.root().join("a"), b"").unwrap();
    fs::write(server.root().join(".hidden"), b"").unwrap();
    let mut c = server.login();
    let r = c.expect("EPSV", 229);
    assert!(r.text().contains("(|||"), "RFC 2428 form: {r:?}");
    let port = common::parse_229(&r.text()).unwrap();
    assert_ne!(port, c.port());
    assert_eq!(download(&mut c, port, "NLST"), b"a\r\nb\r\n");
    // EPSV 1 (IPv4) is accepted on an IPv4 connection, EPSV 2 is not.
    c.expect("EPSV 1", 229);
    c.expect("EPSV 2", 522);
}

#[test]
fn stor_over_a_raw_data_connection_stores_the_bytes() {
    let server = Server::start();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let mut data = connect_with_timeout(port);
    c.expect("STOR up.bin", 150);
    let bytes = pseudo_random(300 * 1024 + 5, 42);
    data.write_all(&bytes).unwrap();
    data.shutdown(Shutdown::Write).unwrap();
    // The server closes its side when done; then the final reply.
    assert!(read_all(data).is_empty());
    let end = c.read_reply();
    assert_eq!(end.code, 226, "{end:?}");
    assert!(end.text().contains(&bytes.len().to_string()), "{end:?}");
    // The file is complete when 226 arrives, and it is the only entry.
    assert_file_is(&server.root().join("up.bin"), &bytes);
    assert_eq!(dir_names(server.root()), ["up.bin"]);
}

#[test]
fn a_reset_upload_leaves_no_file_no_temporary_and_the_old_file_intact() {
    let server = Server::start();
    fs::write(server.root().join("keep.bin"), b"old content").unwrap();
    let mut c = server.login();
    c.expect("TYPE I", 200);

    // One upload over an existing file, one to a new name.
    for name in ["keep.bin", "new.bin"] {
        let port = c.pasv();
        let mut data = connect_with_timeout(port);
        c.expect(&format!("STOR {name}"), 150);
        data.write_all(&pseudo_random(1024 * 1024, 1)).unwrap();
        // Let the server read part of it, then abort with a reset (RST, not
        // FIN): SO_LINGER 0 and close.
        thread::sleep(Duration::from_millis(200));
        socket2::SockRef::from(&data)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(data);
        let end = c.read_reply();
        assert_eq!(end.code, 426, "a reset upload of {name} fails: {end:?}");
        // The session goes on (and the server is done with the upload).
        c.expect("NOOP", 200);
    }

    assert_file_is(&server.root().join("keep.bin"), b"old content");
    assert!(!server.root().join("new.bin").exists());
    assert_eq!(
        dir_names(server.root()),
        ["keep.bin"],
        "no .ftp-upload.* temporary is left"
    );
}

/// The reply that reports a failed upload comes after the temporary is gone,
/// so that a client acting on the 426 (or a script looking at the directory)
/// never meets it. Many rounds, since a wrong order shows only sometimes.
#[test]
fn the_temporary_of_a_reset_upload_is_gone_when_426_arrives() {
    let server = Server::start();
    let mut c = server.login();
    c.expect("TYPE I", 200);
    for round in 0..200 {
        let port = c.pasv();
        let mut data = connect_with_timeout(port);
        c.expect("STOR x.bin", 150);
        data.write_all(&[b'a'; 65536]).unwrap();
        thread::sleep(Duration::from_millis(2));
        socket2::SockRef::from(&data)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(data);
        assert_eq!(c.read_reply().code, 426);
        let names = dir_names(server.root());
        assert!(names.is_empty(), "round {round}: left after 426: {names:?}");
        c.expect("NOOP", 200);
    }
}

#[test]
fn dot_dot_never_leaves_the_root() {
    let server = Server::start();
    // The root is <outside>/root: ../secret.txt would be this file.
    fs::write(server.outside().join("secret.txt"), b"secret").unwrap();
    let mut c = server.login();
    c.expect("CWD ../../..", 250);
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
    c.pasv();
    c.expect("RETR ../../etc/passwd", 550);
    c.pasv();
    c.expect("RETR ../secret.txt", 550);
    c.expect("SIZE ../secret.txt", 550);
    c.expect("SIZE /../secret.txt", 550);
    // A listing of ".." is the listing of "/", which is empty.
    let port = c.pasv();
    assert_eq!(download(&mut c, port, "NLST .."), b"");
    // Nothing is written above the root either: ../escaped.txt is /escaped.txt.
    let port = c.pasv();
    let mut data = connect_with_timeout(port);
    c.expect("STOR ../escaped.txt", 150);
    data.write_all(b"escaped?").unwrap();
    data.shutdown(Shutdown::Write).unwrap();
    read_all(data);
    assert_eq!(c.read_reply().code, 226);
    assert_file_is(&server.root().join("escaped.txt"), b"escaped?");
    assert!(!server.outside().join("escaped.txt").exists());
    c.expect("MKD ../../made", 257);
    assert!(
        server.root().join("made").is_dir(),
        "MKD ../../made is /made"
    );
    assert!(!server.outside().join("made").exists());
}

#[test]
fn symlinks_out_of_the_root_cannot_be_followed() {
    let server = Server::start();
    let outside = server.outside();
    fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), server.root().join("link")).unwrap();
    std::os::unix::fs::symlink(outside, server.root().join("dirlink")).unwrap();
    fs::write(server.root().join("inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink("inside.txt", server.root().join("inlink")).unwrap();

    let mut c = server.login();
    c.expect("TYPE I", 200);
    c.pasv();
    c.expect("RETR link", 550);
    c.pasv();
    c.expect("RETR dirlink/secret.txt", 550);
    c.expect("SIZE link", 550);
    c.expect("CWD dirlink", 550);
    let pwd = c.expect("PWD", 257);
    assert!(pwd.text().starts_with("257 \"/\""), "{pwd:?}");
    c.pasv();
    c.expect("STOR dirlink/planted.txt", 550);
    assert!(!outside.join("planted.txt").exists());
    c.pasv();
    c.expect("LIST dirlink", 550);
    // A link that stays inside the root works.
    let port = c.pasv();
    assert_eq!(download(&mut c, port, "RETR inlink"), b"inside");
}

#[test]
fn quit_gets_221_and_the_server_closes_the_connection() {
    let mut server = Server::start();
    let mut c = server.login();
    let r = c.expect("QUIT", 221);
    assert!(r.lines.len() == 1, "{r:?}");
    c.expect_closed();
    // The server itself goes on serving.
    assert!(server.is_running());
    let mut again = server.login();
    again.expect("NOOP", 200);
    drop(again);
    // A client that vanishes without QUIT does not take the server down.
    let gone = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    drop(gone);
    let mut third = server.login();
    third.expect("NOOP", 200);
    assert!(server.is_running());
}

#[test]
fn an_idle_session_gets_421_and_is_closed() {
    let server = Server::start_with(&["--idle-timeout", "1"]);
    let mut c = server.login();
    let started = std::time::Instant::now();
    let r = c.read_reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "421 after {:?}, before the idle timeout",
        started.elapsed()
    );
    c.expect_closed();
}
