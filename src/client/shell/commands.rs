//! The command table: every command the shell knows, with its aliases,
//! usage, help text, argument counts, what its arguments complete to and
//! the method that runs it. Dispatch, `help` and tab completion all read
//! this one table, so a command added here is complete everywhere and a
//! command cannot be listed without a handler.

use std::io::Write;

use super::{Next, Shell, ShellError};

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
    /// Runs it, once the argument count and the connection are checked.
    pub(super) run: Handler,
}

/// A command's handler. It takes the shell with its output type erased so
/// that one table, a non-generic constant, serves every `Shell<W>`.
pub(super) type Handler =
    for<'a, 'b> fn(&'a mut Shell<dyn Write + 'b>, &[String]) -> Result<Next, ShellError>;

const ANY: usize = usize::MAX;

macro_rules! spec {
    ($name:literal, [$($alias:literal),*], $usage:literal, $help:literal, $min:expr, $max:expr, $remote:literal, $arg:ident, $run:ident) => {
        Spec { name: $name, aliases: &[$($alias),*], usage: $usage, help: $help, args: ($min, $max), remote: $remote, completes: Arg::$arg, run: |shell, args| shell.$run(args) }
    };
}

/// Every command the shell knows.
#[rustfmt::skip]
pub const COMMANDS: &[Spec] = &[
    spec!("get", [], "get REMOTE [LOCAL]", "download REMOTE (to LOCAL, default: its base name here)", 1, 2, true, Remote, get),
    spec!("put", [], "put LOCAL [REMOTE]", "upload LOCAL (as REMOTE, default: its base name)", 1, 2, true, Local, put),
    spec!("mget", [], "mget PATTERN...", "download every remote file matching the patterns (* ? [a-z])", 1, ANY, true, Remote, mget),
    spec!("mput", [], "mput PATTERN...", "upload every local file matching the patterns", 1, ANY, true, Local, mput),
    spec!("reget", [], "reget REMOTE [LOCAL]", "resume a download: append the rest of REMOTE to LOCAL", 1, 2, true, Remote, reget),
    spec!("reput", [], "reput LOCAL [REMOTE]", "resume an upload: send the rest of LOCAL", 1, 2, true, Local, reput),
    spec!("ls", ["dir"], "ls [PATH]", "list the remote directory (or PATH) in long form", 0, 1, true, Remote, ls),
    spec!("nls", [], "nls [PATH]", "list remote names only", 0, 1, true, Remote, nls),
    spec!("cd", ["cwd"], "cd DIR", "change the remote directory", 1, 1, true, Remote, cd),
    spec!("cdup", [], "cdup", "go to the parent remote directory", 0, 0, true, None, cdup),
    spec!("pwd", [], "pwd", "print the remote directory", 0, 0, true, None, pwd),
    spec!("mkdir", [], "mkdir DIR", "make a remote directory", 1, 1, true, Remote, mkdir),
    spec!("rmdir", [], "rmdir DIR", "remove an empty remote directory", 1, 1, true, Remote, rmdir),
    spec!("rm", ["delete"], "rm FILE", "delete a remote file", 1, 1, true, Remote, rm),
    spec!("rename", [], "rename FROM TO", "rename a remote file or directory", 2, 2, true, Remote, rename),
    spec!("size", [], "size FILE", "print the size of a remote file in bytes", 1, 1, true, Remote, size),
    spec!("modtime", [], "modtime FILE", "print when a remote file was last modified (UTC)", 1, 1, true, Remote, modtime),
    spec!("mirror", [], "mirror [-R] [OPTIONS] SRC [DST]", "copy a directory tree: remote SRC to local DST, or with -R local SRC to remote DST", 1, ANY, true, Remote, mirror),
    spec!("lcd", [], "lcd [DIR]", "change the local directory (default: home)", 0, 1, false, Local, lcd),
    spec!("lpwd", [], "lpwd", "print the local directory", 0, 0, false, None, lpwd),
    spec!("lls", [], "lls [DIR]", "list a local directory", 0, 1, false, Local, lls),
    spec!("ascii", [], "ascii", "transfer files as text (TYPE A: line ends converted)", 0, 0, false, None, ascii),
    spec!("binary", ["image"], "binary", "transfer files byte for byte (TYPE I, the default)", 0, 0, false, None, binary),
    spec!("passive", [], "passive", "passive data connections (EPSV, then PASV; the default)", 0, 0, false, None, passive),
    spec!("active", [], "active", "active data connections (EPRT, then PORT)", 0, 0, false, None, active),
    spec!("open", [], "open HOST [PORT]", "connect and log in (as the command line's user, with its TLS); HOST may be an ftp:// or ftps:// URL", 1, 2, false, None, open),
    spec!("close", ["disconnect"], "close", "log out and close the connection, stay in the shell", 0, 0, true, None, close),
    spec!("user", [], "user NAME [PASSWORD]", "log in again as NAME", 1, 2, true, None, user),
    spec!("status", [], "status", "show the connection, its TLS (version, cipher suite, data protection) and settings", 0, 0, false, None, status),
    spec!("quote", ["literal"], "quote LINE...", "send a raw command and print the reply", 1, ANY, true, None, quote),
    spec!("verbose", [], "verbose [on|off]", "show the control dialogue (toggles without argument)", 0, 1, false, None, verbose),
    spec!("help", ["?"], "help [COMMAND]", "show the commands, or how to use one", 0, 1, false, None, show_help),
    spec!("quit", ["bye", "exit"], "quit", "close the session and exit", 0, 0, false, None, quit),
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

/// The terminal the overview must fit: `help` is read in an 80x24 window.
const HELP_WIDTH: usize = 80;
const HELP_HEIGHT: usize = 24;

/// What `help` says under the command table.
const HELP_NOTES: &[&str] = &[
    "Names with spaces: quote them (\"my file\") or escape them (my\\ file).",
    "Batch mode: a command written as -COMMAND may fail without stopping the batch.",
    "URLs: cli ftp://[USER[:PASS]@]HOST[:PORT]/PATH fetches a file or opens a dir;",
    "  ftps:// is implicit TLS, --tls is AUTH TLS. Logins also come from ~/.netrc.",
];

/// More than one line of help, for the commands that need it.
fn details(name: &str) -> &'static str {
    match name {
        "mirror" => {
            "Options:
  -R, --reverse     upload: local SRC to remote DST (default: download)
  --delete          remove what the source no longer has from the target
  --only-newer      skip a file when the target has the same size and is
                    not older (to the precision the server gives)
  --parallel N      N transfers at once over N sessions (1 to 16; default 1)
  --continue        resume the .NAME.part files an interrupted run left
  --exclude GLOB    leave out names (or paths, with a /) matching GLOB;
                    repeatable; never copied, never deleted
  --dry-run         print what would be done, do nothing
DST defaults to SRC's last name, here (download) or in the remote
directory (-R). Files arrive as .NAME.part and are renamed when complete;
times are kept (MFMT or MDTM on the server). One summary line at the end.
Example: mirror -R --delete --only-newer site /www
"
        }
        "open" => {
            "HOST may be a URL: ftp://[USER[:PASSWORD]@]HOST[:PORT][/DIR] (%XX decoded),
or ftps://... for implicit TLS (port 990). Without a user, ~/.netrc's
entry for HOST is used when the session so far was anonymous.
"
        }
        _ => "",
    }
}

