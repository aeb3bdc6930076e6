//! The data channel: one fresh connection per transfer or listing, for the
//! server (PASV/EPSV listeners, PORT/EPRT connections) and the client (its
//! EPRT/PORT listener).
//!
//! Passive mode (PASV/EPSV, RFC 959 §3.2 and RFC 2428 §3): the server opens a
//! listener on an ephemeral port of the control connection's local address,
//! announces it in the 227/229 reply, and accepts exactly one connection,
//! within [`DATA_ACCEPT_TIMEOUT`](crate::limits::DATA_ACCEPT_TIMEOUT).
//!
//! Only the control connection's peer may connect (RFC 2577 §"Protecting
//! Against ... Port Stealing"): otherwise anyone who guesses the port could
//! read a download or inject an upload. A stranger's connection is closed at
//! once, without a byte, and the listener keeps waiting for the rightful peer
//! until the timeout.
//!
//! In stream mode (the only mode) the end of a file *is* the orderly close of
//! the data connection, so every transfer needs its own connection.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};

use crate::limits::DATA_SOCKET_BUFFER;

/// The canonical form of an address: IPv4-mapped IPv6 (`::ffff:a.b.c.d`,
/// what a dual-stack listener reports for IPv4 clients) becomes plain IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why no data connection could be made.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("could not open a passive data port: {0}")]
    Listen(#[source] io::Error),
    #[error("no data connection: nobody connected to port {port} within {secs} seconds")]
    AcceptTimeout { port: u16, secs: u64 },
    #[error("no data connection: {0}")]
    Accept(#[source] io::Error),
    #[error("no protected data connection on port {port} within {secs} seconds: {refused} connection(s) refused ({why})")]
    TlsRefused {
        port: u16,
        secs: u64,
        refused: usize,
        why: String,
    },
    #[error("no protected data connection: {0}")]
    Tls(String),
    #[error("no free passive port: all of {low}-{high} are in use; try again shortly")]
    PortsExhausted { low: u16, high: u16 },
    #[error("could not connect to {addr} for data: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// A listener waiting for one data connection from one address.
#[derive(Debug)]
pub struct PassiveListener {
    socket: Socket,
    port: u16,
    peer: IpAddr,
}

impl PassiveListener {
    /// Listens on a port of `local` (the control connection's local
    /// address) for a connection from `peer`: an ephemeral port, or one of
    /// `ports` when a range is configured (for firewalls and NAT).
    pub fn open(
        local: IpAddr,
        peer: IpAddr,
        ports: Option<&RangeInclusive<u16>>,
    ) -> Result<PassiveListener, DataError> {
        let local = canonical_ip(local);
        let socket = match ports {
            None => bind_listener(SocketAddr::new(local, 0)).map_err(DataError::Listen)?,
            Some(range) => bind_in_range(local, range)?,
        };
        let port = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map(|a| a.port())
            .ok_or_else(|| DataError::Listen(io::Error::other("no local port")))?;
        Ok(PassiveListener {
            socket,
            port,
            peer: canonical_ip(peer),
        })
    }

    /// A second handle on the listening socket, to cut a pending accept.
    pub fn try_clone_socket(&self) -> io::Result<Socket> {
        self.socket.try_clone()
    }

    /// The port announced to the client.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits up to `timeout` for the control peer to connect; connections
    /// from any other address are closed unanswered.
    pub fn accept(self, timeout: Duration) -> Result<TcpStream, DataError> {
        self.accept_until(Instant::now() + timeout, timeout)
    }

    /// Like [`accept`](Self::accept), until `deadline`, and the listener
    /// stays usable: a connection refused later (a TLS session not
    /// resumed) lets the rightful client still connect. `timeout` is the
    /// whole wait, for the message.
    pub fn accept_until(
        &self,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<TcpStream, DataError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(DataError::AcceptTimeout {
                    port: self.port,
                    secs: timeout.as_secs(),
                });
            }
            // Linux applies SO_RCVTIMEO to accept(2): a blocking accept with a deadline.
            self.socket
                .set_read_timeout(Some(left))
                .map_err(DataError::Accept)?;
            match self.socket.accept() {
                Ok((conn, addr)) => {
                    let from = addr.as_socket().map(|a| canonical_ip(a.ip()));
                    if from == Some(self.peer) {
                        let stream: TcpStream = conn.into();
                        prepare(&stream, timeout).map_err(DataError::Accept)?;
                        return Ok(stream);
                    }
                    // A stranger (port theft): dropped here without a byte.
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DataError::Accept(e)),
            }
        }
    }
}

