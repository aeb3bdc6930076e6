//! The worker threads that run sessions and transfers: a session runs on
//! one while it has something to do (a command, a transfer to watch) and
//! gives it back when it parks (see [`super::reactor`]); a transfer runs
//! on another until its data connection closes (see [`super::data`]).
//!
//! A job goes to a waiting worker if there is one, else to a new thread;
//! a worker that finishes waits for the next job unless
//! [`IDLE_WORKERS`] already wait, in which case it ends, and a worker that
//! waited [`WORKER_LINGER`] for nothing ends too. So the number of threads
//! follows the number of busy sessions, not of connections, and a server
//! with nothing to do keeps no workers.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};

use crate::limits::{IDLE_WORKERS, SESSION_STACK_SIZE, WORKER_LINGER};

/// Work for a worker: run a session until it ends or parks.
pub(in crate::server) type Job = Box<dyn FnOnce() + Send>;

/// The waiting workers, each reached through its own channel, with an id
/// a lingering worker finds itself by.
type Waiting = Arc<Mutex<Vec<(u64, SyncSender<Job>)>>>;

#[derive(Debug, Default)]
pub(in crate::server) struct Pool {
    waiting: Waiting,
}

impl Pool {
    /// Runs `job` on a waiting worker, or on a new thread when none waits.
    pub fn run(&self, mut job: Job) {
        loop {
            let worker = self.waiting.lock().expect("pool lock").pop();
            let Some((_, worker)) = worker else { break };
            match worker.send(job) {
                Ok(()) => return,
                // That worker is gone: try the next one.
                Err(returned) => job = returned.0,
            }
        }
        let waiting = Arc::clone(&self.waiting);
        let spawned = std::thread::Builder::new()
            .name("session".into())
            .stack_size(SESSION_STACK_SIZE)
            .spawn(move || work(waiting, job));
        if let Err(e) = spawned {
            // The job (a session or a transfer) is dropped: its
            // connection closes.
            eprintln!("cannot start a worker thread: {e}");
        }
    }
}

impl Drop for Pool {
    /// Waiting workers end (their channels close); busy ones end after
    /// their job.
    fn drop(&mut self) {
        self.waiting.lock().expect("pool lock").clear();
    }
}

/// A worker: runs jobs until enough workers wait already or none came
/// for [`WORKER_LINGER`].
fn work(waiting: Waiting, mut job: Job) {
    let id = {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    };
    loop {
        job();
        let next: Receiver<Job> = {
            let mut list = waiting.lock().expect("pool lock");
            if list.len() >= IDLE_WORKERS {
                return;
            }
            // A fresh channel each time: when the pool is dropped, the
            // sender goes and `recv` fails, which ends this thread.
            let (tx, rx) = sync_channel(1);
            list.push((id, tx));
            rx
        };
        job = match next.recv_timeout(WORKER_LINGER) {
            Ok(next) => next,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut list = waiting.lock().expect("pool lock");
                if let Some(at) = list.iter().position(|(w, _)| *w == id) {
                    list.remove(at);
                    return;
                }
                drop(list);
                // Taken from the list just now: its job is on the way
                // (or the pool is gone).
                match next.recv() {
                    Ok(next) => next,
                    Err(_) => return,
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn jobs_run_and_workers_are_reused() {
        let pool = Pool::default();
        let (tx, rx) = channel();
        for i in 0..100 {
            let tx = tx.clone();
            pool.run(Box::new(move || tx.send(i).unwrap()));
        }
        let mut got: Vec<i32> = (0..100).map(|_| rx.recv().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        // Every worker that finished waits or has ended: never more than
        // IDLE_WORKERS wait.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(pool.waiting.lock().unwrap().len() <= IDLE_WORKERS);
    }
}
