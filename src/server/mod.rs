//! The server: configuration, the control listener and the accept loop.
//!
//! A session runs on a worker thread of its own while it has something to
//! do (small stacks, see
//! [`SESSION_STACK_SIZE`](crate::limits::SESSION_STACK_SIZE)): it blocks on
//! its own sockets and disk, and a slow or hostile client stalls nobody
//! else. A session idle between commands gives its thread back and waits
//! in one epoll set ([`driver::reactor`]), so idle connections cost no
//! thread. The listener is created with socket2 so that it can be
//! dual-stack (one `[::]` socket for IPv4 and IPv6 clients), reuse its
//! address across restarts and keep a large backlog.
//!
//! - [`session`]: one control connection's state machine, with no I/O.
//! - [`driver`]: what runs it: over TCP (a worker thread while busy, none
//!   while idle, a thread per transfer), or in memory for tests and fuzzing.
//! - [`transfer`]: what a transfer is and how its bytes move.
//! - [`failure`]: every failure, and the one mapping to reply codes.
//! - [`listing`], [`mlsx`]: LIST/NLST and MLSD/MLST output.
//! - [`auth`]: anonymous login and the users file.
//! - [`admission`], [`defender`]: who gets a session; the per-address
//!   login ban.
//! - [`log`], [`time`]: the server's log lines and calendar formatting.
//! - [`xferlog`]: `--xferlog`, one line per transfer for log analyzers.
//! - [`metrics`]: the counters, and `--metrics`, their HTTP endpoint.
//! - [`rate`]: per-user bandwidth limits (token buckets).
//!
//! Files are reached only through the storage seam
//! ([`crate::storage::Storage`]); `--root` is a
//! [`crate::storage::LocalDisk`], `--storage s3://BUCKET` an
//! [`crate::storage::s3::S3Storage`] ([`Config::s3`]).
//!
//! Stopping (SIGINT/SIGTERM in `serv`): [`StopHandle::stop`] closes the
//! listener, [`Server::run`] returns, and [`Server::drain`] gives running
//! transfers a few seconds before it discards uploads still in progress,
//! so no partial upload survives under any name.

pub mod accounts;
pub mod admission;
pub mod auth;
pub mod defender;
pub mod driver;
pub mod failure;
pub mod listing;
pub mod log;
pub mod metrics;
pub mod mlsx;
pub mod rate;
pub mod session;
pub mod settings;
pub mod time;
pub mod transfer;
pub mod xferlog;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::limits::{
    DATA_ACCEPT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, FAILED_LOGIN_DELAY, LISTEN_BACKLOG, LOGIN_TIMEOUT,
    STALL_TIMEOUT,
};
use crate::protocol::{Reply, ReplyCode};
use crate::storage::s3::{S3Config, S3Error, S3Storage};
use crate::storage::{LocalDisk, Storage};
use crate::transport::data::canonical_ip;
use crate::transport::tls::ServerTls;
use accounts::{Accounts, LiveAccounts};
use admission::Admission;
use auth::{Auth, Verifier};
use defender::{BanPolicy, Defender};
use log::{Log, LogLevel};
use metrics::Metrics;
use rate::{Limits, Rates};
use session::security::TlsPolicy;
use std::collections::HashMap;
use xferlog::TransferLog;

/// Everything `serv` can be told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory served as `/` (unless `s3` is given).
    pub root: PathBuf,
    /// Serve a bucket (`--storage s3://BUCKET[/PREFIX]`) instead of `root`.
    pub s3: Option<S3Config>,
    /// Address to listen on; `None` means every interface, IPv6 and IPv4.
    pub bind: Option<IpAddr>,
    /// Control port; 0 takes any free port.
    pub port: u16,
    /// A control connection idle this long is closed with 421.
    pub idle_timeout: Duration,
    /// How long a data connection may take to open (passive accept or
    /// active connect) or stall mid-transfer before it is cut.
    pub data_timeout: Duration,
    /// How much to log on stderr.
    pub log_level: LogLevel,
    /// Who may log in (without `accounts`: every account at `/`, with
    /// every permission or, under `read_only`, `list` and `download`).
    pub auth: Auth,
    /// Accounts with homes, permissions and limits (`--config`); when
    /// given, `auth` is not used.
    pub accounts: Option<Accounts>,
    /// Refuse every command that writes.
    pub read_only: bool,
    /// Passive ports to use instead of ephemeral ones.
    pub pasv_ports: Option<RangeInclusive<u16>>,
    /// Address announced in 227 replies (the public address behind NAT).
    pub pasv_address: Option<Ipv4Addr>,
    /// Most sessions at once; the next connection gets 421.
    pub max_sessions: Option<usize>,
    /// Most sessions at once from one address (IPv6: one /64).
    pub max_per_ip: Option<usize>,
    /// A connection not logged in this long after connecting is closed.
    pub login_timeout: Duration,
    /// A client that reads neither its replies nor a listing for this long
    /// is cut (file transfers keep `data_timeout`).
    pub stall_timeout: Duration,
    /// When an address that keeps failing to log in is banned.
    pub ban: BanPolicy,
    /// The certificate for FTPS (RFC 4217): AUTH TLS is offered with it.
    pub tls: Option<Arc<ServerTls>>,
    /// Refuse logins and data connections that TLS does not protect.
    pub require_tls: bool,
    /// Accept protected data connections that do not resume the control
    /// connection's TLS session (for clients that cannot resume).
    pub tls_allow_unresumed: bool,
    /// A second port where the TLS handshake comes first (`ftps://`).
    pub implicit_tls_port: Option<u16>,
    /// Bandwidth limits of every user (per user name, shared by that
    /// user's sessions); [`Server::rates`] sets users' own.
    pub rates: Limits,
    /// Where to serve `GET /metrics` (Prometheus).
    pub metrics: Option<SocketAddr>,
    /// Where to append one xferlog line per transfer.
    pub xferlog: Option<PathBuf>,
}

