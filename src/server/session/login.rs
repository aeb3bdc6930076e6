//! USER, PASS and REIN (RFC 959 §4.1.1): the login sequence, with the
//! failed-login delay and the close after too many failures of RFC 2577
//! §"Protecting Against Brute Force Attacks". The delay is an
//! [`Action::Pause`]: the driver waits, the state machine does not.

use std::sync::Arc;

use super::{Action, Active, Session, State};
use crate::limits::MAX_LOGIN_FAILURES;
use crate::protocol::{ReplyCode, TransferType};
use crate::server::accounts::ANONYMOUS;
use crate::server::auth::{is_anonymous, Login};
use crate::server::mlsx::FactSet;
use crate::storage::VirtualPath;

impl Session {
    pub(super) fn user_command(&mut self, name: String) {
        if matches!(self.state, State::LoggedIn { .. }) {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "already logged in; send REIN first to log in as someone else",
            );
        }
        if self.refuse_clear_login() {
            return;
        }
        if is_anonymous(&name) && !self.config.accounts.current().auth.anonymous {
            self.state = State::AwaitUser;
            return self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "anonymous login is disabled on this server; log in with your user name",
            );
        }
        let text = if is_anonymous(&name) {
            "anonymous login ok; send any password (your e-mail address, by custom)".to_string()
        } else {
            format!("password required for {name}")
        };
        self.state = State::AwaitPass { user: name };
        self.reply(ReplyCode::NEED_PASSWORD, text)
    }

    pub(super) fn pass(&mut self, password: &str) {
        let user = match &self.state {
            State::AwaitPass { user } => user.clone(),
            State::AwaitUser => {
                return self.reply(ReplyCode::BAD_SEQUENCE, "send USER before PASS")
            }
            State::LoggedIn { .. } => {
                return self.reply(ReplyCode::BAD_SEQUENCE, "already logged in")
            }
        };
        self.act(Action::CheckPassword {
            user,
            password: password.to_string(),
        });
    }

    /// The driver's answer to [`Action::CheckPassword`].
    pub(super) fn password_checked(&mut self, login: Login) {
        let State::AwaitPass { user } = &self.state else {
            return;
        };
        let user = user.clone();
        let name = match &login {
            Login::Anonymous => ANONYMOUS.to_string(),
            Login::User(name) => name.clone(),
            Login::Refused => return self.refuse_login(user),
        };
        let accounts = self.config.accounts.current();
        // The password was right but a reload removed the account meanwhile.
        let Some(account) = accounts.of(&login).cloned() else {
            return self.refuse_login(user);
        };
        let storage = if account.home.is_root() {
            Arc::clone(&self.config.storage)
        } else {
            match self.config.storage.subtree(&account.home) {
                Ok(storage) => storage,
                // Homes are not created at login: a typo in `home` would
                // otherwise make directories nobody meant to exist.
                Err(e) => {
                    self.state = State::AwaitUser;
                    self.act(Action::Log(Box::new(super::LogEntry::Event {
                        user: Some(name.clone()),
                        text: format!(
                            "login refused: the home {} cannot be opened ({e}); create the \
                             directory under the served root or fix `home` in the config file \
                             (homes are not created at login)",
                            account.home
                        ),
                    })));
                    return self.reply(
                        ReplyCode::NOT_LOGGED_IN,
                        format!(
                            "login refused: the home directory of {name} is not available on \
                             this server; tell its administrator"
                        ),
                    );
                }
            }
        };
        let Some(slot) = self.config.accounts.enter(&name, account.max_sessions) else {
            self.state = State::AwaitUser;
            let max = account.max_sessions.unwrap_or_default();
            self.act(Action::Log(Box::new(super::LogEntry::Event {
                user: Some(name.clone()),
                text: format!("login refused: {max} sessions of this user already (max_sessions)"),
            })));
            return self.reply(
                ReplyCode::NOT_LOGGED_IN,
                format!(
                    "login refused: {name} may have at most {max} {} at once; \
                     close one and log in again",
                    if max == 1 { "session" } else { "sessions" }
                ),
            );
        };
        self.active = Some(Active {
            account,
            storage,
            from: accounts,
            _slot: slot,
        });
        self.state = State::LoggedIn { user: name.clone() };
        self.log("logged in".to_string());
        self.reply(ReplyCode::LOGGED_IN, format!("logged in as {name}"))
    }

    fn refuse_login(&mut self, user: String) {
        // Slow down password guessing (RFC 2577 §"Protecting Against Brute Force").
        self.act(Action::Pause(self.config.failed_login_delay));
        self.state = State::AwaitUser;
        self.failures += 1;
        let text = format!("login refused ({} of {MAX_LOGIN_FAILURES})", self.failures);
        self.act(Action::Log(Box::new(super::LogEntry::Event {
            user: Some(user),
            text,
        })));
        self.reply(
            ReplyCode::NOT_LOGGED_IN,
            "login incorrect: wrong user name or password",
        );
        if self.failures >= MAX_LOGIN_FAILURES {
            self.reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                format!("{MAX_LOGIN_FAILURES} failed logins; closing the connection"),
            );
            self.close();
        }
    }

    /// REIN: back to the state of a fresh connection (RFC 959 §4.1.1).
    pub(super) fn rein(&mut self) {
        self.state = State::AwaitUser;
        self.active = None;
        // A new login gets the whole login timeout again.
        self.login_started = self.instant;
        self.cwd = VirtualPath::root();
        self.transfer_type = TransferType::Ascii;
        self.set_plan(None);
        self.epsv_all = false;
        self.facts = FactSet::default();
        self.reply(ReplyCode::SERVICE_READY, "logged out; ready for a new user")
    }
}
