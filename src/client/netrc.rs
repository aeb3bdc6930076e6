//! `~/.netrc`: user names and passwords by host, as BSD ftp, curl and
//! lftp read them.
//!
//! The file is a run of tokens separated by blanks and line ends:
//! `machine NAME` starts an entry, `default` starts the entry for any
//! other host (it should come last), and inside an entry `login NAME`,
//! `password SECRET` and `account X` (read and ignored) give its facts.
//! `macdef NAME` defines a macro, whose body runs to the first empty line;
//! macros are skipped. A token may be written in double quotes, with `\"`
//! and `\\` inside (curl's extension), so a password may hold blanks. `#`
//! starts a comment to the end of the line where a token could start.
//!
//! Lookup ([`Netrc::find`]): the first `machine` entry for the host
//! (names compared without case), else `default`. When the user is given
//! already, only an entry for that login counts.

use nom::{
    branch::alt,
    bytes::complete::{is_not, take_till, take_while1},
    character::complete::{char, none_of},
    combinator::{map, recognize, value},
    multi::{fold_many0, many0},
    sequence::{delimited, preceded},
    IResult, Parser,
};

/// One entry: a machine's (or the default) login and password.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The host, or `None` for `default`.
    pub machine: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
}

/// A parsed netrc file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Netrc {
    pub entries: Vec<Entry>,
}

/// Blanks, line ends and comments between tokens.
fn separators(input: &str) -> IResult<&str, ()> {
    value(
        (),
        many0(alt((
            value((), take_while1(|c: char| c.is_whitespace())),
            value((), (char('#'), take_till(|c| c == '\n'))),
        ))),
    )
    .parse(input)
}

/// `"..."` with `\"` and `\\` (any other `\x` is `x`).
fn quoted(input: &str) -> IResult<&str, String> {
    delimited(
        char('"'),
        fold_many0(
            alt((preceded(char('\\'), none_of("")), none_of("\"\\"))),
            String::new,
            |mut s, c| {
                s.push(c);
                s
            },
        ),
        char('"'),
    )
    .parse(input)
}

/// A bare token: anything up to a blank or line end.
fn bare(input: &str) -> IResult<&str, String> {
    map(recognize(is_not(" \t\r\n")), str::to_string).parse(input)
}

/// One token after its separators.
fn token(input: &str) -> IResult<&str, String> {
    preceded(separators, alt((quoted, bare))).parse(input)
}

/// A macro body: everything up to and including the first empty line
/// (or the end of the file).
fn macro_body(input: &str) -> &str {
    let mut rest = input;
    // The rest of the `macdef NAME` line belongs to no token.
    rest = rest.split_once('\n').map_or("", |(_, r)| r);
    loop {
        match rest.split_once('\n') {
            Some((line, after)) => {
                rest = after;
                if line.trim_end_matches('\r').is_empty() {
                    return rest;
                }
            }
            None => return "",
        }
    }
}

