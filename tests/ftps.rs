//! FTPS (RFC 4217) against the real `serv`, with real clients and with
//! attackers, on TLS 1.2 and TLS 1.3 each.
//!
//! Certificates come from a test CA made here with rcgen (a server
//! certificate for 127.0.0.1 and localhost, its chain in the cert file);
//! clients trust that CA only, so every handshake is verified.
//!
//! - curl `--ssl-reqd --cacert`: explicit (`ftp://`, AUTH TLS) and implicit
//!   (`ftps://` on `--implicit-tls-port`) upload, download and listing,
//!   byte-identical, with `--tls-max 1.2` and `--tlsv1.3`.
//! - Python `ftplib.FTP_TLS` with `prot_p()`: a subclass that resumes the
//!   control session on every data connection works (several transfers
//!   in one session; data connections send no TLS session ticket of their
//!   own); the stock class, which does not resume, is refused
//!   (425 naming the reason, no byte of the file) unless
//!   `--tls-allow-unresumed`.
//! - Thieves on the passive port, from the client's own address: a fresh
//!   TLS session, and the resumed session of another control connection
//!   of their own, get nothing, and the rightful client then gets the
//!   whole file; a thief that connects and says nothing does not keep the
//!   rightful client out.
//! - `--require-tls`: USER in clear 530, a data command under PROT C (or
//!   without PROT) 521; after AUTH TLS login works. Without it TLS is
//!   offered (FEAT), not forced.
//! - Start-up refuses missing, unreadable, empty or mismatched cert/key
//!   files and `--require-tls`/`--implicit-tls-port` without a
//!   certificate, naming the file or the option to add.
//! - SIGHUP re-reads the certificate: new handshakes see the new one,
//!   sessions opened before keep working; a broken file keeps the old.
//! - `--tls-self-signed` prints the certificate's SHA-256 fingerprint, which
//!   is the certificate clients see, and curl `-k` works with it.
//! - Feature `interop`: lftp (GnuTLS) with `ftp:ssl-force`, `ssl:ca-file`:
//!   `mirror -R` then `mirror` of a tree with nested directories, spaces,
//!   UTF-8 names and an empty file, identical; uploads of a few MiB are not
//!   truncated (lftp closes its data socket right after close_notify);
//!   implicit `ftps://`; a certificate from another CA is refused.
//!
//! Every wait has a deadline: Python sockets carry timeouts, external
//! programs run under `run_with_timeout`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    assert_file_is, dir_names, run_curl, run_python, run_serv, write_random_file, Output, Server,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

// ---------------------------------------------------------------------------
// Certificates

/// A test certificate authority in a temporary directory (`ca.pem`).
struct Pki {
    dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A server certificate issued by the [`Pki`]: PEM files and the leaf's DER.
struct Leaf {
    /// The leaf followed by the CA certificate (a chain).
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

impl Leaf {
    /// `--tls-cert FILE --tls-key FILE`.
    fn args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }

    /// SHA-256 of the leaf certificate, lower-case hex without separators.
    fn sha256(&self) -> String {
        sha256_hex(&self.der)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "ftps test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generating the CA key");
        let cert = params.self_signed(&key).expect("signing the CA");
        let dir = tempfile::tempdir().expect("creating the certificates' directory");
        fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        Pki {
            dir,
            issuer: Issuer::new(params, key),
            ca_pem: cert.pem(),
        }
    }

    /// The CA certificate (PEM), for the clients.
    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn ca_str(&self) -> String {
        self.ca().display().to_string()
    }

    /// A server certificate for 127.0.0.1 and localhost, signed by the CA,
    /// written as `<name>.pem` (leaf and CA) and `<name>.key`.
    fn issue(&self, name: &str) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("ftps test server {name}"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generating a server key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing a server certificate");
        let cert_path = self.dir.path().join(format!("{name}.pem"));
        let key_path = self.dir.path().join(format!("{name}.key"));
        fs::write(&cert_path, format!("{}{}", cert.pem(), self.ca_pem)).unwrap();
        fs::write(&key_path, key.serialize_pem()).unwrap();
        Leaf {
            cert: cert_path,
            key: key_path,
            der: cert.der().to_vec(),
        }
    }

