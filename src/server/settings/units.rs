//! The value forms of the config file that are not plain TOML types:
//! durations (`"30s"`, `"10m"`, `"2h"`, `"1d"` or an integer of seconds),
//! byte rates (`"10MiB"`, `"512KiB"`, `"2MB"` or an integer of bytes per
//! second), port ranges (`"40000-40100"`), homes and paths of a home
//! (absolute: `"/pub"`) and permission names. Each is checked while the
//! file is read, so a bad value is reported with its line and column.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::limits::MAX_SETTING_SECS;
use crate::server::accounts::Permission;
use crate::storage::VirtualPath;

/// A duration: an integer of seconds or a number with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Duration);

/// Parses `"30s"`, `"10m"`, `"2h"`, `"1d"` or `"45"` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a duration; write it like \"30s\", \"10m\", \"2h\" or \"1d\"")
    })?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use s, m, h or d (\"30s\", \"10m\")"
            ))
        }
    };
    number
        .checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too long a duration"))
        .and_then(|secs| bounded(secs).map_err(|e| format!("{text:?}: {e}")))
}

/// `secs` as a duration, refused beyond [`MAX_SETTING_SECS`].
fn bounded(secs: u64) -> Result<Duration, String> {
    if secs > MAX_SETTING_SECS {
        return Err(format!(
            "{secs} seconds is too long; the longest timeout or ban is {MAX_SETTING_SECS} \
             seconds (ten years)"
        ));
    }
    Ok(Duration::from_secs(secs))
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like \"30s\", \"10m\", \"2h\" or an integer of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                let secs =
                    u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
                self.visit_u64(secs)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                bounded(v).map(Seconds).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                parse_duration(v).map(Seconds).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

/// Parses `"10MiB"`, `"512KiB"`, `"2MB"`, `"1GiB/s"` or `"65536"` (bytes):
/// the same forms as `--download-rate` and `--upload-rate`.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    crate::server::rate::parse_rate(text).map_err(|e| e.to_string())
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate like \"10MiB\" or an integer of bytes per second")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Rate, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Rate, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                parse_rate(v).map(Rate).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `LOW-HIGH`, as `--pasv-ports` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

/// Parses `LOW-HIGH` (for `--pasv-ports` and `pasv_ports`).
pub fn parse_range(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (low, high) = text
        .split_once('-')
        .ok_or_else(|| format!("expected LOW-HIGH, like 50000-50100, not {text:?}"))?;
    let low: u16 = low
        .trim()
        .parse()
        .map_err(|_| format!("{low:?} is not a port number"))?;
    let high: u16 = high
        .trim()
        .parse()
        .map_err(|_| format!("{high:?} is not a port number"))?;
    if low == 0 || low > high {
        return Err(format!("the range {low}-{high} is empty or starts at 0"));
    }
    Ok(low..=high)
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_range(&text).map(PortRange).map_err(de::Error::custom)
    }
}

/// An absolute path in the served storage (a home) or in a user's view
/// (a path override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsPath(pub VirtualPath);

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if !text.starts_with('/') {
            return Err(de::Error::custom(format!(
                "{text:?} must be an absolute path of the served tree, like \"/pub\""
            )));
        }
        VirtualPath::root()
            .join(&text)
            .map(AbsPath)
            .map_err(|e| de::Error::custom(format!("{text:?}: {e}")))
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Permission::from_name(&text).ok_or_else(|| {
            let names: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
            de::Error::custom(format!(
                "unknown permission {text:?}; the permissions are {}",
                names.join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_rates_and_ranges_parse_and_refuse_nonsense() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert_eq!(parse_rate("10MiB"), Ok(10 << 20));
        assert_eq!(parse_rate("512KiB"), Ok(512 << 10));
        assert_eq!(parse_rate("2MB/s"), Ok(2_000_000));
        assert_eq!(parse_rate("65536"), Ok(65536));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("10Mb").is_err());
        assert_eq!(parse_range("40000-40100"), Ok(40000..=40100));
        assert!(parse_range("40100-40000").is_err());
    }
}
