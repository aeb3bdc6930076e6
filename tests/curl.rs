//! curl against the real `serv`, as a second independent client: downloads
//! and uploads byte-identical, with EPSV (curl's default) and with PASV
//! (`--disable-epsv`), each checked in the server's `-v` log; LIST and NLST
//! (`--list-only`) of `/`; uploads into a new directory (`--ftp-create-dirs`,
//! which needs CWD to fail cleanly and MKD to work); and exit status 78
//! ("remote file not found") for a missing file.

mod common;

use std::fs;

use common::{assert_file_is, dir_names, run_curl, write_random_file, Server};

fn url(server: &Server, path: &str) -> String {
    format!("ftp://127.0.0.1:{}/{path}", server.port())
}

/// Downloads a 5 MiB file with curl, with or without `--disable-epsv`.
fn download(disable_epsv: bool) {
    let server = Server::start_with(&["-v"]);
    let data = write_random_file(&server.root().join("file.bin"), 5 * 1024 * 1024 + 3, 5);
    let local = tempfile::tempdir().unwrap();

    let target = url(&server, "file.bin");
    let mut args = vec!["-sS", "--ftp-pasv", target.as_str(), "-o", "out.bin"];
    if disable_epsv {
        args.push("--disable-epsv");
    }
    let out = run_curl(local.path(), &args);
    assert_eq!(out.code(), 0, "{out}\n--- server log ---\n{}", server.log());
    assert_file_is(&local.path().join("out.bin"), &data);

    let log = server.log();
    let (used, unused) = if disable_epsv {
        ("-> PASV", "-> EPSV")
    } else {
        ("-> EPSV", "-> PASV")
    };
    assert!(log.contains(used), "curl did not send {used}: {log}");
    assert!(!log.contains(unused), "curl sent {unused}: {log}");
    assert!(log.contains("-> RETR file.bin"), "{log}");
}

#[test]
fn download_over_epsv_is_byte_identical() {
    download(false);
}

#[test]
fn download_over_pasv_is_byte_identical() {
    download(true);
}

#[test]
fn upload_is_byte_identical_and_replaces_an_old_file() {
    let server = Server::start();
    fs::write(server.root().join("name.bin"), b"old content").unwrap();
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("local.bin"), 2 * 1024 * 1024 + 1, 9);

    for extra in [None, Some("--disable-epsv")] {
        let target = url(&server, "name.bin");
        let mut args = vec!["-sS", "-T", "local.bin", target.as_str()];
        args.extend(extra);
        let out = run_curl(local.path(), &args);
        assert_eq!(out.code(), 0, "{extra:?}: {out}");
        assert_file_is(&server.root().join("name.bin"), &data);
        assert_eq!(dir_names(server.root()), ["name.bin"], "temporaries left");
    }
}

#[test]
fn upload_into_a_new_directory_with_ftp_create_dirs() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let data = write_random_file(&local.path().join("f.bin"), 10_000, 3);

    let target = url(&server, "new/deeper/f.bin");
    let out = run_curl(
        local.path(),
        &["-sS", "--ftp-create-dirs", "-T", "f.bin", target.as_str()],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_file_is(&server.root().join("new/deeper/f.bin"), &data);
}

#[test]
fn listing_of_the_root_shows_the_files() {
    let server = Server::start();
    fs::write(server.root().join("shown.txt"), vec![b'z'; 4321]).unwrap();
    fs::create_dir(server.root().join("folder")).unwrap();
    let local = tempfile::tempdir().unwrap();

    let root_url = url(&server, "");
    let out = run_curl(local.path(), &["-sS", root_url.as_str()]);
    assert_eq!(out.code(), 0, "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.ends_with(" shown.txt"))
        .unwrap_or_else(|| panic!("shown.txt is not listed: {out}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields[0].starts_with('-'), "{line}");
    assert_eq!(fields[4], "4321", "{line}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with('d') && l.ends_with(" folder")),
        "{out}"
    );

    let out = run_curl(local.path(), &["-sS", "--list-only", root_url.as_str()]);
    assert_eq!(out.code(), 0, "{out}");
    let names: Vec<&str> = out.stdout.lines().map(str::trim_end).collect();
    assert_eq!(names, ["folder", "shown.txt"], "{out}");
}

#[test]
fn a_missing_file_makes_curl_fail_with_78() {
    let server = Server::start();
    let local = tempfile::tempdir().unwrap();
    let target = url(&server, "missing.bin");
    let out = run_curl(local.path(), &["-sS", target.as_str(), "-o", "out.bin"]);
    assert_eq!(out.code(), 78, "curl: remote file not found: {out}");
    // Nothing was received, so nothing but possibly an empty file is here.
    if let Ok(meta) = fs::metadata(local.path().join("out.bin")) {
        assert_eq!(meta.len(), 0);
    }

    // The server is unharmed: the next download works.
    fs::write(server.root().join("present.txt"), b"present\n").unwrap();
    let target = url(&server, "present.txt");
    let out = run_curl(local.path(), &["-sS", target.as_str()]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.stdout, "present\n");
}
