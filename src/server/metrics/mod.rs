//! The server's counters, for `--metrics ADDR:PORT` ([`http`] serves them
//! as `GET /metrics` in the Prometheus text format, OpenMetrics flavour).
//!
//! Everything is counted where it happens: sessions and logins in the TCP
//! driver, transfers and their bytes when the driver receives a transfer's
//! outcome, bans where the defender reports one, passive ports while a
//! passive listener is open ([`PortInUse`] lives exactly as long as it).
//! Counters and gauges are atomics (prometheus-client), so they are exact
//! under any number of concurrent sessions. No metric carries a user name,
//! an address or a path: a scrape tells how busy the server is, not who
//! uses it.

pub mod http;

use std::fmt;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::log::Direction;

/// One label: `name="value"`.
type Label = [(&'static str, &'static str); 1];
/// Two labels.
type Labels = [(&'static str, &'static str); 2];

/// How a transfer ended, for `ftp_transfers_total{result=...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferResult {
    Ok,
    Failed,
    /// Cut by ABOR (or the client leaving mid-transfer).
    Aborted,
}

impl TransferResult {
    fn label(self) -> &'static str {
        match self {
            TransferResult::Ok => "ok",
            TransferResult::Failed => "failed",
            TransferResult::Aborted => "aborted",
        }
    }
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    sessions_active: Gauge,
    sessions: Counter,
    logins: Family<Label, Counter>,
    transfers: Family<Labels, Counter>,
    transfer_bytes: Family<Label, Counter>,
    bans: Counter,
    passive_ports: Gauge,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

const DIRECTIONS: [&str; 2] = ["download", "upload"];

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            sessions_active: Gauge::default(),
            sessions: Counter::default(),
            logins: Family::default(),
            transfers: Family::default(),
            transfer_bytes: Family::default(),
            bans: Counter::default(),
            passive_ports: Gauge::default(),
        };
        // Counters get their `_total` suffix from the encoder.
        let r = &mut m.registry;
        r.register(
            "ftp_sessions_active",
            "Control connections open now",
            m.sessions_active.clone(),
        );
        r.register(
            "ftp_sessions",
            "Control connections accepted (and admitted) since the start",
            m.sessions.clone(),
        );
        r.register("ftp_logins", "Password checks, by result", m.logins.clone());
        r.register(
            "ftp_transfers",
            "File transfers (RETR, STOR, APPE, STOU), by direction and result",
            m.transfers.clone(),
        );
        r.register(
            "ftp_transfer_bytes",
            "Bytes of files moved over data connections, by direction",
            m.transfer_bytes.clone(),
        );
        r.register(
            "ftp_bans",
            "Addresses banned for failed logins",
            m.bans.clone(),
        );
        r.register(
            "ftp_passive_ports_in_use",
            "Passive listeners open now",
            m.passive_ports.clone(),
        );
        // Every series exists from the start, at 0: a dashboard sees a
        // flat line, not a missing one.
        for result in ["ok", "failed"] {
            let _ = m.logins.get_or_create(&[("result", result)]);
        }
        for direction in DIRECTIONS {
            let _ = m.transfer_bytes.get_or_create(&[("direction", direction)]);
            for result in ["ok", "failed", "aborted"] {
                let _ = m
                    .transfers
                    .get_or_create(&[("direction", direction), ("result", result)]);
            }
        }
        m
    }

    /// A session began; it counts as active until the guard is dropped.
    pub fn session(self: &std::sync::Arc<Self>) -> SessionActive {
        self.sessions.inc();
        self.sessions_active.inc();
        SessionActive(std::sync::Arc::clone(self))
    }

    /// A password was checked.
    pub fn login(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.logins.get_or_create(&[("result", result)]).inc();
    }

    /// A file transfer ended (listings are not counted).
    pub fn transfer(&self, direction: Direction, result: TransferResult, bytes: u64) {
        let direction = match direction {
            Direction::Download => "download",
            Direction::Upload => "upload",
            Direction::Listing => return,
        };
        self.transfers
            .get_or_create(&[("direction", direction), ("result", result.label())])
            .inc();
        self.transfer_bytes
            .get_or_create(&[("direction", direction)])
            .inc_by(bytes);
    }

    /// An address was banned.
    pub fn ban(&self) {
        self.bans.inc();
    }

    /// A passive listener opened; it counts until the guard is dropped.
    pub fn passive_port(self: &std::sync::Arc<Self>) -> PortInUse {
        self.passive_ports.inc();
        PortInUse(std::sync::Arc::clone(self))
    }

    /// Everything, in the text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// An active session; moves with it (a parked session's too) and is
/// dropped when it ends.
#[derive(Debug)]
pub struct SessionActive(std::sync::Arc<Metrics>);

impl Drop for SessionActive {
    fn drop(&mut self) {
        self.0.sessions_active.dec();
    }
}

/// An open passive listener; moves with it (into the transfer thread) and
/// is dropped with it.
#[derive(Debug)]
pub struct PortInUse(std::sync::Arc<Metrics>);

impl Drop for PortInUse {
    fn drop(&mut self) {
        self.0.passive_ports.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn value(text: &str, series: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn every_series_is_there_from_the_start_and_counts_exactly_under_threads() {
        let metrics = Arc::new(Metrics::new());
        let text = metrics.render();
        for series in [
            "ftp_sessions_active",
            "ftp_sessions_total",
            "ftp_logins_total{result=\"ok\"}",
            "ftp_logins_total{result=\"failed\"}",
            "ftp_transfers_total{direction=\"upload\",result=\"aborted\"}",
            "ftp_transfer_bytes_total{direction=\"download\"}",
            "ftp_bans_total",
            "ftp_passive_ports_in_use",
        ] {
            assert_eq!(value(&text, series), Some(0), "{series} in\n{text}");
        }
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        let _session = metrics.session();
                        let _port = metrics.passive_port();
                        metrics.login(true);
                        metrics.transfer(Direction::Download, TransferResult::Ok, 3);
                        metrics.transfer(Direction::Listing, TransferResult::Ok, 3);
                    }
                });
            }
        });
        let _held = metrics.session();
        let text = metrics.render();
        assert_eq!(value(&text, "ftp_sessions_total"), Some(8001));
        assert_eq!(value(&text, "ftp_sessions_active"), Some(1));
        assert_eq!(value(&text, "ftp_passive_ports_in_use"), Some(0));
        assert_eq!(value(&text, "ftp_logins_total{result=\"ok\"}"), Some(8000));
        assert_eq!(
            value(
                &text,
                "ftp_transfers_total{direction=\"download\",result=\"ok\"}"
            ),
            Some(8000)
        );
        assert_eq!(
            value(&text, "ftp_transfer_bytes_total{direction=\"download\"}"),
            Some(24000)
        );
    }
}
