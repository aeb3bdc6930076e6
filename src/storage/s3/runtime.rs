//! The bridge between the server's blocking threads and object_store's
//! futures: one tokio runtime for the whole process, reached through a
//! [`Handle`].
//!
//! Why one small runtime and `Handle::block_on`: sessions and transfers
//! run on std threads of their own (see `server::driver`), and the storage
//! seam is synchronous. A session thread that asks for a listing blocks on
//! that one request, exactly as it would block on a disk; the HTTP
//! connections, timers and part uploads live on the runtime's two worker
//! threads, which also drive the sockets (a multi-thread runtime's I/O
//! driver runs on its workers, so `Handle::block_on` from outside needs no
//! driver of its own). An idle session holds no runtime resource at all:
//! no task, no thread, no polling.
//!
//! What this does not do: be called from inside the runtime.
//! `Handle::block_on` panics there; every caller of the storage seam is a
//! std thread (session, transfer, accept loop, `serv`'s main), and nothing
//! of this back end runs seam methods from a task.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

/// Worker threads: they only wait on sockets and copy buffers; two keep
/// one part upload moving while another's response is parsed.
const WORKER_THREADS: usize = 2;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process's runtime for object storage, started at first use.
pub fn handle() -> std::io::Result<Handle> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.handle().clone());
    }
    let rt = Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("s3-io")
        .enable_all()
        .build()?;
    // Two first users racing: the loser's runtime is dropped here, on a
    // std thread, which is allowed.
    Ok(RUNTIME.get_or_init(|| rt).handle().clone())
}

/// Runs `future` on the runtime and waits for it from a std thread.
///
/// The future runs on a worker, not on the caller's stack: object_store's
/// request futures (retries, signing, connection set-up) poll deep, and the
/// threads calling here have small stacks (256 KiB for a pool worker), which a
/// debug build overflowed.
pub fn run<T, F>(handle: &Handle, future: F) -> T
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match handle.block_on(handle.spawn(future)) {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is never shut down while the process runs.
        Err(e) => panic!("an object store task was cancelled: {e}"),
    }
}

/// Waits from a std thread for a future that only waits on tasks (a
/// `JoinSet`), which is shallow to poll.
pub fn wait<F: Future>(handle: &Handle, future: F) -> F::Output {
    handle.block_on(future)
}

/// Streams `stream` into a channel of a few chunks from a task, so that a
/// std thread reads it with a blocking receive; the task ends (and drops
/// the stream, closing its connection) when the receiver is dropped.
pub fn pump(
    handle: &Handle,
    mut stream: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
) -> tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>> {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(PUMP_CHUNKS);
    handle.spawn(async move {
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            if tx.send(item.map_err(|e| e.to_string())).await.is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Chunks (HTTP body frames, about 380 KiB each on loopback: what one
/// read of the HTTP client returned) a download reads ahead, so about
/// 6 MiB. With 64, a server that had just served a RETR peaked at
/// 62-76 MiB in the next STOR of the benchmark, with 16 at 39-41 MiB, and
/// downloads were no slower.
const PUMP_CHUNKS: usize = 16;
