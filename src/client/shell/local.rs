//! Local commands: lcd, lpwd and lls. They need no connection and work
//! after `close` too.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Next, Shell, ShellError};

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn lcd(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let dir = match args.first() {
            Some(d) => PathBuf::from(d),
            None => std::env::var_os("HOME")
                .map(PathBuf::from)
                .ok_or_else(|| ShellError::Usage("lcd: no DIR given and HOME is not set".into()))?,
        };
        std::env::set_current_dir(&dir)
            .map_err(|e| ShellError::Local(format!("lcd {}: {e}", dir.display())))?;
        eprintln!("local directory now {}", current_dir()?.display());
        Ok(Next::Continue)
    }

    pub(super) fn lpwd(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        let dir = current_dir()?;
        self.print(&format!("{}\n", dir.display()))?;
        Ok(Next::Continue)
    }

    pub(super) fn lls(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let dir = args.first().map_or(".", String::as_str);
        let text = local_listing(Path::new(dir))?;
        self.print(&text)?;
        Ok(Next::Continue)
    }
}

fn current_dir() -> Result<PathBuf, ShellError> {
    std::env::current_dir()
        .map_err(|e| ShellError::Local(format!("reading the local directory: {e}")))
}

/// `lls`: names and sizes, directories marked with `/`.
fn local_listing(dir: &Path) -> Result<String, ShellError> {
    let mut entries: Vec<(String, String)> = std::fs::read_dir(dir)
        .map_err(|e| ShellError::Local(format!("lls {}: {e}", dir.display())))?
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match e.metadata() {
                Ok(m) if m.is_dir() => (format!("{name}/"), String::from("-")),
                Ok(m) => (name, m.len().to_string()),
                Err(_) => (name, String::from("?")),
            }
        })
        .collect();
    entries.sort();
    Ok(entries
        .into_iter()
        .map(|(name, size)| format!("{size:>12}  {name}\n"))
        .collect())
}
