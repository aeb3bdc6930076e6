//! `mirror` and `mirror -R` in the real `cli` against the real `serv`: a
//! tree with nested directories, names with spaces and UTF-8, empty files
//! and an empty directory goes up and comes back identical, with its
//! times; a second `--only-newer` run transfers nothing; `--delete`
//! removes exactly the extras; `--parallel 4` gives the same tree; a
//! download killed mid-file is completed by `--continue`; `--dry-run`
//! changes nothing; a failure leaves status 1 after the rest is done.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{assert_same_tree, mirror_summary, run_cli, tree, write_random_file, Output, Server};

/// Builds the test tree under `root`.
fn make_site(root: &Path) {
    fs::create_dir_all(root.join("deep/er/est")).unwrap();
    fs::create_dir_all(root.join("empty dir")).unwrap();
    fs::create_dir_all(root.join("naïve café/文件")).unwrap();
    write_random_file(&root.join("index.html"), 5_000, 1);
    write_random_file(&root.join("a file with spaces.txt"), 1_234, 2);
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("deep/er/est/zero"), b"").unwrap();
    write_random_file(&root.join("deep/er/est/big.bin"), 3 * 1024 * 1024 + 7, 3);
    write_random_file(&root.join("naïve café/文件/ünï cødé.dat"), 70_000, 4);
    write_random_file(&root.join("deep/top.bin"), 10, 5);
}

/// `cli -c COMMANDS 127.0.0.1 PORT` in `cwd`.
fn cli(server: &Server, cwd: &Path, commands: &str) -> Output {
    run_cli(server.port(), cwd, "", &["-c", commands])
}

/// No `.NAME.part` anywhere under `root`.
fn assert_no_parts(root: &Path) {
    for name in tree(root).keys() {
        let base = name.rsplit('/').next().unwrap();
        assert!(
            !(base.starts_with('.') && base.ends_with(".part")),
            "a part file is left: {name}"
        );
    }
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p).unwrap().modified().unwrap()
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn a_tree_goes_up_and_comes_back_identical_with_its_times() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    make_site(&work.path().join("site"));
    // An old time, so that a time copied is told from a time of arrival.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let index = work.path().join("site/index.html");
    fs::File::options()
        .write(true)
        .open(&index)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let out = cli(&server, work.path(), "mirror -R --delete site /www");
    assert_eq!(out.code(), 0, "{out}");
    assert_same_tree(&server.root().join("www"), &work.path().join("site"));
    assert_eq!(mirror_summary(&out), (7, 3_221_979, 0, 0, 0), "{out}");
    assert_eq!(mtime(&server.root().join("www/index.html")), old);

    let out = cli(&server, work.path(), "mirror /www copy");
    assert_eq!(out.code(), 0, "{out}");
    assert_same_tree(&work.path().join("copy"), &work.path().join("site"));
    assert_eq!(mirror_summary(&out).0, 7, "{out}");
    assert_eq!(mtime(&work.path().join("copy/index.html")), old);
    // Every file's time came along, to the second.
    for name in [
        "deep/er/est/big.bin",
        "naïve café/文件/ünï cødé.dat",
        "empty",
    ] {
        assert_eq!(
            secs(mtime(&work.path().join("copy").join(name))),
            secs(mtime(&work.path().join("site").join(name))),
            "{name}"
        );
    }
    assert_no_parts(server.root());
    assert_no_parts(work.path());
}

#[test]
fn a_second_only_newer_run_transfers_nothing_either_way() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    make_site(&work.path().join("site"));
    for _ in 0..2 {
        let out = cli(&server, work.path(), "mirror -R --only-newer site /www");
        assert_eq!(out.code(), 0, "{out}");
    }
    let out = cli(&server, work.path(), "mirror -R --only-newer site /www");
    assert_eq!(mirror_summary(&out), (0, 0, 7, 0, 0), "{out}");
    let out = cli(&server, work.path(), "mirror --only-newer /www copy");
    assert_eq!(mirror_summary(&out).0, 7, "{out}");
    let out = cli(&server, work.path(), "mirror --only-newer /www copy");
    assert_eq!(mirror_summary(&out), (0, 0, 7, 0, 0), "{out}");

    // A changed file goes again, and only it.
    thread::sleep(Duration::from_millis(1100));
    fs::write(work.path().join("site/empty"), b"not any more").unwrap();
    let out = cli(&server, work.path(), "mirror -R --only-newer site /www");
    assert_eq!(mirror_summary(&out), (1, 12, 6, 0, 0), "{out}");
    assert_same_tree(&server.root().join("www"), &work.path().join("site"));
}

