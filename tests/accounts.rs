//! Accounts from `--config`: each user sees only their home as `/` and can
//! do exactly what their permissions say, every permission tried both ways;
//! a link inside a home pointing elsewhere in the served root leads
//! nowhere; a drop box; anonymous read-only on /pub; path overrides;
//! per-user max_sessions; a missing home.

mod common;

use std::fs;
use std::io::Write;
use std::net::Shutdown;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{connect_with_timeout, read_all, Control, Reply, Server};
use ftp::server::accounts::Permission;

/// One argon2id hash of "pw", made once (each costs real work).
fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ftp::server::auth::hash_password("pw"))
}

/// A `[[users]]` entry.
fn user(name: &str, home: &str, permissions: &[&str], extra: &str) -> String {
    let list: Vec<String> = permissions.iter().map(|p| format!("{p:?}")).collect();
    format!(
        "[[users]]\nname = {name:?}\npassword = {:?}\nhome = {home:?}\npermissions = [{}]\n{extra}\n",
        hash(),
        list.join(", ")
    )
}

/// Writes `text` as a config file in a directory of its own and starts
/// `serv --config` on it (root and port from the test harness's flags).
fn start(text: &str) -> (Server, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("serv.toml");
    fs::write(&path, text).unwrap();
    let server = Server::start_with(&["--config", path.to_str().unwrap()]);
    (server, dir, path)
}

fn login(server: &Server, name: &str) -> Control {
    let mut c = server.connect();
    c.expect_greeting();
    let pass = if name == "anonymous" { "a@b" } else { "pw" };
    c.expect(&format!("USER {name}"), 331);
    c.expect(&format!("PASS {pass}"), 230);
    c
}

/// A transfer command over a fresh passive connection: the data read (for
/// a download or listing) or `upload` sent, and the final reply; a refusal
/// before 150 is returned as it is.
fn transfer(c: &mut Control, command: &str, upload: Option<&[u8]>) -> (Reply, Vec<u8>) {
    let port = c.pasv();
    let mut data = connect_with_timeout(port);
    let first = c.cmd(command);
    if first.code != 150 {
        return (first, Vec::new());
    }
    let bytes = match upload {
        Some(bytes) => {
            data.write_all(bytes).unwrap();
            data.shutdown(Shutdown::Write).unwrap();
            drop(data);
            Vec::new()
        }
        None => read_all(data),
    };
    (c.read_reply(), bytes)
}

/// The command that needs `p`, run in a home holding the file `f` and the
/// empty directory `d`; its final reply.
fn attempt(c: &mut Control, p: Permission) -> Reply {
    match p {
        Permission::List => transfer(c, "LIST", None).0,
        Permission::Download => transfer(c, "RETR f", None).0,
        Permission::Upload => transfer(c, "STOR new", Some(b"new")).0,
        Permission::Overwrite => transfer(c, "STOR f", Some(b"replaced")).0,
        Permission::Append => transfer(c, "APPE f", Some(b"+more")).0,
        Permission::Delete => c.cmd("DELE f"),
        Permission::Rename => c.cmd("RNFR f"),
        Permission::Mkdir => c.cmd("MKD newdir"),
        Permission::Rmdir => c.cmd("RMD d"),
    }
}

fn make_home(root: &Path, home: &str) -> PathBuf {
    let dir = root.join(home.trim_start_matches('/'));
    fs::create_dir_all(dir.join("d")).unwrap();
    fs::write(dir.join("f"), b"data").unwrap();
    dir
}

