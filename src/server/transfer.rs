//! A transfer runs on a thread of its own, so the control connection stays
//! responsive while data flows: ABOR can cut it (RFC 959 §4.1.3), and a
//! client that gives up is answered at once.
//!
//! The transfer thread owns everything that ends with the transfer: the data
//! connection (accepted or connected here, so ABOR can also cut the wait for
//! it), the file, and the final reply on the control connection (226, or
//! 425/426/451/452/552 with the reason). The session thread joins it before
//! answering any other command, so replies never cross.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use socket2::Socket;

use super::fs::{Upload, VirtualPath};
use super::log::Direction;
use super::session::send_reply;
use super::Shared;
use crate::control::SharedStream;
use crate::data::{connect_active, PassiveListener};
use crate::protocol::ascii::{FromNetwork, ToNetwork};
use crate::protocol::{Reply, ReplyCode, TransferType};

/// Buffer for TYPE A conversion and for writing uploads to disk: large
/// enough that a 1 GiB upload costs only a few thousand write calls.
const TRANSFER_BUFFER: usize = 1 << 20;

/// Stack of a transfer thread: its buffers live on the heap.
const TRANSFER_STACK_SIZE: usize = 128 * 1024;

/// How the data connection is made.
#[derive(Debug)]
pub(super) enum Plan {
    /// PASV/EPSV: wait for the client on this listener.
    Passive(PassiveListener),
    /// PORT/EPRT: connect to the client's address (already checked).
    Active(SocketAddr),
}

/// What flows over the data connection.
#[derive(Debug)]
pub(super) enum Job {
    /// RETR: the file, positioned at the REST offset.
    Send(File),
    /// STOR/APPE/STOU: into the upload's temporary file.
    Receive(Upload),
    /// LIST/NLST/MLSD: a listing built before the transfer starts.
    Listing(Vec<u8>),
}

/// Everything a transfer thread needs.
pub(super) struct Request {
    pub plan: Plan,
    pub job: Job,
    pub transfer_type: TransferType,
    pub path: VirtualPath,
    pub direction: Direction,
    /// A handle on the control connection for the final reply.
    pub control: SharedStream,
    pub local: IpAddr,
    pub peer: SocketAddr,
    pub user: Option<String>,
    /// Added to the 226 text (STOU reports the name it chose).
    pub note: Option<String>,
    pub shared: Arc<Shared>,
}

/// Lets the session cut a running transfer.
#[derive(Debug, Default)]
pub(super) struct Abort {
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
    handle: JoinHandle<()>,
    abort: Arc<Abort>,
}

impl Running {
    /// Waits for the transfer to end by itself.
    pub fn wait(self) {
        let _ = self.handle.join();
    }

    /// Cuts the transfer and waits for its thread (which replies 426).
    pub fn abort(self) {
        self.abort.abort();
        self.wait();
    }

