//! `serv [OPTIONS] <PORT>`: serve a directory over FTP.
//!
//! Parses the command line, binds, prints `listening on ADDR:PORT` as the
//! first line on stdout (tests and scripts read the real port from it when
//! PORT is 0) and serves until SIGINT or SIGTERM, then stops gracefully.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use ftp::limits::SHUTDOWN_GRACE;
use ftp::server::auth::{hash_password, Auth};
use ftp::server::defender::BanPolicy;
use ftp::server::log::LogLevel;
use ftp::server::{Config, Server};
use ftp::storage::s3::S3Config;
use ftp::transport::tls::ServerTls;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::Signals;

/// Serve a directory over FTP (RFC 959, 2428, 3659) to any FTP client:
/// anonymous or hashed-password logins, passive and active data connections,
/// atomic uploads, a root that no path or link can leave.
#[derive(Debug, Parser)]
#[command(name = "serv", version)]
struct Args {
    /// Control port to listen on; 0 picks a free port (printed on stdout).
    #[arg(required_unless_present = "hash_password")]
    port: Option<u16>,

    /// Directory served as "/"; clients cannot reach anything outside it.
    #[arg(long, default_value = ".")]
    root: PathBuf,

    /// Serve an S3 bucket instead of --root (which is then not used):
    /// s3://BUCKET[/PREFIX].
    /// Credentials and region come from AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION (default
    /// us-east-1); no other AWS_* variable is read.
    #[arg(long, value_name = "s3://BUCKET[/PREFIX]")]
    storage: Option<String>,

    /// The S3 endpoint of an S3-compatible engine (path-style requests;
    /// http:// allowed) [default: AWS_ENDPOINT_URL, else AWS itself].
    #[arg(long, value_name = "URL", requires = "storage")]
    s3_endpoint: Option<String>,

    /// Address to listen on [default: every interface, IPv6 and IPv4].
    #[arg(long)]
    bind: Option<IpAddr>,

    /// Accounts file: one `name:HASH` per line, HASH from --hash-password.
    /// With it, anonymous login is refused unless --anonymous is given too.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,

    /// Allow anonymous login even with --users.
    #[arg(long)]
    anonymous: bool,

    /// Read a password from stdin, print its argon2id hash for --users, exit.
    #[arg(long, exclusive = true)]
    hash_password: bool,

    /// Refuse every command that writes (STOR, STOU, APPE, MKD, RMD, DELE, RNFR/RNTO).
    #[arg(long)]
    read_only: bool,

    /// Passive ports to use, as LOW-HIGH (for firewalls) [default: any free port].
    #[arg(long, value_name = "LOW-HIGH", value_parser = parse_range)]
    pasv_ports: Option<RangeInclusive<u16>>,

    /// IPv4 address announced in PASV replies (the public address behind NAT).
    #[arg(long, value_name = "IP")]
    pasv_address: Option<Ipv4Addr>,

    /// Most sessions at once; more connections are answered 421 and closed.
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,

    /// Most sessions at once from one IP address (IPv6: one /64). With
    /// --max-sessions, at most half of the sessions may be waiting to log in.
    #[arg(long, value_name = "N")]
    max_per_ip: Option<usize>,

    /// Close connections that have not logged in this many seconds after
    /// connecting (commands before login do not extend it).
    #[arg(long, default_value_t = ftp::limits::LOGIN_TIMEOUT.as_secs(), value_name = "SECS")]
    login_timeout: u64,

    /// Cut a client that reads neither its replies nor a listing for this
    /// many seconds (file transfers keep --data-timeout).
    #[arg(long, default_value_t = ftp::limits::STALL_TIMEOUT.as_secs(), value_name = "SECS")]
    stall_timeout: u64,

    /// Ban an address (IPv6: its /64) after this many failed logins within
    /// --ban-window; 0 never bans.
    #[arg(long, default_value_t = BanPolicy::default().max_failures, value_name = "N")]
    ban_failures: u32,

    /// Seconds over which failed logins are counted for a ban.
    #[arg(long, default_value_t = BanPolicy::default().window.as_secs(), value_name = "SECS")]
    ban_window: u64,

    /// Seconds a banned address is refused (421) for.
    #[arg(long, default_value_t = BanPolicy::default().ban.as_secs(), value_name = "SECS")]
    ban_time: u64,

    /// Close control connections idle for this many seconds (with a 421 reply).
    #[arg(long, default_value_t = ftp::limits::DEFAULT_IDLE_TIMEOUT.as_secs(), value_name = "SECS")]
    idle_timeout: u64,

    /// Seconds a data connection may take to open, or stall mid-transfer,
    /// before it is cut (and a partial upload discarded).
    #[arg(long, default_value_t = ftp::limits::DATA_ACCEPT_TIMEOUT.as_secs(), value_name = "SECS")]
    data_timeout: u64,

    /// TLS certificate chain (PEM) for FTPS: AUTH TLS is offered (RFC 4217).
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// A throwaway self-signed certificate for trials (its SHA-256
    /// fingerprint is printed on stderr).
    #[arg(long)]
    tls_self_signed: bool,

    /// Refuse USER before AUTH TLS (530) and data connections without
    /// PROT P (521).
    #[arg(long)]
    require_tls: bool,

    /// Accept protected data connections that do not resume the control
    /// connection's TLS session (for clients that cannot; weaker).
    #[arg(long)]
    tls_allow_unresumed: bool,

    /// A second port where the TLS handshake comes first (ftps://, port 990).
    #[arg(long, value_name = "PORT")]
    implicit_tls_port: Option<u16>,

    /// Log every command and reply on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,

