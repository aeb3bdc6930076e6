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

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::editor::{Input, NameCache, Prompt};
use super::glob::{has_wildcards, matches};
use super::words::split;
use super::{Client, ClientError};

/// What a command's arguments name, for completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    None,
    Remote,
    Local,
}

/// One entry of the command table.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    /// Smallest and largest number of arguments (`usize::MAX`: any).
    pub args: (usize, usize),
    /// Whether it needs an open connection.
    pub remote: bool,
    /// What the first argument completes to.
    pub completes: Arg,
}

const ANY: usize = usize::MAX;

macro_rules! spec {
    ($name:literal, [$($alias:literal),*], $usage:literal, $help:literal, $min:expr, $max:expr, $remote:literal, $arg:ident) => {
        Spec { name: $name, aliases: &[$($alias),*], usage: $usage, help: $help, args: ($min, $max), remote: $remote, completes: Arg::$arg }
    };
}

/// Every command the shell knows.
#[rustfmt::skip]
pub const COMMANDS: &[Spec] = &[
    spec!("get", [], "get REMOTE [LOCAL]", "download REMOTE (to LOCAL, default: its base name here)", 1, 2, true, Remote),
    spec!("put", [], "put LOCAL [REMOTE]", "upload LOCAL (as REMOTE, default: its base name)", 1, 2, true, Local),
    spec!("mget", [], "mget PATTERN...", "download every remote file matching the patterns (* ? [a-z])", 1, ANY, true, Remote),
    spec!("mput", [], "mput PATTERN...", "upload every local file matching the patterns", 1, ANY, true, Local),
    spec!("reget", [], "reget REMOTE [LOCAL]", "resume a download: append the rest of REMOTE to LOCAL", 1, 2, true, Remote),
    spec!("reput", [], "reput LOCAL [REMOTE]", "resume an upload: send the rest of LOCAL", 1, 2, true, Local),
    spec!("ls", ["dir"], "ls [PATH]", "list the remote directory (or PATH) in long form", 0, 1, true, Remote),
    spec!("nls", [], "nls [PATH]", "list remote names only", 0, 1, true, Remote),
    spec!("cd", ["cwd"], "cd DIR", "change the remote directory", 1, 1, true, Remote),
    spec!("cdup", [], "cdup", "go to the parent remote directory", 0, 0, true, None),
    spec!("pwd", [], "pwd", "print the remote directory", 0, 0, true, None),
    spec!("mkdir", [], "mkdir DIR", "make a remote directory", 1, 1, true, Remote),
    spec!("rmdir", [], "rmdir DIR", "remove an empty remote directory", 1, 1, true, Remote),
    spec!("rm", ["delete"], "rm FILE", "delete a remote file", 1, 1, true, Remote),
    spec!("rename", [], "rename FROM TO", "rename a remote file or directory", 2, 2, true, Remote),
    spec!("size", [], "size FILE", "print the size of a remote file in bytes", 1, 1, true, Remote),
    spec!("modtime", [], "modtime FILE", "print when a remote file was last modified (UTC)", 1, 1, true, Remote),
    spec!("lcd", [], "lcd [DIR]", "change the local directory (default: home)", 0, 1, false, Local),
    spec!("lpwd", [], "lpwd", "print the local directory", 0, 0, false, None),
    spec!("lls", [], "lls [DIR]", "list a local directory", 0, 1, false, Local),
    spec!("ascii", [], "ascii", "transfer files as text (TYPE A: line ends converted)", 0, 0, false, None),
    spec!("binary", ["image"], "binary", "transfer files byte for byte (TYPE I, the default)", 0, 0, false, None),
    spec!("passive", [], "passive", "passive data connections (EPSV, then PASV; the default)", 0, 0, false, None),
    spec!("active", [], "active", "active data connections (EPRT, then PORT)", 0, 0, false, None),
    spec!("open", [], "open HOST [PORT]", "connect and log in (as with the command line's user)", 1, 2, false, None),
    spec!("close", ["disconnect"], "close", "log out and close the connection, stay in the shell", 0, 0, true, None),
    spec!("user", [], "user NAME [PASSWORD]", "log in again as NAME", 1, 2, true, None),
    spec!("status", [], "status", "show the connection and settings", 0, 0, false, None),
    spec!("quote", ["literal"], "quote LINE...", "send a raw command and print the reply", 1, ANY, true, None),
    spec!("verbose", [], "verbose [on|off]", "show the control dialogue (toggles without argument)", 0, 1, false, None),
    spec!("help", ["?"], "help [COMMAND]", "show the commands, or how to use one", 0, 1, false, None),
    spec!("quit", ["bye", "exit"], "quit", "close the session and exit", 0, 0, false, None),
];

