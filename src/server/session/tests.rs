//! The state machine driven from memory: no socket, no clock, no thread.

use std::sync::Arc;
use std::time::Duration;

use super::security::TlsPolicy;
use super::Config;
use crate::protocol::Reply;
use crate::server::accounts::{Accounts, LiveAccounts};
use crate::server::auth::{hash_password, Auth, Users};
use crate::server::driver::memory::{DataMode, MemoryDriver};
use crate::storage::LocalDisk;

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
    config: Arc<Config>,
}

fn fixture(read_only: bool, users: Option<Users>) -> Fixture {
    fixture_with(read_only, users, TlsPolicy::default())
}

fn fixture_with(read_only: bool, users: Option<Users>, tls: TlsPolicy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(dir.path().join("secret"), b"outside").unwrap();
    let config = Arc::new(Config {
        storage: Arc::new(LocalDisk::new(&root).unwrap()),
        accounts: Arc::new(LiveAccounts::new(Accounts::open(
            Auth {
                anonymous: true,
                users,
            },
            read_only,
        ))),
        read_only,
        idle_timeout: Duration::from_secs(300),
        login_timeout: Duration::from_secs(30),
        data_timeout: Duration::from_secs(60),
        failed_login_delay: Duration::from_secs(1),
        pasv_address: None,
        tls,
    });
    Fixture {
        outside: dir.path().to_path_buf(),
        _dir: dir,
        root,
        config,
    }
}

fn codes(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.code().as_u16()).collect()
}

fn logged_in(f: &Fixture) -> MemoryDriver {
    let mut d = MemoryDriver::new(Arc::clone(&f.config));
    assert_eq!(codes(d.replies()), [220]);
    assert_eq!(codes(&d.command("USER anonymous")), [331]);
    assert_eq!(codes(&d.command("PASS me@example.com")), [230]);
    d
}

#[test]
fn a_whole_session_without_a_socket() {
    let f = fixture(false, None);
    let mut d = logged_in(&f);
    d.command("TYPE I");
    d.set_upload(b"hello, world\n");
    assert_eq!(codes(&d.command("EPSV")), [229]);
    assert!(d.passive_open());
    assert_eq!(codes(&d.command("STOR greeting.txt")), [150, 226]);
    assert!(!d.passive_open(), "the transfer took the listener");
    assert_eq!(
        std::fs::read(f.root.join("greeting.txt")).unwrap(),
        b"hello, world\n"
    );
    d.command("PASV");
    assert_eq!(codes(&d.command("RETR greeting.txt")), [150, 226]);
    assert_eq!(d.received(), b"hello, world\n");
    d.command("EPSV");
    assert_eq!(codes(&d.command("NLST")), [150, 226]);
    assert!(d.received().ends_with(b"greeting.txt\r\n"));
    assert_eq!(codes(&d.command("QUIT")), [221]);
    assert!(d.is_closed());
    assert!(d.command("NOOP").is_empty(), "nothing after QUIT");
}

#[test]
fn commands_before_login_get_530_and_failed_logins_pause_then_close() {
    let users = Users::parse(&format!("alice:{}\n", hash_password("pw"))).unwrap();
    let f = fixture(false, Some(users));
    let mut d = MemoryDriver::new(Arc::clone(&f.config));
    assert_eq!(codes(&d.command("RETR x")), [530]);
    assert_eq!(codes(&d.command("REIN")), [530]);
    assert_eq!(codes(&d.command("HELP")), [214]);
    for round in 1..=3 {
        d.command("USER alice");
        let replies = d.command("PASS wrong");
        if round < 3 {
            assert_eq!(codes(&replies), [530]);
        } else {
            assert_eq!(codes(&replies), [530, 421]);
        }
    }
    assert_eq!(d.paused(), Duration::from_secs(3), "one pause per failure");
    assert!(d.is_closed());
}

#[test]
fn a_line_sent_during_a_transfer_waits_for_its_final_reply() {
    let f = fixture(false, None);
    std::fs::write(f.root.join("f"), b"data").unwrap();
    let mut d = logged_in(&f);
    d.set_data_mode(DataMode::Hold);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR f")), [150]);
    assert!(d.command("NOOP").is_empty(), "NOOP waits for the transfer");
    assert_eq!(codes(&d.complete_transfer()), [226, 200]);
}

#[test]
fn lines_pipelined_during_a_transfer_are_answered_in_order_after_it() {
    let f = fixture(false, None);
    std::fs::write(f.root.join("f"), b"data").unwrap();
    let mut d = logged_in(&f);
    d.set_data_mode(DataMode::Hold);
    d.command("EPSV");
    d.command("RETR f");
    assert!(d.input(b"NOOP\r\nPWD\r\n").is_empty());
    assert_eq!(codes(&d.complete_transfer()), [226, 200, 257]);
    d.command("EPSV");
    d.command("RETR f");
    // An ABOR behind a waiting line waits its turn: nothing is left to
    // abort by then.
    assert!(d.input(b"NOOP\r\nABOR\r\n").is_empty());
    assert_eq!(codes(&d.complete_transfer()), [226, 200, 225]);
}

