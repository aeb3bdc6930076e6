//! A transfer on a thread of its own, for the TCP driver: the control
//! connection stays responsive while data flows, so ABOR can cut it
//! (RFC 959 §4.1.3) and a client that gives up is noticed at once.
//!
//! The thread is a worker of the server's pool (the one sessions run on),
//! not a new one per transfer: a client fetching many small files would
//! otherwise pay a thread's creation and teardown (and the allocator's
//! per-thread set-up) per file.
//!
//! The thread makes the data connection (accepting on the passive listener
//! or connecting to the PORT/EPRT address), runs
//! [`crate::server::transfer::run`] over it and returns the
//! [`Outcome`]; it never writes to the control connection. Its end is
//! signalled by closing one end of a socket pair, which the driver polls
//! beside the control connection.

use std::io;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::limits::{LISTING_SOCKET_BUFFER, TLS_DATA_HANDSHAKE};
use crate::server::failure::TransferError;
use crate::server::metrics::PortInUse;
use crate::server::rate::{Bucket, Throttled};
use crate::server::transfer::{self, Job, Outcome, Plan, Transfer};
use crate::server::Shared;
use crate::transport::data::{connect_active, DataError, PassiveListener};
use crate::transport::tls::{DataTlsError, SessionTls};
use crate::transport::Stream;

/// Lets the session's driver cut a running transfer.
#[derive(Debug, Default)]
struct Abort {
    requested: AtomicBool,
    socket: Mutex<Option<Socket>>,
}

