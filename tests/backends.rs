//! One suite of server commands, run against every storage back end: the
//! local disk always, and an S3 bucket on a real SeaweedFS with feature
//! `s3`. Each test is written once, as a function of the [`Backend`]; the
//! macro at the end instantiates it per back end. Tests look at the files
//! only through FTP, so the same assertions hold on both; where the back
//! ends differ on purpose (renaming a directory), the expectation says so.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Local,
    #[cfg(feature = "s3")]
    S3,
}

/// A server over a fresh, empty tree of one back end.
struct Fixture {
    server: Server,
    backend: Backend,
    /// A SeaweedFS of this test's own, when it counts the bucket's
    /// incomplete uploads (the shared one has other tests' in flight).
    #[cfg(feature = "s3")]
    own: Option<common::seaweed::Seaweed>,
}

/// A key prefix no other test (or earlier run) uses.
#[cfg(feature = "s3")]
fn unique_prefix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let test = thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", "-");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{test}-{}-{stamp}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Fixture {
    fn start(backend: Backend) -> Fixture {
        Fixture::launch(backend, false)
    }

    /// With an S3 engine of its own (see [`Fixture::own`]).
    fn start_alone(backend: Backend) -> Fixture {
        Fixture::launch(backend, true)
    }

    #[allow(unused_variables)]
    fn launch(backend: Backend, alone: bool) -> Fixture {
        match backend {
            Backend::Local => Fixture {
                server: Server::start(),
                backend,
                #[cfg(feature = "s3")]
                own: None,
            },
            #[cfg(feature = "s3")]
            Backend::S3 => {
                let own = alone.then(common::seaweed::Seaweed::start);
                let weed = own.as_ref().unwrap_or_else(|| common::seaweed::shared());
                let args = weed.serv_args(&unique_prefix());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let server = Server::start_with_env("127.0.0.1", &args, &weed.env());
                Fixture {
                    server,
                    backend,
                    own,
                }
            }
        }
    }

    fn login(&self) -> Control {
        let mut c = self.server.login();
        c.expect("TYPE I", 200);
        c
    }

    /// Nothing of an unfinished upload is left behind: no temporary on the
    /// disk, no incomplete multipart upload in the bucket.
    fn assert_no_upload_left(&self, names: &[&str]) {
        match self.backend {
            Backend::Local => assert_eq!(dir_names(self.server.root()), names),
            #[cfg(feature = "s3")]
            Backend::S3 => {
                let weed = self.own.as_ref().expect("an engine of the test's own");
                assert_eq!(
                    weed.incomplete_uploads(),
                    0,
                    "an incomplete multipart upload was left"
                );
            }
        }
    }
}

fn put(c: &mut Control, name: &str, content: &[u8]) {
    let port = c.epsv();
    let mut data = connect_with_timeout(port);
    c.expect(&format!("STOR {name}"), 150);
    data.write_all(content).unwrap();
    drop(data);
    let r = c.read_reply();
    assert_eq!(r.code, 226, "STOR {name}: {r:?}");
}

fn get_at(c: &mut Control, name: &str, rest: u64) -> Vec<u8> {
    if rest > 0 {
        c.expect(&format!("REST {rest}"), 350);
    }
    let port = c.epsv();
    let data = connect_with_timeout(port);
    c.expect(&format!("RETR {name}"), 150);
    let bytes = read_all(data);
    let r = c.read_reply();
    assert_eq!(r.code, 226, "RETR {name}: {r:?}");
    bytes
}

fn get(c: &mut Control, name: &str) -> Vec<u8> {
    get_at(c, name, 0)
}

