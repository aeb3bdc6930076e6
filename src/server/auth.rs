//! Who may log in: anonymous users and the accounts of a users file.
//!
//! The users file has one `name:HASH` per line, HASH an argon2id PHC string
//! as printed by `serv --hash-password`; blank lines and lines starting with
//! `#` are ignored. Passwords are never stored: argon2id makes each guess
//! expensive and the PHC string carries its own salt and parameters.

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// A users file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("cannot read the users file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("users file line {line}: {reason}")]
    Line { line: usize, reason: String },
}

/// The accounts of a users file.
#[derive(Debug, Default, Clone)]
pub struct Users {
    hashes: HashMap<String, String>,
}

impl Users {
    /// Reads and checks a users file.
    pub fn load(path: &Path) -> Result<Users, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Users::parse(&text)
    }

    /// Parses the text of a users file; every hash must be argon2id.
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let mut hashes = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |reason: String| UsersError::Line {
                line: i + 1,
                reason,
            };
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| fail("expected name:HASH".into()))?;
            if name.is_empty() {
                return Err(fail("the user name is empty".into()));
            }
            let parsed = PasswordHash::new(hash)
                .map_err(|e| fail(format!("the hash of {name} is not a PHC string: {e}")))?;
            if parsed.algorithm.as_str() != "argon2id" {
                return Err(fail(format!(
                    "the hash of {name} uses {}, not argon2id; make one with serv --hash-password",
                    parsed.algorithm
                )));
            }
            if hashes.insert(name.to_string(), hash.to_string()).is_some() {
                return Err(fail(format!("{name} is listed twice")));
            }
        }
        Ok(Users { hashes })
    }

    /// True when `password` is `user`'s. Unknown users cost a hash too, so
    /// timing does not tell which names exist.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (h.as_str(), true),
            None => (DUMMY.get_or_init(|| hash_password("x")).as_str(), false),
        };
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && known
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True without accounts.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

/// An argon2id PHC string for `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// The login policy of a server.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// Accounts from `--users`; `None` when no users file is given.
    pub users: Option<Users>,
    /// Whether `anonymous` and `ftp` may log in.
    pub anonymous: bool,
}

/// The outcome of USER + PASS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Anonymous,
    User(String),
    Refused,
}

/// True for the names of anonymous FTP.
pub fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

impl Auth {
    /// Checks a user name and password.
    pub fn login(&self, user: &str, password: &str) -> Login {
        if is_anonymous(user) {
            return if self.anonymous {
                Login::Anonymous
            } else {
                Login::Refused
            };
        }
        match &self.users {
            Some(users) if users.verify(user, password) => Login::User(user.to_string()),
            _ => Login::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
