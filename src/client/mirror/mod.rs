//! `mirror`: make a local directory a copy of a remote tree, or (`-R`,
//! reverse) a remote directory a copy of a local tree, as lftp's `mirror`
//! does, correct on names with spaces and UTF-8, empty files and empty
//! directories, and safe when interrupted.
//!
//! - [`tree`]: what a walk yields, and times with their precision.
//! - [`local`], [`remote`]: the walks (remote: MLSD where FEAT lists MLST,
//!   LIST otherwise).
//! - [`planner`]: the decisions, a pure function of the two trees.
//! - `executor`: runs a plan over N sessions at once.
//!
//! Files arrive atomically on both sides: into `.NAME.part` beside the
//! target, then renamed (RNFR/RNTO on the server). `--continue` resumes a
//! `.NAME.part` left by an interrupted run with REST; a finished run
//! leaves none. Times are kept: a download gets the server's time, an
//! upload sets it with MFMT or the two-argument MDTM
//! ([`Client::set_modified`]).

mod executor;
pub mod local;
pub mod planner;
pub mod remote;
pub mod tree;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Client, Result};
pub use executor::Sessions;
use planner::{plan, Rules};

/// Which way the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Remote to local.
    Download,
    /// Local to remote (`-R`).
    Upload,
}

/// A mirror run, as the user asked for it.
#[derive(Debug, Clone)]
pub struct Options {
    pub direction: Direction,
    /// The remote directory, absolute.
    pub remote: String,
    pub local: PathBuf,
    pub delete: bool,
    pub only_newer: bool,
    /// Sessions (and transfers) at once, at least 1.
    pub parallel: usize,
    pub resume: bool,
    pub exclude: Vec<String>,
    pub dry_run: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    pub skipped: usize,
    pub deleted: usize,
    pub failed: usize,
    pub elapsed: Duration,
    /// Nothing was done: the counts say what would have been.
    pub dry_run: bool,
}

/// The one line at the end of a run.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            return write!(
                f,
                "mirror (dry run, nothing done): {} files to transfer ({} bytes), {} to skip, {} to delete, {} conflicts",
                self.files, self.bytes, self.skipped, self.deleted, self.failed
            );
        }
        write!(
            f,
            "mirror: {} files transferred ({} bytes), {} skipped, {} deleted, {} failed, in {:.2} s",
            self.files,
            self.bytes,
            self.skipped,
            self.deleted,
            self.failed,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Runs a mirror with `client` as its first session; `sessions` opens the
/// others that `--parallel` asks for. Failures of single files are
/// reported on stderr and counted, and the rest of the tree still goes;
/// an error is returned only when the trees cannot be read at all.
/// A dry run prints what it would do on `out`.
pub fn run(
    client: &mut Client,
    options: &Options,
    sessions: &Sessions,
    out: &mut dyn std::io::Write,
) -> Result<Summary> {
    let started = Instant::now();
    let local_tree = local::walk(&options.local).map_err(super::ClientError::Protocol)?;
    let remote_tree = match options.direction {
        Direction::Download => remote::walk(client, &options.remote)?.ok_or_else(|| {
            super::ClientError::Protocol(format!("{}: no such remote directory", options.remote))
        })?,
        Direction::Upload => {
            if !options.local.is_dir() {
                return Err(super::ClientError::Protocol(format!(
                    "{}: no such local directory",
                    options.local.display()
                )));
            }
            remote::walk(client, &options.remote)?.unwrap_or_default()
        }
    };
    let (source, target) = match options.direction {
        Direction::Download => (&remote_tree, &local_tree),
        Direction::Upload => (&local_tree, &remote_tree),
    };
    let rules = Rules {
        only_newer: options.only_newer,
        delete: options.delete,
        exclude: options.exclude.clone(),
    };
    let plan = plan(source, target, &rules);
    if options.dry_run {
        let (get, mk) = match options.direction {
            Direction::Download => ("get", "mkdir (local)"),
            Direction::Upload => ("put", "mkdir"),
        };
        let mut text = String::new();
        for d in &plan.mkdirs {
            text.push_str(&format!("{mk} {d}\n"));
        }
        for c in &plan.copies {
            text.push_str(&format!("{get} {} ({} bytes)\n", c.path, c.size));
        }
        for f in &plan.delete_files {
            text.push_str(&format!("delete {f}\n"));
        }
        for d in &plan.delete_dirs {
            text.push_str(&format!("rmdir {d}\n"));
        }
        for c in &plan.conflicts {
            text.push_str(&format!(
                "conflict {c}: a file on one side, a directory on the other\n"
            ));
        }
        let _ = out.write_all(text.as_bytes());
        return Ok(Summary {
            files: plan.copies.len(),
            bytes: plan.copies.iter().map(|c| c.size).sum(),
            skipped: plan.skipped.len(),
            deleted: plan.delete_files.len() + plan.delete_dirs.len(),
            failed: plan.conflicts.len(),
            elapsed: started.elapsed(),
            dry_run: true,
        });
    }
    for c in &plan.conflicts {
        eprintln!("mirror: {c}: a file on one side and a directory on the other; left alone");
    }
    let mut summary = executor::execute(client, options, &plan, source, sessions);
    summary.skipped = plan.skipped.len();
    summary.failed += plan.conflicts.len();
    summary.elapsed = started.elapsed();
    Ok(summary)
}
