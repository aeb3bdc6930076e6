//! Bandwidth limits per user: `--download-rate`/`--upload-rate` for every
//! user, or per user from the configuration ([`Rates::set_user`]).
//!
//! A limit is a token bucket ([`bucket`]) per user name and direction,
//! shared by all of that user's transfers at once, whichever session they
//! run in: two concurrent downloads of one user each get about half of the
//! rate. Anonymous logins are all the user `anonymous`, so they share one
//! bucket. Buckets live while a transfer holds them ([`Rates::bucket`]
//! hands out an `Arc`, the registry keeps a `Weak`): a user with nothing
//! running costs an entry in a map at most.
//!
//! A transfer that finds no limit for its user runs exactly as before,
//! with `sendfile(2)` in 16 MiB asks and no per-chunk work; a limited one
//! goes through [`Throttled`], which moves a chunk of a tenth of a second
//! of the rate at a time and sleeps, without polling, until the bucket has
//! paid for it.

pub mod bucket;
mod throttle;

pub use throttle::Throttled;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bucket::TokenBucket;

use super::log::Direction;

pub use crate::limits::RATE_WAIT_SLICE as WAIT_SLICE;

/// A user's limits in bytes per second; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub download: Option<u64>,
    pub upload: Option<u64>,
}

impl Limits {
    fn of(&self, direction: Direction) -> Option<u64> {
        match direction {
            Direction::Download => self.download,
            Direction::Upload => self.upload,
            // Listings are small and answer a command: never held back.
            Direction::Listing => None,
        }
    }
}

/// One user's bucket for one direction, shared by their transfers.
#[derive(Debug)]
pub struct Bucket {
    inner: Mutex<TokenBucket>,
}

/// Why a throttled transfer stopped waiting.
#[derive(Debug, thiserror::Error)]
#[error("the transfer was aborted while held to its rate")]
pub struct Cancelled;

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            inner: Mutex::new(TokenBucket::new(rate, Instant::now())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        // The bucket is arithmetic: a panic elsewhere leaves it usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many bytes a throttled transfer moves at a time.
    pub fn chunk(&self) -> usize {
        self.lock().capacity() as usize
    }

    /// Bytes per second now.
    pub fn rate(&self) -> u64 {
        self.lock().rate()
    }

    /// Takes `bytes` from the bucket and sleeps until they are paid for,
    /// in slices of [`WAIT_SLICE`], stopping early (and giving the bytes
    /// back) once `cancelled` says so.
    pub fn acquire(&self, bytes: usize, cancelled: &dyn Fn() -> bool) -> Result<(), Cancelled> {
        let wait = self.lock().reserve(bytes as u64, Instant::now());
        let until = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            if cancelled() {
                self.refund(bytes);
                return Err(Cancelled);
            }
            std::thread::sleep((until - now).min(WAIT_SLICE));
        }
    }

    /// Gives back bytes acquired and not moved.
    pub fn refund(&self, bytes: usize) {
        if bytes > 0 {
            self.lock().refund(bytes as u64, Instant::now());
        }
    }
}

/// The server's limits and the buckets of the transfers running now.
#[derive(Debug, Default)]
pub struct Rates {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    /// For every user without limits of their own (the command line's).
    default: Limits,
    /// Users with limits of their own (the configuration file's).
    users: HashMap<String, Limits>,
    buckets: HashMap<(String, Direction), Weak<Bucket>>,
}

impl Registry {
    fn limits(&self, user: &str) -> Limits {
        self.users.get(user).copied().unwrap_or(self.default)
    }

    /// Running transfers follow a changed limit at once. One that became
    /// unlimited keeps its bucket, at the old rate, until it ends.
    fn apply(&mut self) {
        self.buckets.retain(|_, weak| weak.strong_count() > 0);
        for ((user, direction), weak) in &self.buckets {
            if let (Some(bucket), Some(rate)) = (weak.upgrade(), self.limits(user).of(*direction)) {
                bucket.lock().set_rate(rate, Instant::now());
            }
        }
    }
}

