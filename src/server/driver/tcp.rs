//! The TCP driver: runs the session state machine over a [`Stream`] (plain
//! TCP or TLS) on a worker thread while the session has something to do,
//! and parks it without a thread ([`super::reactor`]) while it waits for
//! its next command with nothing else going on.
//!
//! The driver is the only writer of the control connection: replies come
//! out of the session as actions, including a transfer's final reply, which
//! the transfer thread reports as an [`Outcome`] rather than writing it.
//! An idle session (no transfer, no passive listener, nothing buffered)
//! that gets no command within a couple of milliseconds parks until its control connection is readable or its deadline passes,
//! then resumes on a worker where it stopped: it reads, or feeds the
//! session a Tick (which answers 421 past the idle or login timeout). A
//! session that cannot park blocks reading the control connection until
//! its deadline; while a transfer runs, it waits with `poll(2)` for the
//! next command (ABOR) or the transfer's end, whichever comes first.
//! Logging of the dialogue (`-v`) happens here, where lines are read and
//! replies written.

use std::io::{self, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::data::{self, Running};
use super::reactor::{Parked, Wake};
use crate::limits::PARK_LINGER_MS;
use crate::protocol::command::shown_in_logs;
use crate::protocol::Frame;
use crate::server::admission::Slot;
use crate::server::auth::Login;
use crate::server::failure::TransferError;
use crate::server::listing::ListingReply;
use crate::server::log::{Direction, LogLevel};
use crate::server::metrics::{PortInUse, SessionActive, TransferResult};
use crate::server::session::{Action, Event, LogEntry, Now, Session};
use crate::server::transfer::{Job, Outcome};
use crate::server::xferlog;
use crate::server::Shared;
use crate::transport::control::LineReader;
use crate::transport::data::{canonical_ip, PassiveListener};
use crate::transport::tls::{ServerTls, SessionTls};
use crate::transport::Stream;

/// Runs one session until it ends or parks. Errors on the control
/// connection end the session quietly: the peer is gone and there is
/// nobody to tell.
pub(in crate::server) fn serve(stream: TcpStream, shared: Arc<Shared>, slot: Slot, implicit: bool) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    // A client that never reads its replies must not pin this thread and
    // its buffers for long.
    let _ = stream.set_write_timeout(Some(shared.stall_timeout));
    // The implicit TLS port: the handshake comes before anything else.
    let (stream, tls) = match (&shared.tls, implicit) {
        (Some(server_tls), true) => match implicit_tls(server_tls, stream, &shared) {
            Ok(pair) => pair,
            Err(e) => {
                shared
                    .log
                    .event(peer, None, format_args!("TLS handshake failed: {e}"));
                return;
            }
        },
        _ => (Stream::Plain(stream), None),
    };
    let active = shared.metrics.session();
    let session = Session::new(Arc::clone(&shared.config), peer, local);
    let mut driver = Box::new(Driver {
        shared: Arc::clone(&shared),
        peer,
        local,
        reader: LineReader::new(stream),
        session,
        passive: None,
        transfer: None,
        started: None,
        anonymous_id: None,
        armed: None,
        slot,
        tls,
        woken: false,
        unparkable: false,
        _active: active,
    });
    shared.log.event(peer, None, format_args!("connected"));
    let greeted = driver.start();
    driver.go_on(greeted);
}

impl Parked for Driver {
    fn resume(mut self: Box<Self>, wake: Wake) {
        let result = match wake {
            // Read before parking again: the input is what woke us.
            Wake::Ready => {
                self.woken = true;
                Ok(())
            }
            // As today: the session answers 421 if its deadline passed.
            Wake::Deadline => self.feed(Event::Tick),
        };
        self.go_on(result);
    }
}

/// Where a session's loop stopped.
enum Step {
    /// The session is over.
    Done,
    /// Idle with nothing going on: it waits without a thread.
    Park,
}

/// What the session waits for next.
enum Next {
    Event(Event),
    Park,
}

/// The handshake of a connection to the implicit TLS port. Not inlined,
/// for the same reason as `Driver::start_tls`.
#[inline(never)]
fn implicit_tls(
    server_tls: &ServerTls,
    stream: TcpStream,
    shared: &Shared,
) -> io::Result<(Stream, Option<SessionTls>)> {
    let tls = server_tls.session();
    let stream = tls.accept_control(stream, shared.stall_timeout)?;
    Ok((stream, Some(tls)))
}