    /// A file in the certificates' directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `serv -v --tls-cert .. --tls-key .. extra..` on 127.0.0.1.
fn start_tls(leaf: &Leaf, extra: &[&str]) -> Server {
    let args = leaf.args();
    let mut all: Vec<&str> = vec!["-v"];
    all.extend(args.iter().map(String::as_str));
    all.extend_from_slice(extra);
    Server::start_with(&all)
}

// ---------------------------------------------------------------------------
// Python

/// Shared by every Python script: an SSL context pinned to one TLS version
/// and trusting the test CA only, and `Reusing`, the ftplib client that
/// resumes the control connection's TLS session on each data connection
/// (and checks that it did).
const PRELUDE: &str = r#"
import ftplib, hashlib, io, os, signal, socket, ssl, sys, time

TIMEOUT = 20
WANT = {'1.2': 'TLSv1.2', '1.3': 'TLSv1.3'}

def context(version, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    if version == '1.2':
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == '1.3':
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    else:
        raise ValueError(version)
    return ctx

class Reusing(ftplib.FTP_TLS):
    data_connections = 0

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
            assert conn.session_reused, 'the data connection for %r was not resumed' % cmd
            assert conn.version() == self.sock.version(), (conn.version(), self.sock.version())
            self.data_connections += 1
        return conn, size

def open_session(cls, port, ctx, version=None):
    ftp = cls(context=ctx, timeout=TIMEOUT)
    ftp.connect('127.0.0.1', port)
    resp = ftp.login()
    assert resp.startswith('230'), resp
    if version is not None:
        assert ftp.sock.version() == WANT[version], ftp.sock.version()
    resp = ftp.prot_p()
    assert resp.startswith('200'), resp
    return ftp

def read_to_end(conn):
    got = bytearray()
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return bytes(got)
        got += chunk
"#;

/// Runs `PRELUDE + body` with `args`; the script must end well.
fn python(server: &Server, body: &str, args: &[&str]) -> Output {
    let script = format!("{PRELUDE}\n{body}\nprint('script ok')\n");
    let out = run_python(&script, args);
    assert_eq!(
        out.code(),
        0,
        "python script failed: {out}\n--- server log ---\n{}",
        server.log()
    );
    assert!(out.stdout.ends_with("script ok\n"), "{out}");
    // Shown with --nocapture: what the clients and thieves saw.
    print!("{}", out.stdout);
    out
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

// ---------------------------------------------------------------------------
// 1. curl, explicit and implicit

/// curl's options that pin `version`.
fn curl_version_flags(version: &str) -> &'static [&'static str] {
    match version {
        "1.2" => &["--tls-max", "1.2"],
        "1.3" => &["--tlsv1.3"],
        _ => unreachable!("TLS version {version}"),
    }
}

/// curl `-sS -v --ssl-reqd --cacert CA` pinned to `version`, with `args`,
/// in `cwd`: it must succeed, and every TLS connection it reports must be
/// of that version.
fn curl_tls(server: &Server, pki: &Pki, cwd: &Path, version: &str, args: &[&str]) -> Output {
    let ca = pki.ca_str();
    let mut all = vec!["-sS", "-v", "--ssl-reqd", "--cacert", ca.as_str()];
    all.extend_from_slice(curl_version_flags(version));
    all.extend_from_slice(args);
    let out = run_curl(cwd, &all);
    assert_eq!(
        out.code(),
        0,
        "curl {all:?}: {out}\n--- server log ---\n{}",
        server.log()
    );
    let want = format!("SSL connection using TLSv{version} ");
    let used: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("SSL connection using"))
        .collect();
    assert!(
        used.len() >= 2,
        "curl reports a TLS handshake for the control and the data connection: {out}"
    );
    assert!(
        used.iter().all(|l| l.contains(&want)),
        "not every connection used TLS {version}: {used:?}"
    );
    out
}

/// curl over explicit (`ftp://` + AUTH TLS) and implicit (`ftps://`) TLS:
/// upload, download and both listings, byte-identical.
fn curl_round_trips(version: &str) {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let tls = leaf.args();
    let mut args: Vec<&str> = vec!["-v", "--require-tls", "--implicit-tls-port", "0"];
    args.extend(tls.iter().map(String::as_str));
    let (server, implicit) = Server::start_implicit_tls(&args);
    let local = tempfile::tempdir().unwrap();

    for (i, (scheme, port)) in [("ftp", server.port()), ("ftps", implicit.port())]
        .into_iter()
        .enumerate()
    {
        let name = format!("{scheme} up.bin");
        let data = write_random_file(
            &local.path().join(&name),
            3 * 1024 * 1024 + 11 + i,
            40 + i as u64,
        );
        let target = format!("{scheme}://127.0.0.1:{port}/{scheme}%20up.bin");
        curl_tls(
            &server,
            &pki,
            local.path(),
            version,
            &["-T", &name, &target],
        );
        assert_file_is(&server.root().join(&name), &data);

        let down = format!("{scheme}-down.bin");
        curl_tls(
            &server,
            &pki,
            local.path(),
            version,
            &[&target, "-o", &down],
        );
        assert_file_is(&local.path().join(&down), &data);

        let dir = format!("{scheme}://127.0.0.1:{port}/");
        let out = curl_tls(&server, &pki, local.path(), version, &[&dir]);
        let line = out
            .stdout
            .lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} is not in the listing: {out}"));
        assert_eq!(
            line.split_whitespace().nth(4),
            Some(data.len().to_string().as_str()),
            "{line}"
        );
        let out = curl_tls(&server, &pki, local.path(), version, &["--list-only", &dir]);
        assert!(
            out.stdout.lines().any(|l| l.trim_end() == name),
            "{name} is not in the NLST output: {out}"
        );
    }

    // Four curl runs on the explicit port, each with one AUTH; none on the
    // implicit port, where the handshake comes first. Every transfer was
    // protected (--require-tls would have answered 521 otherwise).
    let auths = server.wait_for_count("-> AUTH ", 4, Duration::from_secs(10));
    let prots = server.wait_for_count("-> PROT P", 8, Duration::from_secs(10));
    let log = server.log();
    assert_eq!(auths, 4, "{log}");
    assert!(prots >= 8, "{log}");
    assert!(!log.contains("<- 521"), "{log}");
    assert_eq!(dir_names(server.root()), ["ftp up.bin", "ftps up.bin"]);
}

#[test]
fn curl_explicit_and_implicit_over_tls12() {
    curl_round_trips("1.2");
}

#[test]
fn curl_explicit_and_implicit_over_tls13() {
    curl_round_trips("1.3");
}

// ---------------------------------------------------------------------------
// 2. Python ftplib: resuming subclass, stock class

/// ftplib resuming the control session: several uploads, downloads and
/// listings in one session, every data connection resumed.
fn ftplib_resuming(version: &str) {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &["--require-tls"]);
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up.bin");
    let down = local.path().join("down.bin");
    let data = write_random_file(&up, 2 * 1024 * 1024 + 5, 77);

    let body = r#"
port, version, ca, up, down = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ftp = open_session(Reusing, port, context(version, ca), version)
with open(up, 'rb') as f:
    data = f.read()
for i in range(3):
    with open(up, 'rb') as f:
        resp = ftp.storbinary('STOR up%d.bin' % i, f)
    assert resp.startswith('226'), resp

