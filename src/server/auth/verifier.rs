//! Password verification with bounded concurrency and bounded memory.
//!
//! [`Verifier`] lets at most one argon2 verification per permit run at once
//! and gives each permit its own argon2 blocks, reused from one
//! verification to the next, so a crowd of wrong passwords costs at most
//! permits x m of memory, for good.

use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex, PoisonError};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use super::{Auth, Login};

/// Where an argon2 verification keeps its state (`m` KiB of blocks).
pub(super) trait Workspace {
    fn blocks(&mut self) -> &mut Vec<Block>;
}

impl Workspace for Vec<Block> {
    fn blocks(&mut self) -> &mut Vec<Block> {
        self
    }
}

/// Verifies `password` against the PHC string `parsed` in `blocks` (grown
/// to the hash's `m` if needed). The parameters (m, t, p, version, output
/// length) come from the PHC string; the comparison is constant-time
/// (`Output`'s equality).
///
/// Why not `Argon2::verify_password`: it allocates its 19 MiB (or more)
/// afresh on every call, and glibc's malloc keeps such blocks per thread
/// arena once its mmap threshold has grown: a hundred guessing connections
/// left 4 GB resident even with two verifications at a time. Reusing a
/// [`Verifier`]'s blocks keeps the memory at permits × m, for good.
pub(super) fn verify_in(parsed: &PasswordHash, password: &str, blocks: &mut Vec<Block>) -> bool {
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let count = params.block_count();
    if blocks.len() < count {
        blocks.resize(count, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut blocks[..count])
        .is_err()
    {
        return false;
    }
    Output::new(&out).is_ok_and(|got| got == expected)
}

/// Bounds how many password verifications run at once.
///
/// Each argon2 verification holds its hash's memory (`m`, 19 MiB with the
/// defaults, 64 MiB or more with stronger settings) for as long as it runs.
/// Unbounded, 100 connections sending wrong passwords together took 5 GB.
/// Verifications are CPU-bound, so running more of them than there are cores
/// adds memory, not throughput: the extra ones wait their turn here, asleep
/// on a condition variable, and memory stays near `permits × m`.
#[derive(Debug)]
pub struct Verifier {
    /// Permits not taken.
    pub(super) free: Mutex<usize>,
    /// The argon2 memory of permits not taken, reused from one
    /// verification to the next.
    memory: Mutex<Vec<Vec<Block>>>,
    /// Signalled each time a permit is given back.
    returned: Condvar,
    /// Test instrument: verifications in progress, and the most at once.
    #[cfg(test)]
    pub(super) probe: Probe,
}

#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct Probe {
    pub now: std::sync::atomic::AtomicUsize,
    pub peak: std::sync::atomic::AtomicUsize,
}

impl Verifier {
    /// At most `permits` verifications at once (at least one, or nobody
    /// could ever log in).
    pub fn new(permits: usize) -> Verifier {
        Verifier {
            free: Mutex::new(permits.max(1)),
            memory: Mutex::default(),
            returned: Condvar::new(),
            #[cfg(test)]
            probe: Probe::default(),
        }
    }

    /// One verification per core: as fast as unbounded, as the cores are the
    /// limit anyway.
    pub fn with_cores() -> Verifier {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Verifier::new(cores)
    }

    /// Exactly [`Auth::login`], but the argon2 verification (of a real
    /// account or of an unknown name's dummy) first waits for a permit;
    /// anonymous logins and refusals without a users file take none.
    pub fn login(&self, auth: &Auth, user: &str, password: &str) -> Login {
        auth.login_gated(user, password, || self.acquire())
    }

    /// Waits for a free permit and takes it.
    pub(super) fn acquire(&self) -> Permit<'_> {
        // The mutex guards a plain count that every critical section leaves
        // consistent, so a panic elsewhere (poisoning) breaks nothing here.
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let mut free = self
            .returned
            .wait_while(free, |free| *free == 0)
            .unwrap_or_else(PoisonError::into_inner);
        *free -= 1;
        drop(free);
        #[cfg(test)]
        {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.probe.now.fetch_add(1, SeqCst) + 1;
            self.probe.peak.fetch_max(now, SeqCst);
        }
        let memory = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        Permit {
            verifier: self,
            memory,
        }
    }
}

/// One verification's right to run; given back when dropped, even if the
/// verification panics.
pub(super) struct Permit<'a> {
    verifier: &'a Verifier,
    memory: Vec<Block>,
}

impl Workspace for Permit<'_> {
    fn blocks(&mut self) -> &mut Vec<Block> {
        &mut self.memory
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        #[cfg(test)]
        self.verifier
            .probe
            .now
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        let memory = std::mem::take(&mut self.memory);
        self.verifier
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(memory);
        let mut free = self
            .verifier
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        drop(free);
        self.verifier.returned.notify_one();
    }
}
