//! Python's standard `ftplib` against the real `serv`, as an independent
//! client implementation: anonymous login, STOR and RETR byte-identical in
//! PASV mode (ftplib's default on IPv4) and in EPSV mode (forced by a
//! subclass and checked in the server's `-v` log), NLST as bare names, LIST
//! as `ls -l` lines, a failed RETR raising `error_perm` 550 with the session
//! going on, RETR resumed with REST, PWD/CWD/MKD, and passive ports that
//! differ from the control port.

mod common;

use std::fs;

use common::{assert_file_is, run_python, write_random_file, Server};

/// Shared by every script: a client that records each passive reply and can
/// be switched to EPSV. `makepasv` is ftplib's one hook for the passive
/// handshake; ftplib itself sends EPSV only on IPv6 connections.
const PRELUDE: &str = r#"
import ftplib, socket, sys

class Client(ftplib.FTP):
    use_epsv = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passive_replies = []
        self.data_ports = []

    def makepasv(self):
        peer = self.sock.getpeername()
        if self.use_epsv:
            resp = self.sendcmd('EPSV')
            assert resp.startswith('229 '), 'EPSV answered ' + resp
            host, port = ftplib.parse229(resp, peer)
        else:
            resp = self.sendcmd('PASV')
            assert resp.startswith('227 '), 'PASV answered ' + resp
            host, port = ftplib.parse227(resp)
            assert host == '127.0.0.1', 'PASV announced host ' + host
        self.passive_replies.append(resp)
        self.data_ports.append(port)
        return peer[0], port

def connect(port):
    ftp = Client()
    ftp.connect('127.0.0.1', port, timeout=20)
    assert ftp.getwelcome().startswith('220'), ftp.getwelcome()
    resp = ftp.login()  # anonymous / anonymous@
    assert resp.startswith('230'), resp
    return ftp

port = int(sys.argv[1])
"#;

