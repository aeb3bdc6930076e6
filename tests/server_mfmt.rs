//! MFMT (draft-somers-ftp-mfxx §3) against the real `serv`: FEAT lists it,
//! it sets a file's time (read back by MDTM and on disk), answers
//! `213 Modify=TIME; PATH`, refuses a directory or a missing file (550), a
//! bad time (501), and any use on a read-only server, where the file keeps
//! its time.

mod common;

use std::fs;
use std::time::{Duration, UNIX_EPOCH};

use common::Server;

#[test]
fn mfmt_sets_the_time_that_mdtm_and_the_disk_then_show() {
    let server = Server::start();
    let file = server.root().join("a file é.txt");
    fs::write(&file, b"hello").unwrap();
    fs::create_dir(server.root().join("dir")).unwrap();
    let mut c = server.login();

    let feat = c.expect("FEAT", 211).text();
    assert!(feat.lines().any(|l| l.trim() == "MFMT"), "{feat}");

    let r = c.expect("MFMT 20210304050607 a file é.txt", 213);
    assert_eq!(r.text(), "213 Modify=20210304050607; a file é.txt");
    assert_eq!(
        c.expect("MDTM a file é.txt", 213).text(),
        "213 20210304050607"
    );
    assert_eq!(
        fs::metadata(&file).unwrap().modified().unwrap(),
        UNIX_EPOCH + Duration::from_secs(1_614_834_367)
    );

    c.expect("MFMT 20210304050607 missing", 550);
    c.expect("MFMT 20210304050607 dir", 550);
    c.expect("MFMT 20211304050607 a file é.txt", 501);
    c.expect("MFMT yesterday a file é.txt", 501);
    c.expect("MFMT 20210304050607", 501);
    // Nothing above changed the time.
    assert_eq!(
        c.expect("MDTM a file é.txt", 213).text(),
        "213 20210304050607"
    );
}

#[test]
fn mfmt_is_a_write_refused_on_a_read_only_server() {
    let server = Server::start_with(&["--read-only"]);
    let file = server.root().join("f");
    fs::write(&file, b"x").unwrap();
    let before = fs::metadata(&file).unwrap().modified().unwrap();
    let mut c = server.login();
    let r = c.expect("MFMT 20210304050607 f", 550);
    assert!(r.text().contains("read-only"), "{r:?}");
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), before);
}
