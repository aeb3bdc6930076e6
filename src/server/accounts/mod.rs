//! Accounts: who logs in where, and what each may do there.
//!
//! An [`Account`] is a home (a path of the served storage that the user
//! sees as `/`), [`Rules`] (permissions for the home and overrides for its
//! subtrees), and limits: sessions at once, and the transfer rates that
//! the rate limiter enforces. [`Accounts`] is the whole set with the
//! passwords ([`Auth`]); [`LiveAccounts`] holds the set a server uses now,
//! which a reload (SIGHUP) replaces while sessions run, and counts each
//! user's sessions across reloads.
//!
//! Without `--config` every account (anonymous and the users file's) has
//! the whole tree as its home and every permission, or `list` and
//! `download` under `--read-only`: exactly the server of before.

pub mod permissions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::auth::{Auth, Login};
use crate::storage::VirtualPath;
pub use permissions::{CarriesOverride, Denied, Permission, PermissionSet, Rules};

/// The name anonymous sessions are counted and shown under.
pub const ANONYMOUS: &str = "anonymous";

/// One account's home, permissions and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name (`anonymous` for anonymous logins).
    pub name: String,
    /// Where the user's `/` is in the served storage.
    pub home: VirtualPath,
    /// What the user may do where.
    pub rules: Rules,
    /// Bytes per second across the user's downloads; `None`: unlimited.
    pub download_rate: Option<u64>,
    /// Bytes per second across the user's uploads; `None`: unlimited.
    pub upload_rate: Option<u64>,
    /// Sessions of this user at once; `None`: no limit of its own.
    pub max_sessions: Option<usize>,
}

impl Account {
    /// The whole tree with `rules`, no limits: an account of a server
    /// without `--config`.
    pub fn everywhere(name: &str, rules: Rules) -> Account {
        Account {
            name: name.to_string(),
            home: VirtualPath::root(),
            rules,
            download_rate: None,
            upload_rate: None,
            max_sessions: None,
        }
    }
}

/// Every account of a server, with the passwords.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// Passwords, and whether anonymous logins are on.
    pub auth: Auth,
    anonymous: Option<Account>,
    users: HashMap<String, Account>,
}

impl Accounts {
    /// The accounts of a server without `--config`: `auth`'s users and
    /// anonymous, each with the whole tree and every permission (only
    /// `list` and `download` when `read_only`).
    pub fn open(auth: Auth, read_only: bool) -> Accounts {
        let set = if read_only {
            PermissionSet::read()
        } else {
            PermissionSet::all()
        };
        let rules = Rules::uniform(set);
        let users = auth
            .users
            .iter()
            .flat_map(|u| u.names())
            .map(|name| (name.to_string(), Account::everywhere(name, rules.clone())))
            .collect();
        let anonymous = auth
            .anonymous
            .then(|| Account::everywhere(ANONYMOUS, rules));
        Accounts {
            auth,
            anonymous,
            users,
        }
    }

    /// `auth` with the anonymous account (if anonymous logins are on) and
    /// `users`; every user must have a password in `auth`.
    pub fn new(auth: Auth, anonymous: Option<Account>, users: Vec<Account>) -> Accounts {
        let mut auth = auth;
        auth.anonymous = anonymous.is_some();
        Accounts {
            auth,
            anonymous,
            users: users.into_iter().map(|a| (a.name.clone(), a)).collect(),
        }
    }

    /// The account a login leads to.
    pub fn of(&self, login: &Login) -> Option<&Account> {
        match login {
            Login::Anonymous => self.anonymous.as_ref(),
            Login::User(name) => self.users.get(name),
            Login::Refused => None,
        }
    }

    /// The account named `name` (`anonymous` included) as it is now.
    pub fn named(&self, name: &str) -> Option<&Account> {
        if name == ANONYMOUS {
            self.anonymous.as_ref()
        } else {
            self.users.get(name)
        }
    }

    /// The anonymous account, if anonymous logins are on.
    pub fn anonymous(&self) -> Option<&Account> {
        self.anonymous.as_ref()
    }

