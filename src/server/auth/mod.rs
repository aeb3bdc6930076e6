//! Who may log in: anonymous users and the accounts of a users file.
//!
//! The users file has one `name:HASH` per line, HASH an argon2id PHC string
//! as printed by `serv --hash-password`; blank lines and lines starting with
//! `#` are ignored, and a UTF-8 byte order mark at the start (which some
//! editors write) is skipped. Passwords are never stored: argon2id makes each
//! guess expensive and the PHC string carries its own salt and parameters.
//!
//! Hostile clients are expected here: an unknown name costs the same argon2
//! work as a real one (so timing does not reveal which names exist), and a
//! [`Verifier`] bounds how many verifications run at once (so a crowd of
//! wrong passwords cannot take one argon2 memory block each, all at once).
//! What this module does not do: lock accounts, rate-limit addresses, or
//! reload the file while serving.

mod verifier;

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Decimal, Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub use verifier::Verifier;
use verifier::{verify_in, Workspace};

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

/// A login policy that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Users(#[from] UsersError),
    /// Without anonymous logins, an account-less file would start a server
    /// that refuses everyone: almost surely a mistake (a file not yet filled
    /// in, or the wrong file), better reported at startup than by clients.
    #[error(
        "the users file {path} has no accounts, so nobody could log in: add name:HASH lines \
         (HASH from `serv --hash-password`), or pass --anonymous to serve anonymous users only"
    )]
    NoAccounts { path: String },
}

/// The accounts of a users file.
#[derive(Debug, Clone)]
pub struct Users {
    hashes: HashMap<String, String>,
    /// What an unknown name is verified against: a PHC string with the
    /// parameters of the most expensive account (see [`dummy_hash`]).
    dummy: String,
}

impl Default for Users {
    /// No accounts; unknown names cost what `hash_password`'s hashes cost.
    fn default() -> Users {
        Users {
            hashes: HashMap::new(),
            dummy: dummy_hash(&Params::DEFAULT, None),
        }
    }
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

    /// Parses the text of a users file; every hash must be argon2id with
    /// parameters argon2 accepts, so that a typo is reported at startup
    /// rather than as an account that can never log in.
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        // Notepad and some other editors start UTF-8 files with a byte order
        // mark; left in place it would become part of the first name, which
        // then matches no USER and silently disables that account.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut hashes = HashMap::new();
        // The most expensive parameters so far, with their version.
        let mut strongest: Option<(Params, Option<Decimal>)> = None;
        for (i, line) in text.lines().enumerate() {
            let content = line.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let fail = |reason: String| UsersError::Line {
                line: i + 1,
                reason,
            };
            // Not trimmed: whitespace around the name or the hash is refused
            // below, because `alice :HASH` would otherwise create the user
            // "alice ", not alice, and her logins would fail with no hint why.
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| fail("expected name:HASH".into()))?;
            if hash.contains(':') {
                return Err(fail(format!(
                    "a second ':' follows the name {name:?}: user names cannot contain ':' \
                     (a name ends at the first ':') and nothing may follow the hash; \
                     write the line as name:HASH"
                )));
            }
            let (params, version) = check_entry(name, hash).map_err(fail)?;
            if strongest
                .as_ref()
                .is_none_or(|(best, _)| cost(&params) > cost(best))
            {
                strongest = Some((params, version));
            }
            if hashes.insert(name.to_string(), hash.to_string()).is_some() {
                return Err(fail(format!("{name} is listed twice")));
            }
        }
        let dummy = match &strongest {
            Some((params, version)) => dummy_hash(params, *version),
            None => dummy_hash(&Params::DEFAULT, None),
        };
        Ok(Users { hashes, dummy })
    }

    /// True when `password` is `user`'s. Unknown users cost a hash too, so
    /// timing does not tell which names exist.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        self.verify_gated(user, password, Vec::new)
    }

    /// [`Users::verify`], calling `enter` just before the argon2 work for
    /// the memory it works in (a [`Permit`]'s), kept until that work is done.
    fn verify_gated<W: Workspace>(
        &self,
        user: &str,
        password: &str,
        enter: impl FnOnce() -> W,
    ) -> bool {
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (h.as_str(), true),
            None => (self.dummy.as_str(), false),
        };
        let ok = PasswordHash::new(hash)
            .map(|parsed| {
                let mut workspace = enter();
                verify_in(&parsed, password, workspace.blocks())
            })
            .unwrap_or(false);
        ok && known
    }

    /// Adds the account `name` with the PHC string `hash` (an account of
    /// the config file), with the checks of a users file line; why not, in
    /// words that complete "the account ...".
    pub fn add(&mut self, name: &str, hash: &str) -> Result<(), String> {
        let (params, version) = check_entry(name, hash)?;
        if self.hashes.contains_key(name) {
            return Err(format!("{name} is listed twice"));
        }
        let current = PasswordHash::new(&self.dummy)
            .ok()
            .and_then(|h| Params::try_from(&h).ok());
        if current.is_none_or(|c| cost(&params) > cost(&c)) {
            self.dummy = dummy_hash(&params, version);
        }
        self.hashes.insert(name.to_string(), hash.to_string());
        Ok(())
    }

    /// The PHC string of `name`'s password.
    pub fn hash_of(&self, name: &str) -> Option<&str> {
        self.hashes.get(name).map(String::as_str)
    }

    /// The account names, in no order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.hashes.keys().map(String::as_str)
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

