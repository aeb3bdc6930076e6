//! `serv [OPTIONS] <PORT>`: serve a directory over FTP.
//!
//! Parses the command line (and `--config FILE`, whose settings the flags
//! given on the command line override), binds, prints `listening on ADDR:PORT` as the
//! first line on stdout (tests and scripts read the real port from it when
//! PORT is 0; then `listening (implicit TLS) on ADDR:PORT` with
//! `--implicit-tls-port`, then `metrics on http://ADDR:PORT/metrics` with
//! `--metrics`) and serves until SIGINT or SIGTERM, then stops gracefully.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use ftp::limits::SHUTDOWN_GRACE;
use ftp::server::auth::{hash_password, Auth};
use ftp::server::defender::BanPolicy;
use ftp::server::log::LogLevel;
use ftp::server::rate::{parse_rate, Limits, Shown};
use ftp::server::settings::units::parse_range;
use ftp::server::settings::{describe_accounts, Settings};
use ftp::server::{Config, ReloadHandle, Server};
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
    #[arg(required_unless_present_any = ["hash_password", "config", "check_config"])]
    port: Option<u16>,

    /// Settings and accounts from this TOML file (see contrib/serv.toml);
    /// options given on the command line override it. SIGHUP re-reads its
    /// accounts, permissions, rates, [defender] and the TLS certificate.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Check this config file, print the effective settings (password
    /// hashes hidden) and exit: 0 when it can be used, 1 when not. Paths
    /// missing on this machine are warnings.
    #[arg(long, value_name = "FILE", exclusive = true)]
    check_config: Option<PathBuf>,

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

    /// Refuse every command that writes (STOR, STOU, APPE, MKD, RMD, DELE, RNFR/RNTO, MFMT).
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
    #[arg(long, default_value_t = ftp::limits::LOGIN_TIMEOUT.as_secs(), value_name = "SECS", value_parser = secs_arg())]
    login_timeout: u64,

    /// Cut a client that reads neither its replies nor a listing for this
    /// many seconds (file transfers keep --data-timeout).
    #[arg(long, default_value_t = ftp::limits::STALL_TIMEOUT.as_secs(), value_name = "SECS", value_parser = secs_arg())]
    stall_timeout: u64,

    /// Ban an address (IPv6: its /64) after this many failed logins within
    /// --ban-window; 0 never bans.
    #[arg(long, default_value_t = BanPolicy::default().max_failures, value_name = "N")]
    ban_failures: u32,

    /// Seconds over which failed logins are counted for a ban.
    #[arg(long, default_value_t = BanPolicy::default().window.as_secs(), value_name = "SECS", value_parser = secs_arg())]
    ban_window: u64,

    /// Seconds a banned address is refused (421) for.
    #[arg(long, default_value_t = BanPolicy::default().ban.as_secs(), value_name = "SECS", value_parser = secs_arg())]
    ban_time: u64,

    /// Close control connections idle for this many seconds (with a 421 reply).
    #[arg(long, default_value_t = ftp::limits::DEFAULT_IDLE_TIMEOUT.as_secs(), value_name = "SECS", value_parser = secs_arg())]
    idle_timeout: u64,

    /// Seconds a data connection may take to open, or stall mid-transfer,
    /// before it is cut (and a partial upload discarded).
    #[arg(long, default_value_t = ftp::limits::DATA_ACCEPT_TIMEOUT.as_secs(), value_name = "SECS", value_parser = secs_arg())]
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

    /// Most bytes per second each user may download, across all of that
    /// user's sessions (anonymous logins count as one user), like 512KiB,
    /// 1MiB or 2000000 [default: unlimited].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    download_rate: Option<u64>,

    /// Most bytes per second each user may upload, across all of that
    /// user's sessions [default: unlimited].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    upload_rate: Option<u64>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics (use a
    /// loopback address unless the network is trusted; port 0 picks one).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics: Option<SocketAddr>,

    /// Append one line per file transfer to FILE in the xferlog format of
    /// wu-ftpd and vsftpd (reopened on SIGHUP, for logrotate).
    #[arg(long, value_name = "FILE")]
    xferlog: Option<PathBuf>,

    /// Log every command and reply on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,

    /// Log errors only.
    #[arg(short, long)]
    quiet: bool,
}

