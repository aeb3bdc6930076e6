//! The client, `cli` in batch mode and the `ftp::client::Client` library,
//! against the real `serv`: every shell command with its effect on both
//! sides (stdout and the files in the server's root and the local
//! directory), wildcards in mget and mput, resumed transfers, TYPE A line
//! ends, active mode, login with a users file, the batch rules (-b, -c,
//! stop at the first failure with status 1, `-COMMAND`), status 2 for a
//! wrong command line, and stdout kept free of progress output.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    assert_file_is, assert_same_bytes, dir_names, pseudo_random, run_cli, run_serv,
    run_with_timeout, utc_stamp, write_random_file, Output, Server, PROCESS_TIMEOUT,
};
use ftp::client::{Client, ClientError, StoreMode};

const MIB: usize = 1024 * 1024;

/// `cli --timeout 20 ARGS...` (no HOST unless `args` has one) in `cwd`,
/// with `stdin` as its input.
fn cli_raw(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(cwd)
        .env_remove("FTP_PASSWORD")
        .args(["--timeout", "20"])
        .args(args);
    run_with_timeout(cmd, stdin.as_bytes(), PROCESS_TIMEOUT)
}

/// `cli -c COMMANDS 127.0.0.1 PORT` in `cwd`.
fn cli_c(server: &Server, cwd: &Path, commands: &str) -> Output {
    let port = server.port().to_string();
    cli_raw(cwd, &["-c", commands, "127.0.0.1", &port], "")
}

/// Runs `commands` on stdin and asserts that every one succeeded.
#[track_caller]
fn cli_ok(server: &Server, cwd: &Path, commands: &str, args: &[&str]) -> Output {
    let out = run_cli(server.port(), cwd, commands, args);
    assert_eq!(out.code(), 0, "commands {commands:?} failed: {out}");
    out
}

fn stdout_lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().collect()
}

/// `YYYY-MM-DD HH:MM:SS UTC`, the way `modtime` shows an MDTM stamp.
fn shown_stamp(t: SystemTime) -> String {
    let s = utc_stamp(t);
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &s[..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    )
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", path.display()));
}

#[test]
fn cd_cdup_pwd_mkdir_and_rmdir_change_the_remote_tree() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();

    let out = cli_ok(
        &server,
        local.path(),
        "pwd\nmkdir docs\ncd docs\npwd\nmkdir inner\ncwd inner\npwd\ncdup\npwd\nrmdir inner\ncdup\npwd\n",
        &[],
    );
    assert_eq!(
        stdout_lines(&out),
        ["/", "/docs", "/docs/inner", "/docs", "/"],
        "{out}"
    );
    assert!(server.root().join("docs").is_dir());
    assert_eq!(dir_names(&server.root().join("docs")), Vec::<String>::new());
    assert_eq!(
        dir_names(local.path()),
        Vec::<String>::new(),
        "nothing local"
    );

    cli_ok(&server, local.path(), "rmdir docs\n", &[]);
    assert_eq!(dir_names(server.root()), Vec::<String>::new());

    // cd into a missing directory fails and says why.
    let out = run_cli(server.port(), local.path(), "cd nowhere\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("550"), "{out}");
}

#[test]
fn size_modtime_rename_and_rm_act_on_remote_files() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let a = write_random_file(&server.root().join("a.bin"), 1000, 1);
    write_random_file(&server.root().join("c.bin"), 10, 2);
    fs::create_dir(server.root().join("olddir")).unwrap();
    // 2021-03-04 05:06:07 UTC.
    let when = UNIX_EPOCH + Duration::from_secs(1_614_834_367);
    set_mtime(&server.root().join("a.bin"), when);

    let out = cli_ok(
        &server,
        local.path(),
        "size a.bin\nmodtime a.bin\nrename a.bin b.bin\nsize b.bin\nrename olddir newdir\nrm c.bin\n",
        &[],
    );
    assert_eq!(shown_stamp(when), "2021-03-04 05:06:07 UTC");
    assert_eq!(
        stdout_lines(&out),
        ["1000", "2021-03-04 05:06:07 UTC", "1000"],
        "{out}"
    );
    assert_eq!(dir_names(server.root()), ["b.bin", "newdir"]);
    assert_file_is(&server.root().join("b.bin"), &a);

    // `delete` is `rm`; deleting what is gone fails with the server's 550.
    cli_ok(&server, local.path(), "delete b.bin\n", &[]);
    assert_eq!(dir_names(server.root()), ["newdir"]);
    let out = run_cli(server.port(), local.path(), "rm b.bin\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("550"), "{out}");
    let out = run_cli(server.port(), local.path(), "size nothing.bin\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(
        dir_names(local.path()),
        Vec::<String>::new(),
        "nothing local"
    );
}

