//! The `ftp>` command loop, at a terminal and in batch mode.
//!
//! Batch semantics follow `sftp -b`: when commands come from a pipe, a file
//! (`-b`) or the command line (`-c`), the first command that fails stops the
//! run and the exit status is 1; a command written with a leading `-`
//! (`-get maybe.txt`) may fail without stopping the batch. At a terminal a
//! failure is reported and the prompt comes back.
//!
//! Results (listings, `pwd`, `size`...) go to stdout; messages, progress
//! bars, summaries and errors go to stderr, so `cli host port <<< ls >
//! listing.txt` captures only the listing.
//!
//! This file holds the [`Shell`] and runs one command line. The rest:
//!
//! - `commands`: the command table, `help` and "did you mean".
//! - `input`: the batch and interactive loops.
//! - `progress`: the progress bar and the summary after a transfer.
//! - Handlers by theme: `transfers` (get, put, mget...), `remote` (ls, cd,
//!   rm...), `local` (lcd, lls...), `session` (open, user, quote, quit...),
//!   `modes` (ascii, passive, verbose, status), `mirror` (its options, and
//!   the extra sessions of `--parallel`).

mod commands;
mod input;
mod local;
mod mirror;
mod modes;
mod progress;
mod remote;
mod session;
mod transfers;

pub use commands::{help, lookup, nearest, Arg, Spec, COMMANDS};
pub use input::split_commands;
pub use session::connect;

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::editor::NameCache;
use super::words::split;
use super::{Client, ClientError, TlsConfig, TlsMode, Trust};

/// Why a shell command failed.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What the loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Quit,
}

/// Login and connection settings, kept for `open`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub user: String,
    pub password: String,
    pub timeout: Duration,
    pub verbose: bool,
    pub ascii: bool,
    pub passive: bool,
    /// TLS for a bare host or `ftp://` (`ftps://` is always implicit TLS).
    pub tls_mode: TlsMode,
    /// Whom to trust for servers' certificates.
    pub trust: Trust,
    /// The TLS configuration made from `trust`, once TLS is first used.
    pub tls: Option<TlsConfig>,
    /// Where the session was opened (HOST or URL as given, and PORT), so
    /// that `mirror --parallel` can open more sessions like it.
    pub target: Option<(String, Option<u16>)>,
    /// The netrc file `open` reads for a host when no user is given.
    pub netrc: Option<std::path::PathBuf>,
}

impl Settings {
    /// Plain FTP as anonymous, binary, passive.
    pub fn new(timeout: Duration) -> Settings {
        Settings {
            user: "anonymous".into(),
            password: "anonymous@".into(),
            timeout,
            verbose: false,
            ascii: false,
            passive: true,
            tls_mode: TlsMode::Plain,
            trust: Trust::System,
            tls: None,
            target: None,
            netrc: None,
        }
    }

    /// The TLS configuration, made on first use (reading the trust store,
    /// and warning once about `--insecure`).
    pub fn tls_config(&mut self) -> Result<TlsConfig, ShellError> {
        if let Some(config) = &self.tls {
            return Ok(config.clone());
        }
        let config = TlsConfig::new(&self.trust).map_err(|e| ShellError::Local(e.to_string()))?;
        self.tls = Some(config.clone());
        Ok(config)
    }
}

/// The shell: a client (or none, after `close`) and where results go.
///
/// `W` may be unsized and `out` is the last field so that `&mut Shell<W>`
/// coerces to `&mut Shell<dyn Write>`, the type the command table's
/// handlers take.
pub struct Shell<W: Write + ?Sized> {
    client: Option<Client>,
    settings: Settings,
    interrupt: Arc<AtomicBool>,
    progress: bool,
    names: NameCache,
    names_stale: bool,
    out: W,
}

impl<W: Write> Shell<W> {
    /// A shell over `client` (already logged in, or none), writing results
    /// to `out`. `interrupt` is set by the Ctrl-C handler.
    pub fn new(
        client: Option<Client>,
        settings: Settings,
        out: W,
        interrupt: Arc<AtomicBool>,
    ) -> Self {
        let mut shell = Shell {
            client: None,
            settings,
            interrupt,
            progress: io::stderr().is_terminal(),
            names: NameCache::default(),
            names_stale: true,
            out,
        };
        if let Some(client) = client {
            shell.adopt(client);
        }
        shell
    }

    /// Runs one command line.
    pub fn execute(&mut self, line: &str) -> Result<Next, ShellError> {
        self.interrupt.store(false, Ordering::SeqCst);
        let words = split(line).map_err(|e| ShellError::Usage(e.to_string()))?;
        let Some((name, args)) = words.split_first() else {
            return Ok(Next::Continue);
        };
        let spec = lookup(name).ok_or_else(|| {
            let hint = nearest(name)
                .map(|n| format!("; did you mean '{n}'?"))
                .unwrap_or_else(|| "; type 'help' for the list".into());
            ShellError::Usage(format!("unknown command '{name}'{hint}"))
        })?;
        let (min, max) = spec.args;
        if args.len() < min || args.len() > max {
            return Err(ShellError::Usage(format!("usage: {}", spec.usage)));
        }
        if spec.remote {
            self.client()?;
        }
        (spec.run)(self, args)
    }
}

impl<W: Write + ?Sized> Shell<W> {
    fn adopt(&mut self, mut client: Client) {
        client.verbose = self.settings.verbose;
        client.ascii = self.settings.ascii;
        client.passive = self.settings.passive;
        client.interrupt = Arc::clone(&self.interrupt);
        self.client = Some(client);
        self.names_stale = true;
    }

    fn client(&mut self) -> Result<&mut Client, ShellError> {
        self.client
            .as_mut()
            .ok_or_else(|| ShellError::Usage("not connected: use open HOST [PORT] first".into()))
    }

    fn print(&mut self, text: &str) -> Result<(), ShellError> {
        self.out
            .write_all(text.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| ShellError::Local(format!("writing to stdout: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offline_shell() -> Shell<Vec<u8>> {
        let settings = Settings::new(Duration::from_secs(5));
        Shell::new(None, settings, Vec::new(), Arc::default())
    }

    #[test]
    fn commands_run_through_the_table_after_their_checks() {
        let mut shell = offline_shell();
        assert_eq!(shell.execute("lpwd").unwrap(), Next::Continue);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            String::from_utf8(shell.out.clone()).unwrap(),
            format!("{}\n", cwd.display())
        );
        let err = |shell: &mut Shell<Vec<u8>>, line| shell.execute(line).unwrap_err().to_string();
        assert_eq!(
            err(&mut shell, "pwd"),
            "not connected: use open HOST [PORT] first"
        );
        assert_eq!(err(&mut shell, "get"), "usage: get REMOTE [LOCAL]");
        assert_eq!(
            err(&mut shell, "gte x"),
            "unknown command 'gte'; did you mean 'get'?"
        );
        assert_eq!(shell.execute("bye").unwrap(), Next::Quit);
    }
}
