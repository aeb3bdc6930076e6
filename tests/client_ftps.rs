//! The `cli` binary over TLS (FTPS, RFC 4217) against the real `serv`:
//! explicit TLS (`--tls`: AUTH TLS, PBSZ 0, PROT P) and implicit TLS
//! (`--implicit-tls`, `ftps://`), with the server's certificate accepted
//! blindly (`--insecure`), checked against a test CA (`--ca-file`), or
//! refused, in which case nothing of the login crosses. Every protected
//! data connection must resume the control connection's TLS session, or
//! `serv` refuses it: the server's log shows each transfer accepted.
//!
//! With the feature `interop`, the same round trip against vsftpd
//! (`ssl_enable=YES`, `require_ssl_reuse=YES`, a certificate from a test
//! CA) and pyftpdlib's `TLS_FTPHandler`.

mod common;
#[cfg(feature = "interop")]
mod peers;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{
    assert_file_is, dir_names, run_with_timeout, test_pki, write_random_file, Output, Server,
    PROCESS_TIMEOUT,
};
use ftp::client::{Client, ClientError, Security, StoreMode, TlsConfig, Trust};

const MIB: usize = 1024 * 1024;

const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not checked; anyone on the path can read and change this session";

/// Runs `cli --timeout 20 ARGS...` in `cwd` with `commands` on stdin (batch
/// mode); ARGS name the host (and port) themselves.
fn cli(cwd: &Path, commands: &str, args: &[&str]) -> Output {
    cli_with_env(cwd, commands, args, &[])
}

/// Like [`cli`] with environment variables set.
fn cli_with_env(cwd: &Path, commands: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(cwd)
        .env_remove("FTP_PASSWORD")
        .envs(env.iter().copied())
        .args(["--timeout", "20"])
        .args(args);
    run_with_timeout(cmd, commands.as_bytes(), PROCESS_TIMEOUT)
}

/// Like [`cli`], and every command must succeed.
#[track_caller]
fn cli_ok(server: &Server, cwd: &Path, commands: &str, args: &[&str]) -> Output {
    let out = cli(cwd, commands, args);
    assert_eq!(
        out.code(),
        0,
        "{args:?}: {commands:?} failed: {out}\n--- server log ---\n{}",
        server.log()
    );
    out
}

/// The server accepted every data connection: each of the `transfers` it
/// logged ended `ok`, and none was refused (a data connection that does
/// not resume the control connection's TLS session is refused).
#[track_caller]
fn assert_data_connections_accepted(server: &Server, transfers: usize) {
    let log = server.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| {
            [" download \"", " upload \"", " listing \""]
                .iter()
                .any(|k| l.contains(k))
        })
        .collect();
    assert_eq!(lines.len(), transfers, "transfers in the log:\n{log}");
    for line in &lines {
        assert!(line.ends_with(": ok"), "a transfer failed: {line}\n{log}");
    }
    assert!(!log.contains("refused"), "a connection was refused:\n{log}");
    assert!(!log.contains("resume"), "a resumption failed:\n{log}");
}

/// The server's log shows that nothing of a login came: neither USER nor
/// PASS was received, and nobody logged in.
#[track_caller]
fn assert_no_login(server: &Server) {
    let log = server.log();
    for needle in ["USER", "PASS", " 230 ", "logged in"] {
        assert!(!log.contains(needle), "{needle:?} in the log:\n{log}");
    }
}

fn port_arg(port: u16) -> String {
    port.to_string()
}

