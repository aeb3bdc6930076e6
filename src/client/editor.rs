//! The prompt at a terminal: line editing and history (rustyline), with tab
//! completion of command names, of remote names in the current remote
//! directory and of local file names.
//!
//! History persists in `$HOME/.ftp_cli_history`. Remote names come from a
//! cache the shell refreshes (NLST) when the remote directory may have
//! changed, so completing costs no round trip.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Context, Editor, Helper, Highlighter, Hinter, Validator};

use super::shell::{lookup, Arg, COMMANDS};

/// Remote names for completion, shared between the shell and the editor.
pub type NameCache = Rc<RefCell<Vec<String>>>;

/// The completer behind the prompt.
#[derive(Helper, Hinter, Highlighter, Validator)]
pub struct ShellHelper {
    names: NameCache,
    files: FilenameCompleter,
}

/// Where the word under the cursor starts: after the last space that is
/// not escaped with a backslash.
fn word_start(before: &str) -> usize {
    let bytes = before.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b' ' => start = i + 1,
            _ => {}
        }
        i += 1;
    }
    start
}

/// A name as one word: spaces and quotes escaped with backslashes.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, ' ' | '"' | '\'' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = word_start(before);
        let word = &before[start..];
        let first = before.split_whitespace().next().unwrap_or("");
        if start == 0 || before[..start].trim().is_empty() {
            let mut names: Vec<Pair> = COMMANDS
                .iter()
                .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
                .filter(|n| n.starts_with(word))
                .map(|n| Pair {
                    display: n.to_string(),
                    replacement: format!("{n} "),
                })
                .collect();
            names.sort_by(|a, b| a.display.cmp(&b.display));
            return Ok((start, names));
        }
        match lookup(first).map(|s| s.completes) {
            Some(Arg::Local) => self.files.complete(line, pos, ctx),
            Some(Arg::Remote) => {
                let unescaped = word.replace('\\', "");
                let names = self
                    .names
                    .borrow()
                    .iter()
                    .filter(|n| n.starts_with(&unescaped))
                    .map(|n| Pair {
                        display: n.clone(),
                        replacement: escape(n),
                    })
                    .collect();
                Ok((start, names))
            }
            _ => Ok((start, Vec::new())),
        }
    }
}

/// True for lines that carry a password (`user NAME PASSWORD`, `quote PASS
/// ...`): they stay out of the history file.
fn holds_password(line: &str) -> bool {
    let words: Vec<String> = line
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    match words.as_slice() {
        [user, _, _, ..] if user == "user" => true,
        [quote, pass, ..] if (quote == "quote" || quote == "literal") && pass == "pass" => true,
        _ => false,
    }
}

/// The line editor of an interactive session.
pub struct Prompt {
    editor: Editor<ShellHelper, FileHistory>,
    history: Option<PathBuf>,
}

/// One read from the prompt.
pub enum Input {
    Line(String),
    /// Ctrl-C at the prompt: a fresh prompt.
    Cancelled,
    /// Ctrl-D: the end of the session.
    End,
}

impl Prompt {
    /// A prompt completing remote names from `names`; loads the history.
    pub fn new(names: NameCache) -> rustyline::Result<Prompt> {
        let mut editor = Editor::<ShellHelper, FileHistory>::new()?;
        editor.set_helper(Some(ShellHelper {
            names,
            files: FilenameCompleter::new(),
        }));
        let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ftp_cli_history"));
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        Ok(Prompt { editor, history })
    }

    /// Reads one line at `prompt`.
    pub fn read(&mut self, prompt: &str) -> Input {
        match self.editor.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() && !holds_password(&line) {
                    let _ = self.editor.add_history_entry(line.as_str());
                }
                Input::Line(line)
            }
            Err(ReadlineError::Interrupted) => Input::Cancelled,
            Err(_) => Input::End,
        }
    }
}

impl Drop for Prompt {
    fn drop(&mut self) {
        if let Some(path) = &self.history {
            let _ = self.editor.save_history(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_escapes() {
        assert_eq!(word_start("get my\\ fi"), 4);
        assert_eq!(word_start("get "), 4);
        assert_eq!(word_start("ge"), 0);
        assert_eq!(escape("a b\"c"), "a\\ b\\\"c");
    }

    #[test]
    fn passwords_stay_out_of_the_history() {
        assert!(holds_password("user alice s3cret"));
        assert!(holds_password("QUOTE PASS s3cret"));
        assert!(!holds_password("user alice"));
        assert!(!holds_password("get passwords.txt"));
    }
}