#[test]
fn ls_and_nls_list_the_remote_directory_on_stdout() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    write_random_file(&server.root().join("one.txt"), 11, 1);
    write_random_file(&server.root().join("two.txt"), 2222, 2);
    fs::create_dir(server.root().join("sub")).unwrap();
    write_random_file(&server.root().join("sub/inside.dat"), 33, 3);

    let out = cli_ok(&server, local.path(), "nls\n", &[]);
    let mut names = stdout_lines(&out);
    names.sort();
    assert_eq!(names, ["one.txt", "sub", "two.txt"], "{out}");

    let out = cli_ok(&server, local.path(), "ls\n", &[]);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 3, "one line per entry: {out}");
    let line_of = |name: &str| {
        *lines
            .iter()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("no line for {name}: {out}"))
    };
    assert!(line_of("sub").starts_with('d'), "{out}");
    let two: Vec<&str> = line_of("two.txt").split_whitespace().collect();
    assert!(two[0].starts_with('-'), "{out}");
    assert_eq!(two[4], "2222", "size column: {out}");

    // `dir PATH` and `nls PATH` list another directory.
    let out = cli_ok(&server, local.path(), "dir sub\nnls sub\n", &[]);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with(" inside.dat"), "{out}");
    assert!(lines[1].ends_with("inside.dat"), "{out}");
    assert!(out.stderr.is_empty(), "{out}");

    // An empty directory lists as nothing, successfully.
    fs::create_dir(server.root().join("empty")).unwrap();
    let out = cli_ok(
        &server,
        local.path(),
        "nls empty
ls empty
cd empty
nls
ls
",
        &[],
    );
    assert!(out.stdout.is_empty(), "{out}");

    // A missing path is a failure.
    let out = run_cli(
        server.port(),
        local.path(),
        "ls nowhere
",
        &[],
    );
    assert_eq!(out.code(), 1, "{out}");
}

#[test]
fn get_and_put_handle_names_with_spaces_and_local_names() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("my file.txt"), 5000, 7);
    fs::create_dir(local.path().join("into")).unwrap();

    let out = cli_ok(
        &server,
        local.path(),
        "put \"my file.txt\"\nput 'my file.txt' 'other name.txt'\nget my\\ file.txt \"copy of.txt\"\nget \"other name.txt\" into\n",
        &[],
    );
    assert_file_is(&server.root().join("my file.txt"), &data);
    assert_file_is(&server.root().join("other name.txt"), &data);
    assert_file_is(&local.path().join("copy of.txt"), &data);
    // A local directory as the target: the file goes inside it.
    assert_file_is(&local.path().join("into/other name.txt"), &data);
    assert!(
        out.stderr.contains("put my file.txt: 5000 bytes"),
        "summary on stderr: {out}"
    );
    assert!(out.stderr.contains("get my file.txt: 5000 bytes"), "{out}");
    assert!(
        out.stdout.is_empty(),
        "transfers print nothing on stdout: {out}"
    );
    assert_eq!(dir_names(server.root()), ["my file.txt", "other name.txt"]);
    assert_eq!(
        dir_names(local.path()),
        ["copy of.txt", "into", "my file.txt"]
    );
}

/// The remote files of the wildcard tests, with their (distinct) contents.
fn glob_fixture() -> Vec<(&'static str, Vec<u8>)> {
    [
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
        "sub/a.dat.old",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| (*name, pseudo_random(100 + i * 37, 1000 + i as u64)))
    .collect()
}

fn write_fixture(base: &Path, files: &[(&str, Vec<u8>)]) {
    fs::create_dir_all(base.join("sub")).unwrap();
    for (name, bytes) in files {
        fs::write(base.join(name), bytes).unwrap();
    }
}

fn fixture_bytes<'a>(files: &'a [(&str, Vec<u8>)], name: &str) -> &'a [u8] {
    &files.iter().find(|(n, _)| *n == name).unwrap().1
}

