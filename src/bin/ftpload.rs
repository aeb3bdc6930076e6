//! `ftpload`: a load generator for any FTP server.
//!
//! ```text
//! ftpload --host H --port P [--user U --password P] SCENARIO [options] [--json]
//! ```
//!
//! Scenarios:
//!
//! - `retr --file NAME --rounds N`: one session downloads NAME N times into
//!   a sink (nothing is written anywhere); MiB/s per round and the median.
//! - `stor --size BYTES --rounds N`: one session uploads BYTES of zeros N
//!   times (no local file is read); MiB/s per round and the median.
//! - `small --file NAME --count N`: one session downloads NAME N times
//!   (a small file: measures per-transfer overhead); files/s.
//! - `concurrent --sessions C --file NAME`: C threads start together, each
//!   connects, logs in and downloads NAME once; total time, failures and
//!   p50/p99 latency (connect to the end of the transfer).
//! - `idle --sessions C --hold SECS [--server-pid PID]`: C logged-in
//!   sessions held open for SECS; with `--server-pid`, the resident memory
//!   of PID and all its descendants (from `/proc`) before connecting and at
//!   the end of the hold, and the difference per session. At the end every
//!   session is checked with NOOP, so "held" counts sessions still alive.
//!
//! Transfers use the project's [`ftp::client::Client`] (passive mode, TYPE
//! I), so they measure the server and this client library together. Idle
//! sessions use one raw `TcpStream` each (the library's client keeps two
//! descriptors per session) with the library's line reader and command
//! writer, so 10,000 sessions fit in a 20,000-descriptor limit.
//!
//! Output is a table on stdout, or one JSON object with `--json` (for
//! `bench/`). The exit status is 0 even when some sessions failed: failures
//! are part of the result; it is 1 when the scenario could not run at all.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use ftp::client::{Client, StoreMode};
use ftp::protocol::{Command, Reply};
use ftp::transport::control::{write_command, LineReader};

const MIB: f64 = 1024.0 * 1024.0;

/// Load generator for FTP servers: large transfers, many small files, many
/// concurrent or idle sessions.
#[derive(Debug, Parser)]
#[command(name = "ftpload", version)]
struct Args {
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,

    /// Server control port.
    #[arg(long)]
    port: u16,

    /// User name to log in as.
    #[arg(long, default_value = "anonymous")]
    user: String,

    /// Password (anonymous servers take any).
    #[arg(long, default_value = "ftpload@example.com")]
    password: String,

    /// Seconds to wait for a connection, a reply or data before giving up.
    #[arg(long, default_value_t = 60, global = true)]
    timeout: u64,

