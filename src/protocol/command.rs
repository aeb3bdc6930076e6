//! FTP commands: the [`Command`] type, its parser and its serializer.
//!
//! Grammar (RFC 959 §5.3, RFC 2428, RFC 3659), as this implementation reads one
//! line that [`line`](super::line) has already framed:
//!
//! ```text
//! command  = verb [ SP argument ]
//! verb     = 1*ALPHA             ; case-insensitive, "retr" == "RETR"
//! argument = *( any char but CR and LF )   ; kept verbatim: spaces, UTF-8
//! ```
//!
//! Exactly one space separates verb and argument; everything after it is the
//! argument, so path names may begin or end with spaces. Typed arguments
//! (TYPE, PORT, EPRT, REST, ...) are parsed into their types here, so a
//! [`Command`] never carries a string that must be parsed again.
//!
//! Commands that take no argument ignore one if given (as vsftpd does), so
//! `NOOP please` from a person at `nc` still works.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

use nom::{
    bytes::complete::take_while1,
    character::complete::{char, space0, u64 as dec_u64},
    combinator::{all_consuming, opt, rest},
    sequence::preceded,
    IResult, Parser,
};

use super::address::{format_eprt, format_host_port, parse_eprt, parse_host_port};
use super::time_val::TimeVal;

/// Representation type of a transfer (RFC 959 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `A` (optionally `A N`): text, line ends converted to and from CRLF.
    Ascii,
    /// `I` (or `L 8`): bytes exactly as stored.
    Image,
}

/// The argument of EPSV (RFC 2428 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvMode {
    /// `EPSV`: a passive port on the control connection's address family.
    Any,
    /// `EPSV 1` or `EPSV 2`: a passive port for that network protocol.
    Family(u8),
    /// `EPSV ALL`: from now on, only EPSV sets up data connections.
    All,
}

/// The data channel protection level of PROT (RFC 2228 §3, RFC 4217 §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionLevel {
    /// `C`: clear.
    Clear,
    /// `S`: safe (integrity only); not offered by TLS.
    Safe,
    /// `E`: confidential only; not offered by TLS.
    Confidential,
    /// `P`: private (TLS).
    Private,
}

impl ProtectionLevel {
    /// The level's letter.
    pub fn code(self) -> char {
        match self {
            ProtectionLevel::Clear => 'C',
            ProtectionLevel::Safe => 'S',
            ProtectionLevel::Confidential => 'E',
            ProtectionLevel::Private => 'P',
        }
    }
}

/// One FTP command, with its arguments parsed into their types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Acct(String),
    Quit,
    Rein,
    Noop,
    Syst,
    Feat,
    Help(Option<String>),
    Stat(Option<String>),
    Opts(String),
    Pwd,
    Cwd(String),
    Cdup,
    Mkd(String),
    Rmd(String),
    Dele(String),
    Rnfr(String),
    Rnto(String),
    Size(String),
    Mdtm(String),
    /// MFMT (draft-somers-ftp-mfxx §3): set the modification time of a file.
    Mfmt(TimeVal, String),
    Type(TransferType),
    /// MODE S: the only transfer mode supported (stream).
    ModeStream,
    /// STRU F: the only file structure supported (file).
    StruFile,
    Allo,
    Port(SocketAddrV4),
    Eprt(SocketAddr),
    Pasv,
    Epsv(EpsvMode),
    Rest(u64),
    Retr(String),
    Stor(String),
    Stou,
    Appe(String),
    List(Option<String>),
    Nlst(Option<String>),
    Mlsd(Option<String>),
    Mlst(Option<String>),
    Abor,
    /// AUTH (RFC 2228 §3, RFC 4217 §4): the security mechanism, as given
    /// (`TLS`, `SSL`, `TLS-C`, ...; the session decides what it accepts).
    Auth(String),
    /// PBSZ (RFC 4217 §8): the protection buffer size; 0 for TLS.
    Pbsz(u64),
    /// PROT (RFC 4217 §9).
    Prot(ProtectionLevel),
}

