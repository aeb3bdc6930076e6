//! One control connection's state machine, with no I/O inside: no socket,
//! no clock, no sleep, no thread (in the manner of quinn-proto's
//! `Connection`).
//!
//! A driver feeds it [`Event`]s (a framed line, an overlong line, the end
//! of input, a timer tick, a passive port opened, a transfer's outcome)
//! with the time they happened, and drains [`Action`]s from it (send a
//! reply, log, pause, open or close a passive port, start or abort a
//! transfer, close). [`driver::tcp`](super::driver::tcp) runs it over a real
//! control connection, [`driver::memory`](super::driver::memory) in tests and
//! in the `session` fuzz target. File-system work goes through the storage
//! seam ([`crate::storage::Storage`]), which the session is given.
//!
//! States (spec/PROTOCOL.md §"Session state machine"):
//!
//! ```text
//! connected --220--> AwaitUser --USER/331--> AwaitPass --PASS ok/230--> LoggedIn
//!                        ^                       |  PASS bad/530             |
//!                        +-----------------------+---------------------------+ (REIN)
//! ```
//!
//! Invariants: every command gets exactly one final reply (a third failed
//! login adds a 421 as the connection closes); a transfer command consumes
//! the data-connection plan whether it succeeds or not; while a transfer
//! runs only ABOR is answered at once, any other line waits for the
//! transfer's final reply, so replies never cross; every path a command
//! names is joined to the working directory here and handed to the storage
//! as a [`VirtualPath`], which keeps it inside the root.

#[cfg(test)]
mod accounts_tests;
mod files;
mod info;
mod login;
pub mod security;
#[cfg(test)]
mod tests;
mod transfers;
pub mod verbs;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::accounts::{Account, Accounts, LiveAccounts, Permission, UserSlot};
use super::auth::Login;
use super::failure::Failure;
use super::listing::ListingReply;
use super::log::Direction;
use super::mlsx::FactSet;
use super::transfer::{Outcome, Plan, Transfer};
use crate::limits::MAX_LINE;
use crate::protocol::{parse_command, Command, Frame, Reply, ReplyCode, TransferType};
use crate::storage::{Storage, VirtualPath};
use crate::transport::data::DataError;
use crate::transport::TlsInfo;
use security::{TlsPolicy, TlsState};

/// What every session of a server is configured with.
#[derive(Debug)]
pub struct Config {
    /// The served tree; each session sees its account's home of it.
    pub storage: Arc<dyn Storage>,
    /// Who may log in, with each account's home, permissions and limits;
    /// a reload replaces them while sessions run.
    pub accounts: Arc<LiveAccounts>,
    /// Refuse every command that writes.
    pub read_only: bool,
    /// A control connection idle this long is closed with 421.
    pub idle_timeout: Duration,
    /// A connection not logged in this long after it connected (or after
    /// REIN) is closed with 421; commands before login do not extend it.
    pub login_timeout: Duration,
    /// A passive listener nobody used for this long is closed.
    pub data_timeout: Duration,
    /// Pause before a failed login is answered.
    pub failed_login_delay: Duration,
    /// Address announced in 227 replies instead of the local one.
    pub pasv_address: Option<Ipv4Addr>,
    /// What TLS is offered or required (RFC 4217).
    pub tls: TlsPolicy,
}

/// The time an event happened, as the driver's clocks tell it.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For timeouts.
    pub instant: Instant,
    /// For listings' dates.
    pub wall: SystemTime,
}

