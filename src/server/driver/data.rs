//! A transfer on a thread of its own, for the TCP driver: the control
//! connection stays responsive while data flows, so ABOR can cut it
//! (RFC 959 §4.1.3) and a client that gives up is noticed at once.
//!
//! The thread makes the data connection (accepting on the passive listener
//! or connecting to the PORT/EPRT address), runs
//! [`crate::server::transfer::run`] over it and returns the
//! [`Outcome`]; it never writes to the control connection. Its end is
//! signalled by closing one end of a socket pair, which the driver polls
//! beside the control connection.

use std::io;
use std::net::{IpAddr, Shutdown};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::Socket;

use crate::limits::LISTING_SOCKET_BUFFER;
use crate::server::failure::TransferError;
use crate::server::transfer::{self, Job, Outcome, Plan, Transfer};
use crate::server::Shared;
use crate::transport::data::{connect_active, DataError, PassiveListener};
use crate::transport::Stream;

/// Stack of a transfer thread: its buffers live on the heap.
const TRANSFER_STACK_SIZE: usize = 128 * 1024;

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
    handle: JoinHandle<Outcome>,
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
        self.handle.join().unwrap_or_else(|_| {
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

/// Starts `transfer` on its own thread. `listener` is the session's passive
/// listener, for a passive plan.
pub(super) fn start(
    transfer: Transfer,
    listener: Option<PassiveListener>,
    local: IpAddr,
    shared: Arc<Shared>,
) -> io::Result<Running> {
    let (done, signal) = UnixStream::pair()?;
    let abort = Arc::new(Abort::default());
    let for_thread = Arc::clone(&abort);
    let handle = std::thread::Builder::new()
        .name("transfer".into())
        .stack_size(TRANSFER_STACK_SIZE)
        .spawn(move || {
            // Dropped when the thread ends: the driver's `done` reads EOF.
            let _signal = signal;
            let _active = Active::new(&shared);
            let timeouts = (shared.data_timeout, shared.stall_timeout);
            run(transfer, listener, local, timeouts, &for_thread)
        })?;
    Ok(Running {
        handle,
        abort,
        done,
    })
}

fn run(
    transfer: Transfer,
    listener: Option<PassiveListener>,
    local: IpAddr,
    (timeout, stall): (Duration, Duration),
    abort: &Abort,
) -> Outcome {
    let connected = match (transfer.plan, listener) {
        (Plan::Passive { .. }, Some(listener)) => {
            abort.watch(listener.try_clone_socket());
            listener.accept(timeout)
        }
        (Plan::Passive { port }, None) => Err(DataError::Accept(io::Error::other(format!(
            "the passive listener on port {port} is gone"
        )))),
        (Plan::Active(addr), _) => connect_active(local, addr, timeout),
    };
    let data = match connected {
        Ok(data) if !abort.requested() => data,
        Ok(_) => return Outcome::failed(TransferError::Aborted),
        Err(_) if abort.requested() => return Outcome::failed(TransferError::Aborted),
        Err(e) => return Outcome::failed(TransferError::NoConnection(e)),
    };
    if matches!(transfer.job, Job::Listing(_)) {
        // A listing is output the client must read, like a reply: a client
        // that stops reading is cut after the stall timeout, and a small
        // send buffer keeps what it holds up small.
        let _ = data.set_write_timeout(Some(stall));
        let _ = socket2::SockRef::from(&data).set_send_buffer_size(LISTING_SOCKET_BUFFER);
    }
    abort.watch(data.try_clone().map(Socket::from));
    let mut stream = Stream::Plain(data);
    let outcome = transfer::run(transfer.job, &mut stream, transfer.ascii, &|| {
        abort.requested()
    });
    drop(stream);
    abort.watch(Err(io::Error::other("transfer over")));
    outcome
}