/// `text` broken into lines of at most `width` columns, each indented
/// by `indent` spaces.
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&format!("{:indent$}{line}\n", ""));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{:indent$}{line}\n", ""));
    }
    out
}

/// Help for all commands (their names in columns, to fit an 80x24
/// terminal) or one (usage, aliases, what it does, its options).
pub fn help(command: Option<&str>) -> Result<String, ShellError> {
    match command {
        None => {
            let names: Vec<&str> = COMMANDS.iter().map(|s| s.name).collect();
            let column = names.iter().map(|n| n.len()).max().unwrap_or(0) + 3;
            let per_row = ((HELP_WIDTH - 2) / column).max(1);
            let mut text = String::from("Commands (help COMMAND for one):\n");
            for row in names.chunks(per_row) {
                let mut line = String::from("  ");
                for name in row {
                    line.push_str(&format!("{name:<column$}"));
                }
                text.push_str(line.trim_end());
                text.push('\n');
            }
            for note in HELP_NOTES {
                text.push_str(note);
                text.push('\n');
            }
            debug_assert!(text.lines().count() <= HELP_HEIGHT);
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
            Ok(format!(
                "usage: {}{aliases}\n{}{}",
                s.usage,
                wrap(s.help, HELP_WIDTH, 2),
                details(s.name)
            ))
        }
    }
}

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn show_help(&mut self, args: &[String]) -> Result<Next, ShellError> {
        eprint!("{}", help(args.first().map(String::as_str))?);
        Ok(Next::Continue)
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
    fn help_names_every_command_within_80_by_24() {
        let text = help(None).unwrap();
        let words: Vec<&str> = text.split_whitespace().collect();
        for s in COMMANDS {
            assert!(words.contains(&s.name), "{}", s.name);
        }
        assert!(text.lines().count() <= HELP_HEIGHT, "{text}");
        for line in text.lines() {
            assert!(line.chars().count() <= HELP_WIDTH, "{line:?}");
        }
        assert!(help(Some("exit")).unwrap().contains("usage: quit"));
        assert!(help(Some("nope")).is_err());
        // Every command's own help fits 80 columns too.
        for s in COMMANDS {
            for line in help(Some(s.name)).unwrap().lines() {
                assert!(line.chars().count() <= HELP_WIDTH, "{}: {line:?}", s.name);
            }
        }
        let mirror = help(Some("mirror")).unwrap();
        for option in [
            "--delete",
            "--only-newer",
            "--parallel N",
            "--continue",
            "--exclude GLOB",
            "--dry-run",
            "-R",
        ] {
            assert!(mirror.contains(option), "{option}: {mirror}");
        }
    }
}
