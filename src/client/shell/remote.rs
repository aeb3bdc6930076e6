//! Remote file commands: ls, nls, cd, cdup, pwd, mkdir, rmdir, rm, rename,
//! size and modtime. Results go to stdout.
//!
//! A command that may change what the remote directory holds, or which
//! directory it is, marks the name cache stale so tab completion refetches
//! it before the next prompt.

use std::io::Write;

use super::{Next, Shell, ShellError};
use crate::client::Client;

impl<W: Write + ?Sized> Shell<W> {
    pub(super) fn ls(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.list(args, true)
    }

    pub(super) fn nls(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.list(args, false)
    }

    fn list(&mut self, args: &[String], long: bool) -> Result<Next, ShellError> {
        let path = args.first().map(String::as_str);
        let text = self.client()?.list(path, long)?;
        self.print(&text)?;
        Ok(Next::Continue)
    }

    pub(super) fn cd(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.client()?.cwd(&args[0])?;
        self.names_stale = true;
        Ok(Next::Continue)
    }

    pub(super) fn cdup(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        self.client()?.cdup()?;
        self.names_stale = true;
        Ok(Next::Continue)
    }

    pub(super) fn pwd(&mut self, _args: &[String]) -> Result<Next, ShellError> {
        let dir = self.client()?.pwd()?;
        self.print(&format!("{dir}\n"))?;
        Ok(Next::Continue)
    }

    pub(super) fn mkdir(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.changes(|c| c.mkdir(&args[0]))
    }

    pub(super) fn rmdir(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.changes(|c| c.rmdir(&args[0]))
    }

    pub(super) fn rm(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.changes(|c| c.delete(&args[0]))
    }

    pub(super) fn rename(&mut self, args: &[String]) -> Result<Next, ShellError> {
        self.changes(|c| c.rename(&args[0], &args[1]))
    }

    pub(super) fn size(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let size = self.client()?.size(&args[0])?;
        self.print(&format!("{size}\n"))?;
        Ok(Next::Continue)
    }

    pub(super) fn modtime(&mut self, args: &[String]) -> Result<Next, ShellError> {
        let t = self.client()?.mdtm(&args[0])?;
        self.print(&format!("{}\n", format_mdtm(&t)))?;
        Ok(Next::Continue)
    }

    /// A remote change: the name cache is stale afterwards.
    fn changes(
        &mut self,
        op: impl FnOnce(&mut Client) -> crate::client::Result<()>,
    ) -> Result<Next, ShellError> {
        op(self.client()?)?;
        self.names_stale = true;
        Ok(Next::Continue)
    }
}

/// `20261124060500` as `2026-11-24 06:05:00 UTC`; other forms unchanged.
fn format_mdtm(t: &str) -> String {
    let digits = t
        .get(..14)
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
    match digits {
        Some(d) => format!(
            "{}-{}-{} {}:{}:{} UTC",
            &d[..4],
            &d[4..6],
            &d[6..8],
            &d[8..10],
            &d[10..12],
            &d[12..14]
        ),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdtm_is_shown_as_a_date() {
        assert_eq!(format_mdtm("20261124060500"), "2026-11-24 06:05:00 UTC");
        assert_eq!(format_mdtm("20261124060500.123"), "2026-11-24 06:05:00 UTC");
        assert_eq!(format_mdtm("garbage"), "garbage");
    }
}
