//! `cli [OPTIONS] [HOST] [PORT]`: an FTP client with an `ftp>` prompt.
//!
//! HOST may be a URL: `ftp://HOST[:PORT]/`, or `ftps://HOST[:PORT]/` for
//! implicit TLS. `--tls` protects a session with AUTH TLS (RFC 4217),
//! `--implicit-tls` with TLS from the first byte (port 990 by default); the
//! server's certificate is checked against the system trust store, or
//! `--ca-file`, or not at all with `--insecure`.
//!
//! Exit status: 0 when every command succeeded, 1 when a command (or the
//! connection, TLS or login) failed, 2 for a wrong command line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ftp::client::shell::{connect, split_commands, Settings, Shell};
use ftp::client::{TlsMode, Trust};

/// An FTP client: get, put, ls and the rest at the ftp> prompt, or in
/// batch mode from standard input, -b FILE or -c "cmd; cmd" (stops at the
/// first failing command and exits 1; a command written as -COMMAND may
/// fail without stopping the batch). Type `help` at the prompt for commands.
#[derive(Debug, Parser)]
#[command(name = "cli", version)]
struct Args {
    /// Server name (resolved by DNS) or address, or ftp://HOST[:PORT]/,
    /// or ftps://HOST[:PORT]/ (implicit TLS); without it, use `open`.
    host: Option<String>,

    /// Server control port [default: 21; 990 with --implicit-tls or ftps://].
    port: Option<u16>,

    /// User name [default: anonymous].
    #[arg(short, long)]
    user: Option<String>,

    /// Password (else $FTP_PASSWORD, else asked at the terminal).
    #[arg(long, env = "FTP_PASSWORD", hide_env_values = true)]
    password: Option<String>,

    /// Run the commands in FILE (batch mode).
    #[arg(
        short = 'b',
        long = "batch",
        value_name = "FILE",
        conflicts_with = "commands"
    )]
    batch: Option<PathBuf>,

    /// Run these commands, separated by `;` (batch mode).
    // A batch may start with a tolerated `-COMMAND`.
    #[arg(
        short = 'c',
        long = "commands",
        value_name = "COMMANDS",
        allow_hyphen_values = true
    )]
    commands: Option<String>,

    /// Active data connections (EPRT/PORT) instead of passive (EPSV/PASV).
    #[arg(long)]
    active: bool,

    /// Seconds to wait for a connection, a reply or data.
    #[arg(long, default_value_t = ftp::limits::DEFAULT_CLIENT_TIMEOUT.as_secs(), value_name = "SECS")]
    timeout: u64,

    /// Show the control dialogue on stderr.
    #[arg(short, long)]
    verbose: bool,

    /// Protect the session with TLS (FTPS, RFC 4217): AUTH TLS after the
    /// greeting, then PBSZ 0 and PROT P, so that the password, commands
    /// and files are encrypted. Fails, sending no password, if the server
    /// refuses.
    #[arg(long, conflicts_with = "implicit_tls")]
    tls: bool,

    /// TLS from the first byte, before the greeting (implicit FTPS, the
    /// ftps:// convention), on port 990 unless PORT is given.
    #[arg(long)]
    implicit_tls: bool,

    /// Trust the CA certificates in FILE (PEM) instead of the system's
    /// when checking the server's certificate.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca_file: Option<PathBuf>,

    /// Do not check the server's certificate (TLS still encrypts, but
    /// anyone on the path can pose as the server). For trials only.
    #[arg(long)]
    insecure: bool,
}

fn main() {
    let args = Args::parse();
    std::process::exit(run(args));
}

/// Ctrl-C sets the flag (the running transfer is aborted); a second Ctrl-C
/// while it is still set exits.
fn interrupt_flag() -> Arc<AtomicBool> {
    use signal_hook::consts::SIGINT;
    let flag = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&flag));
    let _ = signal_hook::flag::register(SIGINT, Arc::clone(&flag));
    flag
}

fn run(args: Args) -> i32 {
    let batch = args.batch.is_some() || args.commands.is_some() || !io::stdin().is_terminal();
    let timeout = Duration::from_secs(args.timeout.max(1));
    let interrupt = interrupt_flag();
    let user = args.user.clone().unwrap_or_else(|| "anonymous".to_string());
    let password = match (&args.user, args.password) {
        (None, p) => p.unwrap_or_else(|| "anonymous@".into()),
        (Some(_), Some(p)) => p,
        (Some(u), None) if io::stdin().is_terminal() => {
            match rpassword::prompt_password(format!("Password for {u}: ")) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: reading the password: {e}");
                    return 1;
                }
            }
        }
        (Some(u), None) => {
            eprintln!("error: no password for {u}: give --password or set FTP_PASSWORD");
            return 1;
        }
    };
    let mut settings = Settings {
        user,
        password,
        verbose: args.verbose,
        passive: !args.active,
        tls_mode: if args.implicit_tls {
            TlsMode::Implicit
        } else if args.tls {
            TlsMode::Explicit
        } else {
            TlsMode::Plain
        },
        trust: match (&args.ca_file, args.insecure) {
            (Some(file), _) => Trust::CaFile(file.clone()),
            (None, true) => Trust::Insecure,
            (None, false) => Trust::System,
        },
        ..Settings::new(timeout)
    };

    let client = match &args.host {
        None => None,
        Some(host) => {
            let mut client = match connect(&mut settings, host, args.port) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            if !batch {
                eprintln!("Connected to {}: {}", client.peer(), client.greeting.text());
                if let Some(tls) = client.tls_info() {
                    eprintln!("TLS: {}, {}", tls.version, tls.cipher_suite);
                }
            }
            if let Err(e) = client.login(&settings.user, &settings.password) {
                eprintln!("error: login as {}: {e}", settings.user);
                return 1;
            }
            Some(client)
        }
    };

    let mut shell = Shell::new(client, settings, io::stdout(), interrupt);
    if let Some(path) = &args.batch {
        match File::open(path) {
            Ok(file) => shell.run_batch(BufReader::new(file).lines()),
            Err(e) => {
                eprintln!("error: cannot read the batch file {}: {e}", path.display());
                1
            }
        }
    } else if let Some(commands) = &args.commands {
        shell.run_batch(split_commands(commands).into_iter().map(Ok))
    } else if batch {
        shell.run_batch(io::stdin().lock().lines())
    } else {
        shell.run_interactive()
    }
}