/// A listing command's data (`NLST`, `LIST d`, `MLSD`) as lines.
fn listing(c: &mut Control, command: &str) -> Vec<String> {
    let port = c.epsv();
    let data = connect_with_timeout(port);
    c.expect(command, 150);
    let bytes = read_all(data);
    let r = c.read_reply();
    assert_eq!(r.code, 226, "{command}: {r:?}");
    let mut lines: Vec<String> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn nlst(c: &mut Control) -> Vec<String> {
    listing(c, "NLST")
}

fn login_and_listings(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    assert!(nlst(&mut c).is_empty(), "a fresh tree is empty");
    put(&mut c, "a.txt", b"alpha\n");
    c.expect("MKD d", 257);
    put(&mut c, "d/b.txt", b"bravo bravo\n");
    assert_eq!(nlst(&mut c), ["a.txt", "d"]);
    let list = listing(&mut c, "LIST");
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(
        list[0].starts_with('-') && list[0].ends_with(" a.txt"),
        "{list:?}"
    );
    assert!(
        list[1].starts_with('d') && list[1].ends_with(" d"),
        "{list:?}"
    );
    let mlsd = listing(&mut c, "MLSD");
    assert!(
        mlsd.iter()
            .any(|l| l.contains("type=file;") && l.contains("size=6;") && l.ends_with(" a.txt")),
        "{mlsd:?}"
    );
    assert!(
        mlsd.iter()
            .any(|l| l.contains("type=dir;") && l.ends_with(" d")),
        "{mlsd:?}"
    );
    assert_eq!(listing(&mut c, "NLST d"), ["b.txt"]);
    let mlst = c.expect("MLST d/b.txt", 250);
    assert!(mlst.text().contains("size=12;"), "{mlst:?}");
    assert_eq!(c.expect("SIZE d/b.txt", 213).text(), "213 12");
    let mdtm = c.expect("MDTM a.txt", 213);
    assert!(mdtm.text().starts_with("213 20"), "{mdtm:?}");
    c.expect("SIZE d", 550);
    c.expect("CWD d", 250);
    assert!(c.expect("PWD", 257).text().contains("\"/d\""));
    assert_eq!(nlst(&mut c), ["b.txt"]);
    c.expect("CWD nowhere", 550);
    c.expect("CWD b.txt", 550);
    c.expect("CDUP", 250);
    let stat = c.cmd("STAT d");
    assert!((211..=213).contains(&stat.code), "{stat:?}");
    assert!(stat.text().contains("b.txt"), "{stat:?}");
    c.expect("RETR d", 550);
    c.expect("RETR missing", 550);
}

fn retr_with_rest(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    let content = pseudo_random(3 * 1024 * 1024 + 17, 5);
    put(&mut c, "r.bin", &content);
    assert_same_bytes(&get(&mut c, "r.bin"), &content, "RETR");
    assert_same_bytes(
        &get_at(&mut c, "r.bin", 1_000_003),
        &content[1_000_003..],
        "REST + RETR",
    );
    assert!(
        get_at(&mut c, "r.bin", content.len() as u64).is_empty(),
        "REST at the end"
    );
    c.expect(&format!("REST {}", content.len() + 1), 350);
    let past = c.cmd("RETR r.bin");
    assert_eq!(past.code, 550, "REST past the end: {past:?}");
    assert!(c.expect("FEAT", 211).text().contains("REST STREAM"));
}

fn stor_and_overwrite(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    // Larger than one 8 MiB part: a multipart upload on S3.
    let big = pseudo_random(17 * 1024 * 1024 + 5, 7);
    put(&mut c, "o.bin", &big);
    assert_same_bytes(&get(&mut c, "o.bin"), &big, "a large STOR");
    let small = pseudo_random(1000, 8);
    put(&mut c, "o.bin", &small);
    assert_same_bytes(&get(&mut c, "o.bin"), &small, "the overwrite");
    assert_eq!(c.expect("SIZE o.bin", 213).text(), "213 1000");
    put(&mut c, "empty", b"");
    assert!(get(&mut c, "empty").is_empty());
    c.expect("STOR nodir/x", 550);
    assert_eq!(nlst(&mut c), ["empty", "o.bin"]);
}

fn appe_and_rest_stor(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    let first = pseudo_random(9 * 1024 * 1024, 21);
    put(&mut c, "grow.bin", &first);
    let tail = pseudo_random(300_000, 22);
    let port = c.epsv();
    let mut data = connect_with_timeout(port);
    c.expect("APPE grow.bin", 150);
    data.write_all(&tail).unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    let mut expected = first.clone();
    expected.extend_from_slice(&tail);
    assert_same_bytes(&get(&mut c, "grow.bin"), &expected, "APPE");

    c.expect("REST 1000", 350);
    let port = c.epsv();
    let mut data = connect_with_timeout(port);
    c.expect("STOR grow.bin", 150);
    data.write_all(b"resumed").unwrap();
    drop(data);
    assert_eq!(c.read_reply().code, 226);
    let mut expected = first[..1000].to_vec();
    expected.extend_from_slice(b"resumed");
    assert_same_bytes(&get(&mut c, "grow.bin"), &expected, "REST + STOR");
}

fn dele(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    put(&mut c, "gone.txt", b"x");
    c.expect("MKD dir", 257);
    c.expect("DELE dir", 550);
    c.expect("DELE gone.txt", 250);
    c.expect("DELE gone.txt", 550);
    c.expect("RETR gone.txt", 550);
    assert_eq!(nlst(&mut c), ["dir"]);
}

fn mkd_rmd(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    let r = c.expect("MKD sub", 257);
    assert!(r.text().contains("\"/sub\""), "{r:?}");
    c.expect("MKD sub", 550);
    c.expect("MKD no/such/parent", 550);
    c.expect("MKD sub/inner", 257);
    put(&mut c, "sub/inner/f", b"f");
    c.expect("RMD sub", 550);
    c.expect("RMD sub/inner", 550);
    c.expect("DELE sub/inner/f", 250);
    // The empty directory is still there (its marker on S3).
    assert_eq!(listing(&mut c, "NLST sub"), ["inner"]);
    c.expect("RMD sub/inner", 250);
    c.expect("RMD sub", 250);
    c.expect("CWD sub", 550);
    c.expect("RMD sub", 550);
    put(&mut c, "file", b"f");
    c.expect("RMD file", 550);
    assert_eq!(nlst(&mut c), ["file"]);
}

fn rnfr_rnto(backend: Backend) {
    let f = Fixture::start(backend);
    let mut c = f.login();
    let content = pseudo_random(100_000, 3);
    put(&mut c, "r1", &content);
    c.expect("MKD d", 257);
    c.expect("RNFR r1", 350);
    c.expect("RNTO d/r2", 250);
    assert_eq!(nlst(&mut c), ["d"]);
    assert_same_bytes(&get(&mut c, "d/r2"), &content, "the renamed file");
    c.expect("RNFR missing", 550);
    c.expect("RNFR d/r2", 350);
    c.expect("RNTO nodir/r3", 550);
    put(&mut c, "other", b"other");
    c.expect("RNFR d/r2", 350);
    c.expect("RNTO other", 250);
    assert_same_bytes(
        &get(&mut c, "other"),
        &content,
        "a rename over a file replaces it",
    );
    c.expect("RNFR d", 350);
    let dir = c.cmd("RNTO e");
    match backend {
        Backend::Local => assert_eq!(dir.code, 250, "{dir:?}"),
        // Renaming a directory on an object store: refused, with a reason.
        #[cfg(feature = "s3")]
        Backend::S3 => {
            assert_eq!(dir.code, 550, "{dir:?}");
            assert!(dir.text().contains("/d"), "{dir:?}");
            assert!(dir.text().contains("cannot be renamed"), "{dir:?}");
        }
    }
}

/// Uploads `len` bytes to `name` and leaves the data connection open.
fn start_upload(c: &mut Control, name: &str, len: usize) -> std::net::TcpStream {
    let port = c.epsv();
    let mut data = connect_with_timeout(port);
    c.expect(&format!("STOR {name}"), 150);
    data.write_all(&pseudo_random(len, 12)).unwrap();
    // Let the server take it in (and start the multipart upload).
    thread::sleep(Duration::from_millis(500));
    data
}

/// More than two 8 MiB parts: on S3, parts are uploaded when ABOR comes.
const CUT_UPLOAD: usize = 20 * 1024 * 1024;

fn abor_mid_upload(backend: Backend) {
    let f = Fixture::start_alone(backend);
    let mut c = f.login();
    put(&mut c, "old.bin", b"old content");
    for name in ["old.bin", "new.bin"] {
        let data = start_upload(&mut c, name, CUT_UPLOAD);
        let started = Instant::now();
        c.send_line("ABOR", "\r\n");
        let (first, second) = (c.read_reply(), c.read_reply());
        assert_eq!(
            (first.code, second.code),
            (426, 226),
            "{first:?} {second:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(data);
        c.expect("NOOP", 200);
    }
    assert_eq!(get(&mut c, "old.bin"), b"old content");
    assert_eq!(nlst(&mut c), ["old.bin"]);
    f.assert_no_upload_left(&["old.bin"]);
}

fn client_vanishes_mid_upload(backend: Backend) {
    let f = Fixture::start_alone(backend);
    let mut c = f.login();
    put(&mut c, "keep.bin", b"old content");
    for name in ["keep.bin", "new.bin"] {
        let data = start_upload(&mut c, name, CUT_UPLOAD);
        // A reset (RST, not FIN): SO_LINGER 0 and close.
        socket2::SockRef::from(&data)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(data);
        let end = c.read_reply();
        assert_eq!(end.code, 426, "a reset upload of {name} fails: {end:?}");
        c.expect("NOOP", 200);
    }
    assert_eq!(get(&mut c, "keep.bin"), b"old content");
    assert_eq!(nlst(&mut c), ["keep.bin"]);
    f.assert_no_upload_left(&["keep.bin"]);
}

/// Instantiates each test above once per back end.
macro_rules! shared_suite {
    ($($test:ident),* $(,)?) => {
        mod local {
            $(#[test] fn $test() { super::$test(super::Backend::Local) })*
        }
        #[cfg(feature = "s3")]
        mod s3 {
            $(#[test] fn $test() { super::$test(super::Backend::S3) })*
        }
    };
}

shared_suite!(
    login_and_listings,
    retr_with_rest,
    stor_and_overwrite,
    appe_and_rest_stor,
    dele,
    mkd_rmd,
    rnfr_rnto,
    abor_mid_upload,
    client_vanishes_mid_upload,
);