# Data connections send no session tickets of their own (a TLS 1.3 ticket
# arriving on an upload's socket after lftp's close_notify provokes a reset
# that truncates it): after a whole download, the data connection's session
# is still the control connection's one, not a new ticket's.
ftp.voidcmd('TYPE I')
host, dport = ftp.makepasv()
ftp.putcmd('RETR up0.bin')
resp = ftp.getresp()
assert resp.startswith('150'), resp
conn = socket.create_connection(('127.0.0.1', dport), timeout=TIMEOUT)
conn = ftp.context.wrap_socket(conn, server_hostname='127.0.0.1', session=ftp.sock.session)
assert conn.session_reused
got = read_to_end(conn)
assert got == data, len(got)
assert conn.session.id == ftp.sock.session.id, 'the data connection sent a new session ticket'
conn.unwrap()
conn.close()
assert ftp.voidresp().startswith('226')
for i in range(3):
    got = bytearray()
    resp = ftp.retrbinary('RETR up%d.bin' % i, got.extend)
    assert resp.startswith('226'), resp
    assert bytes(got) == data, 'RETR up%d.bin: %d bytes, expected %d' % (i, len(got), len(data))
with open(down, 'wb') as f:
    ftp.retrbinary('RETR up2.bin', f.write)
names = sorted(ftp.nlst())
assert names == ['up0.bin', 'up1.bin', 'up2.bin'], names
lines = []
ftp.retrlines('LIST', lines.append)
assert len(lines) == 3, lines
assert all(l.split()[4] == str(len(data)) for l in lines), lines
facts = dict(ftp.mlsd())
assert 'up1.bin' in facts, facts
assert ftp.data_connections == 10, ftp.data_connections  # and one by hand
assert ftp.voidcmd('NOOP').startswith('200')
assert ftp.quit().startswith('221')
"#;
    let ca = pki.ca_str();
    let port = server.port().to_string();
    python(&server, body, &[&port, version, &ca, &p(&up), &p(&down)]);
    for i in 0..3 {
        assert_file_is(&server.root().join(format!("up{i}.bin")), &data);
    }
    assert_file_is(&down, &data);
    let log = server.log();
    assert_eq!(log.matches("-> PROT P").count(), 1, "{log}");
    assert!(!log.contains("<- 425"), "{log}");
}

#[test]
fn ftplib_resuming_the_control_session_works_over_tls12() {
    ftplib_resuming("1.2");
}

#[test]
fn ftplib_resuming_the_control_session_works_over_tls13() {
    ftplib_resuming("1.3");
}

/// The stock `ftplib.FTP_TLS` does not resume the control session on its
/// data connections: by default each transfer is refused (425, saying
/// why, once --data-timeout is over) and not a byte moves.
fn stock_ftplib_refused(version: &str) {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &["--data-timeout", "3"]);
    let secret = write_random_file(&server.root().join("secret.bin"), 300_000, 5);

    let body = r#"
port, version, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ftp = open_session(ftplib.FTP_TLS, port, context(version, ca), version)

def refused(what, transfer):
    started = time.monotonic()
    try:
        resp = transfer()
    except ftplib.error_temp as e:
        reply = str(e)
    except TimeoutError:
        raise AssertionError('%s: the refused data connection was left open' % what)
    except (OSError, EOFError) as e:
        # The data connection was cut; the transfer's reply follows.
        try:
            reply = ftp.getresp()
        except ftplib.error_temp as e2:
            reply = str(e2)
    else:
        raise AssertionError('%s went through: %s' % (what, resp))
    assert reply.startswith('425 '), '%s: %s' % (what, reply)
    assert 'did not resume' in reply, '%s: %s' % (what, reply)
    took = time.monotonic() - started
    assert 2.5 < took < 15, '%s answered after %.1f s' % (what, took)
    print(what, 'refused after %.1f s:' % took, reply)

got = bytearray()
refused('RETR', lambda: ftp.retrbinary('RETR secret.bin', got.extend))
assert len(got) == 0, 'the stock client got %d bytes' % len(got)
refused('STOR', lambda: ftp.storbinary('STOR planted.bin', io.BytesIO(b'p' * 200000)))
refused('NLST', lambda: ftp.nlst())
assert ftp.voidcmd('NOOP').startswith('200')
assert ftp.quit().startswith('221')
"#;
    let ca = pki.ca_str();
    let port = server.port().to_string();
    let out = python(&server, body, &[&port, version, &ca]);
    assert_eq!(out.stdout.matches("refused after").count(), 3, "{out}");
    assert_eq!(dir_names(server.root()), ["secret.bin"], "nothing planted");
    assert_file_is(&server.root().join("secret.bin"), &secret);
}

#[test]
fn stock_ftplib_is_refused_by_default_over_tls12() {
    stock_ftplib_refused("1.2");
}

#[test]
fn stock_ftplib_is_refused_by_default_over_tls13() {
    stock_ftplib_refused("1.3");
}

/// With `--tls-allow-unresumed` the stock class works.
fn stock_ftplib_allowed(version: &str) {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &["--tls-allow-unresumed", "--require-tls"]);
    let local = tempfile::tempdir().unwrap();
    let up = local.path().join("up.bin");
    let data = write_random_file(&up, 1024 * 1024 + 3, 8);

    let body = r#"
port, version, ca, up = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ftp = open_session(ftplib.FTP_TLS, port, context(version, ca), version)
with open(up, 'rb') as f:
    data = f.read()
for i in range(2):
    with open(up, 'rb') as f:
        resp = ftp.storbinary('STOR stock.bin', f)
    assert resp.startswith('226'), resp
    got = bytearray()
    resp = ftp.retrbinary('RETR stock.bin', got.extend)
    assert resp.startswith('226'), resp
    assert bytes(got) == data, '%d bytes, expected %d' % (len(got), len(data))
assert ftp.nlst() == ['stock.bin'], ftp.nlst()
assert ftp.quit().startswith('221')
"#;
    let ca = pki.ca_str();
    let port = server.port().to_string();
    python(&server, body, &[&port, version, &ca, &p(&up)]);
    assert_file_is(&server.root().join("stock.bin"), &data);
}

#[test]
fn stock_ftplib_is_accepted_with_tls_allow_unresumed_over_tls12() {
    stock_ftplib_allowed("1.2");
}

#[test]
fn stock_ftplib_is_accepted_with_tls_allow_unresumed_over_tls13() {
    stock_ftplib_allowed("1.3");
}

// ---------------------------------------------------------------------------
// 3. Thieves on the passive port

