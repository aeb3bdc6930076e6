//! The `ftp>` command loop, at a terminal and in batch mode.
//!
//! Batch semantics follow `sftp -b`: when commands come from a pipe or file,
//! the first command that fails stops the run and the exit status is 1; a
//! command written with a leading `-` (`-get maybe.txt`) may fail without
//! stopping the batch. At a terminal a failure is reported and the prompt
//! comes back.
//!
//! Results (listings) go to stdout; messages, summaries and errors go to
//! stderr, so `cli host port <<< ls > listing.txt` captures only the listing.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::words::split;
use super::{Client, ClientError};

/// One entry of the command table.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    /// Smallest and largest number of arguments.
    pub args: (usize, usize),
}

/// Every command the shell knows.
pub const COMMANDS: &[Spec] = &[
    Spec {
        name: "get",
        aliases: &[],
        usage: "get REMOTE [LOCAL]",
        help: "download REMOTE (to LOCAL, default: its base name here)",
        args: (1, 2),
    },
    Spec {
        name: "put",
        aliases: &[],
        usage: "put LOCAL [REMOTE]",
        help: "upload LOCAL (as REMOTE, default: its base name)",
        args: (1, 2),
    },
    Spec {
        name: "ls",
        aliases: &["dir"],
        usage: "ls [PATH]",
        help: "list the remote directory (or PATH) in long form",
        args: (0, 1),
    },
    Spec {
        name: "help",
        aliases: &["?"],
        usage: "help [COMMAND]",
        help: "show the commands, or how to use one",
        args: (0, 1),
    },
    Spec {
        name: "quit",
        aliases: &["bye", "exit"],
        usage: "quit",
        help: "close the session and exit",
        args: (0, 0),
    },
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

/// Why a shell command failed.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What the loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Quit,
}

/// The shell: a client and where its results go.
pub struct Shell<W: Write> {
    client: Option<Client>,
    out: W,
}

impl<W: Write> Shell<W> {
    /// A shell over a logged-in client, writing results to `out`.
    pub fn new(client: Client, out: W) -> Self {
        Shell {
            client: Some(client),
            out,
        }
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("client present until quit")
    }

    /// Runs one command line.
    pub fn execute(&mut self, line: &str) -> Result<Next, ShellError> {
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
        match spec.name {
            "get" => {
                let remote = &args[0];
                let local = match args.get(1) {
                    Some(l) => PathBuf::from(l),
                    None => PathBuf::from(base_name(remote)?),
                };
                let started = Instant::now();
                let n = self.client().get_file(remote, &local)?;
                summary("get", remote, n, started);
            }
            "put" => {
                let local = Path::new(&args[0]);
                let remote = match args.get(1) {
                    Some(r) => r.clone(),
                    None => base_name(&args[0])?,
                };
                let started = Instant::now();
                let n = self.client().put_file(local, &remote)?;
                summary("put", &remote, n, started);
            }
            "ls" => {
                let listing = self.client().list(args.first().map(String::as_str), true)?;
                self.out
                    .write_all(listing.as_bytes())
                    .and_then(|_| self.out.flush())
                    .map_err(|source| ClientError::Io {
                        context: "writing the listing".into(),
                        source,
                    })?;
            }
            "help" => eprint!("{}", help(args.first().map(String::as_str))?),
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

    /// Runs commands from `input` without prompts; stops at the first failure
    /// (unless the command starts with `-`). Returns the exit status.
    pub fn run_batch(&mut self, input: impl BufRead) -> i32 {
        for (number, line) in input.lines().enumerate() {
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

    /// Runs commands typed at a terminal, with a prompt; failures are
    /// reported and the prompt comes back.
    pub fn run_interactive(&mut self, mut input: impl BufRead) -> i32 {
        loop {
            print!("ftp> ");
            let _ = io::stdout().flush();
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) => {
                    println!();
                    return self.finish();
                }
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
            text.push_str("In batch mode a command written as -COMMAND may fail without stopping the batch.\n");
            Ok(text)
        }
        Some(name) => {
            let s = lookup(name).ok_or_else(|| {
                ShellError::Usage(format!("no help for unknown command '{name}'"))
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
        assert_eq!(lookup("get").unwrap().args, (1, 2));
        assert!(lookup("gte").is_none());
        assert_eq!(nearest("gte"), Some("get"));
        assert_eq!(nearest("lss"), Some("ls"));
        assert_eq!(nearest("zzzzzz"), None);
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
    fn help_names_every_command() {
        let text = help(None).unwrap();
        for s in COMMANDS {
            assert!(text.contains(s.usage), "{}", s.name);
        }
        assert!(help(Some("exit")).unwrap().contains("usage: quit"));
        assert!(help(Some("nope")).is_err());
    }
}