/// Why a line is not a command; each maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// An empty line or one that does not start with a verb: 500.
    #[error("that line is not a command: it should start with a verb such as USER or RETR")]
    Syntax,
    /// A verb this server does not know: 500 (502 if it names a known FTP verb).
    #[error("unknown command {0:?}")]
    UnknownVerb(String),
    /// A required argument is missing: 501.
    #[error("{0} needs an argument")]
    MissingArgument(&'static str),
    /// An argument of the wrong form: 501.
    #[error("bad argument to {verb}: {reason}")]
    BadArgument {
        verb: &'static str,
        reason: &'static str,
    },
    /// A well-formed parameter this server does not implement: 504.
    #[error("{verb} {param} is not supported: {reason}")]
    UnsupportedParameter {
        verb: &'static str,
        param: String,
        reason: &'static str,
    },
}

/// `verb = 1*ALPHA`
fn verb(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphabetic()).parse(input)
}

/// `command = verb [SP argument]`; the argument is everything after one SP.
fn command_line(input: &str) -> IResult<&str, (&str, Option<&str>)> {
    all_consuming((verb, opt(preceded(char(' '), rest)))).parse(input)
}

/// `type-code = "A" [SP "N"] / "I" / "L" SP "8"` (form codes T and C, byte
/// sizes other than 8 and type E are recognized and refused with 504).
fn type_code(arg: &str) -> Result<TransferType, CommandError> {
    let unsupported = |reason| CommandError::UnsupportedParameter {
        verb: "TYPE",
        param: arg.to_string(),
        reason,
    };
    let mut words = arg.split_ascii_whitespace().map(str::to_ascii_uppercase);
    let (first, second, extra) = (words.next(), words.next(), words.next());
    if extra.is_some() {
        return Err(CommandError::BadArgument {
            verb: "TYPE",
            reason: "expected A, A N, I or L 8",
        });
    }
    match (first.as_deref(), second.as_deref()) {
        (Some("A"), None | Some("N")) => Ok(TransferType::Ascii),
        (Some("A"), Some("T" | "C")) => {
            Err(unsupported("only the non-print format (N) is supported"))
        }
        (Some("I"), None) | (Some("L"), Some("8")) => Ok(TransferType::Image),
        (Some("L"), Some(_)) => Err(unsupported("only 8-bit bytes (L 8) are supported")),
        (Some("E"), _) => Err(unsupported("EBCDIC is not supported; use TYPE A or TYPE I")),
        (None, _) => Err(CommandError::MissingArgument("TYPE")),
        _ => Err(CommandError::BadArgument {
            verb: "TYPE",
            reason: "expected A, A N, I or L 8",
        }),
    }
}

/// `decimal-integer = 1*DIGIT`, within u64.
fn decimal_integer(input: &str) -> IResult<&str, u64> {
    preceded(space0, dec_u64).parse(input)
}

/// The REST argument: a byte offset.
fn rest_offset(arg: &str) -> Result<u64, CommandError> {
    all_consuming(decimal_integer)
        .parse(arg.trim_end())
        .map(|(_, n)| n)
        .map_err(|_| CommandError::BadArgument {
            verb: "REST",
            reason: "expected a byte offset in decimal digits",
        })
}

/// The PBSZ argument: a protection buffer size (RFC 4217 §8: 0 for TLS).
fn buffer_size(arg: &str) -> Result<u64, CommandError> {
    all_consuming(decimal_integer)
        .parse(arg.trim_end())
        .map(|(_, n)| n)
        .map_err(|_| CommandError::BadArgument {
            verb: "PBSZ",
            reason: "expected a buffer size in decimal digits (0 for TLS)",
        })
}

fn epsv_mode(arg: Option<&str>) -> Result<EpsvMode, CommandError> {
    match arg.map(str::trim) {
        None | Some("") => Ok(EpsvMode::Any),
        Some(a) if a.eq_ignore_ascii_case("ALL") => Ok(EpsvMode::All),
        // Any protocol number parses; the session answers 522 for those it
        // cannot use (RFC 2428 §3).
        Some(a) if a.bytes().all(|c| c.is_ascii_digit()) && a.parse::<u8>().is_ok() => {
            Ok(EpsvMode::Family(a.parse().expect("checked")))
        }
        Some(a) if a.chars().all(|c| c.is_ascii_digit()) => {
            Err(CommandError::UnsupportedParameter {
                verb: "EPSV",
                param: a.to_string(),
                reason: "only network protocols 1 (IPv4) and 2 (IPv6) are supported",
            })
        }
        Some(_) => Err(CommandError::BadArgument {
            verb: "EPSV",
            reason: "expected nothing, ALL, 1 or 2",
        }),
    }
}

