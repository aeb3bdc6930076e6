//! Shared harness of the integration tests: the real `serv` binary on a free
//! port of 127.0.0.1 over a temporary root, the real `cli` binary in batch
//! mode, a raw control connection for typing commands byte by byte, external
//! programs (python3, curl) run with a deadline, and deterministic file
//! contents so that no large fixture is committed.
//!
//! Every wait here has a deadline: a hung server fails a test, it never
//! hangs the suite.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

#[cfg(feature = "s3")]
pub mod seaweed;

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to print its `listening on` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a single reply or data read may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an external process (cli, python3, curl) may run.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `serv` over a temporary root; killed and reaped on drop.
pub struct Server {
    child: Child,
    ip: IpAddr,
    port: u16,
    /// The implicit TLS listener, when `--implicit-tls-port` was given.
    implicit: Option<SocketAddr>,
    /// The metrics endpoint, when `--metrics` was given.
    metrics: Option<SocketAddr>,
    /// `<tmp>/root`, served as `/`; `<tmp>` itself is outside the jail.
    dir: tempfile::TempDir,
    root: PathBuf,
    log: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// `serv --root <tempdir>/root --bind 127.0.0.1 0`.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Like [`Server::start`] with extra options (`-v`, `--idle-timeout 5`)
    /// placed before the port.
    pub fn start_with(args: &[&str]) -> Server {
        Server::start_on("127.0.0.1", args)
    }

    /// Like [`Server::start_with`], listening on `bind` (`127.0.0.1` or
    /// `::1`) instead of 127.0.0.1.
    pub fn start_on(bind: &str, args: &[&str]) -> Server {
        Server::launch(bind, None, args, &[])
    }

    /// Like [`Server::start_on`] with exactly the `AWS_*` variables of
    /// `env` (every inherited `AWS_*` one removed: this machine sets some,
    /// like `AWS_CA_BUNDLE`, that have no business in a test).
    pub fn start_with_env(bind: &str, args: &[&str], env: &[(String, String)]) -> Server {
        Server::launch_env(bind, None, args, &[], env)
    }

    /// Serves an existing `root` (which outlives the server: for restarts
    /// on the same tree), run under `wrapper` (e.g. `["prlimit", ...]`).
    pub fn start_in(root: &Path, args: &[&str], wrapper: &[&str]) -> Server {
        Server::launch("127.0.0.1", Some(root), args, wrapper)
    }

    /// Like [`Server::start_with`], run under `wrapper` (a command that
    /// execs its arguments, such as `prlimit --fsize=N --`).
    pub fn start_wrapped(wrapper: &[&str], args: &[&str]) -> Server {
        Server::launch("127.0.0.1", None, args, wrapper)
    }

    fn launch(bind: &str, existing_root: Option<&Path>, args: &[&str], wrapper: &[&str]) -> Server {
        Server::launch_env(bind, existing_root, args, wrapper, &[])
    }

