//! The in-memory driver: a session with no network at all, for unit tests
//! of the state machine and for the `session` fuzz target.
//!
//! Input is bytes, framed as the TCP driver frames them; replies are
//! collected; a passive port is a made-up number; a transfer runs
//! synchronously over an in-memory data connection (the client's side sends
//! [`MemoryDriver::set_upload`]'s bytes and receives into
//! [`MemoryDriver::received`]), or is held until the test completes or
//! aborts it. Storage is real: give the session a
//! [`LocalDisk`](crate::storage::LocalDisk) on a temporary directory.

use std::collections::VecDeque;
use std::io::{self, Cursor, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::limits::MAX_LINE;
use crate::protocol::{Frame, LineDecoder, Reply};
use crate::server::failure::TransferError;
use crate::server::session::{Action, Config, Event, LogEntry, Now, Session};
use crate::server::transfer::{self, DataConnection, Outcome, Transfer};
use crate::transport::data::DataError;
use crate::transport::TlsInfo;

/// What the make-believe client does with data connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMode {
    /// Connects at once; the transfer runs to its end right away.
    Immediate,
    /// Connects, but the transfer waits for
    /// [`MemoryDriver::complete_transfer`]; ABOR cuts it at once.
    Hold,
    /// Like `Hold`, but an ABOR takes effect only at
    /// [`MemoryDriver::complete_transfer`], as when a transfer thread is
    /// slow to notice.
    SlowAbort,
    /// Never connects: transfers fail with 425.
    Absent,
}

