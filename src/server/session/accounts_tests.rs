//! Accounts in the state machine, driven from memory: homes as `/`,
//! permission refusals, reloads taking effect at the next command (a
//! removed account's session ends with 421 after its running transfer),
//! and the no-clobber upload of an account that may not overwrite.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::security::TlsPolicy;
use super::Config;
use crate::protocol::Reply;
use crate::server::accounts::{
    Account, Accounts, LiveAccounts, Permission, PermissionSet, Rules, ANONYMOUS,
};
use crate::server::auth::{hash_password, Auth, Users};
use crate::server::driver::memory::{DataMode, MemoryDriver};
use crate::storage::{LocalDisk, VirtualPath};

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("pw"))
}

fn account(name: &str, home: &str, set: &[Permission]) -> Account {
    Account {
        home: VirtualPath::root().join(home).unwrap(),
        rules: Rules::uniform(set.iter().copied().collect()),
        ..Account::everywhere(name, Rules::uniform(PermissionSet::NONE))
    }
}

/// Accounts with passwords "pw" for `users`, and anonymous on /pub.
fn accounts(users: Vec<Account>) -> Accounts {
    let mut passwords = Users::default();
    for u in &users {
        passwords.add(&u.name, hash()).unwrap();
    }
    let anonymous = account(ANONYMOUS, "/pub", &[Permission::List, Permission::Download]);
    Accounts::new(
        Auth {
            users: Some(passwords),
            anonymous: true,
        },
        Some(anonymous),
        users,
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    config: Arc<Config>,
}

fn fixture(users: Vec<Account>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["pub", "drop", "home/alice"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("pub/readme"), b"hello").unwrap();
    std::fs::write(root.join("top"), b"root's").unwrap();
    let config = Arc::new(Config {
        storage: Arc::new(LocalDisk::new(&root).unwrap()),
        accounts: Arc::new(LiveAccounts::new(accounts(users))),
        read_only: false,
        idle_timeout: Duration::from_secs(300),
        login_timeout: Duration::from_secs(30),
        data_timeout: Duration::from_secs(60),
        failed_login_delay: Duration::from_secs(1),
        pasv_address: None,
        tls: TlsPolicy::default(),
    });
    Fixture {
        _dir: dir,
        root,
        config,
    }
}

fn codes(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.code().as_u16()).collect()
}

fn login(f: &Fixture, name: &str) -> MemoryDriver {
    let mut d = MemoryDriver::new(Arc::clone(&f.config));
    assert_eq!(codes(&d.command(&format!("USER {name}"))), [331]);
    assert_eq!(codes(&d.command("PASS pw")), [230]);
    d
}

#[test]
fn anonymous_sees_its_home_as_the_root_and_may_only_read() {
    let f = fixture(Vec::new());
    let mut d = login(&f, "anonymous");
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR /readme")), [150, 226]);
    assert_eq!(d.received(), b"hello");
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR ../top")), [550]);
    d.command("EPSV");
    let refused = d.command("STOR new");
    assert_eq!(codes(&refused), [550]);
    assert_eq!(
        refused[0].lines()[0],
        "Permission denied: your account lacks the \"upload\" permission for /new."
    );
    assert!(!d.passive_open(), "a refused STOR uses up the data port");
    assert!(!f.root.join("pub/new").exists());
}

#[test]
fn a_removed_account_ends_with_421_after_its_running_transfer() {
    let alice = account("alice", "/home/alice", &[Permission::Download]);
    let f = fixture(vec![alice.clone()]);
    std::fs::write(f.root.join("home/alice/f"), b"data").unwrap();
    let mut d = login(&f, "alice");
    d.set_data_mode(DataMode::Hold);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR f")), [150]);
    // The reload removes alice while her download runs; a line she sends
    // meanwhile waits for the download's reply.
    f.config.accounts.replace(accounts(Vec::new()));
    assert!(d.command("NOOP").is_empty());
    let replies = d.complete_transfer();
    assert_eq!(codes(&replies), [226, 421], "{replies:?}");
    assert!(d.is_closed());
    assert_eq!(f.config.accounts.sessions_of("alice"), 0);
}

#[test]
fn a_reload_changes_permissions_at_the_next_command() {
    let f = fixture(vec![account("drop", "/drop", &[Permission::Upload])]);
    let mut d = login(&f, "drop");
    d.command("EPSV");
    assert_eq!(codes(&d.command("NLST")), [550]);
    f.config.accounts.replace(accounts(vec![account(
        "drop",
        "/drop",
        &[Permission::Upload, Permission::List],
    )]));
    d.command("EPSV");
    assert_eq!(codes(&d.command("NLST")), [150, 226]);
}

#[test]
fn an_upload_without_overwrite_never_replaces_a_file_that_appears_meanwhile() {
    let f = fixture(vec![account("drop", "/drop", &[Permission::Upload])]);
    let mut d = login(&f, "drop");
    d.set_data_mode(DataMode::Hold);
    d.set_upload(b"mine");
    d.command("EPSV");
    assert_eq!(codes(&d.command("STOR x")), [150]);
    // Someone else puts x there after the check.
    std::fs::write(f.root.join("drop/x"), b"theirs").unwrap();
    let replies = d.complete_transfer();
    assert_ne!(codes(&replies), [226], "{replies:?}");
    assert_eq!(std::fs::read(f.root.join("drop/x")).unwrap(), b"theirs");
}

#[test]
fn max_sessions_counts_logged_in_sessions_and_rein_frees_one() {
    let mut carol = account("carol", "/", &[Permission::List]);
    carol.max_sessions = Some(1);
    let f = fixture(vec![carol]);
    let mut first = login(&f, "carol");
    let mut second = MemoryDriver::new(Arc::clone(&f.config));
    second.command("USER carol");
    let refused = second.command("PASS pw");
    assert_eq!(codes(&refused), [530]);
    assert!(refused[0].lines()[0].contains("at most 1 session at once"));
    assert_eq!(codes(&first.command("REIN")), [220]);
    second.command("USER carol");
    assert_eq!(codes(&second.command("PASS pw")), [230]);
}