#[test]
fn explicit_tls_put_ls_get_come_back_identical() {
    let server = Server::start_with(&["--tls-self-signed", "-v"]);
    let local = tempfile::tempdir().unwrap();
    let size = 5 * MIB + 17;
    let data = write_random_file(&local.path().join("big.bin"), size, 1);
    let port = port_arg(server.port());

    let out = cli_ok(
        &server,
        local.path(),
        "put big.bin\nls\nget big.bin copy.bin\n",
        &["--tls", "--insecure", "127.0.0.1", &port],
    );
    assert_file_is(&server.root().join("big.bin"), &data);
    assert_file_is(&local.path().join("copy.bin"), &data);
    assert_eq!(dir_names(local.path()), ["big.bin", "copy.bin"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.ends_with(" big.bin"))
        .unwrap_or_else(|| panic!("no listing line for big.bin: {out}"));
    assert!(
        line.split_whitespace().any(|f| f == size.to_string()),
        "{line}"
    );
    assert!(
        out.stderr.contains(&format!("put big.bin: {size} bytes")),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!("get big.bin: {size} bytes")),
        "{out}"
    );
    // --insecure warns, once.
    assert_eq!(out.stderr.matches(INSECURE_WARNING).count(), 1, "{out}");

    // AUTH TLS came first, before anything of the login; then PBSZ, PROT.
    let log = server.log();
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the log:\n{log}"))
    };
    assert!(at("AUTH TLS") < at("USER anonymous"), "{log}");
    assert!(at("USER anonymous") < at("PBSZ 0"), "{log}");
    assert!(at("PBSZ 0") < at("PROT P"), "{log}");
    assert!(at("PROT P") < at("STOR big.bin"), "{log}");
    assert_data_connections_accepted(&server, 3);
}

#[test]
fn status_shows_the_tls_version_cipher_suite_and_prot_p() {
    let server = Server::start_with(&["--tls-self-signed"]);
    let local = tempfile::tempdir().unwrap();
    let port = port_arg(server.port());

    let out = cli_ok(
        &server,
        local.path(),
        "status\nls\nstatus\n",
        &["--tls", "--insecure", "127.0.0.1", &port],
    );
    let tls_lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("tls: "))
        .collect();
    assert_eq!(tls_lines.len(), 2, "{out}");
    for line in &tls_lines {
        assert!(
            line.starts_with("tls: TLSv1_3 TLS13_") || line.starts_with("tls: TLSv1_2 TLS_"),
            "{line}"
        );
        assert!(line.contains("(explicit, AUTH TLS)"), "{line}");
        assert!(line.contains("NOT checked (--insecure)"), "{line}");
    }
    let data: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("data protection: "))
        .collect();
    assert_eq!(data.len(), 2, "{out}");
    assert!(data[0].contains("private (PROT P)"), "{out}");
    // After the listing: its data connection resumed the session.
    assert!(
        data[1].contains("resumed the control connection's session"),
        "{out}"
    );

    // A plain session says it is plain.
    let plain = Server::start();
    let out = cli_ok(
        &plain,
        local.path(),
        "status\n",
        &["127.0.0.1", &port_arg(plain.port())],
    );
    assert!(out.stdout.contains("tls: none (plain FTP"), "{out}");
    assert!(out.stdout.contains("data protection: none"), "{out}");
}

#[test]
fn many_protected_transfers_in_one_session_all_resume() {
    let server = Server::start_with(&["--tls-self-signed"]);
    let local = tempfile::tempdir().unwrap();
    let port = port_arg(server.port());
    let mut files = Vec::new();
    for i in 0..6 {
        let name = format!("f{i}.bin");
        let bytes = write_random_file(&local.path().join(&name), 100_000 + i * 999, i as u64);
        files.push((name, bytes));
    }
    let down = local.path().join("down");
    fs::create_dir(&down).unwrap();

    // Uploads, a listing and downloads in one session, half of them in
    // active mode: fifteen data connections, each resuming.
    cli_ok(
        &server,
        local.path(),
        "mput f0.bin f1.bin f2.bin\nactive\nmput f3.bin f4.bin f5.bin\nnls\nlcd down\nmget *.bin\npassive\nget f0.bin again.bin\n",
        &["--tls", "--insecure", "127.0.0.1", &port],
    );
    for (name, bytes) in &files {
        assert_file_is(&server.root().join(name), bytes);
        assert_file_is(&down.join(name), bytes);
    }
    assert_file_is(&down.join("again.bin"), &files[0].1);
    // 6 uploads, nls, mget's own listing, 6 downloads, get.
    assert_data_connections_accepted(&server, 15);
}

