//! `cli [OPTIONS] [HOST] [PORT]`: an FTP client with an `ftp>` prompt.
//!
//! HOST may be a URL, `ftp://[USER[:PASSWORD]@]HOST[:PORT][/PATH]`, or
//! `ftps://...` for implicit TLS. A PATH that is a directory opens the
//! session there; a file is downloaded (here, or to `-o FILE`) and cli
//! exits with the transfer's status, as BSD ftp's auto-fetch does. With no
//! user on the command line or in the URL, `~/.netrc` (or
//! `--netrc-file`) gives user and password for the host. `--tls` protects a session with AUTH TLS (RFC 4217),
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
use ftp::client::{credentials, netrc, Target, TlsMode, Trust};

/// An FTP client: get, put, ls, mirror and the rest at the ftp> prompt, or
/// in batch mode from standard input, -b FILE or -c "cmd; cmd" (stops at
/// the first failing command and exits 1; a command written as -COMMAND may
/// fail without stopping the batch). `cli ftp://HOST/PATH/FILE` downloads
/// the file and exits. Type `help` at the prompt for commands.
#[derive(Debug, Parser)]
#[command(name = "cli", version)]
struct Args {
    /// Server name (resolved by DNS) or address, or a URL
    /// ftp://[USER[:PASSWORD]@]HOST[:PORT][/PATH] (ftps:// for implicit
    /// TLS; %XX escapes decoded): a directory PATH opens the session
    /// there, a file PATH is downloaded and cli exits; without HOST, use
    /// `open`.
    host: Option<String>,

    /// Server control port [default: 21; 990 with --implicit-tls or ftps://].
    port: Option<u16>,

    /// User name [default: the URL's, else ~/.netrc's for the host, else
    /// anonymous].
    #[arg(short, long)]
    user: Option<String>,

    /// Where a file named by a URL goes (`-` for standard output)
    /// [default: its name, in the current directory].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<String>,

    /// Read user names and passwords from FILE instead of $NETRC or
    /// ~/.netrc (a file others can read is used, with a warning).
    #[arg(long, value_name = "FILE")]
    netrc_file: Option<PathBuf>,

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
    let target = match args.host.as_deref().map(Target::parse).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    if args.output.is_some() && target.as_ref().and_then(|t| t.path.as_ref()).is_none() {
        eprintln!("error: -o FILE needs a URL that names a file (ftp://HOST/PATH)");
        return 2;
    }
    let netrc_file = match &args.netrc_file {
        Some(file) if !file.exists() => {
            eprintln!("error: the netrc file {} does not exist", file.display());
            return 1;
        }
        Some(file) => Some(file.clone()),
        None => netrc::default_path(),
    };
    let credentials = match &target {
        Some(t) => credentials::resolve(
            &t.host,
            args.user.as_deref(),
            args.password.as_deref(),
            t.user.as_deref(),
            t.password.as_deref(),
            netrc_file.as_deref(),
        ),
        None => credentials::resolve(
            "",
            args.user.as_deref(),
            args.password.as_deref(),
            None,
            None,
            None,
        ),
    };
    let credentials = match credentials {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let user = credentials.user;
    let password = match credentials.password {
        Some(p) => p,
        None if io::stdin().is_terminal() => {
            match rpassword::prompt_password(format!("Password for {user}: ")) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("error: reading the password: {e}");
                    return 1;
                }
            }
        }
        None => {
            eprintln!("error: no password for {user}: give --password, set FTP_PASSWORD, or add it to ~/.netrc");
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
        netrc: netrc_file,
        ..Settings::new(timeout)
    };

    let mut fetch = None;
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
            // The URL's path: a directory to start in, or a file to fetch.
            if let Some(path) = target.as_ref().and_then(|t| t.path.as_deref()) {
                match client.cwd(path) {
                    Ok(()) => {}
                    Err(e) if path.ends_with('/') => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                    Err(_) => fetch = Some(path.to_string()),
                }
            }
            Some(client)
        }
    };

    let mut shell = Shell::new(client, settings, io::stdout(), interrupt);
    if let Some(path) = fetch {
        return match shell.fetch(&path, args.output.as_deref()) {
            Ok(()) => {
                let _ = shell.execute("quit");
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
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