#[test]
fn every_permission_is_allowed_with_it_and_refused_without_it() {
    let all: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
    let mut text = user("full", "/h/full", &all, "");
    for p in Permission::ALL {
        let without: Vec<&str> = all.iter().copied().filter(|n| *n != p.name()).collect();
        text += &user(&format!("no_{p}"), &format!("/h/no_{p}"), &without, "");
    }
    let (server, _dir, _) = start(&text);
    for p in Permission::ALL {
        // Allowed: a fresh home for each attempt.
        let home = make_home(server.root(), &format!("/h/full_{p}"));
        let _ = fs::remove_dir_all(server.root().join("h/full"));
        fs::rename(&home, server.root().join("h/full")).unwrap();
        let mut c = login(&server, "full");
        let reply = attempt(&mut c, p);
        assert!(
            reply.code < 400,
            "{p} with the permission was refused: {reply:?}"
        );
        c.cmd("QUIT");

        // Refused: 550 naming the permission, and nothing changed.
        let home = make_home(server.root(), &format!("/h/no_{p}"));
        let before = common::tree(&home);
        let mut c = login(&server, &format!("no_{p}"));
        let reply = attempt(&mut c, p);
        assert_eq!(reply.code, 550, "{p} without the permission: {reply:?}");
        let text = reply.text();
        assert!(
            text.contains(&format!("lacks the \"{p}\" permission")),
            "{p}: {text}"
        );
        assert_eq!(common::tree(&home), before, "{p} changed the home");
        c.cmd("QUIT");
    }
    // What the allowed attempts did, seen on disk (the last home is
    // rmdir's: d went; the others were checked by their replies).
    assert!(!server.root().join("h/full/d").exists());
}

#[test]
fn a_link_in_a_home_to_elsewhere_in_the_root_leads_nowhere() {
    let text = user("alice", "/home/alice", &["list", "download", "upload"], "")
        + &user("bob", "/home/bob", &["list", "download"], "");
    let (server, _dir, _) = start(&text);
    let root = server.root();
    make_home(root, "/home/alice");
    make_home(root, "/home/bob");
    fs::write(root.join("home/bob/secret"), b"bob's secret").unwrap();
    fs::write(root.join("top"), b"root's").unwrap();
    symlink("../bob", root.join("home/alice/tobob")).unwrap();
    symlink("../..", root.join("home/alice/toroot")).unwrap();

    let mut c = login(&server, "alice");
    assert!(c.cmd("PWD").text().contains("\"/\""));
    // The home is the root: .. stays there.
    c.expect("CWD ..", 250);
    assert!(c.cmd("PWD").text().contains("\"/\""));
    for path in [
        "tobob/secret",
        "toroot/top",
        "toroot/home/bob/secret",
        "../bob/secret",
        "/../../top",
    ] {
        let (reply, bytes) = transfer(&mut c, &format!("RETR {path}"), None);
        assert_eq!(reply.code, 550, "RETR {path}: {reply:?}");
        assert!(bytes.is_empty());
    }
    assert_eq!(c.cmd("CWD tobob").code, 550);
    assert_eq!(c.cmd("SIZE tobob/secret").code, 550);
    let (reply, _) = transfer(&mut c, "STOR tobob/planted", Some(b"x"));
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(!root.join("home/bob/planted").exists());
    // Alice's own files are there.
    let (reply, bytes) = transfer(&mut c, "RETR f", None);
    assert_eq!((reply.code, bytes.as_slice()), (226, &b"data"[..]));
    let (_, listing) = transfer(&mut c, "NLST", None);
    let names = String::from_utf8(listing).unwrap();
    assert!(names.contains('f') && !names.contains("secret"), "{names}");
}