/// Checks one account: a name a client can type and an argon2id hash
/// that verification can use; returns the hash's parameters.
fn check_entry(name: &str, hash: &str) -> Result<(Params, Option<Decimal>), String> {
    check_name(name)?;
    if hash.trim() != hash {
        return Err(format!(
            "the hash of {name} has whitespace around it; remove it so that the line \
             is exactly name:HASH"
        ));
    }
    let parsed = PasswordHash::new(hash)
        .map_err(|e| format!("the hash of {name} is not a PHC string: {e}"))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "the hash of {name} uses {}, not argon2id; make one with serv --hash-password",
            parsed.algorithm
        ));
    }
    let params = check_hash(&parsed).map_err(|why| {
        format!("the hash of {name} {why}; make a new one with serv --hash-password")
    })?;
    Ok((params, parsed.version))
}

/// Refuses names that no client could type as they are written: names with
/// whitespace at either end (`alice :HASH`), control characters, or a byte
/// order mark (left where two files were joined).
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the user name is empty".into());
    }
    if name.starts_with(char::is_whitespace) {
        return Err(format!(
            "the user name {name:?} starts with whitespace; remove it (the name is everything \
             before the first ':' and must match what clients send with USER)"
        ));
    }
    if name.ends_with(char::is_whitespace) {
        return Err(format!(
            "the user name {name:?} ends with whitespace; remove the whitespace before the ':'"
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!(
            "the user name {name:?} contains the control character U+{:04X}; remove it",
            u32::from(c)
        ));
    }
    if name.contains('\u{feff}') {
        return Err(format!(
            "the user name {name:?} contains a byte order mark (U+FEFF), probably from a file \
             joined to another; remove it"
        ));
    }
    Ok(())
}

/// The argon2 parameters of an argon2id PHC string, if verification can use
/// them; otherwise why not (completing "the hash of NAME ...").
fn check_hash(parsed: &PasswordHash<'_>) -> Result<Params, String> {
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("has no salt or no hash part".into());
    }
    if let Some(v) = parsed.version {
        Version::try_from(v).map_err(|e| format!("has version {v}, which argon2 refuses: {e}"))?;
    }
    Params::try_from(parsed).map_err(|e| format!("has parameters argon2 refuses: {e}"))
}

/// The work of one verification with `params`, to compare parameter sets:
/// argon2 fills every memory block once per pass, so memory times passes.
/// Lanes (p) split the same blocks and this crate computes them one after
/// the other, so p and the output length only break ties.
fn cost(params: &Params) -> (u64, u32, usize) {
    let blocks = params.block_count() as u64 * u64::from(params.t_cost());
    let output = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    (blocks, params.p_cost(), output)
}

/// A PHC string that costs exactly what a real hash with `params` costs to
/// verify and that no password matches: a fresh salt and a random output of
/// the parameters' length. No hash is computed, so parsing stays cheap.
///
/// The parameters are the most expensive account's: with one parameter set
/// (the usual case, every hash made by the same `serv --hash-password`) an
/// unknown name then takes as long as any real one. With several sets, the
/// most expensive one means an unknown name is never answered *faster* than
/// a real one; names with cheaper hashes still answer faster than unknown
/// names, which only rehashing them with the same parameters can cure.
fn dummy_hash(params: &Params, version: Option<Decimal>) -> String {
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut output = [0u8; Output::MAX_LENGTH];
    OsRng.fill_bytes(&mut output[..len]);
    let salt = SaltString::generate(&mut OsRng);
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(version.unwrap_or_else(|| Version::default().into())),
        params: params
            .try_into()
            .expect("parameters read from a PHC string write back to one"),
        salt: Some(salt.as_salt()),
        hash: Some(
            Output::new(&output[..len]).expect("argon2 output lengths are valid PHC outputs"),
        ),
    }
    .to_string()
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
    /// The policy of `--users path` (with `--anonymous` when `anonymous`):
    /// the file's accounts, refused when it has none and anonymous logins
    /// are off, since such a server could never let anyone in.
    pub fn from_users_file(path: &Path, anonymous: bool) -> Result<Auth, AuthError> {
        let users = Users::load(path)?;
        if users.is_empty() && !anonymous {
            return Err(AuthError::NoAccounts {
                path: path.display().to_string(),
            });
        }
        Ok(Auth {
            users: Some(users),
            anonymous,
        })
    }

    /// Checks a user name and password.
    pub fn login(&self, user: &str, password: &str) -> Login {
        self.login_gated(user, password, Vec::new)
    }

    /// [`Auth::login`], with `enter` around the argon2 work only.
    fn login_gated<W: Workspace>(
        &self,
        user: &str,
        password: &str,
        enter: impl FnOnce() -> W,
    ) -> Login {
        if is_anonymous(user) {
            return if self.anonymous {
                Login::Anonymous
            } else {
                Login::Refused
            };
        }
        match &self.users {
            Some(users) if users.verify_gated(user, password, enter) => {
                Login::User(user.to_string())
            }
            _ => Login::Refused,
        }
    }
}

#[cfg(test)]
mod tests;