/// What the thief and the rightful client share: the victim's session,
/// the thief's attempt and the rightful download.
const THIEF_PRELUDE: &str = r#"
MARKER = b'RECOGNIZABLE-SECRET-MARKER'

def thief_gets(raw, ctx, session=None):
    """Everything a thief reads on the data connection `raw`."""
    try:
        conn = ctx.wrap_socket(raw, server_hostname='127.0.0.1', session=session)
    except TimeoutError:
        raise AssertionError('the server neither finished nor refused the thief handshake')
    except OSError as e:
        return b'', 'handshake failed: %r' % e
    reused = conn.session_reused
    got = bytearray()
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        how = 'closed after the handshake'
    except TimeoutError:
        raise AssertionError('the thief connection was left open (%d bytes read)' % len(got))
    except OSError as e:
        how = 'cut after the handshake: %r' % e
    if reused:
        how += ', but the handshake was resumed'
    return bytes(got), how

def rightful(victim, ctx, dport):
    conn = socket.create_connection(('127.0.0.1', dport), timeout=TIMEOUT)
    conn = ctx.wrap_socket(conn, server_hostname='127.0.0.1', session=victim.sock.session)
    assert conn.session_reused, 'the rightful client did not resume'
    data = read_to_end(conn)
    conn.unwrap()
    conn.close()
    resp = victim.voidresp()
    assert resp.startswith('226'), resp
    return data

def nothing_stolen(who, got, how):
    assert MARKER not in got, '%s got the file' % who
    assert got == b'', '%s got %d bytes' % (who, len(got))
    assert not how.endswith('resumed'), '%s: %s' % (who, how)
    print(who + ': 0 bytes,', how)
"#;

/// A thief from the victim's own address, with a fresh TLS session, then
/// with the resumed session of another control connection of its own:
/// neither reads a byte, and the rightful client gets the whole file
/// each time.
fn thieves_get_nothing(version: &str) {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &["--data-timeout", "15"]);
    let mut secret = b"RECOGNIZABLE-SECRET-MARKER\n".to_vec();
    secret.extend(common::pseudo_random(1024 * 1024, 13));
    secret.extend_from_slice(b"RECOGNIZABLE-SECRET-MARKER\n");
    fs::write(server.root().join("secret.bin"), &secret).unwrap();
    let local = tempfile::tempdir().unwrap();
    let (out1, out2) = (local.path().join("1.bin"), local.path().join("2.bin"));

    let body = r#"
port, version, ca, out1, out2 = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = context(version, ca)
victim = open_session(Reusing, port, ctx, version)
victim.voidcmd('TYPE I')

# 1. A fresh TLS session. Its TCP connection is even made before RETR.
host, dport = victim.makepasv()
raw = socket.create_connection(('127.0.0.1', dport), timeout=TIMEOUT)
assert raw.getsockname()[0] == victim.sock.getsockname()[0], 'same address as the victim'
victim.putcmd('RETR secret.bin')
resp = victim.getresp()
assert resp.startswith('150'), resp
got, how = thief_gets(raw, context(version, ca))
nothing_stolen('fresh-session thief', got, how)
with open(out1, 'wb') as f:
    f.write(rightful(victim, ctx, dport))

# 2. The resumed session of the thief's own control connection to this server.
thief_ctx = context(version, ca)
own = open_session(Reusing, port, thief_ctx, version)
stolen_session = own.sock.session
assert stolen_session is not None
host, dport = victim.makepasv()
victim.putcmd('RETR secret.bin')
resp = victim.getresp()
assert resp.startswith('150'), resp
raw = socket.create_connection(('127.0.0.1', dport), timeout=TIMEOUT)
got, how = thief_gets(raw, thief_ctx, session=stolen_session)
nothing_stolen('foreign-session thief', got, how)
with open(out2, 'wb') as f:
    f.write(rightful(victim, ctx, dport))

# The thief's session resumes fine on its own data connections.
assert 'secret.bin' in own.nlst()
assert own.quit().startswith('221')
assert victim.quit().startswith('221')
"#;
    let script = format!("{THIEF_PRELUDE}\n{body}");
    let ca = pki.ca_str();
    let port = server.port().to_string();
    let out = python(
        &server,
        &script,
        &[&port, version, &ca, &p(&out1), &p(&out2)],
    );
    assert!(out.stdout.contains("fresh-session thief: 0 bytes"), "{out}");
    assert!(
        out.stdout.contains("foreign-session thief: 0 bytes"),
        "{out}"
    );
    assert_file_is(&out1, &secret);
    assert_file_is(&out2, &secret);
    // The server sent the file twice, whole, and nothing else.
    let log = server.log();
    let sent = format!("download \"/secret.bin\" {} bytes", secret.len());
    assert_eq!(log.matches(&sent).count(), 2, "{log}");
    assert_eq!(log.matches("download \"").count(), 2, "{log}");
}

#[test]
fn thieves_on_the_passive_port_get_nothing_over_tls12() {
    thieves_get_nothing("1.2");
}

#[test]
fn thieves_on_the_passive_port_get_nothing_over_tls13() {
    thieves_get_nothing("1.3");
}

/// A thief that connects to the passive port and sends nothing (no
/// ClientHello) holds the listener for a bounded time only: the rightful
/// client, already waiting, still gets the file within --data-timeout.
#[test]
fn a_silent_connection_on_the_passive_port_does_not_keep_the_rightful_client_out() {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &["--data-timeout", "40"]);
    let mut secret = b"RECOGNIZABLE-SECRET-MARKER\n".to_vec();
    secret.extend(common::pseudo_random(200_000, 14));
    fs::write(server.root().join("secret.bin"), &secret).unwrap();
    let local = tempfile::tempdir().unwrap();
    let out1 = local.path().join("1.bin");

    let body = r#"