/// MFMT's argument (draft-somers-ftp-mfxx §3): `time-val SP pathname`.
/// The path is everything after the one space, verbatim, as for RETR.
fn mfmt_argument(arg: &str) -> Result<(TimeVal, String), CommandError> {
    let parsed: IResult<&str, (&str, char, &str)> = (
        take_while1(|c: char| c.is_ascii_digit() || c == '.'),
        char(' '),
        rest,
    )
        .parse(arg);
    let Ok((_, (time, _, path))) = parsed else {
        return Err(CommandError::BadArgument {
            verb: "MFMT",
            reason: "expected YYYYMMDDHHMMSS and a path",
        });
    };
    if path.is_empty() {
        return Err(CommandError::MissingArgument("MFMT"));
    }
    let time = TimeVal::parse(time).ok_or(CommandError::BadArgument {
        verb: "MFMT",
        reason: "the time must be a real UTC date and time as YYYYMMDDHHMMSS",
    })?;
    Ok((time, path.to_string()))
}

/// FTP verbs from the RFCs that this parser does not turn into a [`Command`]:
/// answered 502 (not implemented) rather than 500 (unknown).
const KNOWN_UNIMPLEMENTED: &[&str] = &[
    "SMNT", "SITE", "MLFL", "MAIL", "MSND", "MSOM", "MSAM", "MRSQ", "MRCP", "XSEN", "XSEM", "XRSQ",
    "XRCP", "LANG", "ADAT", "CCC", "MIC", "CONF", "ENC", "HOST", "MFCT", "MFF",
];

impl CommandError {
    /// True for a verb that names a real FTP command this server lacks.
    pub fn is_not_implemented(&self) -> bool {
        matches!(self, CommandError::UnknownVerb(v) if KNOWN_UNIMPLEMENTED.contains(&v.as_str()))
    }
}

/// Parses one control line (without its line end; a trailing CRLF or LF is
/// tolerated) into a [`Command`].
pub fn parse_command(line: &str) -> Result<Command, CommandError> {
    let line = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(line);
    // One line holds one command: a line end left inside is not an argument.
    if line.contains('\n') {
        return Err(CommandError::Syntax);
    }
    let (_, (verb, arg)) = command_line(line).map_err(|_| CommandError::Syntax)?;
    let upper = verb.to_ascii_uppercase();
    // Empty arguments count as absent: "LIST " is "LIST".
    let arg = arg.filter(|a| !a.is_empty());
    let required = |name: &'static str| {
        arg.map(str::to_string)
            .ok_or(CommandError::MissingArgument(name))
    };
    let optional = || arg.map(str::to_string);
    use Command::*;
    let command = match upper.as_str() {
        "USER" => User(required("USER")?),
        // An empty password is a password (anonymous clients send "PASS ").
        "PASS" => Pass(arg.unwrap_or_default().to_string()),
        "ACCT" => Acct(required("ACCT")?),
        "QUIT" => Quit,
        "REIN" => Rein,
        "NOOP" => Noop,
        "SYST" => Syst,
        "FEAT" => Feat,
        "HELP" => Help(optional()),
        "STAT" => Stat(optional()),
        "OPTS" => Opts(required("OPTS")?),
        "PWD" | "XPWD" => Pwd,
        "CWD" | "XCWD" => Cwd(required("CWD")?),
        "CDUP" | "XCUP" => Cdup,
        "MKD" | "XMKD" => Mkd(required("MKD")?),
        "RMD" | "XRMD" => Rmd(required("RMD")?),
        "DELE" => Dele(required("DELE")?),
        "RNFR" => Rnfr(required("RNFR")?),
        "RNTO" => Rnto(required("RNTO")?),
        "SIZE" => Size(required("SIZE")?),
        "MDTM" => Mdtm(required("MDTM")?),
        "MFMT" => {
            let (time, path) = mfmt_argument(&required("MFMT")?)?;
            Mfmt(time, path)
        }
        "TYPE" => Type(type_code(&required("TYPE")?)?),
        "MODE" => match required("MODE")?.trim().to_ascii_uppercase().as_str() {
            "S" => ModeStream,
            m => {
                return Err(CommandError::UnsupportedParameter {
                    verb: "MODE",
                    param: m.to_string(),
                    reason: "only stream mode (S) is supported",
                })
            }
        },
        "STRU" => match required("STRU")?.trim().to_ascii_uppercase().as_str() {
            "F" => StruFile,
            s => {
                return Err(CommandError::UnsupportedParameter {
                    verb: "STRU",
                    param: s.to_string(),
                    reason: "only file structure (F) is supported",
                })
            }
        },
        "ALLO" => Allo,
        "PORT" => Port(parse_host_port(required("PORT")?.trim()).ok_or(
            CommandError::BadArgument {
                verb: "PORT",
                reason: "expected h1,h2,h3,h4,p1,p2 with each number 0 to 255",
            },
        )?),
        "EPRT" => Eprt(
            parse_eprt(required("EPRT")?.trim()).ok_or(CommandError::BadArgument {
                verb: "EPRT",
                reason: "expected |1|IPv4|port| or |2|IPv6|port|",
            })?,
        ),
        "PASV" => Pasv,
        "EPSV" => Epsv(epsv_mode(arg)?),
        "REST" => Rest(rest_offset(&required("REST")?)?),
        "RETR" => Retr(required("RETR")?),
        "STOR" => Stor(required("STOR")?),
        "STOU" => Stou,
        "APPE" => Appe(required("APPE")?),
        "LIST" => List(optional()),
        "NLST" => Nlst(optional()),
        "MLSD" => Mlsd(optional()),
        "MLST" => Mlst(optional()),
        "ABOR" => Abor,
        "AUTH" => {
            // The mechanism name, without the blanks around it; blanks
            // alone are no mechanism (and would not survive a round trip).
            let mechanism = required("AUTH")?.trim().to_string();
            if mechanism.is_empty() {
                return Err(CommandError::MissingArgument("AUTH"));
            }
            Auth(mechanism)
        }
        "PBSZ" => Pbsz(buffer_size(&required("PBSZ")?)?),
        "PROT" => Prot(
            match required("PROT")?.trim().to_ascii_uppercase().as_str() {
                "C" => ProtectionLevel::Clear,
                "S" => ProtectionLevel::Safe,
                "E" => ProtectionLevel::Confidential,
                "P" => ProtectionLevel::Private,
                _ => {
                    return Err(CommandError::BadArgument {
                        verb: "PROT",
                        reason: "expected C (clear) or P (private)",
                    })
                }
            },
        ),
        _ => return Err(CommandError::UnknownVerb(upper)),
    };
    Ok(command)
}

