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

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Decimal, Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
            check_name(name).map_err(fail)?;
            if hash.contains(':') {
                return Err(fail(format!(
                    "a second ':' follows the name {name:?}: user names cannot contain ':' \
                     (a name ends at the first ':') and nothing may follow the hash; \
                     write the line as name:HASH"
                )));
            }
            if hash.trim() != hash {
                return Err(fail(format!(
                    "the hash of {name} has whitespace around it; remove it so that the line \
                     is exactly name:HASH"
                )));
            }
            let parsed = PasswordHash::new(hash)
                .map_err(|e| fail(format!("the hash of {name} is not a PHC string: {e}")))?;
            if parsed.algorithm.as_str() != "argon2id" {
                return Err(fail(format!(
                    "the hash of {name} uses {}, not argon2id; make one with serv --hash-password",
                    parsed.algorithm
                )));
            }
            let params = check_hash(&parsed).map_err(|why| {
                fail(format!(
                    "the hash of {name} {why}; make a new one with serv --hash-password"
                ))
            })?;
            if strongest
                .as_ref()
                .is_none_or(|(best, _)| cost(&params) > cost(best))
            {
                strongest = Some((params, parsed.version));
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

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// True without accounts.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
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

/// Where an argon2 verification keeps its state (`m` KiB of blocks).
trait Workspace {
    fn blocks(&mut self) -> &mut Vec<Block>;
}

impl Workspace for Vec<Block> {
    fn blocks(&mut self) -> &mut Vec<Block> {
        self
    }
}

/// Verifies `password` against the PHC string `parsed` in `blocks` (grown
/// to the hash's `m` if needed). The parameters (m, t, p, version, output
/// length) come from the PHC string; the comparison is constant-time
/// (`Output`'s equality).
///
/// Why not `Argon2::verify_password`: it allocates its 19 MiB (or more)
/// afresh on every call, and glibc's malloc keeps such blocks per thread
/// arena once its mmap threshold has grown: a hundred guessing connections
/// left 4 GB resident even with two verifications at a time. Reusing a
/// [`Verifier`]'s blocks keeps the memory at permits × m, for good.
fn verify_in(parsed: &PasswordHash, password: &str, blocks: &mut Vec<Block>) -> bool {
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let count = params.block_count();
    if blocks.len() < count {
        blocks.resize(count, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut blocks[..count])
        .is_err()
    {
        return false;
    }
    Output::new(&out).is_ok_and(|got| got == expected)
}

/// Bounds how many password verifications run at once.
///
/// Each argon2 verification holds its hash's memory (`m`, 19 MiB with the
/// defaults, 64 MiB or more with stronger settings) for as long as it runs.
/// Unbounded, 100 connections sending wrong passwords together took 5 GB.
/// Verifications are CPU-bound, so running more of them than there are cores
/// adds memory, not throughput: the extra ones wait their turn here, asleep
/// on a condition variable, and memory stays near `permits × m`.
#[derive(Debug)]
pub struct Verifier {
    /// Permits not taken.
    free: Mutex<usize>,
    /// The argon2 memory of permits not taken, reused from one
    /// verification to the next.
    memory: Mutex<Vec<Vec<Block>>>,
    /// Signalled each time a permit is given back.
    returned: Condvar,
    /// Test instrument: verifications in progress, and the most at once.
    #[cfg(test)]
    probe: Probe,
}

#[cfg(test)]
#[derive(Debug, Default)]
struct Probe {
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Verifier {
    /// At most `permits` verifications at once (at least one, or nobody
    /// could ever log in).
    pub fn new(permits: usize) -> Verifier {
        Verifier {
            free: Mutex::new(permits.max(1)),
            memory: Mutex::default(),
            returned: Condvar::new(),
            #[cfg(test)]
            probe: Probe::default(),
        }
    }

    /// One verification per core: as fast as unbounded, as the cores are the
    /// limit anyway.
    pub fn with_cores() -> Verifier {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Verifier::new(cores)
    }

    /// Exactly [`Auth::login`], but the argon2 verification (of a real
    /// account or of an unknown name's dummy) first waits for a permit;
    /// anonymous logins and refusals without a users file take none.
    pub fn login(&self, auth: &Auth, user: &str, password: &str) -> Login {
        auth.login_gated(user, password, || self.acquire())
    }

    /// Waits for a free permit and takes it.
    fn acquire(&self) -> Permit<'_> {
        // The mutex guards a plain count that every critical section leaves
        // consistent, so a panic elsewhere (poisoning) breaks nothing here.
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let mut free = self
            .returned
            .wait_while(free, |free| *free == 0)
            .unwrap_or_else(PoisonError::into_inner);
        *free -= 1;
        drop(free);
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.probe.now.fetch_add(1, SeqCst) + 1;
            self.probe.peak.fetch_max(now, SeqCst);
        }
        let memory = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        Permit {
            verifier: self,
            memory,
        }
    }
}

/// One verification's right to run; given back when dropped, even if the
/// verification panics.
struct Permit<'a> {
    verifier: &'a Verifier,
    memory: Vec<Block>,
}

impl Workspace for Permit<'_> {
    fn blocks(&mut self) -> &mut Vec<Block> {
        &mut self.memory
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        #[cfg(test)]
        self.verifier
            .probe
            .now
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        let memory = std::mem::take(&mut self.memory);
        self.verifier
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        let mut free = self
            .verifier
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        drop(free);
        self.verifier.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
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
}