    /// Print one JSON object instead of a table.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Large download throughput: RETR FILE, ROUNDS times, into a sink.
    Retr {
        /// Remote file to download.
        #[arg(long)]
        file: String,
        /// How many downloads.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Large upload throughput: STOR SIZE bytes of zeros, ROUNDS times.
    Stor {
        /// Bytes per upload.
        #[arg(long)]
        size: u64,
        /// How many uploads.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Remote name to upload to (replaced each round).
        #[arg(long, default_value = "ftpload.bin")]
        name: String,
    },
    /// Per-transfer overhead: COUNT downloads of a small FILE over one session.
    Small {
        /// Remote (small) file to download.
        #[arg(long)]
        file: String,
        /// How many downloads.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// SESSIONS sessions at once, each connect + login + RETR FILE.
    Concurrent {
        /// How many sessions.
        #[arg(long)]
        sessions: usize,
        /// Remote file each session downloads.
        #[arg(long)]
        file: String,
        /// Stack size of each session thread, in KiB.
        #[arg(long, default_value_t = 128)]
        stack_kib: usize,
    },
    /// SESSIONS logged-in sessions held open for HOLD seconds.
    Idle {
        /// How many sessions.
        #[arg(long)]
        sessions: usize,
        /// Seconds to hold them once all are open.
        #[arg(long, default_value_t = 10)]
        hold: u64,
        /// Server process whose memory (with all its descendants) is sampled.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Threads opening sessions in parallel.
        #[arg(long, default_value_t = 16)]
        connectors: usize,
    },
}

/// One value of a report.
#[derive(Debug, Clone)]
enum Value {
    Int(u64),
    /// A number and its unit (the unit shows in the table only).
    Num(f64, &'static str),
    Text(String),
    List(Vec<f64>, &'static str),
}

/// A scenario's result: named values in order.
#[derive(Debug, Default)]
struct Report {
    fields: Vec<(&'static str, Value)>,
}

impl Report {
    fn int(&mut self, key: &'static str, v: impl TryInto<u64>) -> &mut Self {
        let v = v.try_into().unwrap_or(u64::MAX);
        self.fields.push((key, Value::Int(v)));
        self
    }
    fn num(&mut self, key: &'static str, v: f64, unit: &'static str) -> &mut Self {
        self.fields.push((key, Value::Num(v, unit)));
        self
    }
    fn text(&mut self, key: &'static str, v: impl Into<String>) -> &mut Self {
        self.fields.push((key, Value::Text(v.into())));
        self
    }
    fn list(&mut self, key: &'static str, v: Vec<f64>, unit: &'static str) -> &mut Self {
        self.fields.push((key, Value::List(v, unit)));
        self
    }

    fn table(&self) -> String {
        let width = self.fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in &self.fields {
            let shown = match value {
                Value::Int(n) => n.to_string(),
                Value::Num(x, unit) => format!("{} {unit}", round(*x)).trim_end().to_string(),
                Value::Text(s) => s.clone(),
                Value::List(xs, unit) => {
                    let items: Vec<String> = xs.iter().map(|x| round(*x)).collect();
                    format!("{} {unit}", items.join(", "))
                        .trim_end()
                        .to_string()
                }
            };
            let _ = writeln!(out, "{key:<width$}  {shown}");
        }
        out
    }

    fn json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}: ", json_string(key));
            match value {
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Num(x, _) => out.push_str(&json_number(*x)),
                Value::Text(s) => out.push_str(&json_string(s)),
                Value::List(xs, _) => {
                    let items: Vec<String> = xs.iter().map(|x| json_number(*x)).collect();
                    let _ = write!(out, "[{}]", items.join(", "));
                }
            }
        }
        out.push('}');
        out
    }
}

/// Three significant decimals for small numbers, one for large.
fn round(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_string()
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The value at quantile `q` (0..=1) of `sorted`, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Where to connect and how to log in.
#[derive(Debug, Clone)]
struct Target {
    host: String,
    port: u16,
    user: String,
    password: String,
    timeout: Duration,
}

impl Target {
    fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// A logged-in client in TYPE I.
    fn session(&self) -> Result<Client> {
        let mut client = Client::connect(&self.host, self.port, self.timeout)
            .with_context(|| format!("connecting to {}", self.name()))?;
        client
            .login(&self.user, &self.password)
            .with_context(|| format!("logging in as {}", self.user))?;
        Ok(client)
    }
}

fn main() {
    let args = Args::parse();
    let json = args.json;
    match run(args) {
        Ok(report) => {
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.table());
            }
        }
        Err(e) => {
            eprintln!("ftpload: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run(args: Args) -> Result<Report> {
    let target = Target {
        host: args.host,
        port: args.port,
        user: args.user,
        password: args.password,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    match args.scenario {
        Scenario::Retr { file, rounds } => retr(&target, &file, rounds),
        Scenario::Stor { size, rounds, name } => stor(&target, size, rounds, &name),
        Scenario::Small { file, count } => small(&target, &file, count),
        Scenario::Concurrent {
            sessions,
            file,
            stack_kib,
        } => concurrent(&target, &file, sessions, stack_kib),
        Scenario::Idle {
            sessions,
            hold,
            server_pid,
            connectors,
        } => idle(&target, sessions, hold, server_pid, connectors),
    }
}

/// Speeds of timed transfers of `bytes` each: per-round MiB/s, median, best.
fn throughput_report(report: &mut Report, bytes: u64, seconds: &[f64]) {
    let speeds: Vec<f64> = seconds.iter().map(|s| bytes as f64 / MIB / s).collect();
    let best = speeds.iter().copied().fold(f64::NAN, f64::max);
    report
        .int("bytes", bytes)
        .list("seconds", seconds.to_vec(), "s")
        .list("mib_s", speeds.clone(), "MiB/s")
        .num("median_mib_s", median(&speeds), "MiB/s")
        .num("best_mib_s", best, "MiB/s");
}

fn retr(target: &Target, file: &str, rounds: usize) -> Result<Report> {
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let mut client = target.session()?;
    let mut seconds = Vec::with_capacity(rounds);
    let mut bytes = 0;
    for round in 1..=rounds {
        let started = Instant::now();
        let n = client
            .retrieve(file, &mut io::sink(), 0, &mut |_| {})
            .with_context(|| format!("round {round}: RETR {file}"))?;
        seconds.push(started.elapsed().as_secs_f64());
        if round > 1 && n != bytes {
            bail!("round {round}: RETR {file} gave {n} bytes, round 1 gave {bytes}");
        }
        bytes = n;
    }
    let _ = client.quit();
    let mut report = Report::default();
    report
        .text("scenario", "retr")
        .text("server", target.name())
        .text("file", file)
        .int("rounds", rounds);
    throughput_report(&mut report, bytes, &seconds);
    Ok(report)
}

fn stor(target: &Target, size: u64, rounds: usize, name: &str) -> Result<Report> {
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let mut client = target.session()?;
    let mut seconds = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let mut zeros = io::repeat(0).take(size);
        let started = Instant::now();
        let n = client
            .store(&mut zeros, name, StoreMode::Replace, &mut |_| {})
            .with_context(|| format!("round {round}: STOR {name}"))?;
        seconds.push(started.elapsed().as_secs_f64());
        if n != size {
            bail!("round {round}: STOR {name} sent {n} bytes, not {size}");
        }
    }
    let _ = client.quit();
    let mut report = Report::default();
    report
        .text("scenario", "stor")
        .text("server", target.name())
        .text("file", name)
        .int("rounds", rounds);
    throughput_report(&mut report, size, &seconds);
    Ok(report)
}

fn small(target: &Target, file: &str, count: usize) -> Result<Report> {
    if count == 0 {
        bail!("--count must be at least 1");
    }
    let mut client = target.session()?;
    // One transfer outside the clock: TYPE I and the first directory lookup.
    let size = client
        .retrieve(file, &mut io::sink(), 0, &mut |_| {})
        .with_context(|| format!("RETR {file}"))?;
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 1..=count {
        let t = Instant::now();
        let n = client
            .retrieve(file, &mut io::sink(), 0, &mut |_| {})
            .with_context(|| format!("transfer {i}: RETR {file}"))?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        if n != size {
            bail!("transfer {i}: RETR {file} gave {n} bytes, not {size}");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = client.quit();
    latencies.sort_by(f64::total_cmp);
    let mut report = Report::default();
    report
        .text("scenario", "small")
        .text("server", target.name())
        .text("file", file)
        .int("file_bytes", size)
        .int("count", count)
        .num("seconds", elapsed, "s")
        .num("files_s", count as f64 / elapsed, "files/s")
        .num("p50_ms", quantile(&latencies, 0.5), "ms")
        .num("p99_ms", quantile(&latencies, 0.99), "ms");
    Ok(report)
}

/// What one concurrent session did.
struct Outcome {
    /// From the common start to the end of its transfer.
    finished: Duration,
    /// The bytes received, or why the session failed.
    result: Result<u64>,
}

fn concurrent(target: &Target, file: &str, sessions: usize, stack_kib: usize) -> Result<Report> {
    if sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    // Every thread waits here, then all start together.
    let gate = Arc::new(Barrier::new(sessions + 1));
    let start: Arc<Mutex<Option<Instant>>> = Arc::default();
    let mut handles = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let gate = Arc::clone(&gate);
        let start = Arc::clone(&start);
        let target = target.clone();
        let file = file.to_string();
        let spawned = thread::Builder::new()
            .name(format!("session-{i}"))
            .stack_size(stack_kib.max(32) * 1024)
            .spawn(move || {
                gate.wait();
                let t0 = start.lock().expect("start lock").expect("start set");
                let result = target.session().and_then(|mut client| {
                    let n = client
                        .retrieve(&file, &mut io::sink(), 0, &mut |_| {})
                        .with_context(|| format!("RETR {file}"))?;
                    let finished = t0.elapsed();
                    let _ = client.quit();
                    Ok((n, finished))
                });
                match result {
                    Ok((n, finished)) => Outcome {
                        finished,
                        result: Ok(n),
                    },
                    Err(e) => Outcome {
                        finished: t0.elapsed(),
                        result: Err(e),
                    },
                }
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                // The threads already waiting end with the process.
                bail!("starting session thread {i} of {sessions}: {e} (raise ulimit -u or lower --stack-kib)");
            }
        }
    }
    *start.lock().expect("start lock") = Some(Instant::now());
    let t0 = Instant::now();
    gate.wait();
    let mut latencies = Vec::with_capacity(sessions);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut bytes = 0u64;
    for h in handles {
        let outcome = h.join().map_err(|_| anyhow!("a session thread panicked"))?;
        match outcome.result {
            Ok(n) => {
                bytes += n;
                latencies.push(outcome.finished.as_secs_f64());
            }
            Err(e) => *errors.entry(format!("{e:#}")).or_default() += 1,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let ok = latencies.len();
    let failures = sessions - ok;
    // The last successful transfer's end: the time to serve everyone.
    let total = latencies.last().copied().unwrap_or(wall);
    let mut report = Report::default();
    report
        .text("scenario", "concurrent")
        .text("server", target.name())
        .text("file", file)
        .int("sessions", sessions)
        .int("ok", ok)
        .int("failures", failures)
        .num("total_s", total, "s")
        .num("wall_s", wall, "s")
        .num("mib_s", bytes as f64 / MIB / total, "MiB/s")
        .num("p50_ms", quantile(&latencies, 0.5) * 1e3, "ms")
        .num("p99_ms", quantile(&latencies, 0.99) * 1e3, "ms")
        .num("max_ms", quantile(&latencies, 1.0) * 1e3, "ms");
    report.text("errors", error_summary(&errors));
    Ok(report)
}

/// The three most frequent errors, as `COUNTx message; ...`.
fn error_summary(errors: &BTreeMap<String, usize>) -> String {
    let mut by_count: Vec<(&String, &usize)> = errors.iter().collect();
    by_count.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    let top: Vec<String> = by_count
        .iter()
        .take(3)
        .map(|(e, n)| format!("{n}x {e}"))
        .collect();
    top.join("; ")
}

/// Resident memory of a process tree, from /proc.
#[derive(Debug, Clone, Copy, Default)]
struct TreeMemory {
    processes: usize,
    threads: u64,
    /// Open file descriptors, summed over the processes.
    fds: usize,
    rss_kib: u64,
    /// Proportional set size: shared pages divided among their users.
    pss_kib: u64,
}

/// `pid` and every process descended from it.
fn process_tree(pid: u32) -> Result<Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").context("listing /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes come and go while we look: skip the ones gone.
        let Ok(stat) = fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            children.entry(ppid).or_default().push(p);
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = children.get(&tree[i]) {
            tree.extend(kids);
        }
        i += 1;
    }
    Ok(tree)
}

/// The number in a `Name:   1234 kB` (or `Name:  12`) line of a /proc
/// status-like file.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn tree_memory(pid: u32) -> Result<TreeMemory> {
    if !fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.is_dir()) {
        bail!("no process {pid}");
    }
    let mut mem = TreeMemory::default();
    for p in process_tree(pid)? {
        let Ok(status) = fs::read_to_string(format!("/proc/{p}/status")) else {
            continue;
        };
        mem.processes += 1;
        mem.threads += kib_field(&status, "Threads:").unwrap_or(0);
        mem.fds += fs::read_dir(format!("/proc/{p}/fd")).map_or(0, |d| d.count());
        mem.rss_kib += kib_field(&status, "VmRSS:").unwrap_or(0);
        if let Ok(rollup) = fs::read_to_string(format!("/proc/{p}/smaps_rollup")) {
            mem.pss_kib += kib_field(&rollup, "Pss:").unwrap_or(0);
        }
    }
    Ok(mem)
}

/// Reads one reply on a raw control connection.
fn reply(reader: &mut LineReader<&TcpStream>, waiting_for: &str) -> Result<Reply> {
    reader
        .read_reply()
        .with_context(|| format!("waiting for {waiting_for}"))
}

/// One logged-in session on a single descriptor.
fn idle_session(addr: SocketAddr, target: &Target) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, target.timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream
        .set_read_timeout(Some(target.timeout))
        .context("setting a read timeout")?;
    let _ = stream.set_nodelay(true);
    let mut reader = LineReader::new(&stream);
    let mut greeting = reply(&mut reader, "the greeting")?;
    while greeting.code().is_preliminary() {
        greeting = reply(&mut reader, "the greeting")?;
    }
    if !greeting.code().is_completion() {
        bail!("greeting: {} {}", greeting.code(), greeting.text());
    }
    write_command(&stream, &Command::User(target.user.clone())).context("sending USER")?;
    let mut answer = reply(&mut reader, "the reply to USER")?;
    if answer.code().is_intermediate() {
        write_command(&stream, &Command::Pass(target.password.clone())).context("sending PASS")?;
        answer = reply(&mut reader, "the reply to PASS")?;
    }
    if !answer.code().is_completion() {
        bail!("login: {} {}", answer.code(), answer.text());
    }
    if reader.has_buffered() {
        bail!("the server sent more than the login replies");
    }
    Ok(stream)
}

/// True when the session still answers NOOP with 200.
fn alive(stream: &TcpStream) -> bool {
    let mut reader = LineReader::new(stream);
    write_command(stream, &Command::Noop).is_ok()
        && reader.read_reply().is_ok_and(|r| r.code().is_completion())
}

fn idle(
    target: &Target,
    sessions: usize,
    hold: u64,
    server_pid: Option<u32>,
    connectors: usize,
) -> Result<Report> {
    if sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    let addr = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", target.host))?
        .next()
        .ok_or_else(|| anyhow!("{} has no addresses", target.host))?;
    let before = server_pid.map(tree_memory).transpose()?;

    let next = Arc::new(AtomicUsize::new(0));
    let opened: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::with_capacity(sessions)));
    let errors: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..connectors.clamp(1, sessions) {
        let next = Arc::clone(&next);
        let opened = Arc::clone(&opened);
        let errors = Arc::clone(&errors);
        let target = target.clone();
        let worker = thread::Builder::new()
            .name(format!("connector-{i}"))
            .stack_size(128 * 1024)
            .spawn(move || {
                // After this many failures in a row the server has reached
                // its limit; stop instead of hammering it.
                let mut failed_in_row = 0;
                while next.fetch_add(1, Ordering::SeqCst) < sessions && failed_in_row < 50 {
                    match idle_session(addr, &target) {
                        Ok(s) => {
                            failed_in_row = 0;
                            opened.lock().expect("opened lock").push(s);
                        }
                        Err(e) => {
                            failed_in_row += 1;
                            *errors
                                .lock()
                                .expect("errors lock")
                                .entry(format!("{e:#}"))
                                .or_default() += 1;
                        }
                    }
                }
            })
            .context("starting a connector thread")?;
        workers.push(worker);
    }
    for w in workers {
        w.join()
            .map_err(|_| anyhow!("a connector thread panicked"))?;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let streams = std::mem::take(&mut *opened.lock().expect("opened lock"));
    let established = streams.len();

    thread::sleep(Duration::from_secs(hold));
    let during = server_pid.map(tree_memory).transpose()?;
    let held = streams.iter().filter(|s| alive(s)).count();
    drop(streams);

    let failures: usize = errors.lock().expect("errors lock").values().sum();
    let mut report = Report::default();
    report
        .text("scenario", "idle")
        .text("server", target.name())
        .int("sessions", sessions)
        .int("established", established)
        .int("held", held)
        .int("failures", failures)
        .num("connect_s", connect_s, "s")
        .int("hold_s", hold);
    if let (Some(before), Some(during)) = (before, during) {
        let per = |a: u64, b: u64| {
            if established == 0 {
                f64::NAN
            } else {
                (a as f64 - b as f64) / established as f64
            }
        };
        report
            .int("server_processes", during.processes)
            .int("server_threads", during.threads)
            .int("server_fds", during.fds)
            .int("rss_before_kib", before.rss_kib)
            .int("rss_held_kib", during.rss_kib)
            .num(
                "rss_kib_per_session",
                per(during.rss_kib, before.rss_kib),
                "KiB",
            )
            .int("pss_before_kib", before.pss_kib)
            .int("pss_held_kib", during.pss_kib)
            .num(
                "pss_kib_per_session",
                per(during.pss_kib, before.pss_kib),
                "KiB",
            );
    }
    report.text(
        "errors",
        error_summary(&errors.lock().expect("errors lock")),
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn json_is_escaped() {
        let mut r = Report::default();
        r.text("e", "a \"b\"\n\u{1}")
            .int("n", 3u64)
            .num("x", 1.5, "s")
            .num("nan", f64::NAN, "")
            .list("l", vec![1.0, 2.5], "s");
        assert_eq!(
            r.json(),
            r#"{"e": "a \"b\"\n\u0001", "n": 3, "x": 1.5, "nan": null, "l": [1, 2.5]}"#
        );
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tserv\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(1234));
        assert_eq!(kib_field(status, "VmHWM:"), None);
    }

    #[test]
    fn our_own_tree_is_found() {
        let mem = tree_memory(std::process::id()).unwrap();
        assert!(mem.processes >= 1);
        assert!(mem.rss_kib > 0);
    }
}
