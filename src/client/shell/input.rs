//! Where commands come from: a batch (a pipe, `-b FILE` or `-c`), a
//! terminal with line editing, or a terminal without it; and the polite
//! QUIT at the end of input.
//!
//! The batch loop is where the `sftp -b` semantics of the module above are
//! kept: a batch cannot ask what to do after a failure, so it stops unless
//! the line said (with a leading `-`) that failing is fine.

use std::io::{self, BufRead, Write};

use super::{Next, Shell};
use crate::client::editor::{Input, NameCache, Prompt};
use crate::client::Client;

/// Splits a `-c` argument into commands at `;` outside quotes.
pub fn split_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    let mut escaped = false;
    for c in text.chars() {
        match (c, quote) {
            _ if escaped => escaped = false,
            ('\\', _) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (';', None) => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

impl<W: Write> Shell<W> {
    /// Refreshes the remote names for tab completion, if they may be stale.
    fn refresh_names(&mut self) {
        if !self.names_stale {
            return;
        }
        self.names_stale = false;
        let verbose = self.settings.verbose;
        if let Some(client) = self.client.as_mut() {
            // Completion is a convenience: never show its own dialogue.
            client.verbose = false;
            let names = client.names(None).unwrap_or_default();
            client.verbose = verbose;
            *self.names.borrow_mut() = names;
        }
    }

    /// Runs commands from `lines` without prompts; stops at the first
    /// failure (unless the command starts with `-`). Returns the exit status.
    pub fn run_batch(&mut self, lines: impl IntoIterator<Item = io::Result<String>>) -> i32 {
        for (number, line) in lines.into_iter().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: reading commands: {e}");
                    return 1;
                }
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (tolerant, command) = match trimmed.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, trimmed),
            };
            match self.execute(command) {
                Ok(Next::Quit) => return 0,
                Ok(Next::Continue) => {}
                Err(e) if tolerant => eprintln!("warning: line {}: {command}: {e}", number + 1),
                Err(e) => {
                    eprintln!("error: line {}: {command}: {e}", number + 1);
                    return 1;
                }
            }
        }
        self.finish()
    }

    /// Runs commands typed at a terminal with line editing, history and
    /// completion; failures are reported and the prompt comes back.
    pub fn run_interactive(&mut self) -> i32 {
        let mut prompt = match Prompt::new(NameCache::clone(&self.names)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("warning: no line editing ({e}); reading plain lines");
                return self.run_plain(io::stdin().lock());
            }
        };
        loop {
            self.refresh_names();
            match prompt.read("ftp> ") {
                Input::Line(line) => match self.execute(line.trim()) {
                    Ok(Next::Quit) => return 0,
                    Ok(Next::Continue) => {}
                    Err(e) => eprintln!("error: {e}"),
                },
                Input::Cancelled => continue,
                Input::End => return self.finish(),
            }
        }
    }

    /// An interactive loop without line editing.
    fn run_plain(&mut self, mut input: impl BufRead) -> i32 {
        loop {
            print!("ftp> ");
            let _ = io::stdout().flush();
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) => return self.finish(),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("error: reading commands: {e}");
                    return 1;
                }
            }
            match self.execute(line.trim()) {
                Ok(Next::Quit) => return 0,
                Ok(Next::Continue) => {}
                Err(e) => eprintln!("error: {e}"),
            }
        }
    }

    /// End of input: quit politely.
    fn finish(&mut self) -> i32 {
        match self.client.take().map(Client::quit) {
            Some(Err(e)) => {
                eprintln!("error: {e}");
                1
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_liners_split_at_semicolons_outside_quotes() {
        assert_eq!(
            split_commands("put a; ls ;get 'x;y'"),
            ["put a", "ls", "get 'x;y'"]
        );
        assert_eq!(split_commands(" ; "), Vec::<String>::new());
        assert_eq!(split_commands(r"get a\;b"), [r"get a\;b"]);
    }
}
