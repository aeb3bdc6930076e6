//! TLS for FTP (RFC 4217), on rustls: the server's certificate and
//! configurations, and the one rule that makes a protected data connection
//! safe to serve: it must resume the TLS session of *its own* control
//! connection.
//!
//! Why resumption: a passive port can be raced. Checking the peer's address
//! (RFC 2577) stops strangers, not a second connection from the same host
//! or NAT. A client that resumes the control connection's TLS session
//! proves it holds that session's secrets; a thief with a fresh handshake
//! cannot. vsftpd checks only that *some* session of its cache was resumed,
//! so a thief resuming the session of another of its own control
//! connections got the file; here each control connection has its own
//! session store ([`SessionStore`]), and its data connections look only
//! there ([`DataStore`], which also refuses to store sessions, so a thief's
//! full handshake cannot plant one to resume next time).
//!
//! TLS 1.2 resumes by session ID, TLS 1.3 by a ticket that names a stored
//! session (rustls's stateful tickets). FTP clients (curl, lftp, ftplib)
//! resume the *same* session or ticket for every data connection, so the
//! store hands a session out again rather than once (TLS 1.3's single-use
//! rule protects 0-RTT data, which this server never accepts). Data
//! connections send no TLS 1.3 tickets of their own: lftp closes an
//! upload's socket right after its close_notify, and a ticket arriving then
//! provokes a reset that truncates the upload.
//!
//! What this does not do: client certificates, CCC (clear control channel
//! after login), or the S and E protection levels.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, StoresServerSessions};
use rustls::sign::CertifiedKey;
use rustls::{HandshakeKind, ServerConfig, ServerConnection, StreamOwned};

use super::Stream;

/// Sessions one control connection may store: the control connection's own
/// handshakes (and TLS 1.3 tickets). A handful is plenty.
const SESSIONS_PER_CONTROL: usize = 16;

/// TLS 1.3 tickets sent on a control connection: clients resume with them.
const CONTROL_TICKETS: usize = 2;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {}: {source}", path.display())]
    Cert {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate file {} holds no certificate (expected PEM, -----BEGIN CERTIFICATE-----)", .0.display())]
    NoCert(PathBuf),
    #[error("cannot read the TLS key file {}: {source} (expected a PEM private key)", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS key {} does not fit the certificate {}: {reason}", key.display(), cert.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("cannot make a self-signed certificate: {0}")]
    SelfSigned(String),
}

/// The server's certificate, which SIGHUP may replace while sessions run.
#[derive(Debug)]
struct Reloadable {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().expect("certificate lock")))
    }
}

/// Where the certificate came from.
#[derive(Debug, Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
}

/// The server's TLS: its certificate and the configuration every session
/// derives its own from.
#[derive(Debug)]
pub struct ServerTls {
    certs: Arc<Reloadable>,
    base: Arc<ServerConfig>,
    source: Source,
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|source| TlsError::Cert {
            path: cert.to_path_buf(),
            source,
        })?
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Cert {
            path: cert.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(cert.to_path_buf()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    certified(chain, private).map_err(|reason| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason,
    })
}

/// A chain and its key, checked to belong together.
fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| e.to_string())?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| e.to_string())?;
    Ok(certified)
}

impl ServerTls {
    /// The certificate chain in `cert` and its key in `key` (PEM).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        let certified = load(cert, key)?;
        Ok(ServerTls::with(
            certified,
            Source::Files {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            },
        ))
    }

    /// A throwaway self-signed certificate for `localhost`, 127.0.0.1 and
    /// ::1, for trials.
    pub fn self_signed() -> Result<ServerTls, TlsError> {
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsError::SelfSigned(e.to_string()))?;
        let chain = vec![generated.cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let certified = certified(chain, key).map_err(TlsError::SelfSigned)?;
        Ok(ServerTls::with(certified, Source::SelfSigned))
    }

    fn with(certified: CertifiedKey, source: Source) -> ServerTls {
        let certs = Arc::new(Reloadable {
            current: RwLock::new(Arc::new(certified)),
        });
        let mut base = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certs) as Arc<dyn ResolvesServerCert>);
        // No 0-RTT: early data could be replayed, and resumed sessions are
        // handed out more than once (see the module doc).
        base.max_early_data_size = 0;
        ServerTls {
            certs,
            base: Arc::new(base),
            source,
        }
    }

    /// Reads the certificate files again (SIGHUP): new handshakes use the
    /// new pair, running sessions keep theirs. A self-signed certificate is
    /// kept as it is.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Source::Files { cert, key } = &self.source else {
            return Ok(false);
        };
        let certified = load(cert, key)?;
        *self.certs.current.write().expect("certificate lock") = Arc::new(certified);
        Ok(true)
    }

    /// The SHA-256 fingerprint of the certificate, as `openssl x509
    /// -fingerprint -sha256` writes it (`AB:CD:...`).
    pub fn fingerprint(&self) -> String {
        let current = Arc::clone(&self.certs.current.read().expect("certificate lock"));
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            current.end_entity_cert().map_or(&[][..], |c| c.as_ref()),
        );
        let mut out = String::new();
        for (i, byte) in digest.as_ref().iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            let _ = write!(out, "{byte:02X}");
        }
        out
    }

    /// The TLS of one control connection: its own session store, shared
    /// with its data connections and nobody else's.
    pub fn session(&self) -> SessionTls {
        let store = Arc::new(SessionStore::default());
        let mut control = (*self.base).clone();
        control.session_storage = Arc::clone(&store) as Arc<dyn StoresServerSessions>;
        control.send_tls13_tickets = CONTROL_TICKETS;
        let mut data = (*self.base).clone();
        data.session_storage = Arc::new(DataStore(store));
        data.send_tls13_tickets = 0;
        SessionTls {
            control: Arc::new(control),
            data: Arc::new(data),
        }
    }
}