#[test]
fn implicit_tls_on_its_port_and_as_an_ftps_url() {
    let (server, implicit) =
        Server::start_implicit_tls(&["--tls-self-signed", "--implicit-tls-port", "0", "-v"]);
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("up.bin"), 3 * MIB + 5, 3);
    let port = port_arg(implicit.port());

    let out = cli_ok(
        &server,
        local.path(),
        "put up.bin\nls\nget up.bin copy.bin\nstatus\n",
        &["--implicit-tls", "--insecure", "127.0.0.1", &port],
    );
    assert_file_is(&server.root().join("up.bin"), &data);
    assert_file_is(&local.path().join("copy.bin"), &data);
    assert!(out.stdout.contains("(implicit)"), "{out}");
    assert!(out.stdout.contains("private (PROT P)"), "{out}");

    // ftps://HOST:PORT/ means the same, without a flag.
    let url = format!("ftps://127.0.0.1:{port}/");
    let out = cli_ok(
        &server,
        local.path(),
        "get up.bin url.bin\nstatus\n",
        &["--insecure", &url],
    );
    assert_file_is(&local.path().join("url.bin"), &data);
    assert!(out.stdout.contains("(implicit)"), "{out}");
    // No AUTH on the implicit port: the handshake came first.
    assert!(!server.log().contains("AUTH"), "{}", server.log());
    assert_data_connections_accepted(&server, 4);

    // The certificate is checked on the implicit port as well.
    let out = cli(
        local.path(),
        "ls\n",
        &["--implicit-tls", "127.0.0.1", &port],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("certificate was refused"), "{out}");

    // The shell's open takes the URL too.
    let out = cli_ok(
        &server,
        local.path(),
        &format!("open {url}\nget up.bin open.bin\n"),
        &["--insecure"],
    );
    assert_file_is(&local.path().join("open.bin"), &data);
    assert!(out.stderr.contains("connected to 127.0.0.1"), "{out}");
}

#[test]
fn require_tls_refuses_a_plain_login_and_takes_tls() {
    let server = Server::start_with(&["--tls-self-signed", "--require-tls"]);
    let local = tempfile::tempdir().unwrap();
    let port = port_arg(server.port());

    let out = cli(local.path(), "ls\n", &["127.0.0.1", &port]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("530"), "{out}");
    assert!(out.stderr.contains("requires TLS"), "{out}");

    let data = write_random_file(&local.path().join("a.bin"), 70_000, 4);
    cli_ok(
        &server,
        local.path(),
        "put a.bin\nget a.bin b.bin\n",
        &["--tls", "--insecure", "127.0.0.1", &port],
    );
    assert_file_is(&local.path().join("b.bin"), &data);
}

#[test]
fn an_untrusted_certificate_stops_before_the_login() {
    let server = Server::start_with(&["--tls-self-signed", "-v"]);
    let local = tempfile::tempdir().unwrap();
    let port = port_arg(server.port());

    let out = cli(
        local.path(),
        "ls\n",
        &[
            "--tls",
            "--user",
            "alice",
            "--password",
            "s3cret",
            "127.0.0.1",
            &port,
        ],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("certificate"), "{out}");
    assert!(
        out.stderr
            .contains("not signed by a certificate authority this client trusts"),
        "{out}"
    );
    assert!(
        out.stderr.contains("--ca-file"),
        "the way out is named: {out}"
    );
    assert!(!out.stderr.contains(INSECURE_WARNING), "{out}");
    // The server saw AUTH TLS and a failed handshake, nothing more.
    assert!(server.wait_for_log("AUTH TLS", Duration::from_secs(5)));
    assert_no_login(&server);
    assert!(!server.log().contains("s3cret"));
}

