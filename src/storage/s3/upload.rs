//! STOR, STOU, APPE and REST + STOR into an object: a multipart upload
//! with bounded memory, completed only at [`Upload::commit`], aborted when
//! dropped.
//!
//! Memory: one part being filled ([`PART_SIZE`]) and at most
//! [`PARTS_IN_FLIGHT`] parts on their way, whatever the file's size; when
//! both are taken, `write` waits for a part to land, and TCP flow control
//! slows the client down (as a slow disk does for the local back end).
//! Nothing is spooled to the local disk.
//!
//! Atomicity is the store's: the parts of an upload are invisible until
//! CompleteMultipartUpload, which replaces the object at once, so readers
//! see the old object or the new one, never a part. An upload smaller than
//! one part never starts a multipart upload at all: it is one PUT at
//! commit. Dropped uncommitted (failure, ABOR, a client gone), the upload
//! aborts its own multipart upload; a killed `serv` leaves it to the
//! bucket's `AbortIncompleteMultipartUpload` lifecycle rule, since no
//! server can tell its own stale uploads from another's live ones.
//!
//! Resumed and appending uploads (REST + STOR, APPE) first stream the kept
//! bytes of the old object into the new upload (one ranged GET, pinned to
//! the old object's ETag, at the first write or at commit), then the
//! client's bytes. At commit the object must still be the one they started
//! from (its ETag, checked just before completing: another server can
//! still slip in between the check and the completion).
//!
//! Limits: S3 allows 10,000 parts, so one upload holds at most
//! 10,000 × 8 MiB (about 78 GiB).

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use object_store::aws::AmazonS3;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Handle;
use tokio::task::JoinSet;

use super::keys::fail;
use super::runtime::{pump, run, wait};
use super::Registry;
use crate::storage::{StorageError, Upload, VirtualPath};

/// Bytes per part: S3's minimum is 5 MiB (but for the last part).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading at once, per upload.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Part buffers kept between uploads, at most one upload's worth: a
/// buffer freed by one upload's thread and allocated again by the next
/// one's often came from another allocator arena, and the freed one stayed
/// resident (the benchmark's server grew from 35 to 76 MiB over rounds).
static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
const POOL_BUFFERS: usize = PARTS_IN_FLIGHT + 1;

/// A part buffer: a pooled one, or a new one.
fn part_buffer() -> Vec<u8> {
    let pooled = POOL.lock().unwrap_or_else(PoisonError::into_inner).pop();
    pooled.unwrap_or_else(|| Vec::with_capacity(PART_SIZE))
}

/// Gives a part buffer back to the pool, if it has room.
fn recycle(mut buffer: Vec<u8>) {
    if buffer.capacity() < PART_SIZE {
        return;
    }
    buffer.clear();
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if pool.len() < POOL_BUFFERS {
        pool.push(buffer);
    }
}

/// Keys with a resumed or appending upload running in this process.
static RESUMING: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// One key in [`RESUMING`], released when dropped.
#[derive(Debug)]
pub struct Claim(String);

impl Claim {
    pub fn take(key: &str) -> Option<Claim> {
        let mut set = RESUMING.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(key.to_string()).then(|| Claim(key.to_string()))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        RESUMING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.0);
    }
}

/// What a resumed or appending upload keeps of the old object.
#[derive(Debug)]
pub struct Kept {
    /// Bytes kept from the start of the old object (0: none, or no object).
    pub len: u64,
    /// The old object's ETag, when there was one.
    pub e_tag: Option<String>,
    /// True once the kept bytes are in the upload.
    pub placed: bool,
    /// Held for its drop: one resumed upload per key at a time.
    pub _claim: Claim,
}

/// Where an upload goes and what it keeps.
#[derive(Debug)]
pub struct Destination {
    pub location: Path,
    pub path: VirtualPath,
    /// STOU: fail rather than replace an object.
    pub no_clobber: bool,
    pub kept: Option<Kept>,
}

/// An upload in progress.
pub struct ObjectUpload {
    pub store: Arc<AmazonS3>,
    /// The store without an overall timeout, for the kept bytes' GET.
    pub streams: Arc<AmazonS3>,
    pub handle: Handle,
    pub location: Path,
    pub path: VirtualPath,
    pub no_clobber: bool,
    pub kept: Option<Kept>,
    pub registry: Registry,
    /// This upload's number in the registry.
    pub id: u64,
    /// The part being filled.
    pub buffer: Vec<u8>,
    /// The multipart upload's id, once the first part is full.
    pub multipart: Option<String>,
    /// Parts on their way: index, result, and the part's bytes (to reuse
    /// their buffer once the request has let go of them).
    pub in_flight: JoinSet<(usize, object_store::Result<PartId>, Bytes)>,
    /// Part buffers of landed parts, ready to be filled again: an upload
    /// allocates its few buffers once, not one per part (freed 8 MiB
    /// blocks stayed in the allocator's arenas and grew the server).
    pub spare: Vec<Vec<u8>>,
    /// Parts landed, by index.
    pub landed: Vec<Option<PartId>>,
    /// Set by commit or a failure already cleaned up.
    pub finished: bool,
}

