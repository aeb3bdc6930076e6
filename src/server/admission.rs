//! Who gets a session: `--max-sessions`, `--max-per-ip` (IPv6 clients
//! counted by /64, see [`client_key`]), the share of sessions that may wait
//! to log in, and the per-address login ban ([`Defender`]).
//!
//! With `--max-sessions`, connections that have waited more than
//! [`LOGIN_GRACE`] without logging in ("idle waiters") may hold at most half
//! of the sessions (at least one), and when the server is full an idle
//! waiter makes room for a newcomer. The waiter that has waited longest is
//! closed (its driver answers it 421) rather than the newcomer refused: a
//! client logs in within moments of connecting, so refusing newcomers would
//! let a few idle connections lock everyone out, while evicting them makes
//! an attacker churn connections faster than real clients log in. A
//! connection still within its grace is never evicted (it is in the middle
//! of logging in), and a session that logged in never is.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::Socket;

use super::defender::{client_key, Defender};

/// How long a connection may wait to log in before it counts as an idle
/// waiter that can be evicted. Logging in takes a round trip and one argon2
/// verification; two seconds cover a slow link and a busy server.
pub const LOGIN_GRACE: Duration = Duration::from_secs(2);

/// A connection waiting to log in, as eviction needs it.
#[derive(Debug)]
struct Waiting {
    /// A second handle on its socket, to wake its driver (shutdown).
    socket: Socket,
    evicted: Arc<AtomicBool>,
    since: Instant,
}

/// Session counts.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    /// Sessions not logged in, oldest first (ids grow with time).
    waiting: BTreeMap<u64, Waiting>,
    next_id: u64,
    per_ip: HashMap<IpAddr, usize>,
}

/// Decides who gets a session.
#[derive(Debug)]
pub struct Admission {
    max_sessions: Option<usize>,
    max_per_ip: Option<usize>,
    counts: Arc<Mutex<Counts>>,
}

/// A session's place in the counts, given back when it is dropped.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<Mutex<Counts>>,
    key: IpAddr,
    id: u64,
    logged_in: bool,
    /// Whether the session was closed to make room for a newcomer.
    evicted: Arc<AtomicBool>,
}

impl Slot {
    /// Marks the session logged in: it no longer waits, cannot be evicted
    /// and gives back the second handle on its socket (an idle session
    /// keeps one descriptor). A session that logs out again (REIN) is not
    /// counted as waiting; its login deadline still closes it.
    pub fn set_logged_in(&mut self, logged_in: bool) {
        if logged_in && !self.logged_in {
            self.counts
                .lock()
                .expect("admission lock")
                .waiting
                .remove(&self.id);
        }
        self.logged_in = logged_in;
    }

    /// True once the session was closed to make room for a newcomer.
    pub fn was_evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().expect("admission lock");
        c.total -= 1;
        c.waiting.remove(&self.id);
        if let Some(n) = c.per_ip.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.key);
            }
        }
    }
}

