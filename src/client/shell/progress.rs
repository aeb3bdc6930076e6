//! Progress display for transfers: a bar on stderr when it is a terminal,
//! and the summary line (bytes, time, rate) after every transfer.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Shell, ShellError};
use crate::client::Client;

/// Where a transfer's total size comes from, for the progress bar.
pub(super) enum Size<'a> {
    Remote(&'a str),
    Local(&'a Path),
}

impl<W: Write + ?Sized> Shell<W> {
    /// Runs one transfer with a progress bar (at a terminal) and prints the
    /// summary line after it.
    pub(super) fn transfer(
        &mut self,
        verb: &str,
        name: &str,
        size: Size,
        op: impl FnOnce(&mut Client, &mut dyn FnMut(u64)) -> crate::client::Result<u64>,
    ) -> Result<u64, ShellError> {
        let bar = if self.progress {
            // The total makes the bar and its ETA possible; without it, a
            // spinner with bytes and rate.
            let total = match size {
                Size::Remote(path) => self.client()?.size(path).ok(),
                Size::Local(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            };
            let template = if total.is_some() {
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
            } else {
                "{msg} {bytes} {binary_bytes_per_sec} {elapsed_precise} {spinner}"
            };
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(format!("{verb} {name}"));
            Some(bar)
        } else {
            None
        };
        let started = Instant::now();
        let mut report = |n: u64| {
            if let Some(bar) = &bar {
                bar.set_position(n);
            }
        };
        let client = self.client()?;
        let result = op(client, &mut report);
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let n = result?;
        summary(verb, name, n, started);
        Ok(n)
    }
}

/// The line after each transfer: bytes, time, rate.
fn summary(verb: &str, name: &str, bytes: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        bytes as f64 / secs / (1024.0 * 1024.0)
    } else {
        0.0
    };
    eprintln!("{verb} {name}: {bytes} bytes in {secs:.3} s ({rate:.1} MiB/s)");
}
