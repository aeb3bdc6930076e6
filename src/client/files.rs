//! Remote directory and file commands that need no data connection: CWD,
//! CDUP, PWD, MKD, RMD, DELE, RNFR/RNTO (RFC 959 §4.1.1 and §4.1.3), MDTM
//! and SIZE (RFC 3659 §3 and §4), FEAT (RFC 2389), and setting a remote
//! file's time: MFMT (draft-somers-ftp-mfxx §3), else the two-argument
//! `MDTM TIME FILE` that vsftpd takes.
//!
//! PWD and MKD answer 257 with the name in quotes, an embedded quote
//! doubled (RFC 959 Appendix II); [`parse_257`] undoes that.

use super::{Client, ClientError, Result, TimeSetter};
use crate::protocol::{Command, TimeVal, TransferType};

impl Client {
    /// The current remote directory, from PWD's 257 reply.
    pub fn pwd(&mut self) -> Result<String> {
        let reply = self.expect_ok(&Command::Pwd)?;
        parse_257(&reply.text()).ok_or_else(|| {
            ClientError::Protocol(format!(
                "could not read a directory name in the reply {:?}",
                reply.text()
            ))
        })
    }

    /// Changes the remote directory.
    pub fn cwd(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Cwd(path.to_string())).map(drop)
    }

    /// Goes to the parent of the remote directory.
    pub fn cdup(&mut self) -> Result<()> {
        self.expect_ok(&Command::Cdup).map(drop)
    }

    /// Makes a remote directory.
    pub fn mkdir(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Mkd(path.to_string())).map(drop)
    }

    /// Removes an empty remote directory.
    pub fn rmdir(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Rmd(path.to_string())).map(drop)
    }

    /// Deletes a remote file.
    pub fn delete(&mut self, path: &str) -> Result<()> {
        self.expect_ok(&Command::Dele(path.to_string())).map(drop)
    }

    /// Renames a remote file or directory.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.expect_ok(&Command::Rnfr(from.to_string()))?;
        self.expect_ok(&Command::Rnto(to.to_string())).map(drop)
    }

    /// The size of a remote file in bytes (SIZE, in TYPE I).
    pub fn size(&mut self, path: &str) -> Result<u64> {
        self.set_type(TransferType::Image)?;
        let reply = self.expect_ok(&Command::Size(path.to_string()))?;
        reply.text().trim().parse().map_err(|_| {
            ClientError::Protocol(format!("the SIZE reply {:?} is not a number", reply.text()))
        })
    }

    /// The modification time of a remote file, as `YYYYMMDDHHMMSS` (UTC).
    pub fn mdtm(&mut self, path: &str) -> Result<String> {
        let reply = self.expect_ok(&Command::Mdtm(path.to_string()))?;
        Ok(reply.text().trim().to_string())
    }
}

impl Client {
    /// The features the server lists in FEAT (RFC 2389), upper-cased, each
    /// as its line without the leading space (`MLST type*;size*;`); asked
    /// once per session. A server without FEAT has none.
    pub fn features(&mut self) -> Result<Vec<String>> {
        if let Some(features) = &self.features {
            return Ok(features.clone());
        }
        let reply = self.send(&Command::Feat)?;
        let features: Vec<String> = if reply.code().is_completion() {
            // Between the first line and the last ("End"), one feature a line.
            let lines = reply.lines();
            lines
                .iter()
                .take(lines.len().saturating_sub(1))
                .skip(1)
                .map(|l| l.trim().to_ascii_uppercase())
                .filter(|l| !l.is_empty())
                .collect()
        } else {
            Vec::new()
        };
        self.features = Some(features.clone());
        Ok(features)
    }

    /// Whether FEAT lists `name` (the first word of a feature line).
    pub fn has_feature(&mut self, name: &str) -> Result<bool> {
        Ok(self
            .features()?
            .iter()
            .any(|f| f.split(' ').next() == Some(name)))
    }

    /// The modification time of a remote file, parsed.
    pub fn modified(&mut self, path: &str) -> Result<TimeVal> {
        let text = self.mdtm(path)?;
        TimeVal::parse(&text)
            .ok_or_else(|| ClientError::Protocol(format!("the MDTM reply {text:?} is not a time")))
    }

    /// Sets the modification time of the remote file `path`, to the
    /// second: MFMT where FEAT lists it, else `MDTM TIME FILE` (vsftpd).
    /// The first success is checked with MDTM, since a server that does
    /// not know two-argument MDTM reads it as a file name; what works is
    /// remembered for the session. Returns false when the server can do
    /// neither (the time is then left as the server set it).
    pub fn set_modified(&mut self, path: &str, time: TimeVal) -> Result<bool> {
        let time = time.whole_seconds();
        let mut candidates = match self.time_setter {
            TimeSetter::Unsupported => return Ok(false),
            TimeSetter::Mfmt => vec![TimeSetter::Mfmt],
            TimeSetter::Mdtm => vec![TimeSetter::Mdtm],
            TimeSetter::Unknown => vec![TimeSetter::Mdtm],
        };
        if self.time_setter == TimeSetter::Unknown && self.has_feature("MFMT")? {
            candidates.insert(0, TimeSetter::Mfmt);
        }
        for setter in candidates {
            let command = match setter {
                TimeSetter::Mfmt => Command::Mfmt(time, path.to_string()),
                _ => Command::Mdtm(format!("{time} {path}")),
            };
            let reply = self.send(&command)?;
            if !reply.code().is_completion() {
                continue;
            }
            if self.time_setter == TimeSetter::Unknown {
                // Proof that the server understood: the time reads back.
                if self.modified(path).ok() != Some(time) {
                    continue;
                }
                self.time_setter = setter;
            }
            return Ok(true);
        }
        if self.time_setter == TimeSetter::Unknown {
            self.time_setter = TimeSetter::Unsupported;
        }
        Ok(false)
    }
}

/// The directory in a 257 reply: `"/a ""b"" c" is current` gives `/a "b" c`.
pub fn parse_257(text: &str) -> Option<String> {
    let start = text.find('"')? + 1;
    let mut out = String::new();
    let mut chars = text[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pwd_replies_are_unquoted() {
        assert_eq!(
            parse_257("\"/a \"\"b\"\" c\" is the current directory"),
            Some("/a \"b\" c".into())
        );
        assert_eq!(parse_257("\"/\""), Some("/".into()));
        assert_eq!(parse_257("no quotes"), None);
        assert_eq!(parse_257("\"unterminated"), None);
    }
}
