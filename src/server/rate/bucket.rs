//! The token bucket behind a rate limit, as plain arithmetic over a clock
//! the caller passes in (no sleeping, no locking, no clock of its own), so
//! its behaviour is tested with made-up instants.
//!
//! Reservations, not polling: a consumer takes the bytes it is about to
//! move at once, even if that drives the level below zero, and is told how
//! long to wait until they are paid for. Consumers are thereby queued in
//! the order they asked: two transfers that each ask for a chunk, sleep,
//! send and ask again alternate, so each gets half of the rate. Nobody
//! polls: the wait is computed exactly.
//!
//! The bucket refills continuously at the rate and holds at most
//! [`capacity`] bytes ([`BURST`] of the rate, at least [`MIN_BURST`]):
//! however long a user was idle, what is released at once is never more
//! than that.

use std::time::{Duration, Instant};

pub use crate::limits::{RATE_BURST as BURST, RATE_MIN_BURST as MIN_BURST};

/// The bucket's capacity for `rate` bytes per second (also the chunk size
/// a throttled transfer moves at a time).
pub fn capacity(rate: u64) -> u64 {
    let burst = (rate as u128 * BURST.as_millis() / 1000) as u64;
    burst.max(MIN_BURST)
}

/// A token bucket: `rate` bytes per second, at most `capacity` at once.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    capacity: u64,
    /// Bytes available; negative while reservations wait to be paid for.
    level: f64,
    /// When `level` was last brought up to date.
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` bytes per second (0 is taken as 1).
    pub fn new(rate: u64, now: Instant) -> TokenBucket {
        let rate = rate.max(1);
        TokenBucket {
            rate,
            capacity: capacity(rate),
            level: capacity(rate) as f64,
            updated: now,
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// The largest burst, and the chunk a throttled transfer moves at once.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn refill(&mut self, now: Instant) {
        // A clock read before another consumer's (under the same lock)
        // may be a little older: time never runs backwards here.
        if now > self.updated {
            let earned = (now - self.updated).as_secs_f64() * self.rate as f64;
            self.level = (self.level + earned).min(self.capacity as f64);
            self.updated = now;
        }
    }

    /// Takes `bytes` and says how long the caller must wait, from `now`,
    /// before moving them.
    pub fn reserve(&mut self, bytes: u64, now: Instant) -> Duration {
        self.refill(now);
        self.level -= bytes as f64;
        if self.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.level / self.rate as f64)
        }
    }

    /// Gives back bytes reserved and not moved (a short write, the end of
    /// the file, an aborted wait).
    pub fn refund(&mut self, bytes: u64, now: Instant) {
        self.refill(now);
        self.level = (self.level + bytes as f64).min(self.capacity as f64);
    }

    /// A new rate, from `now` on (a reloaded configuration); reservations
    /// already waiting keep their place.
    pub fn set_rate(&mut self, rate: u64, now: Instant) {
        self.refill(now);
        self.rate = rate.max(1);
        self.capacity = capacity(self.rate);
        self.level = self.level.min(self.capacity as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// A consumer that asks for `chunk` bytes as soon as its last ones
    /// were paid for, as a throttled transfer does.
    struct Consumer {
        ready: Instant,
        moved: u64,
    }

    /// Runs `n` greedy consumers over one bucket until `end`; returns the
    /// bytes each moved and checks, at every release, that no more was
    /// released than the capacity plus the rate times the time elapsed.
    fn run(
        bucket: &mut TokenBucket,
        n: usize,
        chunk: u64,
        start: Instant,
        end: Instant,
    ) -> Vec<u64> {
        let mut consumers: Vec<Consumer> = (0..n)
            .map(|_| Consumer {
                ready: start,
                moved: 0,
            })
            .collect();
        let mut released = 0u64;
        loop {
            // The consumer whose turn comes first (ties: the lowest index).
            let (i, _) = consumers
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| c.ready)
                .unwrap();
            let now = consumers[i].ready;
            if now >= end {
                break;
            }
            let wait = bucket.reserve(chunk, now);
            // The bytes move when the wait is over.
            let at = now + wait;
            released += chunk;
            let allowed =
                bucket.capacity() as f64 + bucket.rate() as f64 * (at - start).as_secs_f64();
            assert!(
                released as f64 <= allowed + 1.0,
                "released {released} by {:?}, more than {allowed}",
                at - start
            );
            consumers[i].moved += chunk;
            consumers[i].ready = at;
        }
        consumers.iter().map(|c| c.moved).collect()
    }

    #[test]
    fn the_long_run_rate_is_exact() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(MIB, start);
        let chunk = bucket.capacity();
        let moved = run(
            &mut bucket,
            1,
            chunk,
            start,
            start + Duration::from_secs(60),
        );
        // 60 s at 1 MiB/s plus the bucket that was full at the start,
        // within one chunk (the one whose wait straddles the end).
        let expected = 60 * MIB + bucket.capacity();
        assert!(
            moved[0].abs_diff(expected) <= chunk,
            "moved {} bytes, expected {expected}",
            moved[0]
        );
    }

    #[test]
    fn a_full_bucket_releases_at_most_its_capacity_at_once() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10 * MIB, start);
        // Idle for an hour: the bucket holds no more than its capacity.
        let later = start + Duration::from_secs(3600);
        assert_eq!(bucket.reserve(bucket.capacity(), later), Duration::ZERO);
        // The next byte must wait for the refill.
        assert!(bucket.reserve(1, later) > Duration::ZERO);
        assert_eq!(bucket.capacity(), MIB);
    }

    #[test]
    fn two_consumers_share_the_rate_evenly() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(MIB, start);
        let chunk = bucket.capacity();
        let moved = run(
            &mut bucket,
            2,
            chunk,
            start,
            start + Duration::from_secs(20),
        );
        let total: u64 = moved.iter().sum();
        assert!(
            total.abs_diff(20 * MIB + bucket.capacity()) <= 2 * chunk,
            "together {total} bytes"
        );
        assert!(
            moved[0].abs_diff(moved[1]) <= chunk,
            "uneven shares: {moved:?}"
        );
    }

    #[test]
    fn unequal_chunks_still_get_the_rate_in_bytes() {
        // A consumer asking small chunks is not starved by one asking
        // large ones: both are queued by time, and pay by the byte.
        let start = Instant::now();
        let mut bucket = TokenBucket::new(MIB, start);
        let end = start + Duration::from_secs(10);
        let (mut small, mut large) = (start, start);
        let (mut moved_small, mut moved_large) = (0u64, 0u64);
        while small.min(large) < end {
            if small <= large {
                small += bucket
                    .reserve(16 * 1024, small)
                    .max(Duration::from_micros(1));
                moved_small += 16 * 1024;
            } else {
                large += bucket
                    .reserve(bucket.capacity(), large)
                    .max(Duration::from_micros(1));
                moved_large += bucket.capacity();
            }
        }
        let total = moved_small + moved_large;
        assert!(total <= 10 * MIB + bucket.capacity() + 2 * bucket.capacity());
        assert!(moved_small > 0 && moved_large > 0);
    }

    #[test]
    fn a_wait_is_exactly_what_the_deficit_takes_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(1000 * 1024, start);
        let capacity = bucket.capacity();
        assert_eq!(bucket.reserve(capacity, start), Duration::ZERO);
        // 51,200 bytes short at 1,024,000 bytes/s: 50 ms.
        let wait = bucket.reserve(51_200, start);
        assert!(wait.as_micros().abs_diff(50_000) <= 1, "{wait:?}");
        // Half-way through, the rest of the deficit is what remains.
        bucket.refund(0, start + Duration::from_millis(25));
        let wait = bucket.reserve(0, start + Duration::from_millis(25));
        assert!(wait.as_micros().abs_diff(25_000) <= 1, "{wait:?}");
    }

    #[test]
    fn refunds_return_unused_bytes_but_never_overfill() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(MIB, start);
        let capacity = bucket.capacity();
        let wait = bucket.reserve(capacity * 3, start);
        assert!(wait > Duration::ZERO);
        bucket.refund(capacity * 2, start);
        assert_eq!(bucket.reserve(0, start), Duration::ZERO);
        bucket.refund(capacity * 10, start);
        assert_eq!(bucket.reserve(capacity, start), Duration::ZERO);
        assert!(bucket.reserve(1, start) > Duration::ZERO);
    }

    #[test]
    fn tiny_rates_keep_a_workable_chunk_and_large_ones_a_tenth_of_a_second() {
        assert_eq!(capacity(1), MIN_BURST);
        assert_eq!(capacity(100), MIN_BURST);
        assert_eq!(capacity(100 * MIB), 10 * MIB);
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0, start);
        assert_eq!(bucket.rate(), 1);
        bucket.reserve(MIN_BURST, start);
        // One byte per second: the next byte waits a second.
        assert_eq!(bucket.reserve(1, start), Duration::from_secs(1));
    }

    #[test]
    fn a_new_rate_applies_from_then_on() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(MIB, start);
        bucket.reserve(bucket.capacity(), start);
        bucket.set_rate(2 * MIB, start);
        assert_eq!(bucket.capacity(), 2 * MIB / 10);
        // 1 MiB at 2 MiB/s: half a second.
        assert_eq!(bucket.reserve(MIB, start), Duration::from_millis(500));
    }
}