/// Looks a command up by name or alias.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name == name || s.aliases.contains(&name))
}

/// The command name nearest to `name` (for "did you mean").
pub fn nearest(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.len())
        .min()
        .map(|(_, c)| c)
}

/// Edit distance counting a swap of neighbours as one edit (optimal string
/// alignment), so the typo `gte` is nearest to `get`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Splits a `-c` argument into commands at `;` outside quotes.
pub fn split_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    let mut escaped = false;
    for c in text.chars() {
        match (c, quote) {
            _ if escaped => escaped = false,
            ('\\', _) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (';', None) => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Where a transfer's total size comes from, for the progress bar.
enum Size<'a> {
    Remote(&'a str),
    Local(&'a Path),
}

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
}

/// The shell: a client (or none, after `close`) and where results go.
pub struct Shell<W: Write> {
    client: Option<Client>,
    settings: Settings,
    out: W,
    interrupt: Arc<AtomicBool>,
    progress: bool,
    names: NameCache,
    names_stale: bool,
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
            out,
            interrupt,
            progress: io::stderr().is_terminal(),
            names: NameCache::default(),
            names_stale: true,
        };
        if let Some(client) = client {
            shell.adopt(client);
        }
        shell
    }

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
        let arg = |i: usize| args.get(i).map(String::as_str);
        match spec.name {
            "get" => {
                let local = local_target(&args[0], arg(1))?;
                self.transfer("get", &args[0], Size::Remote(&args[0]), |c, p| {
                    c.get_file(&args[0], &local, p)
                })?;
            }
            "put" => {
                let remote = match arg(1) {
                    Some(r) => r.to_string(),
                    None => base_name(&args[0])?,
                };
                self.transfer("put", &remote, Size::Local(Path::new(&args[0])), |c, p| {
                    c.put_file(Path::new(&args[0]), &remote, p)
                })?;
                self.names_stale = true;
            }
            "reget" => {
                let local = local_target(&args[0], arg(1))?;
                self.transfer("reget", &args[0], Size::Remote(&args[0]), |c, p| {
                    c.reget_file(&args[0], &local, p)
                })?;
            }
            "reput" => {
                let remote = match arg(1) {
                    Some(r) => r.to_string(),
                    None => base_name(&args[0])?,
                };
                self.transfer(
                    "reput",
                    &remote,
                    Size::Local(Path::new(&args[0])),
                    |c, p| c.reput_file(Path::new(&args[0]), &remote, p),
                )?;
                self.names_stale = true;
            }
            "mget" => self.mget(args)?,
            "mput" => {
                self.mput(args)?;
                self.names_stale = true;
            }
            "ls" | "nls" => {
                let long = spec.name == "ls";
                let text = self.client()?.list(arg(0), long)?;
                self.print(&text)?;
            }
            "cd" => {
                self.client()?.cwd(&args[0])?;
                self.names_stale = true;
            }
            "cdup" => {
                self.client()?.cdup()?;
                self.names_stale = true;
            }
            "pwd" => {
                let dir = self.client()?.pwd()?;
                self.print(&format!("{dir}\n"))?;
            }
            "mkdir" => self.changes(|c| c.mkdir(&args[0]))?,
            "rmdir" => self.changes(|c| c.rmdir(&args[0]))?,
            "rm" => self.changes(|c| c.delete(&args[0]))?,
            "rename" => self.changes(|c| c.rename(&args[0], &args[1]))?,
            "size" => {
                let size = self.client()?.size(&args[0])?;
                self.print(&format!("{size}\n"))?;
            }
            "modtime" => {
                let t = self.client()?.mdtm(&args[0])?;
                self.print(&format!("{}\n", format_mdtm(&t)))?;
            }
            "lcd" => {
                let dir = match arg(0) {
                    Some(d) => PathBuf::from(d),
                    None => std::env::var_os("HOME").map(PathBuf::from).ok_or_else(|| {
                        ShellError::Usage("lcd: no DIR given and HOME is not set".into())
                    })?,
                };
                std::env::set_current_dir(&dir)
                    .map_err(|e| ShellError::Local(format!("lcd {}: {e}", dir.display())))?;
                eprintln!("local directory now {}", current_dir()?.display());
            }
            "lpwd" => {
                let dir = current_dir()?;
                self.print(&format!("{}\n", dir.display()))?;
            }
            "lls" => {
                let text = local_listing(Path::new(arg(0).unwrap_or(".")))?;
                self.print(&text)?;
            }
            "ascii" | "binary" => {
                self.settings.ascii = spec.name == "ascii";
                let ascii = self.settings.ascii;
                if let Some(c) = self.client.as_mut() {
                    c.ascii = ascii;
                }
                eprintln!(
                    "transfers are now {}",
                    if ascii {
                        "ASCII (TYPE A)"
                    } else {
                        "binary (TYPE I)"
                    }
                );
            }
            "passive" | "active" => {
                self.settings.passive = spec.name == "passive";
                let passive = self.settings.passive;
                if let Some(c) = self.client.as_mut() {
                    c.passive = passive;
                }
                eprintln!("data connections are now {}", spec.name);
            }
            "open" => {
                let port = match arg(1) {
                    Some(p) => p.parse().map_err(|_| {
                        ShellError::Usage(format!("open: {p:?} is not a port number"))
                    })?,
                    None => 21,
                };
                if let Some(old) = self.client.take() {
                    let _ = old.quit();
                }
                let mut client = Client::connect(&args[0], port, self.settings.timeout)?;
                client.verbose = self.settings.verbose;
                client.login(&self.settings.user, &self.settings.password)?;
                eprintln!("connected to {}: {}", client.peer(), client.greeting.text());
                self.adopt(client);
            }
            "close" => {
                if let Some(client) = self.client.take() {
                    client.quit()?;
                }
                self.names.borrow_mut().clear();
            }
            "user" => {
                let password = match arg(1) {
                    Some(p) => p.to_string(),
                    None if io::stdin().is_terminal() => {
                        rpassword::prompt_password(format!("Password for {}: ", args[0]))
                            .map_err(|e| ShellError::Local(format!("reading the password: {e}")))?
                    }
                    None => {
                        return Err(ShellError::Usage(
                            "user: give the password too (user NAME PASSWORD)".into(),
                        ))
                    }
                };
                let client = self.client()?;
                // A logged-in session must log out first (REIN); servers
                // without REIN accept USER again or refuse it clearly.
                let _ = client.quote("REIN");
                client.login(&args[0], &password)?;
                self.settings.user = args[0].clone();
                self.settings.password = password;
                self.names_stale = true;
            }
            "status" => {
                let text = self.status();
                self.print(&text)?;
            }
            "quote" => {
                let line = args.join(" ");
                let replies = self.client()?.quote(&line)?;
                let mut text = String::new();
                for r in &replies {
                    for l in r.to_string().lines() {
                        text.push_str(l);
                        text.push('\n');
                    }
                }
                self.print(&text)?;
                if let Some(last) = replies.last().filter(|r| r.code().is_failure()) {
                    return Err(ShellError::Client(ClientError::Refused {
                        command: line,
                        reply: last.clone(),
                    }));
                }
            }
            "verbose" => {
                self.settings.verbose = match arg(0) {
                    None => !self.settings.verbose,
                    Some("on") => true,
                    Some("off") => false,
                    Some(other) => {
                        return Err(ShellError::Usage(format!(
                            "verbose: expected on or off, not {other:?}"
                        )))
                    }
                };
                let verbose = self.settings.verbose;
                if let Some(c) = self.client.as_mut() {
                    c.verbose = verbose;
                }
                eprintln!("verbose is {}", if verbose { "on" } else { "off" });
            }
            "help" => eprint!("{}", help(arg(0))?),
            "quit" => {
                if let Some(client) = self.client.take() {
                    client.quit()?;
                }
                return Ok(Next::Quit);
            }
            other => unreachable!("command {other} in the table has no handler"),
        }
        Ok(Next::Continue)
    }

    /// A remote change: the name cache is stale afterwards.
    fn changes(
        &mut self,
        op: impl FnOnce(&mut Client) -> super::Result<()>,
    ) -> Result<(), ShellError> {
        op(self.client()?)?;
        self.names_stale = true;
        Ok(())
    }

    /// Runs one transfer with a progress bar (at a terminal) and prints the
    /// summary line after it.
    fn transfer(
        &mut self,
        verb: &str,
        name: &str,
        size: Size,
        op: impl FnOnce(&mut Client, &mut dyn FnMut(u64)) -> super::Result<u64>,
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

    fn mget(&mut self, patterns: &[String]) -> Result<(), ShellError> {
        let mut wanted = Vec::new();
        for pattern in patterns {
            if !has_wildcards(pattern) {
                wanted.push(pattern.clone());
                continue;
            }
            let (dir, file_pattern) = match pattern.rsplit_once('/') {
                Some((d, f)) => (Some(if d.is_empty() { "/" } else { d }), f),
                None => (None, pattern.as_str()),
            };
            let names = self.client()?.names(dir)?;
            let before = wanted.len();
            for name in names.into_iter().filter(|n| matches(file_pattern, n)) {
                wanted.push(match dir {
                    Some("/") => format!("/{name}"),
                    Some(d) => format!("{d}/{name}"),
                    None => name,
                });
            }
            if wanted.len() == before {
                return Err(ShellError::Usage(format!(
                    "mget: no remote file matches {pattern}"
                )));
            }
        }
        for remote in wanted {
            // NLST names directories too; SIZE answers only for files.
            if let Err(e) = self.client()?.size(&remote) {
                if e.reply().is_some_and(|r| r.code().as_u16() == 550) {
                    eprintln!("mget: skipping {remote}: not a plain file");
                    continue;
                }
                return Err(e.into());
            }
            let local = local_target(&remote, None)?;
            self.transfer("get", &remote, Size::Remote(&remote), |c, p| {
                c.get_file(&remote, &local, p)
            })?;
        }
        Ok(())
    }

    fn mput(&mut self, patterns: &[String]) -> Result<(), ShellError> {
        let mut wanted = Vec::new();
        for pattern in patterns {
            if !has_wildcards(pattern) {
                wanted.push(PathBuf::from(pattern));
                continue;
            }
            let (dir, file_pattern) = match pattern.rsplit_once('/') {
                Some((d, f)) => (PathBuf::from(if d.is_empty() { "/" } else { d }), f),
                None => (PathBuf::from("."), pattern.as_str()),
            };
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| ShellError::Local(format!("mput: reading {}: {e}", dir.display())))?
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter(|e| matches(file_pattern, &e.file_name().to_string_lossy()))
                .map(|e| {
                    if pattern.contains('/') {
                        e.path()
                    } else {
                        PathBuf::from(e.file_name())
                    }
                })
                .collect();
            if found.is_empty() {
                return Err(ShellError::Usage(format!(
                    "mput: no local file matches {pattern}"
                )));
            }
            found.sort();
            wanted.extend(found);
        }
        for local in wanted {
            let remote = base_name(&local.to_string_lossy())?;
            self.transfer("put", &remote, Size::Local(&local), |c, p| {
                c.put_file(&local, &remote, p)
            })?;
        }
        Ok(())
    }

    fn status(&self) -> String {
        let s = &self.settings;
        let connection = match &self.client {
            Some(c) => format!("connected to {} as {}", c.peer(), s.user),
            None => "not connected".to_string(),
        };
        format!(
            "{connection}\ntransfers: {}\ndata connections: {}\nverbose: {}\ntimeout: {} s\n",
            if s.ascii {
                "ASCII (TYPE A)"
            } else {
                "binary (TYPE I)"
            },
            if s.passive {
                "passive (EPSV, PASV)"
            } else {
                "active (EPRT, PORT)"
            },
            if s.verbose { "on" } else { "off" },
            s.timeout.as_secs()
        )
    }

    /// Refreshes the remote names for tab completion, if they may be stale.
    fn refresh_names(&mut self) {
        if !self.names_stale {
            return;
        }
        self.names_stale = false;
        let verbose = self.settings.verbose;
        if let Some(client) = self.client.as_mut() {
            // Completion is a convenience: never show its own dialogue.
            client.verbose = false;
            let names = client.names(None).unwrap_or_default();
            client.verbose = verbose;
            *self.names.borrow_mut() = names;
        }
    }

    /// Runs commands from `lines` without prompts; stops at the first
    /// failure (unless the command starts with `-`). Returns the exit status.
    pub fn run_batch(&mut self, lines: impl IntoIterator<Item = io::Result<String>>) -> i32 {
        for (number, line) in lines.into_iter().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: reading commands: {e}");
                    return 1;
                }
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (tolerant, command) = match trimmed.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            match self.execute(command) {
                Ok(Next::Quit) => return 0,
                Ok(Next::Continue) => {}
                Err(e) if tolerant => eprintln!("warning: line {}: {command}: {e}", number + 1),
                Err(e) => {
                    eprintln!("error: line {}: {command}: {e}", number + 1);
                    return 1;
                }
            }
        }
        self.finish()
    }

    /// Runs commands typed at a terminal with line editing, history and
    /// completion; failures are reported and the prompt comes back.
    pub fn run_interactive(&mut self) -> i32 {
        let mut prompt = match Prompt::new(NameCache::clone(&self.names)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("warning: no line editing ({e}); reading plain lines");
                return self.run_plain(io::stdin().lock());
            }
        };
        loop {
            self.refresh_names();
            match prompt.read("ftp> ") {
                Input::Line(line) => match self.execute(line.trim()) {
                    Ok(Next::Quit) => return 0,
                    Ok(Next::Continue) => {}
                    Err(e) => eprintln!("error: {e}"),
                },
                Input::Cancelled => continue,
                Input::End => return self.finish(),
            }
        }
    }

    /// An interactive loop without line editing.
    fn run_plain(&mut self, mut input: impl BufRead) -> i32 {
        loop {
            print!("ftp> ");
            let _ = io::stdout().flush();
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) => return self.finish(),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("error: reading commands: {e}");
                    return 1;
                }
            }
            match self.execute(line.trim()) {
                Ok(Next::Quit) => return 0,
                Ok(Next::Continue) => {}
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }

    /// End of input: quit politely.
    fn finish(&mut self) -> i32 {
        match self.client.take().map(Client::quit) {
            Some(Err(e)) => {
                eprintln!("error: {e}");
                1
            }
            _ => 0,
        }
    }
}