/// The sessions of one control connection.
#[derive(Debug, Default)]
struct SessionStore {
    sessions: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl StoresServerSessions for SessionStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut sessions = self.sessions.lock().expect("session lock");
        if sessions.len() >= SESSIONS_PER_CONTROL && !sessions.contains_key(&key) {
            return false;
        }
        sessions.insert(key, value);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions
            .lock()
            .expect("session lock")
            .get(key)
            .cloned()
    }

    /// Not removed: every data connection resumes the same session (see
    /// the module doc; no 0-RTT data is ever accepted).
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// What a data connection sees of its control connection's sessions: it
/// may resume them and store none of its own.
#[derive(Debug)]
struct DataStore(Arc<SessionStore>);

impl StoresServerSessions for DataStore {
    fn put(&self, _key: Vec<u8>, _value: Vec<u8>) -> bool {
        false
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.take(key)
    }

    fn can_cache(&self) -> bool {
        false
    }
}

/// Why a protected data connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum DataTlsError {
    #[error("the TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
    #[error("the data connection did not resume the control connection's TLS session")]
    NotResumed,
}

/// One control connection's TLS configurations.
#[derive(Debug, Clone)]
pub struct SessionTls {
    control: Arc<ServerConfig>,
    data: Arc<ServerConfig>,
}

/// Runs a server handshake on `tcp` to its end within `timeout`, for the
/// whole handshake: a peer that trickles a byte now and then is cut at the
/// deadline, not kept for a timeout per read.
fn handshake(
    config: &Arc<ServerConfig>,
    mut tcp: TcpStream,
    timeout: Duration,
) -> io::Result<StreamOwned<ServerConnection, TcpStream>> {
    let mut conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
    let (read, write) = (tcp.read_timeout()?, tcp.write_timeout()?);
    let deadline = Instant::now() + timeout;
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the TLS handshake took longer than {} s", timeout.as_secs()),
            ));
        }
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))?;
        conn.complete_io(&mut tcp)?;
    }
    while conn.wants_write() {
        conn.write_tls(&mut tcp)?;
    }
    tcp.set_read_timeout(read)?;
    tcp.set_write_timeout(write)?;
    Ok(StreamOwned::new(conn, tcp))
}

impl SessionTls {
    /// The control connection's handshake (after AUTH TLS, or at once on
    /// the implicit TLS port).
    pub fn accept_control(&self, tcp: TcpStream, timeout: Duration) -> io::Result<Stream> {
        Ok(Stream::TlsServer(Box::new(handshake(
            &self.control,
            tcp,
            timeout,
        )?)))
    }

    /// A protected data connection's handshake. With `require_resumption`
    /// it must resume this control connection's session, or it is refused
    /// before a byte of data moves.
    pub fn accept_data(
        &self,
        tcp: TcpStream,
        timeout: Duration,
        require_resumption: bool,
    ) -> Result<Stream, DataTlsError> {
        let stream = handshake(&self.data, tcp, timeout).map_err(DataTlsError::Handshake)?;
        let resumed = stream.conn.handshake_kind() == Some(HandshakeKind::Resumed);
        if require_resumption && !resumed {
            return Err(DataTlsError::NotResumed);
        }
        Ok(Stream::TlsServer(Box::new(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_handed_out_again_and_data_connections_store_none() {
        let store = Arc::new(SessionStore::default());
        assert!(store.put(b"id".to_vec(), b"secret".to_vec()));
        assert_eq!(store.take(b"id").as_deref(), Some(&b"secret"[..]));
        assert_eq!(store.take(b"id").as_deref(), Some(&b"secret"[..]));
        let data = DataStore(Arc::clone(&store));
        assert!(!data.put(b"thief".to_vec(), b"x".to_vec()));
        assert_eq!(store.get(b"thief"), None);
        assert_eq!(data.get(b"id").as_deref(), Some(&b"secret"[..]));
        for i in 0..100u32 {
            store.put(i.to_be_bytes().to_vec(), vec![0]);
        }
        assert!(store.sessions.lock().unwrap().len() <= SESSIONS_PER_CONTROL);
    }

    #[test]
    fn bad_certificate_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = ServerTls::from_pem_files(&missing, &missing).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = ServerTls::from_pem_files(&empty, &empty).unwrap_err();
        assert!(matches!(err, TlsError::NoCert(_)), "{err}");
        // A key that belongs to another certificate.
        let a = rcgen::generate_simple_self_signed(vec!["a".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["b".into()]).unwrap();
        let (cert, key) = (dir.path().join("a.pem"), dir.path().join("b.key"));
        std::fs::write(&cert, a.cert.pem()).unwrap();
        std::fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        let err = ServerTls::from_pem_files(&cert, &key).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        std::fs::write(&key, a.signing_key.serialize_pem()).unwrap();
        let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
        assert_eq!(tls.fingerprint().len(), 32 * 3 - 1);
        assert!(tls.reload().unwrap());
    }
}