#[test]
fn an_empty_system_trust_store_is_named_in_the_refusal() {
    let server = Server::start_with(&["--tls-self-signed", "-v"]);
    let local = tempfile::tempdir().unwrap();
    let empty = local.path().join("empty.pem");
    fs::write(&empty, "").unwrap();
    let empty_dir = tempfile::tempdir().unwrap();
    // rustls-native-certs reads these instead of the platform's store.
    let out = cli_with_env(
        local.path(),
        "ls\n",
        &["--tls", "127.0.0.1", &port_arg(server.port())],
        &[
            ("SSL_CERT_FILE", empty.to_str().unwrap()),
            ("SSL_CERT_DIR", empty_dir.path().to_str().unwrap()),
        ],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("the system trust store has no CA certificates"),
        "{out}"
    );
    assert!(out.stderr.contains("--ca-file"), "{out}");
    assert_no_login(&server);
}

#[test]
fn a_server_that_refuses_auth_tls_gets_no_password() {
    let server = Server::start_with(&["-v"]);
    let local = tempfile::tempdir().unwrap();
    let port = port_arg(server.port());

    let out = cli(
        local.path(),
        "ls\n",
        &[
            "--tls",
            "--insecure",
            "--user",
            "alice",
            "--password",
            "s3cret",
            "127.0.0.1",
            &port,
        ],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("refused AUTH TLS"), "{out}");
    assert!(out.stderr.contains("no password was sent"), "{out}");
    assert!(server.wait_for_log("AUTH TLS", Duration::from_secs(5)));
    assert_no_login(&server);
}

