//! Logging in: USER, then PASS when the server asks for it (RFC 959
//! §4.1.1, with the reply sequences of §5.4); on TLS, then PBSZ 0 and
//! PROT P (RFC 4217 §8, §9).
//!
//! Logging in again on an open session goes through REIN first; the shell's
//! `user` command sends it with [`Client::quote`], which also forgets the
//! cached TYPE.

use super::{Client, ClientError, Result};
use crate::protocol::Command;

impl Client {
    /// Logs in; the password is sent only if the server asks for one.
    pub fn login(&mut self, user: &str, password: &str) -> Result<()> {
        // A new login (after REIN) starts from the server's defaults.
        self.transfer_type = None;
        let reply = self.expect_ok(&Command::User(user.to_string()))?;
        if reply.code().is_intermediate() {
            let reply = self.expect_ok(&Command::Pass(password.to_string()))?;
            if reply.code().is_intermediate() {
                return Err(ClientError::Protocol(format!(
                    "login failed: the server asks for an account (ACCT), which this client does not send: {} {}",
                    reply.code(),
                    reply.text()
                )));
            }
        }
        // On TLS, data connections are protected too (RFC 4217 §9): after
        // login, as some servers take PBSZ and PROT only then.
        if self.tls.is_some() {
            self.protect_data()?;
        }
        Ok(())
    }
}
