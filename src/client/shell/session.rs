//! Session commands: open, close, user (RFC 959 §4.1.1: REIN, then USER
//! and PASS), quote (any raw command line) and quit; and [`connect`], the
//! way both `open` and the command line reach a server.
//!
//! A password typed for `user` at a terminal is read without echo; in a
//! batch it must be on the line, since there is no one to ask.

use std::io::{self, IsTerminal, Write};

use super::{Next, Settings, Shell, ShellError};
use crate::client::credentials::{self, Source};
use crate::client::{Client, ClientError, Target, TlsMode};

/// Connects to `host` (`HOST`, `ftp://HOST[:PORT]/` or
/// `ftps://HOST[:PORT]/`) on `port`, else the URL's port, else the usual
/// one (990 for implicit TLS, 21 otherwise), protected as the URL and the
/// settings say; the greeting is read (and AUTH TLS done), not the login.
pub fn connect(
    settings: &mut Settings,
    host: &str,
    port: Option<u16>,
) -> Result<Client, ShellError> {
    let target = Target::parse(host).map_err(ShellError::Usage)?;
    let given_port = port;
    let port = match (port, target.port) {
        (Some(_), Some(_)) => {
            return Err(ShellError::Usage(format!(
                "{host} names a port already; give no PORT"
            )))
        }
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => target.mode(settings.tls_mode).default_port(),
    };
    let mode = target.mode(settings.tls_mode);
    let security = match mode {
        TlsMode::Plain => crate::client::Security::Plain,
        mode => mode.with(settings.tls_config()?),
    };
    let mut client = Client::connect_with(&target.host, port, settings.timeout, &security)?;
    client.verbose = settings.verbose;
    settings.target = Some((host.to_string(), given_port));
    Ok(client)
}

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn open(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let port = match args.get(1).map(String::as_str) {
            Some(p) => Some(
                p.parse()
                    .map_err(|_| ShellError::Usage(format!("open: {p:?} is not a port number")))?,
            ),
            None => None,
        };
        if let Some(old) = self.client.take() {
            let _ = old.quit();
        }
        let target = Target::parse(&args[0]).map_err(ShellError::Usage)?;
        // The URL's user, else the netrc's for this host when the session
        // so far was anonymous, else the command line's.
        let anonymous = self.settings.user == "anonymous";
        let (url_user, url_password) = (target.user.as_deref(), target.password.as_deref());
        let (user, password) = if url_user.is_some() || anonymous {
            let netrc = self.settings.netrc.clone();
            let c = credentials::resolve(
                &target.host,
                None,
                None,
                url_user,
                url_password,
                netrc.as_deref(),
            )
            .map_err(ShellError::Local)?;
            match c.password {
                Some(p) if c.source != Source::Anonymous || url_user.is_some() => (c.user, p),
                Some(_) => (self.settings.user.clone(), self.settings.password.clone()),
                None => {
                    return Err(ShellError::Usage(format!(
                        "open: no password for {}: put it in the URL or in ~/.netrc",
                        c.user
                    )))
                }
            }
        } else {
            (self.settings.user.clone(), self.settings.password.clone())
        };
        let mut client = connect(&mut self.settings, &args[0], port)?;
        client.login(&user, &password)?;
        self.settings.user = user;
        self.settings.password = password;
        if let Some(path) = &target.path {
            client.cwd(path)?;
        }
        eprintln!("connected to {}: {}", client.peer(), client.greeting.text());
        if let Some(tls) = client.tls_info() {
            eprintln!("TLS: {}, {}", tls.version, tls.cipher_suite);
        }
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