#[test]
fn a_ca_file_checks_the_certificate_without_insecure() {
    let certs = tempfile::tempdir().unwrap();
    let pki = test_pki(certs.path(), "test-ca", &["127.0.0.1", "localhost"]);
    let other = test_pki(certs.path(), "other-ca", &["127.0.0.1"]);
    let server = Server::start_with(&[
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("a.bin"), 2 * MIB + 1, 5);
    let port = port_arg(server.port());
    let ca = pki.ca.to_str().unwrap();

    let out = cli_ok(
        &server,
        local.path(),
        "put a.bin\nls\nget a.bin b.bin\nstatus\n",
        &["--tls", "--ca-file", ca, "127.0.0.1", &port],
    );
    assert_file_is(&local.path().join("b.bin"), &data);
    assert!(
        out.stdout.contains(&format!("checked against {ca}")),
        "{out}"
    );
    assert!(!out.stderr.contains("warning"), "{out}");
    // By name too: the certificate names localhost.
    cli_ok(
        &server,
        local.path(),
        "get a.bin c.bin\n",
        &["--tls", "--ca-file", ca, "localhost", &port],
    );
    assert_file_is(&local.path().join("c.bin"), &data);
    assert_data_connections_accepted(&server, 4);

    // Another CA does not vouch for it.
    let out = cli(
        local.path(),
        "ls\n",
        &[
            "--tls",
            "--ca-file",
            other.ca.to_str().unwrap(),
            "127.0.0.1",
            &port,
        ],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("not signed by a certificate authority this client trusts"),
        "{out}"
    );
    assert!(out.stderr.contains("other-ca.pem"), "{out}");

    // A name the certificate does not carry.
    let only_localhost = test_pki(certs.path(), "named-ca", &["localhost"]);
    let named = Server::start_with(&[
        "--tls-cert",
        only_localhost.cert.to_str().unwrap(),
        "--tls-key",
        only_localhost.key.to_str().unwrap(),
    ]);
    let out = cli(
        local.path(),
        "ls\n",
        &[
            "--tls",
            "--ca-file",
            only_localhost.ca.to_str().unwrap(),
            "127.0.0.1",
            &port_arg(named.port()),
        ],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("not valid for name"), "{out}");

    // A CA file that is missing or holds no certificate.
    let out = cli(
        local.path(),
        "ls\n",
        &["--tls", "--ca-file", "/nonexistent.pem", "127.0.0.1", &port],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("cannot read the CA file /nonexistent.pem"),
        "{out}"
    );
    let junk = certs.path().join("junk.pem");
    fs::write(&junk, "not a certificate\n").unwrap();
    let out = cli(
        local.path(),
        "ls\n",
        &[
            "--tls",
            "--ca-file",
            junk.to_str().unwrap(),
            "127.0.0.1",
            &port,
        ],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("holds no certificate"), "{out}");
}

#[test]
fn ctrl_c_during_a_protected_transfer_aborts_and_the_session_goes_on() {
    let server = Server::start_with(&["--tls-self-signed"]);
    let size = 48 * MIB;
    let data = write_random_file(&server.root().join("big.bin"), size, 6);
    let config = TlsConfig::new(&Trust::Insecure).unwrap();
    let mut client = Client::connect_with(
        "127.0.0.1",
        server.port(),
        Duration::from_secs(20),
        &Security::Explicit(config),
    )
    .expect("connect");
    client.login("anonymous", "x@").expect("login");
    assert!(client.data_protected());

    // Ctrl-C after the first chunk of a download, then of an upload.
    let interrupt = Arc::clone(&client.interrupt);
    let mut sink = Vec::new();
    let err = client
        .retrieve("big.bin", &mut sink, 0, &mut |_| {
            interrupt.store(true, Ordering::SeqCst)
        })
        .unwrap_err();
    assert!(matches!(err, ClientError::Interrupted(_)), "{err}");
    assert!(sink.len() < size, "the download was cut");
    client.interrupt.store(false, Ordering::SeqCst);

    let interrupt = Arc::clone(&client.interrupt);
    let err = client
        .store(&mut &data[..], "up.bin", StoreMode::Replace, &mut |_| {
            interrupt.store(true, Ordering::SeqCst)
        })
        .unwrap_err();
    assert!(matches!(err, ClientError::Interrupted(_)), "{err}");
    client.interrupt.store(false, Ordering::SeqCst);

    // The session is in step: a whole download, then a listing.
    let mut sink = Vec::new();
    client
        .retrieve("big.bin", &mut sink, 0, &mut |_| {})
        .expect("download after the aborts");
    assert!(sink == data, "the download after the aborts is whole");
    let listing = client.list(None, true).expect("listing");
    assert!(listing.contains("big.bin"), "{listing}");
    assert!(client.last_data_tls().is_some_and(|t| t.resumed));
    client.quit().expect("quit");
}

/// `cli --tls --ca-file` against other servers: vsftpd, which refuses
/// data connections that do not resume the control connection's session
/// (`require_ssl_reuse=YES`), and pyftpdlib's TLS handler.
#[cfg(feature = "interop")]
mod interop {
    use super::*;
    use peers::Peer;

    /// Uploads, a listing and downloads in one session, in passive and
    /// active mode: every file comes back identical, over TLS `version`.
    fn round_trip(peer: &Peer, ca: &Path, version: &str) {
        let local = tempfile::tempdir().unwrap();
        let size = 6 * MIB + 3;
        let big = write_random_file(&local.path().join("big.bin"), size, 21);
        let small: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                write_random_file(
                    &local.path().join(format!("s{i}.txt")),
                    5000 + i,
                    30 + i as u64,
                )
            })
            .collect();
        let down = local.path().join("down");
        fs::create_dir(&down).unwrap();
        let port = port_arg(peer.port());
        let commands = format!(
            "cd {work}\nput big.bin\nmput s0.txt s1.txt s2.txt\nls\nlcd down\nget big.bin\nmget s*.txt\nactive\nget big.bin active.bin\nput s0.txt active.txt\nstatus\n",
            work = peer.remote_work()
        );
        let out = cli(
            local.path(),
            &commands,
            &[
                "--tls",
                "--ca-file",
                ca.to_str().unwrap(),
                "127.0.0.1",
                &port,
            ],
        );
        assert_eq!(
            out.code(),
            0,
            "{:?}: {out}\n--- peer log ---\n{}",
            peer.kind(),
            peer.log()
        );
        assert_file_is(&peer.work().join("big.bin"), &big);
        assert_file_is(&down.join("big.bin"), &big);
        assert_file_is(&down.join("active.bin"), &big);
        assert_file_is(&peer.work().join("active.txt"), &small[0]);
        for (i, bytes) in small.iter().enumerate() {
            assert_file_is(&peer.work().join(format!("s{i}.txt")), bytes);
            assert_file_is(&down.join(format!("s{i}.txt")), bytes);
        }
        let line = out
            .stdout
            .lines()
            .find(|l| l.ends_with(" big.bin"))
            .unwrap_or_else(|| panic!("no listing line for big.bin: {out}"));
        assert!(
            line.split_whitespace().any(|f| f == size.to_string()),
            "{line}"
        );
        assert!(
            out.stdout.contains(&format!("tls: {version} ")),
            "{version}: {out}"
        );
        assert!(out.stdout.contains("private (PROT P)"), "{out}");
    }

    #[test]
    fn vsftpd_with_require_ssl_reuse() {
        let certs = tempfile::tempdir().unwrap();
        let pki = test_pki(certs.path(), "vsftpd-ca", &["127.0.0.1"]);
        let peer = Peer::vsftpd_tls(&pki.cert, &pki.key);
        // vsftpd 3.0.3's default ssl_ciphers (3DES) leave rustls no TLS 1.2
        // suite: the client tries again offering TLS 1.3, and every data
        // connection resumes with the ticket vsftpd sent on the last one.
        round_trip(&peer, &pki.ca, "TLSv1_3");
        tls13_transfers_all_resume(&peer, &pki.ca);

        // vsftpd forces TLS on anonymous logins: plain FTP is refused.
        let local = tempfile::tempdir().unwrap();
        let out = cli(local.path(), "ls\n", &["127.0.0.1", &port_arg(peer.port())]);
        assert_eq!(out.code(), 1, "{out}");
    }

    #[test]
    fn pyftpdlib_tls_handler() {
        let certs = tempfile::tempdir().unwrap();
        let pki = test_pki(certs.path(), "pyftpdlib-ca", &["127.0.0.1"]);
        let peer = Peer::pyftpdlib_tls(&pki.cert, &pki.key);
        round_trip(&peer, &pki.ca, "TLSv1_2");
        tls13_transfers_all_resume(&peer, &pki.ca);
    }

    /// Over TLS 1.3 (`TlsConfig::with_tls13`), against a server that sends
    /// a session ticket on every resumed data connection (OpenSSL does):
    /// a dozen data connections in one session, uploads among them, each
    /// resuming with a fresh ticket.
    fn tls13_transfers_all_resume(peer: &Peer, ca: &Path) {
        let config = TlsConfig::with_tls13(&Trust::CaFile(ca.to_path_buf())).unwrap();
        let mut client = Client::connect_with(
            "127.0.0.1",
            peer.port(),
            Duration::from_secs(20),
            &Security::Explicit(config),
        )
        .expect("connect");
        client.login("anonymous", "x@").expect("login");
        client.cwd(peer.remote_work()).expect("cwd");
        assert_eq!(client.tls_info().unwrap().version, "TLSv1_3");
        for i in 0..4u64 {
            let bytes = common::pseudo_random(300_000 + i as usize, 70 + i);
            let name = format!("t13-{i}.bin");
            client
                .store(&mut &bytes[..], &name, StoreMode::Replace, &mut |_| {})
                .unwrap_or_else(|e| panic!("upload {i}: {e}\n{}", peer.log()));
            let data = client.last_data_tls().unwrap().clone();
            assert!(
                data.resumed && data.version == "TLSv1_3",
                "upload {i}: {data:?}"
            );
            let listing = client.list(None, false).expect("listing");
            assert!(listing.contains(&name), "{listing}");
            assert!(client.last_data_tls().unwrap().resumed, "listing {i}");
            let mut back = Vec::new();
            client
                .retrieve(&name, &mut back, 0, &mut |_| {})
                .unwrap_or_else(|e| panic!("download {i}: {e}\n{}", peer.log()));
            assert!(back == bytes, "download {i} differs");
            assert!(client.last_data_tls().unwrap().resumed, "download {i}");
        }
        client.quit().expect("quit");
    }
}
