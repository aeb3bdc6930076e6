//! `cli` in batch mode against other servers: vsftpd and pyftpdlib, each
//! started by the test (see `peers`). The same scenarios run against both:
//! an 8 MiB round trip, the directory and file commands, wildcards in mget
//! and mput, resumed transfers, TYPE A, active mode and the listing of an
//! empty directory. Only what a correct client guarantees is asserted: the
//! servers' reply texts differ from serv's and from each other's.
//!
//! vsftpd takes anonymous uploads only in `pub`, so every session first
//! changes to the peer's writable directory.
#![cfg(feature = "interop")]

mod common;
mod peers;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    assert_file_is, dir_names, pseudo_random, run_with_timeout, utc_stamp, write_random_file,
    Output, PROCESS_TIMEOUT,
};
use peers::Peer;

const MIB: usize = 1024 * 1024;

/// Runs `cli [args] 127.0.0.1 PORT` in `cwd` with `cd WORKDIR` and then
/// `commands` on stdin.
fn cli(peer: &Peer, cwd: &Path, commands: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(cwd)
        .env_remove("FTP_PASSWORD")
        .args(["--timeout", "20"])
        .args(args)
        .arg("127.0.0.1")
        .arg(peer.port().to_string());
    let input = format!("cd {}\n{commands}", peer.remote_work());
    run_with_timeout(cmd, input.as_bytes(), PROCESS_TIMEOUT)
}

/// Like [`cli`], and every command must succeed.
#[track_caller]
fn cli_ok(peer: &Peer, cwd: &Path, commands: &str, args: &[&str]) -> Output {
    let out = cli(peer, cwd, commands, args);
    assert_eq!(
        out.code(),
        0,
        "{:?}: {commands:?} failed: {out}\n--- peer log ---\n{}",
        peer.kind(),
        peer.log()
    );
    out
}

fn stdout_lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().collect()
}

/// The remote path of `rel` in the writable directory.
fn remote(peer: &Peer, rel: &str) -> String {
    format!("{}/{rel}", peer.remote_work().trim_end_matches('/'))
}

fn put_ls_get_8_mib(peer: &Peer) {
    let local = tempfile::tempdir().unwrap();
    let size = 8 * MIB;
    let data = write_random_file(&local.path().join("big.bin"), size, 8);

    let out = cli_ok(
        peer,
        local.path(),
        "put big.bin\nls\nget big.bin copy.bin\n",
        &[],
    );
    assert_file_is(&peer.work().join("big.bin"), &data);
    assert_file_is(&local.path().join("copy.bin"), &data);
    assert_eq!(dir_names(peer.work()), ["big.bin"]);
    assert_eq!(dir_names(local.path()), ["big.bin", "copy.bin"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.ends_with(" big.bin"))
        .unwrap_or_else(|| panic!("no listing line for big.bin: {out}"));
    assert!(
        line.split_whitespace().any(|f| f == size.to_string()),
        "the size in {line:?}"
    );
    assert!(
        out.stderr.contains(&format!("put big.bin: {size} bytes")),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!("get big.bin: {size} bytes")),
        "{out}"
    );
}

