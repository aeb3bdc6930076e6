//! A data connection's life (RFC 959 §3.2): setting it up, the replies that
//! open and close a transfer on it, and aborting it (ABOR, RFC 959 §4.1.3).
//!
//! Passive mode (the default): EPSV first (RFC 2428 §3, works over IPv4 and
//! IPv6 and through NAT), PASV (RFC 959 §4.1.2) when the server refuses EPSV
//! with 5xx. The address in a 227 reply is not trusted: the data connection
//! goes to the control connection's peer (as curl does), which defeats a
//! server that would point the client at a third host and works behind NAT.
//! Active mode: EPRT (RFC 2428 §2), then PORT; the listener accepts only
//! the server's address.
//!
//! Under PROT P (RFC 4217 §9) each data connection is a TLS client, whoever
//! connected to whom, with the control connection's configuration, so it
//! resumes that session: servers refuse data connections that do not (a
//! thief racing to the passive port has no session to resume). The
//! handshake runs once the server has answered the transfer command with
//! 1yz, since servers accept the TLS connection only then, and before any
//! byte of data.
//!
//! ABOR on TLS goes as an ordinary command: the Telnet Synch's urgent byte
//! would land in the middle of the TLS records and break them.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{connect_reason, describe, Client, ClientError, Result};
use crate::protocol::address::{find_epsv_port, find_host_port};
use crate::protocol::command::EpsvMode;
use crate::protocol::{Command, Reply, ReplyCode};
use crate::transport::data::{canonical_ip, PassiveListener};
use crate::transport::Stream;

/// A data connection being set up.
enum Pending {
    Passive(TcpStream),
    Active(PassiveListener),
}