/// `append` alone may only add to the end of a file that is there: REST
/// short of the end (which rewrites what follows) needs `overwrite`, and
/// APPE of a new name (which creates a file) needs `upload`.
#[test]
fn append_alone_neither_rewrites_a_tail_nor_creates_a_file() {
    let f = fixture(vec![account("logs", "/drop", &[Permission::Append])]);
    std::fs::write(f.root.join("drop/log"), b"0123456789").unwrap();
    let mut d = login(&f, "logs");
    d.set_upload(b"XX");
    assert_eq!(codes(&d.command("REST 2")), [350]);
    d.command("EPSV");
    let refused = d.command("STOR log");
    assert_eq!(codes(&refused), [550], "{refused:?}");
    assert!(
        refused[0].lines()[0].contains("\"overwrite\""),
        "{refused:?}"
    );
    d.command("EPSV");
    let refused = d.command("APPE new");
    assert_eq!(codes(&refused), [550], "{refused:?}");
    assert!(refused[0].lines()[0].contains("\"upload\""), "{refused:?}");
    assert!(!f.root.join("drop/new").exists());
    assert_eq!(
        std::fs::read(f.root.join("drop/log")).unwrap(),
        b"0123456789"
    );
    // Resuming at the end and appending are what `append` is for.
    assert_eq!(codes(&d.command("REST 10")), [350]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("STOR log")), [150, 226]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("APPE log")), [150, 226]);
    assert_eq!(
        std::fs::read(f.root.join("drop/log")).unwrap(),
        b"0123456789XXXX"
    );
}

/// A reload that moves an account to another home with wider permissions
/// must not apply them to the home the session opened at login (the old,
/// read-only one): the session ends with 421 instead, and the next login
/// opens the new home.
#[test]
fn a_reload_that_moves_the_home_ends_the_session() {
    let f = fixture(vec![account("alice", "/pub", &[Permission::List])]);
    let mut d = login(&f, "alice");
    f.config.accounts.replace(accounts(vec![account(
        "alice",
        "/home/alice",
        &Permission::ALL,
    )]));
    let replies = d.command("DELE readme");
    assert_eq!(codes(&replies), [421], "{replies:?}");
    assert!(replies[0].lines()[0].contains("home"), "{replies:?}");
    assert!(d.is_closed());
    assert!(f.root.join("pub/readme").exists());
    assert_eq!(f.config.accounts.sessions_of("alice"), 0);
    let mut again = login(&f, "alice");
    assert_eq!(codes(&again.command("MKD mine")), [257]);
    assert!(f.root.join("home/alice/mine").is_dir());
}

/// Every spelling of a path in a drop-box override reaches the same
/// check: through CWD and relative names, `..`, `.`, `//` and trailing
/// slashes; a name that only starts like the override, or differs in
/// case, is not in it.
#[test]
fn every_spelling_of_an_overridden_path_is_checked_as_that_path() {
    let mut bob = account("bob", "/", &[Permission::List, Permission::Download]);
    bob.rules = Rules::new(
        [Permission::List, Permission::Download]
            .into_iter()
            .collect(),
        vec![(
            VirtualPath::root().join("drop").unwrap(),
            [Permission::Upload].into_iter().collect(),
        )],
    );
    let f = fixture(vec![bob]);
    std::fs::write(f.root.join("drop/secret"), b"s").unwrap();
    let mut d = login(&f, "bob");
    for path in [
        "drop/secret",
        "/drop/secret",
        "//drop//secret",
        "/drop/./secret",
        "/pub/../drop/secret",
        "drop/secret/",
        "/../../drop/secret",
    ] {
        d.command("EPSV");
        let refused = d.command(&format!("RETR {path}"));
        assert_eq!(codes(&refused), [550], "RETR {path}: {refused:?}");
        assert!(refused[0].lines()[0].contains("\"download\""), "{path}");
        for verb in ["SIZE", "MDTM", "MLST"] {
            let refused = d.command(&format!("{verb} {path}"));
            assert_eq!(codes(&refused), [550], "{verb} {path}: {refused:?}");
            assert!(
                refused[0].lines()[0].contains("Permission denied"),
                "{verb}"
            );
        }
    }
    for dir in ["drop", "drop/", "//drop", "pub/../drop"] {
        d.command("EPSV");
        assert_eq!(codes(&d.command(&format!("NLST {dir}"))), [550], "{dir}");
    }
    assert_eq!(codes(&d.command("CWD drop")), [250]);
    for path in ["secret", "./secret", "../drop/secret"] {
        d.command("EPSV");
        assert_eq!(codes(&d.command(&format!("RETR {path}"))), [550], "{path}");
    }
    d.command("EPSV");
    assert_eq!(codes(&d.command("NLST")), [550]);
    // Not in the override: a longer name, another case.
    std::fs::create_dir(f.root.join("dropx")).unwrap();
    std::fs::write(f.root.join("dropx/f"), b"x").unwrap();
    assert_eq!(codes(&d.command("CWD /")), [250]);
    d.command("EPSV");
    assert_eq!(codes(&d.command("RETR dropx/f")), [150, 226]);
    d.command("EPSV");
    let other_case = d.command("RETR DROP/secret");
    assert_eq!(codes(&other_case), [550]);
    assert!(
        !other_case[0].lines()[0].contains("Permission"),
        "not there, rather than refused: {other_case:?}"
    );
    assert_eq!(d.received(), b"x");
}