#[test]
fn mget_downloads_exactly_the_files_matching_its_patterns() {
    let server = Server::start();
    let files = glob_fixture();
    write_fixture(server.root(), &files);

    let cases: &[(&str, &[&str])] = &[
        ("*.txt", &["a.txt", "b.txt", "zeta.txt"]),
        ("file?.bin", &["file1.bin", "file2.bin"]),
        ("[ab]*", &["a.txt", "alpha.log", "b.txt", "beta.cfg"]),
        ("sub/*.dat", &["sub/x.dat", "sub/y.dat"]),
        // Several patterns and a plain name in one command.
        (
            "*.md file1?.bin sub/z.txt",
            &["c.md", "file10.bin", "sub/z.txt"],
        ),
    ];
    for (patterns, expected) in cases {
        let local = tempfile::tempdir().unwrap();
        let out = cli_ok(&server, local.path(), &format!("mget {patterns}\n"), &[]);
        let mut want: Vec<String> = expected
            .iter()
            .map(|e| e.rsplit('/').next().unwrap().to_string())
            .collect();
        want.sort();
        assert_eq!(dir_names(local.path()), want, "mget {patterns}: {out}");
        for remote in *expected {
            let base = remote.rsplit('/').next().unwrap();
            assert_file_is(&local.path().join(base), fixture_bytes(&files, remote));
            assert!(
                out.stderr.contains(&format!("get {remote}: ")),
                "a summary for {remote}: {out}"
            );
        }
        assert!(out.stdout.is_empty(), "{out}");
    }

    // No match: a failure, and nothing downloaded.
    let local = tempfile::tempdir().unwrap();
    let out = run_cli(server.port(), local.path(), "mget *.nothing\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("no remote file matches"), "{out}");
    assert_eq!(dir_names(local.path()), Vec::<String>::new());
}

#[test]
fn mput_uploads_exactly_the_local_files_matching_its_patterns() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let files = glob_fixture();
    write_fixture(local.path(), &files);

    let cases: &[(&str, &[&str])] = &[
        ("*.txt", &["a.txt", "b.txt", "zeta.txt"]),
        ("file?.bin", &["file1.bin", "file2.bin"]),
        ("[ab]*", &["a.txt", "alpha.log", "b.txt", "beta.cfg"]),
        ("sub/*.dat", &["sub/x.dat", "sub/y.dat"]),
        (
            "*.md file1?.bin sub/z.txt",
            &["c.md", "file10.bin", "sub/z.txt"],
        ),
    ];
    let mut script = String::new();
    for (i, (patterns, _)) in cases.iter().enumerate() {
        script.push_str(&format!("mkdir m{i}\ncd m{i}\nmput {patterns}\ncdup\n"));
    }
    let out = cli_ok(&server, local.path(), &script, &[]);
    for (i, (patterns, expected)) in cases.iter().enumerate() {
        let remote_dir = server.root().join(format!("m{i}"));
        let mut want: Vec<String> = expected
            .iter()
            .map(|e| e.rsplit('/').next().unwrap().to_string())
            .collect();
        want.sort();
        assert_eq!(dir_names(&remote_dir), want, "mput {patterns}: {out}");
        for name in *expected {
            let base = name.rsplit('/').next().unwrap();
            assert_file_is(&remote_dir.join(base), fixture_bytes(&files, name));
        }
    }
    assert!(out.stdout.is_empty(), "{out}");

    let out = run_cli(server.port(), local.path(), "mput *.nothing\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("no local file matches"), "{out}");
}

#[test]
fn reget_completes_a_partial_download_byte_for_byte() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let size = 3 * MIB + 17;
    let full = write_random_file(&server.root().join("big.bin"), size, 11);
    let have = 1_000_001;
    fs::write(local.path().join("big.bin"), &full[..have]).unwrap();

    let out = cli_ok(&server, local.path(), "reget big.bin\n", &[]);
    assert_file_is(&local.path().join("big.bin"), &full);
    assert!(
        out.stderr
            .contains(&format!("reget big.bin: {} bytes", size - have)),
        "only the rest was transferred: {out}"
    );

    // Complete already: nothing to transfer, the file is unchanged.
    let out = cli_ok(&server, local.path(), "reget big.bin\n", &[]);
    assert!(out.stderr.contains("reget big.bin: 0 bytes"), "{out}");
    assert_file_is(&local.path().join("big.bin"), &full);

    // No local file yet: reget to a new name downloads all of it.
    let out = cli_ok(&server, local.path(), "reget big.bin fresh.bin\n", &[]);
    assert_file_is(&local.path().join("fresh.bin"), &full);
    assert!(
        out.stderr.contains(&format!("reget big.bin: {size} bytes")),
        "{out}"
    );

    // A local file longer than the remote one is not a partial copy.
    let mut longer = full.clone();
    longer.extend_from_slice(b"extra");
    fs::write(local.path().join("long.bin"), &longer).unwrap();
    let out = run_cli(server.port(), local.path(), "reget big.bin long.bin\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert_file_is(&local.path().join("long.bin"), &longer);
}

#[test]
fn reput_completes_a_partial_upload_byte_for_byte() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let size = 3 * MIB + 5;
    let full = write_random_file(&local.path().join("big.bin"), size, 12);
    let have = 1_234_567;
    fs::write(server.root().join("big.bin"), &full[..have]).unwrap();

    let out = cli_ok(&server, local.path(), "reput big.bin\n", &[]);
    assert_file_is(&server.root().join("big.bin"), &full);
    assert!(
        out.stderr
            .contains(&format!("reput big.bin: {} bytes", size - have)),
        "only the rest was transferred: {out}"
    );

    // Under another remote name that does not exist yet: all of it.
    let out = cli_ok(&server, local.path(), "reput big.bin other.bin\n", &[]);
    assert_file_is(&server.root().join("other.bin"), &full);
    assert!(
        out.stderr
            .contains(&format!("reput other.bin: {size} bytes")),
        "{out}"
    );
    // Complete already: nothing sent.
    let out = cli_ok(&server, local.path(), "reput big.bin\n", &[]);
    assert!(out.stderr.contains("reput big.bin: 0 bytes"), "{out}");
    assert_file_is(&server.root().join("big.bin"), &full);
    assert_eq!(dir_names(server.root()), ["big.bin", "other.bin"]);
}

