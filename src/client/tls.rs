//! The client's TLS (RFC 4217), on rustls: whom to trust, and one
//! configuration per session so that data connections resume the control
//! connection's TLS session.
//!
//! Trust comes from the system's store of CA certificates
//! (rustls-native-certs, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`),
//! or from a PEM file of CA certificates that replaces it (`--ca-file`), or
//! from nowhere (`--insecure`): then any certificate is accepted, but the
//! handshake's signatures are still checked, so the session is at least
//! bound to the key of the certificate the server showed.
//!
//! Resumption: servers such as vsftpd (`require_ssl_reuse`), FileZilla
//! Server and `serv` refuse a protected data connection that does not
//! resume the control connection's TLS session, so that a thief who races
//! the client to a passive port gets nothing. rustls's client resumes when
//! a connection is made with the same [`ClientConfig`] (its session store)
//! and the same server name, so every [`Client`](super::Client) gets a
//! configuration of its own (`TlsConfig::session`), shared by its control
//! and data connections and by nobody else.
//!
//! Why TLS 1.2 first: a TLS 1.2 session (session ID or ticket) can be
//! resumed any number of times, by every data connection of a session. A
//! TLS 1.3 ticket is spent by rustls on one connection (its store hands a
//! ticket out once, and the ticket type can be neither copied nor
//! serialized), so over TLS 1.3 each data connection needs a ticket of its
//! own. OpenSSL servers (vsftpd, pyftpdlib, ProFTPD) send a new ticket on
//! every resumed data connection, and the supply lasts; servers that send
//! tickets only on the control connection (`serv` sends two, and none on
//! data connections, which lftp cannot take) leave the third data
//! connection nothing to resume, and it is refused. Cyberduck kept TLS 1.3
//! off for FTP for the same reason. So a session offers TLS 1.2 only, and
//! when the server cannot speak TLS 1.2 with rustls's cipher suites
//! (vsftpd 3.0.3's default `ssl_ciphers` is 3DES, which rustls does not
//! have), [`Client::connect_with`](super::Client::connect_with) tries again
//! offering TLS 1.3 ([`TlsConfig::attempts`]). [`TlsConfig::with_tls13`]
//! offers TLS 1.3 at once, for servers known to keep the ticket supply
//! going. Over TLS 1.3 the store keeps up to eight tickets, and uploads
//! read the server's last messages (its tickets among them) before
//! closing.
//!
//! What this does not do: client certificates, certificate pinning, CRLs
//! or OCSP, and CCC (a clear control connection after login).

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, Resumption, Tls12Resumption};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};

use crate::transport::Stream;

/// TLS 1.2 sessions a client's store keeps: one server, so a few are
/// plenty (rustls keeps up to eight TLS 1.3 tickets per server on top).
const SESSIONS_PER_CLIENT: usize = 4;

/// What `--insecure` prints, once per process.
pub const INSECURE_WARNING: &str = "warning: --insecure: the server's certificate is not checked; anyone on the path can read and change this session";

/// Whom a client trusts to vouch for servers' certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's CA certificates.
    System,
    /// The CA certificates in a PEM file, instead of the system's.
    CaFile(PathBuf),
    /// Nobody: any certificate is accepted (`--insecure`).
    Insecure,
}

/// Why a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the CA file {} holds no certificate (expected PEM, -----BEGIN CERTIFICATE-----)", .0.display())]
    NoCaCert(PathBuf),
    #[error("the CA file {}: no usable CA certificate in it ({reason})", path.display())]
    BadCaCert { path: PathBuf, reason: String },
    #[error("cannot set up TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Where the trusted certificates came from, to explain a refusal.
#[derive(Debug, Clone)]
enum Anchors {
    /// The system store gave this many certificates (and these errors).
    System {
        found: usize,
        errors: Vec<String>,
    },
    CaFile(PathBuf),
    Insecure,
}

/// Which TLS versions a session offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// TLS 1.2 only: one session resumed by every data connection.
    Tls12,
    /// TLS 1.3, else TLS 1.2.
    Tls13,
}

