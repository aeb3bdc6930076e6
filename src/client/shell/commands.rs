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
    spec!("open", [], "open HOST [PORT]", "connect and log in (as the command line's user, with its TLS); HOST may be ftp://HOST[:PORT]/ or ftps://HOST[:PORT]/ (implicit TLS, port 990)", 1, 2, false, None, open),
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
            text.push_str("TLS (FTPS): start cli with --tls (AUTH TLS) or --implicit-tls, or open ftps://HOST/;\n`status` shows the TLS version, cipher suite and whether data connections are protected.\n");
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
    fn help_names_every_command() {
        let text = help(None).unwrap();
        for s in COMMANDS {
            assert!(text.contains(s.usage), "{}", s.name);
        }
        assert!(help(Some("exit")).unwrap().contains("usage: quit"));
        assert!(help(Some("nope")).is_err());
    }
}
