//! Who to log in as: from the command line, the URL, `~/.netrc`, or
//! anonymous, in that order of precedence.
//!
//! - A user given on the command line (`--user`) or in the URL takes its
//!   password from the command line (`--password`, `$FTP_PASSWORD`), the
//!   URL, or the netrc entry for that host and user, in that order; with
//!   none, the caller asks at the terminal or fails.
//! - With no user given, the netrc entry for the host (`machine`, else
//!   `default`) gives user and password; with none, the login is
//!   anonymous (password `$FTP_PASSWORD` or `anonymous@`).

use std::path::Path;

use super::netrc;

/// The user and password, or the user alone when the password must be
/// asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: Option<String>,
    /// Where they came from, for messages.
    pub source: Source,
}

/// Where the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    CommandLine,
    Url,
    Netrc,
    Anonymous,
}

/// Decides the credentials for `host`. `netrc_file` is the file to read
/// (`None`: none); a missing file counts as empty, an unreadable one is
/// an error.
pub fn resolve(
    host: &str,
    cli_user: Option<&str>,
    cli_password: Option<&str>,
    url_user: Option<&str>,
    url_password: Option<&str>,
    netrc_file: Option<&Path>,
) -> Result<Credentials, String> {
    let (user, source) = match (cli_user, url_user) {
        (Some(u), _) => (Some(u), Source::CommandLine),
        (None, Some(u)) => (Some(u), Source::Url),
        (None, None) => (None, Source::Anonymous),
    };
    let given = cli_password.or(url_password).map(str::to_string);
    if let (Some(user), Some(password)) = (user, &given) {
        return Ok(Credentials {
            user: user.to_string(),
            password: Some(password.clone()),
            source,
        });
    }
    let entry = match netrc_file {
        Some(path) => netrc::lookup(path, host, user)?,
        None => None,
    };
    match (user, entry) {
        (Some(user), entry) => Ok(Credentials {
            user: user.to_string(),
            password: entry.and_then(|e| e.password),
            source,
        }),
        (None, Some(entry)) if entry.login.is_some() => Ok(Credentials {
            user: entry.login.unwrap_or_default(),
            password: entry.password.or(given),
            source: Source::Netrc,
        }),
        (None, _) => Ok(Credentials {
            user: "anonymous".into(),
            password: Some(given.unwrap_or_else(|| "anonymous@".into())),
            source: Source::Anonymous,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netrc(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn precedence_command_line_url_netrc_anonymous() {
        let file = netrc("machine h login nu password np\ndefault login du password dp\n");
        let path = Some(file.path());
        let r = |cu, cp, uu, up, host| resolve(host, cu, cp, uu, up, path).unwrap();
        let c = r(Some("cu"), Some("cp"), Some("uu"), Some("up"), "h");
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("cu", Some("cp")));
        let c = r(None, None, Some("uu"), Some("up"), "h");
        assert_eq!((c.user.as_str(), c.source), ("uu", Source::Url));
        let c = r(None, None, None, None, "h");
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("nu", Some("np")));
        assert_eq!(c.source, Source::Netrc);
        let c = r(None, None, None, None, "elsewhere");
        assert_eq!((c.user.as_str(), c.password.as_deref()), ("du", Some("dp")));
        // A user without a password: the netrc entry of that user only.
        let c = r(Some("nu"), None, None, None, "h");
        assert_eq!(c.password.as_deref(), Some("np"));
        let c = r(Some("someone"), None, None, None, "h");
        assert_eq!(c.password, None);
    }

    #[test]
    fn without_netrc_it_is_anonymous() {
        let c = resolve("h", None, None, None, None, None).unwrap();
        assert_eq!(c.user, "anonymous");
        assert_eq!(c.password.as_deref(), Some("anonymous@"));
        let missing = Path::new("/nonexistent/netrc");
        let c = resolve("h", None, Some("pw"), None, None, Some(missing)).unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_deref()),
            ("anonymous", Some("pw"))
        );
    }
}
