//! FTP replies: [`Reply`], [`ReplyCode`], their parser and serializer.
//!
//! Grammar (RFC 959 §4.2):
//!
//! ```text
//! reply       = single-line / multi-line
//! single-line = code SP text CRLF
//! multi-line  = code "-" text CRLF *( line CRLF ) code SP text CRLF
//! code        = %x31-35 2DIGIT      ; 1yz to 5yz
//! ```
//!
//! A middle line of a multi-line reply may hold anything but must not begin
//! with the reply's code followed by a space (that would end the reply early);
//! RFC 959 asks the sender to indent such a line, and [`Reply::multi`] does.
//! The parser accepts bare LF as well as CRLF and a code with no text at all
//! (`"200\r\n"`), as some servers send.

use std::fmt;

use nom::{
    bytes::complete::take_till,
    character::complete::{line_ending, one_of, satisfy},
    combinator::{opt, recognize},
    IResult, Parser,
};

/// A three-digit reply code, 100 to 599.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        impl ReplyCode {
            $($(#[$doc])* pub const $name: ReplyCode = ReplyCode($value);)*
        }
    };
}

codes! {
    /// 150 File status okay; about to open data connection.
    FILE_STATUS_OK = 150;
    /// 200 Command okay.
    COMMAND_OK = 200;
    /// 202 Command not implemented, superfluous at this site.
    SUPERFLUOUS = 202;
    /// 211 System status, or system help reply (FEAT).
    SYSTEM_STATUS = 211;
    /// 212 Directory status.
    DIRECTORY_STATUS = 212;
    /// 213 File status (SIZE, MDTM, STAT of a file).
    FILE_STATUS = 213;
    /// 214 Help message.
    HELP = 214;
    /// 215 NAME system type.
    SYSTEM_TYPE = 215;
    /// 220 Service ready for new user.
    SERVICE_READY = 220;
    /// 221 Service closing control connection.
    CLOSING = 221;
    /// 225 Data connection open; no transfer in progress.
    DATA_OPEN = 225;
    /// 226 Closing data connection; requested file action successful.
    TRANSFER_COMPLETE = 226;
    /// 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).
    ENTERING_PASSIVE = 227;
    /// 229 Entering Extended Passive Mode (|||port|).
    ENTERING_EXTENDED_PASSIVE = 229;
    /// 230 User logged in, proceed.
    LOGGED_IN = 230;
    /// 234 Security data exchange complete: AUTH TLS accepted, the TLS
    /// handshake follows (RFC 2228, RFC 4217 §4).
    AUTH_OK = 234;
    /// 250 Requested file action okay, completed.
    FILE_ACTION_OK = 250;
    /// 257 "PATHNAME" created (also the PWD reply).
    PATH_CREATED = 257;
    /// 331 User name okay, need password.
    NEED_PASSWORD = 331;
    /// 350 Requested file action pending further information.
    PENDING = 350;
    /// 421 Service not available, closing control connection.
    SERVICE_NOT_AVAILABLE = 421;
    /// 425 Can't open data connection.
    CANT_OPEN_DATA = 425;
    /// 426 Connection closed; transfer aborted.
    TRANSFER_ABORTED = 426;
    /// 450 Requested file action not taken; file unavailable (busy).
    FILE_BUSY = 450;
    /// 451 Requested action aborted: local error in processing.
    LOCAL_ERROR = 451;
    /// 452 Requested action not taken: insufficient storage space.
    INSUFFICIENT_STORAGE = 452;
    /// 500 Syntax error, command unrecognized (also: line too long).
    SYNTAX_ERROR = 500;
    /// 501 Syntax error in parameters or arguments.
    ARGUMENT_ERROR = 501;
    /// 502 Command not implemented.
    NOT_IMPLEMENTED = 502;
    /// 503 Bad sequence of commands.
    BAD_SEQUENCE = 503;
    /// 504 Command not implemented for that parameter.
    PARAMETER_NOT_IMPLEMENTED = 504;
    /// 521 Data connection cannot be opened with this PROT setting
    /// (RFC 4217 §9).
    PROT_REFUSED = 521;
    /// 522 Network protocol not supported (RFC 2428).
    PROTOCOL_NOT_SUPPORTED = 522;
    /// 530 Not logged in.
    NOT_LOGGED_IN = 530;
    /// 550 Requested action not taken: file unavailable (not found, no access).
    FILE_UNAVAILABLE = 550;
    /// 552 Requested file action aborted: exceeded storage allocation.
    EXCEEDED_STORAGE = 552;
    /// 553 Requested action not taken: file name not allowed.
    BAD_FILE_NAME = 553;
    /// 534 Request denied for policy reasons (RFC 2228): TLS is required.
    POLICY_DENIED = 534;
    /// 536 Requested PROT level not supported by mechanism (RFC 2228).
    PROT_NOT_SUPPORTED = 536;
}

