//! The table of verbs the server serves: the one place that says what each
//! verb is, whether it may be used before login, whether it writes, and
//! what HELP says of it. HELP, the before-login gate and the read-only gate
//! all derive from it, so adding a verb means a row here and its handler.

/// One verb the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    /// The name, as `Command::verb` gives it.
    pub name: &'static str,
    /// Aliases (RFC 775's X- forms).
    pub aliases: &'static [&'static str],
    /// The syntax, for HELP.
    pub syntax: &'static str,
    /// What it does, for HELP.
    pub what: &'static str,
    /// Served before login (RFC 959 §5.4 lets USER, PASS, QUIT and friends).
    pub before_login: bool,
    /// Changes the served tree: refused on a read-only server.
    pub writes: bool,
}

const fn verb(name: &'static str, syntax: &'static str, what: &'static str) -> Verb {
    Verb {
        name,
        aliases: &[],
        syntax,
        what,
        before_login: false,
        writes: false,
    }
}

const fn open(v: Verb) -> Verb {
    Verb {
        before_login: true,
        ..v
    }
}

const fn writes(v: Verb) -> Verb {
    Verb { writes: true, ..v }
}

const fn alias(v: Verb, aliases: &'static [&'static str]) -> Verb {
    Verb { aliases, ..v }
}

/// Every verb the server serves, in HELP order.
pub const VERBS: &[Verb] = &[
    open(verb(
        "USER",
        "USER <name>",
        "start a login (anonymous or a user of the users file)",
    )),
    open(verb("PASS", "PASS <password>", "finish a login")),
    verb(
        "ACCT",
        "ACCT <account>",
        "accepted and ignored: no accounts here",
    ),
    verb("REIN", "REIN", "log out, keep the connection"),
    open(verb("QUIT", "QUIT", "log out and close the connection")),
    open(verb("NOOP", "NOOP", "do nothing")),
    open(verb("SYST", "SYST", "system type")),
    open(verb(
        "FEAT",
        "FEAT",
        "list the extensions this server supports",
    )),
    open(verb("HELP", "HELP [<command>]", "this help")),
    verb(
        "STAT",
        "STAT [<path>]",
        "session status, or a listing of <path> on the control connection",
    ),
    open(verb(
        "OPTS",
        "OPTS UTF8 ON | OPTS MLST <facts>",
        "set options",
    )),
    alias(
        verb("PWD", "PWD", "print the working directory (also XPWD)"),
        &["XPWD"],
    ),
    alias(
        verb(
            "CWD",
            "CWD <path>",
            "change the working directory (also XCWD)",
        ),
        &["XCWD"],
    ),
    alias(
        verb("CDUP", "CDUP", "go to the parent directory (also XCUP)"),
        &["XCUP"],
    ),
    alias(
        writes(verb("MKD", "MKD <path>", "make a directory (also XMKD)")),
        &["XMKD"],
    ),
    alias(
        writes(verb(
            "RMD",
            "RMD <path>",
            "remove an empty directory (also XRMD)",
        )),
        &["XRMD"],
    ),
    writes(verb("DELE", "DELE <path>", "delete a file")),
    writes(verb("RNFR", "RNFR <path>", "name the file to rename")),
    writes(verb("RNTO", "RNTO <path>", "rename it")),
    verb("SIZE", "SIZE <path>", "size of a file in bytes"),
    verb(
        "MDTM",
        "MDTM <path>",
        "modification time of a file (YYYYMMDDHHMMSS, UTC)",
    ),
    writes(verb(
        "MFMT",
        "MFMT <YYYYMMDDHHMMSS> <path>",
        "set the modification time of a file (UTC)",
    )),
    verb(
        "TYPE",
        "TYPE A | TYPE I | TYPE L 8",
        "ASCII (line ends converted) or binary",
    ),
    verb("MODE", "MODE S", "stream mode (the only mode)"),
    verb("STRU", "STRU F", "file structure (the only structure)"),
    verb(
        "ALLO",
        "ALLO <size>",
        "accepted and ignored: no preallocation needed",
    ),
    verb(
        "PORT",
        "PORT h1,h2,h3,h4,p1,p2",
        "active mode: the server connects to your address",
    ),
    verb("EPRT", "EPRT |af|addr|port|", "active mode, IPv4 or IPv6"),
    verb(
        "PASV",
        "PASV",
        "passive mode: you connect to the port in the reply",
    ),
    verb("EPSV", "EPSV [1|2|ALL]", "passive mode, IPv4 or IPv6"),
    verb(
        "REST",
        "REST <offset>",
        "restart the next RETR or STOR at byte <offset>",
    ),
    verb("RETR", "RETR <path>", "download a file"),
    writes(verb(
        "STOR",
        "STOR <path>",
        "upload a file (replaces it atomically)",
    )),
    writes(verb("STOU", "STOU", "upload under a new unique name")),
    writes(verb("APPE", "APPE <path>", "append to a file")),
    verb("LIST", "LIST [-a] [<path>]", "long listing (ls -l format)"),
    verb("NLST", "NLST [-a] [<path>]", "names only"),
    verb(
        "MLSD",
        "MLSD [<path>]",
        "machine-readable listing (RFC 3659)",
    ),
    verb(
        "MLST",
        "MLST [<path>]",
        "machine-readable facts of one entry",
    ),
    verb("ABOR", "ABOR", "abort the running transfer"),
    open(verb(
        "AUTH",
        "AUTH TLS",
        "protect the control connection with TLS (RFC 4217)",
    )),
    open(verb("PBSZ", "PBSZ 0", "protection buffer size: 0 for TLS")),
    open(verb(
        "PROT",
        "PROT P | PROT C",
        "protect data connections with TLS (P) or not (C)",
    )),
];

