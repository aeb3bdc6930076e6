//! `serv --config` and `--check-config`: a typo is reported with its line
//! and exits 1; the sample contrib/serv.toml is accepted on a fresh
//! machine; flags override the file; SIGHUP reloads accounts without
//! dropping sessions, ends a removed user's session with 421 at its next
//! command, and keeps the old accounts when the new file is broken.

mod common;

use std::fs;
use std::io::Write;
use std::net::Shutdown;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{connect_with_timeout, run_serv, Control, Server};

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ftp::server::auth::hash_password("pw"))
}

fn user(name: &str) -> String {
    format!(
        "[[users]]\nname = {name:?}\npassword = {:?}\npermissions = [\"list\", \"download\", \"upload\"]\n",
        hash()
    )
}

fn hup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `needle` occurs `count` times in the server's log.
fn wait_for_count(server: &Server, needle: &str, count: usize) {
    let seen = server.wait_for_count(needle, count, Duration::from_secs(10));
    assert!(
        seen >= count,
        "no {count}x {needle:?} in the log:\n{}",
        server.log()
    );
}

fn try_login(server: &Server, name: &str) -> u16 {
    let mut c = server.connect();
    c.expect_greeting();
    c.expect(&format!("USER {name}"), 331);
    c.cmd("PASS pw").code
}

fn login(server: &Server, name: &str) -> Control {
    let mut c = server.connect();
    c.expect_greeting();
    c.expect(&format!("USER {name}"), 331);
    c.expect("PASS pw", 230);
    c
}

#[test]
fn check_config_reports_a_typo_with_its_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    fs::write(
        &path,
        "root = \"/srv/ftp\"\nport = 21\n\n[anonymous]\nenabled = true\nhome = \"/pub\"\npermisions = [\"list\"]\n",
    )
    .unwrap();
    let out = run_serv(&["--check-config", path.to_str().unwrap()], b"");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("line 7"), "{out}");
    assert!(out.stderr.contains("permisions"), "{out}");
    assert!(out.stderr.contains("serv.toml"), "{out}");
    // The server itself refuses to start on it, with the same words.
    let out = run_serv(&["--config", path.to_str().unwrap(), "0"], b"");
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("line 7"), "{out}");
}

#[test]
fn check_config_accepts_the_sample_and_hides_the_hashes() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/serv.toml");
    let out = run_serv(&["--check-config", sample.to_str().unwrap()], b"");
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("user alice"), "{out}");
    assert!(
        out.stdout.contains("anonymous: enabled, home /pub"),
        "{out}"
    );
    assert!(!out.stdout.contains("$argon2id"), "{out}");
    assert!(!out.stderr.contains("$argon2id"), "{out}");
    // Missing paths are warnings on a machine that is not the server.
    let out_missing =
        out.stderr.contains("warning:") || Path::new("/etc/serv/privkey.pem").exists();
    assert!(out_missing, "{out}");
}

#[test]
fn a_wrong_type_fails_start_up_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    fs::write(&path, "max_sessions = \"many\"\n").unwrap();
    let out = run_serv(&["--config", path.to_str().unwrap(), "0"], b"");
    assert_ne!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("bad.toml")
            && out.stderr.contains("line 1")
            && out.stderr.contains("max_sessions"),
        "{out}"
    );
}

#[test]
fn flags_given_on_the_command_line_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    // The harness passes --root, --bind and port 0: the file's values,
    // which could not be served here, are overridden. idle_timeout is
    // overridden by the flag; max_sessions, given only in the file, holds.
    fs::write(
        &path,
        "root = \"/nonexistent/ftp\"\nport = 1\nbind = \"192.0.2.1\"\nidle_timeout = \"1h\"\nmax_sessions = 1\n[anonymous]\n",
    )
    .unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap(), "--idle-timeout", "1"]);
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("USER anonymous", 331);
    c.expect("PASS x", 230);
    // max_sessions = 1 from the file: a second connection is refused.
    let mut second = server.connect();
    let refused = second.read_reply();
    assert_eq!(refused.code, 421, "{refused:?}");
    // --idle-timeout 1 from the command line, not the file's hour.
    let idle = c.read_reply();
    assert_eq!(idle.code, 421, "{idle:?}");
    assert!(idle.text().contains("idle"), "{idle:?}");
}