impl Now {
    /// The system's clocks now.
    pub fn system() -> Now {
        Now {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// What happens to a session.
#[derive(Debug)]
pub enum Event {
    /// The connection was accepted: greet.
    Connected,
    /// A complete control line, or an overlong one that was discarded.
    Frame(Frame),
    /// The client closed its side of the control connection.
    Eof,
    /// Time passed; the driver calls this at [`Session::deadline`].
    Tick,
    /// The server closes the connection for this reason (answered 421).
    Shutdown(String),
    /// The answer to [`Action::OpenPassive`].
    PassiveOpened(Result<u16, DataError>),
    /// The answer to [`Action::CheckPassword`].
    PasswordChecked(Login),
    /// The control connection's TLS handshake succeeded (after
    /// [`Action::StartTls`], or first thing on the implicit TLS port).
    TlsStarted(TlsInfo),
    /// The transfer started by [`Action::StartTransfer`] ended.
    TransferDone(Outcome),
}

/// A line for the server log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEntry {
    /// A session event: login, refusal, timeout.
    Event { user: Option<String>, text: String },
    /// A finished or failed transfer.
    Transfer {
        user: Option<String>,
        direction: Direction,
        path: String,
        bytes: u64,
        elapsed: Duration,
        result: String,
    },
}

/// What the session wants done, in order. Large payloads are boxed: every
/// session keeps a queue of actions, and every idle session's thread
/// touches the stack its handling takes, so a small `Action` keeps an idle
/// session small.
#[derive(Debug)]
pub enum Action {
    /// Send this reply on the control connection.
    Reply(Reply),
    /// Send this reply, produced line by line as it is written.
    ReplyListing(Box<ListingReply>),
    /// Write this to the server log.
    Log(Box<LogEntry>),
    /// Wait this long before going on (slows password guessing).
    Pause(Duration),
    /// Check a password (argon2: seconds of CPU and megabytes of memory,
    /// so the driver bounds how many run at once); answer with
    /// [`Event::PasswordChecked`].
    CheckPassword { user: String, password: String },
    /// Run the TLS handshake on the control connection, after the 234
    /// reply; answer with [`Event::TlsStarted`], or close if it fails.
    StartTls,
    /// Open a passive listener; answer with [`Event::PassiveOpened`].
    OpenPassive,
    /// Close the passive listener: its plan was discarded.
    ClosePassive,
    /// Make the data connection and move the data; answer with
    /// [`Event::TransferDone`].
    StartTransfer(Box<Transfer>),
    /// Cut the running transfer (ABOR, or the client left).
    AbortTransfer,
    /// Close the control connection.
    Close,
}

/// Where the session is in the login sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitUser,
    AwaitPass { user: String },
    LoggedIn { user: String },
}

/// A transfer started and not yet answered.
#[derive(Debug)]
struct Running {
    path: VirtualPath,
    direction: Direction,
    /// Added to the 226 text (STOU reports the name it chose).
    note: Option<String>,
    /// How many ABORs asked to cut it; each gets its own reply after the
    /// transfer's.
    abors: u32,
}

/// What a logged-in session works with.
#[derive(Debug)]
struct Active {
    /// The account as of the last command (a reload may change it).
    account: Account,
    /// The account's home, as a back end whose `/` is the home.
    storage: Arc<dyn Storage>,
    /// The accounts `account` was read from: another `Arc` in
    /// [`LiveAccounts`] means a reload happened since.
    from: Arc<Accounts>,
    /// The session's place in the user's count (`max_sessions`).
    _slot: UserSlot,
}

/// Why a reload ends a logged-in session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountGone {
    /// The account is not in the reloaded configuration.
    Removed,
    /// The account's home is another directory now.
    Moved,
}

/// What PASV or EPSV waits for from the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PassiveRequest {
    Pasv(Ipv4Addr),
    Epsv,
}

/// One control connection's state.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    peer: SocketAddr,
    local: SocketAddr,
    state: State,
    /// The account, its storage and its slot, while logged in.
    active: Option<Active>,
    failures: u32,
    cwd: VirtualPath,
    transfer_type: TransferType,
    plan: Option<Plan>,
    passive_request: Option<PassiveRequest>,
    epsv_all: bool,
    rest: u64,
    rename_from: Option<VirtualPath>,
    facts: FactSet,
    running: Option<Running>,
    tls: TlsState,
    /// A line that arrived while a transfer ran, handled after its reply.
    waiting: Option<Frame>,
    last_input: Option<Instant>,
    /// When the login clock started: the connection, or the last REIN.
    login_started: Option<Instant>,
    /// When the passive listener of the plan expires unused.
    plan_expires: Option<Instant>,
    /// The time of the event being handled.
    instant: Option<Instant>,
    now: SystemTime,
    closed: bool,
    actions: VecDeque<Action>,
}