port, version, ca, out1 = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
TIMEOUT = 35
ctx = context(version, ca)
victim = open_session(Reusing, port, ctx, version)
victim.voidcmd('TYPE I')
host, dport = victim.makepasv()
victim.putcmd('RETR secret.bin')
resp = victim.getresp()
assert resp.startswith('150'), resp
silent = socket.create_connection(('127.0.0.1', dport), timeout=TIMEOUT)
time.sleep(0.3)
started = time.monotonic()
data = rightful(victim, ctx, dport)
print('the rightful client waited %.1f s' % (time.monotonic() - started))
got = b''
try:
    got = read_to_end(silent)
except OSError:
    pass
nothing_stolen('silent thief', got, 'closed')
with open(out1, 'wb') as f:
    f.write(data)
assert victim.quit().startswith('221')
"#;
    let script = format!("{THIEF_PRELUDE}\n{body}");
    let ca = pki.ca_str();
    let port = server.port().to_string();
    let out = python(&server, &script, &[&port, "1.3", &ca, &p(&out1)]);
    assert!(out.stdout.contains("silent thief: 0 bytes"), "{out}");
    assert_file_is(&out1, &secret);
}

// ---------------------------------------------------------------------------
// 4. --require-tls, and TLS offered but not forced

#[test]
fn require_tls_refuses_clear_logins_and_clear_data() {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &["--require-tls"]);
    fs::write(server.root().join("f.txt"), b"protected\n").unwrap();

    let mut c = server.connect();
    c.expect_greeting();
    let feat = c.expect("FEAT", 211).text();
    for feature in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(
            feat.lines().any(|l| l.starts_with(feature)),
            "{feature}: {feat}"
        );
    }
    let r = c.expect("USER anonymous", 530);
    assert!(r.text().contains("requires TLS"), "{r:?}");
    assert!(r.text().contains("AUTH TLS"), "{r:?}");
    c.expect("QUIT", 221);

    let body = r#"
port, ca = int(sys.argv[1]), sys.argv[2]
ftp = Reusing(context=context('1.3', ca), timeout=TIMEOUT)
ftp.connect('127.0.0.1', port)
try:
    ftp.sendcmd('USER anonymous')
except ftplib.error_perm as e:
    assert str(e).startswith('530 ') and 'TLS' in str(e), str(e)
else:
    raise AssertionError('USER in clear was accepted')
assert ftp.auth().startswith('234')
assert ftp.login().startswith('230')

def refused_521(what, transfer):
    try:
        transfer()
    except ftplib.error_perm as e:
        assert str(e).startswith('521 '), '%s: %s' % (what, e)
        print(what, 'refused:', e)
    else:
        raise AssertionError(what + ' went through in clear')

refused_521('NLST before PROT', ftp.nlst)
assert ftp.sendcmd('PBSZ 0').startswith('200')
assert ftp.prot_c().startswith('200')
got = bytearray()
refused_521('NLST under PROT C', ftp.nlst)
refused_521('RETR under PROT C', lambda: ftp.retrbinary('RETR f.txt', got.extend))
refused_521('STOR under PROT C', lambda: ftp.storbinary('STOR new.txt', io.BytesIO(b'x')))
assert not got
assert ftp.prot_p().startswith('200')
assert ftp.nlst() == ['f.txt'], ftp.nlst()
ftp.retrbinary('RETR f.txt', got.extend)
assert bytes(got) == b'protected\n', got
assert ftp.quit().startswith('221')
"#;
    let ca = pki.ca_str();
    let port = server.port().to_string();
    let out = python(&server, body, &[&port, &ca]);
    assert_eq!(out.stdout.matches(" refused: 521 ").count(), 4, "{out}");
    assert_eq!(dir_names(server.root()), ["f.txt"]);
}

/// Without --require-tls, TLS is offered (FEAT) and not forced; AUTH SSL is
/// AUTH TLS's synonym, PBSZ/PROT need AUTH first, CCC is refused, and
/// REIN keeps the TLS layer.
#[test]
fn tls_is_offered_not_forced_and_the_details_of_rfc_4217() {
    let pki = Pki::new();
    let leaf = pki.issue("server");
    let server = start_tls(&leaf, &[]);
    fs::write(server.root().join("f.txt"), b"clear or not\n").unwrap();

    let mut c = server.connect();
    c.expect_greeting();
    let feat = c.expect("FEAT", 211).text();
    for feature in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(
            feat.lines().any(|l| l.starts_with(feature)),
            "{feature}: {feat}"
        );
    }
    c.expect("PBSZ 0", 503);
    c.expect("PROT P", 503);
    c.login();
    // AUTH after login would leave the password already sent in clear.
    c.expect("AUTH TLS", 503);
    c.expect("TYPE I", 200);
    let port = c.pasv();
    c.send_line("RETR f.txt", "\r\n");
    let data = common::connect_with_timeout(port);
    assert_eq!(c.read_reply().code, 150);
    assert_eq!(common::read_all(data), b"clear or not\n");
    assert_eq!(c.read_reply().code, 226);
    c.expect("QUIT", 221);

    let body = r#"
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = context('1.3', ca)
ftp = Reusing(context=ctx, timeout=TIMEOUT)
ftp.connect('127.0.0.1', port)
resp = ftp.sendcmd('AUTH SSL')
assert resp.startswith('234'), resp
ftp.sock = ctx.wrap_socket(ftp.sock, server_hostname='127.0.0.1')
ftp.file = ftp.sock.makefile('r', encoding=ftp.encoding)
assert ftp.login().startswith('230')
assert ftp.sendcmd('PBSZ 0').startswith('200')
try:
    ftp.sendcmd('PROT S')
except ftplib.error_perm as e:
    assert str(e).startswith('536 '), str(e)
else:
    raise AssertionError('PROT S accepted')
assert ftp.prot_p().startswith('200')
try:
    ftp.sendcmd('CCC')
except ftplib.error_perm as e:
    assert str(e).startswith('502 '), str(e)
else:
    raise AssertionError('CCC accepted')