#[test]
fn ascii_mode_converts_line_ends_both_ways() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let lf = b"one\ntwo\n\nthree\n".to_vec();
    let crlf = b"one\r\ntwo\r\n\r\nthree\r\n".to_vec();
    fs::write(server.root().join("lf.txt"), &lf).unwrap();
    fs::write(server.root().join("crlf.txt"), &crlf).unwrap();
    fs::write(local.path().join("up-lf.txt"), &lf).unwrap();
    fs::write(local.path().join("up-crlf.txt"), &crlf).unwrap();

    cli_ok(
        &server,
        local.path(),
        "ascii\n\
         get lf.txt\n\
         get crlf.txt\n\
         put up-lf.txt\n\
         put up-crlf.txt\n\
         get up-lf.txt back-lf.txt\n\
         binary\n\
         get crlf.txt crlf-binary.txt\n\
         put up-crlf.txt raw-crlf.txt\n\
         ascii\n\
         image\n\
         get lf.txt lf-image.txt\n",
        &[],
    );
    // A remote text file with LF line ends arrives with LF.
    assert_file_is(&local.path().join("lf.txt"), &lf);
    // CRLF on the server side is one line end too: LF here in TYPE A...
    assert_file_is(&local.path().join("crlf.txt"), &lf);
    // ...and untouched in TYPE I (binary, and its alias image).
    assert_file_is(&local.path().join("crlf-binary.txt"), &crlf);
    assert_file_is(&local.path().join("lf-image.txt"), &lf);
    // Uploads in TYPE A store LF on the server, whatever the local line ends.
    assert_file_is(&server.root().join("up-lf.txt"), &lf);
    assert_file_is(&server.root().join("up-crlf.txt"), &lf);
    // An upload in TYPE I is stored as it is.
    assert_file_is(&server.root().join("raw-crlf.txt"), &crlf);
    // The round trip in TYPE A gives LF back.
    assert_file_is(&local.path().join("back-lf.txt"), &lf);
}

#[test]
fn active_mode_works_for_get_put_and_ls() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("up.bin"), 2 * MIB + 3, 21);

    // --active: EPRT announces our listener; no passive request is sent.
    let out = cli_ok(
        &server,
        local.path(),
        "put up.bin\nls\nget up.bin down.bin\nnls\n",
        &["--active", "-v"],
    );
    assert_file_is(&server.root().join("up.bin"), &data);
    assert_file_is(&local.path().join("down.bin"), &data);
    assert!(out.stderr.contains("-> EPRT |1|127.0.0.1|"), "{out}");
    assert!(!out.stderr.contains("-> EPSV"), "{out}");
    assert!(!out.stderr.contains("-> PASV"), "{out}");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with(" up.bin"), "{out}");
    assert_eq!(lines[1], "up.bin", "{out}");

    // The `active` command switches a passive session; `passive` back.
    let local2 = tempfile::tempdir().unwrap();
    let out = cli_ok(
        &server,
        local2.path(),
        "verbose on\nactive\nget up.bin\nput up.bin again.bin\nls again.bin\npassive\nnls\n",
        &[],
    );
    assert_file_is(&local2.path().join("up.bin"), &data);
    assert_file_is(&server.root().join("again.bin"), &data);
    let eprt = out.stderr.find("-> EPRT").expect("EPRT after `active`");
    let epsv = out.stderr.find("-> EPSV").expect("EPSV after `passive`");
    assert!(eprt < epsv, "{out}");
    assert_eq!(out.stderr.matches("-> EPRT").count(), 3, "{out}");
    assert_eq!(out.stderr.matches("-> EPSV").count(), 1, "{out}");
    assert!(
        out.stderr.contains("data connections are now active"),
        "{out}"
    );
    let mut names = stdout_lines(&out)[1..].to_vec();
    names.sort();
    assert_eq!(names, ["again.bin", "up.bin"], "{out}");
}

#[test]
fn quote_prints_the_reply_and_fails_on_a_refusal() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();

    let out = cli_ok(&server, local.path(), "quote NOOP\nliteral noop\n", &[]);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l.starts_with("200")), "{out}");

    let out = run_cli(
        server.port(),
        local.path(),
        "quote SITE x\nmkdir after\n",
        &[],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.starts_with('5'), "the reply is printed: {out}");
    assert!(out.stderr.contains("line 1"), "{out}");
    assert!(!server.root().join("after").exists(), "the batch stopped");
}

#[test]
fn status_shows_the_connection_and_settings() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let out = cli_ok(
        &server,
        local.path(),
        "status\nascii\nactive\nstatus\n",
        &[],
    );
    let text = &out.stdout;
    assert!(
        text.contains(&format!(
            "connected to 127.0.0.1:{} as anonymous",
            server.port()
        )),
        "{out}"
    );
    let (before, after) = text.split_at(text.rfind("connected to").unwrap());
    assert!(before.contains("binary (TYPE I)"), "{out}");
    assert!(before.contains("passive"), "{out}");
    assert!(before.contains("timeout: 20 s"), "{out}");
    assert!(after.contains("ASCII (TYPE A)"), "{out}");
    assert!(after.contains("active (EPRT, PORT)"), "{out}");

    // Without a host, status says so.
    let out = cli_raw(local.path(), &["-c", "status"], "");
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.starts_with("not connected"), "{out}");
}

