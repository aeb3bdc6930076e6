//! Soak: 200 sessions at once each upload a distinct random file, read it
//! back and compare; then every file on the server is checked too. Zero
//! errors and zero corruption are required. Runs with `--features soak`
//! (`.ci/run` does).
#![cfg(feature = "soak")]

mod common;

use std::fs;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::Server;
use ftp::client::{Client, StoreMode};

const SESSIONS: usize = 200;

#[test]
fn two_hundred_concurrent_sessions_lose_no_byte() {
    let server = Server::start_with(&["-q"]);
    let port = server.port();
    let barrier = Arc::new(Barrier::new(SESSIONS));
    let workers: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || -> Result<Vec<u8>, String> {
                    // Sizes from 1 byte to ~1 MiB, content unique per session.
                    let len = 1 + (i * 5237) % (1 << 20);
                    let content = common::pseudo_random(len, 1000 + i as u64);
                    let name = format!("soak-{i:03}.bin");
                    let fail = |what: &str, e: ftp::client::ClientError| {
                        format!("session {i}: {what}: {e}")
                    };
                    let mut client = Client::connect("127.0.0.1", port, Duration::from_secs(60))
                        .map_err(|e| fail("connect", e))?;
                    client
                        .login("anonymous", "soak@")
                        .map_err(|e| fail("login", e))?;
                    // Everyone transfers at the same moment.
                    barrier.wait();
                    client
                        .store(
                            &mut content.as_slice(),
                            &name,
                            StoreMode::Replace,
                            &mut |_| {},
                        )
                        .map_err(|e| fail("put", e))?;
                    let mut back = Vec::with_capacity(len);
                    client
                        .retrieve(&name, &mut back, 0, &mut |_| {})
                        .map_err(|e| fail("get", e))?;
                    client.quit().map_err(|e| fail("quit", e))?;
                    if back != content {
                        return Err(format!("session {i}: the file read back differs"));
                    }
                    Ok(content)
                })
                .expect("spawning a session thread")
        })
        .collect();
    let mut errors = Vec::new();
    for (i, worker) in workers.into_iter().enumerate() {
        match worker.join() {
            Ok(Ok(content)) => {
                let stored = fs::read(server.root().join(format!("soak-{i:03}.bin"))).unwrap();
                if stored != content {
                    errors.push(format!("session {i}: the server's copy differs"));
                }
            }
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push(format!("session {i}: thread panicked")),
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {SESSIONS} sessions failed:\n{}",
        errors.len(),
        errors.join("\n")
    );
    let names = common::dir_names(server.root());
    assert_eq!(
        names.len(),
        SESSIONS,
        "exactly one file per session, no temporaries: {names:?}"
    );
}