    fn launch_env(
        bind: &str,
        existing_root: Option<&Path>,
        args: &[&str],
        wrapper: &[&str],
        env: &[(String, String)],
    ) -> Server {
        let bind_ip: IpAddr = bind
            .parse()
            .unwrap_or_else(|e| panic!("--bind {bind:?} is not an address: {e}"));
        let dir = tempfile::tempdir().expect("creating the server's directory");
        let root = match existing_root {
            Some(r) => r.to_path_buf(),
            None => {
                let root = dir.path().join("root");
                fs::create_dir(&root).expect("creating the server root");
                root
            }
        };
        let serv = env!("CARGO_BIN_EXE_serv");
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(serv);
                c
            }
            None => Command::new(serv),
        };
        if !env.is_empty() {
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("AWS_") {
                    cmd.env_remove(name);
                }
            }
            cmd.envs(env.iter().map(|(k, v)| (k, v)));
        }
        cmd.arg("--root")
            .arg(&root)
            .args(["--bind", bind])
            .args(args)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting serv");

        // The log is drained on a thread so that a full pipe never blocks
        // the server; tests can read it with `log()`.
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().expect("serv stderr");
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
        });

        // The first stdout line (and, with --implicit-tls-port, the second:
        // `listening (implicit TLS) on ADDR:PORT`), read on a thread so that
        // it can time out; the thread then keeps draining stdout until the
        // server exits.
        // With --metrics, the next: `metrics on http://ADDR:PORT/metrics`.
        let implicit_tls = args.contains(&"--implicit-tls-port");
        let with_metrics = args.contains(&"--metrics");
        let stdout = child.stdout.take().expect("serv stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let mut second = String::new();
            if implicit_tls {
                let _ = reader.read_line(&mut second);
            }
            let mut metrics = String::new();
            if with_metrics {
                let _ = reader.read_line(&mut metrics);
            }
            let _ = tx.send(first.map(|first| (first, second, metrics)));
            let _ = io::copy(&mut reader, &mut io::sink());
        });
        let (line, second, metrics_line) = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(lines)) => lines,
            Ok(Err(e)) => {
                let _ = child.kill();
                panic!("reading serv's first stdout line: {e}");
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serv printed no `listening on` line within {STARTUP_TIMEOUT:?}; log:\n{}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                );
            }
        };
        let addr: SocketAddr = match line
            .trim_end()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
        {
            Some(addr) => addr,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serv's first stdout line is not `listening on ADDR:PORT`: {line:?}; log:\n{}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                );
            }
        };
        assert_eq!(addr.ip(), bind_ip, "serv listens where --bind said");
        assert_ne!(addr.port(), 0, "serv reports the real port, not 0");
        let implicit = implicit_tls.then(|| {
            let implicit: Option<SocketAddr> = second
                .trim_end()
                .strip_prefix("listening (implicit TLS) on ")
                .and_then(|a| a.parse().ok());
            let Some(implicit) = implicit else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serv's second stdout line is not `listening (implicit TLS) on ADDR:PORT`: \
                     {second:?}; log:\n{}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                );
            };
            assert_ne!(
                implicit.port(),
                0,
                "serv reports the real implicit port, not 0"
            );
            assert_ne!(addr.port(), implicit.port(), "two listeners, two ports");
            implicit
        });
        let metrics = with_metrics.then(|| {
            let metrics: Option<SocketAddr> = metrics_line
                .trim_end()
                .strip_prefix("metrics on http://")
                .and_then(|a| a.strip_suffix("/metrics"))
                .and_then(|a| a.parse().ok());
            let Some(metrics) = metrics else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serv's stdout has no `metrics on http://ADDR:PORT/metrics` line: \
                     {metrics_line:?}; log:\n{}",
                    String::from_utf8_lossy(&log.lock().unwrap())
                );
            };
            assert_ne!(metrics.port(), 0, "serv reports the real metrics port");
            metrics
        });
        Server {
            child,
            ip: addr.ip(),
            port: addr.port(),
            implicit,
            metrics,
            dir,
            root,
            log,
        }
    }

    /// The metrics endpoint (the server was started with `--metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
            .expect("the server was started without --metrics")
    }

    /// The control port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The control address (`--bind` and the real port).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.port)
    }

    /// Waits up to `timeout` for `needle` to appear in the log (log lines
    /// may be written just after the reply that a test has already read).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The served directory (`/` for clients).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory that holds the root: outside the jail, a place for
    /// files that no client may reach.
    pub fn outside(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the server wrote on stderr so far.
    /// Waits until `needle` occurs at least `count` times in the log (the
    /// log arrives through a pipe, after the replies a client already
    /// read); how many times it occurs then.
    pub fn wait_for_count(&self, needle: &str, count: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.log().matches(needle).count();
            if n >= count || Instant::now() >= deadline {
                return n;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap()).into_owned()
    }

    /// A control connection to this server (greeting not yet read).
    pub fn connect(&self) -> Control {
        Control::connect_to(self.addr())
    }

    /// A control connection logged in as anonymous.
    pub fn login(&self) -> Control {
        let mut c = self.connect();
        c.expect_greeting();
        c.login();
        c
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The server's process id (for /proc and signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the server dies at once, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished process left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code; panics if the process was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` with `stdin` as its input and a deadline; the process is
/// killed (and the test fails) if it outlives the deadline.
pub fn run_with_timeout(mut cmd: Command, stdin: &[u8], timeout: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || {
        // The program may exit without reading everything (batch mode stops
        // at the first failure): a broken pipe here is no error.
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("waiting for a child") {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err_reader.join().unwrap_or_default();
                panic!(
                    "{cmd:?} did not finish within {timeout:?}; stderr:\n{}",
                    String::from_utf8_lossy(&stderr)
                );
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    };
    let _ = writer.join();
    Output {
        status,
        stdout: String::from_utf8_lossy(&out_reader.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
    }
}

/// Runs `cli [args] 127.0.0.1 PORT` in batch mode (stdin is a pipe) in
/// `cwd`, with `commands` as its input.
pub fn run_cli(port: u16, cwd: &Path, commands: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(cwd)
        .env_remove("FTP_PASSWORD")
        // The developer's ~/.netrc must not log the tests in: a netrc that
        // does not exist is no netrc.
        .env("NETRC", cwd.join(".no-netrc-here"))
        .args(["--timeout", "20"])
        .args(args)
        .arg("127.0.0.1")
        .arg(port.to_string());
    run_with_timeout(cmd, commands.as_bytes(), PROCESS_TIMEOUT)
}

/// Runs `python3 -c script args...`.
pub fn run_python(script: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    run_with_timeout(cmd, b"", PROCESS_TIMEOUT)
}

/// Runs `curl args...` in `cwd`, never reading a user's ~/.curlrc.
pub fn run_curl(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.current_dir(cwd)
        .arg("-q")
        .args(["--max-time", "60"])
        .args(args);
    run_with_timeout(cmd, b"", PROCESS_TIMEOUT)
}

/// One reply as read from the wire: its code and every line (without CRLF).
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// All lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// A raw control connection: what a person typing into nc would see.
pub struct Control {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    port: u16,
}

impl Control {
    /// Connects to 127.0.0.1:port with read and write deadlines.
    pub fn connect(port: u16) -> Control {
        Control::connect_to(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Connects to `addr` (IPv4 or IPv6) with read and write deadlines.
    pub fn connect_to(addr: SocketAddr) -> Control {
        let stream = connect_addr_with_timeout(addr);
        let writer = stream.try_clone().unwrap();
        Control {
            reader: BufReader::new(stream),
            writer,
            port: addr.port(),
        }
    }

    /// The server's control port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Reads one whole reply: `ddd text`, or `ddd-` lines up to `ddd `.
    pub fn read_reply(&mut self) -> Reply {
        let first = self
            .read_line()
            .expect("the server closed the control connection");
        let code = parse_code(&first).unwrap_or_else(|| panic!("not a reply line: {first:?}"));
        let mut lines = vec![first.clone()];
        if first.as_bytes()[3] == b'-' {
            let end = format!("{code} ");
            loop {
                let line = self
                    .read_line()
                    .expect("the server closed the control connection inside a multi-line reply");
                let done = line.starts_with(&end) || line == code.to_string();
                lines.push(line);
                if done {
                    break;
                }
            }
        }
        Reply { code, lines }
    }

    /// One line without its line end; `None` at the end of the stream.
    pub fn read_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = self
            .reader
            .read_until(b'\n', &mut buf)
            .unwrap_or_else(|e| panic!("reading a reply line: {e}"));
        if n == 0 {
            return None;
        }
        assert!(
            buf.ends_with(b"\r\n"),
            "reply lines end with CRLF: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.truncate(buf.len() - 2);
        Some(String::from_utf8(buf).expect("replies are UTF-8"))
    }

    /// Reads the 220 greeting.
    pub fn expect_greeting(&mut self) -> Reply {
        let r = self.read_reply();
        assert_eq!(r.code, 220, "greeting: {r:?}");
        r
    }

    /// Sends raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("sending {:?}: {e}", String::from_utf8_lossy(bytes)));
    }

    /// Sends `line` followed by `ending` (`"\r\n"`, `"\n"`).
    pub fn send_line(&mut self, line: &str, ending: &str) {
        self.send_raw(format!("{line}{ending}").as_bytes());
    }

    /// Sends `line` with CRLF and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_line(line, "\r\n");
        self.read_reply()
    }

    /// Sends `line` with CRLF and asserts the reply code.
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line);
        assert_eq!(r.code, code, "reply to {line:?}: {r:?}");
        r
    }

    /// USER anonymous / PASS.
    pub fn login(&mut self) {
        self.expect("USER anonymous", 331);
        self.expect("PASS guest@example.org", 230);
    }

    /// PASV; returns the announced port (the host must be 127.0.0.1).
    pub fn pasv(&mut self) -> u16 {
        let r = self.expect("PASV", 227);
        let (host, port) =
            parse_227(&r.text()).unwrap_or_else(|| panic!("unreadable PASV reply {r:?}"));
        assert_eq!(host, "127.0.0.1", "PASV announces the control address");
        port
    }

    /// EPSV; returns the announced port.
    pub fn epsv(&mut self) -> u16 {
        let r = self.expect("EPSV", 229);
        parse_229(&r.text()).unwrap_or_else(|| panic!("unreadable EPSV reply {r:?}"))
    }

    /// Asserts that the server closes the connection (EOF without more replies).
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "bytes after the end: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            // A reset is a close too, if an unfriendly one.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("the server did not close the control connection: {e}"),
        }
    }

    /// Closes our side.
    pub fn shutdown(&mut self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// A TCP connection to 127.0.0.1:port with deadlines on every read and write.
pub fn connect_with_timeout(port: u16) -> TcpStream {
    connect_addr_with_timeout(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A TCP connection to `addr` with deadlines on every read and write.
pub fn connect_addr_with_timeout(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Reads a data connection to its end.
pub fn read_all(mut data: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    data.read_to_end(&mut v)
        .unwrap_or_else(|e| panic!("reading the data connection: {e}"));
    v
}

fn parse_code(line: &str) -> Option<u16> {
    let b = line.as_bytes();
    if b.len() < 4 || !b[..3].iter().all(u8::is_ascii_digit) || !(b[3] == b' ' || b[3] == b'-') {
        // A bare "ddd" line is a reply too.
        if b.len() == 3 && b.iter().all(u8::is_ascii_digit) {
            return line.parse().ok();
        }
        return None;
    }
    line[..3].parse().ok()
}

/// `(h1,h2,h3,h4,p1,p2)` in a 227 reply: the host and port.
pub fn parse_227(text: &str) -> Option<(String, u16)> {
    let start = text.find('(')? + 1;
    let end = start + text[start..].find(')')?;
    let n: Vec<u16> = text[start..end]
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    if n.len() != 6 || n.iter().any(|&x| x > 255) {
        return None;
    }
    Some((
        format!("{}.{}.{}.{}", n[0], n[1], n[2], n[3]),
        n[4] * 256 + n[5],
    ))
}

/// `(|||port|)` in a 229 reply.
pub fn parse_229(text: &str) -> Option<u16> {
    let start = text.find("(|||")? + 4;
    let end = start + text[start..].find("|)")?;
    text[start..end].parse().ok()
}

/// `len` bytes of deterministic pseudo-random content (xorshift64*), different
/// for each `seed`.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` pseudo-random bytes to `path` and returns them.
pub fn write_random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let bytes = pseudo_random(len, seed);
    fs::write(path, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    bytes
}

/// Asserts two byte strings are equal without printing megabytes: reports
/// the lengths and the first differing offset.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    if actual == expected {
        return;
    }
    let first_diff = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{what}: contents differ: {} bytes, expected {} bytes, first difference at offset {first_diff}",
        actual.len(),
        expected.len()
    );
}

/// Asserts the file at `path` holds exactly `expected`.
#[track_caller]
pub fn assert_file_is(path: &Path, expected: &[u8]) {
    let actual = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_same_bytes(&actual, expected, &path.display().to_string());
}

/// The names in a directory, sorted (hidden ones included).
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Accepts one connection on `listener` within `timeout`; `None` if nobody
/// connected. The accepted stream gets the usual read and write deadlines.
pub fn accept_within(listener: &TcpListener, timeout: Duration) -> Option<TcpStream> {
    listener
        .set_nonblocking(true)
        .expect("making the listener non-blocking");
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
                return Some(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accepting a data connection: {e}"),
        }
    }
}

/// `YYYYMMDDHHMMSS` in UTC (the form of MDTM and the MLSx `modify` fact),
/// computed here independently of the server's code.
pub fn utc_stamp(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a time after 1970")
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian), the plain arithmetic way.
    let (mut year, mut days_left) = (1970i64, days);
    loop {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let len = if leap { 366 } else { 365 };
        if days_left < len {
            break;
        }
        days_left -= len;
        year += 1;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 0;
    while days_left >= month_days[month] {
        days_left -= month_days[month];
        month += 1;
    }
    format!(
        "{year:04}{:02}{:02}{:02}{:02}{:02}",
        month + 1,
        days_left + 1,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The numbers of `cli mirror`'s summary line: (transferred, bytes,
/// skipped, deleted, failed).
pub fn mirror_summary(out: &Output) -> (u64, u64, u64, u64, u64) {
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("mirror: ") && l.contains(" files transferred ("))
        .unwrap_or_else(|| panic!("no summary line: {out}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap())
        .collect();
    (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4])
}

/// Polls `check` until it holds or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// `count` consecutive TCP ports of 127.0.0.1 that were free a moment ago
/// (each was bound and released): a `--pasv-ports` range for a test.
pub fn free_port_range(count: u16) -> (u16, u16) {
    // Below the kernel's ephemeral range: ports there are never handed to
    // an outgoing connection or a port-0 listener of a test running at
    // the same time, which took a port found free a moment earlier.
    let ephemeral_low: u16 = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let (floor, ceiling) = if ephemeral_low > 12000 {
        (10000u32, u32::from(ephemeral_low))
    } else {
        (u32::from(ephemeral_low), 65535)
    };
    let span = ceiling - floor - u32::from(count);
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for attempt in 0..500u32 {
        let low = (floor + seed.wrapping_add(attempt.wrapping_mul(7919)) % span) as u16;
        let high = low + count - 1;
        let held: Option<Vec<TcpListener>> = (low..=high)
            .map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.is_some() {
            return (low, high);
        }
    }
    panic!("found no {count} consecutive free ports on 127.0.0.1");
}

/// Runs `serv args...` to its end (for the options that make it exit:
/// `--hash-password`, a bad users file), with `stdin` as its input.
pub fn run_serv(args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serv"));
    cmd.args(args);
    run_with_timeout(cmd, stdin, PROCESS_TIMEOUT)
}

/// Every entry under `root` by its path relative to `root` (`/`-separated):
/// `None` for a directory, the contents for a file. Two trees are identical
/// when their maps are equal.
pub fn tree(root: &Path) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, None);
                dirs.push(path);
            } else {
                let bytes =
                    fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                out.insert(rel, Some(bytes));
            }
        }
    }
    out
}

