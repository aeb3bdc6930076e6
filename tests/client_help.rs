//! `cli`'s `help` fits an 80x24 terminal: at most 24 lines of at most 80
//! columns, every command named; `help COMMAND` gives the detail.

mod common;

use std::process::Command;
use std::time::Duration;

use common::run_with_timeout;

fn help(line: &str) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.args(["-c", line]);
    let out = run_with_timeout(cmd, b"", Duration::from_secs(60));
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    out.stderr
}

#[test]
fn help_fits_80_by_24_and_names_every_command() {
    let text = help("help");
    assert!(
        text.lines().count() <= 24,
        "{} lines:\n{text}",
        text.lines().count()
    );
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    for name in ftp::client::shell::COMMANDS.iter().map(|s| s.name) {
        assert!(words.contains(&name), "{name} missing:\n{text}");
    }
}

#[test]
fn help_command_gives_the_detail() {
    let text = help("help mirror");
    assert!(
        text.starts_with("usage: mirror [-R] [OPTIONS] SRC [DST]"),
        "{text}"
    );
    assert!(text.contains("--only-newer"), "{text}");
    assert!(text.contains("--parallel N"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "{line:?}");
    }
    let text = help("help open");
    assert!(
        text.contains("ftp://[USER[:PASSWORD]@]HOST[:PORT]"),
        "{text}"
    );
}