/// SIGHUP: the config file read again. Accounts, permissions, rates and
/// `[defender]` take effect at once (sessions keep running; a removed
/// user's end at their next command), the TLS certificate is re-read from
/// its files; settings that need a restart are named. A file that fails
/// to load changes nothing.
fn reload(
    args: &Args,
    matches: &ArgMatches,
    started: &Effective,
    reloader: &ReloadHandle,
    tls: Option<&ServerTls>,
) {
    if let Some(path) = &args.config {
        let loaded = Settings::load(path)
            .map_err(anyhow::Error::from)
            .and_then(|settings| effective(args, matches, Some(&settings), true));
        match loaded {
            Err(e) => eprintln!("SIGHUP: config file not reloaded, the old settings stay: {e:#}"),
            Ok(mut now) => {
                reloader.set_default_rates(now.config.rates);
                if let Some(accounts) = now.config.accounts.take() {
                    reloader.replace_accounts(accounts);
                }
                reloader.set_ban_policy(now.config.ban);
                let before = started.restart_only();
                for ((name, old), (_, new)) in before.iter().zip(now.restart_only()) {
                    if *old != new {
                        eprintln!(
                            "SIGHUP: {name} changed in {}; it takes effect only after a restart",
                            path.display()
                        );
                    }
                }
                eprintln!(
                    "SIGHUP: config file {} reloaded (accounts, permissions, rates, [defender])",
                    path.display()
                );
            }
        }
    }
    // The TLS certificate is re-read (new handshakes use the new pair,
    // sessions keep theirs).
    match tls.map(|t| t.reload()) {
        Some(Ok(true)) => eprintln!("SIGHUP: TLS certificate reloaded"),
        Some(Err(e)) => {
            eprintln!("SIGHUP: TLS certificate not reloaded, the old one stays: {e}")
        }
        Some(Ok(false)) | None if args.config.is_none() => {
            eprintln!("SIGHUP received: nothing to reload (no --config and no certificate files)")
        }
        Some(Ok(false)) | None => {}
    }
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

/// The settings in effect: the flags given on the command line over the
/// config file over the defaults.
struct Effective {
    config: Config,
    /// `--tls-cert` and `--tls-key` (or `[tls] cert`, `key`).
    tls_files: Option<(PathBuf, PathBuf)>,
    tls_self_signed: bool,
    users_file: Option<PathBuf>,
}

impl Effective {
    /// The settings a reload cannot change, by name, to say which ones
    /// wait for a restart.
    fn restart_only(&self) -> Vec<(&'static str, String)> {
        let c = &self.config;
        vec![
            ("root", format!("{:?}", c.root)),
            ("storage", format!("{:?}", c.s3)),
            ("bind", format!("{:?}", c.bind)),
            ("port", format!("{:?}", c.port)),
            ("read_only", format!("{:?}", c.read_only)),
            ("pasv_ports", format!("{:?}", c.pasv_ports)),
            ("pasv_address", format!("{:?}", c.pasv_address)),
            ("max_sessions", format!("{:?}", c.max_sessions)),
            ("max_per_ip", format!("{:?}", c.max_per_ip)),
            ("idle_timeout", format!("{:?}", c.idle_timeout)),
            ("login_timeout", format!("{:?}", c.login_timeout)),
            ("stall_timeout", format!("{:?}", c.stall_timeout)),
            ("data_timeout", format!("{:?}", c.data_timeout)),
            ("[tls] cert/key", format!("{:?}", self.tls_files)),
            ("[tls] self_signed", format!("{:?}", self.tls_self_signed)),
            ("[tls] require", format!("{:?}", c.require_tls)),
            (
                "[tls] allow_unresumed",
                format!("{:?}", c.tls_allow_unresumed),
            ),
            ("[tls] implicit_port", format!("{:?}", c.implicit_tls_port)),
            ("metrics", format!("{:?}", c.metrics)),
            ("xferlog", format!("{:?}", c.xferlog)),
        ]
    }

    /// The settings, one `key = value` a line, accounts last (password
    /// hashes hidden).
    fn describe(&self) -> Vec<String> {
        let c = &self.config;
        let secs = |d: Duration| format!("\"{}s\"", d.as_secs());
        let opt = |o: Option<String>| o.unwrap_or_else(|| "(none)".to_string());
        let mut lines = vec![
            match &c.s3 {
                Some(s3) => format!(
                    "storage = \"s3://{}{}{}\", s3_endpoint = {}",
                    s3.bucket,
                    if s3.prefix.is_empty() { "" } else { "/" },
                    s3.prefix.trim_end_matches('/'),
                    opt(s3.endpoint.as_ref().map(|e| format!("{e:?}")))
                ),
                None => format!("root = {:?}", c.root),
            },
            format!("bind = {}", opt(c.bind.map(|b| b.to_string()))),
            format!("port = {}", c.port),
            format!("read_only = {}", c.read_only),
            format!(
                "pasv_ports = {}",
                opt(c.pasv_ports.as_ref().map(|r| format!("\"{}-{}\"", r.start(), r.end())))
            ),
            format!("pasv_address = {}", opt(c.pasv_address.map(|a| a.to_string()))),
            format!("max_sessions = {}", opt(c.max_sessions.map(|n| n.to_string()))),
            format!("max_per_ip = {}", opt(c.max_per_ip.map(|n| n.to_string()))),
            format!("idle_timeout = {}", secs(c.idle_timeout)),
            format!("login_timeout = {}", secs(c.login_timeout)),
            format!("stall_timeout = {}", secs(c.stall_timeout)),
            format!("data_timeout = {}", secs(c.data_timeout)),
            format!("users_file = {}", opt(self.users_file.as_ref().map(|p| format!("{p:?}")))),
            format!(
                "download_rate = {}, upload_rate = {} (for users without their own)",
                opt(c.rates.download.map(|r| format!("\"{}\"", Shown(r)))),
                opt(c.rates.upload.map(|r| format!("\"{}\"", Shown(r))))
            ),
            format!("metrics = {}", opt(c.metrics.map(|a| format!("\"{a}\"")))),
            format!("xferlog = {}", opt(c.xferlog.as_ref().map(|p| format!("{p:?}")))),
            format!(
                "[tls] cert = {}, key = {}, self_signed = {}, require = {}, allow_unresumed = {}, implicit_port = {}",
                opt(self.tls_files.as_ref().map(|(c, _)| format!("{c:?}"))),
                opt(self.tls_files.as_ref().map(|(_, k)| format!("{k:?}"))),
                self.tls_self_signed,
                c.require_tls,
                c.tls_allow_unresumed,
                opt(c.implicit_tls_port.map(|p| p.to_string())),
            ),
            format!(
                "[defender] max_failures = {}, window = {}, ban = {}",
                c.ban.max_failures,
                secs(c.ban.window),
                secs(c.ban.ban)
            ),
        ];
        match &c.accounts {
            Some(accounts) => lines.extend(describe_accounts(accounts)),
            None => lines.push(format!(
                "accounts: anonymous {}, users from {}",
                if c.auth.anonymous {
                    "enabled"
                } else {
                    "disabled"
                },
                opt(self.users_file.as_ref().map(|p| format!("{p:?}")))
            )),
        }
        lines
    }
}

/// The settings of `args` over `file` over the defaults. `accounts`:
/// read the accounts too (the users file must then exist).
fn effective(
    args: &Args,
    matches: &ArgMatches,
    file: Option<&Settings>,
    accounts: bool,
) -> anyhow::Result<Effective> {
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let empty = Settings::default();
    let f = file.unwrap_or(&empty);
    let tls = f.tls.clone().unwrap_or_default();
    // A flag given wins; otherwise the file's value, else the flag's default.
    let secs = |id: &str, flag: u64, key: Option<ftp::server::settings::units::Seconds>| match key {
        Some(s) if !given(id) => s.0.max(Duration::from_secs(1)),
        _ => Duration::from_secs(flag.max(1)),
    };
    let port = args
        .port
        .or(f.port)
        .context("PORT is required: give it on the command line or as `port` in the config file")?;
    let root = if given("root") {
        args.root.clone()
    } else {
        f.root.clone().unwrap_or_else(|| args.root.clone())
    };
    let mut config = Config::new(&root, port);
    // The bucket comes whole from one place: an endpoint in the file does
    // not apply to a bucket given on the command line, nor the reverse.
    let (storage, endpoint) = match &args.storage {
        Some(url) => (Some(url.clone()), args.s3_endpoint.clone()),
        None => (f.storage.clone(), f.s3_endpoint.clone()),
    };
    if storage.is_none() && endpoint.is_some() {
        bail!("s3_endpoint is set but storage is not: give storage = \"s3://BUCKET\" too");
    }
    config.s3 = storage
        .as_deref()
        .map(|url| S3Config::from_url(url, endpoint, |name| std::env::var(name).ok()))
        .transpose()
        .context("storage")?;
    config.bind = args.bind.or(f.bind);
    config.idle_timeout = secs("idle_timeout", args.idle_timeout, f.idle_timeout);
    config.data_timeout = secs("data_timeout", args.data_timeout, f.data_timeout);
    config.login_timeout = secs("login_timeout", args.login_timeout, f.login_timeout);
    config.stall_timeout = secs("stall_timeout", args.stall_timeout, f.stall_timeout);
    config.read_only = args.read_only || f.read_only.unwrap_or(false);
    config.pasv_ports = args
        .pasv_ports
        .clone()
        .or_else(|| f.pasv_ports.as_ref().map(|r| r.0.clone()));
    config.pasv_address = args.pasv_address.or(f.pasv_address);
    config.max_sessions = args.max_sessions.or(f.max_sessions);
    config.max_per_ip = args.max_per_ip.or(f.max_per_ip);
    let flags_ban = BanPolicy {
        max_failures: args.ban_failures,
        window: Duration::from_secs(args.ban_window.max(1)),
        ban: Duration::from_secs(args.ban_time.max(1)),
    };
    let from_file = f.ban_policy(flags_ban);
    config.ban = BanPolicy {
        max_failures: if given("ban_failures") {
            flags_ban.max_failures
        } else {
            from_file.max_failures
        },
        window: if given("ban_window") {
            flags_ban.window
        } else {
            from_file.window
        },
        ban: if given("ban_time") {
            flags_ban.ban
        } else {
            from_file.ban
        },
    };
    let verbose = args.verbose || (!args.quiet && f.verbose.unwrap_or(false));
    let quiet = args.quiet || (!args.verbose && f.quiet.unwrap_or(false));
    config.log_level = match (verbose, quiet) {
        (true, _) => LogLevel::Verbose,
        (_, true) => LogLevel::Quiet,
        _ => LogLevel::Normal,
    };
    let users_file = args.users.clone().or_else(|| f.users_file.clone());
    if accounts {
        match file {
            Some(settings) => {
                config.accounts = Some(settings.accounts(
                    users_file.as_deref(),
                    config.read_only,
                    args.anonymous,
                )?);
            }
            None => {
                config.auth = match &users_file {
                    None => Auth {
                        users: None,
                        anonymous: true,
                    },
                    Some(path) => Auth::from_users_file(path, args.anonymous)?,
                };
            }
        }
    }
    let tls_files = match (args.tls_cert.clone(), args.tls_key.clone()) {
        (Some(c), Some(k)) => Some((c, k)),
        _ if args.tls_self_signed => None,
        _ => match (tls.cert, tls.key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => bail!("[tls] needs both cert and key (or self_signed = true)"),
        },
    };
    config.require_tls = args.require_tls || tls.require.unwrap_or(false);
    config.tls_allow_unresumed = args.tls_allow_unresumed || tls.allow_unresumed.unwrap_or(false);
    config.implicit_tls_port = args.implicit_tls_port.or(tls.implicit_port);
    config.rates = Limits {
        download: args.download_rate.or(f.download_rate.map(|r| r.0)),
        upload: args.upload_rate.or(f.upload_rate.map(|r| r.0)),
    };
    config.metrics = args.metrics.or(f.metrics);
    config.xferlog = args.xferlog.clone().or_else(|| f.xferlog.clone());
    Ok(Effective {
        config,
        tls_self_signed: tls_files.is_none()
            && (args.tls_self_signed || tls.self_signed.unwrap_or(false)),
        tls_files,
        users_file,
    })
}

/// `serv --check-config FILE`: 0 when the file can be used, 1 when not.
fn check_config(args: &Args, matches: &ArgMatches, path: &Path) -> i32 {
    let settings = match Settings::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mut eff = match effective(args, matches, Some(&settings), false) {
        Ok(eff) => eff,
        Err(e) => {
            eprintln!("error: {}: {e:#}", path.display());
            return 1;
        }
    };
    let warnings = settings.missing_paths(&eff.config.root);
    // A users file that is not on this machine is a warning: its accounts
    // cannot be checked here.
    let users_file = eff.users_file.as_deref().filter(|p| p.exists());
    match settings.accounts(users_file, eff.config.read_only, false) {
        Ok(accounts) => eff.config.accounts = Some(accounts),
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    }
    println!("# effective settings of {}", path.display());
    for line in eff.describe() {
        println!("{line}");
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!("{}: OK", path.display());
    0
}

/// jemalloc, because it reuses the pages of freed buffers: an object
/// download's HTTP buffers are ~400 KiB each, which glibc's malloc handed
/// back to the kernel and faulted in again (see Cargo.toml).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let matches = Args::command().get_matches();
    let args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
    if let Some(path) = &args.check_config {
        std::process::exit(check_config(&args, &matches, path));
    }
    let settings = args.config.as_deref().map(Settings::load).transpose()?;
    raise_descriptor_limit();
    let started = effective(&args, &matches, settings.as_ref(), true)?;
    let mut config = started.config.clone();

    let tls = match (&started.tls_files, started.tls_self_signed) {
        (Some((cert, key)), _) => Some(Arc::new(
            ServerTls::from_pem_files(cert, key).context("loading the TLS certificate")?,
        )),
        (_, true) => {
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

    let server = Server::bind(config).context("starting the server")?;
    let addr = server.local_addr().context("reading the bound address")?;
    let implicit = server
        .implicit_tls_addr()
        .transpose()
        .context("reading the implicit TLS address")?;
    let stop = server.stop_handle().context("preparing the stop handle")?;
    let xferlog = server.xferlog();
    let reloader = server.reload_handle();
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
                    // The transfer log is opened again: logrotate moved it.
                    if let Some(log) = &xferlog {
                        match log.reopen() {
                            Ok(()) => eprintln!("SIGHUP: reopened {}", log.path().display()),
                            Err(e) => eprintln!(
                                "SIGHUP: cannot reopen {}, still writing the old file: {e}",
                                log.path().display()
                            ),
                        }
                    }
                    reload(&args, &matches, &started, &reloader, tls.as_deref());
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
        .and_then(|_| match server.metrics_addr() {
            Some(metrics) => writeln!(stdout, "metrics on http://{metrics}/metrics"),
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

/// A SECS flag: at most [`ftp::limits::MAX_SETTING_SECS`], since deadlines
/// are now plus the setting and a larger one would overflow them.
fn secs_arg() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(..=ftp::limits::MAX_SETTING_SECS)
}