impl Client {
    /// Sets up a data connection (EPSV/PASV or EPRT/PORT).
    fn prepare_data(&mut self) -> Result<Pending> {
        if self.passive {
            let addr = self.passive_address()?;
            let data = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| {
                ClientError::Connect {
                    target: format!("the data port {addr}"),
                    reason: connect_reason(&e),
                }
            })?;
            Ok(Pending::Passive(data))
        } else {
            self.active_listener().map(Pending::Active)
        }
    }

    /// Asks for a passive data port: EPSV, then PASV if the server refuses
    /// EPSV with 5xx. Returns where to connect.
    fn passive_address(&mut self) -> Result<SocketAddr> {
        if !self.epsv_refused {
            let reply = self.send(&Command::Epsv(EpsvMode::Any))?;
            if reply.code() == ReplyCode::ENTERING_EXTENDED_PASSIVE {
                let port = find_epsv_port(&reply.text()).ok_or_else(|| {
                    ClientError::Protocol(format!(
                        "could not read a port in the EPSV reply {:?}",
                        reply.text()
                    ))
                })?;
                return Ok(SocketAddr::new(self.peer.ip(), port));
            }
            if reply.code().as_u16() < 500 {
                // 4xx: a passing failure (no free port), not a missing feature.
                return Err(ClientError::Refused {
                    command: "EPSV".into(),
                    reply,
                });
            }
            // 500/502 and friends: an older server; remember and use PASV.
            self.epsv_refused = true;
        }
        if !canonical_ip(self.peer.ip()).is_ipv4() {
            return Err(ClientError::Protocol(
                "the server refused EPSV and PASV cannot work over IPv6".into(),
            ));
        }
        let reply = self.expect_ok(&Command::Pasv)?;
        let addr = find_host_port(&reply.text()).ok_or_else(|| {
            ClientError::Protocol(format!(
                "could not read an address in the PASV reply {:?}",
                reply.text()
            ))
        })?;
        Ok(SocketAddr::new(self.peer.ip(), addr.port()))
    }

    /// Active mode: a listener on our side of the control connection,
    /// announced with EPRT, or PORT if the server refuses EPRT.
    fn active_listener(&mut self) -> Result<PassiveListener> {
        let listener = PassiveListener::open(self.local.ip(), self.peer.ip(), None)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let addr = SocketAddr::new(canonical_ip(self.local.ip()), listener.port());
        if !self.eprt_refused {
            let reply = self.send(&Command::Eprt(addr))?;
            if reply.code().is_completion() {
                return Ok(listener);
            }
            if reply.code().as_u16() < 500 {
                return Err(ClientError::Refused {
                    command: "EPRT".into(),
                    reply,
                });
            }
            self.eprt_refused = true;
        }
        let SocketAddr::V4(v4) = addr else {
            return Err(ClientError::Protocol(
                "the server refused EPRT and PORT cannot work over IPv6".into(),
            ));
        };
        self.expect_ok(&Command::Port(v4))?;
        Ok(listener)
    }

    /// Opens the data connection, sends `command` and checks its
    /// preliminary reply. Returns the connection to read or write.
    pub(super) fn start_transfer(&mut self, command: &Command) -> Result<Stream> {
        let pending = self.prepare_data()?;
        let reply = self.send(command)?;
        if !reply.code().is_preliminary() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
        let tcp = match pending {
            Pending::Passive(data) => data,
            Pending::Active(listener) => match listener.accept(self.timeout) {
                Ok(data) => data,
                Err(e) => {
                    // The server will answer the failed transfer (425 or
                    // so): read it, or the next command gets it instead.
                    let _ = self.read_reply("waiting for the end of the failed transfer");
                    return Err(ClientError::Protocol(e.to_string()));
                }
            },
        };
        let tls = match (&self.tls, self.data_protected) {
            (Some(tls), true) => tls.clone(),
            _ => return Ok(Stream::Plain(tcp)),
        };
        match tls.connect(tcp, self.timeout) {
            Ok(data) => {
                self.last_data_tls = data.tls_info();
                Ok(data)
            }
            Err(e) => {
                // The server still waits for a data connection: ABOR, so
                // its replies do not answer the next command.
                let _ = self.abort_transfer();
                Err(ClientError::Tls {
                    target: format!("the data connection of {}", command.verb()),
                    reason: e.reason,
                })
            }
        }
    }

    /// Reads the reply that ends a transfer; it must be 2yz.
    pub(super) fn finish_transfer(&mut self, command: &Command) -> Result<Reply> {
        let reply = self.read_reply(&format!("waiting for the end of {}", command.verb()))?;
        if !reply.code().is_completion() {
            return Err(ClientError::Refused {
                command: describe(command),
                reply,
            });
        }
        Ok(reply)
    }

    /// Aborts the running transfer (RFC 959 §4.1.3): Telnet IP and Synch,
    /// then ABOR; reads the transfer's reply and ABOR's.
    pub(super) fn abort(&mut self, data: Stream) -> Result<()> {
        drop(data);
        self.abort_transfer()
    }

    /// ABOR, once the data connection is gone; reads the transfer's reply
    /// and ABOR's.
    fn abort_transfer(&mut self) -> Result<()> {
        // IAC IP, then IAC DM sent as urgent data: servers such as vsftpd
        // only notice a command during a transfer through SIGURG. On TLS
        // the urgent byte would corrupt the records (and servers read TLS
        // control connections while a transfer runs anyway): ABOR alone.
        if !self.control.get_ref().is_tls() {
            let _ = self.control.get_mut().write_all(&[0xff, 0xf4, 0xff]);
            let _ = socket2::SockRef::from(self.control.get_ref().tcp()).send_out_of_band(&[0xf2]);
        }
        self.write_line("ABOR", b"ABOR\r\n")?;
        let first = self.read_reply("waiting for the reply to ABOR")?;
        // 426 (transfer aborted) is followed by ABOR's own 226; a transfer
        // that had just finished gives its 226 and then ABOR's 225 or 226.
        let control = self.control.get_ref().tcp();
        let _ = control.set_read_timeout(Some(Duration::from_secs(2)));
        let second = if first.code().is_failure() {
            Some(self.read_reply("waiting for the reply to ABOR"))
        } else {
            self.control.read_reply().ok().map(Ok)
        };
        let _ = self
            .control
            .get_ref()
            .tcp()
            .set_read_timeout(Some(self.timeout));
        if let Some(second) = second {
            second?;
        }
        Ok(())
    }
}