#[test]
fn open_and_close_connect_and_disconnect_inside_the_shell() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    write_random_file(&server.root().join("seen.txt"), 10, 3);
    let port = server.port();

    let out = cli_raw(
        local.path(),
        &["-c", &format!("open 127.0.0.1 {port}; ls; close; quit")],
        "",
    );
    assert_eq!(out.code(), 0, "{out}");
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].ends_with(" seen.txt"), "{out}");
    assert!(
        out.stderr
            .contains(&format!("connected to 127.0.0.1:{port}")),
        "{out}"
    );

    // After close (or disconnect), remote commands fail: not connected.
    let out = cli_raw(
        local.path(),
        &[
            "-c",
            &format!("open 127.0.0.1 {port}; disconnect; status; nls; mkdir late"),
        ],
        "",
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stdout.starts_with("not connected"), "{out}");
    assert!(out.stderr.contains("not connected"), "{out}");
    assert!(out.stderr.contains("line 4"), "{out}");
    assert!(!server.root().join("late").exists());

    // Without a host, a remote command fails at once.
    let out = cli_raw(local.path(), &[], "ls\n");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("not connected"), "{out}");

    // open to a closed port fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = cli_raw(
        local.path(),
        &["-c", &format!("open 127.0.0.1 {closed}")],
        "",
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("connection refused"), "{out}");
}

#[test]
fn batch_file_and_dash_c_run_their_commands() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("f.bin"), 4096, 5);
    let script = local.path().join("script.txt");
    fs::write(
        &script,
        "# a comment, then a blank line\n\nmkdir fromfile\ncd fromfile\nput f.bin\npwd\n",
    )
    .unwrap();
    let port = server.port().to_string();

    let out = cli_raw(
        local.path(),
        &["-b", script.to_str().unwrap(), "127.0.0.1", &port],
        "",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(stdout_lines(&out), ["/fromfile"], "{out}");
    assert_file_is(&server.root().join("fromfile/f.bin"), &data);

    let out = cli_c(
        &server,
        local.path(),
        "mkdir fromc; cd fromc; put f.bin g.bin; nls",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(stdout_lines(&out), ["g.bin"], "{out}");
    assert_file_is(&server.root().join("fromc/g.bin"), &data);

    // A batch file that cannot be read: status 1.
    let out = cli_raw(
        local.path(),
        &["-b", "no-such-script", "127.0.0.1", &port],
        "",
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("no-such-script"), "{out}");
}

#[test]
fn a_batch_stops_at_its_first_failure_with_status_1() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let port = server.port().to_string();

    // stdin
    let out = run_cli(
        server.port(),
        local.path(),
        "mkdir one\nrm missing\nmkdir two\n",
        &[],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("line 2"), "{out}");
    assert!(out.stderr.contains("rm missing"), "{out}");
    assert!(out.stderr.contains("550"), "{out}");
    assert!(server.root().join("one").is_dir());
    assert!(!server.root().join("two").exists(), "a later command ran");

    // -c
    let out = cli_c(&server, local.path(), "mkdir three; cd nowhere; mkdir four");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("line 2"), "{out}");
    assert!(server.root().join("three").is_dir());
    assert!(!server.root().join("four").exists(), "a later command ran");

    // -b
    let script = local.path().join("batch.txt");
    fs::write(&script, "mkdir five\nget missing.bin\nmkdir six\n").unwrap();
    let out = cli_raw(
        local.path(),
        &["-b", script.to_str().unwrap(), "127.0.0.1", &port],
        "",
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("line 2"), "{out}");
    assert!(server.root().join("five").is_dir());
    assert!(!server.root().join("six").exists(), "a later command ran");
    // The failed download left no file (nor temporary) behind.
    assert_eq!(dir_names(local.path()), ["batch.txt"]);

    // An unknown command is a failure too, with a suggestion.
    let out = cli_c(&server, local.path(), "gte x; mkdir seven");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("did you mean 'get'?"), "{out}");
    assert!(!server.root().join("seven").exists());

    // A usage error is a failure.
    let out = cli_c(&server, local.path(), "rename onlyone; mkdir eight");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("usage: rename FROM TO"), "{out}");
    assert!(!server.root().join("eight").exists());

    // `quit` (and its aliases) ends the batch with status 0.
    for quit in ["quit", "bye", "exit"] {
        let out = cli_c(&server, local.path(), &format!("pwd; {quit}; mkdir nine"));
        assert_eq!(out.code(), 0, "{out}");
        assert_eq!(stdout_lines(&out), ["/"], "{out}");
        assert!(!server.root().join("nine").exists());
    }
}