assert ftp.nlst() == ['f.txt']
resp = ftp.sendcmd('REIN')
assert resp.startswith('220'), resp
# Still TLS: the control connection was not dropped to clear text.
assert ftp.sock.version() == 'TLSv1.3'
resp = ftp.sendcmd('USER anonymous')
assert resp.startswith('331'), resp
assert ftp.sendcmd('PASS x@y').startswith('230')
assert ftp.voidcmd('NOOP').startswith('200')
assert ftp.quit().startswith('221')
"#;
    let ca = pki.ca_str();
    let port = server.port().to_string();
    python(&server, body, &[&port, &ca]);
}

// ---------------------------------------------------------------------------
// 5. Start-up with bad certificates

/// `serv --root <tmp> --bind 127.0.0.1 args.. 0` must exit non-zero before
/// listening, with every one of `needles` on stderr.
fn serv_refuses(args: &[&str], needles: &[&str]) {
    let root = tempfile::tempdir().unwrap();
    let root_str = p(root.path());
    let mut all = vec!["--root", root_str.as_str(), "--bind", "127.0.0.1"];
    all.extend_from_slice(args);
    all.push("0");
    let out = run_serv(&all, b"");
    assert_ne!(out.code(), 0, "serv {all:?} started: {out}");
    assert!(!out.stdout.contains("listening"), "serv {all:?}: {out}");
    for needle in needles {
        assert!(
            out.stderr.contains(needle),
            "serv {all:?}: {needle:?} is not in the message: {out}"
        );
    }
}

#[test]
fn startup_fails_clearly_on_bad_certificate_files() {
    let pki = Pki::new();
    let good = pki.issue("good");
    let other = pki.issue("other");
    let (cert, key) = (p(&good.cert), p(&good.key));

    // Missing files: each is named.
    let absent_cert = p(&pki.path("absent-cert.pem"));
    let absent_key = p(&pki.path("absent.key"));
    serv_refuses(
        &["--tls-cert", &absent_cert, "--tls-key", &key],
        &["absent-cert.pem", "certificate"],
    );
    serv_refuses(
        &["--tls-cert", &cert, "--tls-key", &absent_key],
        &["absent.key", "key"],
    );

    // Unreadable: a directory where a file should be.
    let dir = pki.path("a-directory");
    fs::create_dir(&dir).unwrap();
    serv_refuses(
        &["--tls-cert", &p(&dir), "--tls-key", &key],
        &["a-directory"],
    );
    serv_refuses(
        &["--tls-cert", &cert, "--tls-key", &p(&dir)],
        &["a-directory"],
    );
    // Unreadable by permissions (not for root, who reads anything).
    let locked = pki.path("locked.key");
    fs::copy(&good.key, &locked).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    }
    if fs::read(&locked).is_err() {
        serv_refuses(
            &["--tls-cert", &cert, "--tls-key", &p(&locked)],
            &["locked.key"],
        );
    }

    // Not PEM, or the wrong kind of PEM.
    let junk = pki.path("junk.pem");
    fs::write(&junk, "this is not a certificate\n").unwrap();
    serv_refuses(
        &["--tls-cert", &p(&junk), "--tls-key", &key],
        &["junk.pem", "no certificate"],
    );
    serv_refuses(
        &["--tls-cert", &cert, "--tls-key", &cert],
        &["good.pem", "key"],
    );

    // A key that belongs to another certificate: both files named.
    serv_refuses(
        &["--tls-cert", &cert, "--tls-key", &p(&other.key)],
        &["good.pem", "other.key", "does not fit"],
    );

    // Options that need a certificate, without one.
    serv_refuses(&["--require-tls"], &["--require-tls", "--tls-cert"]);
    serv_refuses(
        &["--implicit-tls-port", "0"],
        &["--implicit-tls-port", "--tls-cert"],
    );
    serv_refuses(&["--tls-cert", &cert], &["--tls-key"]);
    serv_refuses(&["--tls-key", &key], &["--tls-cert"]);

    // And the good pair starts.
    let server = start_tls(&good, &[]);
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("QUIT", 221);
}

// ---------------------------------------------------------------------------
// 6. SIGHUP

#[test]
fn sighup_reloads_the_certificate_and_keeps_running_sessions() {
    let pki = Pki::new();
    let a = pki.issue("a");
    let b = pki.issue("b");
    let live_cert = pki.path("live.pem");
    let live_key = pki.path("live.key");
    fs::copy(&a.cert, &live_cert).unwrap();
    fs::copy(&a.key, &live_key).unwrap();
    let server = Server::start_with(&[
        "-v",
        "--tls-cert",
        &p(&live_cert),
        "--tls-key",
        &p(&live_key),
    ]);
    fs::write(server.root().join("f.txt"), b"kept\n").unwrap();
    assert_ne!(a.sha256(), b.sha256());

    let body = r#"
port, pid, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
live_cert, live_key, b_cert, b_key, fp_a, fp_b = sys.argv[4:10]

def session(version):
    ftp = open_session(Reusing, port, context(version, ca), version)
    return ftp, hashlib.sha256(ftp.sock.getpeercert(binary_form=True)).hexdigest()

old = {}
for v in ('1.2', '1.3'):
    ftp, fp = session(v)
    assert fp == fp_a, 'before SIGHUP: %s' % fp
    assert ftp.nlst() == ['f.txt']
    old[v] = ftp

# Certificate B replaces A as a renewal does: written aside, renamed over.
for src, dst in ((b_cert, live_cert), (b_key, live_key)):
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst + '.new', 'wb') as f:
        f.write(data)
    os.replace(dst + '.new', dst)
os.kill(pid, signal.SIGHUP)
deadline = time.monotonic() + 10
while True:
    ftp, fp = session('1.3')
    ftp.quit()
    if fp == fp_b:
        break
    assert fp == fp_a, fp
    assert time.monotonic() < deadline, 'new connections see A 10 s after SIGHUP'
    time.sleep(0.05)

for v in ('1.2', '1.3'):
    ftp, fp = session(v)
    assert fp == fp_b, 'after SIGHUP: %s' % fp
    assert ftp.nlst() == ['f.txt']
    assert ftp.quit().startswith('221')