#[test]
fn sighup_adds_a_user_while_a_download_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    fs::write(&path, user("alice")).unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap()]);
    let big = common::write_random_file(&server.root().join("big"), 32 << 20, 7);
    assert_ne!(try_login(&server, "carol"), 230);

    let mut alice = login(&server, "alice");
    alice.expect("TYPE I", 200);
    let port = alice.pasv();
    let mut data = connect_with_timeout(port);
    alice.expect("RETR big", 150);
    let mut got = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut data, &mut got).unwrap();

    fs::write(&path, user("alice") + &user("carol")).unwrap();
    hup(&server);
    wait_for_count(&server, "reloaded (accounts", 1);
    let mut carol = login(&server, "carol");
    carol.expect("NOOP", 200);

    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut data, &mut rest).unwrap();
    got.extend_from_slice(&rest);
    assert_eq!(alice.read_reply().code, 226);
    common::assert_same_bytes(&got, &big, "the download across the reload");
    alice.expect("NOOP", 200);
}

#[test]
fn sighup_ends_a_removed_users_session_at_its_next_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    fs::write(&path, user("alice") + &user("bob")).unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap()]);
    let mut alice = login(&server, "alice");
    let mut bob = login(&server, "bob");
    fs::write(&path, user("bob")).unwrap();
    hup(&server);
    wait_for_count(&server, "reloaded (accounts", 1);
    let reply = alice.cmd("NOOP");
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text().contains("no longer exists"), "{reply:?}");
    alice.expect_closed();
    bob.expect("NOOP", 200);
    assert_ne!(try_login(&server, "alice"), 230);
}

#[test]
fn a_broken_config_on_sighup_keeps_the_old_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    fs::write(&path, user("alice")).unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap()]);
    let mut alice = login(&server, "alice");
    // A typo, and a new user that must not appear.
    fs::write(
        &path,
        "max_sesions = 3\n".to_string() + &user("alice") + &user("carol"),
    )
    .unwrap();
    hup(&server);
    wait_for_count(&server, "not reloaded, the old settings stay", 1);
    // The message spans lines (toml shows the line it refused); the pipe
    // may deliver them apart.
    wait_for_count(&server, "max_sesions", 1);
    alice.expect("NOOP", 200);
    assert_eq!(try_login(&server, "alice"), 230);
    assert_ne!(try_login(&server, "carol"), 230);
    // A change that needs a restart is named.
    fs::write(
        &path,
        "pasv_ports = \"50000-50010\"\n".to_string() + &user("alice"),
    )
    .unwrap();
    hup(&server);
    wait_for_count(&server, "pasv_ports changed", 1);
}

#[test]
fn without_a_config_anonymous_may_still_write() {
    let server = Server::start();
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("USER anonymous", 331);
    c.expect("PASS x", 230);
    let port = c.pasv();
    let mut data = connect_with_timeout(port);
    c.expect("STOR put.txt", 150);
    data.write_all(b"assignment").unwrap();
    data.shutdown(Shutdown::Write).unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    assert_eq!(
        fs::read(server.root().join("put.txt")).unwrap(),
        b"assignment"
    );
}

#[test]
fn the_defender_section_sets_the_ban_and_a_reload_changes_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    fs::write(
        &path,
        "[defender]\nmax_failures = 0\n".to_string() + &user("alice"),
    )
    .unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap()]);
    let fail_once = || {
        let mut c = server.connect();
        c.expect_greeting();
        c.expect("USER alice", 331);
        c.expect("PASS wrong", 530);
    };
    // max_failures = 0: never banned.
    fail_once();
    fail_once();
    server.connect().expect_greeting();

    fs::write(
        &path,
        "[defender]\nmax_failures = 1\nwindow = \"10m\"\nban = \"7m\"\n".to_string()
            + &user("alice"),
    )
    .unwrap();
    hup(&server);
    wait_for_count(&server, "reloaded (accounts", 1);
    fail_once();
    wait_for_count(
        &server,
        "banned 127.0.0.1 for 420 s after 1 failed logins",
        1,
    );
    let mut c = server.connect();
    let r = c.read_reply();
    assert_eq!(r.code, 421, "{r:?}");
}