impl Admission {
    pub fn new(max_sessions: Option<usize>, max_per_ip: Option<usize>) -> Admission {
        Admission {
            max_sessions,
            max_per_ip,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for the connection `stream` from `ip`, or says why
    /// there is none (the text of the 421 reply).
    pub fn admit(
        &self,
        stream: &TcpStream,
        ip: IpAddr,
        defender: &Defender,
        now: Instant,
    ) -> Result<Slot, String> {
        if let Some(left) = defender.banned(ip, now) {
            let minutes = left.as_secs().div_ceil(60);
            return Err(format!(
                "too many failed logins from {ip}; try again in {minutes} minute(s)"
            ));
        }
        let key = client_key(ip);
        let mut c = self.counts.lock().expect("admission lock");
        // Before any eviction: a newcomer refused for its own address must
        // not cost a waiter its place.
        let from_ip = c.per_ip.get(&key).copied().unwrap_or(0);
        if self.max_per_ip.is_some_and(|max| from_ip >= max) {
            return Err(format!(
                "too many sessions from {key} ({from_ip} at most); close one and try again"
            ));
        }
        if let Some(max) = self.max_sessions {
            // Idle waiters, oldest first (ids grow with time).
            let idle = c
                .waiting
                .iter()
                .filter(|(_, w)| now.saturating_duration_since(w.since) >= LOGIN_GRACE)
                .map(|(id, _)| *id)
                .collect::<Vec<_>>();
            let full = c.total >= max;
            let too_many_idle = idle.len() >= (max / 2).max(1);
            if full && idle.is_empty() {
                return Err(format!(
                    "too many sessions ({} at most); try again later",
                    c.total
                ));
            }
            if full || too_many_idle {
                let oldest = c.waiting.remove(&idle[0]).expect("listed just now");
                oldest.evicted.store(true, Ordering::SeqCst);
                // Its driver reads end of input, sees why, answers 421; its
                // slot is given back when that session ends.
                let _ = oldest.socket.shutdown(Shutdown::Read);
            }
        }
        let evicted = Arc::new(AtomicBool::new(false));
        let mut socket = None;
        if self.max_sessions.is_some() {
            // A handle for eviction: only kept while the session waits.
            socket = Some(
                socket2::SockRef::from(stream)
                    .try_clone()
                    .map_err(|e| format!("cannot admit the connection: {e}"))?,
            );
        }
        let id = c.next_id;
        c.next_id += 1;
        c.total += 1;
        if let Some(socket) = socket {
            let evicted = Arc::clone(&evicted);
            let since = now;
            c.waiting.insert(
                id,
                Waiting {
                    socket,
                    evicted,
                    since,
                },
            );
        }
        *c.per_ip.entry(key).or_default() += 1;
        Ok(Slot {
            counts: Arc::clone(&self.counts),
            key,
            id,
            logged_in: false,
            evicted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::defender::BanPolicy;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A connected pair on loopback: the server's side, and the client's.
    fn connection() -> (TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (listener.accept().unwrap().0, client)
    }

    #[test]
    fn idle_waiters_make_room_and_fresh_ones_do_not() {
        let a = Admission::new(Some(4), None);
        let d = Defender::default();
        let t0 = Instant::now();
        let later = t0 + LOGIN_GRACE;
        let conns: Vec<_> = (0..6).map(|_| connection()).collect();
        let first = a.admit(&conns[0].0, ip("192.0.2.1"), &d, t0).unwrap();
        let mut second = a.admit(&conns[1].0, ip("192.0.2.2"), &d, t0).unwrap();
        second.set_logged_in(true);
        let third = a.admit(&conns[2].0, ip("192.0.2.3"), &d, t0).unwrap();
        let fourth = a.admit(&conns[3].0, ip("192.0.2.4"), &d, t0).unwrap();
        // Full, and every waiter is within its grace: the newcomer waits.
        let err = a.admit(&conns[4].0, ip("192.0.2.5"), &d, t0).unwrap_err();
        assert!(err.contains("too many sessions"), "{err}");
        assert!(!first.was_evicted());
        // Once they are idle waiters, the one that waited longest makes
        // room; the logged-in session never does.
        let fifth = a.admit(&conns[4].0, ip("192.0.2.5"), &d, later).unwrap();
        assert!(first.was_evicted(), "the oldest idle waiter made room");
        assert!(!second.was_evicted() && !third.was_evicted() && !fourth.was_evicted());
        // Its server side reads end of input: its driver wakes and closes.
        let mut buf = [0u8; 1];
        assert_eq!(std::io::Read::read(&mut &conns[0].0, &mut buf).unwrap(), 0);
        drop(first);
        // Below the limit, idle waiters may hold half of the sessions.
        drop(fifth);
        let sixth = a.admit(&conns[5].0, ip("192.0.2.6"), &d, later).unwrap();
        assert!(third.was_evicted(), "two idle waiters of four: one goes");
        assert!(!fourth.was_evicted() && !sixth.was_evicted());
    }

    #[test]
    fn one_ipv6_host_is_one_client_for_max_per_ip() {
        let a = Admission::new(None, Some(2));
        let d = Defender::default();
        let now = Instant::now();
        let (s, _c) = connection();
        let _x = a.admit(&s, ip("2001:db8::1"), &d, now).unwrap();
        let _y = a.admit(&s, ip("2001:db8::2"), &d, now).unwrap();
        let err = a.admit(&s, ip("2001:db8::ffff"), &d, now).unwrap_err();
        assert!(err.contains("2001:db8::"), "{err}");
        assert!(
            a.admit(&s, ip("2001:db8:0:1::1"), &d, now).is_ok(),
            "another /64"
        );
    }

    #[test]
    fn a_banned_address_is_refused() {
        let a = Admission::new(None, None);
        let d = Defender::new(BanPolicy {
            max_failures: 1,
            ..BanPolicy::default()
        });
        let now = Instant::now();
        d.failed(ip("192.0.2.9"), now).expect("banned at once");
        let (s, _c) = connection();
        let err = a.admit(&s, ip("192.0.2.9"), &d, now).unwrap_err();
        assert!(err.contains("failed logins"), "{err}");
        assert!(a.admit(&s, ip("192.0.2.10"), &d, now).is_ok());
    }
}
