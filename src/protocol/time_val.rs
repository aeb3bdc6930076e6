//! RFC 3659 §2.3 `time-val`: `YYYYMMDDHHMMSS[.sss]`, always UTC, as MDTM
//! and MLSx `modify` give it and MFMT (draft-somers-ftp-mfxx §3) takes it.
//!
//! [`TimeVal`] is a checked calendar time: a month 13 or a February 30th
//! does not parse. It converts to and from [`SystemTime`] with Howard
//! Hinnant's `days_from_civil` / `civil_from_days`, so neither side needs a
//! date library. Fractions are kept to the millisecond; more digits are
//! read and dropped, since no server here or elsewhere keeps more in FTP.
//! Leap seconds (`...60`) are refused: no file system stores one.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nom::{
    bytes::complete::{take_while1, take_while_m_n},
    character::complete::char,
    combinator::{all_consuming, map_res, opt},
    sequence::preceded,
    IResult, Parser,
};

/// A UTC calendar time to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeVal {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub millis: u16,
}

fn digits(n: usize) -> impl Fn(&str) -> IResult<&str, u32> {
    move |input| {
        map_res(
            take_while_m_n(n, n, |c: char| c.is_ascii_digit()),
            |d: &str| d.parse::<u32>(),
        )
        .parse(input)
    }
}

/// `1*DIGIT` after the dot, read as milliseconds (extra digits dropped).
fn fraction(input: &str) -> IResult<&str, u16> {
    let (rest, d) = preceded(char('.'), take_while1(|c: char| c.is_ascii_digit())).parse(input)?;
    let millis = d
        .chars()
        .chain("000".chars())
        .take(3)
        .fold(0u16, |ms, c| ms * 10 + c.to_digit(10).unwrap_or(0) as u16);
    Ok((rest, millis))
}

/// The fields of a `time-val` as read, before they are checked.
type Fields = (u32, u32, u32, u32, u32, u32, Option<u16>);

/// `time-val` = 14DIGIT [ "." 1*DIGIT ], unchecked.
fn time_val(input: &str) -> IResult<&str, Fields> {
    (
        digits(4),
        digits(2),
        digits(2),
        digits(2),
        digits(2),
        digits(2),
        opt(fraction),
    )
        .parse(input)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

impl TimeVal {
    /// Parses a `time-val`, refusing impossible dates and times.
    pub fn parse(text: &str) -> Option<TimeVal> {
        let (_, (year, month, day, hour, minute, second, millis)) =
            all_consuming(time_val).parse(text).ok()?;
        let valid = (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(i64::from(year), month)
            && hour < 24
            && minute < 60
            && second < 60;
        valid.then_some(TimeVal {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
            second: second as u8,
            millis: millis.unwrap_or(0),
        })
    }

    /// The time `t`, to the millisecond; `None` outside years 0 to 9999.
    pub fn from_system_time(t: SystemTime) -> Option<TimeVal> {
        let (secs, millis) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
            Err(e) => {
                // Before the epoch: round down to the whole millisecond.
                let d = e.duration();
                let ms = d.as_millis() as i64;
                let total = -ms;
                (total.div_euclid(1000), total.rem_euclid(1000) as u32)
            }
        };
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        Some(TimeVal {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
            millis: millis as u16,
        })
    }

    /// This time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let days = days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        );
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        let millis = secs * 1000 + i64::from(self.millis);
        if millis >= 0 {
            UNIX_EPOCH + Duration::from_millis(millis as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(millis.unsigned_abs())
        }
    }

    /// The same time without its fraction (what MDTM-only servers keep).
    pub fn whole_seconds(self) -> TimeVal {
        TimeVal { millis: 0, ..self }
    }
}

/// `YYYYMMDDHHMMSS`, with `.sss` only when there is a fraction.
impl fmt::Display for TimeVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.millis != 0 {
            write!(f, ".{:03}", self.millis)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_and_checks_calendar_times() {
        let t = TimeVal::parse("20240229235959").unwrap();
        assert_eq!((t.year, t.month, t.day, t.second), (2024, 2, 29, 59));
        assert_eq!(TimeVal::parse("20240229235959.5").unwrap().millis, 500);
        assert_eq!(TimeVal::parse("20240229235959.12345").unwrap().millis, 123);
        for bad in [
            "20230229000000",
            "20241301000000",
            "20240100000000",
            "20240101240000",
            "20240101006000",
            "20240101000060",
            "2024010100000",
            "202401010000001",
            "20240101000000.",
            "2024-1-1000000",
            "",
        ] {
            assert_eq!(TimeVal::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn converts_to_and_from_system_time() {
        let t = TimeVal::parse("19700101000001.250").unwrap();
        assert_eq!(t.to_system_time(), UNIX_EPOCH + Duration::from_millis(1250));
        let t = TimeVal::parse("20261124060500").unwrap();
        assert_eq!(
            t.to_system_time(),
            UNIX_EPOCH + Duration::from_secs(1_795_500_300)
        );
        assert_eq!(TimeVal::from_system_time(t.to_system_time()), Some(t));
        let before = TimeVal::parse("19691231235959").unwrap();
        assert_eq!(before.to_system_time(), UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(
            TimeVal::from_system_time(before.to_system_time()),
            Some(before)
        );
    }

    pub(crate) fn time_val() -> impl Strategy<Value = TimeVal> {
        (0i64..=2_932_896, 0u32..86_400, 0u16..1000).prop_map(|(days, secs, millis)| {
            let (year, month, day) = civil_from_days(days - 719_162);
            TimeVal {
                year: year as u16,
                month: month as u8,
                day: day as u8,
                hour: (secs / 3600) as u8,
                minute: (secs / 60 % 60) as u8,
                second: (secs % 60) as u8,
                millis,
            }
        })
    }

    proptest! {
        #[test]
        fn parse_inverts_display(t in time_val()) {
            prop_assert_eq!(TimeVal::parse(&t.to_string()), Some(t));
        }

        #[test]
        fn system_time_round_trips(t in time_val()) {
            prop_assert_eq!(TimeVal::from_system_time(t.to_system_time()), Some(t));
        }
    }
}