    /// True once the thread has sent its final reply.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Starts the transfer on its own thread.
pub(super) fn start(request: Request) -> io::Result<Running> {
    let abort = Arc::new(Abort::default());
    let for_thread = Arc::clone(&abort);
    let handle = std::thread::Builder::new()
        .name("transfer".into())
        .stack_size(TRANSFER_STACK_SIZE)
        .spawn(move || run(request, &for_thread))?;
    Ok(Running { handle, abort })
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

fn run(request: Request, abort: &Abort) {
    let shared = Arc::clone(&request.shared);
    let _active = Active::new(&shared);
    let mut control = request.control.clone();
    let reply = |control: &mut SharedStream, code, text: String| {
        let reply = Reply::new(code, text);
        let user = request.user.as_deref();
        let _ = send_reply(&shared.log, request.peer, user, control, &reply);
    };

    let connected = match request.plan {
        Plan::Passive(listener) => {
            abort.watch(listener.try_clone_socket());
            listener.accept(shared.data_timeout)
        }
        Plan::Active(addr) => connect_active(request.local, addr, shared.data_timeout),
    };
    let mut data = match connected {
        Ok(data) if !abort.requested() => data,
        Ok(_) => {
            reply(
                &mut control,
                ReplyCode::TRANSFER_ABORTED,
                "transfer aborted by ABOR".into(),
            );
            return;
        }
        Err(_) if abort.requested() => {
            reply(
                &mut control,
                ReplyCode::TRANSFER_ABORTED,
                "transfer aborted by ABOR before the data connection opened".into(),
            );
            return;
        }
        Err(e) => {
            reply(&mut control, ReplyCode::CANT_OPEN_DATA, e.to_string());
            return;
        }
    };
    abort.watch(data.try_clone().map(Socket::from));

    let started = Instant::now();
    let ascii = request.transfer_type == TransferType::Ascii;
    let result = match request.job {
        Job::Send(mut file) => send_file(&mut file, &mut data, ascii),
        Job::Listing(bytes) => data.write_all(&bytes).map(|_| bytes.len() as u64),
        Job::Receive(mut upload) => {
            let received = receive_file(&mut data, upload.file(), ascii);
            // Only a complete upload replaces the target; an aborted one is
            // dropped here, which removes its temporary file.
            match received {
                Ok(n) if !abort.requested() => upload
                    .commit()
                    .map(|_| n)
                    .map_err(|e| io::Error::other(CommitFailed(e))),
                Ok(n) => Ok(n),
                Err(e) => Err(e),
            }
        }
    };
    // The client must see the end of the data before the final reply.
    let closed = data.shutdown(Shutdown::Write);
    drop(data);
    abort.watch(Err(io::Error::other("transfer over")));
    let result = result.and_then(|n| closed.map(|_| n));
    let elapsed = started.elapsed();
    let path = request.path.as_str();
    // One outcome: what the log says, and the final reply.
    let (bytes, outcome, code, text) = match result {
        _ if abort.requested() => (
            0,
            "aborted by ABOR".to_string(),
            ReplyCode::TRANSFER_ABORTED,
            format!("transfer of {path} aborted by ABOR"),
        ),
        Ok(bytes) => {
            let note = request.note.map(|n| format!("; {n}")).unwrap_or_default();
            let secs = elapsed.as_secs_f64();
            (
                bytes,
                "ok".to_string(),
                ReplyCode::TRANSFER_COMPLETE,
                format!("transfer complete: {bytes} bytes in {secs:.3} s{note}"),
            )
        }
        Err(e) => {
            let why = error_text(&e);
            let text = format!("transfer of {path} failed: {why}");
            (0, why, failure_code(&e), text)
        }
    };
    shared.log.transfer(
        request.peer,
        request.user.as_deref(),
        request.direction,
        path,
        bytes,
        elapsed,
        &outcome,
    );
    reply(&mut control, code, text);
}

/// The reply code of a transfer that failed with `e`.
fn failure_code(e: &io::Error) -> ReplyCode {
    match e.kind() {
        io::ErrorKind::StorageFull => ReplyCode::INSUFFICIENT_STORAGE,
        io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => ReplyCode::EXCEEDED_STORAGE,
        // The data arrived, but the file could not be put in place.
        _ if e.get_ref().is_some_and(|inner| inner.is::<CommitFailed>()) => ReplyCode::LOCAL_ERROR,
        _ => ReplyCode::TRANSFER_ABORTED,
    }
}

/// An upload that arrived whole but could not replace its target.
#[derive(Debug, thiserror::Error)]
#[error("the upload could not be put in place: {0}")]
struct CommitFailed(super::fs::FsError);

/// Words for a failed transfer that a user can act on.
fn error_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "the data connection stalled and timed out".to_string()
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => {
            "the data connection was closed by the client before the end".to_string()
        }
        io::ErrorKind::StorageFull => {
            "no space left on the server's disk; nothing was kept".to_string()
        }
        io::ErrorKind::QuotaExceeded => "the disk quota is exceeded; nothing was kept".to_string(),
        _ => e.to_string(),
    }
}

/// File to socket. In TYPE I this is `sendfile(2)` ([`crate::sendfile`]):
/// no copy through user space. TYPE A converts LF to CRLF.
fn send_file(file: &mut File, data: &mut TcpStream, ascii: bool) -> io::Result<u64> {
    if !ascii {
        return crate::sendfile::send_all(file, data);
    }
    let mut buf = vec![0; 64 * 1024];
    let mut out = Vec::with_capacity(128 * 1024);
    let mut to = ToNetwork::default();
    let mut sent = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok(sent),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.clear();
        to.convert(&buf[..n], &mut out);
        data.write_all(&out)?;
        sent += out.len() as u64;
    }
}

/// Socket to file. In TYPE I, `std::io::copy` into a large `BufWriter`
/// reads straight into the writer's buffer (few, large syscalls). TCP flow
/// control does the rest: when the disk is slower than the network, our
/// receive window fills and the sender waits; nothing overflows (design
/// question 8 in spec/PROTOCOL.md).
fn receive_file(data: &mut TcpStream, file: &mut File, ascii: bool) -> io::Result<u64> {
    let mut sink = BufWriter::with_capacity(TRANSFER_BUFFER, file);
    let received = if ascii {
        let mut buf = vec![0; 64 * 1024];
        let mut out = Vec::with_capacity(64 * 1024);
        let mut from = FromNetwork::default();
        let mut received = 0;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.clear();
            from.convert(&buf[..n], &mut out);
            sink.write_all(&out)?;
            received += n as u64;
        }
        out.clear();
        from.finish(&mut out);
        sink.write_all(&out)?;
        received
    } else {
        io::copy(data, &mut sink)?
    };
    sink.flush()?;
    Ok(received)
}
