//! `cli` at a real terminal: run inside a detached tmux session (its own
//! tmux server, a fixed 120x30 window, HOME in a temporary directory) against
//! `serv`, driven with `tmux send-keys` and observed with `tmux
//! capture-pane`: the `ftp>` prompt, `help`, tab completion of a command
//! and of a remote name, the progress line during a 200 MiB download and
//! the summary after it, `quit` ending the program, and the history file.
//!
//! tmux is required: if `tmux -V` fails, the test fails.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{assert_file_is, run_with_timeout, write_random_file, Output, Server};

const MIB: usize = 1024 * 1024;
/// How long one tmux command may take.
const TMUX_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the screen may take to show what a test waits for.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

/// A tmux server of our own (`-L SOCKET`) with one detached session; the
/// server, and the program in the session with it, is killed on drop.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// A unique name for this process and call.
    fn unique(prefix: &str) -> String {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        format!(
            "{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::SeqCst)
        )
    }

    fn command(socket: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", socket, "-f", "/dev/null"]).args(args);
        run_with_timeout(cmd, b"", TMUX_TIMEOUT)
    }

    /// Starts `shell_command` in a new 120x30 session, in `cwd`.
    fn start(cwd: &Path, shell_command: &str) -> Tmux {
        let version = Command::new("tmux")
            .arg("-V")
            .output()
            .unwrap_or_else(|e| panic!("tmux is required for this test: running `tmux -V`: {e}"));
        assert!(
            version.status.success(),
            "tmux is required for this test: `tmux -V` failed: {version:?}"
        );
        let tmux = Tmux {
            socket: Tmux::unique("cli-test-sock"),
            session: Tmux::unique("cli-test"),
        };
        let out = Tmux::command(
            &tmux.socket,
            &[
                "new-session",
                "-d",
                "-s",
                &tmux.session,
                "-x",
                "120",
                "-y",
                "30",
                "-c",
                cwd.to_str().unwrap(),
                shell_command,
            ],
        );
        assert!(out.status.success(), "tmux new-session failed: {out}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Tmux::command(&self.socket, args)
    }

    /// The visible screen.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", &self.session])
            .stdout
    }

    /// The visible screen with the trailing spaces of its lines kept.
    fn screen_with_spaces(&self) -> String {
        self.run(&["capture-pane", "-p", "-N", "-t", &self.session])
            .stdout
    }

    /// The screen with up to 500 lines of scrollback above it.
    fn history(&self) -> String {
        self.run(&["capture-pane", "-p", "-S", "-500", "-t", &self.session])
            .stdout
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", &self.session, "-l", text]);
        assert!(out.status.success(), "send-keys {text:?}: {out}");
    }

    /// Presses a named key (`Enter`, `Tab`).
    fn press(&self, key: &str) {
        let out = self.run(&["send-keys", "-t", &self.session, key]);
        assert!(out.status.success(), "send-keys {key}: {out}");
    }

    /// True while the session (and so the program in it) exists.
    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", &self.session])
            .status
            .success()
    }

    /// Waits until `check` accepts the screen (with scrollback when
    /// `scrollback`); returns that screen, or panics with the last one.
    fn wait_for(&self, what: &str, scrollback: bool, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let text = if scrollback {
                self.history()
            } else {
                self.screen()
            };
            if check(&text) {
                return text;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the screen did not show {what} within {SCREEN_TIMEOUT:?}; the session is {}; screen:\n{text}",
                    if self.alive() { "alive" } else { "gone" }
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Tmux::command(&self.socket, &["kill-server"]);
    }
}

/// The last non-empty line of a screen.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// A line of the progress display of `get NAME`: the name, a byte count and
/// a rate, but not the summary printed after the transfer.
fn progress_line<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        let l = l.trim();
        l.starts_with(&format!("get {name} "))
            && (l.contains("MiB") || l.contains("KiB") || l.contains("GiB"))
            && l.contains("/s")
            && !l.contains("bytes in")
    })
}