impl fmt::Debug for ObjectUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectUpload")
            .field("location", &self.location)
            .field("multipart", &self.multipart)
            .field("parts", &self.landed.len())
            .finish_non_exhaustive()
    }
}

fn store_error(what: &str, e: impl fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl ObjectUpload {
    /// `stores`: the one for requests and the one for streamed GETs.
    pub fn new(
        stores: [Arc<AmazonS3>; 2],
        handle: Handle,
        registry: Registry,
        to: Destination,
    ) -> ObjectUpload {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let [store, streams] = stores;
        ObjectUpload {
            store,
            streams,
            handle,
            location: to.location,
            path: to.path,
            no_clobber: to.no_clobber,
            kept: to.kept,
            registry,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            buffer: Vec::new(),
            multipart: None,
            in_flight: JoinSet::new(),
            spare: Vec::new(),
            landed: Vec::new(),
            finished: false,
        }
    }

    /// Appends `data` to the upload, sending each part as it fills.
    fn push(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = self.spare.pop().unwrap_or_else(part_buffer);
            }
            let room = PART_SIZE - self.buffer.len();
            let n = room.min(data.len());
            self.buffer.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buffer.len() == PART_SIZE {
                self.send_part()?;
            }
        }
        Ok(())
    }

    /// Sends the buffer as the next part, once a slot is free.
    fn send_part(&mut self) -> io::Result<()> {
        let id = match &self.multipart {
            Some(id) => id.clone(),
            None => {
                let store = Arc::clone(&self.store);
                let location = self.location.clone();
                let id = run(&self.handle, async move {
                    store.create_multipart(&location).await
                })
                .map_err(|e| store_error("starting the multipart upload", e))?;
                self.registry
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(self.id, (self.location.clone(), id.clone()));
                self.multipart = Some(id.clone());
                id
            }
        };
        while self.in_flight.len() >= PARTS_IN_FLIGHT {
            self.land_one()?;
        }
        let index = self.landed.len();
        self.landed.push(None);
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        let store = Arc::clone(&self.store);
        let location = self.location.clone();
        self.in_flight.spawn_on(
            async move {
                let payload = PutPayload::from(bytes.clone());
                let part = store.put_part(&location, &id, index, payload).await;
                (index, part, bytes)
            },
            &self.handle,
        );
        Ok(())
    }

    /// Waits for one part in flight to land.
    fn land_one(&mut self) -> io::Result<()> {
        match wait(&self.handle, self.in_flight.join_next()) {
            None => Ok(()),
            Some(Ok((index, Ok(part), bytes))) => {
                self.landed[index] = Some(part);
                if let Ok(buffer) = bytes.try_into_mut() {
                    let mut buffer = Vec::from(buffer);
                    buffer.clear();
                    if buffer.capacity() >= PART_SIZE {
                        self.spare.push(buffer);
                    }
                }
                Ok(())
            }
            Some(Ok((index, Err(e), _))) => Err(store_error(&format!("uploading part {index}"), e)),
            Some(Err(e)) => Err(store_error("a part upload task", e)),
        }
    }

    /// Puts the kept bytes of the old object first, once.
    fn place_kept(&mut self) -> io::Result<()> {
        let Some(kept) = self.kept.as_mut() else {
            return Ok(());
        };
        if kept.placed || kept.len == 0 {
            kept.placed = true;
            return Ok(());
        }
        kept.placed = true;
        let options = GetOptions {
            if_match: kept.e_tag.clone(),
            range: Some(GetRange::Bounded(0..kept.len)),
            ..GetOptions::default()
        };
        let len = kept.len;
        let store = Arc::clone(&self.streams);
        let location = self.location.clone();
        let result = run(&self.handle, async move {
            store.get_opts(&location, options).await
        })
        .map_err(|e| store_error("reading the part of the old object to keep", e))?;
        let mut body = pump(&self.handle, result.into_stream());
        let mut got = 0u64;
        while let Some(chunk) = body.blocking_recv() {
            let chunk =
                chunk.map_err(|e| store_error("reading the part of the old object to keep", e))?;
            got += chunk.len() as u64;
            self.push(&chunk)?;
        }
        if got != len {
            return Err(io::Error::other(format!(
                "the old object gave {got} of the {len} bytes to keep"
            )));
        }
        Ok(())
    }

    /// Completes the upload in place of the object.
    fn finish(&mut self) -> Result<(), StorageError> {
        let path = self.path.clone();
        let io_fail = |e: io::Error| StorageError::Io {
            path: path.clone(),
            source: e,
        };
        self.place_kept().map_err(io_fail)?;
        // Check-then-put: S3's conditional writes are not offered by every
        // engine nor by object_store for multipart uploads, so STOU and a
        // resumed upload check just before completing (see the module docs).
        if self.no_clobber || self.kept.is_some() {
            let store = Arc::clone(&self.store);
            let location = self.location.clone();
            let current = run(&self.handle, async move { store.head(&location).await });
            match (&current, &self.kept) {
                (Ok(_), None) => return Err(StorageError::AlreadyExists(path)),
                (Err(object_store::Error::NotFound { .. }), None) => {}
                (Ok(meta), Some(kept)) if kept.e_tag.is_some() && meta.e_tag == kept.e_tag => {}
                (Err(object_store::Error::NotFound { .. }), Some(kept)) if kept.e_tag.is_none() => {
                }
                (Err(e), _) if !matches!(e, object_store::Error::NotFound { .. }) => {
                    return Err(io_fail(store_error("checking the object", e)))
                }
                _ => {
                    return Err(io_fail(io::Error::other(
                        "the file was replaced or removed while this upload resumed it; nothing was kept",
                    )))
                }
            }
        }
        match self.multipart.clone() {
            None => {
                let payload = PutPayload::from(Bytes::from(std::mem::take(&mut self.buffer)));
                let store = Arc::clone(&self.store);
                let location = self.location.clone();
                run(
                    &self.handle,
                    async move { store.put(&location, payload).await },
                )
                .map(|_| ())
                .map_err(|e| fail(&path, e))
            }
            Some(id) => {
                if !self.buffer.is_empty() {
                    self.send_part().map_err(io_fail)?;
                }
                while !self.in_flight.is_empty() {
                    self.land_one().map_err(io_fail)?;
                }
                let parts = self
                    .landed
                    .iter()
                    .cloned()
                    .collect::<Option<Vec<PartId>>>()
                    .ok_or_else(|| io_fail(io::Error::other("a part never landed")))?;
                let store = Arc::clone(&self.store);
                let location = self.location.clone();
                run(&self.handle, async move {
                    store.complete_multipart(&location, &id, parts).await
                })
                .map(|_| ())
                .map_err(|e| fail(&path, e))
            }
        }
    }

    /// Aborts the multipart upload, if one was started, and forgets it.
    fn abort(&mut self) {
        self.in_flight.abort_all();
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        let Some(id) = self.multipart.take() else {
            return;
        };
        let store = Arc::clone(&self.store);
        let location = self.location.clone();
        let abort = async move {
            let _ = store.abort_multipart(&location, &id).await;
        };
        // From a std thread (always, in the server) the abort is done when
        // this returns; from inside the runtime it cannot be waited for.
        if Handle::try_current().is_err() {
            run(&self.handle, abort);
        } else {
            self.handle.spawn(abort);
        }
    }
}

