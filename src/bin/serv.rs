//! `serv [OPTIONS] <PORT>`: serve a directory over FTP.
//!
//! Parses the command line, binds, prints `listening on ADDR:PORT` as the
//! first line on stdout (tests and scripts read the real port from it when
//! PORT is 0) and runs until killed.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use ftp::server::log::LogLevel;
use ftp::server::{Config, Server};

/// Serve a directory over FTP (RFC 959) to any FTP client: anonymous login,
/// passive data connections, atomic uploads, a root no path can leave.
#[derive(Debug, Parser)]
#[command(name = "serv", version)]
struct Args {
    /// Control port to listen on; 0 picks a free port (printed on stdout).
    port: u16,

    /// Directory served as "/"; clients cannot reach anything outside it.
    #[arg(long, default_value = ".")]
    root: PathBuf,

    /// Address to listen on [default: every interface, IPv6 and IPv4].
    #[arg(long)]
    bind: Option<IpAddr>,

    /// Close control connections idle for this many seconds (with a 421 reply).
    #[arg(long, default_value_t = ftp::limits::DEFAULT_IDLE_TIMEOUT.as_secs(), value_name = "SECS")]
    idle_timeout: u64,

    /// Log every command and reply on stderr.
    #[arg(short, long, conflicts_with = "quiet")]
    verbose: bool,

    /// Log errors only.
    #[arg(short, long)]
    quiet: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::new(&args.root, args.port);
    config.bind = args.bind;
    config.idle_timeout = Duration::from_secs(args.idle_timeout.max(1));
    config.log_level = match (args.verbose, args.quiet) {
        (true, _) => LogLevel::Verbose,
        (_, true) => LogLevel::Quiet,
        _ => LogLevel::Normal,
    };
    let server = Server::bind(config).context("starting the server")?;
    let addr = server.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}")
        .and_then(|_| stdout.flush())
        .context("writing to stdout")?;
    server.run().context("serving")
}
