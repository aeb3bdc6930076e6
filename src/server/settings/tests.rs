use std::path::Path;
use std::time::Duration;

use super::*;
use crate::server::accounts::Permission;
use crate::server::auth::{hash_password, Login};

fn parse(text: &str) -> Result<Settings, SettingsError> {
    Settings::parse(text, Path::new("test.toml"))
}

#[test]
fn unknown_keys_and_wrong_types_name_the_line_and_key() {
    let err = parse("root = \"/srv\"\n\nidle_timout = \"10m\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("test.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("idle_timout"), "{err}");
    let err = parse("port = \"twenty-one\"\n").unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
    let err = parse("[defender]\nwindow = \"10 minutes\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("10 minutes"),
        "{err}"
    );
    let err = parse("[anonymous]\npermissions = [\"list\", \"wirte\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("wirte"), "{err}");
    let err = parse("[anonymous]\nhome = \"pub\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("absolute"), "{err}");
}

#[test]
fn accounts_get_their_homes_permissions_and_limits() {
    let h = hash_password("pw");
    let text = format!(
        r#"
read_only = false
idle_timeout = "10m"
pasv_ports = "40000-40100"

[defender]
max_failures = 3
window = "1m"
ban = "2h"

[anonymous]
home = "/pub"
permissions = ["list", "download"]

[[users]]
name = "alice"
password = "{h}"
home = "/home/alice"
permissions = ["list", "download", "upload"]
download_rate = "10MiB"
upload_rate = 65536
max_sessions = 4

[[users.paths]]
path = "/incoming"
permissions = ["upload"]
"#
    );
    let s = parse(&text).unwrap();
    assert_eq!(s.idle_timeout.unwrap().0, Duration::from_secs(600));
    assert_eq!(s.pasv_ports.as_ref().unwrap().0, 40000..=40100);
    let ban = s.ban_policy(BanPolicy::default());
    assert_eq!(
        (ban.max_failures, ban.window, ban.ban),
        (3, Duration::from_secs(60), Duration::from_secs(7200))
    );
    let accounts = s.accounts(None, false, false).unwrap();
    let anon = accounts.of(&Login::Anonymous).unwrap();
    assert_eq!(anon.home.as_str(), "/pub");
    assert!(!anon.rules.at(&VirtualPath::root()).writes());
    let alice = accounts.of(&Login::User("alice".into())).unwrap();
    assert_eq!(alice.home.as_str(), "/home/alice");
    assert_eq!(alice.download_rate, Some(10 << 20));
    assert_eq!(alice.upload_rate, Some(65536));
    assert_eq!(alice.max_sessions, Some(4));
    let incoming = VirtualPath::root().join("/incoming/x").unwrap();
    assert!(alice.rules.check(&incoming, Permission::Upload).is_ok());
    assert!(alice.rules.check(&incoming, Permission::List).is_err());
    assert!(accounts.auth.login("alice", "pw") == Login::User("alice".into()));
    assert!(accounts.auth.login("alice", "nope") == Login::Refused);
    let shown = describe_accounts(&accounts).join("\n");
    assert!(!shown.contains("$argon2id"), "{shown}");
    assert!(
        shown.contains("user alice") && shown.contains("hidden"),
        "{shown}"
    );
}

#[test]
fn bad_accounts_are_refused_with_the_reason() {
    let err = parse("[[users]]\nname = \"bob\"\npassword = \"secret\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bob") && err.contains("PHC"), "{err}");
    let err = parse("[anonymous]\nenabled = false\n")
        .unwrap()
        .accounts(None, false, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nobody could log in"), "{err}");
    let h = hash_password("pw");
    let twice = format!(
        "[[users]]\nname = \"a\"\npassword = \"{h}\"\n[[users]]\nname = \"a\"\npassword = \"{h}\"\n"
    );
    assert!(parse(&twice).unwrap_err().to_string().contains("twice"));
    // The second override of a path (spelled differently) would never apply.
    let two_overrides = format!(
        "[[users]]\nname = \"a\"\npassword = \"{h}\"\n\
         [[users.paths]]\npath = \"/drop\"\npermissions = [\"upload\"]\n\
         [[users.paths]]\npath = \"/drop/\"\npermissions = [\"list\", \"download\"]\n"
    );
    let err = parse(&two_overrides).unwrap_err().to_string();
    assert!(
        err.contains("/drop has two [[users.paths]] entries"),
        "{err}"
    );
}