impl Session {
    /// A session on a connection from `peer` to our `local` address.
    pub fn new(config: Arc<Config>, peer: SocketAddr, local: SocketAddr) -> Session {
        Session {
            config,
            peer,
            local,
            state: State::AwaitUser,
            active: None,
            failures: 0,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Ascii,
            plan: None,
            passive_request: None,
            epsv_all: false,
            rest: 0,
            rename_from: None,
            facts: FactSet::default(),
            running: None,
            tls: TlsState::default(),
            waiting: None,
            last_input: None,
            login_started: None,
            plan_expires: None,
            instant: None,
            now: SystemTime::UNIX_EPOCH,
            closed: false,
            actions: VecDeque::new(),
        }
    }

    /// The user name, once USER was accepted.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::LoggedIn { user } | State::AwaitPass { user } => Some(user),
            State::AwaitUser => None,
        }
    }

    /// The account logged in with, as of the last command: its home,
    /// permissions, rates and limits (drivers read the rates here).
    pub fn account(&self) -> Option<&Account> {
        self.active.as_ref().map(|a| &a.account)
    }

    /// True once the session has asked to close: feed it nothing more.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True while a transfer started by the session has not been answered.
    pub fn transfer_running(&self) -> bool {
        self.running.is_some()
    }

    /// False while a line waits for the running transfer: read no more
    /// input until then (TCP flow control holds the client back).
    pub fn wants_input(&self) -> bool {
        !self.closed && self.waiting.is_none()
    }

    /// Gives back memory kept only for speed (the action queue's room),
    /// for a driver about to hold the session long without running it.
    pub fn release_memory(&mut self) {
        self.actions.shrink_to_fit();
    }

    /// True once a login succeeded (and no REIN since).
    pub fn logged_in(&self) -> bool {
        matches!(self.state, State::LoggedIn { .. })
    }

    /// When the driver must send [`Event::Tick`]: the earliest of the idle
    /// deadline, the login deadline (before login) and the expiry of an
    /// unused passive listener. The idle and login deadlines do not run
    /// while a transfer does (the data connection has timeouts of its own).
    pub fn deadline(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut deadlines = vec![self.plan_expires];
        if self.running.is_none() {
            deadlines.push(self.last_input.map(|t| t + self.config.idle_timeout));
            if !self.logged_in() {
                deadlines.push(self.login_started.map(|t| t + self.config.login_timeout));
            }
        }
        deadlines.into_iter().flatten().min()
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Feeds one event; its actions are queued for [`poll_action`](Self::poll_action).
    pub fn handle(&mut self, event: Event, now: Now) {
        if self.closed {
            return;
        }
        self.now = now.wall;
        self.instant = Some(now.instant);
        match event {
            Event::Connected => {
                self.last_input = Some(now.instant);
                self.login_started = Some(now.instant);
                let greeting = if self.config.accounts.current().auth.anonymous {
                    "FTP server ready; log in as anonymous"
                } else {
                    "FTP server ready; log in with your user name"
                };
                self.reply(ReplyCode::SERVICE_READY, greeting);
            }
            Event::Frame(frame) => {
                self.last_input = Some(now.instant);
                if self.running.is_some() && !is_abor(&frame) {
                    // Drivers read no more input while a line waits
                    // (`wants_input`), so there is room for this one.
                    debug_assert!(self.waiting.is_none(), "a second line waits");
                    self.waiting = Some(frame);
                } else {
                    self.frame(frame);
                }
            }
            Event::Eof => {
                if self.running.take().is_some() {
                    // The client hung up mid-transfer: cut the transfer too,
                    // so its thread, descriptors and temporary file go now.
                    self.act(Action::AbortTransfer);
                }
                self.close();
            }
            Event::Tick => self.tick(now.instant),
            Event::Shutdown(why) => {
                if self.running.take().is_some() {
                    self.act(Action::AbortTransfer);
                }
                self.reply(ReplyCode::SERVICE_NOT_AVAILABLE, &why);
                self.log(format!("closed: {why}"));
                self.close();
            }
            Event::PassiveOpened(result) => self.passive_opened(result),
            Event::PasswordChecked(login) => self.password_checked(login),
            Event::TlsStarted(info) => self.tls_started(info),
            Event::TransferDone(outcome) => {
                self.last_input = Some(now.instant);
                self.transfer_done(outcome);
                if let Some(frame) = self.waiting.take() {
                    self.frame(frame);
                }
            }
        }
    }

    /// Whatever deadline has passed: an unused passive listener is closed;
    /// a connection not logged in in time, or idle too long, is closed.
    fn tick(&mut self, now: Instant) {
        if self.plan_expires.is_some_and(|t| now >= t) {
            // Nobody connected within the data timeout: the port goes back
            // to the pool instead of waiting for a transfer command.
            self.set_plan(None);
        }
        if self.running.is_some() {
            return;
        }
        let login_deadline = self.login_started.map(|t| t + self.config.login_timeout);
        if !self.logged_in() && login_deadline.is_some_and(|d| now >= d) {
            let secs = self.config.login_timeout.as_secs();
            self.reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                format!("not logged in within {secs} seconds; closing the control connection"),
            );
            self.log("login timeout".to_string());
            return self.close();
        }
        if self
            .last_input
            .is_some_and(|t| now >= t + self.config.idle_timeout)
        {
            let secs = self.config.idle_timeout.as_secs();
            self.reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                format!("idle for {secs} seconds; closing the control connection"),
            );
            self.log("idle timeout".to_string());
            self.close();
        }
    }

    fn frame(&mut self, frame: Frame) {
        match frame {
            Frame::Overlong => self.reply(
                ReplyCode::SYNTAX_ERROR,
                format!("command line too long (the limit is {MAX_LINE} bytes); it was discarded"),
            ),
            Frame::Line(bytes) => match String::from_utf8(bytes) {
                Ok(line) => self.line(&line),
                Err(_) => self.reply(
                    ReplyCode::ARGUMENT_ERROR,
                    "the command line is not valid UTF-8; send names in UTF-8",
                ),
            },
        }
    }

    fn line(&mut self, line: &str) {
        if line.trim().is_empty() {
            // A person pressing Enter at nc: say what is expected.
            return self.reply(ReplyCode::SYNTAX_ERROR, "empty command line; try HELP");
        }
        match parse_command(line) {
            Ok(command) => self.command(command),
            Err(e) => self.fail(e),
        }
    }

    fn command(&mut self, command: Command) {
        use Command::*;
        // REST holds until a transfer command uses or discards it (clients
        // may send it before PASV or TYPE); RNFR applies to the next command
        // only, if that is RNTO.
        let rest = match command {
            Retr(_) | Stor(_) | Appe(_) | Stou | List(_) | Nlst(_) | Mlsd(_) | Rein => {
                std::mem::take(&mut self.rest)
            }
            _ => 0,
        };
        let rename_from = self.rename_from.take();

        let verb = verbs::lookup(command.verb()).expect("every command has a row in VERBS");
        let logged_in = matches!(self.state, State::LoggedIn { .. });
        if !logged_in && !verb.before_login {
            return self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "not logged in: log in with USER and PASS first",
            );
        }
        if logged_in {
            if let Err(gone) = self.refresh_account() {
                let user = self.user().unwrap_or_default().to_string();
                let (reply, log) = match gone {
                    AccountGone::Removed => (
                        format!(
                            "the account {user} no longer exists on this server; closing the \
                             connection"
                        ),
                        "closed: the account was removed by a configuration reload",
                    ),
                    AccountGone::Moved => (
                        format!(
                            "the home of {user} was changed on this server; closing the \
                             connection: log in again to reach the new one"
                        ),
                        "closed: a configuration reload changed the account's home",
                    ),
                };
                self.reply(ReplyCode::SERVICE_NOT_AVAILABLE, reply);
                self.log(log.to_string());
                return self.close();
            }
        }
        if verb.writes && self.config.read_only {
            // A refused transfer still uses up the data port, like any other.
            if matches!(command, Stor(_) | Stou | Appe(_)) {
                self.set_plan(None);
            }
            return self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                format!("{} refused: this server is read-only", verb.name),
            );
        }

        match command {
            User(name) => self.user_command(name),
            Pass(password) => self.pass(&password),
            Acct(_) => self.reply(ReplyCode::SUPERFLUOUS, "ACCT is not needed on this server"),
            Rein => self.rein(),
            Quit => {
                self.reply(ReplyCode::CLOSING, "goodbye");
                self.close();
            }
            Noop => self.reply(ReplyCode::COMMAND_OK, "NOOP ok"),
            Syst => self.reply(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            Feat => self.feat(),
            Help(verb) => self.help(verb.as_deref()),
            Stat(path) => self.stat(path.as_deref()),
            Opts(option) => self.opts(&option),
            Pwd => {
                let text = format!("{} is the current directory", self.cwd.quoted());
                self.reply(ReplyCode::PATH_CREATED, text)
            }
            Cwd(path) => self.cwd(&path),
            Cdup => self.cwd(".."),
            Type(t) => {
                self.transfer_type = t;
                let text = match t {
                    TransferType::Ascii => "type set to A (ASCII: line ends converted)",
                    TransferType::Image => "type set to I (binary: bytes as stored)",
                };
                self.reply(ReplyCode::COMMAND_OK, text)
            }
            ModeStream => self.reply(ReplyCode::COMMAND_OK, "mode set to S (stream)"),
            StruFile => self.reply(ReplyCode::COMMAND_OK, "structure set to F (file)"),
            Allo => self.reply(ReplyCode::SUPERFLUOUS, "ALLO is not needed on this server"),
            Port(addr) => self.active(SocketAddr::V4(addr), "PORT"),
            Eprt(addr) => self.active(addr, "EPRT"),
            Pasv => self.pasv(),
            Epsv(mode) => self.epsv(mode),
            Rest(offset) => {
                self.rest = offset;
                self.reply(
                    ReplyCode::PENDING,
                    format!("restarting at byte {offset}; send RETR or STOR to resume"),
                )
            }
            Retr(path) => self.retr(&path, rest),
            Stor(path) => self.stor(&path, rest),
            Appe(path) => self.appe(&path),
            Stou => self.stou(),
            List(arg) => self.list(arg.as_deref()),
            Nlst(arg) => self.nlst(arg.as_deref()),
            Mlsd(arg) => self.mlsd(arg.as_deref()),
            Mlst(arg) => self.mlst(arg.as_deref()),
            Size(path) => self.size(&path),
            Mdtm(path) => self.mdtm(&path),
            Mfmt(time, path) => self.mfmt(time, &path),
            Mkd(path) => self.mkd(&path),
            Rmd(path) => self.rmd(&path),
            Dele(path) => self.dele(&path),
            Rnfr(path) => self.rnfr(&path),
            Rnto(path) => self.rnto(&path, rename_from),
            Abor => self.abor(),
            Auth(mechanism) => self.auth(&mechanism),
            Pbsz(size) => self.pbsz(size),
            Prot(level) => self.prot(level),
        }
    }

    fn act(&mut self, action: Action) {
        self.actions.push_back(action);
    }

    fn send(&mut self, reply: Reply) {
        self.act(Action::Reply(reply));
    }

    fn reply(&mut self, code: ReplyCode, text: impl AsRef<str>) {
        self.send(Reply::new(code, text));
    }

    /// Answers a failure with its code and reason ([`Failure::reply`]).
    fn fail(&mut self, failure: impl Into<Failure>) {
        let reply = failure.into().reply();
        self.send(reply);
    }

    fn log(&mut self, text: String) {
        let user = self.user().map(str::to_string);
        self.act(Action::Log(Box::new(LogEntry::Event { user, text })));
    }

    fn close(&mut self) {
        self.set_plan(None);
        self.active = None;
        self.closed = true;
        self.act(Action::Close);
    }

    /// Replaces the data-connection plan; a passive listener that is no
    /// longer planned is closed at once rather than left to hold its port.
    fn set_plan(&mut self, plan: Option<Plan>) {
        self.plan_expires = None;
        if let Some(Plan::Passive { .. }) = std::mem::replace(&mut self.plan, plan) {
            self.act(Action::ClosePassive);
        }
    }

    /// What this session reaches: its account's home once logged in, the
    /// served tree before (which only FEAT looks at).
    fn storage(&self) -> &Arc<dyn Storage> {
        self.active
            .as_ref()
            .map_or(&self.config.storage, |a| &a.storage)
    }

    /// `Ok` when the account may do `permission` at `path` (550 naming the
    /// permission otherwise). MFMT checks [`Permission::Overwrite`] here.
    pub(super) fn allow(&self, path: &VirtualPath, permission: Permission) -> Result<(), Failure> {
        match &self.active {
            Some(a) => Ok(a.account.rules.check(path, permission)?),
            None => Ok(()),
        }
    }

    /// `Ok` when renaming `path` carries no path override with it (either
    /// end of a rename; see [`crate::server::accounts::CarriesOverride`]).
    fn movable(&self, path: &VirtualPath) -> Result<(), Failure> {
        match &self.active {
            Some(a) => Ok(a.account.rules.check_movable(path)?),
            None => Ok(()),
        }
    }

    /// `Ok` when the account may do any of `any` at `path`.
    fn allow_any(&self, path: &VirtualPath, any: &[Permission]) -> Result<(), Failure> {
        match &self.active {
            Some(a) => Ok(a.account.rules.check_any(path, any)?),
            None => Ok(()),
        }
    }

    /// Whether MLSx may show write facts (`perm`) for `path`.
    fn writable(&self, path: &VirtualPath) -> bool {
        !self.config.read_only
            && self
                .active
                .as_ref()
                .is_none_or(|a| a.account.rules.at(path).writes())
    }

    /// Takes in a reload: the session's account as the live accounts have
    /// it now. An error when the account is gone or has another home (the
    /// session must end): the new permissions are written for the new
    /// home, and applied to the home opened at login they could allow
    /// there what the old ones did not.
    fn refresh_account(&mut self) -> Result<(), AccountGone> {
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let now = self.config.accounts.current();
        if Arc::ptr_eq(&now, &active.from) {
            return Ok(());
        }
        match now.named(&active.account.name) {
            Some(account) if account.home != active.account.home => Err(AccountGone::Moved),
            Some(account) => {
                active.account = account.clone();
                active.from = Arc::clone(&now);
                Ok(())
            }
            None => Err(AccountGone::Removed),
        }
    }

    /// `path` resolved against the working directory.
    fn resolve(&self, path: &str) -> Result<VirtualPath, Failure> {
        Ok(self.cwd.join(path)?)
    }
}

fn is_abor(frame: &Frame) -> bool {
    matches!(frame, Frame::Line(bytes)
        if std::str::from_utf8(bytes).is_ok_and(|l| matches!(parse_command(l), Ok(Command::Abor))))
}