# Sessions opened before SIGHUP go on, data connections included.
for v, ftp in old.items():
    assert ftp.voidcmd('NOOP').startswith('200'), v
    got = bytearray()
    ftp.retrbinary('RETR f.txt', got.extend)
    assert bytes(got) == b'kept\n', (v, got)
    assert ftp.quit().startswith('221')
"#;
    let ca = pki.ca_str();
    let port = server.port().to_string();
    let pid = server.pid().to_string();
    let args = [
        p(&live_cert),
        p(&live_key),
        p(&b.cert),
        p(&b.key),
        a.sha256(),
        b.sha256(),
    ];
    let mut all = vec![port.as_str(), pid.as_str(), ca.as_str()];
    all.extend(args.iter().map(String::as_str));
    python(&server, body, &all);
    assert!(
        server.wait_for_log("SIGHUP: TLS certificate reloaded", Duration::from_secs(5)),
        "{}",
        server.log()
    );

    // A broken certificate file: the reload fails, B stays, serving goes on.
    fs::write(&live_cert, "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("running kill");
    assert!(status.success());
    assert!(
        server.wait_for_log("TLS certificate not reloaded", Duration::from_secs(10)),
        "{}",
        server.log()
    );
    let body = r#"
port, ca, fp_b = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ftp = open_session(Reusing, port, context('1.3', ca), '1.3')
assert hashlib.sha256(ftp.sock.getpeercert(binary_form=True)).hexdigest() == fp_b
assert ftp.nlst() == ['f.txt']
assert ftp.quit().startswith('221')
"#;
    python(&server, body, &[&port, &ca, &b.sha256()]);
}

// ---------------------------------------------------------------------------
// 7. --tls-self-signed

/// `AB:CD:...`: 32 pairs of hex digits separated by ':'.
fn is_fingerprint(word: &str) -> bool {
    let pairs: Vec<&str> = word.split(':').collect();
    pairs.len() == 32
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[test]
fn self_signed_prints_the_fingerprint_clients_see_and_curl_insecure_works() {
    let server = Server::start_with(&["--tls-self-signed"]);
    assert!(
        server.wait_for_log("fingerprint", Duration::from_secs(5)),
        "{}",
        server.log()
    );
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("fingerprint"))
        .unwrap()
        .to_string();
    let fingerprint = line
        .split_whitespace()
        .find(|w| is_fingerprint(w))
        .unwrap_or_else(|| panic!("no AB:CD:.. fingerprint in {line:?}"))
        .to_string();

    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("up.bin"), 500_000, 21);
    let target = format!("ftp://127.0.0.1:{}/up.bin", server.port());
    // Verified, the self-signed certificate is refused (curl: 60).
    let out = run_curl(
        local.path(),
        &["-sS", "--ssl-reqd", "-T", "up.bin", &target],
    );
    assert_eq!(out.code(), 60, "{out}");
    for args in [
        vec!["-sS", "-k", "--ssl-reqd", "-T", "up.bin", &target],
        vec!["-sS", "-k", "--ssl-reqd", &target, "-o", "down.bin"],
    ] {
        let out = run_curl(local.path(), &args);
        assert_eq!(out.code(), 0, "{args:?}: {out}\n{}", server.log());
    }
    assert_file_is(&server.root().join("up.bin"), &data);
    assert_file_is(&local.path().join("down.bin"), &data);
    let root = format!("ftp://127.0.0.1:{}/", server.port());
    let out = run_curl(
        local.path(),
        &["-sS", "-k", "--ssl-reqd", "--list-only", &root],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout.trim_end(), "up.bin");

    // The printed fingerprint is the certificate's that clients get.
    let body = r#"
port, printed = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = ftplib.FTP_TLS(context=ctx, timeout=TIMEOUT)
ftp.connect('127.0.0.1', port)
ftp.login()
der = ftp.sock.getpeercert(binary_form=True)
seen = ':'.join('%02X' % b for b in hashlib.sha256(der).digest())
assert seen == printed.upper(), (seen, printed)
ftp.quit()
"#;
    let port = server.port().to_string();
    python(&server, body, &[&port, &fingerprint]);
}

// ---------------------------------------------------------------------------
// 8. lftp (feature `interop`)

#[cfg(feature = "interop")]
mod lftp {
    use super::*;
    use common::{assert_same_tree, run_with_timeout, PROCESS_TIMEOUT};
    use std::process::Command;

