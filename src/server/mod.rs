//! The server: configuration, the control listener and the accept loop.
//!
//! One thread per session (small stacks, see
//! [`SESSION_STACK_SIZE`](crate::limits::SESSION_STACK_SIZE)): sessions
//! block on their own sockets and disk, and a slow or hostile client stalls
//! nobody else. The listener is created with socket2 so that it can be
//! dual-stack (one `[::]` socket for IPv4 and IPv6 clients), reuse its
//! address across restarts and keep a large backlog.
//!
//! - [`session`]: one control connection's state machine.
//! - [`data`]: passive listeners and data connections.
//! - [`fs`]: the jail under `--root` and atomic uploads.
//! - [`listing`]: LIST and NLST output.
//! - [`log`]: the server's log lines.

pub mod data;
pub mod fs;
pub mod listing;
pub mod log;
mod session;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::limits::{
    DATA_ACCEPT_TIMEOUT, DEFAULT_IDLE_TIMEOUT, FAILED_LOGIN_DELAY, LISTEN_BACKLOG,
    SESSION_STACK_SIZE,
};
use fs::Jail;
use log::{Log, LogLevel};

/// Everything `serv` can be told on its command line.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory served as `/`.
    pub root: PathBuf,
    /// Address to listen on; `None` means every interface, IPv6 and IPv4.
    pub bind: Option<IpAddr>,
    /// Control port; 0 takes any free port.
    pub port: u16,
    /// A control connection idle this long is closed with 421.
    pub idle_timeout: Duration,
    /// How long a passive port waits for the client to connect.
    pub data_timeout: Duration,
    /// How much to log on stderr.
    pub log_level: LogLevel,
}

impl Config {
    /// Defaults: serve `root` on every interface at `port`.
    pub fn new(root: impl Into<PathBuf>, port: u16) -> Config {
        Config {
            root: root.into(),
            bind: None,
            port,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            data_timeout: DATA_ACCEPT_TIMEOUT,
            log_level: LogLevel::Normal,
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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// What every session shares, read-only.
#[derive(Debug)]
struct Shared {
    jail: Jail,
    idle_timeout: Duration,
    data_timeout: Duration,
    failed_login_delay: Duration,
    log: Log,
}

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
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
        let jail = Jail::new(&config.root).map_err(|source| ServerError::Root {
            path: config.root.clone(),
            source,
        })?;
        let log = Log {
            level: config.log_level,
        };
        let listener = match config.bind {
            Some(ip) => {
                let addr = SocketAddr::new(ip, config.port);
                listen(addr, false).map_err(|source| ServerError::Bind { addr, source })?
            }
            None => {
                let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), config.port);
                // Hosts without IPv6 fall back to IPv4 only.
                listen(any6, true).or_else(|_| {
                    let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), config.port);
                    listen(any4, false).map_err(|source| ServerError::Bind { addr: any4, source })
                })?
            }
        };
        match jail.remove_stale_uploads() {
            Ok(0) => {}
            Ok(n) => eprintln!("removed {n} unfinished upload(s) left by an earlier run"),
            Err(e) => eprintln!("warning: could not remove unfinished uploads: {e}"),
        }
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                jail,
                idle_timeout: config.idle_timeout,
                data_timeout: config.data_timeout,
                failed_login_delay: FAILED_LOGIN_DELAY,
                log,
            }),
        })
    }

    /// The address actually bound (with the real port when 0 was asked).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections forever, one thread per session.
    pub fn run(&self) -> io::Result<()> {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors or memory: back off instead of spinning.
                    eprintln!("accept failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            // Replies are small and answer a request: send them at once.
            let _ = stream.set_nodelay(true);
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("session".into())
                .stack_size(SESSION_STACK_SIZE)
                .spawn(move || session::run(stream, &shared));
            if let Err(e) = spawned {
                eprintln!("cannot start a session thread: {e}");
            }
        }
    }
}
