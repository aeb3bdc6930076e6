//! `cli [OPTIONS] <HOST> [PORT]`: an FTP client with an `ftp>` prompt.
//!
//! Exit status: 0 when every command succeeded, 1 when a command (or the
//! connection or login) failed, 2 for a wrong command line.

use std::io::{self, IsTerminal};
use std::time::Duration;

use clap::Parser;
use ftp::client::shell::Shell;
use ftp::client::Client;

/// Connect to an FTP server and run get, put, ls and quit, typed at the
/// ftp> prompt or read from standard input (batch mode: stops at the first
/// failing command and exits 1; a command written as -COMMAND may fail).
#[derive(Debug, Parser)]
#[command(name = "cli", version)]
struct Args {
    /// Server name (resolved by DNS) or address.
    host: String,

    /// Server control port.
    #[arg(default_value_t = 21)]
    port: u16,

    /// User name [default: anonymous].
    #[arg(short, long)]
    user: Option<String>,

    /// Password (else $FTP_PASSWORD, else asked at the terminal).
    #[arg(long, env = "FTP_PASSWORD", hide_env_values = true)]
    password: Option<String>,

    /// Seconds to wait for a connection or a reply.
    #[arg(long, default_value_t = ftp::limits::DEFAULT_CLIENT_TIMEOUT.as_secs(), value_name = "SECS")]
    timeout: u64,

    /// Show the control dialogue on stderr.
    #[arg(short, long)]
    verbose: bool,
}

fn main() {
    let args = Args::parse();
    std::process::exit(run(args));
}

fn run(args: Args) -> i32 {
    let interactive = io::stdin().is_terminal();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut client = match Client::connect(&args.host, args.port, timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    client.verbose = args.verbose;
    if interactive {
        eprintln!("Connected to {}: {}", client.peer(), client.greeting.text());
    }
    let (user, password) = match args.user {
        None => (
            "anonymous".to_string(),
            args.password.unwrap_or_else(|| "anonymous@".into()),
        ),
        Some(user) => {
            let password = match args.password {
                Some(p) => p,
                None if interactive => {
                    match rpassword::prompt_password(format!("Password for {user}: ")) {
                        Ok(p) => p,
                        Err(e) => {
                            eprintln!("error: reading the password: {e}");
                            return 1;
                        }
                    }
                }
                None => {
                    eprintln!("error: no password for {user}: give --password or set FTP_PASSWORD");
                    return 1;
                }
            };
            (user, password)
        }
    };
    if let Err(e) = client.login(&user, &password) {
        eprintln!("error: login as {user}: {e}");
        return 1;
    }
    let mut shell = Shell::new(client, io::stdout());
    let stdin = io::stdin().lock();
    if interactive {
        shell.run_interactive(stdin)
    } else {
        shell.run_batch(stdin)
    }
}
