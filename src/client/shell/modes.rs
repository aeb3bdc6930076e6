//! Mode commands: ascii and binary (TYPE A or I, RFC 959 §3.1.1), passive
//! and active (EPSV/PASV or EPRT/PORT, RFC 2428), verbose, and status,
//! which shows them all.
//!
//! A mode lives in the shell's settings, not only in the client, so it
//! survives `close` and applies to the next `open`.

use std::io::Write;

use super::{Next, Shell, ShellError};

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
        format!(
            "{connection}\ntransfers: {}\ndata connections: {}\nverbose: {}\ntimeout: {} s\n",
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