impl Write for ObjectUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other("the upload is finished"));
        }
        self.place_kept()?;
        self.push(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Upload for ObjectUpload {
    fn path(&self) -> &VirtualPath {
        &self.path
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        if self.finished {
            return Err(StorageError::Io {
                path: self.path.clone(),
                source: io::Error::other("the upload is finished"),
            });
        }
        let result = self.finish();
        if result.is_ok() {
            self.finished = true;
            self.multipart = None;
            self.registry
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.id);
        }
        // On failure, drop aborts what was started.
        result
    }
}

impl Drop for ObjectUpload {
    fn drop(&mut self) {
        if !self.finished {
            self.finished = true;
            self.abort();
        }
        for buffer in self.spare.drain(..) {
            recycle(buffer);
        }
        recycle(std::mem::take(&mut self.buffer));
    }
}

/// Aborts every multipart upload in `registry` (this process's own).
pub fn abort_all(store: &Arc<AmazonS3>, handle: &Handle, registry: &Registry) -> usize {
    let active = std::mem::take(&mut *registry.lock().unwrap_or_else(PoisonError::into_inner));
    let mut aborted = 0;
    for (location, id) in active.into_values() {
        let store = Arc::clone(store);
        if run(handle, async move {
            store.abort_multipart(&location, &id).await
        })
        .is_ok()
        {
            aborted += 1;
        }
    }
    aborted
}
