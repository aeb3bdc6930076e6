//! Session commands: open, close, user (RFC 959 §4.1.1: REIN, then USER
//! and PASS), quote (any raw command line) and quit.
//!
//! A password typed for `user` at a terminal is read without echo; in a
//! batch it must be on the line, since there is no one to ask.

use std::io::{self, IsTerminal, Write};

use super::{Next, Shell, ShellError};
use crate::client::{Client, ClientError};

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn open(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let port = match args.get(1).map(String::as_str) {
            Some(p) => p
                .parse()
                .map_err(|_| ShellError::Usage(format!("open: {p:?} is not a port number")))?,
            None => 21,
        };
        if let Some(old) = self.client.take() {
            let _ = old.quit();
        }
        let mut client = Client::connect(&args[0], port, self.settings.timeout)?;
        client.verbose = self.settings.verbose;
        client.login(&self.settings.user, &self.settings.password)?;
        eprintln!("connected to {}: {}", client.peer(), client.greeting.text());
        self.adopt(client);
        Ok(Next::Continue)
    }

    pub(super) fn close(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        if let Some(client) = self.client.take() {
            client.quit()?;
        }
        self.names.borrow_mut().clear();
        Ok(Next::Continue)
    }

    pub(super) fn user(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let password = match args.get(1).map(String::as_str) {
            Some(p) => p.to_string(),
            None if io::stdin().is_terminal() => {
                rpassword::prompt_password(format!("Password for {}: ", args[0]))
                    .map_err(|e| ShellError::Local(format!("reading the password: {e}")))?
            }
            None => {
                return Err(ShellError::Usage(
                    "user: give the password too (user NAME PASSWORD)".into(),
                ))
            }
        };
        let client = self.client()?;
        // A logged-in session must log out first (REIN); servers
        // without REIN accept USER again or refuse it clearly.
        let _ = client.quote("REIN");
        client.login(&args[0], &password)?;
        self.settings.user = args[0].clone();
        self.settings.password = password;
        self.names_stale = true;
        Ok(Next::Continue)
    }

    pub(super) fn quote(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let line = args.join(" ");
        let replies = self.client()?.quote(&line)?;
        let mut text = String::new();
        for r in &replies {
            for l in r.to_string().lines() {
                text.push_str(l);
                text.push('\n');
            }
        }
        self.print(&text)?;
        if let Some(last) = replies.last().filter(|r| r.code().is_failure()) {
            return Err(ShellError::Client(ClientError::Refused {
                command: line,
                reply: last.clone(),
            }));
        }
        Ok(Next::Continue)
    }

    pub(super) fn quit(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        if let Some(client) = self.client.take() {
            client.quit()?;
        }
        Ok(Next::Quit)
    }
}
