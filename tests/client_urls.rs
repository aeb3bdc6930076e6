//! `cli URL` against the real `serv`: a URL naming a file downloads it and
//! exits 0 (BSD ftp's auto-fetch), to `-o FILE` or standard output too; a
//! URL naming a directory opens the session there; user, password and
//! path are percent-decoded; the port comes from the URL or the command
//! line; `~/.netrc` and `--netrc-file` give the login (machine, default,
//! missing), with a warning when others can read the file.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{
    assert_file_is, dir_names, run_serv, run_with_timeout, write_random_file, Output, Server,
};

/// `cli ARGS...` in `cwd`, with `HOME` at `home` and no `$NETRC` or
/// `$FTP_PASSWORD`, stdin empty.
fn cli(cwd: &Path, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(cwd)
        .env_remove("FTP_PASSWORD")
        .env_remove("NETRC")
        .env("HOME", home)
        .args(["--timeout", "20"])
        .args(args);
    run_with_timeout(cmd, b"", std::time::Duration::from_secs(120))
}

/// A server with a users file: alice (`wonder land@1`), anonymous refused.
fn server_with_alice() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let out = run_serv(&["--hash-password"], b"wonder land@1\n");
    assert_eq!(out.code(), 0, "{out}");
    let users = dir.path().join("users");
    fs::write(&users, format!("alice:{}\n", out.stdout.trim())).unwrap();
    let server = Server::start_with(&["--users", users.to_str().unwrap()]);
    (dir, server)
}

fn publish(server: &Server) -> Vec<u8> {
    fs::create_dir_all(server.root().join("pub/sub dir")).unwrap();
    write_random_file(&server.root().join("pub/file.iso"), 2_000_000, 11)
}

#[test]
fn a_file_url_downloads_the_file_and_exits_0() {
    let server = Server::start();
    let data = publish(&server);
    let here = tempfile::tempdir().unwrap();
    let url = format!("ftp://localhost:{}/pub/file.iso", server.port());
    let out = cli(here.path(), here.path(), &[&url]);
    assert_eq!(out.code(), 0, "{out}");
    assert_file_is(&here.path().join("file.iso"), &data);
    assert_eq!(dir_names(here.path()), ["file.iso"]);

    // -o FILE, and the port on the command line instead of in the URL.
    let url = "ftp://127.0.0.1/pub/file.iso";
    let port = server.port().to_string();
    let out = cli(here.path(), here.path(), &["-o", "copy.iso", url, &port]);
    assert_eq!(out.code(), 0, "{out}");
    assert_file_is(&here.path().join("copy.iso"), &data);

    // -o - writes it to standard output.
    fs::write(server.root().join("pub/small.txt"), "hello\n").unwrap();
    let url = format!("ftp://127.0.0.1:{}/pub/small.txt", server.port());
    let out = cli(here.path(), here.path(), &["-o", "-", &url]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "hello\n");
}

#[test]
fn a_missing_file_exits_1_and_leaves_nothing() {
    let server = Server::start();
    publish(&server);
    let here = tempfile::tempdir().unwrap();
    let url = format!("ftp://127.0.0.1:{}/pub/nope.iso", server.port());
    let out = cli(here.path(), here.path(), &[&url]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("550"), "{out}");
    assert!(dir_names(here.path()).is_empty());
}

