//! The metrics endpoint: `GET /metrics` and nothing else (404 for another
//! path, 405 for another method), on one thread with `tiny_http`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tiny_http::{Header, Method, Response, Server};

use super::Metrics;

/// The content type of prometheus-client's text encoding (OpenMetrics,
/// which Prometheus reads as it reads its older text format).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A bound metrics endpoint, not serving yet.
pub struct Endpoint {
    server: Server,
    addr: SocketAddr,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({})", self.addr)
    }
}

impl Endpoint {
    /// Binds `addr` (port 0: any free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Endpoint> {
        let server = Server::http(addr).map_err(|e| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("cannot listen: {e}"),
            )
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the metrics listener has no IP address"))?;
        Ok(Endpoint { server, addr })
    }

    /// The address bound, with the real port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves scrapes on a thread of its own, for the life of the process.
    pub fn spawn(self, metrics: Arc<Metrics>) -> io::Result<()> {
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for request in self.server.incoming_requests() {
                    let response = answer(request.method(), request.url(), &metrics);
                    // A scraper that went away: nothing to do.
                    let _ = request.respond(response);
                }
            })
            .map(drop)
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn answer(method: &Method, url: &str, metrics: &Metrics) -> Response<io::Cursor<Vec<u8>>> {
    let path = url.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return Response::from_string("not found: the only path here is /metrics\n")
            .with_status_code(404);
    }
    if *method != Method::Get {
        return Response::from_string("method not allowed: use GET\n")
            .with_status_code(405)
            .with_header(header("Allow", "GET"));
    }
    Response::from_string(metrics.render()).with_header(header("Content-Type", CONTENT_TYPE))
}
