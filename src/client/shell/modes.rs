//! Mode commands: ascii and binary (TYPE A or I, RFC 959 §3.1.1), passive
//! and active (EPSV/PASV or EPRT/PORT, RFC 2428), verbose, and status,
//! which shows them all, with the session's TLS (RFC 4217): version,
//! cipher suite, how the certificate was checked and whether data
//! connections are protected.
//!
//! A mode lives in the shell's settings, not only in the client, so it
//! survives `close` and applies to the next `open`.

use std::io::Write;

use super::{Next, Shell, ShellError};
use crate::client::{Client, TlsMode, Trust};

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn ascii(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        self.set_ascii(true)
    }

    pub(super) fn binary(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        self.set_ascii(false)
    }

    fn set_ascii(&mut self, ascii: bool) -> Result<Next, ShellError> {
        self.settings.ascii = ascii;
        if let Some(c) = self.client.as_mut() {
            c.ascii = ascii;
        }
        eprintln!(
            "transfers are now {}",
            if ascii {
                "ASCII (TYPE A)"
            } else {
                "binary (TYPE I)"
            }
        );
        Ok(Next::Continue)
    }

    pub(super) fn passive(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        self.set_passive(true)
    }

    pub(super) fn active(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        self.set_passive(false)
    }

    fn set_passive(&mut self, passive: bool) -> Result<Next, ShellError> {
        self.settings.passive = passive;
        if let Some(c) = self.client.as_mut() {
            c.passive = passive;
        }
        eprintln!(
            "data connections are now {}",
            if passive { "passive" } else { "active" }
        );
        Ok(Next::Continue)
    }

    pub(super) fn verbose(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.settings.verbose = match args.first().map(String::as_str) {
            None => !self.settings.verbose,
            Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ShellError::Usage(format!(
                    "verbose: expected on or off, not {other:?}"
                )))
            }
        };
        let verbose = self.settings.verbose;
        if let Some(c) = self.client.as_mut() {
            c.verbose = verbose;
        }
        eprintln!("verbose is {}", if verbose { "on" } else { "off" });
        Ok(Next::Continue)
    }

    pub(super) fn status(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        let text = self.status_text();
        self.print(&text)?;
        Ok(Next::Continue)
    }

    fn status_text(&self) -> String {
        let s = &self.settings;
        let connection = match &self.client {
            Some(c) => format!("connected to {} as {}", c.peer(), s.user),
            None => "not connected".to_string(),
        };
        let tls = match &self.client {
            Some(c) => tls_lines(c, &s.trust),
            None => match s.tls_mode {
                TlsMode::Plain => "tls: none\n".to_string(),
                TlsMode::Explicit => "tls: explicit (AUTH TLS) at the next open\n".to_string(),
                TlsMode::Implicit => "tls: implicit at the next open\n".to_string(),
            },
        };
        format!(
            "{connection}\n{tls}transfers: {}\ndata connections: {}\nverbose: {}\ntimeout: {} s\n",
            if s.ascii {
                "ASCII (TYPE A)"
            } else {
                "binary (TYPE I)"
            },
            if s.passive {
                "passive (EPSV, PASV)"
            } else {
                "active (EPRT, PORT)"
            },
            if s.verbose { "on" } else { "off" },
            s.timeout.as_secs()
        )
    }
}

/// The `tls:` and `data protection:` lines of a connected session.
fn tls_lines(client: &Client, trust: &Trust) -> String {
    let Some(info) = client.tls_info() else {
        return "tls: none (plain FTP: the password and the files cross the network in clear)\n\
                data protection: none\n"
            .to_string();
    };
    let how = match client.tls_mode() {
        TlsMode::Implicit => "implicit",
        _ => "explicit, AUTH TLS",
    };
    let checked = match trust {
        Trust::System => "checked against the system trust store".to_string(),
        Trust::CaFile(path) => format!("checked against {}", path.display()),
        Trust::Insecure => "NOT checked (--insecure)".to_string(),
    };
    let data = if client.data_protected() {
        let last = match client.last_data_tls() {
            Some(d) => format!(
                "; the last data connection: {}, {}",
                d.version,
                if d.resumed {
                    "resumed the control connection's session"
                } else {
                    "a new session (not resumed)"
                }
            ),
            None => String::new(),
        };
        format!("private (PROT P): data connections use TLS{last}")
    } else {
        "clear (PROT C): data connections are not encrypted".to_string()
    };
    format!(
        "tls: {} {} ({how}); server certificate {checked}\ndata protection: {data}\n",
        info.version, info.cipher_suite
    )
}