struct Driver {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: SocketAddr,
    reader: LineReader<Stream>,
    session: Session,
    /// The listener of the session's passive plan, counted in the metrics
    /// while it is open.
    passive: Option<(PassiveListener, PortInUse)>,
    transfer: Option<Running>,
    /// What the running file transfer is, for the metrics and xferlog.
    started: Option<Started>,
    /// The identification an anonymous login gave as its password (for
    /// xferlog); `None` for a user's login.
    anonymous_id: Option<String>,
    /// When the read timeout last set on the control socket runs out: it is
    /// set again only when it would wake the driver too late (or has run
    /// out), not before every read, which would cost a system call per
    /// command.
    armed: Option<Instant>,
    /// The session's place in the server's counts.
    slot: Slot,
    /// This control connection's TLS, once it has any: its data
    /// connections must resume its session.
    tls: Option<SessionTls>,
    /// Woken from parking by input: read it before parking again.
    woken: bool,
    /// The reactor could not watch this connection: stay on the thread.
    unparkable: bool,
    /// Counted in `ftp_sessions_active` while the driver exists, parked
    /// or not.
    _active: SessionActive,
}

/// A file transfer the driver started, as the metrics and xferlog see it.
struct Started {
    direction: Direction,
    ascii: bool,
    path: String,
}

/// How the metrics classify an outcome.
fn classify(outcome: &Outcome) -> TransferResult {
    match &outcome.result {
        Ok(()) => TransferResult::Ok,
        Err(TransferError::Aborted) => TransferResult::Aborted,
        Err(_) => TransferResult::Failed,
    }
}

impl Driver {
    /// The greeting (after an implicit TLS handshake).
    fn start(&mut self) -> io::Result<()> {
        if let Some(info) = self.reader.get_ref().tls_info() {
            self.feed(Event::TlsStarted(info))?;
        }
        self.feed(Event::Connected)
    }

    /// Runs the session on this thread from where it stopped (`so_far`
    /// says how the last step went) until it ends or parks; when it parks,
    /// the thread is free again.
    fn go_on(mut self: Box<Self>, so_far: io::Result<()>) {
        let outcome = so_far.and_then(|()| self.run());
        match outcome {
            Ok(Step::Park) => {
                let fd = self.reader.get_ref().as_fd().as_raw_fd();
                let deadline = self.session.deadline();
                self.reader.release_buffer();
                self.session.release_memory();
                let shared = Arc::clone(&self.shared);
                match shared.reactor.park(self, fd, deadline) {
                    Ok(()) => {}
                    Err(mut back) => {
                        back.unparkable = true;
                        back.go_on(Ok(()));
                    }
                }
            }
            Ok(Step::Done) => self.finish(Ok(())),
            Err(e) => self.finish(Err(e)),
        }
    }

    /// The session ended: cut a transfer still running, log the end.
    fn finish(mut self: Box<Self>, outcome: io::Result<()>) {
        // A client that hangs up mid-transfer: cut the transfer too, so its
        // thread, descriptors and temporary file go now.
        if let Some(t) = self.transfer.take() {
            t.abort();
            let outcome = t.join();
            // Still counted and logged: it ended, if not by the session's hand.
            self.transfer_ended(&outcome);
        }
        let user = self.session.user();
        let log = &self.shared.log;
        match outcome {
            Ok(()) => log.event(self.peer, user, format_args!("disconnected")),
            Err(e) => log.event(self.peer, user, format_args!("connection lost: {e}")),
        }
    }

    fn run(&mut self) -> io::Result<Step> {
        while !self.session.is_closed() {
            match self.next_event()? {
                Next::Event(event) => self.feed(event)?,
                Next::Park => return Ok(Step::Park),
            }
        }
        Ok(Step::Done)
    }

    /// Whether the session can wait for its next command without a
    /// thread: nothing buffered (or inside TLS) to read, no passive
    /// listener (its accept must be watched), no transfer (checked by the
    /// caller).
    fn may_park(&mut self) -> bool {
        !std::mem::take(&mut self.woken)
            && !self.unparkable
            && self.passive.is_none()
            && self.session.wants_input()
            && !self.reader.has_buffered()
            && self.reader.get_mut().is_quiet()
    }