#[test]
fn a_dash_command_may_fail_without_stopping_the_batch() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let out = run_cli(
        server.port(),
        local.path(),
        "-rm missing\n-cd nowhere\nmkdir two\npwd\n",
        &[],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("warning: line 1"), "{out}");
    assert!(out.stderr.contains("warning: line 2"), "{out}");
    assert!(server.root().join("two").is_dir());
    assert_eq!(stdout_lines(&out), ["/"], "{out}");

    let out = cli_c(&server, local.path(), "pwd; -get nothing.bin; mkdir three");
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("warning: line 2"), "{out}");
    assert!(server.root().join("three").is_dir());
    assert_eq!(
        dir_names(local.path()),
        Vec::<String>::new(),
        "no partial file"
    );

    // As the first of -c's commands, in the `--commands=` form that clap
    // takes for a value starting with `-`.
    let port = server.port().to_string();
    let out = cli_raw(
        local.path(),
        &["--commands=-rm nothing.bin; mkdir four", "127.0.0.1", &port],
        "",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(server.root().join("four").is_dir());
}

#[test]
fn a_wrong_command_line_exits_with_status_2() {
    let local = tempfile::tempdir().unwrap();
    for args in [
        &["--nope"][..],
        &["127.0.0.1", "notaport"],
        &["--timeout", "soon", "127.0.0.1"],
        &["-b", "x", "-c", "pwd"],
    ] {
        let out = cli_raw(local.path(), args, "");
        assert_eq!(out.code(), 2, "cli {args:?}: {out}");
        assert!(out.stdout.is_empty(), "{out}");
        assert!(!out.stderr.is_empty(), "{out}");
    }
    let out = cli_raw(local.path(), &["--nope"], "");
    assert!(out.stderr.contains("--nope"), "{out}");
}

#[test]
fn users_file_logins_with_the_right_and_the_wrong_password() {
    let hashed = run_serv(&["--hash-password"], b"s3cret\n");
    assert_eq!(hashed.code(), 0, "{hashed}");
    let hash = hashed.stdout.trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hashed}");
    let accounts = tempfile::tempdir().unwrap();
    let users = accounts.path().join("users");
    fs::write(&users, format!("alice:{hash}\n")).unwrap();
    let users = users.to_str().unwrap();

    let server = Server::start_with(&["--users", users]);
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("f.bin"), 777, 9);

    let out = cli_ok(
        &server,
        local.path(),
        "put f.bin\nstatus\n",
        &["--user", "alice", "--password", "s3cret"],
    );
    assert_file_is(&server.root().join("f.bin"), &data);
    assert!(out.stdout.contains("as alice"), "{out}");

    // The password from the environment.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.current_dir(local.path())
        .env("FTP_PASSWORD", "s3cret")
        .args(["--timeout", "20", "--user", "alice"])
        .args(["127.0.0.1", &server.port().to_string()]);
    let out = run_with_timeout(cmd, b"size f.bin\n", PROCESS_TIMEOUT);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "777\n", "{out}");

    // A wrong password: status 1, the 530 on stderr, no command run.
    let out = run_cli(
        server.port(),
        local.path(),
        "mkdir never\n",
        &["--user", "alice", "--password", "wrong"],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("530"), "{out}");
    assert!(out.stderr.contains("alice"), "{out}");
    assert!(!server.root().join("never").exists());

    // Anonymous is refused when only a users file is given.
    let out = run_cli(server.port(), local.path(), "pwd\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("530"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");

    // A user without a password, in batch mode: told how to give one.
    let out = run_cli(server.port(), local.path(), "pwd\n", &["--user", "alice"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("--password"), "{out}");

    // `user NAME PASSWORD` logs in again inside a session.
    let server = Server::start_with(&["--users", users, "--anonymous"]);
    let out = cli_ok(
        &server,
        local.path(),
        "user alice s3cret\nstatus\nmkdir byalice\n",
        &[],
    );
    assert!(out.stdout.contains("as alice"), "{out}");
    assert!(server.root().join("byalice").is_dir());
    let out = run_cli(
        server.port(),
        local.path(),
        "user alice wrong\nmkdir no\n",
        &[],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("530"), "{out}");
    assert!(!server.root().join("no").exists());
}

#[test]
fn batch_output_has_no_progress_redraws() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("big.bin"), 16 * MIB, 31);
    let out = cli_ok(
        &server,
        local.path(),
        "put big.bin\nls\nget big.bin copy.bin\nreget big.bin copy.bin\nmget big*\nnls\n",
        &[],
    );
    assert_file_is(&local.path().join("copy.bin"), &data);
    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains('\r'), "a carriage return on {name}: {out}");
        assert!(!text.contains("\x1b["), "an ANSI escape on {name}: {out}");
    }
    // stdout is the listing and the names, nothing else.
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].ends_with(" big.bin"), "{out}");
    assert_eq!(lines[1], "big.bin", "{out}");
    // stderr is one summary line per transfer.
    let summaries: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(summaries.len(), 4, "{out}");
    for line in summaries {
        assert!(
            line.contains(" bytes in ") && line.ends_with(" MiB/s)"),
            "{line:?}"
        );
    }
}

