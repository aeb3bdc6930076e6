//! `serv --config FILE`: the TOML config file, read into typed settings.
//!
//! Every command-line option has a key of the same name with `_` for `-`
//! (`idle_timeout`, `pasv_ports = "40000-40100"`, TLS options under
//! `[tls]` without their `tls_` prefix), except `--users FILE`, which is
//! `users_file` here because `[[users]]` holds the accounts. The ban
//! options are `[defender]` (`max_failures`, `window`, `ban`). Accounts are
//! `[anonymous]` and `[[users]]`, with `[[users.paths]]` overrides (see
//! contrib/serv.toml). Unknown keys and wrong types are errors with the
//! file, line and column (toml's spans); `serv` merges these settings under
//! its flags (a flag given on the command line wins).
//!
//! Relative paths in the file are taken from the current directory, as on
//! the command line. What this module does not do: apply anything. The
//! binary builds the server's [`Config`](crate::server::Config) from it,
//! and a reload (SIGHUP) calls [`Settings::accounts`] again.

pub mod units;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::server::accounts::{Account, Accounts, PermissionSet, Rules};
use crate::server::auth::{is_anonymous, Auth, Users};
use crate::server::defender::BanPolicy;
use crate::storage::VirtualPath;
use units::{AbsPath, PortRange, Rate, Seconds};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// toml's message names the line, the column and the key.
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config file {path}: {message}")]
    Invalid { path: String, message: String },
}

/// The whole file. Every key is optional; absent keys keep the flag's
/// value or default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub root: Option<PathBuf>,
    /// `s3://BUCKET[/PREFIX]`: serve a bucket instead of `root`.
    pub storage: Option<String>,
    /// The S3 endpoint (else `AWS_ENDPOINT_URL`).
    pub s3_endpoint: Option<String>,
    pub bind: Option<IpAddr>,
    pub port: Option<u16>,
    /// The `name:HASH` file of `--users`; its accounts get the whole tree
    /// and every permission (`list`, `download` under `read_only`).
    pub users_file: Option<PathBuf>,
    pub read_only: Option<bool>,
    pub pasv_ports: Option<PortRange>,
    pub pasv_address: Option<Ipv4Addr>,
    pub max_sessions: Option<usize>,
    pub max_per_ip: Option<usize>,
    pub idle_timeout: Option<Seconds>,
    pub login_timeout: Option<Seconds>,
    pub stall_timeout: Option<Seconds>,
    pub data_timeout: Option<Seconds>,
    pub verbose: Option<bool>,
    pub quiet: Option<bool>,
    /// Every user's rate unless their `[[users]]` entry sets one.
    pub download_rate: Option<Rate>,
    pub upload_rate: Option<Rate>,
    /// `ADDR:PORT` of the Prometheus endpoint.
    pub metrics: Option<std::net::SocketAddr>,
    /// The xferlog file.
    pub xferlog: Option<PathBuf>,
    pub tls: Option<TlsSettings>,
    pub defender: Option<DefenderSettings>,
    pub anonymous: Option<AnonymousSettings>,
    #[serde(default)]
    pub users: Vec<UserSettings>,
    /// Where the file was read from (not a key).
    #[serde(skip)]
    pub path: PathBuf,
}

/// `[tls]`: the `--tls-*` options, `--require-tls` and
/// `--implicit-tls-port`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub self_signed: Option<bool>,
    pub require: Option<bool>,
    pub allow_unresumed: Option<bool>,
    pub implicit_port: Option<u16>,
}

/// `[defender]`: the per-address login ban.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefenderSettings {
    pub max_failures: Option<u32>,
    pub window: Option<Seconds>,
    pub ban: Option<Seconds>,
}

/// `[anonymous]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymousSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub home: Option<AbsPath>,
    pub permissions: Option<Vec<crate::server::accounts::Permission>>,
    pub max_sessions: Option<usize>,
}

/// One `[[users]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSettings {
    pub name: String,
    /// An argon2id PHC string from `serv --hash-password`.
    pub password: String,
    pub home: Option<AbsPath>,
    pub permissions: Option<Vec<crate::server::accounts::Permission>>,
    pub download_rate: Option<Rate>,
    pub upload_rate: Option<Rate>,
    pub max_sessions: Option<usize>,
    #[serde(default)]
    pub paths: Vec<PathSettings>,
}

