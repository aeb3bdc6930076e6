//! The `mirror` command: its options, its default directories, and the
//! extra sessions of `--parallel`, opened and logged in like the shell's
//! own (same host, port, TLS, user, password and modes).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::session::connect;
use super::{Next, Shell, ShellError};
use crate::client::mirror::{self, Direction, Options, Sessions};
use crate::client::Client;

/// The most sessions `--parallel` opens: servers limit sessions per
/// address (vsftpd's default is 50 per IP), and more than this gains
/// nothing over loopback or a real link.
const MAX_PARALLEL: usize = 16;

/// The options of a `mirror` line, and its one or two directories.
fn parse(args: &[String]) -> Result<(Options, Vec<String>), ShellError> {
    let usage = |why: String| ShellError::Usage(format!("mirror: {why}; see 'help mirror'"));
    let mut options = Options {
        direction: Direction::Download,
        remote: String::new(),
        local: PathBuf::new(),
        delete: false,
        only_newer: false,
        parallel: 1,
        resume: false,
        exclude: Vec::new(),
        dry_run: false,
    };
    let mut dirs = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| words.next().cloned())
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match flag {
            "-R" | "--reverse" => options.direction = Direction::Upload,
            "--delete" | "-e" => options.delete = true,
            "--only-newer" | "-n" => options.only_newer = true,
            "--continue" | "-c" => options.resume = true,
            "--dry-run" => options.dry_run = true,
            "--parallel" | "-P" => {
                let v = value("--parallel")?;
                options.parallel = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_PARALLEL).contains(n))
                    .ok_or_else(|| {
                        usage(format!(
                            "--parallel {v}: give a number from 1 to {MAX_PARALLEL}"
                        ))
                    })?;
            }
            "--exclude" | "-x" => options.exclude.push(value("--exclude")?),
            f if f.starts_with('-') && f.len() > 1 => {
                return Err(usage(format!("unknown option {f}")))
            }
            _ => dirs.push(word.clone()),
        }
    }
    if dirs.is_empty() || dirs.len() > 2 {
        return Err(usage(
            "give the source directory and, optionally, the target".into(),
        ));
    }
    Ok((options, dirs))
}

/// The last component of a path, or `None` for `/`, `.` and `..`.
fn base_name(path: &str) -> Option<&str> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
}

/// `path` made absolute against the remote directory `cwd`, without a
/// trailing `/`.
fn absolute(cwd: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else if cwd.ends_with('/') {
        format!("{cwd}{path}")
    } else {
        format!("{cwd}/{path}")
    };
    let trimmed = joined.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn mirror(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let (mut options, dirs) = parse(args)?;
        let cwd = self.client()?.pwd()?;
        match options.direction {
            Direction::Download => {
                options.remote = absolute(&cwd, &dirs[0]);
                options.local = match dirs.get(1) {
                    Some(l) => PathBuf::from(l),
                    None => PathBuf::from(base_name(&options.remote).unwrap_or(".")),
                };
            }
            Direction::Upload => {
                options.local = PathBuf::from(&dirs[0]);
                let remote = match dirs.get(1) {
                    Some(r) => r.clone(),
                    None => base_name(&dirs[0]).unwrap_or(".").to_string(),
                };
                options.remote = absolute(&cwd, &remote);
            }
        }
        // The TLS configuration is made once, here, and shared by all.
        if self.settings.tls_mode != crate::client::TlsMode::Plain
            || self.client()?.tls_mode() != crate::client::TlsMode::Plain
        {
            self.settings.tls_config()?;
        }
        let settings = self.settings.clone();
        let interrupt = Arc::clone(&self.interrupt);
        let sessions = Sessions::new(move || open_like(&mut settings.clone(), &interrupt));
        let client = self.client.as_mut().expect("checked by the table");
        let mut out: Vec<u8> = Vec::new();
        let summary = mirror::run(client, &options, &sessions, &mut out)?;
        self.print(&String::from_utf8_lossy(&out))?;
        if options.direction == Direction::Upload {
            self.names_stale = true;
        }
        eprintln!("{summary}");
        if summary.failed > 0 {
            return Err(ShellError::Local(format!(
                "mirror {}: {} failed (see above)",
                Path::new(&dirs[0]).display(),
                summary.failed
            )));
        }
        Ok(Next::Continue)
    }
}

/// Another session to where `settings` says the shell is connected.
fn open_like(
    settings: &mut super::Settings,
    interrupt: &Arc<std::sync::atomic::AtomicBool>,
) -> crate::client::Result<Client> {
    let Some((host, port)) = settings.target.clone() else {
        return Err(crate::client::ClientError::Protocol(
            "the shell's host is unknown".into(),
        ));
    };
    let mut client = connect(settings, &host, port).map_err(|e| match e {
        ShellError::Client(e) => e,
        e => crate::client::ClientError::Protocol(e.to_string()),
    })?;
    client.login(&settings.user, &settings.password)?;
    client.verbose = settings.verbose;
    client.ascii = settings.ascii;
    client.passive = settings.passive;
    client.interrupt = Arc::clone(interrupt);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn options_and_directories() {
        let (o, d) = parse(&words(
            "-R --delete --only-newer --parallel 4 --continue --exclude *.tmp -x .git --exclude=c site /www",
        ))
        .unwrap();
        assert_eq!(o.direction, Direction::Upload);
        assert!(o.delete && o.only_newer && o.resume && !o.dry_run);
        assert_eq!(o.parallel, 4);
        assert_eq!(o.exclude, ["*.tmp", ".git", "c"]);
        assert_eq!(d, ["site", "/www"]);
        assert!(parse(&words("--parallel 0 a")).is_err());
        assert!(parse(&words("--bogus a")).is_err());
        assert!(parse(&words("a b c")).is_err());
        assert!(parse(&words("--exclude")).is_err());
    }

    #[test]
    fn remote_paths_are_made_absolute() {
        assert_eq!(absolute("/", "www"), "/www");
        assert_eq!(absolute("/home/u", "www/"), "/home/u/www");
        assert_eq!(absolute("/home/u", "/abs"), "/abs");
        assert_eq!(absolute("/x", "/"), "/");
        assert_eq!(base_name("/www/"), Some("www"));
        assert_eq!(base_name("/"), None);
    }
}