fn current_dir() -> Result<PathBuf, ShellError> {
    std::env::current_dir()
        .map_err(|e| ShellError::Local(format!("reading the local directory: {e}")))
}

/// The local file a download of `remote` goes to.
fn local_target(remote: &str, local: Option<&str>) -> Result<PathBuf, ShellError> {
    let path = match local {
        Some(l) => PathBuf::from(l),
        None => PathBuf::from(base_name(remote)?),
    };
    if path.is_dir() {
        return Ok(path.join(base_name(remote)?));
    }
    Ok(path)
}

/// The last component of a path, for default local/remote names.
fn base_name(path: &str) -> Result<String, ShellError> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map(str::to_string)
        .ok_or_else(|| {
            ShellError::Usage(format!(
                "cannot derive a file name from {path:?}; give one explicitly"
            ))
        })
}

/// `lls`: names and sizes, directories marked with `/`.
fn local_listing(dir: &Path) -> Result<String, ShellError> {
    let mut entries: Vec<(String, String)> = std::fs::read_dir(dir)
        .map_err(|e| ShellError::Local(format!("lls {}: {e}", dir.display())))?
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.metadata() {
                Ok(m) if m.is_dir() => (format!("{name}/"), String::from("-")),
                Ok(m) => (name, m.len().to_string()),
                Err(_) => (name, String::from("?")),
            }
        })
        .collect();
    entries.sort();
    Ok(entries
        .into_iter()
        .map(|(name, size)| format!("{size:>12}  {name}\n"))
        .collect())
}

