//! Runs a [`Plan`]: directories first, then the copies over N sessions at
//! once (a queue that each session's thread drains), then the deletions.
//! A failure is reported on stderr and counted; the rest still goes.
//!
//! A download goes to `.NAME.part` beside its target, gets the server's
//! time (MLSD's, or MDTM's where the listing was LIST, whose dates are
//! coarse), and is renamed into place. An upload goes to `.NAME.part` in
//! the remote directory, gets the local time (MFMT or two-argument MDTM),
//! and is renamed with RNFR/RNTO, so no reader of either side ever sees a
//! half-written file under its real name. A failed copy leaves its part
//! for `--continue`, unless it is empty.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::thread;

use super::planner::{Copy, Plan};
use super::remote::make_dirs;
use super::tree::{join, part_name, Node, Precision, Tree};
use super::{Direction, Options, Summary};
use crate::client::{Client, ClientError, Result, StoreMode};
use crate::protocol::TimeVal;

/// Opens the extra sessions of a parallel run, logged in like the first.
/// Called from the sessions' own threads, so that their logins (an
/// argon2 check, a TLS handshake) overlap each other and the first
/// session's copies.
pub struct Sessions<'a> {
    open: Box<dyn Fn() -> Result<Client> + Sync + 'a>,
}

impl<'a> Sessions<'a> {
    pub fn new(open: impl Fn() -> Result<Client> + Sync + 'a) -> Sessions<'a> {
        Sessions {
            open: Box::new(open),
        }
    }
}

/// Shared by the sessions' threads.
struct Work<'p> {
    queue: Mutex<VecDeque<&'p Copy>>,
    summary: Mutex<Summary>,
}

