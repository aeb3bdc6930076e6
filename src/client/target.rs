//! Where to connect, as a user writes it: `HOST`, or a URL
//! `ftp://[USER[:PASSWORD]@]HOST[:PORT][/PATH]` (RFC 1738 §3.1, §3.2), or
//! the same with `ftps://`, the implicit TLS convention (port 990). HOST
//! is a name, an IPv4 address or an IPv6 address (in brackets inside a
//! URL). USER, PASSWORD and PATH are percent-decoded (`%20` is a space,
//! `%40` an `@`); the decoded bytes must be UTF-8.
//!
//! PATH is what follows the `/` after the host, so as RFC 1738 §3.2.2 has
//! it, `ftp://h/pub/f` names `pub/f` relative to the login directory and
//! `ftp://h/%2Fetc/f` the absolute `/etc/f`. A password in a URL ends up
//! in shell history and process lists; `~/.netrc` is the better place.

use super::TlsMode;

/// A URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `ftp://`: as a bare host.
    Ftp,
    /// `ftps://`: implicit TLS.
    Ftps,
}

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// A name or an address, without brackets.
    pub host: String,
    /// The port, when the URL names one.
    pub port: Option<u16>,
    /// The scheme, when given as a URL.
    pub scheme: Option<Scheme>,
    /// The URL's user, decoded.
    pub user: Option<String>,
    /// The URL's password, decoded.
    pub password: Option<String>,
    /// The URL's path after the host's `/`, decoded; `None` when empty.
    pub path: Option<String>,
}

/// Undoes `%XX` escapes; the result must be UTF-8.
fn percent_decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("{what}: a % must be followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{what}: the decoded text is not UTF-8"))
}

impl Target {
    /// Reads `HOST`, `ftp://HOST[:PORT][/]` or `ftps://HOST[:PORT][/]`.
    pub fn parse(text: &str) -> Result<Target, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            let host = text.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err("no host given".into());
            }
            return Ok(Target {
                host: host.to_string(),
                port: None,
                scheme: None,
                user: None,
                password: None,
                path: None,
            });
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "ftp" => Scheme::Ftp,
            "ftps" => Scheme::Ftps,
            other => {
                return Err(format!(
                    "{text}: unknown scheme {other}:// (ftp:// or ftps://)"
                ))
            }
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        // The last @ ends the credentials: a password may hold a raw @.
        let (credentials, authority) = match authority.rsplit_once('@') {
            Some((c, a)) => (Some(c), a),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            None => (None, None),
            Some(c) => {
                let (u, p) = match c.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (c, None),
                };
                if u.is_empty() {
                    return Err(format!("{text}: an empty user name before @"));
                }
                (
                    Some(percent_decode(u, "the URL's user")?),
                    p.map(|p| percent_decode(p, "the URL's password"))
                        .transpose()?,
                )
            }
        };
        let path = match path.strip_prefix('/') {
            Some("") | None => None,
            Some(p) => Some(percent_decode(p, "the URL's path")?),
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| format!("{text}: an IPv6 address without its closing ]"))?;
                match after {
                    "" => (host, None),
                    _ => match after.strip_prefix(':') {
                        Some(port) => (host, Some(port)),
                        None => return Err(format!("{text}: expected :PORT after ]")),
                    },
                }
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err(format!("{text}: no host in the URL"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| format!("{text}: {p:?} is not a port number"))?,
            ),
        };
        Ok(Target {
            host: host.to_string(),
            port,
            scheme: Some(scheme),
            user,
            password,
            path,
        })
    }

    /// The protection to use: `ftps://` is implicit TLS whatever `chosen`
    /// says; a bare host and `ftp://` take `chosen` (the command line's
    /// `--tls` or `--implicit-tls`).
    pub fn mode(&self, chosen: TlsMode) -> TlsMode {
        match self.scheme {
            Some(Scheme::Ftps) => TlsMode::Implicit,
            _ => chosen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: Option<u16>, scheme: Option<Scheme>) -> Target {
        Target {
            host: host.into(),
            port,
            scheme,
            user: None,
            password: None,
            path: None,
        }
    }

    #[test]
    fn hosts_and_urls() {
        let ok = |s: &str| Target::parse(s).unwrap();
        assert_eq!(ok("example.org"), target("example.org", None, None));
        assert_eq!(ok("::1"), target("::1", None, None));
        assert_eq!(ok("[::1]"), target("::1", None, None));
        assert_eq!(
            ok("ftps://example.org"),
            target("example.org", None, Some(Scheme::Ftps))
        );
        assert_eq!(
            ok("FTPS://127.0.0.1:2990/"),
            target("127.0.0.1", Some(2990), Some(Scheme::Ftps))
        );
        assert_eq!(
            ok("ftp://[::1]:2121/"),
            target("::1", Some(2121), Some(Scheme::Ftp))
        );
        assert_eq!(
            ok("ftps://[fe80::1]/"),
            target("fe80::1", None, Some(Scheme::Ftps))
        );
    }

    #[test]
    fn what_is_not_taken_says_why() {
        let err = |s: &str| Target::parse(s).unwrap_err();
        assert!(err("http://x/").contains("unknown scheme http://"));
        assert!(err("ftp://@x/").contains("empty user"));
        assert!(err("ftp://x/a%2").contains("two hex digits"));
        assert!(err("ftp://x/a%ff").contains("not UTF-8"));
        assert!(err("ftps://x:99999/").contains("not a port number"));
        assert!(err("ftps://x:0/").contains("not a port number"));
        assert!(err("ftps://:21/").contains("no host"));
        assert!(err("ftps://[::1/").contains("closing ]"));
        assert!(err("").contains("no host"));
    }

    #[test]
    fn urls_carry_credentials_and_a_decoded_path() {
        let t = Target::parse("ftp://me:s%40cr%3At@example.org:2121/pub/my%20file.iso").unwrap();
        assert_eq!(t.user.as_deref(), Some("me"));
        assert_eq!(t.password.as_deref(), Some("s@cr:t"));
        assert_eq!(t.host, "example.org");
        assert_eq!(t.port, Some(2121));
        assert_eq!(t.path.as_deref(), Some("pub/my file.iso"));
        let t = Target::parse("ftps://us%C3%A9r@[::1]/%2Fetc/").unwrap();
        assert_eq!(t.user.as_deref(), Some("usér"));
        assert_eq!(t.password, None);
        assert_eq!(t.host, "::1");
        assert_eq!(t.path.as_deref(), Some("/etc/"));
        // A raw @ in the password: the last @ ends the credentials.
        let t = Target::parse("ftp://u:p@ss@h/").unwrap();
        assert_eq!(
            (t.password.as_deref(), t.host.as_str(), t.path),
            (Some("p@ss"), "h", None)
        );
        assert_eq!(
            Target::parse("ftp://h/caf%C3%A9").unwrap().path.as_deref(),
            Some("café")
        );
    }

    #[test]
    fn ftps_means_implicit_tls() {
        let ftps = Target::parse("ftps://h/").unwrap();
        assert_eq!(ftps.mode(TlsMode::Plain), TlsMode::Implicit);
        assert_eq!(ftps.mode(TlsMode::Explicit), TlsMode::Implicit);
        let ftp = Target::parse("ftp://h/").unwrap();
        assert_eq!(ftp.mode(TlsMode::Plain), TlsMode::Plain);
        assert_eq!(ftp.mode(TlsMode::Explicit), TlsMode::Explicit);
    }
}