impl ReplyCode {
    /// A reply code from its number; `None` outside 100..=599.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        if code >= 100 && code <= 599 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    /// The code as a number.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// 1yz: the action is starting; expect another reply.
    pub const fn is_preliminary(self) -> bool {
        self.0 / 100 == 1
    }

    /// 2yz: the action completed.
    pub const fn is_completion(self) -> bool {
        self.0 / 100 == 2
    }

    /// 3yz: accepted, more information needed.
    pub const fn is_intermediate(self) -> bool {
        self.0 / 100 == 3
    }

    /// 4yz or 5yz: the action was not taken.
    pub const fn is_failure(self) -> bool {
        self.0 >= 400
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// One reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<String>,
}

/// Line ends inside reply text would let a file name inject a fake reply.
fn sanitize(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: ReplyCode, text: impl AsRef<str>) -> Reply {
        Reply {
            code,
            lines: vec![sanitize(text.as_ref())],
        }
    }

    /// A multi-line reply; a single line makes a single-line reply. Middle
    /// lines that would read as the reply's end are indented by one space.
    pub fn multi<I, S>(code: ReplyCode, lines: I) -> Reply
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut lines: Vec<String> = lines.into_iter().map(|l| sanitize(l.as_ref())).collect();
        if lines.is_empty() {
            lines.push(String::new());
        }
        let last = lines.len() - 1;
        let terminator = code.to_string();
        for line in lines.iter_mut().take(last).skip(1) {
            if line.starts_with(&terminator) && matches!(line.as_bytes().get(3), None | Some(b' '))
            {
                line.insert(0, ' ');
            }
        }
        Reply { code, lines }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The lines of text, without codes or separators.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The text of a single-line reply, or the lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// Serializes the reply as it goes on the wire, CRLF after every line.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code;
        match self.lines.as_slice() {
            [] => write!(f, "{code} \r\n"),
            [only] => write!(f, "{code} {only}\r\n"),
            [first, middle @ .., last] => {
                write!(f, "{code}-{first}\r\n")?;
                for line in middle {
                    write!(f, "{line}\r\n")?;
                }
                write!(f, "{code} {last}\r\n")
            }
        }
    }
}

/// Whether a reply line opens a multi-line reply or is its last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// `ddd-`: more lines follow.
    Continues,
    /// `ddd ` or `ddd` alone: this line ends the reply.
    Ends,
}

/// `code = %x31-35 2DIGIT`
pub fn code(input: &str) -> IResult<&str, ReplyCode> {
    let (input, digits) = recognize((
        one_of("12345"),
        satisfy(|c| c.is_ascii_digit()),
        satisfy(|c| c.is_ascii_digit()),
    ))
    .parse(input)?;
    let number: u16 = digits.parse().expect("three ASCII digits");
    Ok((input, ReplyCode(number)))
}

/// The text of a line up to (not including) its line end.
fn text(input: &str) -> IResult<&str, &str> {
    take_till(|c| c == '\r' || c == '\n').parse(input)
}

/// `code ("-" / SP) text`, or a bare `code`: one line without its line end.
pub fn reply_line(input: &str) -> IResult<&str, (ReplyCode, Separator, &str)> {
    let (input, code) = code(input)?;
    let (input, sep) = opt(one_of("- ")).parse(input)?;
    let (input, text) = match sep {
        Some(_) => text(input)?,
        None if input.is_empty() || input.starts_with(['\r', '\n']) => (input, ""),
        None => {
            return Err(nom::Err::Error(nom::error::Error::new(
                input,
                nom::error::ErrorKind::Char,
            )))
        }
    };
    let sep = if sep == Some('-') {
        Separator::Continues
    } else {
        Separator::Ends
    };
    Ok((input, (code, sep, text)))
}