/// One `[[users.paths]]` override: `path` in the user's view (`/` is the
/// home).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathSettings {
    pub path: AbsPath,
    pub permissions: Vec<crate::server::accounts::Permission>,
}

fn yes() -> bool {
    true
}

/// Accounts given no `permissions`: they may read.
fn default_set() -> PermissionSet {
    PermissionSet::read()
}

impl Settings {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Settings::parse(&text, path)
    }

    /// Parses the text of the file at `path` (for messages), checking
    /// what the types cannot: the accounts and their passwords.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        let mut settings: Settings =
            toml::from_str(text).map_err(|e: toml::de::Error| SettingsError::Parse {
                path: path.display().to_string(),
                message: describe_toml_error(text, &e),
            })?;
        settings.path = path.to_path_buf();
        settings.check_accounts()?;
        Ok(settings)
    }

    fn invalid(&self, message: String) -> SettingsError {
        SettingsError::Invalid {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// The `[[users]]` entries as accounts with their passwords.
    fn check_accounts(&self) -> Result<(Users, Vec<Account>), SettingsError> {
        let mut users = Users::default();
        let mut accounts = Vec::new();
        for (i, u) in self.users.iter().enumerate() {
            let at = format!("[[users]] number {} ({:?})", i + 1, u.name);
            if is_anonymous(&u.name) {
                return Err(self.invalid(format!(
                    "{at}: anonymous and ftp are the anonymous login; configure it under \
                     [anonymous]"
                )));
            }
            users
                .add(&u.name, &u.password)
                .map_err(|why| self.invalid(format!("{at}: {why}")))?;
            if u.max_sessions == Some(0) {
                return Err(self.invalid(format!(
                    "{at}: max_sessions = 0 would refuse every login; remove the account instead"
                )));
            }
            // Two overrides of one path (`/drop` and `/drop/`, or a
            // pasted block) would leave one silently unused.
            for (j, p) in u.paths.iter().enumerate() {
                if u.paths[..j].iter().any(|q| q.path.0 == p.path.0) {
                    return Err(self.invalid(format!(
                        "{at}: the path {} has two [[users.paths]] entries; keep one",
                        p.path.0
                    )));
                }
            }
            let overrides = u
                .paths
                .iter()
                .map(|p| (p.path.0.clone(), p.permissions.iter().copied().collect()))
                .collect();
            accounts.push(Account {
                name: u.name.clone(),
                home: home_of(&u.home),
                rules: Rules::new(set_of(&u.permissions), overrides),
                download_rate: u.download_rate.map(|r| r.0),
                upload_rate: u.upload_rate.map(|r| r.0),
                max_sessions: u.max_sessions,
            });
        }
        Ok((users, accounts))
    }

    /// The accounts the file describes: `[anonymous]`, `[[users]]` and the
    /// users of `users_file` (read now; they get the whole tree with every
    /// permission, or `list` and `download` when `read_only`).
    /// `anonymous_flag`: `--anonymous` was given, which turns anonymous
    /// logins on even without an `[anonymous]` section.
    pub fn accounts(
        &self,
        users_file: Option<&Path>,
        read_only: bool,
        anonymous_flag: bool,
    ) -> Result<Accounts, SettingsError> {
        let (mut users, mut accounts) = self.check_accounts()?;
        if let Some(file) = users_file {
            let from_file = Users::load(file).map_err(|e| self.invalid(e.to_string()))?;
            let set = if read_only {
                PermissionSet::read()
            } else {
                PermissionSet::all()
            };
            for name in from_file.names() {
                if accounts.iter().any(|a| a.name == name) {
                    return Err(self.invalid(format!(
                        "{name} is both in the users file {} and in [[users]]; keep one",
                        file.display()
                    )));
                }
                let hash = from_file.hash_of(name).unwrap_or_default();
                users
                    .add(name, hash)
                    .map_err(|why| self.invalid(format!("users file {}: {why}", file.display())))?;
                accounts.push(Account::everywhere(name, Rules::uniform(set)));
            }
        }
        let anonymous = match &self.anonymous {
            Some(a) if a.enabled => Some(Account {
                name: crate::server::accounts::ANONYMOUS.to_string(),
                home: home_of(&a.home),
                rules: Rules::uniform(set_of(&a.permissions)),
                download_rate: None,
                upload_rate: None,
                max_sessions: a.max_sessions,
            }),
            Some(_) => None,
            None if anonymous_flag => Some(Account::everywhere(
                crate::server::accounts::ANONYMOUS,
                Rules::uniform(PermissionSet::read()),
            )),
            None => None,
        };
        if anonymous.is_none() && accounts.is_empty() {
            return Err(self.invalid(
                "nobody could log in: add [[users]] accounts, a users_file, or an [anonymous] \
                 section with enabled = true"
                    .to_string(),
            ));
        }
        let auth = Auth {
            users: Some(users),
            anonymous: anonymous.is_some(),
        };
        Ok(Accounts::new(auth, anonymous, accounts))
    }

    /// The ban policy of `[defender]` over `base` (the flags' values).
    pub fn ban_policy(&self, base: BanPolicy) -> BanPolicy {
        let Some(d) = &self.defender else {
            return base;
        };
        BanPolicy {
            max_failures: d.max_failures.unwrap_or(base.max_failures),
            window: d
                .window
                .map_or(base.window, |s| s.0.max(std::time::Duration::from_secs(1))),
            ban: d
                .ban
                .map_or(base.ban, |s| s.0.max(std::time::Duration::from_secs(1))),
        }
    }

    /// Paths the file names that do not exist here (warnings for
    /// `--check-config`, which may run on another machine than the
    /// server's), homes included when the root exists.
    pub fn missing_paths(&self, root: &Path) -> Vec<String> {
        let mut missing = Vec::new();
        let mut check = |what: &str, p: &Path| {
            if !p.exists() {
                missing.push(format!(
                    "{what} {} does not exist on this machine",
                    p.display()
                ));
            }
        };
        check("root", root);
        if let Some(f) = &self.users_file {
            check("users_file", f);
        }
        if let Some(tls) = &self.tls {
            if let Some(c) = &tls.cert {
                check("[tls] cert", c);
            }
            if let Some(k) = &tls.key {
                check("[tls] key", k);
            }
        }
        if root.is_dir() {
            let homes = self
                .anonymous
                .iter()
                .filter(|a| a.enabled)
                .map(|a| ("anonymous".to_string(), home_of(&a.home)))
                .chain(
                    self.users
                        .iter()
                        .map(|u| (u.name.clone(), home_of(&u.home))),
                );
            for (name, home) in homes {
                if !root.join(home.relative()).is_dir() {
                    missing.push(format!(
                        "the home {home} of {name} is not a directory under {}: its logins \
                         will be refused until it is created",
                        root.display()
                    ));
                }
            }
        }
        missing
    }
}

fn home_of(home: &Option<AbsPath>) -> VirtualPath {
    home.as_ref()
        .map_or_else(VirtualPath::root, |h| h.0.clone())
}

fn set_of(permissions: &Option<Vec<crate::server::accounts::Permission>>) -> PermissionSet {
    permissions
        .as_ref()
        .map_or_else(default_set, |ps| ps.iter().copied().collect())
}

/// toml's message, which names the line, column and key, with the line
/// number stated even where a message lacks it.
fn describe_toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.to_string();
    match e.span() {
        Some(span) if !message.contains("line ") => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", message.trim_end())
        }
        _ => message.trim_end().to_string(),
    }
}

