//! Other FTP servers for the client's interoperability tests: vsftpd and
//! pyftpdlib, each started as a child process of the test over a temporary
//! root on a free port of 127.0.0.1, and killed (with everything it forked)
//! when the [`Peer`] is dropped.
//!
//! Every wait here has a deadline: a peer that does not come up fails the
//! test, it never hangs the suite.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a peer may take to accept connections and greet.
pub const PEER_STARTUP: Duration = Duration::from_secs(20);

/// Which server a [`Peer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vsftpd,
    Pyftpdlib,
}

/// A running peer server; killed and reaped on drop.
pub struct Peer {
    kind: Kind,
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// The directory where anonymous users may write, on disk.
    work: PathBuf,
    /// The same directory as the client sees it.
    remote_work: &'static str,
    /// Where the peer's own output goes.
    log: PathBuf,
}

/// A port of 127.0.0.1 that was free a moment ago (bound and released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free port")
}

/// Runs `chown OWNER path` (the tests run as root).
fn chown(owner: &str, path: &Path) {
    let status = Command::new("chown")
        .arg(owner)
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("running chown {owner} {}: {e}", path.display()));
    assert!(status.success(), "chown {owner} {} failed", path.display());
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// Waits until 127.0.0.1:port sends a `220` greeting that contains
/// `banner` (so that another server which took the port is not mistaken for
/// the peer), or the child exits, or the deadline passes. True when the
/// peer greeted.
fn wait_for_greeting(child: &mut Child, port: u16, banner: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            while !got.contains(&b'\n') {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if got.starts_with(b"220") && String::from_utf8_lossy(&got).contains(banner) {
                return true;
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Peer {
    /// vsftpd in the foreground (`background=NO`) with anonymous access:
    /// the root is not writable (vsftpd refuses a writable chroot), its
    /// `pub` belongs to user `ftp` and takes uploads, directories, deletes
    /// and renames. TYPE A converts line ends both ways.
    pub fn vsftpd() -> Peer {
        let dir = tempfile::tempdir().expect("creating vsftpd's directory");
        let root = dir.path().join("root");
        let work = root.join("pub");
        let empty = dir.path().join("empty");
        fs::create_dir_all(&work).unwrap();
        fs::create_dir(&empty).unwrap();
        chown("ftp", &work);
        set_mode(&work, 0o755);
        set_mode(&root, 0o555);
        set_mode(&empty, 0o755);
        let log = dir.path().join("vsftpd.log");
        let out = dir.path().join("vsftpd.out");
        let conf = dir.path().join("vsftpd.conf");

        let mut last_output = String::new();
        for _attempt in 0..10 {
            let port = free_port();
            let text = format!(
                "listen=YES\n\
                 listen_ipv6=NO\n\
                 listen_address=127.0.0.1\n\
                 listen_port={port}\n\
                 background=NO\n\
                 seccomp_sandbox=NO\n\
                 anonymous_enable=YES\n\
                 anon_root={root}\n\
                 write_enable=YES\n\
                 anon_upload_enable=YES\n\
                 anon_mkdir_write_enable=YES\n\
                 anon_other_write_enable=YES\n\
                 anon_umask=022\n\
                 no_anon_password=YES\n\
                 secure_chroot_dir={empty}\n\
                 pasv_enable=YES\n\
                 port_enable=YES\n\
                 connect_from_port_20=NO\n\
                 local_enable=NO\n\
                 xferlog_enable=NO\n\
                 vsftpd_log_file={log}\n\
                 dual_log_enable=NO\n\
                 ftp_username=ftp\n\
                 ascii_upload_enable=YES\n\
                 ascii_download_enable=YES\n",
                root = root.display(),
                empty = empty.display(),
                log = log.display(),
            );
            fs::write(&conf, text).expect("writing vsftpd.conf");
            set_mode(&conf, 0o600);
            let output = fs::File::create(&out).expect("creating vsftpd's output file");
            let mut cmd = Command::new("/usr/sbin/vsftpd");
            cmd.arg(&conf)
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                // Its own process group: the session processes it forks
                // are killed with it.
                .process_group(0);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting /usr/sbin/vsftpd: {e}"));
            if wait_for_greeting(&mut child, port, "vsFTPd", PEER_STARTUP) {
                return Peer {
                    kind: Kind::Vsftpd,
                    child,
                    port,
                    dir,
                    work,
                    remote_work: "/pub",
                    log: out,
                };
            }
            kill_group(&mut child);
            last_output = fs::read_to_string(&out).unwrap_or_default();
        }
        panic!("vsftpd did not come up on a free port; its output:\n{last_output}");
    }

    /// pyftpdlib with an anonymous user allowed everything
    /// (`elradfmwMT`) in a temporary root; the port is the one it bound.
    pub fn pyftpdlib() -> Peer {
        Peer::start_pyftpdlib(false)
    }

    /// Like [`Peer::pyftpdlib`], but REST is refused with `502` (as by
    /// servers that cannot resume): uploads can only be completed by APPE.
    pub fn pyftpdlib_without_rest() -> Peer {
        Peer::start_pyftpdlib(true)
    }

    fn start_pyftpdlib(refuse_rest: bool) -> Peer {
        const SCRIPT: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
authorizer = DummyAuthorizer()
authorizer.add_anonymous(sys.argv[1], perm="elradfmwMT")
class Handler(FTPHandler):
    if sys.argv[2] == "norest":
        def ftp_REST(self, line):
            self.respond("502 REST not implemented here.")
Handler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), Handler)
print(server.address[1], flush=True)
server.serve_forever()
"#;
        let dir = tempfile::tempdir().expect("creating pyftpdlib's directory");
        let work = dir.path().join("root");
        fs::create_dir(&work).unwrap();
        let log = dir.path().join("pyftpdlib.log");
        let err = fs::File::create(&log).expect("creating pyftpdlib's log");
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(&work)
            .arg(if refuse_rest { "norest" } else { "rest" })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 -c (pyftpdlib): {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let port = match rx.recv_timeout(PEER_STARTUP) {
            Ok(Ok(line)) => line.trim().parse::<u16>().ok(),
            _ => None,
        };
        let Some(port) = port else {
            kill_group(&mut child);
            panic!(
                "pyftpdlib printed no port within {PEER_STARTUP:?}; its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        if !wait_for_greeting(&mut child, port, "pyftpdlib", PEER_STARTUP) {
            kill_group(&mut child);
            panic!(
                "pyftpdlib on port {port} did not greet; its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Peer {
            kind: Kind::Pyftpdlib,
            child,
            port,
            dir,
            work,
            remote_work: "/",
            log,
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The control port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The writable directory on disk (vsftpd: `<root>/pub`).
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// The writable directory as the client names it (`/pub` or `/`).
    pub fn remote_work(&self) -> &'static str {
        self.remote_work
    }

    /// A scratch directory beside the server's root, for the test's own use.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The peer's output so far (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Makes `rel` (under the writable directory) a directory the peer's
    /// anonymous user may write to.
    pub fn seed_dir(&self, rel: &str) -> PathBuf {
        let path = self.work.join(rel);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        set_mode(&path, 0o755);
        if self.kind == Kind::Vsftpd {
            chown("ftp", &path);
        }
        path
    }

    /// Writes `bytes` to `rel` under the writable directory, world-readable
    /// (vsftpd serves anonymous users only such files) and, for vsftpd,
    /// owned by `ftp` so that anonymous users may change it.
    pub fn seed_file(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work.join(rel);
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        set_mode(&path, 0o644);
        if self.kind == Kind::Vsftpd {
            chown("ftp", &path);
        }
        path
    }
}

/// Kills the child's process group (the child and whatever it forked),
/// then reaps the child.
fn kill_group(child: &mut Child) {
    let pgid = child.id();
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Peer {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// vsftpd's configuration for explicit TLS with a certificate: anonymous
/// sessions must use it for the login and for data, and data connections
/// must resume the control connection's session (`require_ssl_reuse`).
fn vsftpd_tls_conf(cert: &Path, key: &Path) -> String {
    format!(
        "ssl_enable=YES\n\
         allow_anon_ssl=YES\n\
         force_anon_logins_ssl=YES\n\
         force_anon_data_ssl=YES\n\
         require_ssl_reuse=YES\n\
         rsa_cert_file={}\n\
         rsa_private_key_file={}\n",
        cert.display(),
        key.display()
    )
}

impl Peer {
    /// Like [`Peer::vsftpd`], with explicit TLS required for anonymous
    /// logins and data (`ssl_enable=YES`, `require_ssl_reuse=YES`), serving
    /// the certificate chain `cert` and its key `key` (PEM).
    pub fn vsftpd_tls(cert: &Path, key: &Path) -> Peer {
        let dir = tempfile::tempdir().expect("creating vsftpd's directory");
        let root = dir.path().join("root");
        let work = root.join("pub");
        let empty = dir.path().join("empty");
        fs::create_dir_all(&work).unwrap();
        fs::create_dir(&empty).unwrap();
        chown("ftp", &work);
        set_mode(&work, 0o755);
        set_mode(&root, 0o555);
        set_mode(&empty, 0o755);
        let log = dir.path().join("vsftpd.log");
        let out = dir.path().join("vsftpd.out");
        let conf = dir.path().join("vsftpd.conf");

        let mut last_output = String::new();
        for _attempt in 0..10 {
            let port = free_port();
            let text = format!(
                "listen=YES\n\
                 listen_ipv6=NO\n\
                 listen_address=127.0.0.1\n\
                 listen_port={port}\n\
                 background=NO\n\
                 seccomp_sandbox=NO\n\
                 anonymous_enable=YES\n\
                 anon_root={root}\n\
                 write_enable=YES\n\
                 anon_upload_enable=YES\n\
                 anon_mkdir_write_enable=YES\n\
                 anon_other_write_enable=YES\n\
                 anon_umask=022\n\
                 no_anon_password=YES\n\
                 secure_chroot_dir={empty}\n\
                 pasv_enable=YES\n\
                 port_enable=YES\n\
                 connect_from_port_20=NO\n\
                 local_enable=NO\n\
                 xferlog_enable=NO\n\
                 vsftpd_log_file={log}\n\
                 dual_log_enable=NO\n\
                 ftp_username=ftp\n\
                 {tls}",
                root = root.display(),
                empty = empty.display(),
                log = log.display(),
                tls = vsftpd_tls_conf(cert, key),
            );
            fs::write(&conf, text).expect("writing vsftpd.conf");
            set_mode(&conf, 0o600);
            let output = fs::File::create(&out).expect("creating vsftpd's output file");
            let mut cmd = Command::new("/usr/sbin/vsftpd");
            cmd.arg(&conf)
                .stdin(Stdio::null())
                .stdout(output.try_clone().unwrap())
                .stderr(output)
                .process_group(0);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting /usr/sbin/vsftpd: {e}"));
            if wait_for_greeting(&mut child, port, "vsFTPd", PEER_STARTUP) {
                return Peer {
                    kind: Kind::Vsftpd,
                    child,
                    port,
                    dir,
                    work,
                    remote_work: "/pub",
                    log: out,
                };
            }
            kill_group(&mut child);
            last_output = fs::read_to_string(&out).unwrap_or_default();
        }
        panic!("vsftpd (TLS) did not come up on a free port; its output:\n{last_output}");
    }

    /// pyftpdlib's `TLS_FTPHandler` (pyOpenSSL) with TLS required on the
    /// control and data connections, serving the certificate chain `cert`
    /// and its key `key` (PEM); an anonymous user may do everything.
    pub fn pyftpdlib_tls(cert: &Path, key: &Path) -> Peer {
        const SCRIPT: &str = r#"
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import TLS_FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
authorizer = DummyAuthorizer()
authorizer.add_anonymous(sys.argv[1], perm="elradfmwMT")
class Handler(TLS_FTPHandler):
    certfile = sys.argv[2]
    keyfile = sys.argv[3]
    tls_control_required = True
    tls_data_required = True
Handler.authorizer = authorizer
server = FTPServer(("127.0.0.1", 0), Handler)
print(server.address[1], flush=True)
server.serve_forever()
"#;
        let dir = tempfile::tempdir().expect("creating pyftpdlib's directory");
        let work = dir.path().join("root");
        fs::create_dir(&work).unwrap();
        let log = dir.path().join("pyftpdlib.log");
        let err = fs::File::create(&log).expect("creating pyftpdlib's log");
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(&work)
            .arg(cert)
            .arg(key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting python3 -c (pyftpdlib TLS): {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = tx.send(reader.read_line(&mut line).map(|_| line));
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let port = match rx.recv_timeout(PEER_STARTUP) {
            Ok(Ok(line)) => line.trim().parse::<u16>().ok(),
            _ => None,
        };
        let Some(port) = port else {
            kill_group(&mut child);
            panic!(
                "pyftpdlib (TLS) printed no port within {PEER_STARTUP:?}; its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        };
        if !wait_for_greeting(&mut child, port, "pyftpdlib", PEER_STARTUP) {
            kill_group(&mut child);
            panic!(
                "pyftpdlib (TLS) on port {port} did not greet; its log:\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Peer {
            kind: Kind::Pyftpdlib,
            child,
            port,
            dir,
            work,
            remote_work: "/",
            log,
        }
    }
}