/// Assembles a reply from lines as they arrive (the client's read loop).
#[derive(Debug, Default)]
pub struct ReplyAssembler {
    open: Option<(ReplyCode, Vec<String>)>,
}

/// A line that cannot start a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server sent a line that is not an FTP reply: {0:?}")]
pub struct ReplyError(pub String);

impl ReplyAssembler {
    /// Feeds one line (without its line end); returns the reply it completes.
    pub fn push(&mut self, line: &str) -> Result<Option<Reply>, ReplyError> {
        match &mut self.open {
            None => match reply_line(line) {
                Ok(("", (code, Separator::Ends, text))) => Ok(Some(Reply {
                    code,
                    lines: vec![text.to_string()],
                })),
                Ok(("", (code, Separator::Continues, text))) => {
                    self.open = Some((code, vec![text.to_string()]));
                    Ok(None)
                }
                _ => Err(ReplyError(line.to_string())),
            },
            Some((code, lines)) => match reply_line(line) {
                Ok(("", (c, Separator::Ends, text))) if c == *code => {
                    lines.push(text.to_string());
                    let (code, lines) = self.open.take().expect("open reply");
                    Ok(Some(Reply { code, lines }))
                }
                _ => {
                    lines.push(line.to_string());
                    Ok(None)
                }
            },
        }
    }
}

/// `line-end = CRLF / LF`
fn line_end(input: &str) -> IResult<&str, &str> {
    line_ending(input)
}

/// Parses one complete reply from the start of `input`; returns it and the
/// rest of the input.
pub fn parse_reply(input: &str) -> IResult<&str, Reply> {
    let mut assembler = ReplyAssembler::default();
    let mut rest = input;
    loop {
        let (after_text, line) = text(rest)?;
        let (after_end, _) = line_end(after_text)?;
        match assembler.push(line) {
            Ok(Some(reply)) => return Ok((after_end, reply)),
            Ok(None) => rest = after_end,
            Err(_) => {
                return Err(nom::Err::Error(nom::error::Error::new(
                    rest,
                    nom::error::ErrorKind::Verify,
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_and_multi_line_replies_parse() {
        let (rest, r) = parse_reply("220 Service ready\r\nextra").unwrap();
        assert_eq!(
            (r.code(), r.text().as_str(), rest),
            (ReplyCode::SERVICE_READY, "Service ready", "extra")
        );

        let feat = "211-Features:\r\n EPSV\r\n211x not the end\r\n211 End\r\n";
        let (rest, r) = parse_reply(feat).unwrap();
        assert_eq!(rest, "");
        assert_eq!(r.lines(), ["Features:", " EPSV", "211x not the end", "End"]);
        assert_eq!(r.to_string(), feat);

        let (_, r) = parse_reply("200\n").unwrap();
        assert_eq!((r.code(), r.text().as_str()), (ReplyCode::COMMAND_OK, ""));
    }

    #[test]
    fn bad_replies_are_rejected() {
        for bad in [
            "",
            "20 ok\r\n",
            "600 no\r\n",
            "2000 x\r\n",
            "hello\r\n",
            "211-open\r\n no end\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn middle_lines_that_look_like_the_end_are_indented() {
        let r = Reply::multi(
            ReplyCode::HELP,
            ["Help:", "214 looks like the end", "214", "End"],
        );
        assert_eq!(r.lines()[1], " 214 looks like the end");
        assert_eq!(r.lines()[2], " 214");
        assert_eq!(parse_reply(&r.to_string()).unwrap().1, r);
    }

    #[test]
    fn line_ends_cannot_be_injected() {
        let r = Reply::new(ReplyCode::FILE_UNAVAILABLE, "no file a\r\n230 fake");
        assert_eq!(r.to_string(), "550 no file a  230 fake\r\n");
    }

    pub(crate) fn reply() -> impl Strategy<Value = Reply> {
        (
            100u16..600,
            proptest::collection::vec("[^\r\n]{0,30}", 1..6),
        )
            .prop_map(|(code, lines)| Reply::multi(ReplyCode::new(code).unwrap(), lines))
    }

    proptest! {
        #[test]
        fn parse_inverts_serialize(r in reply()) {
            let wire = r.to_string();
            let (rest, parsed) = parse_reply(&wire).unwrap();
            prop_assert_eq!(rest, "");
            prop_assert_eq!(parsed, r);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}") {
            let _ = parse_reply(&s);
        }
    }
}
