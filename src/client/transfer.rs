//! Transfers: RETR, STOR and APPE, LIST and NLST (RFC 959 §4.1.3), resumed
//! with REST (RFC 3659 §5), in TYPE I or TYPE A (RFC 959 §3.1.1, §4.1.2).
//!
//! Stream mode only (RFC 959 §3.4.1): the close of the data connection ends
//! the file. Every copy goes through [`copy`], so a silent server times out
//! and Ctrl-C aborts the transfer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::copy::{self, Watch};
use super::{Client, ClientError, Result};
use crate::protocol::{Command, TransferType};
use crate::transport::Stream;

/// How an upload treats the remote file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR: replace it.
    Replace,
    /// REST n + STOR: keep its first n bytes, write from there.
    Resume(u64),
    /// APPE: append.
    Append,
}

impl Client {
    /// Sets the transfer type unless it is already set.
    pub fn set_type(&mut self, ty: TransferType) -> Result<()> {
        if self.transfer_type != Some(ty) {
            self.expect_ok(&Command::Type(ty))?;
            self.transfer_type = Some(ty);
        }
        Ok(())
    }

    fn file_type(&self) -> TransferType {
        if self.ascii {
            TransferType::Ascii
        } else {
            TransferType::Image
        }
    }

    /// Downloads `remote` from byte `offset` into `sink`; returns the bytes
    /// received. `progress` gets the running count.
    pub fn retrieve(
        &mut self,
        remote: &str,
        sink: &mut dyn Write,
        offset: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.set_type(self.file_type())?;
        if offset > 0 {
            self.expect_ok(&Command::Rest(offset))?;
        }
        let command = Command::Retr(remote.to_string());
        let mut data = self.start_transfer(&command)?;
        let interrupt = Arc::clone(&self.interrupt);
        let mut watch = Watch {
            progress,
            interrupt: &interrupt,
            stall: self.timeout,
        };
        let copied = copy::receive(&mut data, sink, self.ascii, &mut watch);
        match copied {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.abort(data)?;
                Err(ClientError::Interrupted(format!("get {remote}")))
            }
            copied => {
                drop(data);
                // Read the final reply even after a local failure, so the
                // session stays in step.
                let finished = self.finish_transfer(&command);
                let n = copied
                    .map_err(cut_short)
                    .map_err(ClientError::io(format!("receiving {remote}")))?;
                finished?;
                Ok(n)
            }
        }
    }

    /// Uploads what `source` yields as `remote`; returns the bytes sent.
    pub fn store(
        &mut self,
        source: &mut dyn Read,
        remote: &str,
        mode: StoreMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.store_with(remote, mode, progress, |data, ascii, watch| {
            copy::send(source, data, ascii, watch)
        })
    }

    /// Uploads the rest of `file` (from its current position) as `remote`.
    /// In TYPE I the data goes by `sendfile(2)`, without a copy through
    /// this process.
    pub fn store_file(
        &mut self,
        file: &mut File,
        remote: &str,
        mode: StoreMode,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        self.store_with(remote, mode, progress, |data, ascii, watch| {
            if ascii {
                copy::send(file, data, true, watch)
            } else {
                copy::send_file(file, data, watch)
            }
        })
    }

    /// STOR/REST+STOR/APPE with `send` filling the data connection.
    fn store_with(
        &mut self,
        remote: &str,
        mode: StoreMode,
        progress: &mut dyn FnMut(u64),
        send: impl FnOnce(&mut Stream, bool, &mut Watch) -> io::Result<u64>,
    ) -> Result<u64> {
        self.set_type(self.file_type())?;
        let command = match mode {
            StoreMode::Replace => Command::Stor(remote.to_string()),
            StoreMode::Resume(offset) => {
                self.expect_ok(&Command::Rest(offset))?;
                Command::Stor(remote.to_string())
            }
            StoreMode::Append => Command::Appe(remote.to_string()),
        };
        let mut data = self.start_transfer(&command)?;
        let interrupt = Arc::clone(&self.interrupt);
        let mut watch = Watch {
            progress,
            interrupt: &interrupt,
            stall: self.timeout,
        };
        let copied = send(&mut data, self.ascii, &mut watch);
        if matches!(&copied, Err(e) if e.kind() == io::ErrorKind::Interrupted) {
            self.abort(data)?;
            return Err(ClientError::Interrupted(format!("put {remote}")));
        }
        // The close of the data connection is the end of the file. What
        // is still buffered (TLS encrypts into a buffer of its own) goes
        // out under the session's timeout, not the copy loop's short one.
        let _ = data.set_timeouts(Some(self.timeout));
        let closed = data.finish();
        if closed.is_ok() {
            drain(&mut data);
        }
        drop(data);
        let finished = self.finish_transfer(&command);
        let n = copied.map_err(ClientError::io(format!("sending {remote}")))?;
        closed.map_err(ClientError::io(format!("closing the upload of {remote}")))?;
        finished?;
        Ok(n)
    }

    /// LIST (`long`) or NLST of `path`, as text with LF line ends.
    pub fn list(&mut self, path: Option<&str>, long: bool) -> Result<String> {
        let path = path.map(str::to_string);
        let command = if long {
            Command::List(path)
        } else {
            Command::Nlst(path)
        };
        self.listing(command)
    }

    /// MLSD of `dir` (RFC 3659 §7): one `facts SP name` line per entry,
    /// as text with LF line ends.
    pub fn mlsd(&mut self, dir: &str) -> Result<String> {
        self.listing(Command::Mlsd(Some(dir.to_string())))
    }

    /// Runs a listing command and returns what came over the data
    /// connection.
    fn listing(&mut self, command: Command) -> Result<String> {
        self.set_type(TransferType::Ascii)?;
        let mut data = self.start_transfer(&command)?;
        let mut bytes = Vec::new();
        // Through the copy loop: a silent server times out and Ctrl-C works.
        let interrupt = Arc::clone(&self.interrupt);
        let mut watch = Watch {
            progress: &mut |_| {},
            interrupt: &interrupt,
            stall: self.timeout,
        };
        let copied = copy::receive(&mut data, &mut bytes, false, &mut watch);
        if matches!(&copied, Err(e) if e.kind() == io::ErrorKind::Interrupted) {
            self.abort(data)?;
            return Err(ClientError::Interrupted("the listing".into()));
        }
        drop(data);
        let finished = self.finish_transfer(&command);
        copied
            .map_err(cut_short)
            .map_err(ClientError::io("receiving the listing"))?;
        finished?;
        Ok(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
    }

    /// Bare names in `dir` (NLST). Servers that answer an empty directory
    /// with 550 (as vsftpd and others do) give an empty list.
    pub fn names(&mut self, dir: Option<&str>) -> Result<Vec<String>> {
        match self.list(dir, false) {
            Ok(text) => Ok(text
                .lines()
                .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
                .filter(|l| !l.is_empty() && l != "." && l != "..")
                .collect()),
            Err(ClientError::Refused { reply, .. })
                if matches!(reply.code().as_u16(), 450 | 550) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// Downloads `remote` to the local file `local`, atomically: the data
    /// goes to a temporary file beside it, renamed into place on success.
    pub fn get_file(
        &mut self,
        remote: &str,
        local: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let temp = temp_path(local);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(ClientError::io(format!("creating {}", temp.display())))?;
        let mut sink = BufWriter::with_capacity(1 << 20, file);
        let result = self.retrieve(remote, &mut sink, 0, progress).and_then(|n| {
            sink.flush()
                .map_err(ClientError::io(format!("writing {}", temp.display())))?;
            fs::rename(&temp, local)
                .map_err(ClientError::io(format!("renaming to {}", local.display())))?;
            Ok(n)
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Completes a partial download: appends to `local` from its current
    /// size (REST + RETR). Returns the bytes received.
    pub fn reget_file(
        &mut self,
        remote: &str,
        local: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let have = fs::metadata(local).map(|m| m.len()).unwrap_or(0);
        let size = self.size(remote)?;
        if !still_to_send(
            have,
            size,
            || format!("{}", local.display()),
            || format!("the remote {remote}"),
        )? {
            return Ok(0);
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(local)
            .map_err(ClientError::io(format!("opening {}", local.display())))?;
        let mut sink = BufWriter::with_capacity(1 << 20, file);
        let n = self.retrieve(remote, &mut sink, have, progress)?;
        sink.flush()
            .map_err(ClientError::io(format!("writing {}", local.display())))?;
        Ok(n)
    }

    /// Uploads the local file `local` as `remote`.
    pub fn put_file(
        &mut self,
        local: &Path,
        remote: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut file = open_local(local)?;
        self.store_file(&mut file, remote, StoreMode::Replace, progress)
    }

    /// Completes a partial upload from the remote size: REST + STOR, or
    /// APPE when the server refuses REST for uploads.
    pub fn reput_file(
        &mut self,
        local: &Path,
        remote: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut file = open_local(local)?;
        let len = file
            .metadata()
            .map_err(ClientError::io(format!("reading {}", local.display())))?
            .len();
        let have = match self.size(remote) {
            Ok(n) => n,
            Err(ClientError::Refused { reply, .. }) if reply.code().as_u16() == 550 => 0,
            Err(e) => return Err(e),
        };
        if !still_to_send(
            have,
            len,
            || format!("the remote {remote}"),
            || format!("{}", local.display()),
        )? {
            return Ok(0);
        }
        file.seek(SeekFrom::Start(have))
            .map_err(ClientError::io(format!("reading {}", local.display())))?;
        match self.store_file(&mut file, remote, StoreMode::Resume(have), progress) {
            Err(ClientError::Refused { command, reply })
                if command.starts_with("REST") && reply.code().as_u16() >= 500 =>
            {
                self.store_file(&mut file, remote, StoreMode::Append, progress)
            }
            other => other,
        }
    }
}

/// A protected data connection that ended without the server's
/// close_notify: in words, since only the close_notify tells the end of
/// the file from a connection cut by someone on the path.
fn cut_short(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return io::Error::new(
            e.kind(),
            "the data connection ended without TLS's close_notify: the data may be cut short",
        );
    }
    e
}

/// How long an upload's data connection is read, after our close_notify,
/// for the server's close: a few round trips, and the server's final reply
/// comes on the control connection whatever happens here.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// After an upload on TLS, reads what the server still sends until it
/// closes: its close_notify, and TLS 1.3 session tickets, which the next
/// data connections need to resume. Closing with unread bytes would also
/// make the kernel answer with a reset, which can destroy the end of the
/// upload before the server read it.
fn drain(data: &mut Stream) {
    if !data.is_tls() {
        return;
    }
    let _ = data.tcp().set_read_timeout(Some(DRAIN_TIMEOUT));
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match data.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Whether a resumed transfer has bytes left: `have` bytes of `partial`
/// are there out of `total` in `whole`. More than the whole means the
/// partial copy is of another file, an error rather than a resume.
fn still_to_send(
    have: u64,
    total: u64,
    partial: impl FnOnce() -> String,
    whole: impl FnOnce() -> String,
) -> Result<bool> {
    if have > total {
        return Err(ClientError::Protocol(format!(
            "{} has {have} bytes, more than {} ({total}): not a partial copy",
            partial(),
            whole()
        )));
    }
    Ok(have < total)
}

fn open_local(local: &Path) -> Result<File> {
    let file =
        File::open(local).map_err(ClientError::io(format!("opening {}", local.display())))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(ClientError::Protocol(format!(
            "{} is a directory, not a file",
            local.display()
        )));
    }
    Ok(file)
}

/// The temporary name of a download in progress: hidden, beside the target.
fn temp_path(local: &Path) -> PathBuf {
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    local.with_file_name(format!(".{name}.part-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_go_to_a_hidden_temporary_beside_the_target() {
        let t = temp_path(Path::new("/tmp/dir/file.bin"));
        assert_eq!(t.parent(), Some(Path::new("/tmp/dir")));
        assert!(t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".file.bin.part-"));
    }
}
