//! Property: the session state machine, driven in memory over a real
//! `LocalDisk` root, survives any sequence of control bytes and keeps its
//! invariants:
//! - every command gets exactly one final (non-1xx) reply, and only a 421
//!   that closes the connection may follow it;
//! - no 230 without an accepted password (`anonymous`/`ftp` with any
//!   password, or `alice` with `pw`);
//! - nothing outside the root is read, created, changed or removed, even
//!   through the links `up -> ..` (at the root, leading out) and
//!   `sub/up -> ..` (inside);
//! - no panic.
//!
//! Input layout: the first byte picks what the make-believe client does
//! with data connections (even: connects; odd: never connects); the rest is
//! what it types, cut into lines at each LF and fed one line at a time.
//! Each input gets a fresh root under the system temp dir.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ftp::protocol::{parse_command, Command, Frame, LineDecoder};
use ftp::server::auth::{is_anonymous, Auth, Users};
use ftp::server::driver::memory::{DataMode, MemoryDriver};
use ftp::server::session::security::TlsPolicy;
use ftp::server::accounts::{Accounts, LiveAccounts};
use ftp::server::session::Config;
use ftp::storage::LocalDisk;
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"OUTSIDE-THE-ROOT-0123456789";

/// alice's account, hashed with cheap parameters: fuzzing is about the
/// state machine, not argon2's cost.
fn users() -> &'static Users {
    static USERS: OnceLock<Users> = OnceLock::new();
    USERS.get_or_init(|| {
        let params = Params::new(8, 1, 1, None).expect("argon2 parameters");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"fuzz-salt-fuzz!!").expect("salt");
        let hash = argon.hash_password(b"pw", &salt).expect("hash").to_string();
        Users::parse(&format!("alice:{hash}\n")).expect("users")
    })
}

/// A fresh tree: `<dir>/secret` outside, `<dir>/root` served, with a file,
/// a directory and the two links.
fn tree() -> (PathBuf, PathBuf) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ftp-fuzz-session-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).expect("tree");
    std::fs::write(dir.join("secret"), SECRET).expect("tree");
    std::fs::write(root.join("a.txt"), b"inside\n").expect("tree");
    std::os::unix::fs::symlink("..", root.join("up")).expect("tree");
    std::os::unix::fs::symlink("..", root.join("sub/up")).expect("tree");
    (dir, root)
}

/// What lies outside the root: every name in `dir` but `root`.
fn outside(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("outside")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name() != "root")
        .map(|e| {
            let content = std::fs::read(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), content)
        })
        .collect();
    found.sort();
    found
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let (dir, root) = tree();
    let config = Arc::new(Config {
        storage: Arc::new(LocalDisk::new(&root).expect("root")),
        accounts: Arc::new(LiveAccounts::new(Accounts::open(
            Auth {
            users: Some(users().clone()),
            anonymous: true,
        },
            false,
        ))),
        read_only: false,
        idle_timeout: Duration::from_secs(300),
        login_timeout: Duration::from_secs(30),
        data_timeout: Duration::from_secs(60),
        failed_login_delay: Duration::from_secs(1),
        pasv_address: None,
        tls: TlsPolicy {
            available: true,
            required: false,
        },
    });
    let mut driver = MemoryDriver::new(config);
    driver.set_data_mode(if mode % 2 == 0 {
        DataMode::Immediate
    } else {
        DataMode::Absent
    });
    driver.set_upload(b"uploaded bytes\n");

    let mut decoder = LineDecoder::new(ftp::limits::MAX_LINE);
    let mut user: Option<String> = None;
    for chunk in input.split_inclusive(|&b| b == b'\n') {
        if driver.is_closed() {
            break;
        }
        // The frames this chunk holds, framed as the driver frames them.
        let mut frames = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            let (used, frame) = decoder.decode(rest);
            rest = &rest[used..];
            frames.extend(frame);
        }
        let replies = driver.input(chunk);
        let finals: Vec<u16> = replies
            .iter()
            .map(|r| r.code().as_u16())
            .filter(|&c| c >= 200)
            .collect();
        let extra_close = finals.len() == frames.len() + 1
            && finals.last() == Some(&421)
            && driver.is_closed();
        assert!(
            finals.len() == frames.len() || extra_close,
            "{} frame(s) got final replies {finals:?}: {chunk:?}",
            frames.len()
        );
        let Some(Frame::Line(line)) = frames.first() else {
            continue;
        };
        let command = std::str::from_utf8(line).ok().map(parse_command);
        match command {
            Some(Ok(Command::User(name))) if finals.first() == Some(&331) => user = Some(name),
            Some(Ok(Command::Pass(password))) if finals.first() == Some(&230) => {
                let name = user.as_deref().expect("230 without USER");
                assert!(
                    is_anonymous(name) || (name == "alice" && password == "pw"),
                    "230 for {name:?} with password {password:?}"
                );
            }
            _ => assert!(
                !finals.contains(&230),
                "230 to something other than PASS: {chunk:?}"
            ),
        }
    }
    driver.eof();

    let seen = outside(&dir);
    assert_eq!(
        seen,
        vec![("secret".to_string(), SECRET.to_vec())],
        "something outside the root changed"
    );
    assert!(
        !driver
            .received()
            .windows(SECRET.len())
            .any(|w| w == SECRET),
        "bytes from outside the root were sent"
    );
    let _ = std::fs::remove_dir_all(&dir);
});