/// The row of `name` (a verb or an alias, any case).
pub fn lookup(name: &str) -> Option<&'static Verb> {
    let name = name.trim().to_ascii_uppercase();
    VERBS
        .iter()
        .find(|v| v.name == name || v.aliases.contains(&name.as_str()))
}

/// The lines of the general HELP reply.
pub fn overview() -> Vec<String> {
    let mut lines = vec!["The following commands are recognized:".to_string()];
    for chunk in VERBS.chunks(10) {
        let names: Vec<&str> = chunk.iter().map(|v| v.name).collect();
        lines.push(format!(" {}", names.join(" ")));
    }
    lines.push("Use HELP <command> for one command. Help OK".to_string());
    lines
}

/// The HELP text of one verb, if the server has it.
pub fn help(name: &str) -> Option<String> {
    lookup(name).map(|v| format!("Syntax: {}: {}", v.syntax, v.what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_command;

    #[test]
    fn every_parsed_verb_has_a_row_and_every_row_parses() {
        for v in VERBS {
            for name in std::iter::once(&v.name).chain(v.aliases) {
                // Any argument that parses: only the verb matters here.
                let parsed = [
                    "x",
                    "I",
                    "S",
                    "F",
                    "P",
                    "7",
                    "1,2,3,4,5,6",
                    "|1|127.0.0.1|5000|",
                    "20210304050607 x",
                ]
                .iter()
                .map(|arg| parse_command(&format!("{name} {arg}")))
                .find(Result::is_ok)
                .unwrap_or_else(|| parse_command(name));
                if let Ok(command) = parsed {
                    assert_eq!(command.verb(), v.name, "{name}");
                } else {
                    panic!("{name} does not parse: {parsed:?}");
                }
            }
        }
    }

    #[test]
    fn help_finds_verbs_and_aliases() {
        assert_eq!(help("xpwd"), help("PWD"));
        assert!(help("retr").unwrap().starts_with("Syntax: RETR <path>"));
        assert!(help("BOGUS").is_none());
        assert!(lookup("USER").unwrap().before_login);
        assert!(!lookup("RETR").unwrap().before_login);
        assert!(lookup("XMKD").unwrap().writes);
    }
}
