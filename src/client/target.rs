//! Where to connect, as a user writes it: `HOST`, `ftp://HOST[:PORT]/` or
//! `ftps://HOST[:PORT]/` (RFC 1738 §3.2 for the `ftp` scheme; `ftps` is
//! the implicit TLS convention, port 990). HOST is a name, an IPv4 address
//! or an IPv6 address (in brackets inside a URL).
//!
//! Not taken: a user or password in the URL (a password there ends up in
//! shell history and process lists; `--user` and `$FTP_PASSWORD` exist for
//! that), and a path after the host (`cd` once connected).

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
        if authority.contains('@') {
            return Err(format!(
                "{text}: a user name in the URL is not taken (a password there would be seen in process lists): use --user and $FTP_PASSWORD"
            ));
        }
        if !path.is_empty() && path != "/" {
            return Err(format!(
                "{text}: a path in the URL is not taken: cd {} once connected",
                &path[1..]
            ));
        }
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
        assert!(err("ftps://me:secret@x/").contains("--user"));
        assert!(err("ftps://x/pub/file").contains("cd pub/file"));
        assert!(err("ftps://x:99999/").contains("not a port number"));
        assert!(err("ftps://x:0/").contains("not a port number"));
        assert!(err("ftps://:21/").contains("no host"));
        assert!(err("ftps://[::1/").contains("closing ]"));
        assert!(err("").contains("no host"));
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