    /// The users' accounts, sorted by name.
    pub fn users(&self) -> Vec<&Account> {
        let mut users: Vec<&Account> = self.users.values().collect();
        users.sort_by(|a, b| a.name.cmp(&b.name));
        users
    }
}

/// The accounts a server uses now, replaced whole by a reload, and the
/// number of sessions each user has, which a reload keeps.
#[derive(Debug, Default)]
pub struct LiveAccounts {
    current: RwLock<Arc<Accounts>>,
    sessions: Arc<Mutex<HashMap<String, usize>>>,
}

impl LiveAccounts {
    pub fn new(accounts: Accounts) -> LiveAccounts {
        LiveAccounts {
            current: RwLock::new(Arc::new(accounts)),
            sessions: Arc::default(),
        }
    }

    /// The accounts now. Sessions compare the `Arc` they logged in with to
    /// this one to notice a reload.
    pub fn current(&self) -> Arc<Accounts> {
        // Every write replaces the Arc whole: a poisoned lock holds a
        // consistent value.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `accounts` in place for new logins and the next command of
    /// every running session.
    pub fn replace(&self, accounts: Accounts) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(accounts);
    }

    /// Counts a session of `user`, unless it has `max` already; the count
    /// drops with the returned slot.
    pub fn enter(&self, user: &str, max: Option<usize>) -> Option<UserSlot> {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        let count = sessions.entry(user.to_string()).or_insert(0);
        if max.is_some_and(|max| *count >= max) {
            return None;
        }
        *count += 1;
        Some(UserSlot {
            user: user.to_string(),
            sessions: Arc::clone(&self.sessions),
        })
    }

    /// How many sessions `user` has now.
    pub fn sessions_of(&self, user: &str) -> usize {
        let sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        sessions.get(user).copied().unwrap_or(0)
    }
}

/// One logged-in session of a user, counted until dropped.
#[derive(Debug)]
pub struct UserSlot {
    user: String,
    sessions: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = sessions.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                sessions.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::Users;

    #[test]
    fn sessions_per_user_are_bounded_and_freed() {
        let live = LiveAccounts::new(Accounts::default());
        let a = live.enter("alice", Some(2)).unwrap();
        let b = live.enter("alice", Some(2)).unwrap();
        assert!(live.enter("alice", Some(2)).is_none());
        assert!(live.enter("bob", Some(2)).is_some());
        assert_eq!(live.sessions_of("alice"), 2);
        drop(a);
        let c = live.enter("alice", Some(2)).unwrap();
        drop((b, c));
        assert_eq!(live.sessions_of("alice"), 0);
        assert!(live.enter("carol", None).is_some());
    }

    #[test]
    fn without_a_config_every_account_has_the_tree_and_read_only_reads() {
        let mut users = Users::default();
        users
            .add("alice", &crate::server::auth::hash_password("pw"))
            .unwrap();
        let auth = Auth {
            users: Some(users),
            anonymous: true,
        };
        let open = Accounts::open(auth.clone(), false);
        let alice = open.of(&Login::User("alice".into())).unwrap();
        assert_eq!(alice.home, VirtualPath::root());
        assert_eq!(alice.rules, Rules::uniform(PermissionSet::all()));
        assert!(open.of(&Login::Anonymous).is_some());
        assert!(open.of(&Login::User("bob".into())).is_none());
        let ro = Accounts::open(auth, true);
        assert_eq!(
            ro.of(&Login::Anonymous).unwrap().rules,
            Rules::uniform(PermissionSet::read())
        );
    }

    #[test]
    fn a_replacement_is_seen_by_the_next_look() {
        let live = LiveAccounts::new(Accounts::default());
        let before = live.current();
        live.replace(Accounts::new(
            Auth::default(),
            Some(Account::everywhere(
                ANONYMOUS,
                Rules::uniform(PermissionSet::read()),
            )),
            Vec::new(),
        ));
        let after = live.current();
        assert!(!Arc::ptr_eq(&before, &after));
        assert!(after.auth.anonymous && !before.auth.anonymous);
    }
}