#[test]
fn delete_removes_exactly_the_extras_on_both_sides() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    make_site(&work.path().join("site"));
    let www = server.root().join("www");
    fs::create_dir_all(www.join("old/older")).unwrap();
    fs::write(www.join("old/older/gone.txt"), b"x").unwrap();
    fs::write(www.join("deep-extra"), b"x").unwrap();
    fs::write(www.join("keep.log"), b"x").unwrap();

    // Without --delete the extras stay.
    let out = cli(&server, work.path(), "mirror -R site /www");
    assert_eq!(out.code(), 0, "{out}");
    assert!(www.join("old/older/gone.txt").exists());

    let out = cli(
        &server,
        work.path(),
        "mirror -R --delete --exclude *.log site /www",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(mirror_summary(&out).3, 4, "{out}");
    assert!(
        www.join("keep.log").exists(),
        "an excluded file is not deleted"
    );
    fs::remove_file(www.join("keep.log")).unwrap();
    assert_same_tree(&www, &work.path().join("site"));

    // Downloading: local extras go.
    let copy = work.path().join("copy");
    fs::create_dir_all(copy.join("stale/dir")).unwrap();
    fs::write(copy.join("stale/dir/f"), b"x").unwrap();
    fs::write(copy.join("extra"), b"x").unwrap();
    let out = cli(&server, work.path(), "mirror --delete /www copy");
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(mirror_summary(&out).3, 4, "{out}");
    assert_same_tree(&copy, &work.path().join("site"));
}

#[test]
fn parallel_sessions_give_the_same_tree() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    make_site(&site);
    for i in 0..40 {
        write_random_file(&site.join(format!("deep/f {i}")), 1000 * i, i as u64);
    }
    let out = cli(&server, work.path(), "mirror -R --parallel 4 site /www");
    assert_eq!(out.code(), 0, "{out}");
    assert!(!out.stderr.contains("another session"), "{out}");
    // Four sessions logged in: the first and three more.
    let logins = |s: &Server| s.log().matches("logged in").count();
    assert!(
        server.wait_for_log("logged in", Duration::from_secs(5)) && logins(&server) >= 4,
        "{}",
        server.log()
    );
    assert_eq!(mirror_summary(&out).0, 47, "{out}");
    assert_same_tree(&server.root().join("www"), &site);
    let out = cli(&server, work.path(), "mirror --parallel 4 /www copy");
    assert_eq!(out.code(), 0, "{out}");
    assert_same_tree(&work.path().join("copy"), &site);
    assert_no_parts(server.root());
    assert_no_parts(work.path());
}

#[test]
fn a_download_killed_mid_file_is_completed_by_continue() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let size = 256 * 1024 * 1024;
    fs::create_dir(server.root().join("pub")).unwrap();
    write_random_file(&server.root().join("pub/file.iso"), size, 9);
    let part = work.path().join("copy/.file.iso.part");

    let mut child = Command::new(env!("CARGO_BIN_EXE_cli"))
        .current_dir(work.path())
        .args(["-c", "mirror /pub copy", "127.0.0.1"])
        .arg(server.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::metadata(&part).is_ok_and(|m| m.len() > 0) {
        assert!(Instant::now() < deadline, "the part never appeared");
        thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let had = fs::metadata(&part).unwrap().len();
    assert!(
        had > 0 && had < size as u64,
        "killed mid-file: {had} of {size}"
    );
    assert!(!work.path().join("copy/file.iso").exists());

    let out = cli(&server, work.path(), "mirror --continue /pub copy");
    assert_eq!(out.code(), 0, "{out}");
    let (files, bytes, ..) = mirror_summary(&out);
    assert_eq!(files, 1, "{out}");
    // Only the rest came: at least what the killed run had is not sent again.
    assert!(
        bytes <= size as u64 - had,
        "{bytes} bytes sent again; {had} were kept"
    );
    assert_same_tree(&work.path().join("copy"), &server.root().join("pub"));
    assert_no_parts(work.path());
}

#[test]
fn an_upload_resumes_its_remote_part_with_continue() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    fs::create_dir(&site).unwrap();
    let data = write_random_file(&site.join("big.bin"), 1_000_000, 7);
    fs::create_dir(server.root().join("www")).unwrap();
    // What an interrupted upload leaves: the first bytes under the part name.
    fs::write(server.root().join("www/.big.bin.part"), &data[..400_000]).unwrap();
    let out = cli(&server, work.path(), "mirror -R --continue site /www");
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(mirror_summary(&out).1, 600_000, "{out}");
    assert_same_tree(&server.root().join("www"), &site);
}

