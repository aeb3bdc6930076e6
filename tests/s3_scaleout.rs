//! Several `serv` processes on one bucket (feature `s3`, on a real
//! SeaweedFS): what one stores the other lists and serves byte for byte,
//! concurrent uploads of one name leave one whole version, and each server
//! announces its own passive address. Also the S3 back end's start-up
//! checks and its prefix-scoped views (per-user homes), through `serv` and
//! through the storage seam; `cli` and curl (put, ls, get, a resumed
//! download, rename, delete) and, with `interop`, lftp `mirror -R` and
//! `mirror` round trips on a bucket.
#![cfg(feature = "s3")]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use common::seaweed::{shared, Seaweed, BUCKET};
use common::*;
use ftp::storage::s3::S3Storage;
use ftp::storage::{Keep, Storage, VirtualPath};

fn prefix(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{name}-{}-{stamp}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `serv --storage s3://BUCKET/prefix` on `bind`, announcing `bind` in PASV.
fn serv(weed: &Seaweed, prefix: &str, bind: &str) -> Server {
    let mut args = weed.serv_args(prefix);
    args.extend(["--pasv-address".to_string(), bind.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with_env(bind, &args, &weed.env())
}

fn login(server: &Server) -> Control {
    let mut c = Control::connect_to(server.addr());
    c.expect_greeting();
    c.login();
    c.expect("TYPE I", 200);
    c
}

/// PASV, checked to announce `ip`; the data address.
fn pasv(c: &mut Control, ip: &str) -> SocketAddr {
    let r = c.expect("PASV", 227);
    let (host, port) = parse_227(&r.text()).unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(host, ip, "each server announces its own address: {r:?}");
    SocketAddr::new(host.parse().unwrap(), port)
}

fn put(c: &mut Control, ip: &str, name: &str, content: &[u8]) {
    let addr = pasv(c, ip);
    let mut data = connect_addr_with_timeout(addr);
    c.expect(&format!("STOR {name}"), 150);
    data.write_all(content).unwrap();
    drop(data);
    let r = c.read_reply();
    assert_eq!(r.code, 226, "STOR {name} through {ip}: {r:?}");
}

fn get(c: &mut Control, ip: &str, name: &str) -> Vec<u8> {
    let addr = pasv(c, ip);
    let data = connect_addr_with_timeout(addr);
    c.expect(&format!("RETR {name}"), 150);
    let bytes = read_all(data);
    assert_eq!(c.read_reply().code, 226);
    bytes
}

fn nlst(c: &mut Control, ip: &str) -> Vec<String> {
    let addr = pasv(c, ip);
    let data = connect_addr_with_timeout(addr);
    c.expect("NLST", 150);
    let bytes = read_all(data);
    assert_eq!(c.read_reply().code, 226);
    let mut names: Vec<String> = String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// The second server's address: 127.0.0.2 where this machine's loopback
/// takes it (Linux does), else another port of 127.0.0.1.
fn second_ip() -> &'static str {
    if std::net::TcpListener::bind("127.0.0.2:0").is_ok() {
        "127.0.0.2"
    } else {
        "127.0.0.1"
    }
}

#[test]
fn two_servers_on_one_bucket_see_the_same_files() {
    let weed = shared();
    let tree = prefix("scaleout");
    let (ip_a, ip_b) = ("127.0.0.1", second_ip());
    let a = serv(weed, &tree, ip_a);
    let b = serv(weed, &tree, ip_b);
    assert_ne!(a.addr(), b.addr());
    let mut ca = login(&a);
    let mut cb = login(&b);

    let content = pseudo_random(12 * 1024 * 1024 + 99, 41);
    put(&mut ca, ip_a, "shared.bin", &content);
    ca.expect("MKD made-by-a", 257);
    assert_eq!(nlst(&mut cb, ip_b), ["made-by-a", "shared.bin"]);
    assert_same_bytes(
        &get(&mut cb, ip_b, "shared.bin"),
        &content,
        "through the other server",
    );
    assert_eq!(
        cb.expect("SIZE shared.bin", 213).text(),
        format!("213 {}", content.len())
    );
    // And back: B renames, A sees the new name only.
    cb.expect("RNFR shared.bin", 350);
    cb.expect("RNTO made-by-a/moved.bin", 250);
    assert_eq!(nlst(&mut ca, ip_a), ["made-by-a"]);
    assert_same_bytes(
        &get(&mut ca, ip_a, "made-by-a/moved.bin"),
        &content,
        "after RNTO on B",
    );
}

#[test]
fn simultaneous_uploads_of_one_name_leave_one_whole_version() {
    let weed = shared();
    let tree = prefix("race");
    let (ip_a, ip_b) = ("127.0.0.1", second_ip());
    let a = serv(weed, &tree, ip_a);
    let b = serv(weed, &tree, ip_b);
    // Several parts each, so that the two multipart uploads overlap.
    let one = pseudo_random(20 * 1024 * 1024, 1);
    let two = pseudo_random(20 * 1024 * 1024 + 1, 2);
    for round in 0..3 {
        let (ca, cb) = (login(&a), login(&b));
        let (one_c, two_c) = (one.clone(), two.clone());
        let ta = thread::spawn(move || {
            let mut ca = ca;
            put(&mut ca, ip_a, "same.bin", &one_c);
            ca
        });
        let tb = thread::spawn(move || {
            let mut cb = cb;
            put(&mut cb, ip_b, "same.bin", &two_c);
            cb
        });
        let mut ca = ta.join().unwrap();
        let mut cb = tb.join().unwrap();
        let via_a = get(&mut ca, ip_a, "same.bin");
        let via_b = get(&mut cb, ip_b, "same.bin");
        assert!(
            via_a == one || via_a == two,
            "round {round}: the object is neither upload whole ({} bytes)",
            via_a.len()
        );
        assert_eq!(
            via_a, via_b,
            "round {round}: both servers serve the same version"
        );
        assert_eq!(nlst(&mut ca, ip_a), ["same.bin"]);
    }
}

#[test]
fn a_prefix_without_a_marker_is_a_directory() {
    let weed = shared();
    let tree = prefix("implicit");
    // A server on TREE/deep writes TREE/deep/f: no marker for TREE/deep/.
    let deep = serv(weed, &format!("{tree}/deep"), "127.0.0.1");
    let mut c = login(&deep);
    put(&mut c, "127.0.0.1", "f", b"content");
    let top = serv(weed, &tree, "127.0.0.1");
    let mut c = login(&top);
    assert_eq!(nlst(&mut c, "127.0.0.1"), ["deep"]);
    c.expect("CWD deep", 250);
    assert_eq!(get(&mut c, "127.0.0.1", "f"), b"content");
    assert!(c.expect("MLST /deep", 250).text().contains("type=dir;"));
    // Not empty, so not removable. (Emptied, it is gone on AWS, having no
    // marker; SeaweedFS keeps a directory of its own, so that is not
    // asserted here.)
    c.expect("RMD /deep", 550);
    c.expect("DELE f", 250);
    c.expect("CWD /", 250);
    let names = nlst(&mut c, "127.0.0.1");
    assert!(names.is_empty() || names == ["deep"], "{names:?}");
}

#[test]
fn a_missing_bucket_or_bad_credentials_stop_the_start_with_a_reason() {
    let weed = shared();
    let run = |url: &str, secret: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_serv"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", &weed.env()[0].1)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .args(["--bind", "127.0.0.1", "--storage", url])
            .args(["--s3-endpoint", &weed.endpoint(), "0"]);
        run_with_timeout(cmd, b"", PROCESS_TIMEOUT)
    };
    let secret = weed.env()[1].1.clone();
    let missing = run("s3://no-such-bucket-here", &secret);
    assert_ne!(missing.code(), 0, "{missing}");
    assert!(missing.stdout.is_empty(), "never listened: {missing}");
    assert!(
        missing.stderr.contains("no-such-bucket-here")
            && missing.stderr.contains(&weed.endpoint())
            && missing.stderr.contains("NoSuchBucket"),
        "{missing}"
    );
    let denied = run(&format!("s3://{BUCKET}"), "wrong-secret");
    assert_ne!(denied.code(), 0, "{denied}");
    assert!(
        denied.stderr.contains(BUCKET) && denied.stderr.contains("403"),
        "{denied}"
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_serv"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(["--storage", "s3://b", "0"]);
    let none = run_with_timeout(cmd, b"", PROCESS_TIMEOUT);
    assert!(none.stderr.contains("AWS_ACCESS_KEY_ID"), "{none}");
}

fn v(s: &str) -> VirtualPath {
    VirtualPath::root().join(s).unwrap()
}

fn store(storage: &dyn Storage, path: &str, content: &[u8]) {
    let mut upload = storage
        .begin_upload(&v(path), Keep::Nothing, false)
        .unwrap();
    upload.write_all(content).unwrap();
    upload.commit().unwrap();
}

#[test]
fn a_subtree_is_a_view_of_its_prefix_and_reaches_nothing_outside() {
    let weed = shared();
    let storage = S3Storage::connect(&weed.config(&prefix("homes"))).unwrap();
    storage.mkdir(&v("ann")).unwrap();
    storage.mkdir(&v("bob")).unwrap();
    store(&storage, "ann/notes.txt", b"ann's");
    store(&storage, "bob/secret.txt", b"bob's");
    store(&storage, "top.txt", b"top");
    assert!(matches!(
        storage.subtree(&v("nobody")),
        Err(ftp::storage::StorageError::NotFound(_))
    ));
    assert!(storage.subtree(&v("top.txt")).is_err());

    let ann = storage.subtree(&v("ann")).unwrap();
    let names: Vec<String> = ann
        .list(&VirtualPath::root())
        .unwrap()
        .map(|e| e.unwrap().name)
        .collect();
    assert_eq!(names, ["notes.txt"]);
    assert_eq!(ann.stat(&v("notes.txt")).unwrap().len, 5);
    // `..` never leaves a virtual root; other users' and the top's files
    // are not there.
    for outside in [
        "../bob/secret.txt",
        "/bob/secret.txt",
        "../top.txt",
        "ann/notes.txt",
    ] {
        assert!(
            matches!(
                ann.stat(&v(outside)),
                Err(ftp::storage::StorageError::NotFound(_))
            ),
            "{outside} is reachable from ann's home"
        );
    }
    // Writes land under the home's prefix, seen from the whole tree too.
    store(ann.as_ref(), "new.txt", b"new");
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut *storage.open_read(&v("ann/new.txt"), 0).unwrap(),
        &mut body,
    )
    .unwrap();
    assert_eq!(body, b"new");
    ann.mkdir(&v("sub")).unwrap();
    assert!(storage.stat(&v("ann/sub")).unwrap().is_dir());
    ann.rmdir(&v("sub")).unwrap();
    ann.delete(&v("new.txt")).unwrap();
    assert!(storage.stat(&v("ann/new.txt")).is_err());
    assert_eq!(storage.remove_stale_uploads().unwrap(), 0);
}

/// A tree worth mirroring: nested and empty directories, empty files,
/// names with spaces and UTF-8, a file of several parts.
fn make_tree(root: &std::path::Path) {
    for dir in ["sub/deeper", "with space", "日本語", "empty dir"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    write_random_file(&root.join("sub/big.bin"), 9 * 1024 * 1024 + 1, 41);
    write_random_file(&root.join("sub/deeper/mid.bin"), 100_000, 42);
    write_random_file(&root.join("with space/naïve ü.txt"), 4097, 43);
    std::fs::write(root.join("日本語/空"), b"").unwrap();
}

#[test]
fn cli_and_curl_put_list_get_rename_and_delete_on_a_bucket() {
    let weed = shared();
    let server = serv(weed, &prefix("clients"), "127.0.0.1");
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up.bin");
    let content = write_random_file(&up, 5 * 1024 * 1024 + 7, 9);
    let out = run_cli(
        server.port(),
        work.path(),
        "put up.bin remote.bin\nls\nget remote.bin down.bin\nrename remote.bin moved.bin\nls\n",
        &[],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout.contains("remote.bin") && out.stdout.contains("moved.bin"),
        "{out}"
    );
    assert_file_is(&work.path().join("down.bin"), &content);

    // curl: a download resumed from a partial file (REST + RETR), then
    // an upload and a delete.
    std::fs::write(work.path().join("part.bin"), &content[..1_000_000]).unwrap();
    let url = format!("ftp://127.0.0.1:{}/moved.bin", server.port());
    let out = run_curl(work.path(), &["-sS", "-C", "-", "-o", "part.bin", &url]);
    assert_eq!(out.code(), 0, "{out}");
    assert_file_is(&work.path().join("part.bin"), &content);
    let out = run_curl(
        work.path(),
        &[
            "-sS",
            "-T",
            "up.bin",
            &format!("ftp://127.0.0.1:{}/by-curl.bin", server.port()),
        ],
    );
    assert_eq!(out.code(), 0, "{out}");
    let out = run_cli(server.port(), work.path(), "delete moved.bin\nls\n", &[]);
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        !out.stdout.contains("moved.bin") && out.stdout.contains("by-curl.bin"),
        "{out}"
    );
}

#[cfg(feature = "interop")]
#[test]
fn lftp_mirrors_a_tree_to_a_bucket_and_back() {
    let weed = shared();
    let server = serv(weed, &prefix("mirror"), "127.0.0.1");
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src);
    let home = work.path().join(".home");
    std::fs::create_dir_all(&home).unwrap();
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; set cmd:fail-exit true; \
         set ftp:charset utf-8; set file:charset utf-8; \
         open -u anonymous,guest@example.org ftp://127.0.0.1:{}; \
         mirror -R src /up; mirror /up back",
        server.port()
    );
    let mut cmd = Command::new("lftp");
    cmd.current_dir(work.path())
        .env("HOME", &home)
        .env("LC_ALL", "C.UTF-8")
        .arg("-c")
        .arg(&script);
    let out = run_with_timeout(cmd, b"", PROCESS_TIMEOUT);
    assert_eq!(out.code(), 0, "{out}");
    assert_same_tree(&work.path().join("back"), &src);
}

