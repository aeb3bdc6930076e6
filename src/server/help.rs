//! The server's HELP text: every command it serves, with its syntax.

/// Verb, syntax and what it does, for every command the server serves.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "USER",
        "USER <name>",
        "start a login (anonymous or a user of the users file)",
    ),
    ("PASS", "PASS <password>", "finish a login"),
    (
        "ACCT",
        "ACCT <account>",
        "accepted and ignored: no accounts here",
    ),
    ("REIN", "REIN", "log out, keep the connection"),
    ("QUIT", "QUIT", "log out and close the connection"),
    ("NOOP", "NOOP", "do nothing"),
    ("SYST", "SYST", "system type"),
    ("FEAT", "FEAT", "list the extensions this server supports"),
    ("HELP", "HELP [<command>]", "this help"),
    (
        "STAT",
        "STAT [<path>]",
        "session status, or a listing of <path> on the control connection",
    ),
    ("OPTS", "OPTS UTF8 ON | OPTS MLST <facts>", "set options"),
    ("PWD", "PWD", "print the working directory (also XPWD)"),
    (
        "CWD",
        "CWD <path>",
        "change the working directory (also XCWD)",
    ),
    ("CDUP", "CDUP", "go to the parent directory (also XCUP)"),
    ("MKD", "MKD <path>", "make a directory (also XMKD)"),
    ("RMD", "RMD <path>", "remove an empty directory (also XRMD)"),
    ("DELE", "DELE <path>", "delete a file"),
    ("RNFR", "RNFR <path>", "name the file to rename"),
    ("RNTO", "RNTO <path>", "rename it"),
    ("SIZE", "SIZE <path>", "size of a file in bytes"),
    (
        "MDTM",
        "MDTM <path>",
        "modification time of a file (YYYYMMDDHHMMSS, UTC)",
    ),
    (
        "TYPE",
        "TYPE A | TYPE I | TYPE L 8",
        "ASCII (line ends converted) or binary",
    ),
    ("MODE", "MODE S", "stream mode (the only mode)"),
    ("STRU", "STRU F", "file structure (the only structure)"),
    (
        "ALLO",
        "ALLO <size>",
        "accepted and ignored: no preallocation needed",
    ),
    (
        "PORT",
        "PORT h1,h2,h3,h4,p1,p2",
        "active mode: the server connects to your address",
    ),
    ("EPRT", "EPRT |af|addr|port|", "active mode, IPv4 or IPv6"),
    (
        "PASV",
        "PASV",
        "passive mode: you connect to the port in the reply",
    ),
    ("EPSV", "EPSV [1|2|ALL]", "passive mode, IPv4 or IPv6"),
    (
        "REST",
        "REST <offset>",
        "restart the next RETR or STOR at byte <offset>",
    ),
    ("RETR", "RETR <path>", "download a file"),
    (
        "STOR",
        "STOR <path>",
        "upload a file (replaces it atomically)",
    ),
    ("STOU", "STOU", "upload under a new unique name"),
    ("APPE", "APPE <path>", "append to a file"),
    ("LIST", "LIST [-a] [<path>]", "long listing (ls -l format)"),
    ("NLST", "NLST [-a] [<path>]", "names only"),
    (
        "MLSD",
        "MLSD [<path>]",
        "machine-readable listing (RFC 3659)",
    ),
    (
        "MLST",
        "MLST [<path>]",
        "machine-readable facts of one entry",
    ),
    ("ABOR", "ABOR", "abort the running transfer"),
];

/// The lines of the general HELP reply.
pub fn overview() -> Vec<String> {
    let mut lines = vec!["The following commands are recognized:".to_string()];
    for chunk in COMMANDS.chunks(10) {
        let verbs: Vec<&str> = chunk.iter().map(|(v, _, _)| *v).collect();
        lines.push(format!(" {}", verbs.join(" ")));
    }
    lines.push("Use HELP <command> for one command. Help OK".to_string());
    lines
}

/// The HELP text of one command, if the server has it.
pub fn command(verb: &str) -> Option<String> {
    let verb = verb.trim().to_ascii_uppercase();
    let verb = match verb.as_str() {
        "XPWD" => "PWD",
        "XCWD" => "CWD",
        "XCUP" => "CDUP",
        "XMKD" => "MKD",
        "XRMD" => "RMD",
        v => v,
    };
    COMMANDS
        .iter()
        .find(|(v, _, _)| *v == verb)
        .map(|(_, syntax, what)| format!("Syntax: {syntax}: {what}"))
}