#[test]
fn a_directory_url_opens_the_session_there() {
    let server = Server::start();
    publish(&server);
    let here = tempfile::tempdir().unwrap();
    for path in ["pub/sub%20dir/", "pub/sub%20dir"] {
        let url = format!("ftp://127.0.0.1:{}/{path}", server.port());
        let out = cli(here.path(), here.path(), &["-c", "pwd", &url]);
        assert_eq!(out.code(), 0, "{out}");
        assert_eq!(out.stdout, "/pub/sub dir\n", "{path}: {out}");
    }
    // A trailing / means a directory: a file there is an error, not a fetch.
    let url = format!("ftp://127.0.0.1:{}/pub/file.iso/", server.port());
    let out = cli(here.path(), here.path(), &["-c", "pwd", &url]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(dir_names(here.path()).is_empty());
}

#[test]
fn credentials_in_the_url_are_decoded_and_used() {
    let (_guard, server) = server_with_alice();
    let data = publish(&server);
    let here = tempfile::tempdir().unwrap();
    let url = format!(
        "ftp://alice:wonder%20land%401@127.0.0.1:{}/pub/file.iso",
        server.port()
    );
    let out = cli(here.path(), here.path(), &[&url]);
    assert_eq!(out.code(), 0, "{out}");
    assert_file_is(&here.path().join("file.iso"), &data);
    // The same without the password, or a wrong one: refused, exit 1.
    let url = format!("ftp://alice:nope@127.0.0.1:{}/pub/file.iso", server.port());
    let out = cli(here.path(), here.path(), &["-o", "x", &url]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("530"), "{out}");
    let url = format!("ftp://alice@127.0.0.1:{}/pub/file.iso", server.port());
    let out = cli(here.path(), here.path(), &["-o", "x", &url]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("no password for alice"), "{out}");
    assert!(!here.path().join("x").exists());
}

/// Writes a netrc file with `mode`.
fn netrc(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn netrc_machine_and_default_entries_give_the_login() {
    let (_guard, server) = server_with_alice();
    let data = publish(&server);
    let home = tempfile::tempdir().unwrap();
    let here = tempfile::tempdir().unwrap();
    let url = format!("ftp://127.0.0.1:{}/pub/file.iso", server.port());

    // ~/.netrc, machine entry, private: no warning.
    netrc(
        &home.path().join(".netrc"),
        "machine other login x password y\nmachine 127.0.0.1 login alice password \"wonder land@1\"\n",
        0o600,
    );
    let out = cli(here.path(), home.path(), &[&url]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!out.stderr.contains("warning"), "{out}");
    assert_file_is(&here.path().join("file.iso"), &data);

    // --netrc-file with only a default entry, readable by others: used,
    // with a warning.
    let other = home.path().join("other-netrc");
    netrc(
        &other,
        "default login alice password \"wonder land@1\"\n",
        0o644,
    );
    let out = cli(
        here.path(),
        home.path(),
        &["--netrc-file", other.to_str().unwrap(), "-o", "d.iso", &url],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("can be read by others"),
        "{out}"
    );
    assert_file_is(&here.path().join("d.iso"), &data);

    // No entry for the host: anonymous, which this server refuses.
    netrc(
        &home.path().join(".netrc"),
        "machine elsewhere login alice password p\n",
        0o600,
    );
    let out = cli(here.path(), home.path(), &["-o", "m.iso", &url]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("login as anonymous"), "{out}");

    // A named netrc file that does not exist is an error.
    let out = cli(
        here.path(),
        home.path(),
        &["--netrc-file", "/nonexistent/netrc", &url],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("/nonexistent/netrc"), "{out}");
}

#[test]
fn a_url_opens_a_session_for_batch_commands_with_netrc() {
    let (_guard, server) = server_with_alice();
    publish(&server);
    let home = tempfile::tempdir().unwrap();
    netrc(
        &home.path().join(".netrc"),
        "machine 127.0.0.1\n  login alice\n  password \"wonder land@1\"\n",
        0o600,
    );
    let here = tempfile::tempdir().unwrap();
    let url = format!("ftp://127.0.0.1:{}/", server.port());
    let out = cli(here.path(), home.path(), &["-c", "cd pub; pwd", &url]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "/pub\n");
    // The plain HOST PORT form reads the netrc too.
    let port = server.port().to_string();
    let out = cli(here.path(), home.path(), &["-c", "pwd", "127.0.0.1", &port]);
    assert_eq!(out.code(), 0, "{out}");
}

#[test]
fn open_takes_a_url_with_credentials_and_a_directory() {
    let (_guard, server) = server_with_alice();
    publish(&server);
    let here = tempfile::tempdir().unwrap();
    let line = format!(
        "open ftp://alice:wonder%20land%401@127.0.0.1:{}/pub/sub%20dir; pwd",
        server.port()
    );
    let out = cli(here.path(), here.path(), &["-c", &line]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "/pub/sub dir\n");
    // The netrc's entry serves `open HOST` when the session was anonymous.
    fs::write(
        here.path().join(".netrc"),
        "machine 127.0.0.1 login alice password \"wonder land@1\"\n",
    )
    .unwrap();
    fs::set_permissions(
        here.path().join(".netrc"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let line = format!("open 127.0.0.1 {}; pwd", server.port());
    let out = cli(here.path(), here.path(), &["-c", &line]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "/\n");
}