#[test]
fn the_prompt_completes_shows_progress_and_keeps_history() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let size = 200 * MIB;
    let data = write_random_file(&server.root().join("big.bin"), size, 200);

    let cli = env!("CARGO_BIN_EXE_cli");
    let shell_command = format!(
        "env HOME='{}' TERM=screen '{cli}' --timeout 20 127.0.0.1 {}",
        home.path().display(),
        server.port()
    );
    let tmux = Tmux::start(local.path(), &shell_command);

    // The greeting and the prompt.
    let screen = tmux.wait_for("the ftp> prompt", false, |s| {
        last_line(s).starts_with("ftp>")
    });
    assert!(
        screen.contains(&format!("Connected to 127.0.0.1:{}", server.port())),
        "{screen}"
    );

    // help lists the commands and the prompt comes back.
    tmux.type_text("help");
    tmux.press("Enter");
    let screen = tmux.wait_for("the command list", true, |s| {
        s.contains("Commands (help COMMAND for one):")
            && s.contains("-COMMAND may fail")
            && last_line(s) == "ftp>"
    });
    for name in ["get", "mput", "modtime", "mirror", "quit"] {
        assert!(
            screen.split_whitespace().any(|w| w == name),
            "help shows {name}: {screen}"
        );
    }

    // Tab completes a command name, then a remote name.
    tmux.type_text("ge");
    tmux.press("Tab");
    tmux.wait_for("`ge` completed to `get`", false, |s| {
        last_line(s) == "ftp> get"
    });
    let raw = tmux.screen_with_spaces();
    assert!(
        raw.lines().any(|l| l == "ftp> get "),
        "a space after the completed command: {raw:?}"
    );
    tmux.type_text("bi");
    tmux.press("Tab");
    tmux.wait_for("`bi` completed to `big.bin`", false, |s| {
        last_line(s) == "ftp> get big.bin"
    });

    // The download shows a progress line while it runs...
    tmux.press("Enter");
    let deadline = Instant::now() + SCREEN_TIMEOUT;
    let mut progress = None;
    let mut finished = false;
    while Instant::now() < deadline {
        let screen = tmux.screen();
        if let Some(line) = progress_line(&screen, "big.bin") {
            progress = Some(line.trim().to_string());
            break;
        }
        if screen.contains("get big.bin: ") {
            finished = true;
            break;
        }
    }
    let progress = progress.unwrap_or_else(|| {
        panic!(
            "no progress line seen during the download (finished before a capture: {finished}); screen:\n{}",
            tmux.screen()
        )
    });

    eprintln!("progress line seen during the download: {progress:?}");
    assert!(
        progress.split_whitespace().any(|w| w.ends_with("/s")),
        "a rate in {progress:?}"
    );

    // ...and the summary after it, then the prompt.
    let summary = format!("get big.bin: {size} bytes in ");
    let screen = tmux.wait_for("the summary line", false, |s| {
        s.contains(&summary) && last_line(s) == "ftp>"
    });
    let line = screen.lines().find(|l| l.contains(&summary)).unwrap();
    assert!(line.trim_end().ends_with(" MiB/s)"), "{line:?}");
    eprintln!("summary: {line:?}");
    // The progress line was cleared when the transfer ended.
    assert!(progress_line(&screen, "big.bin").is_none(), "{screen}");
    assert_file_is(&local.path().join("big.bin"), &data);
    drop(data);

    let mut typed = vec!["help".to_string(), "get big.bin".to_string()];

    // Ctrl-C during a download aborts it (ABOR), leaves no file behind and
    // the session in step. A download that ends before the key arrives is
    // tried again.
    let mut aborted = false;
    for attempt in 0..5 {
        tmux.press("C-l");
        tmux.wait_for("a clear screen", false, |s| last_line(s) == "ftp>");
        let command = format!("get big.bin again{attempt}.bin");
        tmux.type_text(&command);
        tmux.press("Enter");
        typed.push(command);
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        while Instant::now() < deadline {
            let screen = tmux.screen();
            if progress_line(&screen, "big.bin").is_some() || screen.contains("get big.bin: ") {
                break;
            }
        }
        tmux.press("C-c");
        let screen = tmux.wait_for("the end of the download", false, |s| {
            last_line(s) == "ftp>" && (s.contains("interrupted") || s.contains("get big.bin: "))
        });
        if screen.contains("interrupted; the transfer was aborted") {
            aborted = true;
            eprintln!("interrupted on attempt {attempt}: {screen}");
            break;
        }
        assert!(
            screen.contains(&format!("get big.bin: {size} bytes")),
            "{screen}"
        );
        std::fs::remove_file(local.path().join(format!("again{attempt}.bin"))).unwrap();
    }
    assert!(
        aborted,
        "no download was interrupted by Ctrl-C in 5 attempts"
    );
    assert_eq!(
        common::dir_names(local.path()),
        ["big.bin"],
        "the aborted download left nothing behind"
    );
    tmux.type_text("size big.bin");
    tmux.press("Enter");
    typed.push("size big.bin".into());
    tmux.wait_for("the size after the abort", false, |s| {
        s.lines().any(|l| l.trim() == size.to_string()) && last_line(s) == "ftp>"
    });

    // An error at the prompt is reported and the prompt comes back.
    tmux.type_text("gte x");
    tmux.press("Enter");
    typed.push("gte x".into());
    tmux.wait_for("the suggestion", false, |s| {
        s.contains("did you mean 'get'?") && last_line(s) == "ftp>"
    });

    // quit ends the program, and with it the tmux session.
    tmux.type_text("quit");
    tmux.press("Enter");
    typed.push("quit".into());
    let deadline = Instant::now() + SCREEN_TIMEOUT;
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "cli did not exit after quit; screen:\n{}",
            tmux.screen()
        );
        thread::sleep(Duration::from_millis(50));
    }

    // The history file in HOME has the typed commands, in order.
    let history_file = home.path().join(".ftp_cli_history");
    let history = std::fs::read_to_string(&history_file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", history_file.display()));
    let entries: Vec<&str> = history
        .lines()
        .filter(|l| !l.starts_with("#V"))
        .map(str::trim)
        .collect();
    assert_eq!(
        entries, typed,
        "history file:\n{history}\n(progress line seen: {progress:?})"
    );
}
