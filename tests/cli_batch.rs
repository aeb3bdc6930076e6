//! The `cli` binary in batch mode (commands on a pipe) against the real
//! `serv`: a 64 MiB round trip through put, ls, get and quit; the batch
//! semantics (stop at the first failure with status 1, `-COMMAND` may fail,
//! nothing half-downloaded is left behind); the messages for an unknown
//! command and for a refused connection; two clients transferring at once.

mod common;

use std::fs;
use std::thread;

use common::{assert_file_is, assert_same_bytes, dir_names, run_cli, write_random_file, Server};

const MIB: usize = 1024 * 1024;

#[test]
fn a_64_mib_file_goes_up_is_listed_and_comes_back_identical() {
    let server = Server::start();
    let client = tempfile::tempdir().unwrap();
    let size = 64 * MIB;
    let original = write_random_file(&client.path().join("big.bin"), size, 64);

    let out = run_cli(
        server.port(),
        client.path(),
        "put big.bin\nls\nget big.bin copy.bin\nquit\n",
        &[],
    );
    assert_eq!(out.code(), 0, "{out}");

    // The server's copy, the downloaded copy: both byte-identical.
    assert_file_is(&server.root().join("big.bin"), &original);
    assert_file_is(&client.path().join("copy.bin"), &original);
    // Nothing else in either directory: no temporaries left behind.
    assert_eq!(dir_names(server.root()), ["big.bin"]);
    assert_eq!(dir_names(client.path()), ["big.bin", "copy.bin"]);

    // The listing is on stdout, in `ls -l` form, with the name and size.
    let line = out
        .stdout
        .lines()
        .find(|l| l.ends_with(" big.bin"))
        .unwrap_or_else(|| panic!("no listing line for big.bin on stdout: {out}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields[0].starts_with("-rw"), "{line}");
    assert_eq!(fields[4], size.to_string(), "size column of {line:?}");
    // Only the listing is on stdout: summaries go to stderr.
    assert_eq!(out.stdout.lines().count(), 1, "stdout: {:?}", out.stdout);
    assert!(
        out.stderr.contains(&format!("put big.bin: {size} bytes")),
        "{out}"
    );
    assert!(
        out.stderr.contains(&format!("get big.bin: {size} bytes")),
        "{out}"
    );
}

#[test]
fn the_first_failing_command_stops_the_batch_with_status_1() {
    let server = Server::start();
    let client = tempfile::tempdir().unwrap();
    let later = write_random_file(&client.path().join("later.txt"), 1000, 1);

    let out = run_cli(
        server.port(),
        client.path(),
        "get missing\nput later.txt\nquit\n",
        &[],
    );
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("550"), "stderr names the reply: {out}");
    assert!(
        out.stderr.contains("missing"),
        "stderr names the file: {out}"
    );
    assert!(
        out.stderr.contains("line 1"),
        "stderr names the line: {out}"
    );
    // The put after the failure did not run.
    assert!(
        !server.root().join("later.txt").exists(),
        "a command after the failure ran"
    );
    assert!(
        dir_names(server.root()).is_empty(),
        "{:?}",
        dir_names(server.root())
    );
    // No partial download (`missing` or a `.missing.part-*` temporary).
    assert_eq!(dir_names(client.path()), ["later.txt"]);
    assert_file_is(&client.path().join("later.txt"), &later);
}

#[test]
fn a_dash_command_may_fail_and_the_batch_goes_on() {
    let server = Server::start();
    let client = tempfile::tempdir().unwrap();
    let data = write_random_file(&client.path().join("after.bin"), 100_000, 2);

    let out = run_cli(
        server.port(),
        client.path(),
        "-get missing\nput after.bin\n",
        &[],
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(
        out.stderr.contains("550"),
        "the failure is still reported: {out}"
    );
    assert_file_is(&server.root().join("after.bin"), &data);
    assert_eq!(dir_names(client.path()), ["after.bin"]);
}

#[test]
fn an_unknown_command_fails_with_a_suggestion() {
    let server = Server::start();
    let client = tempfile::tempdir().unwrap();
    fs::write(client.path().join("f"), b"x").unwrap();

    let out = run_cli(server.port(), client.path(), "gte f\nput f\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("unknown command 'gte'"), "{out}");
    assert!(out.stderr.contains("did you mean 'get'"), "{out}");
    assert!(!server.root().join("f").exists(), "the batch went on");

    // Without a near name, the hint points to help.
    let out = run_cli(server.port(), client.path(), "frobnicate\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("unknown command 'frobnicate'"), "{out}");
    assert!(out.stderr.contains("help"), "{out}");
}

#[test]
fn a_refused_connection_is_reported_plainly() {
    // Bind then drop: the port is free and nobody listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = tempfile::tempdir().unwrap();
    let out = run_cli(port, client.path(), "ls\n", &[]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains(&format!(
            "could not connect to 127.0.0.1:{port}: connection refused"
        )),
        "{out}"
    );
    assert!(out.stdout.is_empty(), "{out}");
}

#[test]
fn two_clients_transfer_at_the_same_time() {
    let server = Server::start();
    let size = 8 * MIB;
    // Each client uploads its own file and downloads the other's, which is
    // already on the server, then its own file again under a new name.
    let seeded_a = common::pseudo_random(size, 10);
    let seeded_b = common::pseudo_random(size, 20);
    fs::write(server.root().join("seed-a.bin"), &seeded_a).unwrap();
    fs::write(server.root().join("seed-b.bin"), &seeded_b).unwrap();

    let port = server.port();
    let run = move |name: &'static str, seed: u64, other: &'static str| {
        thread::spawn(move || {
            let dir = tempfile::tempdir().unwrap();
            let up = format!("{name}.bin");
            let data = write_random_file(&dir.path().join(&up), size, seed);
            let script = format!("put {up}\nget {other}\nget {up} {name}.back\nquit\n");
            let out = run_cli(port, dir.path(), &script, &[]);
            (dir, data, out)
        })
    };
    let a = run("a", 1, "seed-b.bin");
    let b = run("b", 2, "seed-a.bin");
    let (dir_a, data_a, out_a) = a.join().unwrap();
    let (dir_b, data_b, out_b) = b.join().unwrap();
    assert_eq!(out_a.code(), 0, "{out_a}");
    assert_eq!(out_b.code(), 0, "{out_b}");

    assert_file_is(&server.root().join("a.bin"), &data_a);
    assert_file_is(&server.root().join("b.bin"), &data_b);
    assert_file_is(&dir_a.path().join("a.back"), &data_a);
    assert_file_is(&dir_b.path().join("b.back"), &data_b);
    assert_same_bytes(
        &fs::read(dir_a.path().join("seed-b.bin")).unwrap(),
        &seeded_b,
        "client a's download",
    );
    assert_same_bytes(
        &fs::read(dir_b.path().join("seed-a.bin")).unwrap(),
        &seeded_a,
        "client b's download",
    );
    assert_eq!(
        dir_names(server.root()),
        ["a.bin", "b.bin", "seed-a.bin", "seed-b.bin"]
    );
}