fn directory_and_file_commands(peer: &Peer) {
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("a.txt"), 12345, 2);

    let out = cli_ok(
        peer,
        local.path(),
        "mkdir d\ncd d\npwd\nput a.txt\nsize a.txt\nrename a.txt b.txt\nmkdir inner\nnls\ncd inner\ncdup\npwd\nquote NOOP\n",
        &[],
    );
    let b = peer.work().join("d/b.txt");
    assert_file_is(&b, &data);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[0], remote(peer, "d"), "pwd: {out}");
    assert_eq!(lines[1], "12345", "size: {out}");
    let mut names = vec![lines[2], lines[3]];
    names.sort();
    assert_eq!(names, ["b.txt", "inner"], "nls: {out}");
    assert_eq!(lines[4], remote(peer, "d"), "pwd after cdup: {out}");
    assert!(lines[5].starts_with("200"), "quote NOOP: {out}");

    // modtime: the file's mtime on disk, in UTC to the second.
    let mtime = fs::metadata(&b).unwrap().modified().unwrap();
    let s = utc_stamp(mtime);
    let expected = format!(
        "{}-{}-{} {}:{}:{} UTC",
        &s[..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    );
    let out = cli_ok(peer, local.path(), "modtime d/b.txt\n", &[]);
    assert_eq!(stdout_lines(&out), [expected.as_str()], "{out}");

    let out = cli_ok(
        peer,
        local.path(),
        "rm d/b.txt\nrmdir d/inner\nrmdir d\nnls\n",
        &[],
    );
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(dir_names(peer.work()), Vec::<String>::new());

    // A refusal fails the batch with status 1.
    let out = cli(peer, local.path(), "rm nothing.txt\nmkdir late\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("line 2"), "{out}");
    assert!(!peer.work().join("late").exists());
}

const GLOB_FILES: &[&str] = &[
    "a.txt",
    "b.txt",
    "zeta.txt",
    "c.md",
    "file1.bin",
    "file2.bin",
    "file10.bin",
    "alpha.log",
    "beta.cfg",
    "sub/x.dat",
    "sub/y.dat",
    "sub/z.txt",
];

const GLOB_CASES: &[(&str, &[&str])] = &[
    ("*.txt", &["a.txt", "b.txt", "zeta.txt"]),
    ("file?.bin", &["file1.bin", "file2.bin"]),
    ("[ab]*", &["a.txt", "alpha.log", "b.txt", "beta.cfg"]),
    ("sub/*.dat", &["sub/x.dat", "sub/y.dat"]),
];

fn glob_bytes(name: &str) -> Vec<u8> {
    let i = GLOB_FILES.iter().position(|n| *n == name).unwrap();
    pseudo_random(200 + i * 41, 500 + i as u64)
}

fn base(name: &str) -> String {
    name.rsplit('/').next().unwrap().to_string()
}

fn mget_and_mput_globs(peer: &Peer) {
    // mget: the files are on the server.
    peer.seed_dir("sub");
    for name in GLOB_FILES {
        peer.seed_file(name, &glob_bytes(name));
    }
    for (pattern, expected) in GLOB_CASES {
        let local = tempfile::tempdir().unwrap();
        let out = cli_ok(peer, local.path(), &format!("mget {pattern}\n"), &[]);
        let mut want: Vec<String> = expected.iter().map(|e| base(e)).collect();
        want.sort();
        assert_eq!(dir_names(local.path()), want, "mget {pattern}: {out}");
        for name in *expected {
            assert_file_is(&local.path().join(base(name)), &glob_bytes(name));
        }
    }

    // mput: the same files here, each pattern into its own remote directory.
    let local = tempfile::tempdir().unwrap();
    fs::create_dir(local.path().join("sub")).unwrap();
    for name in GLOB_FILES {
        fs::write(local.path().join(name), glob_bytes(name)).unwrap();
    }
    let mut script = String::new();
    for (i, (pattern, _)) in GLOB_CASES.iter().enumerate() {
        script.push_str(&format!("mkdir m{i}\ncd m{i}\nmput {pattern}\ncdup\n"));
    }
    let out = cli_ok(peer, local.path(), &script, &[]);
    for (i, (pattern, expected)) in GLOB_CASES.iter().enumerate() {
        let dir = peer.work().join(format!("m{i}"));
        let mut want: Vec<String> = expected.iter().map(|e| base(e)).collect();
        want.sort();
        assert_eq!(dir_names(&dir), want, "mput {pattern}: {out}");
        for name in *expected {
            assert_file_is(&dir.join(base(name)), &glob_bytes(name));
        }
    }
}

fn reget_and_reput(peer: &Peer) {
    let local = tempfile::tempdir().unwrap();
    let size = 2 * MIB + 333;
    let full = pseudo_random(size, 99);

    // reget: the whole file remotely, its first part here.
    peer.seed_file("down.bin", &full);
    let have = 777_777;
    fs::write(local.path().join("down.bin"), &full[..have]).unwrap();
    let out = cli_ok(peer, local.path(), "reget down.bin\n", &[]);
    assert_file_is(&local.path().join("down.bin"), &full);
    assert!(
        out.stderr
            .contains(&format!("reget down.bin: {} bytes", size - have)),
        "only the rest came: {out}"
    );

    // reput: the whole file here, its first part remotely. Whether the
    // server takes REST + STOR or the client falls back to APPE, the
    // remote file must end up complete.
    fs::write(local.path().join("up.bin"), &full).unwrap();
    let have = 1_048_577;
    peer.seed_file("up.bin", &full[..have]);
    let out = cli_ok(peer, local.path(), "reput up.bin\n", &["-v"]);
    assert_file_is(&peer.work().join("up.bin"), &full);
    assert!(
        out.stderr
            .contains(&format!("reput up.bin: {} bytes", size - have)),
        "only the rest went: {out}"
    );
    // Both peers take REST before STOR.
    assert!(out.stderr.contains(&format!("-> REST {have}")), "{out}");
    assert!(out.stderr.contains("-> STOR up.bin"), "{out}");
    // Already complete: nothing is sent and nothing changes.
    let out = cli_ok(
        peer,
        local.path(),
        "reput up.bin\nreget up.bin down.bin\n",
        &[],
    );
    assert!(out.stderr.contains("reput up.bin: 0 bytes"), "{out}");
    assert!(out.stderr.contains("reget up.bin: 0 bytes"), "{out}");
    assert_file_is(&peer.work().join("up.bin"), &full);
}

fn ascii_line_ends(peer: &Peer) {
    let local = tempfile::tempdir().unwrap();
    let lf = b"one\ntwo\n\nthree\n".to_vec();
    let crlf = b"one\r\ntwo\r\n\r\nthree\r\n".to_vec();
    peer.seed_file("lf.txt", &lf);
    fs::write(local.path().join("up-lf.txt"), &lf).unwrap();
    fs::write(local.path().join("up-crlf.txt"), &crlf).unwrap();

    cli_ok(
        peer,
        local.path(),
        "ascii\nget lf.txt\nput up-lf.txt\nput up-crlf.txt\nget up-crlf.txt back.txt\nbinary\nget lf.txt lf-bin.txt\nput up-crlf.txt raw.txt\n",
        &[],
    );
    assert_file_is(&local.path().join("lf.txt"), &lf);
    assert_file_is(&local.path().join("lf-bin.txt"), &lf);
    assert_file_is(&peer.work().join("up-lf.txt"), &lf);
    assert_file_is(&peer.work().join("up-crlf.txt"), &lf);
    assert_file_is(&local.path().join("back.txt"), &lf);
    assert_file_is(&peer.work().join("raw.txt"), &crlf);
}

fn active_mode(peer: &Peer) {
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("act.bin"), 3 * MIB + 7, 5);

    let out = cli_ok(
        peer,
        local.path(),
        "put act.bin\nls\nget act.bin back.bin\nnls\n",
        &["--active", "-v"],
    );
    assert_file_is(&peer.work().join("act.bin"), &data);
    assert_file_is(&local.path().join("back.bin"), &data);
    assert!(out.stderr.contains("-> EPRT"), "{out}");
    assert!(!out.stderr.contains("-> EPSV"), "{out}");
    assert!(!out.stderr.contains("-> PASV"), "{out}");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with(" act.bin"), "{out}");
    assert_eq!(lines[1], "act.bin", "{out}");

    // The `active` command in a passive session.
    let local2 = tempfile::tempdir().unwrap();
    let out = cli_ok(
        peer,
        local2.path(),
        "active\nget act.bin\nput act.bin again.bin\nls again.bin\n",
        &[],
    );
    assert_file_is(&local2.path().join("act.bin"), &data);
    assert_file_is(&peer.work().join("again.bin"), &data);
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
    assert!(out.stdout.trim_end().ends_with("again.bin"), "{out}");
}