/// The effective settings and accounts, as `--check-config` prints them:
/// password hashes are never shown.
pub fn describe_accounts(accounts: &Accounts) -> Vec<String> {
    let mut lines = Vec::new();
    let rules_text = |rules: &Rules| {
        let (home, paths) = rules.describe();
        let mut t = format!("permissions {home}");
        for (p, set) in paths {
            t.push_str(&format!("; {p}: {set}"));
        }
        t
    };
    match accounts.anonymous() {
        Some(a) => lines.push(format!(
            "anonymous: enabled, home {}, {}{}",
            a.home,
            rules_text(&a.rules),
            a.max_sessions
                .map(|m| format!(", max_sessions {m}"))
                .unwrap_or_default()
        )),
        None => lines.push("anonymous: disabled".to_string()),
    }
    for u in accounts.users() {
        let mut t = format!(
            "user {}: password (argon2id hash, hidden), home {}, {}",
            u.name,
            u.home,
            rules_text(&u.rules)
        );
        if let Some(r) = u.download_rate {
            t.push_str(&format!(", download_rate {r} B/s"));
        }
        if let Some(r) = u.upload_rate {
            t.push_str(&format!(", upload_rate {r} B/s"));
        }
        if let Some(m) = u.max_sessions {
            t.push_str(&format!(", max_sessions {m}"));
        }
        lines.push(t);
    }
    lines
}

#[cfg(test)]
mod tests;