impl Rates {
    /// `default` applies to every user without limits of their own.
    pub fn new(default: Limits) -> Rates {
        Rates {
            inner: Mutex::new(Registry {
                default,
                ..Registry::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the limits of every user without limits of their own.
    pub fn set_default(&self, limits: Limits) {
        let mut registry = self.lock();
        registry.default = limits;
        registry.apply();
    }

    /// Gives `user` limits of their own (`None` in a direction: unlimited,
    /// whatever the default says).
    pub fn set_user(&self, user: &str, limits: Limits) {
        let mut registry = self.lock();
        registry.users.insert(user.to_string(), limits);
        registry.apply();
    }

    /// Replaces every user's own limits at once (a reloaded configuration):
    /// users not in `users` fall back to the default.
    pub fn set_users(&self, users: HashMap<String, Limits>) {
        let mut registry = self.lock();
        registry.users = users;
        registry.apply();
    }

    /// The limits of users without limits of their own.
    pub fn default_limits(&self) -> Limits {
        self.lock().default
    }

    /// The limits that apply to `user`.
    pub fn limits(&self, user: &str) -> Limits {
        self.lock().limits(user)
    }

    /// The bucket a transfer of `user` in `direction` must draw from, or
    /// `None` when that is unlimited. Every transfer of the user in that
    /// direction gets the same bucket while any of them holds it.
    pub fn bucket(&self, user: &str, direction: Direction) -> Option<Arc<Bucket>> {
        let mut registry = self.lock();
        let rate = registry.limits(user).of(direction)?;
        let key = (user.to_string(), direction);
        if let Some(bucket) = registry.buckets.get(&key).and_then(Weak::upgrade) {
            return Some(bucket);
        }
        // Forget the buckets nobody holds any more.
        registry.buckets.retain(|_, weak| weak.strong_count() > 0);
        let bucket = Arc::new(Bucket::new(rate));
        registry.buckets.insert(key, Arc::downgrade(&bucket));
        Some(bucket)
    }

    /// How many buckets are held now (for tests).
    pub fn live_buckets(&self) -> usize {
        let registry = self.lock();
        registry
            .buckets
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

/// A rate given as `RATE`: bytes per second, with an optional unit
/// (`512KiB`, `1MiB`, `1.5MB`, `2G`; `K`, `M`, `G` are powers of 1000,
/// `KiB`, `MiB`, `GiB` of 1024) and an optional `/s`.
pub fn parse_rate(text: &str) -> Result<u64, RateError> {
    let bad = || RateError(text.to_string());
    let trimmed = text.trim();
    let trimmed = trimmed.strip_suffix("/s").unwrap_or(trimmed).trim_end();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    // Case matters only where it is ambiguous: a lowercase `b` is a bit
    // in `Mb`, so `10Mb` is refused rather than read as bytes.
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" => 1000,
        "KiB" | "kiB" => 1 << 10,
        "m" | "M" | "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "g" | "G" | "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A rate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a rate: give bytes per second of at least 1, like 512KiB, 1MiB or 2000000")]
pub struct RateError(pub String);

/// A rate as people write it: `1 MiB/s`.
pub struct Shown(pub u64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if rate >= size && rate.is_multiple_of(size) {
                return write!(f, "{} {unit}/s", rate / size);
            }
        }
        write!(f, "{rate} B/s")
    }
}

impl From<Cancelled> for io::Error {
    fn from(e: Cancelled) -> io::Error {
        io::Error::other(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_with_their_units() {
        assert_eq!(parse_rate("1MiB"), Ok(1 << 20));
        assert_eq!(parse_rate("512KiB"), Ok(512 << 10));
        assert_eq!(parse_rate("2000000"), Ok(2_000_000));
        assert_eq!(parse_rate("1.5MB"), Ok(1_500_000));
        assert_eq!(parse_rate("10 MiB/s"), Ok(10 << 20));
        assert_eq!(parse_rate("1g"), Ok(1_000_000_000));
        assert!(parse_rate("10Mb").is_err(), "megabits are not bytes");
        for bad in ["", "0", "fast", "1XB", "-1M", "0.1", "MiB"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_rate("1 parsec")
            .unwrap_err()
            .to_string()
            .contains("like 512KiB"));
        assert_eq!(Shown(1 << 20).to_string(), "1 MiB/s");
        assert_eq!(Shown(1000).to_string(), "1000 B/s");
    }

    #[test]
    fn one_users_transfers_share_a_bucket_and_others_get_their_own() {
        let rates = Rates::new(Limits {
            download: Some(1 << 20),
            upload: None,
        });
        let a = rates.bucket("alice", Direction::Download).unwrap();
        let b = rates.bucket("alice", Direction::Download).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = rates.bucket("bob", Direction::Download).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(rates.bucket("alice", Direction::Upload).is_none());
        assert!(rates.bucket("alice", Direction::Listing).is_none());
        assert_eq!(rates.live_buckets(), 2);
        drop((a, b, c));
        assert_eq!(rates.live_buckets(), 0);
        // A new transfer after all ended gets a fresh (full) bucket.
        let d = rates.bucket("alice", Direction::Download).unwrap();
        assert_eq!(d.rate(), 1 << 20);
    }

    #[test]
    fn a_users_own_limits_override_the_default_and_apply_to_running_transfers() {
        let rates = Rates::new(Limits {
            download: Some(1 << 20),
            upload: Some(1 << 20),
        });
        let running = rates.bucket("alice", Direction::Download).unwrap();
        rates.set_user(
            "alice",
            Limits {
                download: Some(4 << 20),
                upload: None,
            },
        );
        assert_eq!(running.rate(), 4 << 20);
        assert!(rates.bucket("alice", Direction::Upload).is_none());
        assert_eq!(
            rates.bucket("bob", Direction::Upload).map(|b| b.rate()),
            Some(1 << 20)
        );
        rates.set_users(HashMap::new());
        assert_eq!(rates.limits("alice"), rates.limits("bob"));
        rates.set_default(Limits::default());
        assert!(rates.bucket("bob", Direction::Download).is_none());
    }

    #[test]
    fn a_cancelled_wait_ends_within_a_slice_and_gives_its_bytes_back() {
        let bucket = Bucket::new(1024);
        let chunk = bucket.chunk();
        bucket.acquire(chunk, &|| false).unwrap();
        // The next chunk would take four seconds at 1 KiB/s.
        let started = Instant::now();
        assert!(bucket.acquire(chunk, &|| true).is_err());
        assert!(started.elapsed() < WAIT_SLICE * 5);
        // Given back: the deficit is one chunk's worth, not two.
        let wait = bucket.lock().reserve(0, Instant::now());
        assert_eq!(wait, std::time::Duration::ZERO);
    }
}