/// A control line as it may appear in a log or on a terminal: a PASS
/// line's password is masked (`PASS ****`), anything else is shown as is.
pub fn shown_in_logs(line: &str) -> &str {
    // Any line that starts with PASS: a typo such as "passs3cret" is masked too.
    let is_pass = line
        .get(..4)
        .is_some_and(|v| v.eq_ignore_ascii_case("PASS"));
    if is_pass {
        "PASS ****"
    } else {
        line
    }
}

impl Command {
    /// The canonical verb of this command.
    pub fn verb(&self) -> &'static str {
        use Command::*;
        match self {
            User(_) => "USER",
            Pass(_) => "PASS",
            Acct(_) => "ACCT",
            Quit => "QUIT",
            Rein => "REIN",
            Noop => "NOOP",
            Syst => "SYST",
            Feat => "FEAT",
            Help(_) => "HELP",
            Stat(_) => "STAT",
            Opts(_) => "OPTS",
            Pwd => "PWD",
            Cwd(_) => "CWD",
            Cdup => "CDUP",
            Mkd(_) => "MKD",
            Rmd(_) => "RMD",
            Dele(_) => "DELE",
            Rnfr(_) => "RNFR",
            Rnto(_) => "RNTO",
            Size(_) => "SIZE",
            Mdtm(_) => "MDTM",
            Mfmt(..) => "MFMT",
            Type(_) => "TYPE",
            ModeStream => "MODE",
            StruFile => "STRU",
            Allo => "ALLO",
            Port(_) => "PORT",
            Eprt(_) => "EPRT",
            Pasv => "PASV",
            Epsv(_) => "EPSV",
            Rest(_) => "REST",
            Retr(_) => "RETR",
            Stor(_) => "STOR",
            Stou => "STOU",
            Appe(_) => "APPE",
            List(_) => "LIST",
            Nlst(_) => "NLST",
            Mlsd(_) => "MLSD",
            Mlst(_) => "MLST",
            Abor => "ABOR",
            Auth(_) => "AUTH",
            Pbsz(_) => "PBSZ",
            Prot(_) => "PROT",
        }
    }
}