#[test]
fn abor_cuts_a_held_upload_and_the_old_file_stays() {
    let f = fixture(false, None);
    std::fs::write(f.root.join("f"), b"old").unwrap();
    let mut d = logged_in(&f);
    d.set_data_mode(DataMode::Hold);
    d.set_upload(b"new");
    d.command("EPSV");
    assert_eq!(codes(&d.command("STOR f")), [150]);
    assert_eq!(codes(&d.command("ABOR")), [426, 226]);
    assert_eq!(std::fs::read(f.root.join("f")).unwrap(), b"old");
    assert_eq!(
        std::fs::read_dir(&f.root).unwrap().count(),
        1,
        "no temporary"
    );
    assert_eq!(codes(&d.command("ABOR")), [225]);
}

#[test]
fn every_abor_gets_its_own_reply() {
    let f = fixture(false, None);
    std::fs::write(f.root.join("f"), b"data").unwrap();
    let mut d = logged_in(&f);
    d.set_data_mode(DataMode::SlowAbort);
    d.command("EPSV");
    d.command("RETR f");
    // Both ABORs arrive before the transfer notices the first.
    assert!(d.input(b"ABOR\r\nABOR\r\n").is_empty());
    assert_eq!(codes(&d.complete_transfer()), [426, 226, 225]);
    assert_eq!(codes(&d.command("NOOP")), [200]);
}

#[test]
fn a_client_that_hangs_up_mid_transfer_leaves_nothing_behind() {
    let f = fixture(false, None);
    let mut d = logged_in(&f);
    d.set_data_mode(DataMode::Hold);
    d.command("EPSV");
    d.command("STOR partial");
    assert!(d.transfer_held());
    d.eof();
    assert!(d.is_closed() && !d.transfer_held());
    assert_eq!(std::fs::read_dir(&f.root).unwrap().count(), 0);
}

#[test]
fn a_failed_transfer_command_discards_the_passive_port() {
    let f = fixture(false, None);
    let mut d = logged_in(&f);
    d.command("EPSV");
    assert!(d.passive_open());
    assert_eq!(codes(&d.command("RETR missing")), [550]);
    assert!(!d.passive_open(), "the listener was closed with the plan");
    assert_eq!(codes(&d.command("RETR missing")), [550]);
    d.command("PASV");
    assert!(d.passive_open());
    d.command("PORT 127,0,0,1,200,10");
    assert!(!d.passive_open(), "PORT replaced the passive plan");
}

#[test]
fn no_data_connection_is_425_and_the_session_goes_on() {
    let f = fixture(false, None);
    std::fs::write(f.root.join("f"), b"x").unwrap();
    let mut d = logged_in(&f);
    d.set_data_mode(DataMode::Absent);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR f")), [150, 425]);
    assert_eq!(codes(&d.command("RETR f")), [425], "no plan any more");
    assert_eq!(codes(&d.command("NOOP")), [200]);
}

#[test]
fn idle_sessions_are_closed_at_the_deadline_only() {
    let f = fixture(false, None);
    let mut d = logged_in(&f);
    assert!(d.advance(Duration::from_secs(299)).is_empty());
    d.command("NOOP");
    assert!(
        d.advance(Duration::from_secs(299)).is_empty(),
        "NOOP reset it"
    );
    assert_eq!(codes(&d.advance(Duration::from_secs(2))), [421]);
    assert!(d.is_closed());
}

#[test]
fn a_connection_that_does_not_log_in_is_closed_at_the_login_deadline() {
    let f = fixture(false, None);
    let mut d = MemoryDriver::new(Arc::clone(&f.config));
    for _ in 0..5 {
        // Commands before login do not extend the deadline.
        assert!(d.advance(Duration::from_secs(5)).is_empty());
        d.command("NOOP");
        d.command("USER anonymous");
    }
    let replies = d.advance(Duration::from_secs(5));
    assert_eq!(codes(&replies), [421]);
    assert!(replies[0]
        .text()
        .contains("not logged in within 30 seconds"));
    assert!(d.is_closed());
}

#[test]
fn a_login_stops_the_login_clock_and_rein_restarts_it() {
    let f = fixture(false, None);
    let mut d = logged_in(&f);
    assert!(d.advance(Duration::from_secs(31)).is_empty(), "logged in");
    d.command("REIN");
    assert!(
        d.advance(Duration::from_secs(29)).is_empty(),
        "a fresh 30 s"
    );
    assert_eq!(codes(&d.advance(Duration::from_secs(2))), [421]);
}