/// `storage` and `s3_endpoint` in a `--config` file serve the bucket as
/// the flags do, and an account's home there is a prefix the user sees as
/// `/`: what one server stored under the home is what the user lists.
#[test]
fn a_config_file_serves_a_bucket_with_homes_as_prefixes() {
    let weed = shared();
    let tree = prefix("config");
    let hash = ftp::server::auth::hash_password("pw");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    std::fs::write(
        &path,
        format!(
            "storage = {:?}\ns3_endpoint = {:?}\n\n[[users]]\nname = \"alice\"\npassword = {hash:?}\nhome = \"/home/alice\"\npermissions = [\"list\", \"download\", \"upload\"]\n",
            weed.url(&tree),
            weed.endpoint()
        ),
    )
    .unwrap();
    // The whole tree, through a second server on the flags.
    let whole = serv(weed, &tree, "127.0.0.1");
    let mut admin = login(&whole);
    admin.expect("MKD home", 257);
    admin.expect("MKD home/alice", 257);
    put(&mut admin, "127.0.0.1", "home/alice/mine.txt", b"alice's");
    put(&mut admin, "127.0.0.1", "secret.txt", b"not alice's");

    let args = ["--config", path.to_str().unwrap()];
    let server = Server::start_with_env("127.0.0.1", &args, &weed.env());
    let mut c = Control::connect_to(server.addr());
    c.expect_greeting();
    c.expect("USER alice", 331);
    c.expect("PASS pw", 230);
    c.expect("TYPE I", 200);
    assert_eq!(nlst(&mut c, "127.0.0.1"), ["mine.txt"]);
    assert_eq!(get(&mut c, "127.0.0.1", "mine.txt"), b"alice's");
    assert_eq!(c.cmd("RETR ../secret.txt").code, 550);
    assert_eq!(c.cmd("SIZE /secret.txt").code, 550);
}