#[test]
fn dry_run_changes_nothing_and_says_what_it_would_do() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    make_site(&work.path().join("site"));
    fs::create_dir(server.root().join("www")).unwrap();
    fs::write(server.root().join("www/extra"), b"x").unwrap();
    let out = cli(
        &server,
        work.path(),
        "mirror -R --delete --dry-run site /www",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stdout
            .contains("put naïve café/文件/ünï cødé.dat (70000 bytes)"),
        "{out}"
    );
    assert!(out.stdout.contains("mkdir empty dir"), "{out}");
    assert!(out.stdout.contains("delete extra"), "{out}");
    assert!(
        out.stderr.contains("mirror (dry run, nothing done): 7 files to transfer (3221979 bytes), 0 to skip, 1 to delete, 0 conflicts"),
        "{out}"
    );
    assert_eq!(common::dir_names(&server.root().join("www")), ["extra"]);
}

#[test]
fn a_failure_gives_status_1_after_the_rest_of_the_tree() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    make_site(&work.path().join("site"));
    // A directory where the tree has a file: that file cannot arrive.
    fs::create_dir_all(server.root().join("www/index.html")).unwrap();
    let out = cli(&server, work.path(), "mirror -R site /www; pwd");
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("index.html"), "{out}");
    let (files, _, _, _, failed) = mirror_summary(&out);
    assert_eq!((files, failed), (6, 1), "{out}");
    // The batch stopped after mirror: pwd did not run.
    assert!(out.stdout.is_empty(), "{out}");
    assert!(server.root().join("www/deep/er/est/big.bin").exists());
}

#[test]
fn a_missing_remote_directory_is_an_error_with_its_name() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let out = cli(&server, work.path(), "mirror /nope copy");
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("/nope: no such remote directory"),
        "{out}"
    );
    assert!(!work.path().join("copy").exists());
}

#[test]
fn mirror_and_a_file_url_work_over_implicit_tls_with_parallel_sessions() {
    let (server, implicit) =
        Server::start_implicit_tls(&["--tls-self-signed", "--implicit-tls-port", "0"]);
    let work = tempfile::tempdir().unwrap();
    let site = work.path().join("site");
    make_site(&site);
    let url = format!("ftps://127.0.0.1:{}/", implicit.port());
    let run = |commands: &str, url: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
        cmd.current_dir(work.path())
            .env_remove("FTP_PASSWORD")
            .env_remove("NETRC")
            .env("HOME", work.path())
            .args(["--timeout", "20", "--insecure"]);
        if !commands.is_empty() {
            cmd.args(["-c", commands]);
        }
        cmd.arg(url);
        common::run_with_timeout(cmd, b"", common::PROCESS_TIMEOUT)
    };
    let out = run("mirror -R --parallel 3 site /www", &url);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!out.stderr.contains("another session"), "{out}");
    assert_same_tree(&server.root().join("www"), &site);
    let out = run("mirror --parallel 3 /www copy", &url);
    assert_eq!(out.code(), 0, "{out}");
    assert!(!out.stderr.contains("another session"), "{out}");
    assert_same_tree(&work.path().join("copy"), &site);
    // A file URL on ftps:// is fetched over TLS too.
    let file = format!("ftps://127.0.0.1:{}/www/index.html", implicit.port());
    let out = run("", &file);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        fs::read(work.path().join("index.html")).unwrap(),
        fs::read(site.join("index.html")).unwrap()
    );
}

#[test]
fn ctrl_c_stops_a_mirror_keeps_its_part_and_deletes_nothing() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let size = 256 * 1024 * 1024;
    fs::create_dir(server.root().join("pub")).unwrap();
    write_random_file(&server.root().join("pub/a.iso"), size, 9);
    write_random_file(&server.root().join("pub/b.iso"), 1000, 10);
    fs::create_dir(work.path().join("copy")).unwrap();
    fs::write(work.path().join("copy/extra"), b"x").unwrap();
    let part = work.path().join("copy/.a.iso.part");

    let child = Command::new(env!("CARGO_BIN_EXE_cli"))
        .current_dir(work.path())
        .args(["-c", "mirror --delete /pub copy", "127.0.0.1"])
        .arg(server.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fs::metadata(&part).is_ok_and(|m| m.len() > 0) {
        assert!(Instant::now() < deadline, "the part never appeared");
        thread::sleep(Duration::from_millis(1));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(part.exists(), "the part is kept for --continue: {stderr}");
    assert!(work.path().join("copy/extra").exists(), "nothing deleted");
    assert!(!work.path().join("copy/a.iso").exists());

    let out = cli(&server, work.path(), "mirror --delete --continue /pub copy");
    assert_eq!(out.code(), 0, "{out}");
    assert_same_tree(&work.path().join("copy"), &server.root().join("pub"));
}