impl Config {
    /// Defaults: serve `root` on every interface at `port`.
    pub fn new(root: impl Into<PathBuf>, port: u16) -> Config {
        Config {
            root: root.into(),
            s3: None,
            bind: None,
            port,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            data_timeout: DATA_ACCEPT_TIMEOUT,
            log_level: LogLevel::Normal,
            auth: Auth {
                users: None,
                anonymous: true,
            },
            accounts: None,
            read_only: false,
            pasv_ports: None,
            pasv_address: None,
            max_sessions: None,
            max_per_ip: None,
            login_timeout: LOGIN_TIMEOUT,
            stall_timeout: STALL_TIMEOUT,
            ban: BanPolicy::default(),
            tls: None,
            require_tls: false,
            tls_allow_unresumed: false,
            implicit_tls_port: None,
            rates: Limits::default(),
            metrics: None,
            xferlog: None,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot serve {}: {source}", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Bucket(#[from] S3Error),
    #[error("--require-tls and --implicit-tls-port need a certificate: give --tls-cert and --tls-key, or --tls-self-signed")]
    NoCertificate,
    #[error("cannot serve metrics on {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot open the transfer log {}: {source}", path.display())]
    Xferlog {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the event loop for idle sessions: {0}")]
    Reactor(#[source] io::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// What every session shares.
#[derive(Debug)]
struct Shared {
    /// What the session state machines are configured with.
    config: Arc<session::Config>,
    data_timeout: Duration,
    stall_timeout: Duration,
    pasv_ports: Option<RangeInclusive<u16>>,
    log: Log,
    /// Failed logins per address, and bans.
    defender: Defender,
    /// Bounds how many password checks run at once (argon2 takes 19 MiB
    /// each: a hundred at once took gigabytes).
    verifier: Verifier,
    /// The certificate for FTPS, if any.
    tls: Option<Arc<ServerTls>>,
    /// Protected data connections need not resume the control session.
    tls_allow_unresumed: bool,
    /// Transfers running now, for the graceful stop.
    transfers: AtomicUsize,
    /// Bandwidth limits and the buckets of running transfers.
    rates: Arc<Rates>,
    /// What `/metrics` reports.
    metrics: Arc<Metrics>,
    /// `--xferlog`.
    xferlog: Option<Arc<TransferLog>>,
    /// Runs sessions on worker threads and holds idle ones without one.
    reactor: driver::reactor::Reactor,
}

/// What a reload (SIGHUP) changes in a running server: the accounts for
/// new logins and every session's next command, and the ban policy.
#[derive(Debug, Clone)]
pub struct ReloadHandle {
    shared: Arc<Shared>,
}

impl ReloadHandle {
    /// New logins use `accounts`; a running session whose account is gone
    /// ends at its next command (421), the others take in their new
    /// permissions and limits.
    pub fn replace_accounts(&self, accounts: Accounts) {
        let rates = &self.shared.rates;
        rates.set_users(account_rates(&accounts, rates.default_limits()));
        self.shared.config.accounts.replace(accounts);
    }

    /// Users without rates of their own get `limits` (`--download-rate`,
    /// `--upload-rate`, or the file's top-level keys).
    pub fn set_default_rates(&self, limits: Limits) {
        self.shared.rates.set_default(limits);
    }

    /// The next failed logins count under `policy`.
    pub fn set_ban_policy(&self, policy: BanPolicy) {
        self.shared.defender.set_policy(policy);
    }
}

/// The accounts that set a rate of their own (`[[users]]`
/// `download_rate`, `upload_rate`), a direction they leave unset taking
/// the server's default.
fn account_rates(accounts: &Accounts, default: Limits) -> HashMap<String, Limits> {
    accounts
        .users()
        .into_iter()
        .chain(accounts.anonymous())
        .filter(|a| a.download_rate.is_some() || a.upload_rate.is_some())
        .map(|a| {
            let limits = Limits {
                download: a.download_rate.or(default.download),
                upload: a.upload_rate.or(default.upload),
            };
            (a.name.clone(), limits)
        })
        .collect()
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    /// The implicit TLS listener (`--implicit-tls-port`).
    implicit: Option<TcpListener>,
    shared: Arc<Shared>,
    admission: Admission,
    stopping: Arc<AtomicBool>,
    /// Where `/metrics` is served, once bound.
    metrics_addr: Option<SocketAddr>,
}

/// Stops a running server from another thread (a signal handler's).
#[derive(Debug, Clone)]
pub struct StopHandle {
    stopping: Arc<AtomicBool>,
    listeners: Arc<Vec<Socket>>,
}

impl StopHandle {
    /// Stops accepting connections; [`Server::run`] returns.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // shutdown(2) on a listening socket wakes the blocked accept(2).
        for listener in self.listeners.iter() {
            let _ = listener.shutdown(Shutdown::Read);
        }
    }
}

fn listen(addr: SocketAddr, dual_stack: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted server must not wait out TIME_WAIT of its previous run.
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!dual_stack)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

impl Server {
    /// Checks the root, binds the control port and cleans up upload
    /// temporaries left by an earlier run that was killed.
    pub fn bind(config: Config) -> Result<Server, ServerError> {
        let storage: Arc<dyn Storage> = match &config.s3 {
            Some(s3) => Arc::new(S3Storage::connect(s3)?),
            None => Arc::new(
                LocalDisk::new(&config.root).map_err(|source| ServerError::Root {
                    path: config.root.clone(),
                    source,
                })?,
            ),
        };
        let log = Log {
            level: config.log_level,
        };
        if config.tls.is_none() && (config.require_tls || config.implicit_tls_port.is_some()) {
            return Err(ServerError::NoCertificate);
        }
        let listener = bind_control(config.bind, config.port)?;
        let implicit = config
            .implicit_tls_port
            .map(|port| bind_control(config.bind, port))
            .transpose()?;
        let xferlog = config
            .xferlog
            .as_ref()
            .map(|path| {
                TransferLog::open(path).map_err(|source| ServerError::Xferlog {
                    path: path.clone(),
                    source,
                })
            })
            .transpose()?
            .map(Arc::new);
        let metrics = Arc::new(Metrics::new());
        let metrics_addr = match config.metrics {
            Some(addr) => {
                let endpoint = metrics::http::Endpoint::bind(addr)
                    .map_err(|source| ServerError::Metrics { addr, source })?;
                let bound = endpoint.addr();
                endpoint
                    .spawn(Arc::clone(&metrics))
                    .map_err(|source| ServerError::Metrics { addr, source })?;
                Some(bound)
            }
            None => None,
        };
        match storage.remove_stale_uploads() {
            Ok(0) => {}
            Ok(n) => eprintln!("removed {n} unfinished upload(s) left by an earlier run"),
            Err(e) => eprintln!("warning: could not remove unfinished uploads: {e}"),
        }
        let accounts = config
            .accounts
            .unwrap_or_else(|| Accounts::open(config.auth, config.read_only));
        let rates = Rates::new(config.rates);
        rates.set_users(account_rates(&accounts, config.rates));
        let reactor = driver::reactor::Reactor::start().map_err(ServerError::Reactor)?;
        Ok(Server {
            listener,
            implicit,
            shared: Arc::new(Shared {
                config: Arc::new(session::Config {
                    storage,
                    accounts: Arc::new(LiveAccounts::new(accounts)),
                    read_only: config.read_only,
                    idle_timeout: config.idle_timeout,
                    login_timeout: config.login_timeout,
                    data_timeout: config.data_timeout,
                    failed_login_delay: FAILED_LOGIN_DELAY,
                    pasv_address: config.pasv_address,
                    tls: TlsPolicy {
                        available: config.tls.is_some(),
                        required: config.require_tls,
                    },
                }),
                data_timeout: config.data_timeout,
                stall_timeout: config.stall_timeout,
                pasv_ports: config.pasv_ports,
                log,
                defender: Defender::new(config.ban),
                verifier: Verifier::with_cores(),
                tls: config.tls,
                tls_allow_unresumed: config.tls_allow_unresumed,
                transfers: AtomicUsize::new(0),
                rates: Arc::new(rates),
                metrics,
                xferlog,
                reactor,
            }),
            admission: Admission::new(config.max_sessions, config.max_per_ip),
            stopping: Arc::default(),
            metrics_addr,
        })
    }

    /// A handle that reloads accounts and the ban policy while it runs.
    pub fn reload_handle(&self) -> ReloadHandle {
        ReloadHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// A handle that stops [`run`](Server::run) from another thread.
    pub fn stop_handle(&self) -> io::Result<StopHandle> {
        let listeners = std::iter::once(&self.listener)
            .chain(&self.implicit)
            .map(|l| socket2::SockRef::from(l).try_clone())
            .collect::<io::Result<Vec<_>>>()?;
        Ok(StopHandle {
            stopping: Arc::clone(&self.stopping),
            listeners: Arc::new(listeners),
        })
    }

    /// After [`run`](Server::run) returned: lets running transfers finish
    /// for up to `grace`, then removes the temporary files of uploads still
    /// in progress. Returns how many were removed.
    pub fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        while self.shared.transfers.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.shared.config.storage.abort_active_uploads()
    }

    /// The address actually bound (with the real port when 0 was asked).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` is served (`--metrics`), with the real port.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The bandwidth limits: set a user's own with
    /// [`Rates::set_user`], all of them at once with [`Rates::set_users`]
    /// (a reload); running transfers follow at once.
    pub fn rates(&self) -> Arc<Rates> {
        Arc::clone(&self.shared.rates)
    }

    /// The transfer log, to [`reopen`](TransferLog::reopen) on SIGHUP.
    pub fn xferlog(&self) -> Option<Arc<TransferLog>> {
        self.shared.xferlog.clone()
    }

    /// The implicit TLS listener's address, if there is one.
    pub fn implicit_tls_addr(&self) -> Option<io::Result<SocketAddr>> {
        self.implicit.as_ref().map(TcpListener::local_addr)
    }

    /// Accepts connections on every listener, each session on a worker
    /// thread, until stopped.
    pub fn run(&self) -> io::Result<()> {
        std::thread::scope(|scope| {
            let implicit = self
                .implicit
                .as_ref()
                .map(|l| scope.spawn(move || self.accept_loop(l, true)));
            let plain = self.accept_loop(&self.listener, false);
            let implicit = implicit.map_or(Ok(()), |h| h.join().unwrap_or(Ok(())));
            plain.and(implicit)
        })
    }

    /// Accepts on `listener`; `implicit`: the TLS handshake comes first.
    fn accept_loop(&self, listener: &TcpListener, implicit: bool) -> io::Result<()> {
        loop {
            let accepted = listener.accept();
            if self.stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of spinning.
                    eprintln!("accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let admitted = self.admission.admit(
                &stream,
                canonical_ip(peer.ip()),
                &self.shared.defender,
                Instant::now(),
            );
            let slot = match admitted {
                Ok(slot) => slot,
                Err(why) => {
                    refuse(stream, &why);
                    self.shared
                        .log
                        .event(peer, None, format_args!("refused: {why}"));
                    continue;
                }
            };
            // Replies are small and answer a request: send them at once.
            let _ = stream.set_nodelay(true);
            // Clients send ABOR as Telnet "Synch" with the last byte marked
            // urgent (MSG_OOB, RFC 959 §4.1.3); without OOBINLINE Linux takes
            // that byte out of the stream and the ABOR line never ends.
            let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
            let shared = Arc::clone(&self.shared);
            self.shared.reactor.run(Box::new(move || {
                driver::tcp::serve(stream, shared, slot, implicit)
            }));
        }
    }
}

/// A control listener on `bind` (or every interface, IPv6 and IPv4).
fn bind_control(bind: Option<IpAddr>, port: u16) -> Result<TcpListener, ServerError> {
    match bind {
        Some(ip) => {
            let addr = SocketAddr::new(ip, port);
            listen(addr, false).map_err(|source| ServerError::Bind { addr, source })
        }
        None => {
            let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
            // Hosts without IPv6 fall back to IPv4 only.
            listen(any6, true).or_else(|_| {
                let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
                listen(any4, false).map_err(|source| ServerError::Bind { addr: any4, source })
            })
        }
    }
}

/// Answers a connection that cannot be served with 421 and closes it.
fn refuse(mut stream: TcpStream, why: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let reply = Reply::new(ReplyCode::SERVICE_NOT_AVAILABLE, why);
    let _ = stream.write_all(reply.to_string().as_bytes());
    let _ = stream.shutdown(Shutdown::Both);
}
