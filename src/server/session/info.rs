//! FEAT (RFC 2389), HELP, OPTS and STAT without an argument (RFC 959
//! §4.1.3): what the server and the session say about themselves.

use super::{verbs, Session};
use crate::protocol::{Reply, ReplyCode, TransferType};
use crate::server::mlsx::FactSet;
use crate::server::transfer::Plan;

impl Session {
    pub(super) fn feat(&mut self) {
        let mlst = self.facts.feat();
        let features = self.storage().features();
        let mut lines = vec!["Features:", " EPRT", " EPSV", " MDTM", &mlst, " PASV"];
        // REST STREAM (RFC 3659 §5) only where the storage can resume.
        if features.read_at_offset {
            lines.push(" REST STREAM");
        }
        // MFMT (draft-somers-ftp-mfxx §3) only where the storage can set times.
        if features.set_modified {
            lines.push(" MFMT");
        }
        lines.extend([" SIZE", " TVFS", " UTF8"]);
        // RFC 4217 §6: only where a certificate makes AUTH TLS possible.
        if self.config.tls.available {
            lines.extend([" AUTH TLS", " PBSZ", " PROT"]);
        }
        lines.push("End");
        self.send(Reply::multi(ReplyCode::SYSTEM_STATUS, lines))
    }

    pub(super) fn help(&mut self, verb: Option<&str>) {
        match verb {
            None => self.send(Reply::multi(ReplyCode::HELP, verbs::overview())),
            Some(verb) => match verbs::help(verb) {
                Some(text) => self.reply(ReplyCode::HELP, text),
                None => self.reply(
                    ReplyCode::ARGUMENT_ERROR,
                    format!("HELP: unknown command {verb:?}"),
                ),
            },
        }
    }

    pub(super) fn opts(&mut self, option: &str) {
        let (name, value) = option.trim().split_once(' ').unwrap_or((option.trim(), ""));
        match (
            name.to_ascii_uppercase().as_str(),
            value.trim().to_ascii_uppercase().as_str(),
        ) {
            ("UTF8", "ON" | "") => self.reply(ReplyCode::COMMAND_OK, "UTF-8 is always on"),
            ("UTF8", _) => self.reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "UTF-8 cannot be turned off: names are UTF-8",
            ),
            ("MLST", _) => {
                self.facts = FactSet::parse(value);
                let selected = self.facts.selected();
                self.reply(ReplyCode::COMMAND_OK, format!("MLST OPTS {selected}"))
            }
            _ => self.reply(
                ReplyCode::ARGUMENT_ERROR,
                format!("unknown option {option:?}; try UTF8 ON or MLST"),
            ),
        }
    }

    /// STAT: the session's status, or with a path a listing over the
    /// control connection.
    pub(super) fn stat(&mut self, path: Option<&str>) {
        if let Some(path) = path {
            return self.stat_path(path);
        }
        let user = self.user().unwrap_or("nobody").to_string();
        let data = match &self.plan {
            None => "none set up".to_string(),
            Some(Plan::Passive { port }) => format!("passive, port {port}"),
            Some(Plan::Active(a)) => format!("active, to {a}"),
        };
        let ty = match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        };
        let lines = [
            "FTP server status:".to_string(),
            format!(" Connected from {}", self.peer),
            format!(" Logged in as {user}"),
            format!(" TYPE: {ty}; MODE: stream; STRU: file"),
            format!(" Data connection: {data}"),
            format!(
                " Idle timeout: {} seconds",
                self.config.idle_timeout.as_secs()
            ),
            match &self.tls.active {
                Some(tls) => format!(
                    " TLS: {}, {}; data connections {}",
                    tls.version,
                    tls.cipher_suite,
                    if self.tls.protects_data() {
                        "protected (PROT P)"
                    } else {
                        "in clear (PROT C)"
                    }
                ),
                None => " TLS: none (control and data in clear)".to_string(),
            },
            "End of status".to_string(),
        ];
        self.send(Reply::multi(ReplyCode::SYSTEM_STATUS, lines))
    }
}
