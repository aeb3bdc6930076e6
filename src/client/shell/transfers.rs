//! Transfer commands: get, put, their resuming forms reget and reput, and
//! mget and mput over wildcard patterns (matched on this side: NLST names
//! for mget, the local directory for mput).
//!
//! Without a target name a file keeps its base name. Uploads mark the
//! remote name cache stale, since they add names tab completion should
//! offer; downloads change nothing remote and leave it alone.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::progress::Size;
use super::{Next, Shell, ShellError};
use crate::client::glob::{has_wildcards, matches};

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn get(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let local = local_target(&args[0], args.get(1).map(String::as_str))?;
        self.transfer("get", &args[0], Size::Remote(&args[0]), |c, p| {
            c.get_file(&args[0], &local, p)
        })?;
        Ok(Next::Continue)
    }

    pub(super) fn put(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let remote = match args.get(1) {
            Some(r) => r.to_string(),
            None => base_name(&args[0])?,
        };
        self.transfer("put", &remote, Size::Local(Path::new(&args[0])), |c, p| {
            c.put_file(Path::new(&args[0]), &remote, p)
        })?;
        self.names_stale = true;
        Ok(Next::Continue)
    }

    pub(super) fn reget(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let local = local_target(&args[0], args.get(1).map(String::as_str))?;
        self.transfer("reget", &args[0], Size::Remote(&args[0]), |c, p| {
            c.reget_file(&args[0], &local, p)
        })?;
        Ok(Next::Continue)
    }

    pub(super) fn reput(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let remote = match args.get(1) {
            Some(r) => r.to_string(),
            None => base_name(&args[0])?,
        };
        self.transfer(
            "reput",
            &remote,
            Size::Local(Path::new(&args[0])),
            |c, p| c.reput_file(Path::new(&args[0]), &remote, p),
        )?;
        self.names_stale = true;
        Ok(Next::Continue)
    }

    pub(super) fn mget(&mut self, patterns: &[String]) -> Result<Next, ShellError> {
        let mut wanted = Vec::new();
        for pattern in patterns {
            if !has_wildcards(pattern) {
                wanted.push(pattern.clone());
                continue;
            }
            let (dir, file_pattern) = match pattern.rsplit_once('/') {
                Some((d, f)) => (Some(if d.is_empty() { "/" } else { d }), f),
                None => (None, pattern.as_str()),
            };
            let names = self.client()?.names(dir)?;
            let before = wanted.len();
            for name in names.into_iter().filter(|n| matches(file_pattern, n)) {
                wanted.push(match dir {
                    Some("/") => format!("/{name}"),
                    Some(d) => format!("{d}/{name}"),
                    None => name,
                });
            }
            if wanted.len() == before {
                return Err(ShellError::Usage(format!(
                    "mget: no remote file matches {pattern}"
                )));
            }
        }
        for remote in wanted {
            // NLST names directories too; SIZE answers only for files.
            if let Err(e) = self.client()?.size(&remote) {
                if e.reply().is_some_and(|r| r.code().as_u16() == 550) {
                    eprintln!("mget: skipping {remote}: not a plain file");
                    continue;
                }
                return Err(e.into());
            }
            let local = local_target(&remote, None)?;
            self.transfer("get", &remote, Size::Remote(&remote), |c, p| {
                c.get_file(&remote, &local, p)
            })?;
        }
        Ok(Next::Continue)
    }

    pub(super) fn mput(&mut self, patterns: &[String]) -> Result<Next, ShellError> {
        let mut wanted = Vec::new();
        for pattern in patterns {
            if !has_wildcards(pattern) {
                wanted.push(PathBuf::from(pattern));
                continue;
            }
            let (dir, file_pattern) = match pattern.rsplit_once('/') {
                Some((d, f)) => (PathBuf::from(if d.is_empty() { "/" } else { d }), f),
                None => (PathBuf::from("."), pattern.as_str()),
            };
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| ShellError::Local(format!("mput: reading {}: {e}", dir.display())))?
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter(|e| matches(file_pattern, &e.file_name().to_string_lossy()))
                .map(|e| {
                    if pattern.contains('/') {
                        e.path()
                    } else {
                        PathBuf::from(e.file_name())
                    }
                })
                .collect();
            if found.is_empty() {
                return Err(ShellError::Usage(format!(
                    "mput: no local file matches {pattern}"
                )));
            }
            found.sort();
            wanted.extend(found);
        }
        for local in wanted {
            let remote = base_name(&local.to_string_lossy())?;
            self.transfer("put", &remote, Size::Local(&local), |c, p| {
                c.put_file(&local, &remote, p)
            })?;
        }
        self.names_stale = true;
        Ok(Next::Continue)
    }
}

impl<W: Write> Shell<W> {
    /// Downloads `remote` as `cli URL` does (BSD ftp's auto-fetch): to
    /// `local`, else its base name here; `-` writes it to the shell's
    /// output.
    pub fn fetch(&mut self, remote: &str, local: Option<&str>) -> Result<(), ShellError> {
        if local == Some("-") {
            let client = self
                .client
                .as_mut()
                .ok_or_else(|| ShellError::Usage("not connected".into()))?;
            client.retrieve(remote, &mut self.out, 0, &mut |_| {})?;
            return self
                .out
                .flush()
                .map_err(|e| ShellError::Local(format!("writing to stdout: {e}")));
        }
        let path = local_target(remote, local)?;
        self.transfer("get", remote, Size::Remote(remote), |c, p| {
            c.get_file(remote, &path, p)
        })?;
        Ok(())
    }
}

/// The local file a download of `remote` goes to.
fn local_target(remote: &str, local: Option<&str>) -> Result<PathBuf, ShellError> {
    let path = match local {
        Some(l) => PathBuf::from(l),
        None => PathBuf::from(base_name(remote)?),
    };
    if path.is_dir() {
        return Ok(path.join(base_name(remote)?));
    }
    Ok(path)
}

/// The last component of a path, for default local/remote names.
fn base_name(path: &str) -> Result<String, ShellError> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map(str::to_string)
        .ok_or_else(|| {
            ShellError::Usage(format!(
                "cannot derive a file name from {path:?}; give one explicitly"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names() {
        assert_eq!(base_name("dir/sub/file.txt").unwrap(), "file.txt");
        assert_eq!(base_name("file").unwrap(), "file");
        assert_eq!(base_name("dir/").unwrap(), "dir");
        assert!(base_name("..").is_err());
        assert!(base_name("/").is_err());
    }
}