/// A client's TLS settings, made once (reading the trust store costs a few
/// milliseconds) and shared by every session; cheap to clone.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Verifier and protocol settings offering TLS 1.2 only; each session
    /// adds its own store.
    tls12: Arc<ClientConfig>,
    /// The same, offering TLS 1.3 and TLS 1.2.
    tls13: Arc<ClientConfig>,
    /// What to offer first: see [`TlsConfig::attempts`].
    first: Versions,
    anchors: Anchors,
}

/// The process's crypto provider: the one installed, else aws-lc-rs (the
/// one this crate builds rustls with).
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

impl TlsConfig {
    /// A configuration that trusts what `trust` says; sessions offer TLS
    /// 1.2 first, TLS 1.3 when the server cannot do TLS 1.2 (see the
    /// module doc for why). With [`Trust::Insecure`] a warning goes to
    /// stderr (once per process).
    pub fn new(trust: &Trust) -> Result<TlsConfig, TlsSetupError> {
        TlsConfig::make(trust, Versions::Tls12)
    }

    /// Like [`TlsConfig::new`], offering TLS 1.3 (and 1.2) at once: for
    /// servers that send a session ticket on every data connection
    /// (OpenSSL's do), so that each data connection has one to resume with.
    pub fn with_tls13(trust: &Trust) -> Result<TlsConfig, TlsSetupError> {
        TlsConfig::make(trust, Versions::Tls13)
    }

    fn make(trust: &Trust, first: Versions) -> Result<TlsConfig, TlsSetupError> {
        let provider = provider();
        let (verifier, anchors): (Verifier, Anchors) = match trust {
            Trust::System => {
                let loaded = rustls_native_certs::load_native_certs();
                let mut roots = RootCertStore::empty();
                let (found, _) = roots.add_parsable_certificates(loaded.certs);
                let errors = loaded.errors.iter().map(ToString::to_string).collect();
                (Verifier::Roots(roots), Anchors::System { found, errors })
            }
            Trust::CaFile(path) => (
                Verifier::Roots(ca_file(path)?),
                Anchors::CaFile(path.clone()),
            ),
            Trust::Insecure => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::SeqCst) {
                    eprintln!("{INSECURE_WARNING}");
                }
                (
                    Verifier::Any(Arc::new(AnyCertificate(Arc::clone(&provider)))),
                    Anchors::Insecure,
                )
            }
        };
        let build = |versions: &[&'static rustls::SupportedProtocolVersion]| {
            let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
                .with_protocol_versions(versions)?;
            let config =
                match &verifier {
                    Verifier::Roots(roots) => builder
                        .with_root_certificates(roots.clone())
                        .with_no_client_auth(),
                    Verifier::Any(any) => builder
                        .dangerous()
                        .with_custom_certificate_verifier(
                            Arc::clone(any) as Arc<dyn ServerCertVerifier>
                        )
                        .with_no_client_auth(),
                };
            Ok::<_, TlsSetupError>(Arc::new(config))
        };
        Ok(TlsConfig {
            tls12: build(&[&rustls::version::TLS12])?,
            tls13: build(&[&rustls::version::TLS13, &rustls::version::TLS12])?,
            first,
            anchors,
        })
    }

    /// The versions to offer, in turn, on fresh connections: the next is
    /// tried only when a handshake failed on versions or cipher suites.
    pub fn attempts(&self) -> &'static [Versions] {
        match self.first {
            Versions::Tls12 => &[Versions::Tls12, Versions::Tls13],
            Versions::Tls13 => &[Versions::Tls13],
        }
    }

    /// The TLS of one session with `host` (a DNS name or an IP address, as
    /// the user gave it): a configuration with a session store of its own.
    pub(super) fn session(&self, host: &str, versions: Versions) -> Result<SessionTls, String> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(bare)
            .map_err(|_| {
                format!(
                    "{host:?} cannot be checked against a certificate: it is neither a DNS name nor an IP address"
                )
            })?
            .to_owned();
        let mut config = match versions {
            Versions::Tls12 => (*self.tls12).clone(),
            Versions::Tls13 => (*self.tls13).clone(),
        };
        // A fresh store: this session's data connections resume this
        // session's control connection, never another's.
        config.resumption =
            Resumption::store(Arc::new(ClientSessionMemoryCache::new(SESSIONS_PER_CLIENT)))
                .tls12_resumption(Tls12Resumption::SessionIdOrTickets);
        Ok(SessionTls {
            config: Arc::new(config),
            name,
            anchors: self.anchors.clone(),
        })
    }
}

