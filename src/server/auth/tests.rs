//! The users file, logins and the Verifier, tested.

use super::verifier::Verifier;
use super::*;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{mpsc, Barrier};
use std::time::Duration;

/// An argon2id PHC string for `password` with the given parameters.
fn hash_with(password: &str, m: u32, t: u32, p: u32, len: Option<usize>) -> String {
    let params = Params::new(m, t, p, len).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

/// The argon2 parameters written in a PHC string.
fn params_of(phc: &str) -> Params {
    Params::try_from(&PasswordHash::new(phc).unwrap()).unwrap()
}

#[test]
fn hashed_passwords_verify() {
    let file = format!("# accounts\n\nalice:{}\n", hash_password("s3cret"));
    let users = Users::parse(&file).unwrap();
    assert_eq!(users.len(), 1);
    assert!(users.verify("alice", "s3cret"));
    assert!(!users.verify("alice", "wrong"));
    assert!(!users.verify("bob", "s3cret"));
    let auth = Auth {
        users: Some(users),
        anonymous: false,
    };
    assert_eq!(auth.login("alice", "s3cret"), Login::User("alice".into()));
    assert_eq!(auth.login("anonymous", "x"), Login::Refused);
    assert_eq!(auth.login("alice", "nope"), Login::Refused);
}

#[test]
fn bad_users_files_are_refused_with_the_line() {
    let err = Users::parse("alice\n").unwrap_err().to_string();
    assert!(err.contains("line 1") && err.contains("name:HASH"), "{err}");
    let err = Users::parse("a:plaintext\n").unwrap_err().to_string();
    assert!(err.contains("not a PHC string"), "{err}");
    let h = hash_password("x");
    let err = Users::parse(&format!("a:{h}\na:{h}\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("twice"), "{err}");
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    // As Notepad saves it: the first account used to become "\u{feff}alice".
    let h = hash_password("pw");
    let users = Users::parse(&format!("\u{feff}alice:{h}\r\nbob:{h}\r\n")).unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.verify("alice", "pw"));
    assert!(users.verify("bob", "pw"));
    let users = Users::parse(&format!("\u{feff}# accounts\nalice:{h}\n")).unwrap();
    assert!(users.verify("alice", "pw"));
}

#[test]
fn stray_whitespace_and_invisible_characters_are_refused_naming_the_line() {
    let h = hash_password("pw");
    for (line, words) in [
        (
            format!("alice :{h}"),
            vec!["\"alice \"", "ends with whitespace"],
        ),
        (
            format!(" alice:{h}"),
            vec!["\" alice\"", "starts with whitespace"],
        ),
        (format!("\talice:{h}"), vec!["starts with whitespace"]),
        (
            format!("alice: {h}"),
            vec!["alice", "whitespace around", "name:HASH"],
        ),
        (format!("alice:{h} "), vec!["alice", "whitespace around"]),
        (format!("alice:{h}\t"), vec!["alice", "whitespace around"]),
        (format!("al\u{7}ice:{h}"), vec!["control character U+0007"]),
        (format!("al\tice:{h}"), vec!["control character U+0009"]),
        (format!("\u{feff}alice:{h}"), vec!["byte order mark"]),
        (
            format!("al:ice:{h}"),
            vec!["cannot contain ':'", "name:HASH"],
        ),
    ] {
        // Line 3, after a good account and a comment: the number is the file's.
        let text = format!("bob:{h}\n# x\n{line}\n");
        let err = Users::parse(&text).unwrap_err();
        assert!(matches!(err, UsersError::Line { line: 3, .. }), "{err:?}");
        let err = err.to_string();
        assert!(err.starts_with("users file line 3: "), "{err}");
        for w in words {
            assert!(err.contains(w), "{w:?} missing for {line:?}: {err}");
        }
    }
    // Indented comments and whitespace-only lines are still ignored, and
    // a space inside a name is the name's.
    let users = Users::parse(&format!("  # x\n \t \nalice smith:{h}\n")).unwrap();
    assert!(users.verify("alice smith", "pw"));
}

#[test]
fn hashes_argon2_cannot_verify_are_refused_at_parse_time() {
    for (hash, word) in [
        // m below 8 KiB per lane.
        (
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "parameters",
        ),
        (
            "$argon2id$v=7$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "version 7",
        ),
        ("$argon2id$v=19$m=19456,t=2,p=1", "no salt or no hash"),
    ] {
        let err = Users::parse(&format!("alice:{hash}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("alice") && err.contains(word),
            "{hash}: {err}"
        );
    }
}

#[test]
fn unknown_names_cost_what_the_strongest_account_costs() {
    // A file of strong hashes: the dummy used to be hash_password's
    // defaults (m=19456,t=2), so unknown names answered sooner.
    let strong = hash_with("pw", 65536, 3, 1, None);
    let users = Users::parse(&format!("alice:{strong}\n")).unwrap();
    let dummy = params_of(&users.dummy);
    assert_eq!(
        (dummy.m_cost(), dummy.t_cost(), dummy.p_cost()),
        (65536, 3, 1)
    );
    assert_eq!(dummy, params_of(&strong), "output length too");
    assert!(
        users.dummy.starts_with("$argon2id$v=19$"),
        "{}",
        users.dummy
    );
    assert!(!users.verify("mallory", "pw"));
    assert!(users.verify("alice", "pw"));

    // Several parameter sets: the most expensive, wherever it is, with
    // its lanes and output length.
    let cheap = hash_password("pw");
    let odd = hash_with("pw", 32768, 4, 2, Some(48));
    for text in [
        format!("a:{cheap}\nb:{odd}\nc:{strong}\n"),
        format!("c:{strong}\nb:{odd}\na:{cheap}\n"),
    ] {
        let users = Users::parse(&text).unwrap();
        assert_eq!(params_of(&users.dummy), params_of(&strong), "{text}");
    }
    // 32768 x 4 passes is more work than 65536 x 1.
    let one_pass = hash_with("pw", 65536, 1, 1, None);
    let users = Users::parse(&format!("a:{one_pass}\nb:{odd}\n")).unwrap();
    let dummy = params_of(&users.dummy);
    assert_eq!(dummy, params_of(&odd));
    assert_eq!(dummy.output_len(), Some(48));

    // No accounts: hash_password's parameters; each dummy has its own salt.
    let (a, b) = (Users::parse("").unwrap(), Users::default());
    for users in [&a, &b] {
        let dummy = params_of(&users.dummy);
        assert_eq!(
            (dummy.m_cost(), dummy.t_cost(), dummy.p_cost()),
            (
                Params::DEFAULT_M_COST,
                Params::DEFAULT_T_COST,
                Params::DEFAULT_P_COST
            )
        );
        assert_eq!(dummy.output_len(), Some(Params::DEFAULT_OUTPUT_LEN));
        assert!(!users.verify("x", "x"));
    }
    assert_ne!(a.dummy, b.dummy);
}

#[test]
fn a_users_file_without_accounts_needs_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["", "# nobody yet\n\n", "\u{feff}"] {
        let path = dir.path().join("users");
        std::fs::write(&path, text).unwrap();
        let err = Auth::from_users_file(&path, false).unwrap_err();
        assert!(matches!(err, AuthError::NoAccounts { .. }), "{err:?}");
        let err = err.to_string();
        for w in [path.to_str().unwrap(), "--hash-password", "--anonymous"] {
            assert!(err.contains(w), "{w:?} missing: {err}");
        }
        let auth = Auth::from_users_file(&path, true).unwrap();
        assert_eq!(auth.login("anonymous", "a@b"), Login::Anonymous);
        assert_eq!(auth.login("alice", "pw"), Login::Refused);
    }
    // The users file's own errors pass through unchanged.
    let path = dir.path().join("bad");
    std::fs::write(&path, "alice\n").unwrap();
    let err = Auth::from_users_file(&path, false).unwrap_err().to_string();
    assert_eq!(err, "users file line 1: expected name:HASH");
    let path = dir.path().join("good");
    std::fs::write(&path, format!("alice:{}\n", hash_password("pw"))).unwrap();
    let auth = Auth::from_users_file(&path, false).unwrap();
    assert_eq!(auth.login("alice", "pw"), Login::User("alice".into()));
    assert_eq!(auth.login("ftp", "a@b"), Login::Refused);
}

#[test]
fn a_verifier_runs_at_most_its_permits_at_once() {
    // Cheap parameters (1 MiB, one pass) keep the test fast; the bound
    // does not depend on them.
    let h = hash_with("pw", 1024, 1, 1, None);
    let auth = Auth {
        users: Some(Users::parse(&format!("alice:{h}\nbob:{h}\n")).unwrap()),
        anonymous: true,
    };
    let verifier = Verifier::new(2);
    let start = Barrier::new(8);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                start.wait();
                // The attack: three wrong passwords, then the right one.
                for _ in 0..3 {
                    assert_eq!(verifier.login(&auth, "alice", "guess"), Login::Refused);
                    assert_eq!(verifier.login(&auth, "mallory", "pw"), Login::Refused);
                }
                assert_eq!(
                    verifier.login(&auth, "bob", "pw"),
                    Login::User("bob".into())
                );
                assert_eq!(verifier.login(&auth, "ftp", "a@b"), Login::Anonymous);
            });
        }
    });
    let peak = verifier.probe.peak.load(SeqCst);
    assert!((1..=2).contains(&peak), "{peak} verifications at once");
    assert_eq!(verifier.probe.now.load(SeqCst), 0);
    assert_eq!(*verifier.free.lock().unwrap(), 2, "every permit came back");
}

#[test]
fn a_verifier_makes_the_extra_verification_wait_but_not_anonymous() {
    let h = hash_with("pw", 1024, 1, 1, None);
    let auth = Auth {
        users: Some(Users::parse(&format!("alice:{h}\n")).unwrap()),
        anonymous: true,
    };
    let verifier = Verifier::new(1);
    let held = verifier.acquire();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let (auth, verifier) = (&auth, &verifier);
        s.spawn(move || tx.send(verifier.login(auth, "alice", "pw")).unwrap());
        // Anonymous takes no permit: it answers while the only one is held.
        assert_eq!(verifier.login(auth, "anonymous", "a@b"), Login::Anonymous);
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "a verification ran without a permit"
        );
        drop(held);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(20)).unwrap(),
            Login::User("alice".into())
        );
    });
    // No permits is not a server that never verifies.
    let verifier = Verifier::new(0);
    assert_eq!(
        verifier.login(&auth, "alice", "pw"),
        Login::User("alice".into())
    );
    assert!(*Verifier::with_cores().free.lock().unwrap() >= 1);
}
