//! Remote directory and file commands that need no data connection: CWD,
//! CDUP, PWD, MKD, RMD, DELE, RNFR/RNTO (RFC 959 §4.1.1 and §4.1.3), MDTM
//! and SIZE (RFC 3659 §3 and §4).
//!
//! PWD and MKD answer 257 with the name in quotes, an embedded quote
//! doubled (RFC 959 Appendix II); [`parse_257`] undoes that.

use super::{Client, ClientError, Result};
use crate::protocol::{Command, TransferType};

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