#[test]
fn a_drop_box_may_upload_and_nothing_else() {
    let text = user("drop", "/dropbox", &["upload"], "");
    let (server, _dir, _) = start(&text);
    let home = server.root().join("dropbox");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("theirs"), b"someone else's").unwrap();
    let mut c = login(&server, "drop");

    let (reply, _) = transfer(&mut c, "STOR report.txt", Some(b"my report"));
    assert_eq!(reply.code, 226, "{reply:?}");
    assert_eq!(fs::read(home.join("report.txt")).unwrap(), b"my report");
    // Not onto an existing name, its own or another's.
    for name in ["report.txt", "theirs"] {
        let (reply, _) = transfer(&mut c, &format!("STOR {name}"), Some(b"over"));
        assert_eq!(reply.code, 550, "{reply:?}");
        assert!(reply.text().contains("\"overwrite\""), "{reply:?}");
    }
    assert_eq!(fs::read(home.join("theirs")).unwrap(), b"someone else's");
    let (reply, _) = transfer(&mut c, "LIST", None);
    assert!(
        reply.code == 550 && reply.text().contains("\"list\""),
        "{reply:?}"
    );
    let (reply, _) = transfer(&mut c, "RETR theirs", None);
    assert!(
        reply.code == 550 && reply.text().contains("\"download\""),
        "{reply:?}"
    );
    assert_eq!(c.cmd("SIZE theirs").code, 550);
    assert_eq!(c.cmd("MLST theirs").code, 550);
    assert_eq!(c.cmd("STAT theirs").code, 550);
    assert_eq!(c.cmd("DELE theirs").code, 550);
    let (reply, _) = transfer(&mut c, "APPE theirs", Some(b"x"));
    assert!(reply.text().contains("\"append\""), "{reply:?}");
}

#[test]
fn anonymous_reads_pub_only_and_path_overrides_apply() {
    let text = "[anonymous]\nhome = \"/pub\"\npermissions = [\"list\", \"download\"]\n\n"
        .to_string()
        + &user(
            "bob",
            "/home/bob",
            &["list", "download", "upload"],
            "[[users.paths]]\npath = \"/reports\"\npermissions = [\"list\", \"download\"]\n",
        );
    let (server, _dir, _) = start(&text);
    let root = server.root();
    fs::create_dir(root.join("pub")).unwrap();
    fs::write(root.join("pub/readme"), b"hello").unwrap();
    fs::write(root.join("private"), b"not for anonymous").unwrap();
    fs::create_dir_all(root.join("home/bob/reports")).unwrap();

    let mut c = login(&server, "anonymous");
    let (reply, bytes) = transfer(&mut c, "RETR readme", None);
    assert_eq!((reply.code, bytes.as_slice()), (226, &b"hello"[..]));
    let (reply, _) = transfer(&mut c, "RETR /../private", None);
    assert_eq!(reply.code, 550);
    let (reply, _) = transfer(&mut c, "STOR up", Some(b"x"));
    assert!(
        reply.code == 550 && reply.text().contains("\"upload\""),
        "{reply:?}"
    );
    assert!(c.cmd("MKD x").text().contains("\"mkdir\""));
    assert!(!root.join("pub/up").exists() && !root.join("pub/x").exists());

    let mut b = login(&server, "bob");
    let (reply, _) = transfer(&mut b, "STOR notes", Some(b"n"));
    assert_eq!(reply.code, 226, "{reply:?}");
    let (reply, _) = transfer(&mut b, "STOR reports/q1", Some(b"n"));
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(
        reply
            .text()
            .contains("\"upload\" permission for /reports/q1"),
        "{reply:?}"
    );
    assert!(root.join("home/bob/notes").exists());
    assert!(!root.join("home/bob/reports/q1").exists());
}