    /// Whether the control connection becomes readable within
    /// [`PARK_LINGER_MS`]: a session that could park reads it on this
    /// thread instead.
    fn input_soon(&self) -> io::Result<bool> {
        let mut fds = [PollFd::new(
            self.reader.get_ref().as_fd(),
            PollFlags::POLLIN,
        )];
        match poll(&mut fds, PollTimeout::from(PARK_LINGER_MS)) {
            Ok(n) => Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for what happens next: a finished transfer, a line, the end of
    /// input or the idle deadline.
    fn next_event(&mut self) -> io::Result<Next> {
        self.wait().map(|event| match event {
            Some(event) => Next::Event(event),
            None => Next::Park,
        })
    }

    /// [`next_event`](Self::next_event); `None`: park.
    fn wait(&mut self) -> io::Result<Option<Event>> {
        loop {
            if self.session.wants_input() {
                if let Some(frame) = self.reader.next_buffered() {
                    return Ok(Some(Event::Frame(frame)));
                }
            }
            let Some(transfer) = &self.transfer else {
                // Only the control connection: block until the deadline.
                // A timeout that fires early is harmless: the session's
                // Tick does nothing before its deadline, and the timeout
                // is then set again.
                let now = Instant::now();
                match self.session.deadline() {
                    Some(deadline) if deadline <= now => return Ok(Some(Event::Tick)),
                    _ if self.may_park() && !self.input_soon()? => return Ok(None),
                    Some(deadline) => {
                        let stale = self.armed.is_none_or(|a| a > deadline || a <= now);
                        if stale {
                            let left = deadline - now;
                            self.reader.get_ref().tcp().set_read_timeout(Some(left))?;
                            self.armed = Some(deadline);
                        }
                    }
                    None if self.armed.is_some() => {
                        self.reader.get_ref().tcp().set_read_timeout(None)?;
                        self.armed = None;
                    }
                    None => {}
                }
                match self.reader.fill() {
                    Ok(0) => return Ok(Some(self.end_of_input())),
                    Ok(_) => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        return Ok(Some(Event::Tick))
                    }
                    Err(e) => return Err(e),
                }
            };
            // A transfer runs: wait for its end and, if the session takes
            // input now, for the control connection (ABOR) at once. Bytes
            // TLS already decrypted are invisible to poll(2): read them.
            let wants_input = self.session.wants_input();
            if wants_input && self.reader.get_mut().has_buffered_input() {
                if self.reader.fill()? == 0 {
                    return Ok(Some(self.end_of_input()));
                }
                continue;
            }
            let (done, control) = {
                let mut fds = vec![PollFd::new(transfer.done.as_fd(), PollFlags::POLLIN)];
                if wants_input {
                    fds.push(PollFd::new(
                        self.reader.get_ref().as_fd(),
                        PollFlags::POLLIN,
                    ));
                }
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                let ready = |fd: &PollFd| fd.any().unwrap_or(false);
                (ready(&fds[0]), fds.get(1).is_some_and(ready))
            };
            if done {
                let outcome = self.transfer.take().map(Running::join);
                return Ok(Some(Event::TransferDone(outcome.unwrap_or_else(|| {
                    Outcome::failed(TransferError::Network(io::Error::other("lost transfer")))
                }))));
            }
            if control && self.reader.fill()? == 0 {
                return Ok(Some(self.end_of_input()));
            }
        }
    }

    /// No more input: the client left, or the server closed our reading
    /// side to make room for a newcomer (see `admission`).
    fn end_of_input(&self) -> Event {
        if self.slot.was_evicted() {
            Event::Shutdown(
                "too many connections waiting to log in; this one waited longest".to_string(),
            )
        } else {
            Event::Eof
        }
    }

    /// Gives the session an event and carries out what it asks, in order.
    fn feed(&mut self, event: Event) -> io::Result<()> {
        if self.shared.log.level >= LogLevel::Verbose {
            if let Event::Frame(Frame::Line(bytes)) = &event {
                if let Ok(line) = std::str::from_utf8(bytes) {
                    self.shared.log.dialogue(
                        self.peer,
                        self.session.user(),
                        "->",
                        shown_in_logs(line),
                    );
                }
            }
        }
        if let Event::TransferDone(outcome) = &event {
            self.transfer_ended(outcome);
        }
        // An action may answer with an event (a password checked, a port
        // opened): it is handled after the action, not from inside it, so
        // the stack stays one handler deep (every idle session's thread
        // keeps the pages its deepest call touched).
        let mut next = Some(event);
        while let Some(event) = next.take() {
            self.session.handle(event, Now::system());
            while let Some(action) = self.session.poll_action() {
                if let Some(answer) = self.carry_out(action)? {
                    next = Some(answer);
                }
            }
        }
        self.slot.set_logged_in(self.session.logged_in());
        Ok(())
    }

    /// Carries out one action; returns the event that answers it, if any.
    fn carry_out(&mut self, action: Action) -> io::Result<Option<Event>> {
        // Before anything is written: a client that read its 230 and
        // connects again must find this session counted as logged in.
        self.slot.set_logged_in(self.session.logged_in());
        match action {
            Action::Reply(reply) => {
                let wire = reply.to_string();
                self.shared
                    .log
                    .dialogue(self.peer, self.session.user(), "<-", wire.trim_end());
                // One write per reply: one TCP segment for short replies.
                self.reader.get_mut().write_all(wire.as_bytes())?;
            }
            Action::ReplyListing(reply) => self.reply_listing(*reply)?,
            Action::Log(entry) => self.log(*entry),
            Action::Pause(delay) => std::thread::sleep(delay),
            Action::CheckPassword { user, password } => {
                let login = self.check_password(&user, &password);
                self.shared.metrics.login(login != Login::Refused);
                self.anonymous_id = (login == Login::Anonymous).then_some(password);
                return Ok(Some(Event::PasswordChecked(login)));
            }
            Action::OpenPassive => {
                let opened = PassiveListener::open(
                    self.local.ip(),
                    self.peer.ip(),
                    self.shared.pasv_ports.as_ref(),
                )
                .map(|listener| {
                    let port = listener.port();
                    self.passive = Some((listener, self.shared.metrics.passive_port()));
                    port
                });
                return Ok(Some(Event::PassiveOpened(opened)));
            }
            Action::ClosePassive => self.passive = None,
            Action::StartTls => return self.start_tls().map(Some),
            Action::StartTransfer(transfer) => {
                let listener = self.passive.take();
                let tls = self.tls.clone();
                let (direction, path) = match &transfer.job {
                    Job::Send(file) => (Direction::Download, file.path().to_string()),
                    Job::Receive(upload) => (Direction::Upload, upload.path().to_string()),
                    Job::Listing(_) => (Direction::Listing, String::new()),
                };
                self.started = Some(Started {
                    direction,
                    ascii: transfer.ascii,
                    path,
                });
                // Unlimited users get no bucket and the fast path.
                let bucket = self
                    .session
                    .user()
                    .and_then(|user| self.shared.rates.bucket(user, direction));
                match data::start(
                    transfer,
                    listener,
                    self.local.ip(),
                    tls,
                    Arc::clone(&self.shared),
                    bucket,
                ) {
                    Ok(running) => self.transfer = Some(running),
                    Err(e) => {
                        let outcome = Outcome::failed(TransferError::Network(e));
                        return Ok(Some(Event::TransferDone(outcome)));
                    }
                }
            }
            Action::AbortTransfer => {
                if let Some(t) = &self.transfer {
                    t.abort();
                }
            }
            Action::Close => {
                self.passive = None;
                let _ = self.reader.get_ref().tcp().shutdown(Shutdown::Both);
            }
        }
        Ok(None)
    }

    /// A file transfer ended: count it and write its xferlog line.
    fn transfer_ended(&mut self, outcome: &Outcome) {
        let Some(started) = self.started.take() else {
            return;
        };
        if started.direction == Direction::Listing {
            return;
        }
        self.shared
            .metrics
            .transfer(started.direction, classify(outcome), outcome.bytes);
        let Some(log) = &self.shared.xferlog else {
            return;
        };
        let user = self.session.user().unwrap_or("*");
        let entry = xferlog::Entry {
            when: SystemTime::now(),
            elapsed: outcome.elapsed,
            remote: canonical_ip(self.peer.ip()),
            bytes: outcome.bytes,
            path: &started.path,
            ascii: started.ascii,
            direction: started.direction,
            anonymous: self.anonymous_id.is_some(),
            user: self.anonymous_id.as_deref().unwrap_or(user),
            complete: outcome.result.is_ok(),
        };
        if let Err(e) = log.record(&entry) {
            self.shared.log.error(
                self.peer,
                self.session.user(),
                format_args!("cannot write to {}: {e}", log.path().display()),
            );
        }
    }

    /// A reply produced as it is written (STAT with a path).
    #[inline(never)]
    fn reply_listing(&mut self, reply: ListingReply) -> io::Result<()> {
        let first = format!("{}-{}", reply.code, reply.first);
        // A small buffer: a client that does not read holds up 16 KiB here
        // until the write times out (--stall-timeout).
        let mut out = BufWriter::with_capacity(16 * 1024, self.reader.get_mut());
        let lines = reply.write_to(&mut out, SystemTime::now())?;
        drop(out);
        self.shared.log.dialogue(
            self.peer,
            self.session.user(),
            "<-",
            &format!("{first} ({lines} lines)"),
        );
        Ok(())
    }

    /// AUTH TLS was answered 234: the handshake, on the same socket. A
    /// failed handshake ends the session (the client is mid-handshake and
    /// cannot go back to clear text).
    // Not inlined: a TLS connection is large, and a large frame in the
    // idle path would be touched (stack probes) by every idle session.
    #[inline(never)]
    fn start_tls(&mut self) -> io::Result<Event> {
        let Some(server_tls) = &self.shared.tls else {
            return Err(io::Error::other("AUTH TLS accepted without a certificate"));
        };
        // Bytes that came in clear after AUTH TLS would be taken as commands
        // sent under TLS (the STARTTLS injection of CVE-2011-0411): a man
        // in the middle appends them to the client's AUTH. Nothing may
        // follow AUTH TLS before the handshake; a peer that sent anything
        // is cut.
        if !self.reader.is_drained() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bytes in clear after AUTH TLS (command injection?); closing",
            ));
        }
        let tls = server_tls.session();
        // A second descriptor of the socket for the TLS stream; the plain
        // stream it replaces is dropped, which closes only its own.
        let tcp = self.reader.get_ref().tcp().try_clone()?;
        let stream = tls
            .accept_control(tcp, self.shared.stall_timeout)
            .map_err(|e| io::Error::new(e.kind(), format!("TLS handshake failed: {e}")))?;
        let info = stream
            .tls_info()
            .ok_or_else(|| io::Error::other("TLS handshake incomplete"))?;
        *self.reader.get_mut() = stream;
        self.tls = Some(tls);
        Ok(Event::TlsStarted(info))
    }

    /// Checks a password unless the address is banned, and counts a
    /// failure towards the address's ban.
    #[inline(never)]
    fn check_password(&self, user: &str, password: &str) -> Login {
        let defender = &self.shared.defender;
        let ip = self.peer.ip();
        if defender.banned(ip, Instant::now()).is_some() {
            // No argon2 work for a banned address.
            return Login::Refused;
        }
        let login =
            self.shared
                .verifier
                .login(&self.shared.config.accounts.current().auth, user, password);
        if login == Login::Refused {
            if let Some(ban) = defender.failed(ip, Instant::now()) {
                self.shared.metrics.ban();
                self.shared.log.event(
                    self.peer,
                    Some(user),
                    format_args!(
                        "banned {} for {} s after {} failed logins",
                        ban.key,
                        ban.duration.as_secs(),
                        ban.failures
                    ),
                );
            }
        }
        login
    }

    fn log(&self, entry: LogEntry) {
        let log = &self.shared.log;
        match entry {
            LogEntry::Event { user, text } => {
                log.event(self.peer, user.as_deref(), format_args!("{text}"))
            }
            LogEntry::Transfer {
                user,
                direction,
                path,
                bytes,
                elapsed,
                result,
            } => log.transfer(
                self.peer,
                user.as_deref(),
                direction,
                &path,
                bytes,
                elapsed,
                &result,
            ),
        }
    }
}