/// Asserts two trees (from [`tree`]) are identical, naming the first
/// difference rather than printing file contents.
#[track_caller]
pub fn assert_same_tree(actual: &Path, expected: &Path) {
    let (a, e) = (tree(actual), tree(expected));
    let a_names: Vec<&String> = a.keys().collect();
    let e_names: Vec<&String> = e.keys().collect();
    assert_eq!(
        a_names,
        e_names,
        "the entries of {} and {} differ",
        actual.display(),
        expected.display()
    );
    for (name, want) in &e {
        match (&a[name], want) {
            (None, None) => {}
            (Some(got), Some(want)) => assert_same_bytes(got, want, name),
            _ => panic!("{name} is a file on one side and a directory on the other"),
        }
    }
}

impl Server {
    /// Like [`Server::start_with`] for a server given `--implicit-tls-port
    /// PORT` among `args` (0 picks a free port): also reads serv's second
    /// stdout line, `listening (implicit TLS) on ADDR:PORT`, and returns
    /// that address beside the server.
    pub fn start_implicit_tls(args: &[&str]) -> (Server, SocketAddr) {
        let server = Server::start_with(args);
        let implicit = server
            .implicit
            .expect("start_implicit_tls needs --implicit-tls-port among its arguments");
        (server, implicit)
    }
}