pub(super) fn execute(
    client: &mut Client,
    options: &Options,
    plan: &Plan,
    source: &Tree,
    sessions: &Sessions,
) -> Summary {
    let mut summary = Summary::default();
    let fail = |what: String, e: &dyn std::fmt::Display, summary: &mut Summary| {
        eprintln!("mirror: {what}: {e}");
        summary.failed += 1;
    };
    // The target's root, then its new directories, parents first.
    let root = match options.direction {
        Direction::Download => fs::create_dir_all(&options.local)
            .map_err(|e| format!("making {}: {e}", options.local.display())),
        Direction::Upload => make_dirs(client, &options.remote).map_err(|e| e.to_string()),
    };
    if let Err(e) = root {
        fail("the target directory".into(), &e, &mut summary);
        summary.failed += plan.copies.len();
        return summary;
    }
    for dir in &plan.mkdirs {
        let made = match options.direction {
            Direction::Download => {
                fs::create_dir_all(options.local.join(dir)).map_err(|e| e.to_string())
            }
            Direction::Upload => client
                .mkdir(&join(&options.remote, dir))
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = made {
            fail(format!("mkdir {dir}"), &e, &mut summary);
        }
    }

    // The copies, over as many sessions as asked and useful.
    let extra = options.parallel.max(1).min(plan.copies.len().max(1)) - 1;
    let work = Work {
        queue: Mutex::new(plan.copies.iter().collect()),
        summary: Mutex::new(summary),
    };
    thread::scope(|scope| {
        for _ in 0..extra {
            let work = &work;
            let open = &sessions.open;
            scope.spawn(move || match open() {
                Ok(mut c) => {
                    drain(&mut c, options, source, work);
                    let _ = c.quit();
                }
                Err(e) => eprintln!("mirror: opening another session: {e}; going on with fewer"),
            });
        }
        drain(client, options, source, &work);
    });
    let mut summary = work.summary.into_inner().unwrap_or_else(|e| e.into_inner());
    // Stopped by Ctrl-C: what was not copied failed, and nothing is
    // deleted from a target that is not yet a copy.
    let left = work.queue.into_inner().map(|q| q.len()).unwrap_or(0);
    if left > 0 || client.interrupt.load(Ordering::SeqCst) {
        eprintln!("mirror: interrupted; {left} files not copied, nothing deleted");
        summary.failed = (summary.failed + left).max(1);
        return summary;
    }

    // Deletions: files, then directories deepest first.
    for f in &plan.delete_files {
        let done = match options.direction {
            Direction::Download => {
                fs::remove_file(options.local.join(f)).map_err(|e| e.to_string())
            }
            Direction::Upload => client
                .delete(&join(&options.remote, f))
                .map_err(|e| e.to_string()),
        };
        match done {
            Ok(()) => summary.deleted += 1,
            Err(e) => fail(format!("delete {f}"), &e, &mut summary),
        }
    }
    for d in &plan.delete_dirs {
        let done = match options.direction {
            Direction::Download => fs::remove_dir(options.local.join(d)).map_err(|e| e.to_string()),
            Direction::Upload => client
                .rmdir(&join(&options.remote, d))
                .map_err(|e| e.to_string()),
        };
        match done {
            Ok(()) => summary.deleted += 1,
            Err(e) => fail(format!("rmdir {d}"), &e, &mut summary),
        }
    }
    summary
}

/// One session's loop: takes copies off the queue until it is empty or
/// Ctrl-C is pressed.
fn drain(client: &mut Client, options: &Options, source: &Tree, work: &Work) {
    loop {
        if client.interrupt.load(Ordering::SeqCst) {
            return;
        }
        let Some(copy) = work.queue.lock().map(|mut q| q.pop_front()).ok().flatten() else {
            return;
        };
        let result = match options.direction {
            Direction::Download => download(client, options, copy, source),
            Direction::Upload => upload(client, options, copy, source),
        };
        let mut summary = work.summary.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(bytes) => {
                summary.files += 1;
                summary.bytes += bytes;
            }
            Err(e) => {
                let verb = match options.direction {
                    Direction::Download => "get",
                    Direction::Upload => "put",
                };
                eprintln!("mirror: {verb} {}: {e}", copy.path);
                summary.failed += 1;
            }
        }
    }
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> ClientError {
    move |source| ClientError::Io { context, source }
}

/// Downloads one file through its `.NAME.part`; returns the bytes received.
fn download(client: &mut Client, options: &Options, copy: &Copy, source: &Tree) -> Result<u64> {
    let remote = join(&options.remote, &copy.path);
    let target = options.local.join(&copy.path);
    let part = options.local.join(part_name(&copy.path));
    let have = match fs::symlink_metadata(&part) {
        Ok(m) if options.resume && m.is_file() && m.len() <= copy.size => m.len(),
        _ => 0,
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(have == 0)
        .append(have > 0)
        .open(&part)
        .map_err(io_error(format!("creating {}", part.display())))?;
    // A buffer the size of the file, up to 1 MiB: a 1 MiB buffer per
    // small file would be an mmap and munmap each, and the munmap stalls
    // every session thread.
    let capacity = usize::try_from(copy.size.saturating_sub(have))
        .unwrap_or(usize::MAX)
        .clamp(8 << 10, 1 << 20);
    let mut sink = BufWriter::with_capacity(capacity, file);
    let received = if have > 0 && have == copy.size {
        Ok(0)
    } else {
        client.retrieve(&remote, &mut sink, have, &mut |_| {})
    };
    let flushed = sink
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(io_error(format!("writing {}", part.display())));
    let (n, file) = match (received, flushed) {
        (Ok(n), Ok(file)) => (n, file),
        (Err(e), _) | (Ok(_), Err(e)) => {
            if fs::metadata(&part).is_ok_and(|m| m.len() == 0) {
                let _ = fs::remove_file(&part);
            }
            return Err(e);
        }
    };
    if let Some(time) = remote_time(client, &remote, source.get(&copy.path)) {
        file.set_modified(time.to_system_time())
            .map_err(io_error(format!("setting the time of {}", part.display())))?;
    }
    drop(file);
    fs::rename(&part, &target).map_err(io_error(format!("renaming to {}", target.display())))?;
    Ok(n)
}

/// The server's time of a file: the listing's when exact, else MDTM's.
fn remote_time(client: &mut Client, remote: &str, node: Option<&Node>) -> Option<TimeVal> {
    let listed = match node {
        Some(Node::File(f)) => f.modified,
        _ => None,
    };
    match listed {
        Some(s) if s.precision <= Precision::Second => Some(s.time),
        _ => client.modified(remote).ok().or(listed.map(|s| s.time)),
    }
}

/// Uploads one file through a remote `.NAME.part`; returns the bytes sent.
fn upload(client: &mut Client, options: &Options, copy: &Copy, source: &Tree) -> Result<u64> {
    let local = options.local.join(&copy.path);
    let remote = join(&options.remote, &copy.path);
    let temp = join(&options.remote, &part_name(&copy.path));
    let mut file = File::open(&local).map_err(io_error(format!("opening {}", local.display())))?;
    let len = file
        .metadata()
        .map_err(io_error(format!("reading {}", local.display())))?
        .len();
    let have = if options.resume {
        match client.size(&temp) {
            Ok(n) if n <= len => n,
            _ => 0,
        }
    } else {
        0
    };
    let sent = if have > 0 {
        file.seek(SeekFrom::Start(have))
            .map_err(io_error(format!("reading {}", local.display())))?;
        if have == len {
            Ok(0)
        } else {
            match client.store_file(&mut file, &temp, StoreMode::Resume(have), &mut |_| {}) {
                Err(ClientError::Refused { command, reply })
                    if command.starts_with("REST") && reply.code().as_u16() >= 500 =>
                {
                    client.store_file(&mut file, &temp, StoreMode::Append, &mut |_| {})
                }
                other => other,
            }
        }
    } else {
        client.store_file(&mut file, &temp, StoreMode::Replace, &mut |_| {})
    }?;
    if let Some(Node::File(f)) = source.get(&copy.path) {
        if let Some(stamp) = f.modified {
            client.set_modified(&temp, stamp.time)?;
        }
    }
    client.rename(&temp, &remote)?;
    Ok(sent)
}
