//! The per-address login ban: failed logins are counted per client address
//! across connections, and an address that fails too often within a window
//! is refused (421) for a while (RFC 2577 §"Protecting Against Brute Force
//! Attacks" asks for a limit on attempts; a per-connection limit alone lets
//! a guesser open connection after connection).
//!
//! Addresses are counted by [`client_key`]: IPv4 addresses as they are,
//! IPv6 addresses by their /64, since one IPv6 host commonly owns a whole
//! /64 and would otherwise get a fresh budget per address.
//!
//! Memory is bounded: entries are dropped once their failures have left the
//! window and their ban has ended, and at most [`MAX_TRACKED`] addresses are
//! tracked (when full, the oldest record goes).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::transport::data::canonical_ip;

/// Most addresses tracked at once.
pub const MAX_TRACKED: usize = 100_000;

/// When an address is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanPolicy {
    /// Failed logins within `window` that ban the address; 0 never bans.
    pub max_failures: u32,
    pub window: Duration,
    /// How long a ban lasts.
    pub ban: Duration,
}

impl Default for BanPolicy {
    /// 10 failures in 10 minutes ban for 15 minutes: a person who forgot a
    /// password is not stopped, a guesser is held to 10 tries in 25 minutes.
    fn default() -> Self {
        BanPolicy {
            max_failures: 10,
            window: Duration::from_secs(600),
            ban: Duration::from_secs(900),
        }
    }
}

/// The address a client is counted under: IPv4 as it is, IPv6 by /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[derive(Debug, Default)]
struct Record {
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
    last_seen: Option<Instant>,
}

/// A ban that a failed login just caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ban {
    pub key: IpAddr,
    pub failures: u32,
    pub duration: Duration,
}

/// Failed logins and bans, shared by every session of a server.
#[derive(Debug, Default)]
pub struct Defender {
    /// Replaced by a reload ([`Defender::set_policy`]).
    policy: Mutex<BanPolicy>,
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl Defender {
    pub fn new(policy: BanPolicy) -> Defender {
        Defender {
            policy: Mutex::new(policy),
            records: Mutex::default(),
        }
    }

    /// How long `ip` stays banned, if it is.
    pub fn banned(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let records = self.records.lock().expect("defender lock");
        let until = records.get(&client_key(ip))?.banned_until?;
        (until > now).then(|| until - now)
    }

    /// The policy now.
    pub fn policy(&self) -> BanPolicy {
        *self.policy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new policy for the next failed logins (a reload); failures
    /// counted and bans given so far stay.
    pub fn set_policy(&self, policy: BanPolicy) {
        *self.policy.lock().unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// Counts a failed login from `ip`; returns the ban it caused, if any.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Option<Ban> {
        let policy = self.policy();
        if policy.max_failures == 0 {
            return None;
        }
        let key = client_key(ip);
        let mut records = self.records.lock().expect("defender lock");
        if records.len() >= MAX_TRACKED && !records.contains_key(&key) {
            prune(&mut records, now, policy.window);
            if records.len() >= MAX_TRACKED {
                let oldest = records
                    .iter()
                    .min_by_key(|(_, r)| r.last_seen)
                    .map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    records.remove(&oldest);
                }
            }
        }
        let record = records.entry(key).or_default();
        record.last_seen = Some(now);
        while record
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= policy.window)
        {
            record.failures.pop_front();
        }
        record.failures.push_back(now);
        let failures = record.failures.len() as u32;
        let already = record.banned_until.is_some_and(|t| t > now);
        if failures >= policy.max_failures && !already {
            record.banned_until = Some(now + policy.ban);
            record.failures.clear();
            return Some(Ban {
                key,
                failures,
                duration: policy.ban,
            });
        }
        None
    }
}

/// Drops records with no failure in the window and no running ban.
fn prune(records: &mut HashMap<IpAddr, Record>, now: Instant, window: Duration) {
    records.retain(|_, r| {
        let recent = r
            .failures
            .back()
            .is_some_and(|t| now.duration_since(*t) < window);
        let banned = r.banned_until.is_some_and(|t| t > now);
        recent || banned
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_key(ip("2001:db8:1:2::1")),
            client_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_ne!(client_key(ip("192.0.2.7")), client_key(ip("192.0.2.8")));
    }

    #[test]
    fn failures_within_the_window_ban_for_the_ban_time() {
        let policy = BanPolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
            ban: Duration::from_secs(300),
        };
        let d = Defender::new(policy);
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(d.failed(a, t0), None);
        // Out of the window: forgotten.
        assert_eq!(d.failed(a, t0 + Duration::from_secs(61)), None);
        assert_eq!(d.failed(a, t0 + Duration::from_secs(62)), None);
        let ban = d.failed(a, t0 + Duration::from_secs(63)).expect("a ban");
        assert_eq!((ban.failures, ban.duration), (3, Duration::from_secs(300)));
        assert!(d.banned(a, t0 + Duration::from_secs(64)).is_some());
        assert!(d
            .banned(ip("192.0.2.2"), t0 + Duration::from_secs(64))
            .is_none());
        assert!(
            d.banned(a, t0 + Duration::from_secs(364)).is_none(),
            "the ban ends"
        );
    }

    #[test]
    fn a_zero_limit_never_bans_and_memory_is_bounded() {
        let d = Defender::new(BanPolicy {
            max_failures: 0,
            ..BanPolicy::default()
        });
        assert_eq!(d.failed(ip("192.0.2.1"), Instant::now()), None);
        let d = Defender::new(BanPolicy::default());
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            d.failed(IpAddr::V4(i.into()), t0);
        }
        assert!(d.records.lock().unwrap().len() <= MAX_TRACKED);
    }
}