#[test]
fn max_sessions_per_user_is_enforced_at_login() {
    let text = user("carol", "/", &["list"], "max_sessions = 1");
    let (server, _dir, _) = start(&text);
    let mut first = login(&server, "carol");
    let mut second = server.connect();
    second.expect_greeting();
    second.expect("USER carol", 331);
    let refused = second.cmd("PASS pw");
    assert_eq!(refused.code, 530, "{refused:?}");
    assert!(refused.text().contains("at most 1 session"), "{refused:?}");
    first.expect("QUIT", 221);
    first.expect_closed();
    // The slot is free once the first session is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        second.expect("USER carol", 331);
        let r = second.cmd("PASS pw");
        if r.code == 230 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_missing_home_refuses_the_login_with_a_log_line() {
    let text = user("dave", "/home/dave", &["list"], "");
    let (server, _dir, _) = start(&text);
    let mut c = server.connect();
    c.expect_greeting();
    c.expect("USER dave", 331);
    let reply = c.cmd("PASS pw");
    assert_eq!(reply.code, 530, "{reply:?}");
    assert!(server.wait_for_log("homes are not created at login", Duration::from_secs(5)));
    assert!(!server.root().join("home/dave").exists());
}

/// MFMT is a write covered by `overwrite`: refused without it (the time
/// unchanged), done with it.
#[test]
fn mfmt_needs_the_overwrite_permission() {
    let text = user("keeper", "/h/keeper", &["list", "download", "upload"], "")
        + &user("toucher", "/h/toucher", &["list", "overwrite"], "");
    let (server, _dir, _) = start(&text);
    let time_of = |home: &Path| fs::metadata(home.join("f")).unwrap().modified().unwrap();

    let home = make_home(server.root(), "/h/keeper");
    let before = time_of(&home);
    let mut c = login(&server, "keeper");
    let reply = c.cmd("MFMT 20200102030405 f");
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(
        reply.text().contains("lacks the \"overwrite\" permission"),
        "{reply:?}"
    );
    assert_eq!(time_of(&home), before, "a refused MFMT changed the time");

    let home = make_home(server.root(), "/h/toucher");
    let mut c = login(&server, "toucher");
    c.expect("MFMT 20200102030405 f", 213);
    let set = time_of(&home)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(set, 1_577_934_245, "2020-01-02 03:04:05 UTC");
}

/// Renaming a directory above a path override would carry the override's
/// subtree out from under it (`a` -> `b` makes `a/secret/file` into
/// `b/secret/file`, governed by the home's permissions), or carry a
/// directory in under one: both ends of such a rename are refused.
#[test]
fn a_rename_cannot_carry_a_subtree_out_of_or_into_its_override() {
    let text = user(
        "carol",
        "/home/carol",
        &["list", "download", "rename"],
        "[[users.paths]]\npath = \"/a/secret\"\npermissions = [\"upload\"]\n\n\
         [[users.paths]]\npath = \"/c/inner\"\npermissions = [\"list\", \"download\", \"delete\"]\n",
    );
    let (server, _dir, _) = start(&text);
    let home = server.root().join("home/carol");
    fs::create_dir_all(home.join("a/secret")).unwrap();
    fs::write(home.join("a/secret/file"), b"dropped by others").unwrap();
    fs::create_dir_all(home.join("d/inner")).unwrap();
    fs::write(home.join("d/inner/victim"), b"not deletable").unwrap();

    let mut c = login(&server, "carol");
    let (reply, _) = transfer(&mut c, "RETR a/secret/file", None);
    assert_eq!(reply.code, 550, "the drop box is not readable: {reply:?}");
    // Out of the override: RNFR of its parent.
    let refused = c.cmd("RNFR a");
    assert_eq!(refused.code, 550, "{refused:?}");
    assert!(refused.text().contains("/a/secret"), "{refused:?}");
    c.expect("RNTO b", 503);
    let (reply, bytes) = transfer(&mut c, "RETR b/secret/file", None);
    assert_eq!(reply.code, 550, "{reply:?}");
    assert!(bytes.is_empty());
    // Into one: d holds inner/victim under the home's rules (no delete);
    // renamed to c it would sit in /c/inner, where delete is allowed.
    c.expect("RNFR d", 350);
    let refused = c.cmd("RNTO c");
    assert_eq!(refused.code, 550, "{refused:?}");
    assert!(refused.text().contains("/c/inner"), "{refused:?}");
    assert_eq!(c.cmd("DELE c/inner/victim").code, 550);
    assert!(home.join("a/secret/file").exists() && home.join("d/inner/victim").exists());
    assert!(!home.join("b").exists() && !home.join("c").exists());
    // Renames beside the overrides still work.
    fs::write(home.join("a/free"), b"x").unwrap();
    c.expect("RNFR a/free", 350);
    c.expect("RNTO a/moved", 250);
}
