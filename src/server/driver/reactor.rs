//! Parking: idle sessions without threads.
//!
//! A session waiting for its next command with nothing else going on (no
//! transfer, no passive listener, no buffered input) needs no thread. Its
//! driver hands itself to the [`Reactor`], which keeps every parked
//! session in one epoll set (through mio) and a min-heap of their
//! deadlines, and its thread goes back to the [`Pool`]. When a parked
//! control connection becomes readable (a command, end of input, an
//! eviction's shutdown) or its deadline (idle or login timeout) passes, the
//! reactor hands the session to a worker, which resumes it where it
//! stopped. Nothing about a session changes on the wire.
//!
//! The reactor thread never runs session code, so a slow session cannot
//! hold up the others' wake-ups. It ends when the server (and every
//! session holding it) is gone.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::pool::{Job, Pool};

/// What a parked session is to the reactor.
pub(in crate::server) trait Parked: Send {
    /// Continues the session on the current (worker) thread.
    fn resume(self: Box<Self>, wake: Wake);
}

/// Why a parked session was woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::server) enum Wake {
    /// Its control connection can be read (input, end of input or error).
    Ready,
    /// Its deadline passed.
    Deadline,
}

/// The token of the waker; sessions count up from 0 and never reach it.
const WAKER: Token = Token(usize::MAX);

/// Events taken from epoll at once.
const EVENTS: usize = 1024;

/// Holds parked sessions and runs sessions on the worker pool.
pub(in crate::server) struct Reactor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parked = self.inner.state.lock().map_or(0, |s| s.parked.len());
        f.debug_struct("Reactor").field("parked", &parked).finish()
    }
}

struct Inner {
    registry: Registry,
    waker: Waker,
    state: Mutex<State>,
    pool: Pool,
}

struct Entry {
    session: Box<dyn Parked>,
    fd: RawFd,
}

#[derive(Default)]
struct State {
    parked: HashMap<usize, Entry>,
    /// Deadlines of parked sessions, earliest first. An entry whose session
    /// woke earlier stays until it comes up (or the heap is rebuilt), and
    /// is then skipped: ids are never reused.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    next_id: usize,
}

impl Reactor {
    /// Starts the reactor thread.
    pub fn start() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let inner = Arc::new(Inner {
            registry,
            waker,
            state: Mutex::default(),
            pool: Pool::default(),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("reactor".into())
            .spawn(move || react(poll, weak))?;
        Ok(Reactor { inner })
    }

    /// Runs `job` on a worker thread.
    pub fn run(&self, job: Job) {
        self.inner.pool.run(job);
    }

    /// Parks `session`, whose control connection is `fd`, until `fd` is
    /// readable or `deadline` passes. Gives the session back if it cannot
    /// be watched (the caller then keeps it on its thread).
    pub fn park<S: Parked + 'static>(
        &self,
        session: Box<S>,
        fd: RawFd,
        deadline: Option<Instant>,
    ) -> Result<(), Box<S>> {
        let mut state = self.inner.state.lock().expect("reactor lock");
        let id = state.next_id;
        // Registered under the lock: the reactor handles the event only
        // once the session is in the table. Input that came before this
        // registration is reported by it (epoll checks at once).
        if self
            .inner
            .registry
            .register(&mut SourceFd(&fd), Token(id), Interest::READABLE)
            .is_err()
        {
            return Err(session);
        }
        state.next_id += 1;
        state.parked.insert(id, Entry { session, fd });
        let mut sooner = false;
        if let Some(deadline) = deadline {
            sooner = state
                .timers
                .peek()
                .is_none_or(|Reverse((first, _))| deadline < *first);
            state.timers.push(Reverse((deadline, id)));
        }
        drop(state);
        if sooner {
            // The reactor waits for a later deadline: it must wait less.
            let _ = self.inner.waker.wake();
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The reactor thread finds the server gone and ends.
        let _ = self.waker.wake();
    }
}

/// The reactor thread: waits for parked connections and deadlines, and
/// hands woken sessions to workers.
fn react(mut poll: Poll, inner: Weak<Inner>) {
    let mut events = Events::with_capacity(EVENTS);
    loop {
        let timeout = {
            let Some(inner) = inner.upgrade() else { return };
            let state = inner.state.lock().expect("reactor lock");
            state
                .timers
                .peek()
                .map(|Reverse((t, _))| t.saturating_duration_since(Instant::now()))
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("reactor: waiting for idle sessions failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            continue;
        }
        let Some(inner) = inner.upgrade() else { return };
        let mut woken = Vec::new();
        {
            let mut state = inner.state.lock().expect("reactor lock");
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                if let Some(entry) = state.parked.remove(&event.token().0) {
                    let _ = inner.registry.deregister(&mut SourceFd(&entry.fd));
                    woken.push((entry.session, Wake::Ready));
                }
            }
            let now = Instant::now();
            while let Some(&Reverse((deadline, id))) = state.timers.peek() {
                if deadline > now {
                    break;
                }
                state.timers.pop();
                if let Some(entry) = state.parked.remove(&id) {
                    let _ = inner.registry.deregister(&mut SourceFd(&entry.fd));
                    woken.push((entry.session, Wake::Deadline));
                }
            }
            // Timers of sessions that woke for input pile up; drop them
            // once they outnumber the parked sessions.
            if state.timers.len() > 2 * state.parked.len() + 64 {
                let State { parked, timers, .. } = &mut *state;
                timers.retain(|Reverse((_, id))| parked.contains_key(id));
            }
        }
        for (session, wake) in woken {
            inner.pool.run(Box::new(move || session.resume(wake)));
        }
    }
}