/// Serializes a command as it goes on the wire, without the line end.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Command::*;
        let verb = self.verb();
        match self {
            User(a) | Pass(a) | Acct(a) | Opts(a) | Cwd(a) | Mkd(a) | Rmd(a) | Dele(a)
            | Rnfr(a) | Rnto(a) | Size(a) | Mdtm(a) | Retr(a) | Stor(a) | Appe(a) => {
                write!(f, "{verb} {a}")
            }
            Help(a) | Stat(a) | List(a) | Nlst(a) | Mlsd(a) | Mlst(a) => match a {
                Some(a) => write!(f, "{verb} {a}"),
                None => f.write_str(verb),
            },
            Mfmt(time, path) => write!(f, "MFMT {time} {path}"),
            Type(TransferType::Ascii) => f.write_str("TYPE A"),
            Type(TransferType::Image) => f.write_str("TYPE I"),
            ModeStream => f.write_str("MODE S"),
            StruFile => f.write_str("STRU F"),
            Port(addr) => write!(f, "PORT {}", format_host_port(*addr)),
            Eprt(addr) => write!(f, "EPRT {}", format_eprt(*addr)),
            Epsv(EpsvMode::Any) => f.write_str("EPSV"),
            Epsv(EpsvMode::All) => f.write_str("EPSV ALL"),
            Epsv(EpsvMode::Family(n)) => write!(f, "EPSV {n}"),
            Rest(n) => write!(f, "REST {n}"),
            Auth(a) => write!(f, "AUTH {a}"),
            Pbsz(n) => write!(f, "PBSZ {n}"),
            Prot(level) => write!(f, "PROT {}", level.code()),
            Quit | Rein | Noop | Syst | Feat | Pwd | Cdup | Allo | Pasv | Stou | Abor => {
                f.write_str(verb)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn verbs_are_case_insensitive_and_arguments_verbatim() {
        assert_eq!(
            parse_command("retr my file.txt"),
            Ok(Command::Retr("my file.txt".into()))
        );
        assert_eq!(
            parse_command("Stor  lead"),
            Ok(Command::Stor(" lead".into()))
        );
        assert_eq!(
            parse_command("RETR naïve 文件\r\n"),
            Ok(Command::Retr("naïve 文件".into()))
        );
        assert_eq!(parse_command("xpwd"), Ok(Command::Pwd));
        assert_eq!(parse_command("LIST "), Ok(Command::List(None)));
        assert_eq!(parse_command("PASS"), Ok(Command::Pass(String::new())));
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(parse_command(""), Err(CommandError::Syntax));
        // Found by the fuzzer: a second line end must not become an argument.
        assert_eq!(parse_command("USER \n\n"), Err(CommandError::Syntax));
        assert_eq!(parse_command("USER a\r\n\n"), Err(CommandError::Syntax));
        // Found by the fuzzer: AUTH followed by blanks only is no mechanism.
        assert_eq!(
            parse_command("AUTH \t\t\t\n"),
            Err(CommandError::MissingArgument("AUTH"))
        );
        assert_eq!(parse_command("auth  tls "), Ok(Command::Auth("tls".into())));
        assert_eq!(parse_command(" RETR x"), Err(CommandError::Syntax));
        assert_eq!(parse_command("\u{1}\u{2}"), Err(CommandError::Syntax));
        assert_eq!(
            parse_command("FOO"),
            Err(CommandError::UnknownVerb("FOO".into()))
        );
        assert!(parse_command("site chmod 1 x")
            .unwrap_err()
            .is_not_implemented());
        assert_eq!(
            parse_command("RETR"),
            Err(CommandError::MissingArgument("RETR"))
        );
        assert!(matches!(
            parse_command("TYPE E"),
            Err(CommandError::UnsupportedParameter { .. })
        ));
        assert!(matches!(
            parse_command("TYPE X"),
            Err(CommandError::BadArgument { .. })
        ));
        assert!(matches!(
            parse_command("REST -1"),
            Err(CommandError::BadArgument { .. })
        ));
        assert!(matches!(
            parse_command("PORT 1,2,3,4,5"),
            Err(CommandError::BadArgument { .. })
        ));
        assert!(matches!(
            parse_command("MODE B"),
            Err(CommandError::UnsupportedParameter { .. })
        ));
    }

    #[test]
    fn passwords_are_masked_in_logs() {
        assert_eq!(shown_in_logs("PASS s3cret"), "PASS ****");
        assert_eq!(shown_in_logs("pass"), "PASS ****");
        assert_eq!(shown_in_logs("passs3cret"), "PASS ****");
        assert_eq!(shown_in_logs("PASV"), "PASV");
        assert_eq!(shown_in_logs("RETR passwords.txt"), "RETR passwords.txt");
    }

    #[test]
    fn typed_arguments() {
        assert_eq!(
            parse_command("type a n"),
            Ok(Command::Type(TransferType::Ascii))
        );
        assert_eq!(
            parse_command("TYPE L 8"),
            Ok(Command::Type(TransferType::Image))
        );
        assert_eq!(parse_command("REST 1024"), Ok(Command::Rest(1024)));
        assert_eq!(
            parse_command("PORT 127,0,0,1,4,1"),
            Ok(Command::Port("127.0.0.1:1025".parse().unwrap()))
        );
        assert_eq!(
            parse_command("EPRT |2|::1|5282|"),
            Ok(Command::Eprt("[::1]:5282".parse().unwrap()))
        );
        assert_eq!(parse_command("epsv all"), Ok(Command::Epsv(EpsvMode::All)));
    }

    /// Arguments as they can cross the wire: anything but CR and LF, not empty.
    fn argument() -> impl Strategy<Value = String> {
        "[^\r\n]{1,40}"
    }

    pub(crate) fn command() -> impl Strategy<Value = Command> {
        use Command::*;
        let text = prop_oneof![
            argument().prop_map(User),
            "[^\r\n]{0,20}".prop_map(Pass),
            argument().prop_map(Acct),
            argument().prop_map(Opts),
            argument().prop_map(Cwd),
            argument().prop_map(Mkd),
            argument().prop_map(Rmd),
            argument().prop_map(Dele),
            argument().prop_map(Rnfr),
            argument().prop_map(Rnto),
            argument().prop_map(Size),
            argument().prop_map(Mdtm),
            (crate::protocol::time_val::tests::time_val(), argument())
                .prop_map(|(t, p)| Mfmt(t, p)),
            argument().prop_map(Retr),
            argument().prop_map(Stor),
            argument().prop_map(Appe),
        ];
        let optional = prop_oneof![
            proptest::option::of(argument()).prop_map(Help),
            proptest::option::of(argument()).prop_map(Stat),
            proptest::option::of(argument()).prop_map(List),
            proptest::option::of(argument()).prop_map(Nlst),
            proptest::option::of(argument()).prop_map(Mlsd),
            proptest::option::of(argument()).prop_map(Mlst),
        ];
        let typed = prop_oneof![
            Just(Type(TransferType::Ascii)),
            Just(Type(TransferType::Image)),
            any::<SocketAddrV4>().prop_map(Port),
            any::<SocketAddr>().prop_map(|a| Eprt(SocketAddr::new(a.ip(), a.port()))),
            prop_oneof![
                Just(EpsvMode::Any),
                Just(EpsvMode::All),
                any::<u8>().prop_map(EpsvMode::Family)
            ]
            .prop_map(Epsv),
            any::<u64>().prop_map(Rest),
            "[A-Za-z-]{1,8}".prop_map(Auth),
            any::<u64>().prop_map(Pbsz),
            prop_oneof![
                Just(ProtectionLevel::Clear),
                Just(ProtectionLevel::Safe),
                Just(ProtectionLevel::Confidential),
                Just(ProtectionLevel::Private),
            ]
            .prop_map(Prot),
        ];
        let bare = prop_oneof![
            Just(Quit),
            Just(Rein),
            Just(Noop),
            Just(Syst),
            Just(Feat),
            Just(Pwd),
            Just(Cdup),
            Just(Allo),
            Just(Pasv),
            Just(Stou),
            Just(Abor),
            Just(ModeStream),
            Just(StruFile),
        ];
        prop_oneof![text, optional, typed, bare]
    }

    proptest! {
        #[test]
        fn parse_inverts_serialize(cmd in command()) {
            prop_assert_eq!(parse_command(&cmd.to_string()), Ok(cmd));
        }

        #[test]
        fn parsing_never_panics(line in "\\PC{0,60}") {
            let _ = parse_command(&line);
        }
    }
}