fn run(server: &Server, body: &str, args: &[&str]) -> String {
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

/// STOR then RETR through ftplib, over EPSV (`epsv`) or PASV data connections.
fn round_trip(epsv: bool) {
    let server = Server::start_with(&["-v"]);
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up.bin");
    let down = local.path().join("down.bin");
    let data = write_random_file(&up, 3 * 1024 * 1024 + 17, 7);

    let body = r#"
ftp = connect(port)
ftp.use_epsv = sys.argv[2] == 'epsv'
with open(sys.argv[3], 'rb') as f:
    resp = ftp.storbinary('STOR up.bin', f)
assert resp.startswith('226'), 'STOR ended with ' + resp
with open(sys.argv[4], 'wb') as f:
    resp = ftp.retrbinary('RETR up.bin', f.write)
assert resp.startswith('226'), 'RETR ended with ' + resp
assert ftp.size('up.bin') == int(sys.argv[5]), ftp.size('up.bin')
assert len(ftp.data_ports) == 2, ftp.passive_replies
for p in ftp.data_ports:
    assert p != port, 'the data port is the control port: %d' % p
assert ftp.quit().startswith('221')
print('replies', ftp.passive_replies)
"#;
    let mode = if epsv { "epsv" } else { "pasv" };
    let size = data.len().to_string();
    let stdout = run(
        &server,
        body,
        &[
            mode,
            up.to_str().unwrap(),
            down.to_str().unwrap(),
            size.as_str(),
        ],
    );

    assert_file_is(&server.root().join("up.bin"), &data);
    assert_file_is(&down, &data);
    // The server saw the handshake that was asked for, and not the other.
    let log = server.log();
    let (used, unused) = if epsv {
        ("-> EPSV", "-> PASV")
    } else {
        ("-> PASV", "-> EPSV")
    };
    assert_eq!(log.matches(used).count(), 2, "{stdout}\n{log}");
    assert_eq!(log.matches(unused).count(), 0, "{stdout}\n{log}");
    let code = if epsv { "<- 229 " } else { "<- 227 " };
    assert_eq!(log.matches(code).count(), 2, "{log}");
}

#[test]
fn stor_and_retr_are_byte_identical_in_pasv_mode() {
    round_trip(false);
}

#[test]
fn stor_and_retr_are_byte_identical_in_epsv_mode() {
    round_trip(true);
}

#[test]
fn nlst_gives_bare_names_and_list_gives_ls_lines() {
    let server = Server::start();
    fs::write(server.root().join("a.txt"), vec![b'a'; 1234]).unwrap();
    fs::write(server.root().join("b.bin"), b"12345").unwrap();
    fs::create_dir(server.root().join("sub")).unwrap();
    fs::write(server.root().join("sub").join("inner"), b"x").unwrap();

    let body = r#"
ftp = connect(port)
names = ftp.nlst()
assert names == ['a.txt', 'b.bin', 'sub'], names
lines = []
resp = ftp.retrlines('LIST', lines.append)
assert resp.startswith('226'), resp
assert len(lines) == 3, lines
by_name = {l.split()[-1]: l.split() for l in lines}
assert set(by_name) == {'a.txt', 'b.bin', 'sub'}, lines
assert by_name['a.txt'][0].startswith('-'), lines
assert by_name['a.txt'][4] == '1234', lines
assert by_name['b.bin'][4] == '5', lines
assert by_name['sub'][0].startswith('d'), lines
assert len(by_name['a.txt']) == 9, 'ls -l has 9 columns: %r' % lines
# A listing of a subdirectory by path.
assert ftp.nlst('sub') in (['inner'], ['sub/inner']), ftp.nlst('sub')
ftp.quit()
"#;
    run(&server, body, &[]);
}

#[test]
fn a_missing_file_raises_550_and_the_session_goes_on() {
    let server = Server::start();
    fs::write(server.root().join("there.txt"), b"still here\n").unwrap();

    let body = r#"
ftp = connect(port)
try:
    ftp.retrbinary('RETR missing.txt', lambda b: None)
    raise SystemExit('RETR of a missing file succeeded')
except ftplib.error_perm as e:
    assert str(e).startswith('550'), str(e)
    assert 'missing.txt' in str(e), str(e)
assert ftp.voidcmd('NOOP').startswith('200')
chunks = []
ftp.retrbinary('RETR there.txt', chunks.append)
assert b''.join(chunks) == b'still here\n', chunks
try:
    ftp.size('missing.txt')
    raise SystemExit('SIZE of a missing file succeeded')
except ftplib.error_perm as e:
    assert str(e).startswith('550'), str(e)
assert ftp.quit().startswith('221')
"#;
    run(&server, body, &[]);
}

#[test]
fn pwd_cwd_and_mkd_move_into_a_new_subdirectory() {
    let server = Server::start();

    let body = r#"
import io
ftp = connect(port)
assert ftp.pwd() == '/', ftp.pwd()
assert ftp.mkd('sub') == '/sub', 'MKD'
try:
    ftp.mkd('sub')
    raise SystemExit('MKD of an existing directory succeeded')
except ftplib.error_perm as e:
    assert str(e).startswith('550'), str(e)
assert ftp.cwd('sub').startswith('250')
assert ftp.pwd() == '/sub', ftp.pwd()
ftp.storbinary('STOR inside.txt', io.BytesIO(b'in the subdirectory'))
assert ftp.nlst() == ['inside.txt'], ftp.nlst()
try:
    ftp.cwd('nowhere')
    raise SystemExit('CWD to a missing directory succeeded')
except ftplib.error_perm as e:
    assert str(e).startswith('550'), str(e)
assert ftp.pwd() == '/sub', 'a failed CWD moved: ' + ftp.pwd()
assert ftp.cwd('..').startswith('250')
assert ftp.pwd() == '/', ftp.pwd()
assert ftp.sendcmd('CDUP').startswith('250')
assert ftp.pwd() == '/', 'CDUP climbed above the root: ' + ftp.pwd()
ftp.quit()
"#;
    run(&server, body, &[]);
    assert!(server.root().join("sub").is_dir());
    assert_file_is(
        &server.root().join("sub").join("inside.txt"),
        b"in the subdirectory",
    );
}

#[test]
fn retr_with_rest_resumes_at_the_offset() {
    let server = Server::start();
    let data = write_random_file(&server.root().join("resume.bin"), 200_000, 11);
    let local = tempfile::tempdir().unwrap();
    let tail = local.path().join("tail.bin");

    // ftplib sends PASV, then REST, then RETR.
    let body = r#"
ftp = connect(port)
with open(sys.argv[2], 'wb') as f:
    resp = ftp.retrbinary('RETR resume.bin', f.write, rest=123457)
assert resp.startswith('226'), resp
try:
    ftp.retrbinary('RETR resume.bin', lambda b: None, rest=200001)
    raise SystemExit('REST beyond the end succeeded')
except ftplib.error_perm as e:
    assert str(e).startswith('550'), str(e)
assert ftp.voidcmd('NOOP').startswith('200')
ftp.quit()
"#;
    run(&server, body, &[tail.to_str().unwrap()]);
    assert_file_is(&tail, &data[123_457..]);
}
