//! Calendar formatting of file times and log stamps, in UTC.
//!
//! Three forms are needed: `ls -l` dates in LIST (`Nov 24 06:05` within six
//! months, `Nov 24  2025` otherwise), RFC 3659 `YYYYMMDDHHMMSS` times (MDTM,
//! MLSD `modify`), and RFC 3339 stamps for log lines. A full date library is
//! not needed for that: days since the epoch convert to a civil date with
//! Howard Hinnant's `civil_from_days` algorithm.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Seconds since the epoch, negative before 1970.
fn epoch_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The civil UTC time of `t`.
pub fn civil(t: SystemTime) -> Civil {
    let secs = epoch_seconds(t);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil_from_days: http://howardhinnant.github.io/date_algorithms.html
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month,
        day,
        hour: (rem / 3600) as u32,
        minute: (rem / 60 % 60) as u32,
        second: (rem % 60) as u32,
    }
}

/// The date column of `ls -l`: time of day for the last six months, else the year.
pub fn ls_date(t: SystemTime, now: SystemTime) -> String {
    const HALF_YEAR: Duration = Duration::from_secs(182 * 86_400);
    let c = civil(t);
    let month = MONTHS[(c.month - 1) as usize];
    let recent = now.duration_since(t).is_ok_and(|age| age < HALF_YEAR)
        || t.duration_since(now)
            .is_ok_and(|ahead| ahead < Duration::from_secs(3600));
    if recent {
        format!("{month} {:>2} {:02}:{:02}", c.day, c.hour, c.minute)
    } else {
        format!("{month} {:>2} {:>5}", c.day, c.year)
    }
}

/// RFC 3659 `time-val`: `YYYYMMDDHHMMSS`.
pub fn mdtm(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// RFC 3339 stamp for log lines: `2026-11-24T06:05:00Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(mdtm(at(1_795_500_000)), "20261124060000");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn ls_dates_show_time_when_recent_and_year_when_old() {
        let now = at(1_795_500_000);
        assert_eq!(ls_date(at(1_795_500_000 - 86_400), now), "Nov 23 06:00");
        assert_eq!(ls_date(at(1_700_000_000), now), "Nov 14  2023");
    }
}
