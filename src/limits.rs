//! Every limit and timeout of the project, in one place, each with its reason.

use std::time::Duration;

/// Longest control line accepted, in bytes, not counting the line end.
///
/// RFC 959 sets no limit; 4 KiB fits any real path argument (Linux `PATH_MAX`
/// is 4096) while keeping a hostile peer from making us buffer megabytes.
/// A longer line is answered `500` and discarded as it streams in.
pub const MAX_LINE: usize = 4096;

/// Default data-connection timeout (`--data-timeout`): how long a passive
/// listener waits for the client to connect, an active connect may take,
/// and a data connection may stall (no byte either way) before it is cut.
///
/// Clients connect right after reading the 227/229 reply and sending the
/// transfer command; a minute covers slow links without letting a silent
/// peer pin a port, a thread and a temporary file for long.
pub const DATA_ACCEPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Default idle timeout of a control connection (vsftpd's default is 300 s too).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Default login deadline (`--login-timeout`): a connection that has not
/// logged in this long after connecting is closed. Clients log in within a
/// second; connections that never do would otherwise hold session slots
/// for the whole idle timeout. Commands before login do not extend it.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Default stall timeout (`--stall-timeout`) for output the client must
/// read: replies on the control connection and listings on a data
/// connection. A client that reads neither for this long is cut, so it
/// cannot pin a thread and buffers for the whole idle timeout. File
/// transfers keep the data timeout.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the client waits for a reply or a connection by default.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Listen backlog of the control listener: bursts of hundreds of clients
/// connecting at once must queue, not be refused.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Stack size of a worker thread (a session's or a transfer's). Both keep
/// their buffers on the heap, so a small stack keeps a burst of thousands
/// of sessions cheap.
pub const SESSION_STACK_SIZE: usize = 256 * 1024;

/// Worker threads kept waiting for work when there is none (see
/// `server::driver::reactor`): an idle session holds no thread, so a
/// command that arrives takes a waiting worker, and more are started
/// only when every one is busy. A few cover bursts of commands without
/// a thread start each; idle workers cost their stack's touched pages.
pub const IDLE_WORKERS: usize = 8;

/// How long a worker with nothing to do waits for work before it ends: a
/// burst of commands reuses workers, a quiet server keeps no threads.
pub const WORKER_LINGER: Duration = Duration::from_secs(2);

/// How long a session that could park waits for its next command on its
/// worker first, in milliseconds. A client issuing commands back to back
/// (a loop of small RETRs) sends the next one within a fraction of a
/// millisecond; parking it would cost two thread hand-offs per command,
/// while an idle session gives up its thread after this short wait.
pub const PARK_LINGER_MS: u16 = 2;

/// Socket buffer size asked for on data connections: large enough that one
/// loopback or LAN stream is not window-limited.
pub const DATA_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Send buffer of a listing's data connection: listings are small per
/// line and need no 4 MiB window, and a client that does not read one
/// should hold up little memory until the stall timeout cuts it.
pub const LISTING_SOCKET_BUFFER: usize = 256 * 1024;

/// Longest TLS handshake on a protected data connection. The passive
/// listener waits for the rightful client while it handshakes with
/// whoever connected first; a connection that sends nothing must not hold
/// it for the whole data timeout.
pub const TLS_DATA_HANDSHAKE: Duration = Duration::from_secs(10);

/// Buffer size of the read side of the control connection. Commands are
/// short, and longer lines (up to [`MAX_LINE`]) are assembled across reads
/// anyway; every idle session holds this buffer, so it is kept small
/// (4 KiB here measured 14.4 KiB per idle session in all, 1 KiB 11.4 KiB).
pub const CONTROL_READ_BUFFER: usize = 1024;

/// Delay before a failed login is answered: slows password guessing to one
/// try per second per connection (RFC 2577 §"Protecting Against Brute Force").
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// Failed logins after which a control connection is closed (with 421).
pub const MAX_LOGIN_FAILURES: u32 = 3;

/// Deepest path a client may name, in components. Every command on a path
/// costs work per component (in the kernel's walk and ours); a few hundred
/// levels fit any real tree, while 2,000 levels let four pipelining
/// sessions pin two cores. Deeper paths are answered 553.
pub const MAX_PATH_DEPTH: usize = 256;

/// Directories with at most this many entries are listed sorted by name;
/// larger ones stream in the storage's order, so that listing a directory
/// of 100,000 entries never holds it whole (sorting needs every entry).
pub const LISTING_SORT_LIMIT: usize = 1000;

/// How long a stopping server lets running transfers finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A rate-limit bucket holds this much of a second of its rate: the largest
/// burst a user gets after being idle, and the chunk a throttled transfer
/// moves at a time. A tenth of a second keeps the flow smooth and the
/// chunks large enough that throttling costs few system calls.
pub const RATE_BURST: Duration = Duration::from_millis(100);

/// The least a rate-limit bucket holds, for tiny rates: chunks of a few
/// bytes would be all system calls, and a 4 KiB burst harms nobody.
pub const RATE_MIN_BURST: u64 = 4 * 1024;

/// A throttled transfer sleeps at most this long at a time before looking
/// whether ABOR asked it to stop: ABOR cuts it within this much.
pub const RATE_WAIT_SLICE: Duration = Duration::from_millis(100);

/// Threads that answer the metrics endpoint. Each takes one connection at
/// a time, so any number of connections costs these threads and no more
/// (one thread per connection let a local client exhaust the process's
/// threads, which the FTP sessions need too).
pub const METRICS_WORKERS: usize = 2;

/// A metrics connection must deliver its request and take its answer
/// within this long, in all (not per read): a client trickling a byte at
/// a time, or not reading, holds a worker no longer than this.
pub const METRICS_DEADLINE: Duration = Duration::from_secs(3);

/// The longest request head (request line and headers) the metrics
/// endpoint reads; a scrape's is a few hundred bytes. Longer is 431.
pub const METRICS_MAX_HEAD: usize = 8 * 1024;

/// The longest timeout or ban a setting may give, in seconds (ten years:
/// "never" for any of them). Deadlines are computed as now plus the
/// setting; `--idle-timeout 18446744073709551615` made that addition
/// overflow and panic in every session, so longer values are refused
/// where they are read (flags and config file alike).
pub const MAX_SETTING_SECS: u64 = 10 * 365 * 86_400;