fn bind_listener(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // The server closes data connections first, so their ports sit in
    // TIME_WAIT for a minute; without this a small --pasv-ports range runs
    // dry after a few downloads.
    socket.set_reuse_address(true)?;
    // Set before accept so that accepted sockets inherit a large window.
    let _ = socket.set_recv_buffer_size(DATA_SOCKET_BUFFER);
    socket.bind(&addr.into())?;
    socket.listen(1)?;
    Ok(socket)
}

/// Binds a port of `range`, starting at a varying place so that sessions
/// do not all race for the same first port.
fn bind_in_range(local: IpAddr, range: &RangeInclusive<u16>) -> Result<Socket, DataError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let (low, high) = (*range.start(), *range.end());
    let span = u32::from(high - low) + 1;
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let start = seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % span;
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        match bind_listener(SocketAddr::new(local, port)) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(DataError::Listen(e)),
        }
    }
    Err(DataError::PortsExhausted { low, high })
}

/// Active mode (PORT/EPRT): connects to the client's data port from the
/// control connection's local address, so the client sees the same host.
pub fn connect_active(
    local: IpAddr,
    target: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let fail = |source| DataError::Connect {
        addr: target,
        source,
    };
    let local = canonical_ip(local);
    let target_canonical = SocketAddr::new(canonical_ip(target.ip()), target.port());
    let socket = Socket::new(
        Domain::for_address(target_canonical),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(fail)?;
    if local.is_ipv4() == target_canonical.is_ipv4() {
        socket
            .bind(&SocketAddr::new(local, 0).into())
            .map_err(fail)?;
    }
    socket
        .connect_timeout(&target_canonical.into(), timeout)
        .map_err(fail)?;
    let stream: TcpStream = socket.into();
    prepare(&stream, timeout).map_err(fail)?;
    Ok(stream)
}

/// Settings of every data connection: blocking, with a stall timeout so a
/// silent peer cannot pin a session thread forever.
pub fn prepare(stream: &TcpStream, stall: Duration) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(stall))?;
    stream.set_write_timeout(Some(stall))?;
    let _ = socket2::SockRef::from(stream).set_send_buffer_size(DATA_SOCKET_BUFFER);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::Ipv4Addr;

    #[test]
    fn the_rightful_peer_is_accepted() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let l = PassiveListener::open(lo, lo, None).unwrap();
        let port = l.port();
        let client = std::thread::spawn(move || {
            let mut s = TcpStream::connect((lo, port)).unwrap();
            s.write_all(b"hi").unwrap();
        });
        let mut conn = l.accept(Duration::from_secs(10)).unwrap();
        let mut buf = Vec::new();
        conn.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, b"hi");
        client.join().unwrap();
    }

    #[test]
    fn a_stranger_gets_nothing_and_the_listener_times_out() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // Expect a peer at 127.0.0.2: connections from 127.0.0.1 are strangers.
        let l = PassiveListener::open(lo, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), None).unwrap();
        let port = l.port();
        let thief = std::thread::spawn(move || {
            let mut s = TcpStream::connect((lo, port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            buf
        });
        let err = l.accept(Duration::from_millis(700)).unwrap_err();
        assert!(matches!(err, DataError::AcceptTimeout { .. }), "{err}");
        assert!(thief.join().unwrap().is_empty(), "the thief got bytes");
    }

    #[test]
    fn a_port_range_is_used_and_exhaustion_is_reported() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // Find a free port, then use a one-port range on it.
        let port = PassiveListener::open(lo, lo, None).unwrap().port();
        let range = port..=port;
        let first = PassiveListener::open(lo, lo, Some(&range)).unwrap();
        assert_eq!(first.port(), port);
        let second = PassiveListener::open(lo, lo, Some(&range)).unwrap_err();
        assert!(
            matches!(second, DataError::PortsExhausted { .. }),
            "{second}"
        );
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(canonical_ip(mapped), IpAddr::V4(Ipv4Addr::LOCALHOST));
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }
}