/// `20261124060500` as `2026-11-24 06:05:00 UTC`; other forms unchanged.
fn format_mdtm(t: &str) -> String {
    let digits = t
        .get(..14)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    match digits {
        Some(d) => format!(
            "{}-{}-{} {}:{}:{} UTC",
            &d[..4],
            &d[4..6],
            &d[6..8],
            &d[8..10],
            &d[10..12],
            &d[12..14]
        ),
        None => t.to_string(),
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

/// Help for all commands or one.
pub fn help(command: Option<&str>) -> Result<String, ShellError> {
    match command {
        None => {
            let mut text = String::from("Commands:\n");
            for s in COMMANDS {
                text.push_str(&format!("  {:<22} {}\n", s.usage, s.help));
            }
            text.push_str(
                "Names with spaces: quote them (\"my file\") or escape the spaces (my\\ file).\n",
            );
            text.push_str("In batch mode a command written as -COMMAND may fail without stopping the batch.\n");
            Ok(text)
        }
        Some(name) => {
            let s = lookup(name).ok_or_else(|| {
                let hint = nearest(name)
                    .map(|n| format!("; did you mean '{n}'?"))
                    .unwrap_or_default();
                ShellError::Usage(format!("no help for unknown command '{name}'{hint}"))
            })?;
            let aliases = if s.aliases.is_empty() {
                String::new()
            } else {
                format!(" (also: {})", s.aliases.join(", "))
            };
            Ok(format!("usage: {}{aliases}\n  {}\n", s.usage, s.help))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_suggestions() {
        assert_eq!(lookup("bye").unwrap().name, "quit");
        assert_eq!(lookup("delete").unwrap().name, "rm");
        assert_eq!(lookup("get").unwrap().args, (1, 2));
        assert!(lookup("gte").is_none());
        assert_eq!(nearest("gte"), Some("get"));
        assert_eq!(nearest("mkdri"), Some("mkdir"));
        assert_eq!(nearest("zzzzzz"), None);
    }

    #[test]
    fn every_command_has_distinct_names() {
        let mut all: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a name or alias appears twice");
    }

    #[test]
    fn one_liners_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_commands("put a; ls ;get 'x;y'"),
            ["put a", "ls", "get 'x;y'"]
        );
        assert_eq!(split_commands(" ; "), Vec::<String>::new());
        assert_eq!(split_commands(r"get a\;b"), [r"get a\;b"]);
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("dir/sub/file.txt").unwrap(), "file.txt");
        assert_eq!(base_name("file").unwrap(), "file");
        assert_eq!(base_name("dir/").unwrap(), "dir");
        assert!(base_name("..").is_err());
        assert!(base_name("/").is_err());
    }

    #[test]
    fn mdtm_is_shown_as_a_date() {
        assert_eq!(format_mdtm("20261124060500"), "2026-11-24 06:05:00 UTC");
        assert_eq!(format_mdtm("20261124060500.123"), "2026-11-24 06:05:00 UTC");
        assert_eq!(format_mdtm("garbage"), "garbage");
    }

    #[test]
    fn help_names_every_command() {
        let text = help(None).unwrap();
        for s in COMMANDS {
            assert!(text.contains(s.usage), "{}", s.name);
        }
        assert!(help(Some("exit")).unwrap().contains("usage: quit"));
        assert!(help(Some("nope")).is_err());
    }
}