#[test]
fn local_commands_lcd_lpwd_lls_help_and_verbose() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    fs::create_dir(local.path().join("sub")).unwrap();
    fs::write(local.path().join("sub/five.txt"), b"12345").unwrap();
    fs::create_dir(local.path().join("sub/inner")).unwrap();
    let remote = write_random_file(&server.root().join("r.bin"), 100, 4);
    let canonical = local.path().canonicalize().unwrap();

    let out = cli_ok(
        &server,
        local.path(),
        "lpwd\nlcd sub\nlpwd\nlls\nget r.bin\nlls .\n",
        &[],
    );
    let lines = stdout_lines(&out);
    let sub = canonical.join("sub");
    assert_eq!(lines[0], canonical.to_str().unwrap(), "{out}");
    assert_eq!(lines[1], sub.to_str().unwrap(), "{out}");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["5", "five.txt"]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["-", "inner/"]
    );
    assert_eq!(lines.len(), 7, "{out}");
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["5", "five.txt"]
    );
    assert_eq!(
        lines[5].split_whitespace().collect::<Vec<_>>(),
        ["-", "inner/"]
    );
    assert_eq!(
        lines[6].split_whitespace().collect::<Vec<_>>(),
        ["100", "r.bin"]
    );
    // The download went to the new local directory.
    assert_file_is(&sub.join("r.bin"), &remote);
    assert!(out.stderr.contains("local directory now"), "{out}");
    let out = run_cli(server.port(), local.path(), "lcd nowhere\n", &[]);
    assert_eq!(out.code(), 1, "{out}");

    // help lists every command (on stderr, in columns); help COMMAND
    // shows its usage.
    let out = cli_ok(&server, local.path(), "help\nhelp get\n? bye\n", &[]);
    let words: Vec<&str> = out.stderr.split_whitespace().collect();
    for name in [
        "get", "mget", "reput", "modtime", "open", "quote", "mirror", "quit",
    ] {
        assert!(words.contains(&name), "help names {name}: {out}");
    }
    assert!(out.stderr.contains("usage: get REMOTE [LOCAL]"), "{out}");
    assert!(
        out.stderr.contains("usage: quit (also: bye, exit)"),
        "{out}"
    );
    let out = run_cli(server.port(), local.path(), "help gett\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("did you mean 'get'?"), "{out}");

    // verbose shows the dialogue on stderr, never on stdout.
    let out = cli_ok(
        &server,
        local.path(),
        "verbose\npwd\nverbose off\nsize r.bin\n",
        &[],
    );
    assert_eq!(stdout_lines(&out), ["/", "100"], "{out}");
    assert!(out.stderr.contains("-> PWD"), "{out}");
    assert!(out.stderr.contains("<- 257"), "{out}");
    assert!(!out.stderr.contains("-> SIZE"), "verbose off: {out}");
    let out = cli_ok(&server, local.path(), "pwd\n", &["-v"]);
    assert!(out.stderr.contains("-> USER anonymous"), "{out}");
    assert!(
        out.stderr.contains("-> PASS ****"),
        "the password is hidden: {out}"
    );
}