#[test]
fn an_unused_passive_port_expires_after_the_data_timeout() {
    let f = fixture(false, None);
    std::fs::write(f.root.join("f"), b"x").unwrap();
    let mut d = logged_in(&f);
    d.command("EPSV");
    assert!(d.passive_open());
    assert!(d.advance(Duration::from_secs(59)).is_empty());
    assert!(d.passive_open());
    assert!(
        d.advance(Duration::from_secs(2)).is_empty(),
        "no reply, no close"
    );
    assert!(!d.passive_open(), "the port went back to the pool");
    assert!(!d.is_closed());
    assert_eq!(codes(&d.command("RETR f")), [425]);
    // A plan used in time is not expired under the transfer.
    d.command("EPSV");
    d.advance(Duration::from_secs(30));
    assert_eq!(codes(&d.command("RETR f")), [150, 226]);
}

#[test]
fn paths_never_leave_the_root() {
    let f = fixture(false, None);
    std::os::unix::fs::symlink("..", f.root.join("up")).unwrap();
    let mut d = logged_in(&f);
    assert_eq!(codes(&d.command("CWD ../..")), [250]);
    assert_eq!(codes(&d.command("PWD")), [257]);
    assert_eq!(codes(&d.command("SIZE ../secret")), [550]);
    assert_eq!(codes(&d.command("SIZE up/secret")), [550]);
    assert_eq!(codes(&d.command("CWD up")), [550]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR up/secret")), [550]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("STOR up/planted")), [550]);
    assert!(!f.outside.join("planted").exists());
    assert_eq!(codes(&d.command("MKD up/made")), [550]);
    assert!(!f.outside.join("made").exists());
}

#[test]
fn read_only_refuses_writes_and_keeps_reads() {
    let f = fixture(true, None);
    std::fs::write(f.root.join("f"), b"x").unwrap();
    let mut d = logged_in(&f);
    for cmd in ["MKD d", "RMD d", "DELE f", "RNFR f"] {
        assert_eq!(codes(&d.command(cmd)), [550], "{cmd}");
    }
    d.command("EPSV");
    assert_eq!(codes(&d.command("STOR g")), [550]);
    assert!(!d.passive_open(), "the refused upload used up the port");
    assert_eq!(codes(&d.command("SIZE f")), [213]);
}

#[test]
fn every_input_gets_one_final_reply_in_order() {
    let f = fixture(false, None);
    let mut d = logged_in(&f);
    let replies = d.input(b"noop\nbogus\r\n\r\nsyst\nmkd a\xfeb\r\n");
    assert_eq!(codes(&replies), [200, 500, 500, 215, 501]);
    let long = vec![b'x'; crate::limits::MAX_LINE + 10];
    let mut line = long.clone();
    line.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(codes(&d.input(&line)), [500, 200]);
}

#[test]
fn auth_tls_then_pbsz_and_prot_protect_data_connections() {
    let f = fixture_with(
        false,
        None,
        TlsPolicy {
            available: true,
            required: true,
        },
    );
    std::fs::write(f.root.join("f"), b"x").unwrap();
    let mut d = MemoryDriver::new(Arc::clone(&f.config));
    let feat = d.command("FEAT");
    assert!(feat[0].text().contains(" AUTH TLS"), "{feat:?}");
    // --require-tls: no password in clear.
    let r = d.command("USER anonymous");
    assert_eq!(codes(&r), [530]);
    assert!(r[0].text().contains("requires TLS"), "{r:?}");
    assert_eq!(codes(&d.command("PROT P")), [503], "PROT before AUTH");
    assert_eq!(codes(&d.command("AUTH KERBEROS")), [504]);
    assert_eq!(codes(&d.command("AUTH TLS")), [234]);
    assert_eq!(codes(&d.command("AUTH TLS")), [503], "already protected");
    assert_eq!(codes(&d.command("USER anonymous")), [331]);
    assert_eq!(codes(&d.command("PASS x")), [230]);
    // PROT C under --require-tls: the data command is refused, with the port.
    assert_eq!(codes(&d.command("PBSZ 0")), [200]);
    assert_eq!(codes(&d.command("PROT C")), [200]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR f")), [521]);
    assert!(!d.passive_open(), "the refused command used up the port");
    assert_eq!(codes(&d.command("PROT E")), [536]);
    assert_eq!(codes(&d.command("PROT P")), [200]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR f")), [150, 226]);
    let stat = d.command("STAT");
    assert!(stat[0].text().contains("protected (PROT P)"), "{stat:?}");
    // REIN keeps the TLS layer: a new login needs no second AUTH.
    d.command("REIN");
    assert_eq!(codes(&d.command("USER anonymous")), [331]);
}

#[test]
fn auth_without_a_certificate_is_not_offered() {
    let f = fixture(false, None);
    let mut d = MemoryDriver::new(Arc::clone(&f.config));
    assert!(!d.command("FEAT")[0].text().contains("AUTH"));
    assert_eq!(codes(&d.command("AUTH TLS")), [502]);
    assert_eq!(codes(&d.command("PBSZ 0")), [503]);
}