/// How a configuration checks certificates.
enum Verifier {
    Roots(RootCertStore),
    Any(Arc<AnyCertificate>),
}

/// The CA certificates of a PEM file.
fn ca_file(path: &Path) -> Result<RootCertStore, TlsSetupError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|source| TlsSetupError::CaFile {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCaCert(path.to_path_buf()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| TlsSetupError::BadCaCert {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

/// The TLS of one [`Client`](super::Client): its configuration (and so its
/// session store) and the server's name, for the control connection and
/// every data connection.
#[derive(Debug, Clone)]
pub(super) struct SessionTls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    anchors: Anchors,
}

impl SessionTls {
    /// Runs a client handshake on `tcp` to its end within `timeout`; the
    /// error says why it failed in words a user can act on.
    pub(super) fn connect(
        &self,
        mut tcp: TcpStream,
        timeout: Duration,
    ) -> Result<Stream, HandshakeError> {
        let mut conn =
            ClientConnection::new(Arc::clone(&self.config), self.name.clone()).map_err(|e| {
                HandshakeError {
                    reason: format!("cannot start TLS: {e}"),
                    incompatible: false,
                }
            })?;
        // The socket keeps these timeouts after the handshake: the caller
        // sets its own where it needs others (the copy loop does).
        let result = (|| {
            tcp.set_read_timeout(Some(timeout))?;
            tcp.set_write_timeout(Some(timeout))?;
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp)?;
            }
            while conn.wants_write() {
                conn.write_tls(&mut tcp)?;
            }
            Ok(())
        })();
        result.map_err(|e: io::Error| HandshakeError {
            reason: self.explain(&e),
            incompatible: incompatible(&e),
        })?;
        Ok(Stream::TlsClient(Box::new(StreamOwned::new(conn, tcp))))
    }

    /// Why a handshake failed, with what to do about a refused certificate.
    fn explain(&self, e: &io::Error) -> String {
        let rustls_error = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let Some(rustls::Error::InvalidCertificate(why)) = rustls_error else {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    "the server closed the connection during the TLS handshake".to_string()
                }
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    "the TLS handshake timed out".to_string()
                }
                _ => format!("the TLS handshake failed: {e}"),
            };
        };
        let what = match why {
            CertificateError::UnknownIssuer => {
                "it is not signed by a certificate authority this client trusts".to_string()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("it has expired ({why})")
            }
            other => other.to_string(),
        };
        let hint = match (&self.anchors, why) {
            (Anchors::System { found: 0, errors }, _) => {
                let errors = if errors.is_empty() {
                    String::new()
                } else {
                    format!(": {}", errors.join("; "))
                };
                format!(
                    "; the system trust store has no CA certificates{errors} (install them, or give --ca-file FILE with the CA that signed the server's certificate, or --insecure to skip the check)"
                )
            }
            (Anchors::System { found, .. }, CertificateError::UnknownIssuer) => format!(
                "; {found} CA certificates of the system trust store were tried (a self-signed or private CA's certificate needs --ca-file FILE with that CA, or --insecure to skip the check)"
            ),
            (Anchors::CaFile(path), CertificateError::UnknownIssuer) => {
                format!("; only the CA certificates of {} are trusted", path.display())
            }
            _ => String::new(),
        };
        format!("the server's TLS certificate was refused: {what}{hint}")
    }
}

/// Why a handshake failed.
#[derive(Debug)]
pub(super) struct HandshakeError {
    /// In words a user can act on.
    pub reason: String,
    /// On versions or cipher suites: another version might do.
    pub incompatible: bool,
}

/// True when a handshake failed because the two sides had no version or
/// cipher suite in common.
fn incompatible(e: &io::Error) -> bool {
    use rustls::AlertDescription as Alert;
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    matches!(
        rustls_error,
        Some(rustls::Error::PeerIncompatible(_))
            | Some(rustls::Error::AlertReceived(
                Alert::HandshakeFailure | Alert::ProtocolVersion | Alert::InsufficientSecurity
            ))
    )
}

/// `--insecure`: any certificate is accepted, but the handshake's
/// signatures are still checked with the provider's algorithms.
struct AnyCertificate(Arc<CryptoProvider>);

impl fmt::Debug for AnyCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyCertificate")
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