#[test]
fn the_library_api_drives_a_whole_session() {
    let server = Server::start();
    let timeout = Duration::from_secs(20);
    let mut client = Client::connect("127.0.0.1", server.port(), timeout).expect("connect");
    assert_eq!(client.greeting.code().as_u16(), 220);
    assert_eq!(client.peer(), server.addr());
    client
        .login("anonymous", "guest@example.org")
        .expect("login");

    client.mkdir("lib").expect("mkdir");
    client.cwd("lib").expect("cwd");
    assert_eq!(client.pwd().expect("pwd"), "/lib");

    let data = pseudo_random(3 * MIB + 1, 77);
    let mut seen = 0;
    let sent = client
        .store(&mut &data[..], "f.bin", StoreMode::Replace, &mut |n| {
            seen = n
        })
        .expect("store");
    assert_eq!(sent, data.len() as u64);
    assert_eq!(seen, data.len() as u64, "progress reached the end");
    assert_file_is(&server.root().join("lib/f.bin"), &data);

    let mut back = Vec::new();
    let got = client
        .retrieve("f.bin", &mut back, 0, &mut |_| {})
        .expect("retrieve");
    assert_eq!(got, data.len() as u64);
    assert_same_bytes(&back, &data, "retrieved into a Vec");
    let mut tail = Vec::new();
    client
        .retrieve("f.bin", &mut tail, 1000, &mut |_| {})
        .expect("retrieve from an offset");
    assert_same_bytes(&tail, &data[1000..], "retrieved from offset 1000");

    // Append and resume on the server side.
    client
        .store(&mut &b"more"[..], "f.bin", StoreMode::Append, &mut |_| {})
        .expect("append");
    assert_eq!(client.size("f.bin").expect("size"), data.len() as u64 + 4);
    client
        .store(&mut &b"XY"[..], "f.bin", StoreMode::Resume(2), &mut |_| {})
        .expect("resume");
    let on_disk = fs::read(server.root().join("lib/f.bin")).unwrap();
    assert_eq!(&on_disk[..4], &[data[0], data[1], b'X', b'Y'][..]);

    let listing = client.list(None, true).expect("list");
    assert!(
        listing.lines().any(|l| l.ends_with(" f.bin")),
        "{listing:?}"
    );
    assert!(!listing.contains('\r'), "LF line ends: {listing:?}");
    assert_eq!(client.names(None).expect("names"), ["f.bin"]);
    let stamp = client.mdtm("f.bin").expect("mdtm");
    assert_eq!(stamp.len(), 14, "{stamp:?}");

    client.rename("f.bin", "g.bin").expect("rename");
    assert_eq!(dir_names(&server.root().join("lib")), ["g.bin"]);
    client.delete("g.bin").expect("delete");
    assert!(client.names(None).expect("names").is_empty());

    // A refusal carries the server's reply.
    let err = client.cwd("missing").unwrap_err();
    assert_eq!(err.reply().map(|r| r.code().as_u16()), Some(550), "{err}");
    assert!(matches!(err, ClientError::Refused { .. }), "{err}");
    let err = client.delete("missing").unwrap_err();
    assert!(err.to_string().contains("550"), "{err}");

    let replies = client.quote("NOOP").expect("quote");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].code().as_u16(), 200);

    client.cdup().expect("cdup");
    client.rmdir("lib").expect("rmdir");
    assert_eq!(dir_names(server.root()), Vec::<String>::new());

    // The same over active data connections.
    client.passive = false;
    client
        .store(
            &mut &data[..1000],
            "active.bin",
            StoreMode::Replace,
            &mut |_| {},
        )
        .expect("active store");
    let mut back = Vec::new();
    client
        .retrieve("active.bin", &mut back, 0, &mut |_| {})
        .expect("active retrieve");
    assert_same_bytes(&back, &data[..1000], "active round trip");

    client.quit().expect("quit");
}

// Regressions: client bugs found and fixed (7d9f1bc and the security review);
// each test states the correct behaviour.

#[test]
fn binary_downloads_stay_binary_after_user_logs_in_again() {
    let hashed = run_serv(&["--hash-password"], b"s3cret\n");
    assert_eq!(hashed.code(), 0, "{hashed}");
    let accounts = tempfile::tempdir().unwrap();
    let users = accounts.path().join("users");
    fs::write(&users, format!("alice:{}\n", hashed.stdout.trim())).unwrap();
    let server = Server::start_with(&["--users", users.to_str().unwrap(), "--anonymous"]);
    let local = tempfile::tempdir().unwrap();
    let data = b"a\nb\nc\n".to_vec();
    fs::write(server.root().join("t.bin"), &data).unwrap();

    cli_ok(
        &server,
        local.path(),
        "get t.bin one.bin\nuser alice s3cret\nget t.bin two.bin\n",
        &[],
    );
    assert_file_is(&local.path().join("one.bin"), &data);
    // The bug: REIN reset the server to TYPE A while the client's cache
    // still said I, so two.bin arrived as "a\r\nb\r\nc\r\n".
    assert_file_is(&local.path().join("two.bin"), &data);
}

#[test]
fn mget_skips_directories_that_match_a_pattern() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    fs::create_dir(server.root().join("adir")).unwrap();
    fs::write(server.root().join("a.txt"), b"hi\n").unwrap();
    fs::write(server.root().join("b.txt"), b"ho\n").unwrap();
    // The bug: `RETR adir failed: the server answered 550 /adir: is a
    // directory`, status 1, and files after adir in NLST order were skipped.
    cli_ok(&server, local.path(), "mget *\n", &[]);
    assert_eq!(dir_names(local.path()), ["a.txt", "b.txt"]);
}

#[test]
fn the_first_dash_c_command_may_be_a_tolerated_one() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    // The bug: status 2, `error: unexpected argument '-r' found`.
    let out = cli_c(&server, local.path(), "-rm nothing.bin; mkdir made");
    assert_eq!(out.code(), 0, "{out}");
    assert!(server.root().join("made").is_dir());
}

#[test]
fn a_local_name_with_a_line_end_cannot_smuggle_a_second_command() {
    let server = Server::start();
    fs::write(server.root().join("victim.txt"), b"keep me").unwrap();
    let local = tempfile::tempdir().unwrap();
    let evil = local.path().join("a\nDELE victim.txt");
    fs::write(&evil, b"x").unwrap();
    let mut client =
        ftp::client::Client::connect("127.0.0.1", server.port(), Duration::from_secs(20)).unwrap();
    client.login("anonymous", "x").unwrap();
    let err = client
        .put_file(&evil, "a\nDELE victim.txt", &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("line end"), "{err}");
    assert_eq!(
        fs::read(server.root().join("victim.txt")).unwrap(),
        b"keep me"
    );
    // The session is still in step.
    assert_eq!(client.pwd().unwrap(), "/");
    client.quit().unwrap();
}
