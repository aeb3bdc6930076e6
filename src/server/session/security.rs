//! AUTH, PBSZ and PROT (RFC 2228 §3, RFC 4217 §4, §8, §9): TLS on the
//! control connection and protection of data connections.
//!
//! AUTH TLS (or its old name AUTH SSL) is answered 234 and the driver runs
//! the handshake ([`Action::StartTls`]); when it succeeds the driver says so
//! ([`Event::TlsStarted`](super::Event::TlsStarted)). PBSZ 0 then PROT P
//! protect data connections; PROT C leaves them clear, which
//! `--require-tls` refuses at the data command (521), as it refuses USER
//! before AUTH (530). REIN keeps the TLS layer (RFC 4217 §13). On the
//! implicit TLS port the handshake comes first and data connections are
//! protected from the start.
//!
//! Not offered: CCC (a clear control channel after login would expose the
//! commands again), and the S and E levels, which TLS does not have.

use super::{Action, Session};
use crate::protocol::{ProtectionLevel, ReplyCode};
use crate::transport::TlsInfo;

/// What TLS a server offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsPolicy {
    /// A certificate is configured: AUTH TLS is offered.
    pub available: bool,
    /// Refuse logins and data connections that TLS does not protect.
    pub required: bool,
}

/// TLS as one session stands.
#[derive(Debug, Default)]
pub(super) struct TlsState {
    /// AUTH was accepted and the handshake is the driver's to run.
    pub awaiting: bool,
    /// The control connection is protected: version and cipher suite.
    pub active: Option<TlsInfo>,
    /// PBSZ was given (RFC 4217 §8: before PROT).
    pub pbsz: bool,
    /// The protection of data connections (PROT).
    pub prot: Option<ProtectionLevel>,
}

impl TlsState {
    /// True when data connections are to be protected.
    pub fn protects_data(&self) -> bool {
        self.active.is_some() && self.prot == Some(ProtectionLevel::Private)
    }
}

impl Session {
    pub(super) fn auth(&mut self, mechanism: &str) {
        if !self.config.tls.available {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED,
                "AUTH is not available: this server has no TLS certificate",
            );
        }
        let mechanism = mechanism.to_ascii_uppercase();
        if !matches!(mechanism.as_str(), "TLS" | "TLS-C" | "SSL" | "TLS-P") {
            return self.reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                format!("AUTH {mechanism} is not supported; use AUTH TLS"),
            );
        }
        if self.tls.active.is_some() {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "the control connection is already protected by TLS",
            );
        }
        if self.logged_in() {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "AUTH must come before login, so that no password crosses in clear",
            );
        }
        self.tls.awaiting = true;
        self.reply(
            ReplyCode::AUTH_OK,
            format!("AUTH {mechanism} ok; start the TLS handshake"),
        );
        self.act(Action::StartTls);
    }

    /// The driver completed the handshake: after AUTH, or at once on the
    /// implicit TLS port (where data connections are protected from the
    /// start, as clients of that port expect).
    pub(super) fn tls_started(&mut self, info: TlsInfo) {
        if !std::mem::take(&mut self.tls.awaiting) {
            self.tls.pbsz = true;
            self.tls.prot = Some(ProtectionLevel::Private);
        }
        self.tls.active = Some(info);
    }

    pub(super) fn pbsz(&mut self, size: u64) {
        if self.tls.active.is_none() {
            return self.reply(ReplyCode::BAD_SEQUENCE, "send AUTH TLS before PBSZ");
        }
        self.tls.pbsz = true;
        // RFC 4217 §8: TLS needs no buffer; a client asking for one is told 0.
        let text = if size == 0 { "PBSZ=0 ok" } else { "PBSZ=0" };
        self.reply(ReplyCode::COMMAND_OK, text)
    }

    pub(super) fn prot(&mut self, level: ProtectionLevel) {
        if self.tls.active.is_none() || !self.tls.pbsz {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "send AUTH TLS and PBSZ 0 before PROT",
            );
        }
        match level {
            ProtectionLevel::Private => {
                self.tls.prot = Some(level);
                self.reply(
                    ReplyCode::COMMAND_OK,
                    "PROT P ok: data connections are protected by TLS",
                )
            }
            ProtectionLevel::Clear => {
                self.tls.prot = Some(level);
                self.reply(
                    ReplyCode::COMMAND_OK,
                    "PROT C ok: data connections are in clear",
                )
            }
            other => self.reply(
                ReplyCode::PROT_NOT_SUPPORTED,
                format!("PROT {} is not supported by TLS; use PROT P", other.code()),
            ),
        }
    }

    /// `--require-tls`: refuses a login in clear (true when refused).
    pub(super) fn refuse_clear_login(&mut self) -> bool {
        if self.config.tls.required && self.tls.active.is_none() {
            self.reply(
                ReplyCode::NOT_LOGGED_IN,
                "this server requires TLS: send AUTH TLS before USER, so that no password crosses in clear",
            );
            return true;
        }
        false
    }

    /// `--require-tls`: refuses a data connection in clear (true when refused).
    pub(super) fn refuse_clear_data(&mut self) -> bool {
        if self.config.tls.required && !self.tls.protects_data() {
            self.reply(
                ReplyCode::PROT_REFUSED,
                "this server requires protected data connections: send PBSZ 0 and PROT P",
            );
            return true;
        }
        false
    }
}
