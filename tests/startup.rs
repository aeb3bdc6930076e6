//! How the real `serv` lives with signals: SIGHUP, which a closed terminal
//! or a process manager's "reload" sends and whose default action would kill
//! the server without its graceful stop (leaving upload temporaries behind),
//! reloads nothing without `--config` (one log line says so; reloads are
//! tests/config.rs's), and serving goes on; SIGTERM afterwards
//! still stops it gracefully.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;

/// The line `serv` logs for each SIGHUP.
/// Without `--config` and certificate files there is nothing to reload.
const IGNORED: &str = "SIGHUP received: nothing to reload (no --config and no certificate files)";

/// `kill -SIGNAL pid`.
fn send(signal: &str, server: &Server) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(server.pid().to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{signal} failed: {status}");
}

#[test]
fn sighup_is_ignored_and_the_server_keeps_serving() {
    let mut server = Server::start();
    // A session open across the signal keeps working too.
    let mut before = server.login();

    send("HUP", &server);
    assert!(
        server.wait_for_log(IGNORED, Duration::from_secs(20)),
        "no SIGHUP line in the log:\n{}",
        server.log()
    );
    assert!(server.is_running(), "SIGHUP killed the server");
    before.expect("NOOP", 200);
    let mut after = server.connect();
    after.expect_greeting();
    after.expect("NOOP", 200);
    after.login();
    after.expect("PWD", 257);

    // A second SIGHUP is one more line, not a stop.
    send("HUP", &server);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.log().matches(IGNORED).count() < 2 {
        assert!(
            Instant::now() < deadline,
            "one line per SIGHUP:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.is_running());
    server.connect().expect_greeting();
    assert!(
        !server.log().contains("no longer accepting"),
        "SIGHUP began a stop:\n{}",
        server.log()
    );

    // The SIGHUPs did not count as a first stop signal: SIGTERM now stops
    // gracefully (not the immediate exit of a second signal).
    drop((before, after));
    send("TERM", &server);
    assert!(
        server.wait_for_log("stopped", Duration::from_secs(20)),
        "SIGTERM did not stop the server gracefully:\n{}",
        server.log()
    );
    assert!(server
        .log()
        .contains("SIGTERM: no longer accepting connections"));
}