fn nls_of_an_empty_directory(peer: &Peer) {
    let local = tempfile::tempdir().unwrap();
    peer.seed_dir("empty");
    let out = cli_ok(
        peer,
        local.path(),
        "nls empty\nls empty\ncd empty\nnls\nls\n",
        &[],
    );
    assert!(out.stdout.is_empty(), "{out}");
    // mget in an empty directory finds nothing: a failure, nothing local.
    let out = cli(peer, local.path(), "cd empty\nmget *\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("no remote file matches"), "{out}");
    assert_eq!(dir_names(local.path()), Vec::<String>::new());
}

/// One test per scenario and peer: `vsftpd::put_ls_get_8_mib`, ...
macro_rules! against {
    ($peer:ident: $($scenario:ident),* $(,)?) => {
        mod $peer {
            $(
                #[test]
                fn $scenario() {
                    let peer = super::Peer::$peer();
                    super::$scenario(&peer);
                }
            )*
        }
    };
}

against!(vsftpd:
    put_ls_get_8_mib,
    directory_and_file_commands,
    mget_and_mput_globs,
    reget_and_reput,
    ascii_line_ends,
    active_mode,
    nls_of_an_empty_directory,
);

against!(pyftpdlib:
    put_ls_get_8_mib,
    directory_and_file_commands,
    mget_and_mput_globs,
    reget_and_reput,
    ascii_line_ends,
    active_mode,
    nls_of_an_empty_directory,
);

#[test]
fn reput_falls_back_to_appe_when_the_server_refuses_rest() {
    let peer = Peer::pyftpdlib_without_rest();
    let local = tempfile::tempdir().unwrap();
    let size = MIB + 99;
    let full = write_random_file(&local.path().join("up.bin"), size, 77);
    let have = 300_001;
    peer.seed_file("up.bin", &full[..have]);

    let out = cli_ok(&peer, local.path(), "reput up.bin\n", &["-v"]);
    assert_file_is(&peer.work().join("up.bin"), &full);
    assert!(out.stderr.contains("<- 502"), "REST was refused: {out}");
    assert!(out.stderr.contains("-> APPE up.bin"), "{out}");
    assert!(!out.stderr.contains("-> STOR"), "{out}");
    assert!(
        out.stderr
            .contains(&format!("reput up.bin: {} bytes", size - have)),
        "{out}"
    );

    // reget cannot work without REST: it fails, and the local part stays.
    fs::write(local.path().join("part.bin"), &full[..1000]).unwrap();
    let out = cli(&peer, local.path(), "reget up.bin part.bin\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("502"), "{out}");
    assert_file_is(&local.path().join("part.bin"), &full[..1000]);
}

#[test]
fn peers_stop_when_dropped() {
    for peer in [Peer::vsftpd(), Peer::pyftpdlib()] {
        let port = peer.port();
        drop(peer);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "something still listens on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