impl Abort {
    /// Cuts the transfer: shuts its socket (listener or data connection)
    /// down, which wakes the blocked accept, read, write or sendfile.
    fn abort(&self) {
        self.requested.store(true, Ordering::SeqCst);
        if let Some(socket) = self.socket.lock().expect("abort lock").as_ref() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    /// Registers the socket the transfer is blocked on now.
    fn watch(&self, socket: io::Result<Socket>) {
        let mut slot = self.socket.lock().expect("abort lock");
        *slot = socket.ok();
        if self.requested.load(Ordering::SeqCst) {
            if let Some(s) = slot.as_ref() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}

/// A transfer in progress.
#[derive(Debug)]
pub(super) struct Running {
    /// Sent once, just before `done` closes.
    outcome: Receiver<Outcome>,
    abort: Arc<Abort>,
    /// Readable (end of file) once the thread is done.
    pub done: UnixStream,
}

impl Running {
    /// Asks the transfer to stop; its outcome follows as usual.
    pub fn abort(&self) {
        self.abort.abort();
    }

    /// The outcome, once `done` is readable (or after [`abort`](Self::abort)).
    pub fn join(self) -> Outcome {
        self.outcome.recv().unwrap_or_else(|_| {
            Outcome::failed(TransferError::Network(io::Error::other(
                "the transfer thread failed",
            )))
        })
    }
}

/// Counts running transfers, for the graceful stop.
struct Active<'a>(&'a Shared);

impl<'a> Active<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.transfers.fetch_add(1, Ordering::SeqCst);
        Active(shared)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.transfers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts `transfer` on a worker of the pool. `listener` is the session's passive
/// listener, for a passive plan, with its place in the metrics' count.
/// `bucket`: the user's rate limit in this direction, if any.
pub(super) fn start(
    transfer: Box<Transfer>,
    listener: Option<(PassiveListener, PortInUse)>,
    local: IpAddr,
    tls: Option<SessionTls>,
    shared: Arc<Shared>,
    bucket: Option<Arc<Bucket>>,
) -> io::Result<Running> {
    let (done, signal) = UnixStream::pair()?;
    let abort = Arc::new(Abort::default());
    let for_thread = Arc::clone(&abort);
    let (send_outcome, outcome) = sync_channel(1);
    let pool = Arc::clone(&shared);
    pool.reactor.run(Box::new(move || {
        // Dropped when the job ends, after the outcome is sent: the
        // driver's `done` reads EOF and `join` finds the outcome there.
        let _signal = signal;
        let _active = Active::new(&shared);
        let protect = match (transfer.protect, tls) {
            (true, Some(tls)) => Some(Protection {
                tls,
                require_resumption: !shared.tls_allow_unresumed,
            }),
            _ => None,
        };
        let timeouts = (shared.data_timeout, shared.stall_timeout);
        let result = run(
            *transfer,
            listener,
            local,
            protect,
            timeouts,
            bucket.as_deref(),
            &for_thread,
        );
        let _ = send_outcome.send(result);
    }));
    Ok(Running {
        outcome,
        abort,
        done,
    })
}

/// How a protected (PROT P) data connection is accepted.
struct Protection {
    tls: SessionTls,
    require_resumption: bool,
}

impl Protection {
    /// The TLS handshake on a new data connection; ABOR can cut it.
    fn accept(
        &self,
        tcp: TcpStream,
        deadline: Instant,
        abort: &Abort,
    ) -> Result<Stream, DataTlsError> {
        abort.watch(tcp.try_clone().map(Socket::from));
        // A stranger that connects and says nothing holds the listener for
        // at most this long, not the whole data timeout.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(100), TLS_DATA_HANDSHAKE);
        self.tls.accept_data(tcp, left, self.require_resumption)
    }
}

/// Makes the data connection: the control peer connecting to our passive
/// listener, or our connection to its PORT/EPRT address; with protection,
/// a TLS handshake that must resume the control connection's session. On
/// the passive port, a connection that fails that is closed before any
/// byte of data and the listener keeps waiting for the rightful one.
fn connect(
    plan: Plan,
    listener: Option<PassiveListener>,
    local: IpAddr,
    protect: Option<&Protection>,
    timeout: Duration,
    abort: &Abort,
) -> Result<Stream, DataError> {
    let deadline = Instant::now() + timeout;
    let listener = match (plan, listener) {
        (Plan::Active(addr), _) => {
            let tcp = connect_active(local, addr, timeout)?;
            return match protect {
                None => Ok(Stream::Plain(tcp)),
                Some(p) => p
                    .accept(tcp, deadline, abort)
                    .map_err(|e| DataError::Tls(e.to_string())),
            };
        }
        (Plan::Passive { .. }, Some(listener)) => listener,
        (Plan::Passive { port }, None) => {
            return Err(DataError::Accept(io::Error::other(format!(
                "the passive listener on port {port} is gone"
            ))))
        }
    };
    let mut refused = Vec::new();
    loop {
        abort.watch(listener.try_clone_socket());
        let tcp = match listener.accept_until(deadline, timeout) {
            Ok(tcp) => tcp,
            Err(DataError::AcceptTimeout { port, secs }) if !refused.is_empty() => {
                let why: Vec<String> = refused.iter().map(ToString::to_string).collect();
                return Err(DataError::TlsRefused {
                    port,
                    secs,
                    refused: refused.len(),
                    why: why.join("; "),
                });
            }
            Err(e) => return Err(e),
        };
        let Some(p) = protect else {
            return Ok(Stream::Plain(tcp));
        };
        match p.accept(tcp, deadline, abort) {
            Ok(stream) => return Ok(stream),
            // A thief, or a client that cannot resume: closed (dropped)
            // before any byte of the file, and the wait goes on.
            Err(e) if !abort.requested() => refused.push(e),
            Err(e) => return Err(DataError::Tls(e.to_string())),
        }
    }
}

fn run(
    transfer: Transfer,
    listener: Option<(PassiveListener, PortInUse)>,
    local: IpAddr,
    protect: Option<Protection>,
    (timeout, stall): (Duration, Duration),
    bucket: Option<&Bucket>,
    abort: &Abort,
) -> Outcome {
    // The port is in use until `connect` has dropped its listener.
    let (listener, in_use) = listener.unzip();
    let connected = connect(
        transfer.plan,
        listener,
        local,
        protect.as_ref(),
        timeout,
        abort,
    );
    drop(in_use);
    let mut data = match connected {
        Ok(data) if !abort.requested() => data,
        Ok(_) => return Outcome::failed(TransferError::Aborted),
        Err(_) if abort.requested() => return Outcome::failed(TransferError::Aborted),
        Err(e) => return Outcome::failed(TransferError::NoConnection(e)),
    };
    if matches!(transfer.job, Job::Listing(_)) {
        // A listing is output the client must read, like a reply: a client
        // that stops reading is cut after the stall timeout, and a small
        // send buffer keeps what it holds up small.
        let _ = data.tcp().set_write_timeout(Some(stall));
        let _ = socket2::SockRef::from(data.tcp()).set_send_buffer_size(LISTING_SOCKET_BUFFER);
    }
    abort.watch(data.cutter());
    let cancelled = || abort.requested();
    let outcome = match bucket {
        // Unlimited: the connection itself, sendfile in large asks.
        None => transfer::run(transfer.job, &mut data, transfer.ascii, &cancelled),
        Some(bucket) => {
            let mut throttled = Throttled::new(&mut data, bucket, &cancelled);
            transfer::run(transfer.job, &mut throttled, transfer.ascii, &cancelled)
        }
    };
    drop(data);
    abort.watch(Err(io::Error::other("transfer over")));
    outcome
}