/// Seconds one 2 MiB download of `name` takes.
fn download_two_mib(server: &Server, name: &str) -> Duration {
    let mut c = login(server, name);
    c.expect("TYPE I", 200);
    let port = c.pasv();
    let started = Instant::now();
    c.expect("RETR two", 150);
    let got = common::read_all(connect_with_timeout(port));
    assert_eq!(c.read_reply().code, 226);
    assert_eq!(got.len(), 2 << 20);
    started.elapsed()
}

#[test]
fn a_users_own_rate_from_the_file_holds_only_that_user_and_a_reload_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    let limited = user("alice") + "download_rate = \"512KiB\"\n" + &user("bob");
    fs::write(&path, &limited).unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap()]);
    common::write_random_file(&server.root().join("two"), 2 << 20, 3);

    // 2 MiB at 512 KiB/s: about 3.9 s; unlimited, milliseconds. A lower
    // bound for the held user, a loose upper one for the free one.
    let alice = download_two_mib(&server, "alice");
    assert!(
        alice > Duration::from_millis(2500),
        "alice took only {alice:?}"
    );
    let bob = download_two_mib(&server, "bob");
    assert!(
        bob < Duration::from_secs(2),
        "bob is not limited, yet took {bob:?}"
    );

    fs::write(&path, user("alice") + &user("bob")).unwrap();
    hup(&server);
    wait_for_count(&server, "reloaded (accounts", 1);
    let lifted = download_two_mib(&server, "alice");
    assert!(
        lifted < Duration::from_secs(2),
        "the reload kept alice's rate: {lifted:?}"
    );
}

/// A careless administrator's "never": a timeout or ban of u64::MAX
/// seconds used to overflow `now + timeout` and panic in every session.
/// Such values are refused at start-up, from flags and from the file;
/// the longest allowed ones serve logins, transfers and bans.
#[test]
fn timeouts_too_long_to_add_to_now_are_refused_and_the_longest_allowed_work() {
    let huge = u64::MAX.to_string();
    for flag in [
        "--idle-timeout",
        "--login-timeout",
        "--data-timeout",
        "--stall-timeout",
        "--ban-time",
        "--ban-window",
    ] {
        let out = run_serv(&[flag, &huge, "0"], b"");
        assert_eq!(out.code(), 2, "{flag}: {out}");
        assert!(out.stderr.contains(flag), "{flag}: {out}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.toml");
    for text in [
        format!("idle_timeout = {huge}\n"),
        "[defender]\nban = \"999999999999d\"\n".to_string(),
    ] {
        fs::write(&path, &text).unwrap();
        let out = run_serv(&["--check-config", path.to_str().unwrap()], b"");
        assert_eq!(out.code(), 1, "{text}: {out}");
        assert!(out.stderr.contains("too long"), "{text}: {out}");
    }

    let max = ftp::limits::MAX_SETTING_SECS.to_string();
    let mut args = vec!["--ban-failures", "1"];
    for flag in [
        "--idle-timeout",
        "--login-timeout",
        "--data-timeout",
        "--stall-timeout",
        "--ban-time",
        "--ban-window",
    ] {
        args.extend([flag, max.as_str()]);
    }
    let mut server = Server::start_with(&args);
    let mut c = server.login();
    let port = c.pasv();
    let data = connect_with_timeout(port);
    c.expect("NLST", 150);
    drop(data);
    c.read_reply();
    let mut guesser = server.connect();
    guesser.expect_greeting();
    guesser.expect("USER nobody", 331);
    guesser.expect("PASS wrong", 530);
    let mut banned = server.connect();
    assert_eq!(banned.read_reply().code, 421);
    assert!(server.is_running(), "{}", server.log());
}