    /// Log errors only.
    #[arg(short, long)]
    quiet: bool,
}

fn parse_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| format!("expected LOW-HIGH, like 50000-50100, not {text:?}"))?;
    let low: u16 = low
        .trim()
        .parse()
        .map_err(|_| format!("{low:?} is not a port number"))?;
    let high: u16 = high
        .trim()
        .parse()
        .map_err(|_| format!("{high:?} is not a port number"))?;
    if low == 0 || low > high {
        return Err(format!("the range {low}-{high} is empty or starts at 0"));
    }
    Ok(low..=high)
}

/// Every session holds a descriptor and every transfer two or three more:
/// take the hard limit, not the soft one (often 1024), as servers do.
fn raise_descriptor_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                eprintln!(
                    "warning: could not raise the open-file limit from {soft} to {hard}: {e}"
                );
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.hash_password {
        let mut password = String::new();
        std::io::stdin()
            .read_to_string(&mut password)
            .context("reading the password from stdin")?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            bail!("the password read from stdin is empty");
        }
        println!("{}", hash_password(password));
        return Ok(());
    }
    let port = args.port.context("PORT is required")?;
    raise_descriptor_limit();
    let mut config = Config::new(&args.root, port);
    config.s3 = args
        .storage
        .as_deref()
        .map(|url| {
            S3Config::from_url(url, args.s3_endpoint.clone(), |name| {
                std::env::var(name).ok()
            })
        })
        .transpose()
        .context("--storage")?;
    config.bind = args.bind;
    config.idle_timeout = Duration::from_secs(args.idle_timeout.max(1));
    config.data_timeout = Duration::from_secs(args.data_timeout.max(1));
    config.read_only = args.read_only;
    config.pasv_ports = args.pasv_ports;
    config.pasv_address = args.pasv_address;
    config.max_sessions = args.max_sessions;
    config.max_per_ip = args.max_per_ip;
    config.login_timeout = Duration::from_secs(args.login_timeout.max(1));
    config.stall_timeout = Duration::from_secs(args.stall_timeout.max(1));
    config.ban = BanPolicy {
        max_failures: args.ban_failures,
        window: Duration::from_secs(args.ban_window.max(1)),
        ban: Duration::from_secs(args.ban_time.max(1)),
    };
    config.log_level = match (args.verbose, args.quiet) {
        (true, _) => LogLevel::Verbose,
        (_, true) => LogLevel::Quiet,
        _ => LogLevel::Normal,
    };
    config.auth = match &args.users {
        None => Auth {
            users: None,
            anonymous: true,
        },
        Some(path) => Auth::from_users_file(path, args.anonymous)?,
    };

    let tls = match (&args.tls_cert, &args.tls_key, args.tls_self_signed) {
        (Some(cert), Some(key), _) => Some(Arc::new(
            ServerTls::from_pem_files(cert, key).context("loading the TLS certificate")?,
        )),
        (_, _, true) => {
            let tls = ServerTls::self_signed().context("making a self-signed certificate")?;
            eprintln!(
                "TLS: a self-signed certificate for localhost; SHA-256 fingerprint {}",
                tls.fingerprint()
            );
            Some(Arc::new(tls))
        }
        _ => None,
    };
    config.tls = tls.clone();
    config.require_tls = args.require_tls;
    config.tls_allow_unresumed = args.tls_allow_unresumed;
    config.implicit_tls_port = args.implicit_tls_port;

    let server = Server::bind(config).context("starting the server")?;
    let addr = server.local_addr().context("reading the bound address")?;
    let implicit = server
        .implicit_tls_addr()
        .transpose()
        .context("reading the implicit TLS address")?;
    let stop = server.stop_handle().context("preparing the stop handle")?;
    // SIGHUP too: its default action kills the server without the graceful
    // stop (upload temporaries would stay until the next start), and it
    // comes from a closed terminal or a process manager's "reload".
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    // An upload past the file-size limit (ulimit -f) must fail with EFBIG
    // and a 552 reply, not kill the server with SIGXFSZ.
    signal_hook::flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)))
        .context("installing the SIGXFSZ handler")?;
    std::thread::spawn(move || {
        let mut stopping = false;
        for signal in signals.forever() {
            let name = match signal {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                SIGHUP => {
                    // The TLS certificate is re-read (new handshakes use the
                    // new pair, sessions keep theirs); the users file and
                    // options are read once. Keep serving either way.
                    match tls.as_ref().map(|t| t.reload()) {
                        Some(Ok(true)) => eprintln!("SIGHUP: TLS certificate reloaded"),
                        Some(Err(e)) => {
                            eprintln!(
                                "SIGHUP: TLS certificate not reloaded, the old one stays: {e}"
                            )
                        }
                        Some(Ok(false)) | None => eprintln!(
                            "SIGHUP received: ignored (configuration reload is not supported yet)"
                        ),
                    }
                    continue;
                }
                // Only the signals registered above arrive here.
                _ => continue,
            };
            // A second SIGINT or SIGTERM: stop now.
            if stopping {
                std::process::exit(130);
            }
            eprintln!("{name}: no longer accepting connections; letting transfers finish");
            stop.stop();
            stopping = true;
        }
    });

    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}")
        .and_then(|_| match implicit {
            Some(implicit) => writeln!(stdout, "listening (implicit TLS) on {implicit}"),
            None => Ok(()),
        })
        .and_then(|_| stdout.flush())
        .context("writing to stdout")?;
    server.run().context("serving")?;
    let removed = server.drain(SHUTDOWN_GRACE);
    if removed > 0 {
        eprintln!("removed {removed} unfinished upload(s)");
    }
    eprintln!("stopped");
    Ok(())
}
