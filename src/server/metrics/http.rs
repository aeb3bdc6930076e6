//! The metrics endpoint: `GET /metrics` and nothing else (404 for another
//! path, 405 for another method), over HTTP/1.1 (RFC 9112) with one
//! request per connection (`Connection: close`).
//!
//! Bounded on purpose: [`METRICS_WORKERS`] threads each serve one
//! connection at a time, and a connection gets [`METRICS_DEADLINE`] in all
//! to send a head of at most [`METRICS_MAX_HEAD`] bytes and take its
//! answer. A hostile client (thousands of idle connections, a head
//! trickled a byte at a time, pipelined requests it never reads the
//! answers to) can delay scrapes but neither block the endpoint for good
//! nor take threads or memory from the FTP server. No keep-alive,
//! chunked bodies, or request bodies: a scraper needs none of them.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use super::Metrics;
use crate::limits::{METRICS_DEADLINE, METRICS_MAX_HEAD, METRICS_WORKERS};

/// The content type of prometheus-client's text encoding (OpenMetrics,
/// which Prometheus reads as it reads its older text format).
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A bound metrics endpoint, not serving yet.
#[derive(Debug)]
pub struct Endpoint {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Endpoint {
    /// Binds `addr` (port 0: any free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Endpoint> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("cannot listen: {e}"),
            )
        })?;
        let addr = listener.local_addr()?;
        Ok(Endpoint { listener, addr })
    }

    /// The address bound, with the real port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves scrapes on [`METRICS_WORKERS`] threads of their own, for the
    /// life of the process.
    pub fn spawn(self, metrics: Arc<Metrics>) -> io::Result<()> {
        let listener = Arc::new(self.listener);
        for i in 0..METRICS_WORKERS {
            let listener = Arc::clone(&listener);
            let metrics = Arc::clone(&metrics);
            std::thread::Builder::new()
                .name(format!("metrics-{i}"))
                .spawn(move || loop {
                    // An accept that fails (out of descriptors, a
                    // connection reset while queued) concerns that
                    // connection only; a pause keeps a persistent failure
                    // from spinning.
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &metrics),
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                    }
                })?;
        }
        Ok(())
    }
}

/// One connection: one request, one answer, closed. Failures (the client
/// left, was too slow) end the connection and nothing else.
fn serve(mut stream: TcpStream, metrics: &Metrics) {
    let deadline = Instant::now() + METRICS_DEADLINE;
    let response = match read_head(&mut stream, deadline) {
        Ok(Some(head)) => answer(&head, metrics),
        Ok(None) => response(431, "request header fields too large\n", &[]),
        Err(_) => return,
    };
    // A client that does not read its answer is cut at the deadline (the
    // write times out).
    if write_before(&mut stream, &response, deadline).is_ok()
        && stream.shutdown(Shutdown::Write).is_ok()
    {
        // Closing with unread input would send a reset, which can destroy
        // the answer before the client reads it (a 431 to a long head): let
        // the client close first, reading what it still sends until the
        // deadline.
        let mut sink = [0u8; 1024];
        while set_timeout(&stream, deadline, TcpStream::set_read_timeout).is_ok() {
            match stream.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sets `stream`'s read or write timeout to what is left until `deadline`.
fn set_timeout(
    stream: &TcpStream,
    deadline: Instant,
    set: fn(&TcpStream, Option<std::time::Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    set(stream, Some(left))
}

/// The request head up to its blank line; `None` when it is longer than
/// [`METRICS_MAX_HEAD`].
fn read_head(stream: &mut TcpStream, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        set_timeout(stream, deadline, TcpStream::set_read_timeout)?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = end_of_head(&head) {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > METRICS_MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Where the head ends (after its first empty line, CRLF or bare LF).
fn end_of_head(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn write_before(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        set_timeout(stream, deadline, TcpStream::set_write_timeout)?;
        let n = stream.write(rest)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        rest = &rest[n..];
    }
    Ok(())
}

/// The answer to a request head.
fn answer(head: &[u8], metrics: &Metrics) -> Vec<u8> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return response(400, "bad request: expected GET /metrics HTTP/1.1\n", &[]);
    };
    if !version.starts_with("HTTP/1.") {
        return response(505, "HTTP/1.x only\n", &[]);
    }
    let path = target.split('?').next().unwrap_or_default();
    if path != "/metrics" {
        return response(404, "not found: the only path here is /metrics\n", &[]);
    }
    if method != "GET" {
        return response(405, "method not allowed: use GET\n", &[("Allow", "GET")]);
    }
    response(200, &metrics.render(), &[("Content-Type", CONTENT_TYPE)])
}

fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "HTTP Version Not Supported",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers.iter().any(|(n, _)| *n == "Content-Type") {
        out.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_first_empty_line() {
        assert_eq!(
            end_of_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest"),
            Some(27)
        );
        assert_eq!(end_of_head(b"GET / HTTP/1.1\nHost: x\n\n"), Some(24));
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn answers_name_their_status_and_length() {
        let metrics = Metrics::default();
        let text = String::from_utf8(answer(b"GET /metrics HTTP/1.1\r\n\r\n", &metrics)).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("Connection: close"));
        let bad = |req: &[u8]| String::from_utf8(answer(req, &metrics)).unwrap()[9..12].to_string();
        assert_eq!(bad(b"GET\r\n\r\n"), "400");
        assert_eq!(bad(b"GET /metrics SPDY/3\r\n\r\n"), "505");
        assert_eq!(bad(b"GET /x HTTP/1.1\r\n\r\n"), "404");
        assert_eq!(bad(b"HEAD /metrics HTTP/1.0\r\n\r\n"), "405");
    }
}