/// A test certificate authority and a server certificate it signed, as PEM
/// files in a directory: for TLS servers whose certificate a client checks.
pub struct TestPki {
    /// The CA's certificate (what a client trusts: `--ca-file`).
    pub ca: PathBuf,
    /// The server's certificate, then the CA's (a chain).
    pub cert: PathBuf,
    /// The server's private key (PKCS #8).
    pub key: PathBuf,
}

/// Makes a CA named `ca_name` and a server certificate for `names` (DNS
/// names or IP addresses) signed by it, written under `dir`.
pub fn test_pki(dir: &Path, ca_name: &str, names: &[&str]) -> TestPki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("generating the CA's key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, ca_name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("self-signing the CA");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().expect("generating the server's key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).expect("server certificate names");
    params
        .distinguished_name
        .push(DnType::CommonName, "test server");
    let cert = params
        .signed_by(&key, &issuer)
        .expect("signing the server's certificate");

    let pki = TestPki {
        ca: dir.join(format!("{ca_name}.pem")),
        cert: dir.join(format!("{ca_name}-server.pem")),
        key: dir.join(format!("{ca_name}-server.key")),
    };
    fs::write(&pki.ca, ca_cert.pem()).unwrap();
    fs::write(&pki.cert, format!("{}{}", cert.pem(), ca_cert.pem())).unwrap();
    fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}