    /// The GnuTLS priority string that allows only `version`.
    fn priority(version: &str) -> &'static str {
        match version {
            "1.2" => "NORMAL:-VERS-ALL:+VERS-TLS1.2",
            "1.3" => "NORMAL:-VERS-ALL:+VERS-TLS1.3",
            _ => unreachable!("TLS version {version}"),
        }
    }

    /// `lftp -c` with TLS forced, the test CA trusted and `version`
    /// pinned, on `url`, in `cwd` (with a private HOME); must succeed.
    fn lftp(
        server: &Server,
        pki: &Pki,
        version: &str,
        url: &str,
        cwd: &Path,
        commands: &str,
    ) -> Output {
        let (script, out) = lftp_run(pki, version, url, cwd, commands);
        assert_eq!(
            out.code(),
            0,
            "lftp failed running {script:?}: {out}\n--- server log ---\n{}",
            server.log()
        );
        out
    }

    /// Like [`lftp`], returning the script and what lftp did.
    fn lftp_run(
        pki: &Pki,
        version: &str,
        url: &str,
        cwd: &Path,
        commands: &str,
    ) -> (String, Output) {
        let script = format!(
            "set net:max-retries 1; set net:timeout 10; set net:reconnect-interval-base 1; \
             set cmd:fail-exit true; set ftp:charset utf-8; set file:charset utf-8; \
             set ftp:passive-mode true; set ftp:ssl-force true; set ftp:ssl-protect-data true; \
             set ftp:ssl-protect-list true; set ssl:verify-certificate true; \
             set ssl:check-hostname true; set ssl:ca-file \"{ca}\"; set ssl:priority \"{prio}\"; \
             open -u anonymous,guest@example.org {url}; {commands}",
            ca = pki.ca_str(),
            prio = priority(version),
        );
        let home = cwd.join(".home");
        fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new("lftp");
        cmd.current_dir(cwd)
            .env("HOME", &home)
            .env("LC_ALL", "C.UTF-8")
            .arg("-c")
            .arg(&script);
        let out = run_with_timeout(cmd, b"", PROCESS_TIMEOUT);
        (script, out)
    }

    /// A small tree: nested directories, spaces, UTF-8 names, an empty
    /// file and an empty directory.
    fn make_tree(root: &Path) {
        fs::create_dir_all(root.join("dir/sub/deeper")).unwrap();
        fs::create_dir_all(root.join("with space")).unwrap();
        fs::create_dir_all(root.join("ünïcødé 日本")).unwrap();
        fs::create_dir_all(root.join("empty dir")).unwrap();
        write_random_file(&root.join("top.bin"), 70_000, 1);
        fs::write(root.join("empty.txt"), b"").unwrap();
        write_random_file(&root.join("dir/sub/deeper/deep.bin"), 300_001, 2);
        write_random_file(&root.join("dir/a.txt"), 1234, 3);
        write_random_file(&root.join("with space/file with space.bin"), 100_000, 4);
        fs::write(root.join("ünïcødé 日本/ファイル.txt"), "こんにちは\n").unwrap();
    }

    fn mirror_both_ways(version: &str) {
        let pki = Pki::new();
        let leaf = pki.issue("server");
        let server = start_tls(&leaf, &["--require-tls"]);
        let local = tempfile::tempdir().unwrap();
        let src = local.path().join("src");
        make_tree(&src);
        let url = format!("ftp://127.0.0.1:{}", server.port());
        lftp(
            &server,
            &pki,
            version,
            &url,
            local.path(),
            "mirror -R src /up; mirror /up back",
        );
        assert_same_tree(&server.root().join("up"), &src);
        assert_same_tree(&local.path().join("back"), &src);
        let log = server.log();
        assert!(log.contains("-> AUTH TLS"), "{log}");
        assert!(log.contains("-> PROT P"), "{log}");
        assert!(!log.contains("<- 425"), "{log}");
    }

    #[test]
    fn lftp_mirrors_a_tree_both_ways_over_tls12() {
        mirror_both_ways("1.2");
    }

    #[test]
    fn lftp_mirrors_a_tree_both_ways_over_tls13() {
        mirror_both_ways("1.3");
    }

    /// lftp closes an upload's data socket right after its close_notify:
    /// uploads of a few MiB arrive whole, every time.
    fn uploads_are_not_truncated(version: &str) {
        let pki = Pki::new();
        let leaf = pki.issue("server");
        let server = start_tls(&leaf, &["--require-tls"]);
        let local = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let mut commands = String::new();
        for i in 0..6usize {
            let name = format!("big{i}.bin");
            let data = write_random_file(
                &local.path().join(&name),
                3 * 1024 * 1024 + 1000 * i + 7,
                100 + i as u64,
            );
            commands.push_str(&format!("put {name}; "));
            files.push((name, data));
        }
        commands.push_str("get big0.bin -o back.bin");
        let url = format!("ftp://127.0.0.1:{}", server.port());
        lftp(&server, &pki, version, &url, local.path(), &commands);
        for (name, data) in &files {
            assert_file_is(&server.root().join(name), data);
        }
        assert_file_is(&local.path().join("back.bin"), &files[0].1);
        let log = server.log();
        assert_eq!(log.matches("<- 226").count(), 7, "{log}");
    }

    #[test]
    fn lftp_uploads_are_not_truncated_over_tls12() {
        uploads_are_not_truncated("1.2");
    }

    #[test]
    fn lftp_uploads_are_not_truncated_over_tls13() {
        uploads_are_not_truncated("1.3");
    }

    /// lftp on the implicit TLS port (`ftps://`).
    #[test]
    fn lftp_over_implicit_tls() {
        let pki = Pki::new();
        let leaf = pki.issue("server");
        let tls = leaf.args();
        let mut args: Vec<&str> = vec!["-v", "--implicit-tls-port", "0"];
        args.extend(tls.iter().map(String::as_str));
        let (server, implicit) = Server::start_implicit_tls(&args);
        let local = tempfile::tempdir().unwrap();
        let data = write_random_file(&local.path().join("up.bin"), 2 * 1024 * 1024 + 9, 55);
        let url = format!("ftps://127.0.0.1:{}", implicit.port());
        let out = lftp(
            &server,
            &pki,
            "1.3",
            &url,
            local.path(),
            "put up.bin; get up.bin -o down.bin; cls -1",
        );
        assert_file_is(&server.root().join("up.bin"), &data);
        assert_file_is(&local.path().join("down.bin"), &data);
        assert!(out.stdout.lines().any(|l| l == "up.bin"), "{out}");
        assert!(!server.log().contains("-> AUTH"), "{}", server.log());

        // Verification is on: with another CA, lftp refuses the server.
        let stranger = Pki::new();
        let (script, out) = lftp_run(&stranger, "1.3", &url, local.path(), "cls -1");
        assert_ne!(
            out.code(),
            0,
            "lftp trusted a certificate of another CA: {script:?}: {out}"
        );
        assert!(out.stderr.contains("erif"), "{out}");
    }
}

/// The STARTTLS injection (CVE-2011-0411): a man in the middle appends a
/// command to the client's `AUTH TLS` in the same segment; the server must
/// not run it as though it came under TLS. It answers 234 and closes.
#[test]
fn commands_sent_in_clear_after_auth_tls_are_not_run() {
    let server = Server::start_with(&["--tls-self-signed"]);
    let mut c = server.connect();
    c.expect_greeting();
    c.send_raw(b"AUTH TLS\r\nUSER anonymous\r\n");
    let r = c.read_reply();
    assert_eq!(r.code, 234, "{r:?}");
    // No 331, no TLS: the connection is closed instead.
    c.expect_closed();
    assert!(
        server.wait_for_log("bytes in clear after AUTH TLS", Duration::from_secs(10)),
        "{}",
        server.log()
    );
}