/// The client's side of an in-memory data connection.
struct Pipe {
    incoming: Cursor<Vec<u8>>,
    outgoing: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.incoming.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DataConnection for Pipe {
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A session driven from memory.
pub struct MemoryDriver {
    session: Session,
    config: Arc<Config>,
    decoder: LineDecoder,
    started: Instant,
    elapsed: Duration,
    replies: Vec<Reply>,
    log: Vec<LogEntry>,
    mode: DataMode,
    next_port: u16,
    passive_open: bool,
    held: Option<Transfer>,
    abort_requested: bool,
    /// Frames read but not yet given to the session: like the TCP driver,
    /// this one reads no further while a line waits for a transfer.
    unread: VecDeque<Frame>,
    upload: Vec<u8>,
    received: Vec<u8>,
    paused: Duration,
    closed: bool,
}

impl MemoryDriver {
    /// A session from 127.0.0.1:50000 to 127.0.0.1:21, greeted.
    pub fn new(config: Arc<Config>) -> MemoryDriver {
        let peer: SocketAddr = "127.0.0.1:50000".parse().expect("address");
        let local: SocketAddr = "127.0.0.1:21".parse().expect("address");
        let mut driver = MemoryDriver {
            session: Session::new(Arc::clone(&config), peer, local),
            config,
            decoder: LineDecoder::new(MAX_LINE),
            started: Instant::now(),
            elapsed: Duration::ZERO,
            replies: Vec::new(),
            log: Vec::new(),
            mode: DataMode::Immediate,
            next_port: 40000,
            passive_open: false,
            held: None,
            abort_requested: false,
            unread: VecDeque::new(),
            upload: Vec::new(),
            received: Vec::new(),
            paused: Duration::ZERO,
            closed: false,
        };
        driver.feed(Event::Connected);
        driver
    }

    /// How the make-believe client treats data connections from now on.
    pub fn set_data_mode(&mut self, mode: DataMode) {
        self.mode = mode;
    }

    /// What the client sends on the next uploads.
    pub fn set_upload(&mut self, bytes: &[u8]) {
        self.upload = bytes.to_vec();
    }

    /// What the client received over data connections so far.
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// Every reply so far, the greeting first.
    pub fn replies(&self) -> &[Reply] {
        &self.replies
    }

    /// Every log entry so far.
    pub fn log(&self) -> &[LogEntry] {
        &self.log
    }

    /// Total of the pauses the session asked for.
    pub fn paused(&self) -> Duration {
        self.paused
    }

    /// True once the session closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True while a passive listener would be open.
    pub fn passive_open(&self) -> bool {
        self.passive_open
    }

    /// True while a held transfer waits.
    pub fn transfer_held(&self) -> bool {
        self.held.is_some()
    }

    /// Sends bytes on the control connection; returns the replies they
    /// brought.
    pub fn input(&mut self, mut bytes: &[u8]) -> Vec<Reply> {
        let before = self.replies.len();
        while !bytes.is_empty() {
            let (used, frame) = self.decoder.decode(bytes);
            bytes = &bytes[used..];
            self.unread.extend(frame);
        }
        self.deliver();
        self.replies[before..].to_vec()
    }

    /// Sends one command line (CRLF added); returns its replies.
    pub fn command(&mut self, line: &str) -> Vec<Reply> {
        self.input(format!("{line}\r\n").as_bytes())
    }

    /// The client closes the control connection.
    pub fn eof(&mut self) -> Vec<Reply> {
        let before = self.replies.len();
        self.feed(Event::Eof);
        self.replies[before..].to_vec()
    }

    /// Lets `d` pass, ticking the session at its deadline.
    pub fn advance(&mut self, d: Duration) -> Vec<Reply> {
        let before = self.replies.len();
        self.elapsed += d;
        if let Some(deadline) = self.session.deadline() {
            if self.now().instant >= deadline {
                self.feed(Event::Tick);
            }
        }
        self.replies[before..].to_vec()
    }

    /// Runs a held transfer to its end; returns the replies that brought.
    pub fn complete_transfer(&mut self) -> Vec<Reply> {
        let before = self.replies.len();
        if let Some(t) = self.held.take() {
            let outcome = if std::mem::take(&mut self.abort_requested) {
                Outcome::failed(TransferError::Aborted)
            } else {
                self.run_transfer(t)
            };
            self.feed(Event::TransferDone(outcome));
            self.deliver();
        }
        self.replies[before..].to_vec()
    }

    /// Gives the session the frames it will take now, in order.
    fn deliver(&mut self) {
        while !self.closed && self.session.wants_input() {
            let Some(frame) = self.unread.pop_front() else {
                break;
            };
            self.feed(Event::Frame(frame));
        }
    }

    fn now(&self) -> Now {
        Now {
            instant: self.started + self.elapsed,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000) + self.elapsed,
        }
    }

    fn run_transfer(&mut self, t: Transfer) -> Outcome {
        let mut pipe = Pipe {
            incoming: Cursor::new(self.upload.clone()),
            outgoing: Vec::new(),
        };
        let outcome = transfer::run(t.job, &mut pipe, t.ascii, &|| false);
        self.received.extend_from_slice(&pipe.outgoing);
        outcome
    }

    fn feed(&mut self, event: Event) {
        let now = self.now();
        self.session.handle(event, now);
        while let Some(action) = self.session.poll_action() {
            match action {
                Action::Reply(reply) => self.replies.push(reply),
                Action::ReplyListing(reply) => {
                    let mut wire = Vec::new();
                    reply
                        .write_to(&mut wire, now.wall)
                        .expect("writing to memory");
                    let text = String::from_utf8_lossy(&wire);
                    let mut assembler = crate::protocol::reply::ReplyAssembler::default();
                    for line in text.lines() {
                        if let Ok(Some(reply)) = assembler.push(line) {
                            self.replies.push(reply);
                        }
                    }
                }
                Action::Log(entry) => self.log.push(*entry),
                Action::Pause(d) => self.paused += d,
                Action::CheckPassword { user, password } => {
                    let login = self.config.accounts.current().auth.login(&user, &password);
                    self.session.handle(Event::PasswordChecked(login), now);
                }
                Action::OpenPassive => {
                    self.passive_open = true;
                    let port = self.next_port;
                    self.next_port = self.next_port.wrapping_add(1).max(1024);
                    self.session.handle(Event::PassiveOpened(Ok(port)), now);
                }
                Action::ClosePassive => self.passive_open = false,
                Action::StartTls => {
                    // No real handshake in memory: the session is told it
                    // succeeded, as the TCP driver would.
                    let info = TlsInfo {
                        version: "TLSv1_3".to_string(),
                        cipher_suite: "TLS13_AES_128_GCM_SHA256".to_string(),
                        resumed: false,
                    };
                    self.session.handle(Event::TlsStarted(info), now);
                }
                Action::StartTransfer(t) => {
                    let t = *t;
                    self.passive_open = false;
                    match self.mode {
                        DataMode::Immediate => {
                            let outcome = self.run_transfer(t);
                            self.session.handle(Event::TransferDone(outcome), now);
                        }
                        DataMode::Hold | DataMode::SlowAbort => self.held = Some(t),
                        DataMode::Absent => {
                            let error = DataError::AcceptTimeout { port: 0, secs: 0 };
                            let outcome = Outcome::failed(TransferError::NoConnection(error));
                            self.session.handle(Event::TransferDone(outcome), now);
                        }
                    }
                }
                Action::AbortTransfer if self.mode == DataMode::SlowAbort => {
                    self.abort_requested = true;
                }
                Action::AbortTransfer => {
                    // Cut before a byte moved: an upload is dropped, which
                    // discards it.
                    if self.held.take().is_some() {
                        let outcome = Outcome::failed(TransferError::Aborted);
                        self.session.handle(Event::TransferDone(outcome), now);
                    }
                }
                Action::Close => {
                    self.closed = true;
                    self.passive_open = false;
                    // A held transfer dies with the connection.
                    self.held = None;
                }
            }
        }
    }
}