impl Netrc {
    /// Reads the text of a netrc file. Unknown keywords are skipped with
    /// their value, as curl does; a keyword without its value ends the
    /// file.
    pub fn parse(text: &str) -> Netrc {
        let mut entries: Vec<Entry> = Vec::new();
        let mut rest = text;
        while let Ok((after, keyword)) = token(rest) {
            rest = after;
            match keyword.as_str() {
                "default" => entries.push(Entry::default()),
                "macdef" => {
                    // The macro's name, then its body up to an empty line.
                    let Ok((after, _name)) = token(rest) else {
                        break;
                    };
                    rest = macro_body(after);
                }
                "machine" | "login" | "password" | "account" => {
                    let Ok((after, value)) = token(rest) else {
                        break;
                    };
                    rest = after;
                    match keyword.as_str() {
                        "machine" => entries.push(Entry {
                            machine: Some(value),
                            ..Entry::default()
                        }),
                        "login" => {
                            if let Some(e) = entries.last_mut() {
                                e.login = Some(value);
                            }
                        }
                        "password" => {
                            if let Some(e) = entries.last_mut() {
                                e.password = Some(value);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Netrc { entries }
    }

    /// The entry for `host`: its `machine` entry, else `default`. With
    /// `user` given, only an entry whose login is that user (or has none).
    pub fn find(&self, host: &str, user: Option<&str>) -> Option<&Entry> {
        let fits = |e: &&Entry| match (user, &e.login) {
            (Some(u), Some(l)) => u == l,
            _ => true,
        };
        self.entries
            .iter()
            .filter(|e| {
                e.machine
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(host))
            })
            .find(fits)
            .or_else(|| {
                self.entries
                    .iter()
                    .filter(|e| e.machine.is_none())
                    .find(fits)
            })
    }
}

/// Reads the netrc file at `path` for `host`: `Ok(None)` when the file
/// does not exist; a warning on stderr when others may read it (it holds
/// passwords), as curl gives, and the file is used all the same.
pub fn lookup(
    path: &std::path::Path,
    host: &str,
    user: Option<&str>,
) -> Result<Option<Entry>, String> {
    use std::os::unix::fs::PermissionsExt;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            eprintln!(
                "warning: {} can be read by others (mode {mode:03o}) and holds passwords: chmod 600 {}",
                path.display(),
                path.display()
            );
        }
    }
    Ok(Netrc::parse(&text).find(host, user).cloned())
}

/// The netrc file to read: `$NETRC`, else `~/.netrc`.
pub fn default_path() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("NETRC") {
        return Some(p.into());
    }
    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".netrc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# personal servers
machine ftp.example.org login alice password s3cret
machine files.example.org
    login bob
    password \"two words \\\" quoted\"
macdef init
cd /pub
binary
machine trap login mallory password fromthemacro

machine Other.Example.Org login carol password c
default login anon password guest@
";

    #[test]
    fn machine_entries_match_their_host_without_case() {
        let n = Netrc::parse(SAMPLE);
        let e = n.find("ftp.example.org", None).unwrap();
        assert_eq!(e.login.as_deref(), Some("alice"));
        assert_eq!(e.password.as_deref(), Some("s3cret"));
        let e = n.find("other.example.org", None).unwrap();
        assert_eq!(e.login.as_deref(), Some("carol"));
    }

    #[test]
    fn quoted_tokens_keep_blanks_and_escapes() {
        let n = Netrc::parse(SAMPLE);
        let e = n.find("files.example.org", None).unwrap();
        assert_eq!(e.password.as_deref(), Some("two words \" quoted"));
    }

    #[test]
    fn macro_bodies_are_skipped_to_the_empty_line() {
        let n = Netrc::parse(SAMPLE);
        // "machine trap" is inside the macro: no entry.
        assert_eq!(n.find("trap", None).unwrap().login.as_deref(), Some("anon"));
        assert_eq!(n.entries.len(), 4);
    }

    #[test]
    fn default_serves_other_hosts_and_missing_is_none() {
        let n = Netrc::parse(SAMPLE);
        let e = n.find("unknown.host", None).unwrap();
        assert_eq!(e.machine, None);
        assert_eq!(e.password.as_deref(), Some("guest@"));
        let without_default = Netrc::parse("machine a login x password y\n");
        assert_eq!(without_default.find("b", None), None);
        assert_eq!(Netrc::parse(""), Netrc::default());
    }

    #[test]
    fn a_given_user_picks_its_own_entry() {
        let n = Netrc::parse("machine h login a password pa\nmachine h login b password pb\n");
        assert_eq!(
            n.find("h", Some("b")).unwrap().password.as_deref(),
            Some("pb")
        );
        assert_eq!(n.find("h", None).unwrap().password.as_deref(), Some("pa"));
        assert_eq!(n.find("h", Some("c")), None);
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panic(text in "(\\PC|[\n\t \"\\\\#])*") {
            let _ = Netrc::parse(&text);
        }
    }

    #[test]
    fn truncated_files_do_not_panic() {
        for text in ["machine", "machine h login", "macdef", "\"open", "password"] {
            let _ = Netrc::parse(text);
        }
    }
}
